"""Whether to notify: one pure function of (observation, state, rules, now).

No clock, no I/O, no globals: everything that decides what is due lives here and is tested
with plain values. The shell reads usage, calls `evaluate`, delivers what is pending, records
what was delivered (`delivery.py`) and saves the state.

Each meter (the usage pool, the monthly credits meter) has its own history: its period, fired
thresholds and pace. A change of meter is not a reset. Pending alerts are written anew at
every check with that check's figures, so what is sent is true when it is sent; an alert whose
cause has passed is dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from watcher.core import messages
from watcher.core.model import (
    Alert,
    AlertKind,
    AlertScope,
    Evaluation,
    Failure,
    Fired,
    LoginIncident,
    MeterHistory,
    Observation,
    Outage,
    PendingAlert,
    PeriodState,
    Reading,
    Rules,
    Sample,
    State,
    TokenInfo,
)
from watcher.core.pace import Forecast, add_sample, forecast
from watcher.core.usage import Meter, Period, Usage

# The API's period times drift by seconds between answers; a real new period moves by days.
SAME_PERIOD_TOLERANCE = timedelta(minutes=10)
# Alerts that an incident's end makes pointless.
_INCIDENT_SCOPES = (AlertScope.LOGIN, AlertScope.OUTAGE)
# The alerts whose figures are a meter's: re-written with its latest reading before sending.
_ABOUT_A_METER = (
    AlertKind.THRESHOLD,
    AlertKind.PACE,
    AlertKind.RESET,
    AlertKind.RECOVERED,
    AlertKind.METER,
)
TOKEN_WARNING_AHEAD = timedelta(hours=24)
PACE_REARM_PERCENT = 90.0
MAX_PENDING = 20
# billing "auto": how long the pool must fail, while the monthly meter answers, before the
# monthly meter is watched instead.
POOL_FAILURE_BEFORE_MONTHLY = timedelta(days=1)


def evaluate(observation: Observation, state: State, rules: Rules, now: datetime) -> Evaluation:
    if isinstance(observation, Reading):
        evaluation = _after_reading(observation, state, rules, now)
    else:
        evaluation = _after_failure(observation, state, rules, now)
    return Evaluation(evaluation.alerts, _current_pending(evaluation.state, rules, now))


def may_read_monthly_instead(state: State, now: datetime) -> bool:
    """billing "auto": may a failed pool request be answered by the monthly meter? Only for a
    login whose pool never answered, or whose pool has failed for a whole day (wall-clock time
    since the first failure after the last answer; a clock set back counts as no time)."""
    if not state.pool_answered:
        return True
    since = state.pool_failing_since
    return since is not None and now - since >= POOL_FAILURE_BEFORE_MONTHLY


# --- a good reading ------------------------------------------------------------------------------


def _after_reading(reading: Reading, state: State, rules: Rules, now: datetime) -> Evaluation:
    usage, meter, zone = reading.usage, reading.usage.meter, rules.local_zone
    alerts: list[Alert] = []
    known = state.history(meter).period
    period, is_new = _followed_period(known, usage.period)
    # A time this answer left out (protobuf omits zero values) is still known: every word
    # and every figure from here on uses the period as followed.
    usage = usage._replace(period=Period(period.kind, period.start, period.end))

    # Incidents end at the first good reading: said to the targets their alert reached, and
    # in one line to those it was held back from (it came and went while quiet).
    pending = [p for p in state.pending if p.alert.scope not in _INCIDENT_SCOPES]
    for owed in _passed(state, now, zone):
        pending = _queue_passed(pending, owed)
    recovered_to = state.outage.notified if state.outage is not None else ()
    if state.outage is not None and recovered_to:
        alerts.append(messages.recovered_alert(usage, state.outage.since, now, zone))
    login_back_to = state.login.notified if state.login is not None else ()
    if state.login is not None and login_back_to:
        alerts.append(messages.login_works_alert(usage, state.login.since, now, zone))

    if state.meter is not None and state.meter != meter:
        alerts.append(messages.meter_alert(usage, reading.pool_failure, now, zone))

    period, pending, period_alerts = _in_period(period, known, is_new, usage, pending, rules, now)
    alerts += period_alerts

    token_warned_for = state.token_warned_for
    expires_at = _expiry_to_warn_of(reading.token, token_warned_for, now)
    if expires_at is not None:
        alerts.append(messages.token_expiry_alert(expires_at, now, zone))
        token_warned_for = expires_at

    only_to_by_kind = {AlertKind.RECOVERED: recovered_to, AlertKind.LOGIN_WORKS: login_back_to}
    for alert in alerts:
        pending = _queue(pending, PendingAlert(alert, only_to=only_to_by_kind.get(alert.kind)))
    plan, plan_checked_at = (
        (usage.plan or state.plan, now)
        if reading.plan_fetched
        else (state.plan, state.plan_checked_at)
    )
    new_state = state.with_history(
        meter, MeterHistory(period=period, usage=usage._replace(plan=None), read_at=now)
    )._replace(
        meter=meter,
        pool_answered=state.pool_answered or meter == "pool",
        pool_failing_since=_pool_failing_since(reading, state.pool_failing_since, now),
        last_reading_at=now,
        login=None,
        outage=None,
        token_warned_for=token_warned_for,
        plan=plan,
        plan_checked_at=plan_checked_at,
        pending=_bounded(pending),
    )
    return Evaluation(tuple(alerts), new_state)


MAX_PASSED = 10  # lines of what came and went kept for the targets owed them, per account


def _passed(state: State, now: datetime, zone: tzinfo | None) -> list[PendingAlert]:
    """An incident ending while quiet hours (or a snooze) still held its alert back: a line
    saying it came and went, owed to the same targets (any other got its alert, and gets
    the note that it ended). An alert a failing target missed is dropped with its incident,
    as ever: it is not news once it has passed."""
    owed = []
    for pending in state.pending:
        kind = pending.alert.kind
        if pending.held_since is None:
            continue
        if kind == AlertKind.OUTAGE and state.outage is not None:
            outage = state.outage
            note = messages.passed_outage_alert(outage.message, outage.since, now, zone)
        elif kind == AlertKind.LOGIN and state.login is not None:
            login = state.login
            note = messages.passed_login_alert(login.message, login.since, now, zone)
        else:
            continue
        owed.append(pending._replace(alert=note))
    return owed


def _queue_passed(pending: list[PendingAlert], note: PendingAlert) -> list[PendingAlert]:
    """The newest MAX_PASSED lines: holding must not grow the state without end."""
    pending = _queue(pending, note)
    passed = [p for p in pending if p.alert.kind == AlertKind.PASSED]
    dropped = {p.alert.key for p in passed[:-MAX_PASSED]}
    return [p for p in pending if p.alert.key not in dropped]


def _in_period(
    period: PeriodState,
    known: PeriodState | None,
    is_new: bool,
    usage: Usage,
    pending: list[PendingAlert],
    rules: Rules,
    now: datetime,
) -> tuple[PeriodState, list[PendingAlert], list[Alert]]:
    """A reading in its meter's period (`known` before it, `is_new` when the credits reset
    since): a reset, a threshold reached, the pace. Returns the period as it is now, the
    pending alerts that still hold, and the new alerts."""
    meter, zone = usage.meter, rules.local_zone
    alerts: list[Alert] = []
    if is_new:
        pending = [p for p in pending if not _of(p, meter, scope=AlertScope.PERIOD)]
        if known is not None and (known.fired or known.pace_fired_at):
            alerts.append(messages.reset_alert(usage, now, zone))

    period, threshold = _thresholds(period, usage.percent_used, rules, now)
    if threshold is not None:
        # The newer threshold supersedes any older one of this meter not yet delivered.
        pending = [p for p in pending if not _of(p, meter, kind=AlertKind.THRESHOLD)]
        alerts.append(messages.threshold_alert(threshold, usage, now, zone))

    period = _sampled(period, usage.percent_used, now)
    if rules.forecast:
        period, pace = _pace(period, usage.percent_used, now)
        if pace:
            alerts.append(messages.pace_alert(usage, pace, now, zone))
    return period, pending, alerts


def _followed_period(known: PeriodState | None, current: Period) -> tuple[PeriodState, bool]:
    """The period a reading belongs to, and whether it is a new one (the credits reset)."""
    if known is None or not same_period(known, current):
        return PeriodState(current.start, current.end, current.kind), True
    # Same period: follow the API's drifting times, and learn an end that was unknown.
    followed = known._replace(
        start=current.start or known.start,
        end=current.end or known.end,
        kind=current.kind or known.kind,
    )
    return followed, False


def _of(
    pending: PendingAlert,
    meter: Meter,
    kind: AlertKind | None = None,
    scope: AlertScope | None = None,
) -> bool:
    """Is `pending` an alert of this meter (and of this kind, or this scope)?"""
    alert = pending.alert
    return (
        _meter_of(pending) == meter
        and (kind is None or alert.kind == kind)
        and (scope is None or alert.scope == scope)
    )


def _sampled(period: PeriodState, percent: float, now: datetime) -> PeriodState:
    # Samples from the future (the clock was set back) would bend every rate: drop them.
    samples = tuple(s for s in period.samples if s.at <= now)
    return period._replace(samples=add_sample(samples, Sample(now, percent)))


def _expiry_to_warn_of(
    token: TokenInfo, warned_for: datetime | None, now: datetime
) -> datetime | None:
    """The access token's expiry, when it cannot be renewed, comes within
    TOKEN_WARNING_AHEAD, and was not warned of yet."""
    expires_at = token.expires_at
    if (
        expires_at is not None
        and not token.renewable
        and now < expires_at <= now + TOKEN_WARNING_AHEAD
        and expires_at != warned_for
    ):
        return expires_at
    return None


def _pool_failing_since(reading: Reading, since: datetime | None, now: datetime) -> datetime | None:
    """When the pool request began to fail: cleared by a pool reading, started (or kept) by
    a monthly reading that stood in for a failed pool request."""
    if reading.usage.meter == "pool":
        return None
    if reading.pool_failure is not None:
        return _failing_since(since, now)
    return since


def same_period(known: PeriodState, current: Period) -> bool:
    """Times within SAME_PERIOD_TOLERANCE are the same period. An unknown end proves
    nothing, so it counts as the same period (only a fall in usage re-arms then)."""
    if current.end is None or known.end is None:
        return True
    if abs(current.end - known.end) >= SAME_PERIOD_TOLERANCE:
        return False
    return not (
        current.start is not None
        and known.start is not None
        and abs(current.start - known.start) >= SAME_PERIOD_TOLERANCE
    )


def _thresholds(
    period: PeriodState, percent: float, rules: Rules, now: datetime
) -> tuple[PeriodState, float | None]:
    """Re-arm thresholds usage fell well under; fire those newly reached. Returns the highest
    newly reached threshold (one message names it; all of them count as fired)."""
    still_fired = tuple(f for f in period.fired if not f.threshold - percent > rules.rearm_below)
    already = {f.threshold for f in still_fired}
    reached = [t for t in rules.thresholds if percent >= t and t not in already]
    fired = still_fired + tuple(Fired(t, now) for t in reached)
    return period._replace(fired=fired), (max(reached) if reached else None)


def _outlook(period: PeriodState, percent: float, now: datetime) -> Forecast | None:
    return forecast(period.samples, percent, now, period.start, period.end)


def _pace(
    period: PeriodState, percent: float, now: datetime
) -> tuple[PeriodState, Forecast | None]:
    outlook = _outlook(period, percent, now)
    if period.pace_fired_at is not None:
        # With no forecast (usage flat, or past the limit) usage stays where it is.
        projected = outlook.percent_at_reset if outlook else percent
        if projected <= PACE_REARM_PERCENT:
            period = period._replace(pace_fired_at=None)
        return period, None
    if outlook is not None and outlook.runs_out_before_reset:
        return period._replace(pace_fired_at=now), outlook
    return period, None


def _failing_since(since: datetime | None, now: datetime) -> datetime:
    """The first failure's time; a clock set back before it counts as no time passed."""
    return now if since is None or since > now else since


