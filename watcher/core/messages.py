"""The words of every alert: a title that says what happened, a body with the numbers, the
reset time and what to do. Pure: values and a time zone in, text out. Never a token or URL."""

from __future__ import annotations

from datetime import datetime, tzinfo

from watcher.core.formatting import (
    format_ago,
    format_amount,
    format_duration,
    format_local_time,
    format_money,
    reset_words,
    whole_percent,
)
from watcher.core.model import Alert, AlertKind, AlertScope, Severity
from watcher.core.pace import Forecast
from watcher.core.severity import threshold_severity
from watcher.core.usage import Meter, Usage


def alert_key(meter: Meter, base: str) -> str:
    """The pool's keys are bare ("threshold:80"); the monthly meter's say so
    ("monthly:threshold:80"): each meter has its own history."""
    return base if meter == "pool" else f"{meter}:{base}"


def _as_of(body: str, as_of: datetime | None, now: datetime, zone: tzinfo | None) -> str:
    """Figures from an earlier check (this one did not read the meter) say when they are from."""
    if as_of is None or as_of >= now:
        return body
    when = f"{format_local_time(as_of, now, zone)} ({format_ago(now - as_of)})"
    return f"As of {when}: {body}"


def _credits(usage: Usage) -> str:
    kind = usage.period.kind
    return f"{kind} credits" if kind else "credits"


def _used_now(usage: Usage) -> str:
    text = f"{whole_percent(usage.percent_used)}%"
    if usage.used is not None and usage.limit is not None:
        text += f" ({format_amount(usage.used)} of {format_amount(usage.limit)})"
    return text


def _they_reset(usage: Usage, now: datetime, zone: tzinfo | None) -> str:
    """ "they reset Sat 28 Nov 07:21 (in 1 d 7 h)" """
    return reset_words(
        usage.period.end,
        now,
        zone,
        "their reset time is unknown",
        "they were due to reset {when} ({ago})",
        "they reset {when} (in {left})",
    )


def _until_reset(usage: Usage, now: datetime, zone: tzinfo | None) -> str:
    return reset_words(
        usage.period.end,
        now,
        zone,
        "until the credits reset (reset time unknown)",
        "until the credits reset (due now)",
        "until the credits reset, {when} (in {left})",
    )


def threshold_alert(
    threshold: float,
    usage: Usage,
    now: datetime,
    zone: tzinfo | None,
    as_of: datetime | None = None,
) -> Alert:
    shown = f"{threshold:g}%"
    used = f"You have used {_used_now(usage)} of your Grok Build {_credits(usage)}"
    if threshold >= 100:
        title = f"Grok Build: {_credits(usage)} used up ({shown})"
        until = _until_reset(usage, now, zone)
        if usage.pay_as_you_go_cap:
            cents = usage.amounts_in_cents
            spent = (
                f" ({format_money(usage.pay_as_you_go_used, cents)} used so far)"
                if usage.pay_as_you_go_used is not None
                else ""
            )
            body = (
                f"{used}. Further use is billed as pay-as-you-go, up to your cap of "
                f"{format_money(usage.pay_as_you_go_cap, cents)}{spent}, {until}."
            )
        else:
            body = f"{used}. Grok Build stops {until}. Pay-as-you-go is disabled."
    else:
        title = f"Grok Build: {shown} of {_credits(usage)} used"
        advice = (
            "Consider saving heavy tasks for after the reset."
            if threshold >= 80
            else "Check `grok-usage-watcher --status` any time."
        )
        body = f"{used}; {_they_reset(usage, now, zone)}. {advice}"
    return Alert(
        kind=AlertKind.THRESHOLD,
        key=alert_key(usage.meter, f"threshold:{threshold:g}"),
        severity=threshold_severity(threshold),
        title=title,
        body=_as_of(body, as_of, now, zone),
        scope=AlertScope.PERIOD,
        created=now,
        meter=usage.meter,
        threshold=threshold,
    )


