"""The values that cross the seams of a check: what was observed, what is remembered, what is due.

Immutable values with no behaviour beyond small derived properties, so that `evaluate` and
the delivery planning can be tested with plain values.

They are `NamedTuple`s rather than frozen dataclasses because every `--check` starts a fresh
interpreter: defining ~30 frozen dataclasses (and importing `dataclasses`) cost ~16 ms of a
~140 ms run; the same classes as named tuples cost ~3 ms. Change a field with `._replace()`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from enum import IntEnum, StrEnum
from typing import NamedTuple

from watcher.core.usage import Meter, Usage

STATE_VERSION = 2
# The weekly (or other) usage pool; the monthly credits meter.
METERS: tuple[Meter, ...] = ("pool", "monthly")


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


# --- what a check observed -------------------------------------------------------------------


class TokenInfo(NamedTuple):
    """The login the reading used: when its access token expires, whether it can be renewed,
    and which entry of auth.json it is (to name it: never a guess at which one was read)."""

    expires_at: datetime | None
    renewable: bool
    entry: str | None = None
    # Whose login it is: the entry's user_id (as a string), else its email; None when it
    # names neither. An account's history belongs to one identity (see core/accounts.py).
    identity: str | None = None


class Reading(NamedTuple):
    usage: Usage
    token: TokenInfo
    plan_fetched: bool = False  # /settings was asked this time (usage.plan may still be None)
    # Why the pool was not read when the monthly meter answered instead (billing "auto").
    pool_failure: str | None = None


class Failure(NamedTuple):
    kind: str  # WatcherError.kind
    message: str  # the exact one-line message
    login_problem: bool  # the user must run `grok login`; not an outage
    pool_failed: bool = False  # it was the request for the pool (?format=credits) that failed


Observation = Reading | Failure


# --- the rules ---------------------------------------------------------------------------------


class Rules(NamedTuple):
    thresholds: tuple[float, ...] = (50.0, 80.0, 90.0, 100.0)
    rearm_below: float = 5.0
    forecast: bool = True
    stale_after: timedelta = timedelta(hours=1)
    local_zone: tzinfo | None = None  # None: the system's local zone (TZ honoured)
    # In quiet hours or a snooze, alerts of this severity and above still go out at once;
    # None: every alert waits for the end.
    quiet_lets_through: Severity | None = Severity.CRITICAL


# --- alerts --------------------------------------------------------------------------------------


class AlertKind(StrEnum):
    """What an alert is about. The values are written to the state file and to --json."""

    THRESHOLD = "threshold"
    PACE = "pace"
    RESET = "reset"
    METER = "meter"
    LOGIN = "login"
    TOKEN_EXPIRY = "token_expiry"
    OUTAGE = "outage"
    RECOVERED = "recovered"
    STATE = "state"
    TEST = "test"
    ACCOUNT = "account"  # the file behind an account's name now holds another login
    LOGIN_WORKS = "login_works"  # the login incident ended: to those the login alert reached
    PASSED = "passed"  # an incident that came and went before its alert reached a target


class AlertScope(StrEnum):
    """What must still hold for an undelivered alert to be worth sending: its meter's period
    (dropped when that period ends), the login or outage incident (dropped when it ends), or
    nothing. The values are written to the state file."""

    PERIOD = "period"
    LOGIN = "login"
    OUTAGE = "outage"
    NONE = ""


class Alert(NamedTuple):
    kind: AlertKind
    key: str  # its identity among pending alerts, e.g. "threshold:80" ("monthly:threshold:80")
    severity: Severity
    title: str
    body: str
    scope: AlertScope
    created: datetime
    # What it is about, so that a pending alert is sent with the figures of the check that
    # sends it: the meter (pool, monthly), the threshold, the incident's start or the expiry.
    meter: Meter | None = None
    threshold: float | None = None
    since: datetime | None = None


class PendingAlert(NamedTuple):
    """An alert not yet delivered to every target it is routed to."""

    alert: Alert
    delivered_to: tuple[str, ...] = ()  # target ids
    only_to: tuple[str, ...] | None = None  # None: every target the severity routes to
    held_since: datetime | None = None  # first held by quiet hours or a snooze (holding.py)


# --- what is remembered between checks -----------------------------------------------------------


class Sample(NamedTuple):
    at: datetime
    percent: float


class Fired(NamedTuple):
    threshold: float
    at: datetime


class PeriodState(NamedTuple):
    """The usage period that fired thresholds and pace belong to, with its pace samples."""

    start: datetime | None
    end: datetime | None
    kind: str | None
    fired: tuple[Fired, ...] = ()
    pace_fired_at: datetime | None = None
    samples: tuple[Sample, ...] = ()

    @property
    def fired_thresholds(self) -> frozenset[float]:
        return frozenset(f.threshold for f in self.fired)


class LoginIncident(NamedTuple):
    kind: str
    message: str
    since: datetime
    notified: tuple[str, ...] = ()  # targets that received the login alert


class Outage(NamedTuple):
    kind: str
    message: str
    since: datetime
    alerted_at: datetime | None = None
    notified: tuple[str, ...] = ()  # targets that received the outage alert


class Snooze(NamedTuple):
    """`--snooze`: alerts wait until `until`, as in quiet hours (critical ones still go out
    unless `include_critical`)."""

    until: datetime
    include_critical: bool = False
    set_at: datetime | None = None


class MeterHistory(NamedTuple):
    """One meter's own history. Fired thresholds, pace and samples belong to its current
    period; `usage` and `read_at` are its latest figures, which an alert about it carries
    ("as of" then) when it is sent in a check that did not read this meter."""

    period: PeriodState | None = None
    usage: Usage | None = None
    read_at: datetime | None = None


class Delivered(NamedTuple):
    """How many alerts have reached a target, by severity, ever (each alert counts once, when
    it first reaches one): the exporter's counter, kept across restarts."""

    info: int = 0
    warning: int = 0
    critical: int = 0

    def plus_one(self, severity: Severity) -> Delivered:
        name = severity.label
        return self._replace(**{name: getattr(self, name) + 1})


