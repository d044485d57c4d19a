"""`--explain`: why an alert came, or did not, in words -- from the state and the rules only.

Pure. One view of each account (`AccountView`) and of the quiet hours (`QuietView`), read
from what the state records (a threshold's fired time, the pace's samples, the incidents,
the pending alerts and whom they reached), so the words cannot disagree with what was sent;
`explain_text` and `explain_document` both write that view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple

from watcher.core.evaluate import PACE_REARM_PERCENT, same_period
from watcher.core.formatting import format_ago, format_local_time, whole_percent
from watcher.core.model import LoginIncident, Outage, Rules, Severity, Snooze, State
from watcher.core.outlook import outlook
from watcher.core.pace import MIN_PERCENT, MIN_PERIOD_FRACTION, forecast
from watcher.core.quiet import QuietWindow, next_quiet, quiet_at, quiet_until

EXPLAIN_SCHEMA = 1


class ThresholdView(NamedTuple):
    threshold: float
    fired_at: datetime | None
    rearms_below: float  # usage must fall below this (or a new period begin) to fire again


class PaceView(NamedTuple):
    verdict: str  # outlook's: runs_out, would_reach, on_track, too_early, used_up; or off
    samples: int
    rate_per_hour: float | None
    percent_at_reset: float | None
    runs_out_at: datetime | None
    alerted_at: datetime | None
    reason: str | None  # why there is no forecast


class PendingView(NamedTuple):
    kind: str
    title: str
    severity: str
    since: datetime
    delivered_to: tuple[str, ...]  # targets, as people know them
    held_since: datetime | None
    only_to: tuple[str, ...] | None = None  # None: every target its severity routes to


class AccountView(NamedTuple):
    name: str
    percent: float | None
    meter: str | None
    read_at: datetime | None
    reset_at: datetime | None
    thresholds: tuple[ThresholdView, ...]
    pace: PaceView | None
    login: LoginIncident | None
    outage: Outage | None
    outage_alert_due: datetime | None
    pending: tuple[PendingView, ...]
    snooze: Snooze | None
    names: tuple[str, ...] = ()  # every name that reads this login, when more than one


class QuietView(NamedTuple):
    now: bool
    until: datetime | None
    next_start: datetime | None
    lets_through: Severity | None
    windows: tuple[str, ...]


def account_view(
    name: str, state: State, rules: Rules, now: datetime, label: Callable[[str], str]
) -> AccountView:
    meter = state.meter
    history = state.history(meter) if meter else None
    usage = history.usage if history else None
    period = history.period if history else None
    fired = {f.threshold: f.at for f in period.fired} if period is not None else {}
    thresholds = tuple(
        ThresholdView(t, fired.get(t), t - rules.rearm_below) for t in rules.thresholds
    )
    pace = None
    if usage is not None and history is not None and history.read_at is not None:
        pace = _pace(state, rules, history.read_at)
    outage = state.outage
    due = outage.since + rules.stale_after if outage and outage.alerted_at is None else None
    pending = tuple(
        PendingView(
            str(p.alert.kind),
            p.alert.title,
            p.alert.severity.label,
            p.alert.created,
            tuple(label(t) for t in p.delivered_to),
            p.held_since,
            None if p.only_to is None else tuple(label(t) for t in p.only_to),
        )
        for p in state.pending
    )
    snooze = state.snooze if state.snooze is not None and now < state.snooze.until else None
    return AccountView(
        name,
        usage.percent_used if usage else None,
        meter,
        history.read_at if history else None,
        usage.period.end if usage else None,
        thresholds,
        pace,
        state.login,
        outage,
        due,
        pending,
        snooze,
    )


def _pace(state: State, rules: Rules, read_at: datetime) -> PaceView:
    assert state.meter is not None
    history = state.history(state.meter)
    usage, period = history.usage, history.period
    assert usage is not None
    samples = period.samples if period is not None else ()
    if not rules.forecast:
        return PaceView("off", len(samples), None, None, None, None, "[alerts] forecast = false")
    start, end = usage.period.start, usage.period.end
    fired = period.fired_thresholds if period is not None else frozenset()
    if period is not None and not same_period(period, usage.period):
        samples = ()
    seen = outlook(start, end, usage.percent_used, samples, rules.thresholds, fired, read_at)
    projected = forecast(samples, usage.percent_used, read_at, start, end) if samples else None
    reason = None
    if seen.kind == "too_early":
        reason = _no_forecast(usage.percent_used, start, end, read_at)
    return PaceView(
        seen.kind,
        len(samples),
        projected.rate_per_hour if projected else None,
        seen.percent_at_reset,
        seen.at if seen.kind == "runs_out" else None,
        period.pace_fired_at if period is not None else None,
        reason,
    )


def _no_forecast(
    percent: float, start: datetime | None, end: datetime | None, now: datetime
) -> str:
    if start is None or end is None or end <= start:
        return "the period's start or end is not known"
    if now >= end:
        return "the period is over"
    if percent < MIN_PERCENT:
        return f"under {MIN_PERCENT:g}% used"
    if (now - start) / (end - start) < MIN_PERIOD_FRACTION:
        return f"less than {MIN_PERIOD_FRACTION:.0%} of the period has passed"
    return "usage is not rising"


def quiet_view(
    windows: Sequence[QuietWindow], lets_through: Severity | None, now: datetime
) -> QuietView:
    quiet = quiet_at(now, windows)
    return QuietView(
        quiet,
        quiet_until(now, windows) if quiet else None,
        None if quiet or not windows else next_quiet(now, windows),
        lets_through,
        tuple(w.text for w in windows),
    )


# --- in words ----------------------------------------------------------------------------------


def explain_text(
    accounts: Sequence[AccountView],
    quiet: QuietView,
    now: datetime,
    zone: tzinfo | None,
    named: bool,
) -> str:
    blocks = [_account_text(a, now, zone, named, quiet.lets_through) for a in accounts]
    blocks.append(_quiet_text(quiet, now, zone))
    return "\n\n".join(blocks)


def _account_text(
    view: AccountView,
    now: datetime,
    zone: tzinfo | None,
    named: bool,
    lets_through: Severity | None,
) -> str:
    def when(moment: datetime) -> str:
        return format_local_time(moment, now, zone)

    def both(moment: datetime) -> str:
        """Local time with its zone, and UTC beside it (unless that is the local zone)."""
        local = when(moment)
        utc = moment.astimezone(UTC).strftime("%H:%M UTC")
        return local if local.endswith(" UTC") else f"{local} ({utc})"

    lines = [f"Grok Build ({', '.join(view.names or (view.name,))})" if named else "Grok Build"]
    if view.percent is None or view.read_at is None:
        lines.append("Usage: not read yet (run grok-usage-watcher --check).")
    else:
        what = "monthly credits" if view.meter == "monthly" else "the usage pool"
        reset = f"; it resets {when(view.reset_at)}" if view.reset_at else ""
        lines.append(
            f"Usage: {whole_percent(view.percent)}% of {what}, read {when(view.read_at)} "
            f"({format_ago(now - view.read_at)}){reset}."
        )
    for t in view.thresholds:
        name = f"Threshold {t.threshold:g}%"
        if t.fired_at is None:
            now_at = f" ({whole_percent(view.percent)}% now)" if view.percent is not None else ""
            lines.append(f"{name}: not reached{now_at}.")
        else:
            lines.append(
                f"{name}: fired {both(t.fired_at)}; it fires again only after usage falls "
                f"below {t.rearms_below:g}% or the credits reset."
            )
    lines.append(_pace_text(view.pace, when))
    lines.append(_login_text(view, when))
    lines.append(_outage_text(view, when))
    lines.extend(_pending_text(view, when))
    if view.snooze is not None:
        passes = None if view.snooze.include_critical else lets_through
        waits = "every alert waits" if passes is None else f"alerts below {passes.label} wait"
        lines.append(f"Snooze: until {when(view.snooze.until)}: {waits}, then come as one message.")
    else:
        lines.append("Snooze: none (grok-usage-watcher --snooze 4h holds alerts for a while).")
    return "\n".join(lines)


def _pace_text(pace: PaceView | None, when: Callable[[datetime], str]) -> str:
    if pace is None:
        return "Pace: no forecast until usage has been read."
    if pace.verdict == "off":
        return "Pace: not forecast ([alerts] forecast = false)."
    if pace.verdict == "used_up":
        return "Pace: nothing left to forecast: the credits are used up."
    if pace.verdict == "too_early":
        return f"Pace: no forecast yet: {pace.reason}."
    rate = (
        f", rising {pace.rate_per_hour:.2g} points an hour"
        if pace.rate_per_hour is not None
        else ""
    )
    basis = f"From {pace.samples} reading{'' if pace.samples == 1 else 's'}{rate}"
    at_reset = whole_percent(pace.percent_at_reset) if pace.percent_at_reset is not None else 0
    if pace.verdict == "runs_out" and pace.runs_out_at is not None:
        verdict = f"the credits run out {when(pace.runs_out_at)}, before the reset"
    else:
        verdict = f"{at_reset}% by the reset"
    if pace.alerted_at is not None:
        alerted = (
            f"; alerted {when(pace.alerted_at)}, again only once the projection falls to "
            f"{PACE_REARM_PERCENT:g}% or less"
        )
    elif pace.verdict == "runs_out":
        alerted = "; the alert goes out with the next check's reading"
    else:
        alerted = "; no alert: it does not run out before the reset"
    return f"Pace: {basis}: {verdict}{alerted}."


def _login_text(view: AccountView, when: Callable[[datetime], str]) -> str:
    login = view.login
    if login is None:
        return "Login: works." if view.read_at is not None else "Login: not tried yet."
    return (
        f"Login: failing since {when(login.since)}: {login.message} Its alert is sent once "
        "for this incident; a note follows when it works again."
    )


def _outage_text(view: AccountView, when: Callable[[datetime], str]) -> str:
    outage = view.outage
    if outage is None:
        return "Outage: none."
    if outage.alerted_at is not None:
        return (
            f"Outage: usage cannot be read since {when(outage.since)} ({outage.message}); "
            f"alerted {when(outage.alerted_at)}."
        )
    due = f" beyond {when(view.outage_alert_due)}" if view.outage_alert_due else ""
    return (
        f"Outage: usage cannot be read since {when(outage.since)} ({outage.message}); "
        f"an alert comes if it lasts{due}."
    )


def _pending_text(view: AccountView, when: Callable[[datetime], str]) -> list[str]:
    if not view.pending:
        return ["Pending: nothing waits to be sent."]
    lines = []
    for p in view.pending:
        reached = f"; already reached {', '.join(p.delivered_to)}" if p.delivered_to else ""
        held = f"; held since {when(p.held_since)}" if p.held_since else ""
        whom = (
            f"the targets that take {p.severity} alerts"
            if p.only_to is None
            else "the targets that got the incident's alert"
        )
        lines.append(f"Pending since {when(p.since)}, for {whom}: “{p.title}”{reached}{held}.")
    return lines


def _quiet_text(quiet: QuietView, now: datetime, zone: tzinfo | None) -> str:
    if not quiet.windows:
        return "Quiet hours: none configured ([[quiet]])."
    waits = (
        "every alert waits"
        if quiet.lets_through is None
        else f"alerts below {quiet.lets_through.label} wait"
    )
    listed = "; ".join(quiet.windows)
    if quiet.now:
        until = f"until {format_local_time(quiet.until, now, zone)}" if quiet.until else "on"
        return f"Quiet hours ({listed}): now, {until}: {waits}, then come as one message."
    if quiet.next_start is not None:
        start = format_local_time(quiet.next_start, now, zone)
        return f"Quiet hours ({listed}): not now; next from {start}, when {waits}."
    return f"Quiet hours ({listed}): not now, nor in the next eight days."


# --- as a document -----------------------------------------------------------------------------


def explain_document(
    accounts: Sequence[AccountView], quiet: QuietView, now: datetime
) -> dict[str, Any]:
    return {
        "schema": EXPLAIN_SCHEMA,
        "now": now.isoformat(),
        "accounts": [_account_document(a) for a in accounts],
        "quiet": {
            "now": quiet.now,
            "until": _iso(quiet.until),
            "next_start": _iso(quiet.next_start),
            "lets_through": quiet.lets_through.label if quiet.lets_through else None,
            "windows": list(quiet.windows),
        },
    }


def _account_document(view: AccountView) -> dict[str, Any]:
    pace = view.pace
    return {
        "name": view.name,
        "usage": None
        if view.percent is None
        else {
            "percent_used": view.percent,
            "meter": view.meter,
            "read_at": _iso(view.read_at),
            "reset_at": _iso(view.reset_at),
        },
        "thresholds": [
            {"threshold": t.threshold, "fired_at": _iso(t.fired_at), "rearms_below": t.rearms_below}
            for t in view.thresholds
        ],
        "pace": None
        if pace is None
        else {
            "verdict": pace.verdict,
            "samples": pace.samples,
            "rate_per_hour": pace.rate_per_hour,
            "percent_at_reset": pace.percent_at_reset,
            "runs_out_at": _iso(pace.runs_out_at),
            "alerted_at": _iso(pace.alerted_at),
            "reason": pace.reason,
        },
        "login": None
        if view.login is None
        else {"failing_since": view.login.since.isoformat(), "message": view.login.message},
        "outage": None
        if view.outage is None
        else {
            "since": view.outage.since.isoformat(),
            "message": view.outage.message,
            "alerted_at": _iso(view.outage.alerted_at),
            "alert_due_at": _iso(view.outage_alert_due),
        },
        "pending": [
            {
                "kind": p.kind,
                "title": p.title,
                "severity": p.severity,
                "since": p.since.isoformat(),
                "delivered_to": list(p.delivered_to),
                "held_since": _iso(p.held_since),
            }
            for p in view.pending
        ],
        "snooze": None
        if view.snooze is None
        else {
            "until": view.snooze.until.isoformat(),
            "include_critical": view.snooze.include_critical,
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
