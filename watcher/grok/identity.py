"""Which Grok login the watcher reads, named to its owner, and whether it stays usable.

`--status` shows it so that a user with several Grok homes (GROK_HOME) sees whose credits
these are, and whether the login will keep working unattended. It only reads auth.json: no
lock, no refresh, no network. It never returns or logs a token, and a missing or damaged
file is simply "nothing to show" (the reading itself reports what is wrong with it).
"""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from watcher.errors import WatcherError
from watcher.grok.auth_file import AuthEntry, login_entries, read_auth_document


class LoginView(NamedTuple):
    """The login that is read: `who` names it (its email when known), `expires_at` is its
    access token's expiry, `renewable` whether a refresh token can renew it unattended."""

    who: str
    expires_at: datetime | None
    renewable: bool


def describe_login(
    auth_path: Path, now: datetime, entry_name: str | None = None
) -> LoginView | None:
    """The login a reading at `now` uses -- the entry `entry_name` when the reading says
    which it used; None when there is none to show (no file, a file that cannot be read or
    parsed, no entry with an access token).

    When every entry has expired and none can be renewed, the reading fails with "expired";
    the first entry is shown then, expired, since it is the one `grok login` renews.
    """
    try:
        document = read_auth_document(auth_path)
    except (WatcherError, OSError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    entries = login_entries(document)
    named = [e for e in entries if e.name == entry_name]
    entry = named[0] if named else used_entry(entries, now)
    if entry is None:
        return None
    return LoginView(
        who=_who(entry.name, document.get(entry.name)),
        expires_at=entry.expires_at,
        renewable=entry.refresh_token is not None,
    )


class LoginPeek(NamedTuple):
    """What a check must know of a login file before reading with it: whose login it holds
    (the entry a reading would use), and the refresh tokens it holds (which another watched
    file may hold too, when a Grok home was copied). Never logged: it holds tokens."""

    identity: str | None
    refresh_tokens: frozenset[str]

    def __repr__(self) -> str:
        return f"LoginPeek(identity={self.identity!r})"


def peek_login(auth_path: Path, now: datetime) -> LoginPeek:
    """Nothing known when the file cannot be read: its reading says why."""
    try:
        entries = login_entries(read_auth_document(auth_path))
    except (WatcherError, OSError, RecursionError):
        return LoginPeek(None, frozenset())
    entry = used_entry(entries, now)
    tokens = frozenset(e.refresh_token for e in entries if e.refresh_token)
    return LoginPeek(entry.identity if entry is not None else None, tokens)


def used_entry(entries: Sequence[AuthEntry], now: datetime) -> AuthEntry | None:
    """The entry `Login.credentials` (watcher/grok/login.py) settles on, without its network.

    It takes, in file order, the first entry that is unexpired or can be refreshed (a
    refresh is tried for one about to expire), skipping only expired entries with no
    refresh token. A refresh the server would refuse cannot be known here: such an entry is
    still shown, as "refreshes itself", until a reading fails. With nothing usable the first
    entry is returned (see describe_login); None only when there are no entries.
    """
    for entry in entries:
        if entry.refresh_token is not None or not entry.expires_within(now, timedelta(0)):
            return entry
    return entries[0] if entries else None


def _who(name: str, value: object) -> str:
    """The entry's `email`, else the id token's `email` claim, else the entry's name."""
    fields = value if isinstance(value, Mapping) else {}
    for candidate in (fields.get("email"), _id_token_email(fields.get("id_token"))):
        if isinstance(candidate, str):
            shown = _printable(candidate)
            if shown:
                return shown
    return _printable(name) or "unnamed login"


def _id_token_email(token: object) -> str | None:
    """The `email` claim of the OIDC id token, read without verifying it: it only names the
    login on the user's own screen, it grants nothing."""
    if not isinstance(token, str):
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error, RecursionError):
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    return email if isinstance(email, str) else None


def _printable(text: str) -> str:
    """Without control characters: a name from a file must not drive the user's terminal
    (escape sequences) or break the picture's lines."""
    return "".join(c for c in text if unicodedata.category(c)[0] != "C").strip()
