"""Why a check decided what it did: one line per rule (each threshold, the pace, the login,
the outage), read from the state `evaluate` left behind, for `-v`.

Pure, and never a second opinion: every line restates what the state records (a threshold's
fired time, the pace's, the incident's), so the log cannot disagree with what was sent.
"""

from __future__ import annotations

from datetime import datetime

from watcher.core.evaluate import PACE_REARM_PERCENT, TOKEN_WARNING_AHEAD
from watcher.core.formatting import format_local_time, whole_percent
from watcher.core.model import Failure, Observation, Reading, Rules, State
from watcher.core.pace import forecast


def decisions(observation: Observation, after: State, rules: Rules, now: datetime) -> list[str]:
    if isinstance(observation, Failure):
        return [_failure(observation, after, rules, now)]
    return [
        *_thresholds(observation, after, rules, now),
        _pace(observation, after, rules, now),
        _login(observation, after, rules, now),
    ]


def _when(moment: datetime, now: datetime, rules: Rules) -> str:
    return "now" if moment == now else format_local_time(moment, now, rules.local_zone)


def _thresholds(reading: Reading, after: State, rules: Rules, now: datetime) -> list[str]:
    usage = reading.usage
    percent = whole_percent(usage.percent_used)
    period = after.history(usage.meter).period
    fired = {f.threshold: f.at for f in period.fired} if period is not None else {}
    lines = []
    for threshold in rules.thresholds:
        name = f"threshold {threshold:g}%"
        at = fired.get(threshold)
        if at is None:
            lines.append(f"{name}: not reached ({percent}% used)")
        elif at == now:
            lines.append(f"{name}: fired now ({percent}% used)")
        else:
            rearm = threshold - rules.rearm_below
            lines.append(f"{name}: already fired {_when(at, now, rules)}; re-arms below {rearm:g}%")
    return lines


def _pace(reading: Reading, after: State, rules: Rules, now: datetime) -> str:
    if not rules.forecast:
        return "pace: not forecast ([alerts] forecast = false)"
    usage = reading.usage
    period = after.history(usage.meter).period
    if period is None:
        return "pace: too early to tell"
    if period.pace_fired_at is not None:
        if period.pace_fired_at == now:
            return "pace: fired now (the credits run out before the reset)"
        return (
            f"pace: already alerted {_when(period.pace_fired_at, now, rules)}; again once the "
            f"projection falls to {PACE_REARM_PERCENT:g}% or less"
        )
    outlook = forecast(period.samples, usage.percent_used, now, period.start, period.end)
    if outlook is None:
        return "pace: too early to tell"
    return f"pace: on track (would reach {whole_percent(outlook.percent_at_reset)}% by the reset)"


def _login(reading: Reading, after: State, rules: Rules, now: datetime) -> str:
    token = reading.token
    if token.expires_at is None:
        return "login: access token without an expiry"
    until = format_local_time(token.expires_at, now, rules.local_zone)
    if token.renewable:
        return f"login: refreshes itself (access token valid until {until})"
    if after.token_warned_for == token.expires_at:
        return f"login: cannot be renewed, expires {until}; warned"
    ahead = format_local_time(token.expires_at - TOKEN_WARNING_AHEAD, now, rules.local_zone)
    return f"login: cannot be renewed, expires {until}; a warning comes from {ahead}"


def _failure(failure: Failure, after: State, rules: Rules, now: datetime) -> str:
    if failure.login_problem:
        since = _when(after.login.since, now, rules) if after.login else "now"
        return f"login: {failure.message} Since {since}, alerted then, once per incident"
    outage = after.outage
    if outage is None:
        return f"outage: {failure.message}"
    since = _when(outage.since, now, rules)
    if outage.alerted_at is not None:
        return f"outage: since {since}; alerted {_when(outage.alerted_at, now, rules)}"
    due = format_local_time(outage.since + rules.stale_after, now, rules.local_zone)
    return f"outage: since {since}; an alert if it lasts beyond {due}"
