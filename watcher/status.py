"""`--status`: the user's displayed lines, as text for people and JSON for programs. Pure."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from watcher.core.evaluate import same_period
from watcher.core.formatting import (
    format_amount,
    format_duration,
    format_local_time,
    format_money,
    reset_words,
    whole_percent,
)
from watcher.core.model import Rules, Sample, State, TokenInfo
from watcher.core.usage import Usage
from watcher.errors import WatcherError

if TYPE_CHECKING:  # the pace, the login and the picture load only when shown: see below
    from watcher.core.outlook import Outlook
    from watcher.grok.identity import LoginView
    from watcher.picture import StatusPicture

STATUS_SCHEMA = 1
_LABEL_WIDTH = 14


def format_status(usage: Usage, now: datetime, local: tzinfo | None = None) -> str:
    percent = whole_percent(usage.percent_used)
    lines = [
        ("Grok", usage.plan or "plan unknown"),
        ("Credits used", f"{percent}%  {_meter_detail(usage, now, local)}"),
        ("Pay as you go", pay_as_you_go(usage)),
    ]
    return "\n".join(f"{label:<{_LABEL_WIDTH}}{value}" for label, value in lines)


def _meter_detail(usage: Usage, now: datetime, local: tzinfo | None) -> str:
    if usage.meter == "monthly":
        used = f"{format_amount(usage.used or 0)} of {format_amount(usage.limit or 0)}"
        what = f"{used} monthly credits"
    else:
        what = f"{usage.period.kind} pool" if usage.period.kind else "usage pool"
    return f"{what}, {describe_reset(usage.period.end, now, local)}"


def describe_reset(end: datetime | None, now: datetime, local: tzinfo | None = None) -> str:
    """ "resets Sat 28 Nov 07:21 (in 1 d 7 h)" """
    return reset_words(
        end,
        now,
        local,
        "reset time unknown",
        "reset was due {when} ({ago})",
        "resets {when} (in {left})",
    )


def pay_as_you_go(usage: Usage) -> str:
    """The seed's "Pay as you go" line: "Disabled", or the cap (in dollars where the answer
    counts cents), with what is used and a prepaid balance when the answer says."""
    cents = usage.amounts_in_cents
    if usage.pay_as_you_go_cap:
        text = f"{format_money(usage.pay_as_you_go_cap, cents)} cap"
        if usage.pay_as_you_go_used is not None:
            text += f", {format_money(usage.pay_as_you_go_used, cents)} used"
    else:
        text = "Disabled"
    if usage.prepaid_balance:
        text += f", prepaid balance {format_money(usage.prepaid_balance, cents)}"
    return text


def outlook_now(usage: Usage, state: State | None, rules: Rules, now: datetime) -> Outlook:
    """The pace verdict for a reading, from the samples the state keeps for its period (none
    when the state's period is another: the credits reset since)."""
    from watcher.core.outlook import outlook

    remembered = state.history(usage.meter).period if state is not None else None
    samples: tuple[Sample, ...] = ()
    fired: frozenset[float] = frozenset()
    if remembered is not None and same_period(remembered, usage.period):
        samples, fired = remembered.samples, frozenset(remembered.fired_thresholds)
    period = usage.period
    return outlook(
        period.start, period.end, usage.percent_used, samples, rules.thresholds, fired, now
    )


def picture_of(
    usage: Usage,
    now: datetime,
    local: tzinfo | None,
    pace: Outlook | None,
    login: LoginView | None,
) -> StatusPicture:
    """The values of the --status picture (watcher/picture.py draws them)."""
    from watcher.core.outlook import period_elapsed
    from watcher.picture import StatusPicture

    period = usage.period
    if usage.meter == "monthly":
        label, used = (
            "Monthly credits",
            f"{format_amount(usage.used or 0)} of " + format_amount(usage.limit or 0),
        )
    else:
        label, used = (f"{period.kind.capitalize()} credits" if period.kind else "Credits"), None
    paygo = pay_as_you_go(usage)
    return StatusPicture(
        plan=usage.plan,
        who=login.who if login else None,
        meter_label=label,
        percent=usage.percent_used,
        used=used,
        reset_at=period.end,
        elapsed=period_elapsed(period.start, period.end, now),
        outlook=pace,
        pay_as_you_go=paygo[0].lower() + paygo[1:],  # "disabled", beside the other values
        token=TokenInfo(login.expires_at, login.renewable) if login else None,
        now=now,
        when=lambda moment: format_local_time(moment, now, local),
        span=format_duration,
    )


def status_document(
    usage: Usage,
    now: datetime,
    pace: Outlook | None = None,
    login: LoginView | None = None,
) -> dict[str, Any]:
    """The JSON of --status (and of a --check's reading): schema 1, fields only ever added."""
    from watcher.core.outlook import period_elapsed

    period = usage.period
    elapsed = period_elapsed(period.start, period.end, now)
    return {
        "schema": STATUS_SCHEMA,
        "read_at": now.isoformat(),
        "plan": usage.plan,
        "percent_used": usage.percent_used,
        "meter": usage.meter,
        "period": {
            "kind": period.kind,
            "start": period.start.isoformat() if period.start else None,
            "end": period.end.isoformat() if period.end else None,
        },
        "used": usage.used,
        "limit": usage.limit,
        "pay_as_you_go": {
            "enabled": bool(usage.pay_as_you_go_cap),
            "cap": usage.pay_as_you_go_cap,
            "used": usage.pay_as_you_go_used,
            "unit": "cents" if usage.amounts_in_cents else None,  # None: raw billing units
        },
        "prepaid_balance": usage.prepaid_balance,
        "source": usage.source,
        "period_elapsed": round(elapsed, 1) if elapsed is not None else None,
        "pace": _pace_document(pace),
        "login": _login_document(login),
    }


def _pace_document(pace: Outlook | None) -> dict[str, Any] | None:
    if pace is None:
        return None
    return {
        "verdict": pace.kind,
        "runs_out_at": pace.at.isoformat() if pace.at else None,
        "percent_at_reset": (
            round(pace.percent_at_reset, 1) if pace.percent_at_reset is not None else None
        ),
        "next_threshold": pace.threshold,
    }


def _login_document(login: LoginView | None) -> dict[str, Any] | None:
    if login is None:
        return None
    return {
        "who": login.who,
        "expires_at": login.expires_at.isoformat() if login.expires_at else None,
        "renews_itself": login.renewable,
    }


def error_document(error: WatcherError) -> dict[str, Any]:
    return {"schema": STATUS_SCHEMA, "error": {"kind": error.kind, "message": error.message}}
