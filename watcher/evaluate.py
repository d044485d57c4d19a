"""Whether to notify: one pure function of (observation, state, rules, now).

No clock, no I/O, no globals: everything that decides what is due lives here and is tested
with plain values. The shell reads usage, calls `evaluate`, delivers what is pending, records
what was delivered (`delivery.py`) and saves the state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from watcher import messages
from watcher.model import (
    Alert,
    Evaluation,
    Failure,
    Fired,
    LoginIncident,
    Observation,
    Outage,
    PendingAlert,
    PeriodState,
    Reading,
    Rules,
    Sample,
    State,
)
from watcher.pace import Forecast, add_sample, forecast
from watcher.usage import Period, Usage

# The API's period times drift by seconds between answers; a real new period moves by days.
SAME_PERIOD_TOLERANCE = timedelta(minutes=10)
TOKEN_WARNING_AHEAD = timedelta(hours=24)
PACE_REARM_PERCENT = 90.0
MAX_PENDING = 20


def evaluate(observation: Observation, state: State, rules: Rules, now: datetime) -> Evaluation:
    if isinstance(observation, Reading):
        return _after_reading(observation, state, rules, now)
    return _after_failure(observation, state, rules, now)


# --- a good reading ------------------------------------------------------------------------------


def _after_reading(reading: Reading, state: State, rules: Rules, now: datetime) -> Evaluation:
    usage = reading.usage
    zone = rules.local_zone
    alerts: list[Alert] = []
    pending = list(state.pending)

    # Incidents end at the first good reading.
    pending = [p for p in pending if p.alert.scope not in ("login", "outage")]
    recovered_to: tuple[str, ...] = ()
    if state.outage is not None and state.outage.notified:
        recovered_to = state.outage.notified
        alerts.append(messages.recovered_alert(usage, state.outage.since, now, zone))

    period = state.period
    if period is None or not same_period(period, usage.period):
        had_alerts = period is not None and bool(period.fired or period.pace_fired_at)
        pending = [p for p in pending if p.alert.scope != "period"]
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
        # The newer threshold supersedes any older one not yet delivered.
        pending = [p for p in pending if p.alert.kind != "threshold"]
        alerts.append(alert)

    period = period._replace(samples=add_sample(period.samples, Sample(now, usage.percent_used)))
    if rules.forecast:
        period, pace = _pace(period, usage, now)
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

    for alert in alerts:
        only_to = recovered_to if alert.kind == "recovered" else None
        pending = _queue(pending, PendingAlert(alert, only_to=only_to))
    new_state = state._replace(
        period=period,
        last_reading_at=now,
        last_percent=usage.percent_used,
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


def _pace(period: PeriodState, usage: Usage, now: datetime) -> tuple[PeriodState, Forecast | None]:
    outlook = forecast(period.samples, usage.percent_used, now, period.start, period.end)
    if period.pace_fired_at is not None:
        # With no forecast (usage flat, or past the limit) usage stays where it is.
        projected = outlook.percent_at_reset if outlook else usage.percent_used
        if projected <= PACE_REARM_PERCENT:
            period = period._replace(pace_fired_at=None)
        return period, None
    if outlook is not None and outlook.runs_out_before_reset:
        return period._replace(pace_fired_at=now), outlook
    return period, None


# --- a failed reading ----------------------------------------------------------------------------


def _after_failure(failure: Failure, state: State, rules: Rules, now: datetime) -> Evaluation:
    """A failed reading changes only the incident fields; fired thresholds are kept."""
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
    pending = list(state.pending)
    for alert in alerts:
        pending = _queue(pending, PendingAlert(alert))
    return Evaluation(tuple(alerts), state._replace(pending=_bounded(pending)))


def _queue(pending: list[PendingAlert], new: PendingAlert) -> list[PendingAlert]:
    """A new alert replaces an undelivered one with the same key: what is sent is what is
    true now."""
    return [p for p in pending if p.alert.key != new.alert.key] + [new]


def _bounded(pending: list[PendingAlert]) -> tuple[PendingAlert, ...]:
    return tuple(pending[-MAX_PENDING:])
