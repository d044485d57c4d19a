"""How numbers, times and spans read in every line the watcher writes. Pure."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo

from watcher.core.usage import Number


def whole_percent(percent: float) -> int:
    """Rounded down, so a display never shows a threshold reached before it is (99.6 -> 99)."""
    return math.floor(percent)


def format_local_time(moment: datetime, now: datetime, local: tzinfo | None = None) -> str:
    """`Thu 27 Nov 05:01 CET` in the local zone (TZ honoured), with the zone's abbreviation
    (a time without its zone is a guess for anyone reading it elsewhere, or in a log later),
    and the year when it is not this year's: `Thu 27 Nov 2027 05:01 CET`."""
    try:
        shown = moment.astimezone(local)
    except (OverflowError, ValueError):  # the far future (9999-12-31 plus an offset): as given
        shown = moment
    year = f" {shown.year}" if shown.year != now.astimezone(local).year else ""
    zone = shown.tzname() or shown.strftime("%z")
    return f"{shown:%a} {shown.day} {shown:%b}{year} {shown:%H:%M} {zone}"


def format_ago(span: timedelta) -> str:
    """`3 d ago`, `5 min ago`; under a minute, `just now` (never `0 min ago`)."""
    if span < timedelta(minutes=1):
        return "just now"
    return f"{format_duration(span)} ago"


def format_duration(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def format_money(value: Number, in_cents: bool) -> str:
    """`$25.00` for an amount in cents; a raw amount (`2,500`) when its unit is unknown."""
    if in_cents:
        return f"${value / 100:,.2f}"
    return format_amount(value)


def format_amount(value: Number) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def reset_words(
    end: datetime | None,
    now: datetime,
    zone: tzinfo | None,
    unknown: str,
    past: str,
    coming: str,
) -> str:
    """When the credits reset, in the caller's words: `unknown` when the API did not say,
    `past` ("{when}", "{ago}") when the time has passed, else `coming` ("{when}", "{left}")."""
    if end is None:
        return unknown
    when = format_local_time(end, now, zone)
    if end <= now:
        return past.format(when=when, ago=format_ago(now - end))
    return coming.format(when=when, left=format_duration(end - now))
