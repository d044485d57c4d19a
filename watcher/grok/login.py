"""Getting a usable access token from the Grok CLI's login, refreshing it when needed.

Refresh tokens rotate: once one is sent it may be spent, and sending a spent one again can
end the user's whole login. Hence the rules here: refresh only under the CLI's own lock,
re-read the file once the lock is held (another process may have refreshed already -- adopt
its token), write the rotated login back before anything else, and never send a refresh
token twice from this process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from watcher.errors import (
    AuthExpired,
    AuthInvalid,
    CopiedLogin,
    NetworkFailure,
    RefreshHTTPError,
    RefreshNetworkFailure,
    RefreshResponseChanged,
    ResponseChanged,
    TransientFailure,
)
from watcher.grok.auth_file import (
    AuthEntry,
    RefreshedTokens,
    auth_lock,
    ensure_writable,
    jwt_expiry,
    login_entries,
    parse_entry,
    read_auth_document,
    remove_stale_auth_temporaries,
    write_back,
)
from watcher.grok.deadline import Deadline
from watcher.grok.transport import NetworkFailureBeforeSending, Transport
from watcher.numbers import is_number

REFRESH_MARGIN = timedelta(minutes=5)
DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)

log = logging.getLogger(__name__)


class Credentials(NamedTuple):
    entry_name: str
    access_token: str
    expires_at: datetime | None
    renewable: bool  # a refresh token is there to renew it
    identity: str | None = None  # whose login (AuthEntry.identity)

    def __repr__(self) -> str:
        return f"Credentials(entry_name={self.entry_name!r}, expires_at={self.expires_at!r})"


def fingerprint(token: str) -> str:
    """What the state file keeps of a spent refresh token: enough to know it again, nothing
    that could be sent (a truncated SHA-256 of a random token cannot be turned back)."""
    import hashlib  # only a refresh, or a state that remembers one, needs it

    return hashlib.sha256(token.encode()).hexdigest()[:24]


class SpentRefreshTokens:
    """Refresh tokens that must never be sent again: those this process has sent (kept by
    whoever outlives one reading, the service), and those earlier checks sent, remembered by
    their fingerprints in the state file -- so that neither a write-back that could not
    happen nor a copied Grok home still holding the old token ever leads to a second send."""

    def __init__(self, remembered: Mapping[str, str] | None = None) -> None:
        self.tokens: set[str] = set()
        self.sent_by: dict[str, str] = {}  # token -> the account whose reading sent it
        # fingerprint -> the account whose reading spent it, from the state file
        self.remembered: dict[str, str] = dict(remembered or {})

    def spend(self, token: str, account: str | None, rotated: bool = False) -> None:
        """`token` was sent. Only one the server certainly rotated (it answered a new one)
        is remembered beyond this process: after a failure it may still be good -- the Grok
        CLI may well refresh with it -- and the next check tries it again."""
        self.tokens.add(token)
        if rotated and account is not None:
            self.sent_by[token] = account

    def unspend(self, token: str) -> None:
        self.tokens.discard(token)
        self.sent_by.pop(token, None)

    def spent(self, token: str) -> bool:
        return token in self.tokens or (
            bool(self.remembered) and fingerprint(token) in self.remembered
        )

    def spender(self, token: str) -> str | None:
        """The account whose reading spent `token` in an earlier check, if one did."""
        return self.remembered.get(fingerprint(token)) if self.remembered else None


class _RefreshRefused(Exception):
    """The token endpoint answered 400/401/403: this refresh token is dead."""


class RefreshNotAllowed(TransientFailure):
    """The login needs a refresh, and this reading was told not to do one (`may_refresh`):
    `check_grok_usage` run by another user than the login file's owner. A rotated login it
    wrote back would be its file, no longer the owner's, and the owner's Grok CLI could not
    read it. Not a login problem: the owner's own Grok CLI (or watcher) still renews it."""

    kind = "refresh_not_allowed"

    def __init__(self, path: Path) -> None:
        super().__init__(f"Grok login {path} needs a refresh, which is not done from here.")
        self.path = path