def reset_alert(
    usage: Usage, now: datetime, zone: tzinfo | None, as_of: datetime | None = None
) -> Alert:
    end = usage.period.end.isoformat() if usage.period.end else now.isoformat()
    return Alert(
        kind=AlertKind.RESET,
        key=alert_key(usage.meter, f"reset:{end}"),
        severity=Severity.INFO,
        title=f"Grok Build: {_credits(usage)} reset",
        body=_as_of(
            f"Your Grok Build {_credits(usage)} were reset: {_used_now(usage)} used now; "
            f"next, {_they_reset(usage, now, zone)}.",
            as_of,
            now,
            zone,
        ),
        scope=AlertScope.PERIOD,
        created=now,
        meter=usage.meter,
    )


def pace_alert(
    usage: Usage,
    outlook: Forecast,
    now: datetime,
    zone: tzinfo | None,
    as_of: datetime | None = None,
) -> Alert:
    assert usage.period.end is not None
    return Alert(
        kind=AlertKind.PACE,
        key=alert_key(usage.meter, "pace"),
        severity=Severity.WARNING,
        title=f"Grok Build: {_credits(usage)} will run out before the reset",
        body=_as_of(
            f"At the current pace ({outlook.rate_per_hour:.1f} points per hour) your "
            f"{_credits(usage)} run out {format_local_time(outlook.exhausted_at, now, zone)} "
            f"(in {format_duration(outlook.exhausted_at - now)}), before they reset "
            f"{format_local_time(usage.period.end, now, zone)} "
            f"(in {format_duration(usage.period.end - now)}). {_used_now(usage)} used now.",
            as_of,
            now,
            zone,
        ),
        scope=AlertScope.PERIOD,
        created=now,
        meter=usage.meter,
    )


def meter_alert(
    usage: Usage, why: str | None, now: datetime, zone: tzinfo | None, as_of: datetime | None = None
) -> Alert:
    """The meter alerts count against changed (billing "auto": the pool failed for a day while
    the monthly meter answered, or the pool answers again). Not a reset: each meter keeps its
    own fired thresholds."""
    if usage.meter == "monthly":
        title = "Grok Build: watching the monthly credits meter"
        # `why` is a message of its own ("... Try again later."): a sentence, not a bracket.
        because = (
            f"The usage pool has not been readable for a day; the last try said: {why} "
            if why
            else "The usage pool is not read. "
        )
        body = (
            f"{because}The monthly credits meter answers, so alerts now count against "
            f"the monthly credits: {_used_now(usage)} used; {_they_reset(usage, now, zone)}. "
            "The watcher goes back to the pool when it answers again."
        )
    else:
        title = f"Grok Build: watching the {_pool(usage)} again"
        body = (
            f"The {_pool(usage)} answers again, so alerts count against it again: "
            f"{_used_now(usage)} used; {_they_reset(usage, now, zone)}."
        )
    return Alert(
        kind=AlertKind.METER,
        key=f"meter:{usage.meter}",
        severity=Severity.INFO,
        title=title,
        body=_as_of(body, as_of, now, zone),
        scope=AlertScope.NONE,
        created=now,
        meter=usage.meter,
    )


def _pool(usage: Usage) -> str:
    kind = usage.period.kind
    return f"{kind} usage pool" if kind else "usage pool"


def state_alert(path: str, reason: str, now: datetime) -> Alert:
    """The service cannot save its state: it goes on from memory, but must say so once."""
    return Alert(
        kind=AlertKind.STATE,
        key="state",
        severity=Severity.WARNING,
        title="Grok Build watcher: its state is not being saved",
        body=(
            f"The state file {path} cannot be written ({reason}). Alerts still go out once "
            "each while the watcher runs, but a restart would forget what was sent. Free some "
            "space or fix the permissions; the watcher tries again at every check."
        ),
        scope=AlertScope.NONE,
        created=now,
        since=now,
    )


def login_alert(message: str, now: datetime, since: datetime | None = None) -> Alert:
    return Alert(
        kind=AlertKind.LOGIN,
        key="login",
        severity=Severity.CRITICAL,
        title="Grok Build: run grok login",
        body=f"{message} Until then usage cannot be watched.",
        scope=AlertScope.LOGIN,
        created=now,
        since=since or now,
    )


