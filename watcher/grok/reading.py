"""One whole reading of the user's usage, bounded by one deadline.

The entry point the commands use: wires the login, the transport and the client together
for one reading, and guarantees it ends -- refresh and retry included -- within
min(30 s, 2 x timeout_seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from watcher.core.model import Failure, Observation, Reading, TokenInfo
from watcher.errors import ConfigError, LoginProblem, NetworkFailure, WatcherError
from watcher.grok.client import NO_HISTORY, GrokClient, MeterPolicy
from watcher.grok.deadline import Deadline, DeadlineExceeded
from watcher.grok.login import Login, SpentRefreshTokens
from watcher.grok.settings import GrokSettings
from watcher.grok.transport import Transport

if TYPE_CHECKING:
    import requests

MAX_READING_SECONDS = 30.0


def reading_deadline_seconds(timeout_seconds: float) -> float:
    return min(MAX_READING_SECONDS, 2 * timeout_seconds)


def observe(
    settings: GrokSettings,
    *,
    with_plan: bool,
    policy: MeterPolicy = NO_HISTORY,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    spent: SpentRefreshTokens | None = None,
    session: requests.Session | None = None,
    others: Mapping[str, str] | None = None,
    account: str | None = None,
) -> Observation:
    """A reading, or the failure to read as a value the core can decide on."""
    pool_failed: list[bool] = [False]
    try:
        return read(
            settings,
            with_plan=with_plan,
            policy=policy,
            now=now,
            spent=spent,
            pool=pool_failed,
            session=session,
            others=others,
            account=account,
        )
    except WatcherError as error:
        if isinstance(error, ConfigError):
            raise
        return Failure(
            error.kind, error.message, isinstance(error, LoginProblem), pool_failed=pool_failed[0]
        )


def read(
    settings: GrokSettings,
    *,
    with_plan: bool = True,
    policy: MeterPolicy = NO_HISTORY,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    spent: SpentRefreshTokens | None = None,
    pool: list[bool] | None = None,
    may_refresh: bool = True,
    session: requests.Session | None = None,
    others: Mapping[str, str] | None = None,
    account: str | None = None,
) -> Reading:
    """Read usage and what the login looks like; raises a WatcherError on failure. `pool`,
    when given, learns whether the pool request failed (a failed reading then or not).
    `may_refresh=False` reads the login as it is and never refreshes it (see `Login`);
    `others` are refresh tokens other watched logins hold (see `Login`). `session` is shared
    by the readings of one check (see `Transport`)."""
    deadline = Deadline(reading_deadline_seconds(settings.timeout_seconds))
    transport = Transport(settings.timeout_seconds, deadline, session)
    login = Login(
        auth_path=settings.auth_file,
        token_url=settings.token_url,
        transport=transport,
        deadline=deadline,
        now=now,
        spent=spent if spent is not None else SpentRefreshTokens(),
        may_refresh=may_refresh,
        others=others,
        account=account,
    )
    client = GrokClient(settings.api_base, settings.billing, transport, login)
    try:
        with deadline.enforced():
            usage = client.read_usage(with_plan=with_plan, policy=policy)
        credentials = client.credentials
        token = TokenInfo(
            expires_at=credentials.expires_at if credentials else None,
            renewable=credentials.renewable if credentials else False,
            entry=credentials.entry_name if credentials else None,
            identity=credentials.identity if credentials else None,
        )
        failure = client.pool_failure
        return Reading(
            usage, token, plan_fetched=with_plan, pool_failure=failure.message if failure else None
        )
    except DeadlineExceeded:
        if policy.pool_answered and client.credentials is not None:
            client.pool_failure = client.pool_failure or NetworkFailure()
        raise NetworkFailure() from None
    finally:
        if pool is not None:
            pool[0] = client.pool_failure is not None
        transport.close()
