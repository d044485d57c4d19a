"""The pace verdict of `--status` and the part of the period passed, with plain values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.core_values import T0, WEEK
from watcher.core.model import Rules, Sample
from watcher.core.outlook import Outlook, outlook, period_elapsed
from watcher.core.pace import add_sample, forecast

H = timedelta(hours=1)
END = T0 + WEEK
THRESHOLDS = Rules().thresholds  # 50, 80, 90, 100


def verdict(percent, now, samples=(), fired=(), start=T0, end=END, thresholds=THRESHOLDS):
    return outlook(start, end, percent, tuple(samples), thresholds, frozenset(fired), now)


def rising(percent, now, per_hour, hours=4):
    """Samples over the last `hours` at `per_hour` points an hour, ending before `now`."""
    return [Sample(now - h * H, percent - h * per_hour) for h in range(hours, 0, -1)]


# --- period_elapsed ---------------------------------------------------------------------------


def test_period_elapsed_is_a_clamped_percent():
    assert period_elapsed(T0, END, T0) == 0.0
    assert period_elapsed(T0, END, T0 + WEEK / 2) == 50.0
    assert period_elapsed(T0, END, T0 + WEEK * 0.68) == pytest.approx(68.0)
    assert period_elapsed(T0, END, T0 - H) == 0.0  # a clock a little behind
    assert period_elapsed(T0, END, END + H) == 100.0  # read just after the reset


@pytest.mark.parametrize(("start", "end"), [(None, END), (T0, None), (None, None), (T0, T0)])
def test_period_elapsed_of_an_unknown_or_empty_period_is_none(start, end):
    assert period_elapsed(start, end, T0 + H) is None


# --- the verdict ----------------------------------------------------------------------------------


def test_runs_out_when_the_projection_passes_100_percent():
    now = T0 + 96 * H  # 72 h left
    result = verdict(60.0, now, rising(60.0, now, per_hour=2.0))
    assert result.kind == "runs_out"
    assert result.at == now + 20 * H  # 40 points at 2 an hour
    assert result.percent_at_reset == pytest.approx(60.0 + 2.0 * 72)
    assert result.threshold is None


def test_the_verdict_is_the_pace_alerts_own_forecast():
    now = T0 + 96 * H
    samples = tuple(rising(60.0, now, per_hour=1.3, hours=5))
    expected = forecast(add_sample(samples, Sample(now, 60.0)), 60.0, now, T0, END)
    assert expected is not None
    result = verdict(60.0, now, samples)
    assert (result.at, result.percent_at_reset) == (
        expected.exhausted_at,
        expected.percent_at_reset,
    )


def test_would_reach_the_next_threshold_not_reached_yet():
    now = T0 + 96 * H  # 72 h left; 0.5 points an hour: 50 -> 86 by the reset
    result = verdict(50.0, now, rising(50.0, now, per_hour=0.5), fired=[50.0])
    assert result == Outlook("would_reach", percent_at_reset=pytest.approx(86.0), threshold=80.0)


def test_a_fired_threshold_not_rearmed_counts_as_reached():
    # 78 %, with 80 % fired earlier and not re-armed (it is within 5 points): projecting to
    # 85 % reaches nothing new, since 90 % is the next threshold not reached.
    now = T0 + 96 * H
    samples = rising(78.0, now, per_hour=7.0 / 72)
    assert verdict(78.0, now, samples, fired=[50.0, 80.0]).kind == "on_track"
    assert verdict(78.0, now, samples, fired=[50.0]) == Outlook(
        "would_reach", percent_at_reset=pytest.approx(85.0), threshold=80.0
    )


def test_on_track_when_no_threshold_is_reached_by_the_reset():
    now = T0 + 96 * H
    result = verdict(55.0, now, rising(55.0, now, per_hour=0.2), fired=[50.0])
    assert result == Outlook("on_track", percent_at_reset=pytest.approx(55.0 + 0.2 * 72))


def test_without_thresholds_only_the_limit_matters():
    now = T0 + 96 * H
    assert verdict(50.0, now, rising(50.0, now, per_hour=0.5), thresholds=()).kind == "on_track"


def test_usage_that_is_not_rising_is_on_track():
    # pace has no forecast for a flat recent rate; usage then stays where it is.
    now = T0 + 96 * H
    flat = [Sample(now - 3 * H, 70.0), Sample(now - H, 70.0)]
    assert verdict(70.0, now, flat, fired=[50.0]) == Outlook("on_track", percent_at_reset=70.0)


@pytest.mark.parametrize(
    ("percent", "now", "start", "end"),
    [
        (4.9, T0 + 24 * H, T0, END),  # too little used to say, this early
        (30.0, T0 + WEEK / 200, T0, END),  # under 1 % of the period passed
        (30.0, T0 + 96 * H, None, END),  # the period is unknown
        (30.0, T0 + 96 * H, T0, None),
        (30.0, END + H, T0, END),  # the period is over: the reset is due
    ],
)
def test_too_early_when_there_is_no_forecast(percent, now, start, end):
    assert verdict(percent, now, start=start, end=end) == Outlook("too_early")


@pytest.mark.parametrize("percent", [100.0, 104.5])
def test_at_the_limit_it_is_used_up(percent):
    now = T0 + 96 * H
    result = verdict(percent, now, rising(percent, now, per_hour=1.0))
    assert result == Outlook("used_up", percent_at_reset=percent)


def test_samples_from_before_the_period_are_left_out():
    # The last sample of the previous period (95 %) would make the rate negative; without
    # it the average since the reset (10 points in 3 hours) runs out long before the reset.
    now = T0 + 3 * H
    result = verdict(10.0, now, [Sample(T0 - H, 95.0)])
    assert result.kind == "runs_out"
    assert result.at == now + 27 * H


def test_samples_from_the_future_are_left_out():
    now = T0 + 96 * H
    samples = [*rising(50.0, now, per_hour=0.5), Sample(now + 2 * H, 5.0)]
    assert verdict(50.0, now, samples).threshold == 80.0


def test_little_used_a_quarter_into_the_period_is_on_track():
    """1 % used with 71 % of the period gone is no reason for "too early to tell"."""
    now = T0 + WEEK * 0.71
    assert outlook(T0, END, 1.0, (), (50.0, 80.0), (), now) == Outlook("on_track")
