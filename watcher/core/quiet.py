"""Quiet hours: whether a moment is quiet, and when the quiet ends. Pure.

Windows are written as Alertmanager's `time_intervals` are (weekdays and their ranges), with
times "HH:MM-HH:MM" that may wrap midnight. Each window is judged on the moment's own
weekday and wall time in the window's zone: "22:00-07:30" on monday:friday covers Monday
00:00-07:30 and Friday 22:00-24:00 (Saturday 00:00-07:30 is Saturday's, not Friday's).

Wall time decides, which settles the days the clocks change: in the hour that repeats, a
moment is quiet or not by its wall time, both times round; a time the clocks skip ends (or
starts) a window at the first moment whose wall time is at or after it. Windows that touch
or overlap are one quiet stretch, which ends when the last of them ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import NamedTuple

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# How far ahead the end of a quiet stretch is looked for: a week and a day covers any
# weekly window; a stretch longer than that (every day, all day) has no end to tell.
HORIZON = timedelta(days=8)
_PRECISION = timedelta(seconds=1)


class TimeRange(NamedTuple):
    """From `start` (included) to `end` (excluded), in minutes of the day; `end` may be
    1440 (24:00). A range that wraps midnight is two of these."""

    start: int
    end: int


class QuietWindow(NamedTuple):
    weekdays: frozenset[int]  # 0 Monday .. 6 Sunday; every day when the window names none
    times: tuple[TimeRange, ...]  # all day when the window names none
    zone: tzinfo | None  # None: the local zone (TZ honoured)
    text: str = ""  # as configured, for people: "22:00-07:30 monday:friday"

    def covers(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if local.weekday() not in self.weekdays:
            return False
        minute = local.hour * 60 + local.minute + local.second / 60
        return not self.times or any(r.start <= minute < r.end for r in self.times)


def quiet_at(moment: datetime, windows: Iterable[QuietWindow]) -> bool:
    return any(w.covers(moment) for w in windows)


def quiet_until(moment: datetime, windows: Sequence[QuietWindow]) -> datetime | None:
    """The end of the quiet stretch `moment` is in (the first moment after it that no
    window covers), to the second; None when `moment` is not quiet, or the stretch goes on
    past HORIZON."""
    moment = moment.astimezone(UTC)  # arithmetic in a zone's wall time would skip hours
    if not quiet_at(moment, windows):
        return None
    earlier = moment
    for candidate in _boundaries(moment, windows):
        if not quiet_at(candidate, windows):
            return _change(earlier, candidate, windows)
        earlier = candidate
    return None


def next_quiet(moment: datetime, windows: Sequence[QuietWindow]) -> datetime | None:
    """When the next quiet stretch begins, after `moment` (None: none within HORIZON)."""
    moment = moment.astimezone(UTC)
    earlier = moment
    for candidate in _boundaries(moment, windows):
        if quiet_at(candidate, windows) and not quiet_at(earlier, windows):
            return _change(earlier, candidate, windows)
        earlier = candidate
    return None


def _boundaries(moment: datetime, windows: Sequence[QuietWindow]) -> list[datetime]:
    """Every moment after `moment` within HORIZON at which a window may begin or end: each
    range's start and end and each midnight, in each window's zone, both readings of a wall
    time the clocks repeat. A skipped wall time lands an hour late here; `_change` finds
    the moment the clocks really jumped."""
    found: set[datetime] = set()
    for window in windows:
        local = moment.astimezone(window.zone)
        minutes = {0} | {m for r in window.times for m in (r.start, r.end)}
        for offset in range(-1, HORIZON.days + 2):
            day = local.date() + timedelta(days=offset)
            for minute in minutes:
                for fold in (0, 1):
                    at = _wall(day, minute, window.zone, fold)
                    if moment < at <= moment + HORIZON:
                        found.add(at)
    return sorted(found)


def _wall(day: date, minute: int, zone: tzinfo | None, fold: int) -> datetime:
    extra, minute = divmod(minute, 1440)
    wall = datetime.combine(day + timedelta(days=extra), time(minute // 60, minute % 60))
    if zone is None:
        return wall.replace(fold=fold).astimezone(UTC)
    return wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)


def _change(before: datetime, after: datetime, windows: Sequence[QuietWindow]) -> datetime:
    """The first moment in (before, after] whose quiet differs from `before`'s, to the
    second (a bisection: between two boundaries, quiet changes at most once)."""
    was = quiet_at(before, windows)
    while after - before > _PRECISION:
        middle = before + (after - before) / 2
        if quiet_at(middle, windows) == was:
            before = middle
        else:
            after = middle
    return after.replace(microsecond=0) + (_PRECISION if after.microsecond else timedelta(0))


# --- reading what the config says ------------------------------------------------------------


class QuietError(ValueError):
    """A value a window cannot be made of; the text says what was expected."""


def parse_times(text: str) -> tuple[TimeRange, ...]:
    """ "22:00-07:30" -> 22:00-24:00 and 00:00-07:30; "09:00-17:00" -> one range."""
    start_text, dash, end_text = text.strip().partition("-")
    if not dash:
        raise QuietError(f'expected "HH:MM-HH:MM", like "22:00-07:30", got {text!r}')
    start, end = _minute(start_text, text), _minute(end_text, text)
    if start == 1440:
        raise QuietError(f"a window cannot start at 24:00, got {text!r}")
    if start == end:
        raise QuietError(f"the start and the end are the same time, got {text!r}")
    if start < end:
        return (TimeRange(start, end),)
    ranges = [TimeRange(start, 1440)]
    if end > 0:
        ranges.append(TimeRange(0, end))
    return tuple(ranges)


def _minute(text: str, whole: str) -> int:
    hours, colon, minutes = text.strip().partition(":")
    if not (colon and len(hours) == 2 and len(minutes) == 2 and (hours + minutes).isdigit()):
        raise QuietError(f'expected "HH:MM-HH:MM", like "22:00-07:30", got {whole!r}')
    if not hours.isascii() or not minutes.isascii():
        raise QuietError(f'expected "HH:MM-HH:MM", like "22:00-07:30", got {whole!r}')
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 1440:
        raise QuietError(f"not a time of day: {text.strip()!r} in {whole!r}")
    return value


def parse_weekdays(text: str) -> frozenset[int]:
    """ "monday:friday", "saturday" (any case), as Alertmanager's time_intervals."""
    first, colon, last = text.strip().lower().partition(":")
    start = _weekday(first, text)
    end = _weekday(last, text) if colon else start
    if end < start:
        raise QuietError(
            f"a weekday range runs from earlier to later in the week (monday first), got {text!r}"
        )
    return frozenset(range(start, end + 1))


def _weekday(name: str, whole: str) -> int:
    if name not in WEEKDAYS:
        raise QuietError(f"expected weekday names like monday or monday:friday, got {whole!r}")
    return WEEKDAYS.index(name)
