"""The state file: what was fired and delivered, in TOML a person can read, written safely.

`$XDG_STATE_HOME/grok-usage-watcher/state.toml`. Written atomically with mode 0600; guarded
by a lock so that a timer, the service and a manual --check never interleave.

A file is only ever changed when it is ours: it starts with MARKER, has the shape version 1
wrote, or is state.toml in the watcher's own state directory (whatever it holds: a file there
garbled by a crash is still ours). Anything else a flag points at -- auth.json, the config --
is refused before a lock or a directory is made, and left byte-identical. Our own corrupt file
is moved aside (one warning, never over an earlier backup) and the watcher starts fresh; a
file from a newer version is refused, never moved aside.

Version 2 keeps each login's history under [accounts.NAME] ("default" without [[accounts]]
in the config) and each meter's history under it; a version-1 file is migrated on load. A
version-2 file written before several logins could be watched has only [accounts.default]:
it reads as that account's history, which core/accounts.py hands on to the account that
now reads its login.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from watcher import locks
from watcher.core.model import (
    METERS,
    STATE_VERSION,
    Alert,
    AlertKind,
    AlertScope,
    Delivered,
    Fired,
    LoginIncident,
    MeterHistory,
    Outage,
    PendingAlert,
    PeriodState,
    Sample,
    Severity,
    Snooze,
    State,
)
from watcher.core.usage import Meter, Period, Usage
from watcher.errors import ConfigError, WatcherError
from watcher.files import remove_stale_temporaries, replace_atomically
from watcher.numbers import is_number
from watcher.paths import default_state_path

LOCK_WAIT_SECONDS = 60.0
MARKER = "# grok-usage-watcher state"
HEADER = (
    f"{MARKER} (version {STATE_VERSION}): which alerts were sent, so that none is sent twice.\n"
    "# Written by grok-usage-watcher; deleting it only means alerts may come once more.\n"
)
ACCOUNT = "default"  # the one login watched without [[accounts]]
# The history of every watched login, by account name, in the order of the file.
Histories = dict[str, State]
_V1_KEYS = frozenset(
    (
        "version",
        "last_reading_at",
        "last_percent",
        "token_warned_for",
        "plan",
        "period",
        "login",
        "outage",
        "pending",
    )
)

log = logging.getLogger(__name__)


class StateError(WatcherError):
    kind = "state"

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message  # the OS's words alone, for an alert


class StateRefused(ConfigError):
    """The path holds a file that is not ours, or one a newer version wrote: exit 2, and the
    file is left as it is."""

    kind = "state_refused"


class CheckBusy(WatcherError):
    kind = "busy"


def in_own_place(path: Path, environ: Mapping[str, str]) -> bool:
    return os.path.abspath(path) == os.path.abspath(default_state_path(environ))


# --- whose file is it ----------------------------------------------------------------------------


def check_ownership(path: Path, own_place: bool) -> None:
    """Raise StateRefused unless `path` is absent, empty, or ours (see the module's doc).
    Reads only; creates nothing."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise StateRefused(f"{path}: is a directory, not a state file") from None
    except OSError:
        return  # load_state says why it cannot be read
    _check_owned(path, raw, own_place)


def _check_owned(path: Path, raw: bytes, own_place: bool) -> None:
    if not raw.strip():
        return
    document = _parse(raw)
    version = document.get("version") if document is not None else None
    marked = raw.startswith(MARKER.encode())
    if (marked or own_place) and isinstance(version, int) and version > STATE_VERSION:
        raise StateRefused(
            f"{path}: written by a newer grok-usage-watcher (state version {version}); "
            "refusing to change it. Upgrade, or choose another --state path."
        )
    if marked or own_place or _is_version_1(document):
        return
    raise StateRefused(
        f"{path}: not a grok-usage-watcher state file; refusing to read or change it. "
        "Choose another --state path."
    )


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def _is_version_1(document: dict[str, Any] | None) -> bool:
    return (
        document is not None
        and document.get("version") == 1
        and not isinstance(document.get("version"), bool)
        and set(document) <= _V1_KEYS
    )


# --- reading and writing -------------------------------------------------------------------------


def load_state(
    path: Path, now: datetime, move_aside: bool = True, own_place: bool = False
) -> tuple[Histories, str | None]:
    """Every account's remembered history, and a warning when our own file was corrupt. It
    is moved aside so the next save starts fresh -- unless `move_aside` is False (a dry run,
    --status, --explain: they change no file, not even a dead writer's temporary)."""
    if move_aside:
        _remove_stale_temporaries(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except IsADirectoryError:
        raise StateRefused(f"{path}: is a directory, not a state file") from None
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state file: {exc.strerror or exc}") from None
    _check_owned(path, raw, own_place)
    if not raw.strip():
        return {}, None
    try:
        return decode_state(tomllib.loads(raw.decode("utf-8"))), None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, _Corrupt) as exc:
        reason = str(exc) if isinstance(exc, _Corrupt) else "not valid TOML"
    if not move_aside:
        return {}, f"{path}: {reason}; deciding as if it were empty"
    aside = _move_aside(path, now, reason)
    return {}, f"{path}: {reason}; moved aside to {aside.name}, starting fresh"


def _move_aside(path: Path, now: datetime, reason: str) -> Path:
    """To a name no earlier backup holds: a hard link fails rather than replace one."""
    stamp = now.strftime("%Y%m%dT%H%M%S")
    for number in range(1, 1000):
        suffix = f"-{number}" if number > 1 else ""
        aside = path.with_name(f"{path.name}.corrupt-{stamp}{suffix}")
        try:
            os.link(path, aside, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            raise StateError(f"{path}: {reason}, and it cannot be moved aside: {exc}") from None
        try:
            os.unlink(path)
        except OSError as exc:
            raise StateError(f"{path}: {reason}, and it cannot be moved aside: {exc}") from None
        return aside
    raise StateError(f"{path}: {reason}, and too many earlier backups are in the way")


def _remove_stale_temporaries(path: Path) -> None:
    """A process killed mid-save leaves its temporary file beside the state."""
    for removed in remove_stale_temporaries(path):
        log.debug("removed %s, left by a process that was stopped while saving", removed)


def save_state(path: Path, histories: Mapping[str, State]) -> None:
    import tomli_w  # only a check that saves pays for it; --status never does

    _make_state_directory(path)
    try:
        replace_atomically(path, HEADER + tomli_w.dumps(encode_state(histories)))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StateError(f"{path}: cannot write the state file: {reason}", reason) from None


def _make_state_directory(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        reason = "not a directory" if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
        raise StateError(
            f"{path.parent}: cannot make the state directory: {reason}", reason
        ) from None


@contextlib.contextmanager
def state_lock(
    path: Path,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """One check at a time: a second one waits for the first, then gives up with a message."""
    _make_state_directory(path)
    lock_path = path.with_name(path.name + ".lock")
    try:
        with locks.held(lock_path, wait_seconds, monotonic, sleep):
            yield
    except locks.LockUnavailable as exc:  # a lock the block takes says so in its own words
        verb = "open" if exc.action == "create" else "take"
        raise StateError(f"{lock_path}: cannot {verb} the lock: {exc.reason}") from None
    except locks.LockTimeout:
        raise CheckBusy(
            f"Another check is still running ({lock_path.name} held for "
            f"{wait_seconds:g} s); giving up this one."
        ) from None


# --- the TOML shape ------------------------------------------------------------------------------


def encode_state(histories: Mapping[str, State]) -> dict[str, Any]:
    accounts = {name: _encode_account(state) for name, state in histories.items()}
    return {"version": STATE_VERSION, "accounts": accounts}


def _encode_account(state: State) -> dict[str, Any]:
    account: dict[str, Any] = _table(
        identity=state.identity,
        auth_file=state.auth_file,
        seen_at=state.seen_at,
        meter=state.meter,
        pool_answered=state.pool_answered or None,
        pool_failing_since=state.pool_failing_since,
        last_reading_at=state.last_reading_at,
        token_warned_for=state.token_warned_for,
    )
    if state.plan is not None or state.plan_checked_at is not None:
        account["plan"] = _table(label=state.plan, checked_at=state.plan_checked_at)
    if state.login is not None:
        account["login"] = _table(
            kind=state.login.kind,
            message=state.login.message,
            since=state.login.since,
            notified=list(state.login.notified),
        )
    if state.outage is not None:
        outage = state.outage
        account["outage"] = _table(
            kind=outage.kind,
            message=outage.message,
            since=outage.since,
            alerted_at=outage.alerted_at,
            notified=list(outage.notified),
        )
    meters = {m: _encode_history(state.history(m)) for m in METERS}
    meters = {m: table for m, table in meters.items() if table}
    if meters:
        account["meters"] = meters
    if state.pending:
        account["pending"] = [_encode_pending(p) for p in state.pending]
    if any(state.delivered):
        account["delivered"] = state.delivered._asdict()
    if state.spent_refresh:
        account["spent_refresh_tokens"] = list(state.spent_refresh)
    if state.snooze is not None:
        snooze = state.snooze
        account["snooze"] = _table(
            until=snooze.until,
            include_critical=snooze.include_critical or None,
            set_at=snooze.set_at,
        )
    return account


def _encode_history(history: MeterHistory) -> dict[str, Any]:
    table: dict[str, Any] = _table(read_at=history.read_at)
    if history.period is not None:
        period = history.period
        table["period"] = _table(
            start=period.start,
            end=period.end,
            kind=period.kind,
            pace_fired_at=period.pace_fired_at,
            fired=[{"threshold": f.threshold, "at": f.at} for f in period.fired],
            samples=[[s.at, s.percent] for s in period.samples],
        )
    if history.usage is not None:
        usage = history.usage
        table["usage"] = _table(
            percent_used=usage.percent_used,
            period_kind=usage.period.kind,
            period_start=usage.period.start,
            period_end=usage.period.end,
            used=usage.used,
            limit=usage.limit,
            pay_as_you_go_cap=usage.pay_as_you_go_cap,
            pay_as_you_go_used=usage.pay_as_you_go_used,
            prepaid_balance=usage.prepaid_balance,
            source=usage.source,
        )
    return table


def _encode_pending(pending: PendingAlert) -> dict[str, Any]:
    alert = pending.alert
    table = _table(
        kind=str(alert.kind),
        key=alert.key,
        severity=alert.severity.label,
        title=alert.title,
        body=alert.body,
        scope=str(alert.scope),
        created=alert.created,
        meter=alert.meter,
        threshold=alert.threshold,
        since=alert.since,
        delivered_to=list(pending.delivered_to),
        held_since=pending.held_since,
    )
    if pending.only_to is not None:  # kept even when empty: [] (no one) differs from absent (all)
        table["only_to"] = list(pending.only_to)
    return table


def decode_state(document: dict[str, Any]) -> Histories:
    top = _Table(document, "the file")
    version = top.get("version", int)
    if version == 1:
        return {ACCOUNT: _migrate_version_1(top)}
    if version != STATE_VERSION:
        raise _Corrupt(f"unknown state version {version!r}")
    accounts = top.table("accounts")
    if accounts is None:
        return {}
    histories: Histories = {}
    for name in accounts.values:
        account = accounts.table(name)
        if account is not None:
            histories[name] = _decode_account(account)
    return histories


def _decode_account(account: _Table) -> State:
    state = State(
        meter=_meter(account.text("meter"), f"{account.where} meter"),
        pool_answered=account.flag("pool_answered"),
        pool_failing_since=account.time("pool_failing_since"),
        last_reading_at=account.time("last_reading_at"),
        token_warned_for=account.time("token_warned_for"),
        identity=account.text("identity"),
        auth_file=account.text("auth_file"),
        seen_at=account.time("seen_at"),
        spent_refresh=tuple(account.strings("spent_refresh_tokens")),
    )
    state = _incidents(state, account)
    meters = account.table("meters")
    for name in METERS:
        history = meters.table(name) if meters is not None else None
        if history is not None:
            state = state.with_history(name, _decode_history(history, name))
    decoded = (_decode_pending(item) for item in account.tables("pending"))
    pending = tuple(entry for entry in decoded if entry is not None)
    delivered = account.table("delivered")
    if delivered is not None:
        state = state._replace(delivered=_decode_delivered(delivered))
    snooze = account.table("snooze")
    if snooze is not None:
        state = state._replace(
            snooze=Snooze(
                snooze.required_time("until"),
                snooze.flag("include_critical"),
                snooze.time("set_at"),
            )
        )
    return state._replace(pending=pending)


def _decode_delivered(table: _Table) -> Delivered:
    counts = {}
    for name in Delivered._fields:
        value = table.raw_number(name) or 0
        if not isinstance(value, int) or value < 0:
            raise _Corrupt(f"{table.where} {name}: expected a count")
        counts[name] = value
    return Delivered(**counts)


def _incidents(state: State, account: _Table) -> State:
    """The plan, the login incident and the outage: the same in both versions."""
    plan = account.table("plan")
    if plan is not None:
        state = state._replace(plan=plan.text("label"), plan_checked_at=plan.time("checked_at"))
    login = account.table("login")
    if login is not None:
        state = state._replace(
            login=LoginIncident(
                login.required_text("kind"),
                login.required_text("message"),
                login.required_time("since"),
                tuple(login.strings("notified")),
            ),
        )
    outage = account.table("outage")
    if outage is not None:
        state = state._replace(
            outage=Outage(
                kind=outage.required_text("kind"),
                message=outage.required_text("message"),
                since=outage.required_time("since"),
                alerted_at=outage.time("alerted_at"),
                notified=tuple(outage.strings("notified")),
            ),
        )
    return state


def _meter(name: str | None, where: str) -> Meter | None:
    for meter in METERS:
        if name == meter:
            return meter
    if name is None:
        return None
    raise _Corrupt(f"{where}: unknown {name!r}")


_E = TypeVar("_E", AlertKind, AlertScope)


def _known(enum: type[_E], value: str) -> _E | None:
    try:
        return enum(value)
    except ValueError:
        return None


def _decode_period(period: _Table) -> PeriodState:
    samples = []
    for item in period.items("samples"):
        if not (isinstance(item, list) and len(item) == 2):
            raise _Corrupt(f"{period.where} samples: expected [time, percent] pairs")
        samples.append(Sample(_aware(item[0], "samples"), _as_number(item[1], "samples")))
    return PeriodState(
        start=period.time("start"),
        end=period.time("end"),
        kind=period.text("kind"),
        pace_fired_at=period.time("pace_fired_at"),
        fired=tuple(
            Fired(t.required_number("threshold"), t.required_time("at"))
            for t in period.tables("fired")
        ),
        samples=tuple(samples),
    )


def _decode_history(history: _Table, meter: Meter) -> MeterHistory:
    period = history.table("period")
    usage = history.table("usage")
    return MeterHistory(
        period=_decode_period(period) if period is not None else None,
        usage=_decode_usage(usage, meter) if usage is not None else None,
        read_at=history.time("read_at"),
    )


def _decode_usage(usage: _Table, meter: Meter) -> Usage:
    return Usage(
        percent_used=usage.required_number("percent_used"),
        meter=meter,
        period=Period(
            usage.text("period_kind"), usage.time("period_start"), usage.time("period_end")
        ),
        used=usage.raw_number("used"),
        limit=usage.raw_number("limit"),
        pay_as_you_go_cap=usage.raw_number("pay_as_you_go_cap") or 0,
        pay_as_you_go_used=usage.raw_number("pay_as_you_go_used"),
        prepaid_balance=usage.raw_number("prepaid_balance") or 0,
        source=usage.text("source") or "",
    )


def _decode_pending(item: _Table) -> PendingAlert | None:
    """A pending alert; None for one of a kind (or scope) this version does not know: a
    newer version wrote it, and this one could neither word nor retire it. Leaving it out
    keeps everything else the file remembers."""
    severity = item.required_text("severity").upper()
    if severity not in Severity.__members__:
        raise _Corrupt(f"{item.where} severity: unknown {severity!r}")
    meter = _meter(item.text("meter"), f"{item.where} meter")
    kind = _known(AlertKind, item.required_text("kind"))
    scope = _known(AlertScope, item.text("scope") or "")
    if kind is None or scope is None:
        log.warning(
            "%s: left out a pending alert of a kind this version does not know (%s, %s)",
            item.where,
            item.values.get("kind"),
            item.values.get("scope"),
        )
        return None
    alert = Alert(
        kind=kind,
        key=item.required_text("key"),
        severity=Severity[severity],
        title=item.required_text("title"),
        body=item.required_text("body"),
        scope=scope,
        created=item.required_time("created"),
        meter=meter,
        threshold=item.number("threshold"),
        since=item.time("since"),
    )
    only_to = tuple(item.strings("only_to")) if "only_to" in item.values else None
    delivered_to = tuple(item.strings("delivered_to"))
    return PendingAlert(alert, delivered_to, only_to, item.time("held_since"))


# Version 1 kept one meter: these alerts were about it, and these were keyed by it.
_METER_KINDS_V1 = (AlertKind.THRESHOLD, AlertKind.PACE, AlertKind.RESET, AlertKind.RECOVERED)
_KEYED_BY_METER = (AlertKind.THRESHOLD, AlertKind.PACE, AlertKind.RESET)


def _migrate_version_1(top: _Table) -> State:
    """Version 1 kept one history without saying which meter: a monthly period was the
    monthly meter's, any other the pool's. Nothing it remembered is lost: fired thresholds,
    pending alerts (told what they are about) and delivery records (old target ids, which the
    targets map to their new ones when they are loaded)."""
    state = State(
        last_reading_at=top.time("last_reading_at"),
        token_warned_for=top.time("token_warned_for"),
    )
    top.number("last_percent")  # checked, no longer kept: each meter keeps its own figures
    state = _incidents(state, top)
    period_table = top.table("period")
    meter: Meter = "pool"
    if period_table is not None:
        period = _decode_period(period_table)
        meter = "monthly" if period.kind == "monthly" else "pool"
        state = state.with_history(meter, MeterHistory(period=period))._replace(
            meter=meter, pool_answered=meter == "pool"
        )
    pending = []
    for item in top.tables("pending"):
        entry = _decode_pending(item)
        if entry is None:
            continue
        alert = entry.alert
        if alert.kind in _METER_KINDS_V1:
            alert = alert._replace(meter=meter)
        if alert.kind == AlertKind.THRESHOLD:
            try:
                alert = alert._replace(threshold=float(alert.key.rsplit(":", 1)[1]))
            except (IndexError, ValueError):
                raise _Corrupt(f"{item.where} key: not a threshold {alert.key!r}") from None
        if meter == "monthly" and alert.kind in _KEYED_BY_METER:
            alert = alert._replace(key=f"monthly:{alert.key}")
        pending.append(entry._replace(alert=alert))
    return state._replace(pending=tuple(pending))


class _Corrupt(Exception):
    """The file parsed as TOML but is not a state this version wrote."""


_T = TypeVar("_T")


class _Table:
    def __init__(self, values: Any, where: str) -> None:
        if not isinstance(values, dict):
            raise _Corrupt(f"{where}: expected a table")
        self.values = values
        self.where = where

    def get(self, key: str, kind: type[_T]) -> _T | None:
        value = self.values.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise _Corrupt(f"{self.where} {key}: unexpected {type(value).__name__}")
        return value

    def flag(self, key: str) -> bool:
        value = self.values.get(key, False)
        if not isinstance(value, bool):
            raise _Corrupt(f"{self.where} {key}: expected true or false")
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

    def _present(self, key: str, value: _T | None) -> _T:
        if value is None:
            raise _Corrupt(f"{self.where}: {key} missing")
        return value

    def raw_number(self, key: str) -> int | float | None:
        """A number as written: an int stays an int (units and cents are counted in them)."""
        value = self.values.get(key)
        if value is None:
            return None
        if not is_number(value):
            raise _Corrupt(f"{self.where} {key}: expected a number")
        return value

    def items(self, key: str) -> list[Any]:
        found: list[Any] = self.get(key, list) or []
        return found

    def strings(self, key: str) -> list[str]:
        items = self.items(key)
        if not all(isinstance(i, str) for i in items):
            raise _Corrupt(f"{self.where} {key}: expected strings")
        return items

    def table(self, key: str) -> _Table | None:
        value = self.values.get(key)
        where = key if self.where == "the file" else f"{self.where.strip('[]')}.{key}"
        return None if value is None else _Table(value, f"[{where}]")

    def tables(self, key: str) -> list[_Table]:
        where = key if self.where == "the file" else f"{self.where.strip('[]')}.{key}"
        return [_Table(item, f"[[{where}]]") for item in self.items(key)]


def _aware(value: Any, where: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise _Corrupt(f"{where}: expected a time with an offset")
    return value


def _as_number(value: Any, where: str) -> float:
    if not is_number(value):
        raise _Corrupt(f"{where}: expected a number")
    return float(value)


def _put(document: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        document[key] = value


def _table(**values: Any) -> dict[str, Any]:
    """TOML has no null: absent keys mean None (and empty lists are left out too)."""
    return {k: v for k, v in values.items() if v is not None and v != []}