def token_expiry_alert(expires_at: datetime, now: datetime, zone: tzinfo | None) -> Alert:
    return Alert(
        kind=AlertKind.TOKEN_EXPIRY,
        key=f"token_expiry:{expires_at.isoformat()}",
        severity=Severity.WARNING,
        title="Grok Build: login expires soon",
        body=(
            f"Your Grok CLI login expires {format_local_time(expires_at, now, zone)} "
            f"(in {format_duration(expires_at - now)}) and has no refresh token to renew it. "
            "Run `grok login` before then."
        ),
        scope=AlertScope.NONE,
        created=now,
        since=expires_at,
    )


def outage_alert(message: str, since: datetime, now: datetime, zone: tzinfo | None) -> Alert:
    return Alert(
        kind=AlertKind.OUTAGE,
        key=f"outage:{since.isoformat()}",
        severity=Severity.WARNING,
        title="Grok Build: usage cannot be read",
        body=(
            f"{message} Usage has not been readable since "
            f"{format_local_time(since, now, zone)} ({format_ago(now - since)}), "
            "so thresholds are not being watched."
        ),
        scope=AlertScope.OUTAGE,
        created=now,
        since=since,
    )


def recovered_alert(
    usage: Usage, since: datetime, now: datetime, zone: tzinfo | None, as_of: datetime | None = None
) -> Alert:
    return Alert(
        kind=AlertKind.RECOVERED,
        key=f"recovered:{since.isoformat()}",
        severity=Severity.INFO,
        title="Grok Build: usage readable again",
        body=_as_of(
            f"Usage is readable again after failing since "
            f"{format_local_time(since, now, zone)}: {_used_now(usage)} of your "
            f"{_credits(usage)} used; {_they_reset(usage, now, zone)}.",
            as_of,
            now,
            zone,
        ),
        scope=AlertScope.NONE,
        created=now,
        meter=usage.meter,
        since=since,
    )


def other_login_alert(who: str, now: datetime) -> Alert:
    """The file behind an account's name now holds another login (core/accounts.py)."""
    return Alert(
        kind=AlertKind.ACCOUNT,
        key="account",
        severity=Severity.INFO,
        title="Grok Build: now watching another login",
        body=(
            f"Now watching another login, {who}: the login file holds another Grok login "
            "than before, so its thresholds and pace start afresh."
        ),
        scope=AlertScope.NONE,
        created=now,
    )


def login_works_alert(usage: Usage, since: datetime, now: datetime, zone: tzinfo | None) -> Alert:
    """The login incident ended: to the targets that received its alert only."""
    return Alert(
        kind=AlertKind.LOGIN_WORKS,
        key=f"login_works:{since.isoformat()}",
        severity=Severity.INFO,
        title="Grok Build: Grok login works again",
        body=(
            f"Grok login works again (it had not since {format_local_time(since, now, zone)}): "
            f"{_used_now(usage)} of your {_credits(usage)} used; {_they_reset(usage, now, zone)}."
        ),
        scope=AlertScope.NONE,
        created=now,
        since=since,
    )


def passed_outage_alert(message: str, since: datetime, now: datetime, zone: tzinfo | None) -> Alert:
    """Usage could not be read for longer than stale_after, and can be again, before the
    "cannot be read" alert reached a target (quiet hours, a failing target): one line."""
    return Alert(
        kind=AlertKind.PASSED,
        key=f"passed:outage:{since.isoformat()}",
        severity=Severity.WARNING,
        title=f"Grok Build: usage could not be read for {format_duration(now - since)}",
        body=(
            f"Usage could not be read from {format_local_time(since, now, zone)} until "
            f"{format_local_time(now, now, zone)}: {message}"
        ),
        scope=AlertScope.NONE,
        created=now,
        since=since,
    )


def passed_login_alert(message: str, since: datetime, now: datetime, zone: tzinfo | None) -> Alert:
    """The login failed, and works again, before its alert reached a target."""
    return Alert(
        kind=AlertKind.PASSED,
        key=f"passed:login:{since.isoformat()}",
        severity=Severity.CRITICAL,
        title=f"Grok Build: the Grok login did not work for {format_duration(now - since)}",
        body=(
            f"The Grok login did not work from {format_local_time(since, now, zone)} until "
            f"{format_local_time(now, now, zone)}: {message}"
        ),
        scope=AlertScope.NONE,
        created=now,
        since=since,
    )
