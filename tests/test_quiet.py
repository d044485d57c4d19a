"""Quiet windows as plain values: midnight wraps, weekday ranges, the days the clocks
change, windows in other zones, stretches of touching windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from watcher.core.quiet import (
    QuietError,
    QuietWindow,
    TimeRange,
    next_quiet,
    parse_times,
    parse_weekdays,
    quiet_at,
    quiet_until,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ALL_DAYS = frozenset(range(7))


def window(times: str | None, weekdays: str | None = None, zone=BERLIN) -> QuietWindow:  # type: ignore[no-untyped-def]
    return QuietWindow(
        parse_weekdays(weekdays) if weekdays else ALL_DAYS,
        parse_times(times) if times else (),
        zone,
    )


def at(text: str, zone=BERLIN) -> datetime:  # type: ignore[no-untyped-def]
    """A wall time in `zone` ("2026-11-23 22:00", a Monday)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


WEEKNIGHTS = window("22:00-07:30", "monday:friday")


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        ("2026-11-23 00:00", True),  # Monday 00:00-07:30 is Monday's
        ("2026-11-23 07:29", True),
        ("2026-11-23 07:30", False),  # the end is excluded
        ("2026-11-23 21:59", False),
        ("2026-11-23 22:00", True),  # the start is included
        ("2026-11-27 23:59", True),  # Friday 22:00-24:00
        ("2026-11-28 00:30", False),  # Saturday's own morning: not in monday:friday
        ("2026-11-29 23:00", False),  # Sunday night
    ],
)
def test_a_window_is_judged_on_the_moments_own_weekday(moment, quiet):
    assert quiet_at(at(moment), [WEEKNIGHTS]) is quiet


def test_the_quiet_ends_when_the_window_ends():
    assert quiet_until(at("2026-11-23 23:00"), [WEEKNIGHTS]) == at("2026-11-24 07:30")
    assert quiet_until(at("2026-11-23 12:00"), [WEEKNIGHTS]) is None
    assert next_quiet(at("2026-11-23 12:00"), [WEEKNIGHTS]) == at("2026-11-23 22:00")


def test_touching_windows_are_one_stretch_that_ends_with_the_last():
    weekend = window(None, "saturday:sunday")
    friday_night = at("2026-11-27 23:00")  # Friday 22:00-24:00, then the whole weekend
    assert quiet_until(friday_night, [WEEKNIGHTS, weekend]) == at("2026-11-30 07:30")
    overlapping = [window("09:00-12:00"), window("11:00-13:00")]
    assert quiet_until(at("2026-11-23 09:30"), overlapping) == at("2026-11-23 13:00")


def test_a_window_in_another_zone_is_its_own_wall_time():
    new_york_nights = window("22:00-07:00", zone=NEW_YORK)
    # 22:00 in New York is 04:00 in Berlin.
    assert quiet_at(at("2026-11-24 04:00"), [new_york_nights])
    assert not quiet_at(at("2026-11-23 22:00"), [new_york_nights])
    assert quiet_until(at("2026-11-24 04:00"), [new_york_nights]) == at(
        "2026-11-24 07:00", NEW_YORK
    )


def test_berlin_spring_forward_a_skipped_end_ends_at_the_jump():
    # 29 Mar 2026: 02:00 CET becomes 03:00 CEST. "01:00-02:30" ends at the first moment
    # whose wall time is at or after 02:30: 03:00 CEST, 01:00 UTC.
    skipped = window("01:00-02:30")
    assert quiet_until(at("2026-03-29 01:30"), [skipped]) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # A skipped start: "02:30-04:00" begins with the jump too.
    starts = window("02:30-04:00")
    assert next_quiet(at("2026-03-29 00:00"), [starts]) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_berlin_fall_back_the_repeated_hour_is_judged_by_its_wall_time():
    # 25 Oct 2026: 03:00 CEST becomes 02:00 CET; 02:00-03:00 comes twice.
    repeated = window("01:00-02:30")
    first = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)  # 02:15 CEST
    second = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 02:15 CET
    between = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)  # 02:45 CEST
    assert quiet_at(first, [repeated]) and quiet_at(second, [repeated])
    assert not quiet_at(between, [repeated])
    assert quiet_until(first, [repeated]) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert quiet_until(second, [repeated]) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_new_york_nights_across_both_changes_last_their_wall_hours():
    nights = window("22:00-07:00", zone=NEW_YORK)
    # 8 Mar 2026 (spring forward): 22:00 EST to 07:00 EDT is eight hours.
    spring = at("2026-03-07 23:00", NEW_YORK)
    assert quiet_until(spring, [nights]) == at("2026-03-08 07:00", NEW_YORK)
    assert quiet_until(spring, [nights]) - at("2026-03-07 22:00", NEW_YORK) == timedelta(hours=8)
    # 1 Nov 2026 (fall back): ten hours.
    fall = at("2026-10-31 23:00", NEW_YORK)
    assert quiet_until(fall, [nights]) - at("2026-10-31 22:00", NEW_YORK) == timedelta(hours=10)


def test_every_day_all_day_has_no_end_to_tell():
    assert quiet_until(at("2026-11-23 12:00"), [window(None, "monday:sunday")]) is None


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("22:00-07:30", (TimeRange(1320, 1440), TimeRange(0, 450))),
        ("09:00-17:00", (TimeRange(540, 1020),)),
        ("00:00-24:00", (TimeRange(0, 1440),)),
        ("22:00-00:00", (TimeRange(1320, 1440),)),
    ],
)
def test_times(text, ranges):
    assert parse_times(text) == ranges


@pytest.mark.parametrize(
    "text",
    [
        "22:00",
        "7:30-08:00",
        "22:00-25:00",
        "12:60-13:00",
        "09:00-09:00",
        "24:00-01:00",
        "aa:bb-cc:dd",
    ],
)
def test_malformed_times(text):
    with pytest.raises(QuietError):
        parse_times(text)


def test_weekdays():
    assert parse_weekdays("Monday:Friday") == frozenset(range(5))
    assert parse_weekdays("sunday") == frozenset({6})
    for bad in ("friday:monday", "mon", "monday-friday", ""):
        with pytest.raises(QuietError):
            parse_weekdays(bad)