class Login:
    def __init__(
        self,
        auth_path: Path,
        token_url: str,
        transport: Transport,
        deadline: Deadline,
        now: Callable[[], datetime],
        spent: SpentRefreshTokens,
        may_refresh: bool = True,
        others: Mapping[str, str] | None = None,
        account: str | None = None,
    ) -> None:
        """`may_refresh=False`: never refresh, and write nothing beside auth.json (no lock
        file, no stale temporaries removed); a token another process renewed is still
        adopted, and a refresh that would be needed raises RefreshNotAllowed. `others`: the
        refresh tokens other watched logins hold, to the name of each: never sent from here
        (CopiedLogin), as that would spend the other login's token. `account`: the name of
        the account reading this file, recorded with what its refresh spends."""
        self._auth_path = auth_path
        self._token_url = token_url
        self._transport = transport
        self._deadline = deadline
        self._now = now
        self._spent = spent
        self._may_refresh = may_refresh
        self._others = others or {}
        self._account = account

    def credentials(self) -> Credentials:
        """The first login that is unexpired or can be refreshed."""
        if self._may_refresh:
            remove_stale_auth_temporaries(self._auth_path)
        entries = login_entries(read_auth_document(self._auth_path))
        if not entries:
            raise AuthInvalid()
        for entry in entries:
            now = self._now()
            if not entry.expires_within(now, REFRESH_MARGIN):
                return self._credentials(entry)
            still_valid = not entry.expires_within(now, timedelta(0))
            try:
                refreshed = self._refresh(entry.name, entry.access_token, forced=False)
            except _RefreshRefused:
                refreshed = None
            except (TransientFailure, CopiedLogin) as error:
                if isinstance(error, CopiedLogin):
                    log.warning("%s", error.message)
                if still_valid:  # a few minutes left: read with it, refresh next time
                    return self._credentials(entry)
                raise
            if refreshed is not None:
                return refreshed
            if still_valid:
                return self._credentials(entry)
            log.debug("login %s expired and cannot be refreshed; skipped", entry.name)
        raise AuthExpired()

    def renew_after_rejection(self, rejected: Credentials) -> Credentials:
        """The API refused `rejected` (401/403): adopt a newer token or refresh once."""
        try:
            renewed = self._refresh(rejected.entry_name, rejected.access_token, forced=True)
        except _RefreshRefused:
            renewed = None
        if renewed is None:
            raise AuthExpired()
        return renewed

    def _credentials(self, entry: AuthEntry) -> Credentials:
        renewable = entry.refresh_token is not None and not self._spent.spent(entry.refresh_token)
        return Credentials(
            entry.name, entry.access_token, entry.expires_at, renewable, entry.identity
        )

    def _refresh(self, entry_name: str, seen_token: str, forced: bool) -> Credentials | None:
        lock: contextlib.AbstractContextManager[None] = (
            auth_lock(self._auth_path, self._deadline)
            if self._may_refresh
            else contextlib.nullcontext()  # reading needs no lock; creating one is a write
        )
        with lock:
            entry = parse_entry(entry_name, read_auth_document(self._auth_path).get(entry_name))
            if entry is None:
                return None
            if entry.access_token != seen_token and not entry.expires_within(
                self._now(), REFRESH_MARGIN
            ):
                log.debug("login %s was refreshed by another process; using it", entry_name)
                return self._credentials(entry)
            token = entry.refresh_token
            if not token:
                return None
            # Held by another watched file, or spent by another account's reading (now or
            # in an earlier check): this file is a copy, and sending it would log that
            # account out.
            other = (
                self._others.get(token)
                or self._spent.sent_by.get(token)
                or self._spent.spender(token)
            )
            if other is not None and other != self._account:
                raise CopiedLogin(self._auth_path, other)
            if self._spent.spent(token):  # this login's own, sent before: dead
                return None
            if not self._may_refresh:
                raise RefreshNotAllowed(self._auth_path)
            # Sending the refresh token spends it: first make sure the rotated login can be
            # stored, or a full disk would log the user out of the Grok CLI.
            ensure_writable(self._auth_path)
            tokens = self._post_refresh(entry)
            # The old refresh token is spent now: whatever the deadline says, the new one
            # must reach auth.json or the Grok CLI is logged out.
            with self._deadline.shielded():
                saved = write_back(self._auth_path, entry_name, tokens)
            log.debug(
                "login %s refreshed%s", entry_name, "" if saved else " (not saved to auth.json)"
            )
            return Credentials(
                entry_name, tokens.access_token, tokens.expires_at, True, entry.identity
            )

    def _post_refresh(self, entry: AuthEntry) -> RefreshedTokens:
        assert entry.refresh_token is not None
        form = {
            "grant_type": "refresh_token",
            "client_id": entry.client_id,
            "refresh_token": entry.refresh_token,
        }
        # The transport words its failures for the billing request; these are the refresh's.
        try:
            response = self._transport.post_form(self._token_url, form)
        except NetworkFailureBeforeSending:
            # Never reached the server: the refresh token is not spent.
            raise RefreshNetworkFailure() from None
        except NetworkFailure:
            self._spent.spend(entry.refresh_token, self._account)
            raise RefreshNetworkFailure() from None
        except ResponseChanged:
            self._spent.spend(entry.refresh_token, self._account)
            raise RefreshResponseChanged() from None
        except TransientFailure:
            self._spent.spend(entry.refresh_token, self._account)
            raise
        self._spent.spend(entry.refresh_token, self._account)
        if response.status in (400, 401, 403):
            log.debug("token endpoint refused the refresh (HTTP %d)", response.status)
            raise _RefreshRefused()
        if response.status != 200:
            raise RefreshHTTPError(response.status)
        tokens = _parse_token_response(response.body, self._now())
        if tokens.refresh_token in (None, entry.refresh_token):
            # Not rotated: the server still honours the old one, so it is not spent.
            self._spent.unspend(entry.refresh_token)
        else:
            self._spent.spend(entry.refresh_token, self._account, rotated=True)
        return tokens


def _parse_token_response(body: bytes, now: datetime) -> RefreshedTokens:
    try:
        answer = json.loads(body)
    except ValueError:
        raise RefreshResponseChanged() from None
    if not isinstance(answer, dict):
        raise RefreshResponseChanged()
    access_token = answer.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise RefreshResponseChanged()
    expires_in = answer.get("expires_in")
    if is_number(expires_in) and math.isfinite(expires_in) and expires_in > 0:
        expires_at = now + timedelta(seconds=expires_in)
    else:
        expires_at = jwt_expiry(access_token) or now + DEFAULT_TOKEN_LIFETIME
    return RefreshedTokens(
        access_token=access_token,
        refresh_token=_optional_str(answer.get("refresh_token")),
        id_token=_optional_str(answer.get("id_token")),
        expires_at=expires_at,
    )


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