class State(NamedTuple):
    pool: MeterHistory = MeterHistory()
    monthly: MeterHistory = MeterHistory()
    meter: Meter | None = None  # the meter the last good reading came from
    # billing "auto": once a pool has answered for this login, a failed pool request is a
    # failed reading, not a reason to read the monthly meter -- unless it fails for a day.
    pool_answered: bool = False
    pool_failing_since: datetime | None = None  # first failure after the last pool answer
    last_reading_at: datetime | None = None
    login: LoginIncident | None = None
    token_warned_for: datetime | None = None  # the token expiry already warned about
    outage: Outage | None = None
    plan: str | None = None
    plan_checked_at: datetime | None = None
    pending: tuple[PendingAlert, ...] = ()
    delivered: Delivered = Delivered()
    # Whose history this is (TokenInfo.identity of its last good reading), the login file it
    # was read from, and when its name was last in the config: see core/accounts.py.
    identity: str | None = None
    auth_file: str | None = None
    seen_at: datetime | None = None
    # Fingerprints of the refresh tokens the server rotated for this account (grok/login.py):
    # never sent again, though a restored backup or a copied Grok home may still hold one.
    spent_refresh: tuple[str, ...] = ()
    snooze: Snooze | None = None

    def history(self, meter: Meter) -> MeterHistory:
        return self.monthly if meter == "monthly" else self.pool

    def with_history(self, meter: Meter, history: MeterHistory) -> State:
        return self._replace(monthly=history) if meter == "monthly" else self._replace(pool=history)

    @property
    def period(self) -> PeriodState | None:
        """The period of the meter read last."""
        return self.history(self.meter).period if self.meter else None

    @property
    def last_percent(self) -> float | None:
        usage = self.history(self.meter).usage if self.meter else None
        return usage.percent_used if usage else None


class Evaluation(NamedTuple):
    alerts: tuple[Alert, ...]  # new this check
    state: State  # with the new alerts queued in `pending`
