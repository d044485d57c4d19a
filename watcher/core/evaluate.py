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

from datetime import datetime, timedelta

from watcher.core import messages
from watcher.core.model import (
    Alert,
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
)
from watcher.core.pace import Forecast, add_sample, forecast
from watcher.core.usage import Meter, Period

# The API's period times drift by seconds between answers; a real new period moves by days.
SAME_PERIOD_TOLERANCE = timedelta(minutes=10)
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
    usage = reading.usage
    meter = usage.meter
    zone = rules.local_zone
    alerts: list[Alert] = []
    pending = list(state.pending)

    # Incidents end at the first good reading.
    pending = [p for p in pending if p.alert.scope not in ("login", "outage")]
    recovered_to: tuple[str, ...] = ()
    if state.outage is not None and state.outage.notified:
        recovered_to = state.outage.notified
        alerts.append(messages.recovered_alert(usage, state.outage.since, now, zone))

    if state.meter is not None and state.meter != meter:
        alerts.append(messages.meter_alert(usage, reading.pool_failure, now, zone))

    history = state.history(meter)
    period = history.period
    if period is None or not same_period(period, usage.period):
        had_alerts = period is not None and bool(period.fired or period.pace_fired_at)
        pending = [p for p in pending if not (p.alert.scope == "period" and _meter_of(p) == meter)]
        period = PeriodState(usage.period.start, usage.period.end, usage.period.kind)
        if had_alerts:
            alerts.append(messages.reset_alert(usage, now, zone))
    else:
        # Same period: follow the API's drifting times, and learn an end that was unknown.
        period = period._replace(
            start=usage.period.start or period.start,
            end=usage.period.end or period.end,
            kind=usage.period.kind or period.kind,
        )

    period, threshold = _thresholds(period, usage.percent_used, rules, now)
    if threshold is not None:
        alert = messages.threshold_alert(threshold, usage, now, zone)
        # The newer threshold supersedes any older one of this meter not yet delivered.
        pending = [
            p for p in pending if not (p.alert.kind == "threshold" and _meter_of(p) == meter)
        ]
        alerts.append(alert)

    # Samples from the future (the clock was set back) would bend every rate: drop them.
    samples = tuple(s for s in period.samples if s.at <= now)
    period = period._replace(samples=add_sample(samples, Sample(now, usage.percent_used)))
    if rules.forecast:
        period, pace = _pace(period, usage.percent_used, now)
        if pace:
            alerts.append(messages.pace_alert(usage, pace, now, zone))

    token_warned_for = state.token_warned_for
    token = reading.token
    if (
        token.expires_at is not None
        and not token.renewable
        and now < token.expires_at <= now + TOKEN_WARNING_AHEAD
        and token.expires_at != token_warned_for
    ):
        alerts.append(messages.token_expiry_alert(token.expires_at, now, zone))
        token_warned_for = token.expires_at

    plan, plan_checked_at = state.plan, state.plan_checked_at
    if reading.plan_fetched:
        plan, plan_checked_at = usage.plan or state.plan, now

    pool_failing_since = state.pool_failing_since
    if meter == "pool":
        pool_failing_since = None
    elif reading.pool_failure is not None:
        pool_failing_since = _failing_since(pool_failing_since, now)

    for alert in alerts:
        only_to = recovered_to if alert.kind == "recovered" else None
        pending = _queue(pending, PendingAlert(alert, only_to=only_to))
    new_state = state.with_history(
        meter, MeterHistory(period=period, usage=usage._replace(plan=None), read_at=now)
    )._replace(
        meter=meter,
        pool_answered=state.pool_answered or meter == "pool",
        pool_failing_since=pool_failing_since,
        last_reading_at=now,
        login=None,
        outage=None,
        token_warned_for=token_warned_for,
        plan=plan,
        plan_checked_at=plan_checked_at,
        pending=_bounded(pending),
    )
    return Evaluation(tuple(alerts), new_state)


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
        else:  # expired -> invalid is the same incident: one alert per incident
            login = login._replace(kind=failure.kind, message=failure.message)
        state = state._replace(login=login)
    else:
        outage = state.outage
        if outage is None:
            outage = Outage(failure.kind, failure.message, since=now)
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
        elif pending.alert.kind == "pace" and not pending.delivered_to:
            meter = _meter_of(pending)
            history = state.history(meter)
            if history.period is not None:
                period = history.period._replace(pace_fired_at=None)
                state = state.with_history(meter, history._replace(period=period))
    return state._replace(pending=tuple(kept))


def _rewritten(alert: Alert, state: State, rules: Rules, now: datetime) -> Alert | None:
    zone = rules.local_zone
    if alert.kind in ("threshold", "pace", "reset", "recovered", "meter"):
        history = state.history(_meter_of_alert(alert))
        usage, read_at, period = history.usage, history.read_at, history.period
        if usage is None or read_at is None or period is None:
            return alert  # written by a version that kept no figures: send it as it is
        as_of = read_at if read_at < now else None
        if alert.kind == "threshold":
            if alert.threshold is None or alert.threshold not in period.fired_thresholds:
                return None  # usage fell back under it: it was re-armed
            fresh = messages.threshold_alert(alert.threshold, usage, now, zone, as_of)
        elif alert.kind == "pace":
            outlook = _outlook(period, usage.percent_used, read_at)
            if outlook is None or not outlook.runs_out_before_reset:
                return None  # the forecast no longer runs out before the reset
            fresh = messages.pace_alert(usage, outlook, now, zone, as_of)
        elif alert.kind == "reset":
            fresh = messages.reset_alert(usage, now, zone, as_of)
        elif alert.kind == "recovered":
            if alert.since is None:
                return alert
            fresh = messages.recovered_alert(usage, alert.since, now, zone, as_of)
        else:
            # A note on the meter now watched, with the reason it had then; gone when the
            # meter changed back before it was delivered.
            return alert if state.meter == _meter_of_alert(alert) else None
        return fresh._replace(key=alert.key, created=alert.created)
    if alert.kind == "outage" and state.outage is not None:
        outage = state.outage
        fresh = messages.outage_alert(outage.message, outage.since, now, zone)
        return fresh._replace(key=alert.key, created=alert.created)
    if alert.kind == "login" and state.login is not None:
        fresh = messages.login_alert(state.login.message, now, state.login.since)
        return fresh._replace(key=alert.key, created=alert.created)
    if alert.kind == "token_expiry" and alert.since is not None:
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


def _bounded(pending: list[PendingAlert]) -> tuple[PendingAlert, ...]:
    return tuple(pending[-MAX_PENDING:])
