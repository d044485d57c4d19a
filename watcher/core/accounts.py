"""Several Grok logins: whose history is whose, and how their alerts are addressed. Pure.

Each account's history (a `State`) is kept under its name and belongs to one login, known by
its identity (the auth entry's user_id, else its email). The identity is judged on a good
reading only:

- the name's history belongs to another identity: the file behind the name now holds
  another login, so the history starts afresh (nothing fired for one login is carried into
  another's) and one note says so;
- the name has no history yet (or one that never read usage): a history whose name is no
  longer configured is adopted when it belongs to the same identity -- or, written before
  identities were kept, when it was read from the same file. A rename, or a move to
  [[accounts]], keeps every fired threshold and pending alert;
- a history no configured name claims is dropped UNCLAIMED_KEPT after its name was last
  configured.

Alerts are decided per account as for one login; `addressing.py` names and routes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from watcher.core import messages
from watcher.core.model import Alert, PendingAlert, State

UNCLAIMED_KEPT = timedelta(days=35)


# --- whose history ---------------------------------------------------------------------------


class Claim(NamedTuple):
    histories: dict[str, State]  # every history after the claim (an adopted one moved)
    state: State  # the account's history, to decide on
    adopted_from: str | None = None  # the name whose history it took over
    note: Alert | None = None  # the history started afresh for another login: says so


def claim(
    histories: Mapping[str, State],
    name: str,
    identity: str | None,
    auth_file: str,
    configured: Iterable[str],
    now: datetime,
    who: str | None = None,
    legacy_auth_file: str | None = None,
) -> Claim:
    """The history `name` decides on after a GOOD reading of `identity` from `auth_file`.
    `legacy_auth_file`: the file a history that recorded none was read from (the login
    file of a version that watched one login)."""
    histories = dict(histories)
    current = histories.get(name)
    if (
        current is not None
        and identity is not None
        and current.identity is not None
        and current.identity != identity
    ):
        fresh = State(delivered=current.delivered, spent_refresh=current.spent_refresh)
        note = messages.other_login_alert(who or identity, now)
        state = fresh._replace(pending=(PendingAlert(note),))
        histories = _stamped(histories, name, state, identity, auth_file, now)
        return Claim(histories, histories[name], None, note)
    adopted_from = None
    if current is None or (current.identity is None and current.last_reading_at is None):
        wanted = set(configured) | {name}
        for other, history in histories.items():
            if other in wanted:
                continue
            recorded_file = history.auth_file or legacy_auth_file
            if (identity is not None and history.identity == identity) or (
                history.identity is None and recorded_file == auth_file
            ):
                adopted_from = other
                break
    if adopted_from is not None:
        current = histories.pop(adopted_from)
    state = current or State()
    histories = _stamped(histories, name, state, identity, auth_file, now)
    return Claim(histories, histories[name], adopted_from)


def _stamped(
    histories: dict[str, State],
    name: str,
    state: State,
    identity: str | None,
    auth_file: str,
    now: datetime,
) -> dict[str, State]:
    histories[name] = state._replace(
        identity=identity if identity is not None else state.identity,
        auth_file=auth_file,
        seen_at=now,
    )
    return histories


def drop_unclaimed(
    histories: Mapping[str, State], configured: Iterable[str], now: datetime
) -> dict[str, State]:
    """Without the histories no configured name claims that were last claimed (or last
    read, if they never recorded a claim) UNCLAIMED_KEPT ago or longer."""
    wanted = set(configured)
    kept = {}
    for name, state in histories.items():
        last = state.seen_at or state.last_reading_at
        if name in wanted or (last is not None and now - last < UNCLAIMED_KEPT):
            kept[name] = state
    return kept