# --- a failed reading ----------------------------------------------------------------------------


def _after_failure(failure: Failure, state: State, rules: Rules, now: datetime) -> Evaluation:
    """A failed reading changes only the incident fields; every meter's history is kept."""
    alerts: list[Alert] = []
    if failure.login_problem:
        login = state.login
        if login is None:
            login = LoginIncident(failure.kind, failure.message, now)
            alerts.append(messages.login_alert(failure.message, now))
            state = _without(state, AlertKind.LOGIN_WORKS)  # no longer true
        else:  # expired -> invalid is the same incident: one alert per incident
            login = login._replace(kind=failure.kind, message=failure.message)
        state = state._replace(login=login)
    else:
        outage = state.outage
        if outage is None:
            outage = Outage(failure.kind, failure.message, since=now)
            state = _without(state, AlertKind.RECOVERED)  # no longer true
        else:
            outage = outage._replace(kind=failure.kind, message=failure.message)
        if outage.alerted_at is None and now - outage.since > rules.stale_after:
            alerts.append(
                messages.outage_alert(failure.message, outage.since, now, rules.local_zone)
            )
            outage = outage._replace(alerted_at=now)
        state = state._replace(outage=outage)
    if failure.pool_failed and state.pool_answered:
        state = state._replace(pool_failing_since=_failing_since(state.pool_failing_since, now))
    pending = list(state.pending)
    for alert in alerts:
        pending = _queue(pending, PendingAlert(alert))
    return Evaluation(tuple(alerts), state._replace(pending=_bounded(pending)))


