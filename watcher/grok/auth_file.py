"""The Grok CLI's auth.json: finding it, reading its logins, locking it, writing one back.

The file belongs to the Grok CLI. The CLI refuses the WHOLE file -- logging the user out --
when an entry loses a field, a field changes its JSON type, or a time has no offset. So this
module reads freely but writes back only new values into fields that already exist, keeps
every other entry and field byte-for-byte in meaning, and never writes a file it cannot parse.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from watcher import locks
from watcher.errors import AuthLockFailed, AuthNotWritable, AuthUnreadable, LoginBusy, NotLoggedIn
from watcher.files import probe_replace, remove_stale_temporaries, replace_atomically
from watcher.grok.deadline import Deadline, DeadlineExceeded
from watcher.numbers import is_number

DEFAULT_CLIENT_ID = "b1a00492-073a-47ea-816f-4c329264a828"
LOCK_WAIT_SECONDS = 10.0
# A refreshed file is about as long as the one it replaces (new token values of similar
# length); the margin covers a longer token without probing for far more than is written.
WRITE_MARGIN_BYTES = 4096
# A temporary younger than this is left alone even when its pid looks dead: a writer in
# another pid namespace (a container sharing ~/.grok) may still be about to rename it.
STALE_TEMPORARY_SECONDS = 60.0

log = logging.getLogger(__name__)


class AuthEntry(NamedTuple):
    """One login from auth.json. `name` is its key in the file (issuer::client id)."""

    name: str
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    client_id: str
    identity: str | None = None  # user_id as a string, else email: whose login this is

    def expires_within(self, now: datetime, margin: timedelta) -> bool:
        return self.expires_at is not None and self.expires_at - now <= margin

    def __repr__(self) -> str:  # never let a token reach a log or traceback by accident
        return f"AuthEntry(name={self.name!r}, expires_at={self.expires_at!r})"


class RefreshedTokens(NamedTuple):
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_at: datetime

    def __repr__(self) -> str:
        return f"RefreshedTokens(expires_at={self.expires_at!r})"


def read_auth_document(path: Path) -> dict[str, object]:
    """The parsed file. No file, or not a JSON object, means 'not logged in'; a file that is
    there but cannot be read is AuthUnreadable (`grok login` would not fix it)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if path.is_symlink():  # the link itself is there; what it names is not
            target = os.path.realpath(path)
            raise AuthUnreadable(path, f"it links to {target}, which does not exist") from None
        log.debug("%s does not exist", path)
        raise NotLoggedIn() from None
    except OSError as exc:
        raise AuthUnreadable(path, _reason(exc)) from None
    try:
        document = json.loads(raw)
    except ValueError:
        log.debug("%s is not valid JSON", path)
        raise NotLoggedIn() from None
    if not isinstance(document, dict):
        log.debug("%s is not a JSON object", path)
        raise NotLoggedIn()
    return document


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _resolved(path: Path) -> Path:
    """The file a dotfiles symlink points to: the one that is replaced, with its temporaries
    beside it. The path itself when it cannot be resolved (a link loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def remove_stale_auth_temporaries(path: Path) -> list[Path]:
    """Remove what a killed write-back left beside auth.json (it may hold tokens)."""
    removed = remove_stale_temporaries(_resolved(path), min_age_seconds=STALE_TEMPORARY_SECONDS)
    for leftover in removed:
        log.debug("removed %s, left by a process that no longer runs", leftover)
    return removed


def ensure_writable(path: Path) -> None:
    """Raise AuthNotWritable unless a refreshed login could be written back to `path` now.

    Tries what write_back will do -- the same temporary file, as many bytes, fsynced -- so
    that a full disk, a quota or a read-only directory stops the refresh before the refresh
    token is spent, not after, when the rotated login would be lost.
    """
    target = _resolved(path)
    try:
        size = target.stat().st_size
        probe_replace(target, size + WRITE_MARGIN_BYTES)
    except OSError as exc:
        raise AuthNotWritable(path, _reason(exc)) from None


def login_entries(document: Mapping[str, object]) -> list[AuthEntry]:
    """Every entry with a non-empty access token, in file order (the first one wins)."""
    entries = []
    for name, value in document.items():
        entry = parse_entry(name, value)
        if entry is not None:
            entries.append(entry)
    return entries


def parse_entry(name: str, value: object) -> AuthEntry | None:
    if not isinstance(value, dict):
        return None
    access_token = value.get("key")
    if not isinstance(access_token, str) or not access_token:
        return None
    refresh_token = _first_str(value, "refresh_token", "refresh")
    expires_at = _parse_expiry(value.get("expires_at", value.get("expires")))
    if expires_at is None:
        expires_at = jwt_expiry(access_token)
    return AuthEntry(
        name=name,
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=expires_at,
        client_id=_client_id(name, value),
        identity=_identity(value),
    )


def _identity(value: Mapping[str, object]) -> str | None:
    """The entry's `user_id` (a string or a number in the CLI's files: compared as a
    string), else its `email`."""
    user_id = value.get("user_id")
    if isinstance(user_id, str) and user_id.strip():
        return user_id.strip()
    if is_number(user_id):
        return str(user_id)
    email = value.get("email")
    if isinstance(email, str) and email.strip():
        return email.strip()
    return None


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without verifying it (only the CLI's issuer can)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not is_number(exp):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _first_str(value: Mapping[str, object], *fields: str) -> str | None:
    for field in fields:
        candidate = value.get(field)
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _client_id(name: str, value: Mapping[str, object]) -> str:
    explicit = value.get("oidc_client_id")
    if isinstance(explicit, str) and explicit:
        return explicit
    if "::" in name:
        suffix = name.rsplit("::", 1)[1]
        if suffix:
            return suffix
    return DEFAULT_CLIENT_ID


def _parse_expiry(value: object) -> datetime | None:
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if is_number(value):
        seconds = value / 1000 if value > 1e11 else value  # some writers store milliseconds
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


@contextlib.contextmanager
def auth_lock(auth_path: Path, deadline: Deadline) -> Iterator[None]:
    """The Grok CLI's own exclusive lock, `auth.json.lock` beside auth.json.

    Created when missing and never deleted: deleting a lock file another process has open
    would let a third process lock a different file and refresh at the same time.
    """
    lock_path = auth_path.with_name(auth_path.name + ".lock")
    wait = min(LOCK_WAIT_SECONDS, deadline.remaining())
    try:
        # The reading running out of time while waiting: the lock is the reason then.
        with locks.held(lock_path, wait, gives_up_on=(DeadlineExceeded,)):
            yield
    except locks.LockUnavailable as exc:  # a lock the block takes says so in its own words
        raise AuthLockFailed(lock_path, exc.reason, action=exc.action) from None
    except locks.LockTimeout:
        log.debug("%s stayed locked; giving up for this check", lock_path)
        raise LoginBusy() from None


def write_back(path: Path, entry_name: str, tokens: RefreshedTokens) -> bool:
    """Store a refreshed login in auth.json; False (file untouched) when that is not safe.

    Re-reads the file first: another writer may have changed other entries meanwhile.
    A file that does not parse is left alone (a writer may be mid-way, retried briefly);
    so is one whose entry vanished (the user logged out meanwhile).
    """
    target = _resolved(path)  # replace the file a dotfiles symlink points to, not the link
    for attempt in range(5):
        try:
            raw = target.read_text(encoding="utf-8")
            document = json.loads(raw)
        except (OSError, ValueError):
            document = None
        if isinstance(document, dict):
            break
        if attempt < 4:
            time.sleep(0.1)
    else:
        log.warning("%s could not be parsed; the refreshed login was not saved", path)
        return False
    entry = document.get(entry_name)
    if not isinstance(entry, dict) or not entry.get("key"):
        log.warning("the login %s left %s; the refreshed login was not saved", entry_name, path)
        return False
    _apply_tokens(entry, tokens)
    try:
        replace_atomically(target, _dump_like(document, raw))
    except OSError as exc:
        # ensure_writable said it would work; the disk filled or the mode changed since. The
        # caller still reads with the new token; the user must hear that the login is lost.
        log.error(
            "the refreshed login could not be saved to %s (%s); the Grok CLI may need "
            "`grok login` again",
            path,
            _reason(exc),
        )
        return False
    return True


def _apply_tokens(entry: dict[str, object], tokens: RefreshedTokens) -> None:
    entry["key"] = tokens.access_token
    if tokens.refresh_token:
        for field in ("refresh_token", "refresh"):
            if field in entry and isinstance(entry[field], str | None):
                entry[field] = tokens.refresh_token
                break
    if tokens.id_token and "id_token" in entry and isinstance(entry["id_token"], str | None):
        entry["id_token"] = tokens.id_token
    for field in ("expires_at", "expires"):
        if field in entry:
            entry[field] = _expiry_like(entry[field], tokens.expires_at)
            break


def _expiry_like(previous: object, expires_at: datetime) -> object:
    """The new expiry in the JSON type and style the field already has."""
    utc = expires_at.astimezone(UTC)
    if isinstance(previous, bool):
        return previous  # not a time at all; leave what the CLI wrote
    if isinstance(previous, int | float):
        seconds = utc.timestamp()
        scaled = seconds * 1000 if previous > 1e11 else seconds
        return int(scaled) if isinstance(previous, int) else scaled
    text = utc.isoformat()
    if isinstance(previous, str) and previous.endswith("Z"):
        text = text.removesuffix("+00:00") + "Z"
    return text


def _dump_like(document: dict[str, object], original: str) -> str:
    indent = _indent_of(original)
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    return text + "\n" if original.endswith("\n") else text


def _indent_of(text: str) -> int | None:
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" ")
        if stripped and len(stripped) != len(line):
            return len(line) - len(stripped)
    return None
