"""The state file: what was fired and delivered, in TOML a person can read, written safely.

`$XDG_STATE_HOME/grok-usage-watcher/state.toml`. Written atomically with mode 0600; guarded
by a lock so that a timer, the service and a manual --check never interleave. A file that is
corrupt or from an unknown version is moved aside (one warning) and the watcher starts fresh
rather than stopping.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from watcher.config import home_directory
from watcher.errors import WatcherError
from watcher.files import replace_atomically
from watcher.model import (
    STATE_VERSION,
    Alert,
    Fired,
    LoginIncident,
    Outage,
    PendingAlert,
    PeriodState,
    Sample,
    Severity,
    State,
)

LOCK_WAIT_SECONDS = 60.0

log = logging.getLogger(__name__)


class StateError(WatcherError):
    kind = "state"


class CheckBusy(WatcherError):
    kind = "busy"


def default_state_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or home_directory(environ) / ".local" / "state"
    return Path(base) / "grok-usage-watcher" / "state.toml"


# --- reading and writing -------------------------------------------------------------------------


def load_state(path: Path, now: datetime, move_aside: bool = True) -> tuple[State, str | None]:
    """The remembered state, and a warning when a bad file was found. It is moved aside so
    the next save starts fresh -- unless `move_aside` is False (a dry run writes nothing)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return State(), None
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state file: {exc.strerror or exc}") from None
    try:
        return decode_state(tomllib.loads(raw.decode("utf-8"))), None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, _Corrupt) as exc:
        reason = str(exc) if isinstance(exc, _Corrupt) else "not valid TOML"
    if not move_aside:
        return State(), f"{path}: {reason}; deciding as if it were empty"
    aside = path.with_name(f"{path.name}.corrupt-{now.strftime('%Y%m%dT%H%M%S')}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise StateError(f"{path}: {reason}, and it cannot be moved aside: {exc}") from None
    return State(), f"{path}: {reason}; moved aside to {aside.name}, starting fresh"


def save_state(path: Path, state: State) -> None:
    import tomli_w  # only a check that saves pays for it; --status never does

    _make_state_directory(path)
    try:
        replace_atomically(path, tomli_w.dumps(encode_state(state)))
    except OSError as exc:
        raise StateError(f"{path}: cannot write the state file: {exc.strerror or exc}") from None


def _make_state_directory(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        reason = "not a directory" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise StateError(f"{path.parent}: cannot make the state directory: {reason}") from None


@contextlib.contextmanager
def state_lock(
    path: Path,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """One check at a time: a second one waits for the first, then gives up with a message."""
    _make_state_directory(path)
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateError(f"{lock_path}: cannot open the lock: {exc.strerror or exc}") from None
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited >= wait_seconds:
                    raise CheckBusy(
                        f"Another check is still running ({lock_path.name} held for "
                        f"{wait_seconds:g} s); giving up this one."
                    ) from None
                sleep(0.1)
                waited += 0.1
        yield
    finally:
        os.close(fd)


# --- the TOML shape ------------------------------------------------------------------------------


def encode_state(state: State) -> dict[str, Any]:
    document: dict[str, Any] = {"version": STATE_VERSION}
    _put(document, "last_reading_at", state.last_reading_at)
    _put(document, "last_percent", state.last_percent)
    _put(document, "token_warned_for", state.token_warned_for)
    if state.plan is not None or state.plan_checked_at is not None:
        document["plan"] = _table(label=state.plan, checked_at=state.plan_checked_at)
    if state.period is not None:
        period = state.period
        document["period"] = _table(
            start=period.start,
            end=period.end,
            kind=period.kind,
            pace_fired_at=period.pace_fired_at,
            fired=[{"threshold": f.threshold, "at": f.at} for f in period.fired],
            samples=[[s.at, s.percent] for s in period.samples],
        )
    if state.login is not None:
        document["login"] = _table(
            kind=state.login.kind, message=state.login.message, since=state.login.since
        )
    if state.outage is not None:
        outage = state.outage
        document["outage"] = _table(
            kind=outage.kind,
            message=outage.message,
            since=outage.since,
            alerted_at=outage.alerted_at,
            notified=list(outage.notified),
        )
    if state.pending:
        document["pending"] = [_encode_pending(p) for p in state.pending]
    return document


def _encode_pending(pending: PendingAlert) -> dict[str, Any]:
    alert = pending.alert
    table = _table(
        kind=alert.kind,
        key=alert.key,
        severity=alert.severity.label,
        title=alert.title,
        body=alert.body,
        scope=alert.scope,
        created=alert.created,
        delivered_to=list(pending.delivered_to),
    )
    if pending.only_to is not None:  # kept even when empty: [] (no one) differs from absent (all)
        table["only_to"] = list(pending.only_to)
    return table


def decode_state(document: dict[str, Any]) -> State:
    top = _Table(document, "the file")
    version = top.get("version", int)
    if version != STATE_VERSION:
        raise _Corrupt(f"unknown state version {version!r}")
    state = State(
        last_reading_at=top.time("last_reading_at"),
        last_percent=top.number("last_percent"),
        token_warned_for=top.time("token_warned_for"),
    )
    plan = top.table("plan")
    if plan is not None:
        state = _with(state, plan=plan.text("label"), plan_checked_at=plan.time("checked_at"))
    period = top.table("period")
    if period is not None:
        samples = []
        for item in period.list("samples"):
            if not (isinstance(item, list) and len(item) == 2):
                raise _Corrupt("[period] samples: expected [time, percent] pairs")
            samples.append(Sample(_aware(item[0], "samples"), _as_number(item[1], "samples")))
        state = _with(
            state,
            period=PeriodState(
                start=period.time("start"),
                end=period.time("end"),
                kind=period.text("kind"),
                pace_fired_at=period.time("pace_fired_at"),
                fired=tuple(
                    Fired(t.required_number("threshold"), t.required_time("at"))
                    for t in period.tables("fired")
                ),
                samples=tuple(samples),
            ),
        )
    login = top.table("login")
    if login is not None:
        state = _with(
            state,
            login=LoginIncident(
                login.required_text("kind"),
                login.required_text("message"),
                login.required_time("since"),
            ),
        )
    outage = top.table("outage")
    if outage is not None:
        state = _with(
            state,
            outage=Outage(
                kind=outage.required_text("kind"),
                message=outage.required_text("message"),
                since=outage.required_time("since"),
                alerted_at=outage.time("alerted_at"),
                notified=tuple(outage.strings("notified")),
            ),
        )
    pending = []
    for item in top.tables("pending"):
        severity = item.required_text("severity").upper()
        if severity not in Severity.__members__:
            raise _Corrupt(f"[[pending]] severity: unknown {severity!r}")
        alert = Alert(
            kind=item.required_text("kind"),
            key=item.required_text("key"),
            severity=Severity[severity],
            title=item.required_text("title"),
            body=item.required_text("body"),
            scope=item.text("scope") or "",
            created=item.required_time("created"),
        )
        only_to = tuple(item.strings("only_to")) if "only_to" in item.values else None
        pending.append(PendingAlert(alert, tuple(item.strings("delivered_to")), only_to))
    return _with(state, pending=tuple(pending))


class _Corrupt(Exception):
    """The file parsed as TOML but is not a state this version wrote."""


class _Table:
    def __init__(self, values: Any, where: str) -> None:
        if not isinstance(values, dict):
            raise _Corrupt(f"{where}: expected a table")
        self.values = values
        self.where = where

    def get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self.values.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise _Corrupt(f"{self.where} {key}: unexpected {type(value).__name__}")
        return value

    def time(self, key: str) -> datetime | None:
        value = self.values.get(key)
        return None if value is None else _aware(value, f"{self.where} {key}")

    def required_time(self, key: str) -> datetime:
        return self._present(key, self.time(key))

    def number(self, key: str) -> float | None:
        value = self.values.get(key)
        return None if value is None else _as_number(value, f"{self.where} {key}")

    def required_number(self, key: str) -> float:
        return self._present(key, self.number(key))

    def text(self, key: str) -> str | None:
        return self.get(key, str)

    def required_text(self, key: str) -> str:
        return self._present(key, self.text(key))

    def _present(self, key: str, value: Any) -> Any:
        if value is None:
            raise _Corrupt(f"{self.where}: {key} missing")
        return value

    def list(self, key: str) -> list[Any]:
        return self.get(key, list) or []

    def strings(self, key: str) -> list[str]:
        items = self.list(key)
        if not all(isinstance(i, str) for i in items):
            raise _Corrupt(f"{self.where} {key}: expected strings")
        return items

    def table(self, key: str) -> _Table | None:
        value = self.values.get(key)
        return None if value is None else _Table(value, f"[{key}]")

    def tables(self, key: str) -> list[_Table]:
        return [_Table(item, f"[[{key}]]") for item in self.list(key)]


def _aware(value: Any, where: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise _Corrupt(f"{where}: expected a time with an offset")
    return value


def _as_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Corrupt(f"{where}: expected a number")
    return float(value)


def _put(document: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        document[key] = value


def _table(**values: Any) -> dict[str, Any]:
    """TOML has no null: absent keys mean None (and empty lists are left out too)."""
    return {k: v for k, v in values.items() if v is not None and v != []}


def _with(state: State, **changes: Any) -> State:
    return state._replace(**changes)