# --- pending alerts, as true now ----------------------------------------------------------------


def _current_pending(state: State, rules: Rules, now: datetime) -> State:
    """Every pending alert written anew with the latest figures of what it is about; those
    whose cause has passed are dropped. A pace alert dropped before anyone got it may fire
    again when the forecast runs out again."""
    kept: list[PendingAlert] = []
    for pending in state.pending:
        alert = _rewritten(pending.alert, state, rules, now)
        if alert is not None:
            kept.append(pending._replace(alert=alert))
        elif pending.alert.kind == AlertKind.PACE and not pending.delivered_to:
            meter = _meter_of(pending)
            history = state.history(meter)
            if history.period is not None:
                period = history.period._replace(pace_fired_at=None)
                state = state.with_history(meter, history._replace(period=period))
    return state._replace(pending=tuple(kept))


def _rewritten(alert: Alert, state: State, rules: Rules, now: datetime) -> Alert | None:
    zone = rules.local_zone
    if alert.kind in _ABOUT_A_METER:
        history = state.history(_meter_of_alert(alert))
        usage, read_at, period = history.usage, history.read_at, history.period
        if usage is None or read_at is None or period is None:
            return alert  # written by a version that kept no figures: send it as it is
        as_of = read_at if read_at < now else None
        if alert.kind == AlertKind.THRESHOLD:
            if alert.threshold is None or alert.threshold not in period.fired_thresholds:
                return None  # usage fell back under it: it was re-armed
            fresh = messages.threshold_alert(alert.threshold, usage, now, zone, as_of)
        elif alert.kind == AlertKind.PACE:
            outlook = _outlook(period, usage.percent_used, read_at)
            if outlook is None or not outlook.runs_out_before_reset:
                return None  # the forecast no longer runs out before the reset
            fresh = messages.pace_alert(usage, outlook, now, zone, as_of)
        elif alert.kind == AlertKind.RESET:
            fresh = messages.reset_alert(usage, now, zone, as_of)
        elif alert.kind == AlertKind.RECOVERED:
            if alert.since is None:
                return alert
            fresh = messages.recovered_alert(usage, alert.since, now, zone, as_of)
        else:
            # A note on the meter now watched, with the reason it had then; gone when the
            # meter changed back before it was delivered.
            return alert if state.meter == _meter_of_alert(alert) else None
        return fresh._replace(key=alert.key, created=alert.created)
    if alert.kind == AlertKind.OUTAGE and state.outage is not None:
        outage = state.outage
        fresh = messages.outage_alert(outage.message, outage.since, now, zone)
        return fresh._replace(key=alert.key, created=alert.created)
    if alert.kind == AlertKind.LOGIN and state.login is not None:
        fresh = messages.login_alert(state.login.message, now, state.login.since)
        return fresh._replace(key=alert.key, created=alert.created)
    if alert.kind == AlertKind.TOKEN_EXPIRY and alert.since is not None:
        if alert.since <= now:
            return None  # expired meanwhile: the login alert says what to do now
        fresh = messages.token_expiry_alert(alert.since, now, zone)
        return fresh._replace(key=alert.key, created=alert.created)
    return alert


def _meter_of_alert(alert: Alert) -> Meter:
    return alert.meter or "pool"


def _meter_of(pending: PendingAlert) -> Meter:
    return _meter_of_alert(pending.alert)


def _queue(pending: list[PendingAlert], new: PendingAlert) -> list[PendingAlert]:
    """A new alert replaces an undelivered one with the same key."""
    return [p for p in pending if p.alert.key != new.alert.key] + [new]


def _without(state: State, kind: AlertKind) -> State:
    """Without the undelivered notes of `kind`: a new incident made them untrue (a held
    "works again" must not arrive while the login fails again)."""
    return state._replace(pending=tuple(p for p in state.pending if p.alert.kind != kind))


def _bounded(pending: list[PendingAlert]) -> tuple[PendingAlert, ...]:
    """The newest MAX_PENDING -- dropping the oldest alerts not held first: holding never
    loses an alert to this bound (what it holds is bounded on its own: one alert per kind
    and meter, at most MAX_PASSED lines, one note per ended incident)."""
    excess = len(pending) - MAX_PENDING
    if excess <= 0:
        return tuple(pending)
    unheld = [i for i, p in enumerate(pending) if p.held_since is None][:excess]
    dropped = set(unheld)
    kept = [p for i, p in enumerate(pending) if i not in dropped]
    return tuple(kept[-MAX_PENDING:])
