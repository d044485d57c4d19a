"""At the current pace, when do the credits run out? Pure arithmetic on remembered samples."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from watcher.core.model import Sample

MAX_SAMPLES = 48
# Checks may run every few seconds; keeping one sample per 15 minutes lets 48 samples span
# 12 hours, twice the 6-hour window the rate is taken over.
SAMPLE_SPACING = timedelta(minutes=15)
RECENT_WINDOW = timedelta(hours=6)
MIN_RECENT_SPAN = timedelta(hours=1)
MIN_PERIOD_FRACTION = 0.01
MIN_PERCENT = 5.0
MAX_FORECAST_HOURS = 24 * 365 * 100.0  # past any reset


class Forecast(NamedTuple):
    rate_per_hour: float  # percentage points per hour
    exhausted_at: datetime  # when 100 % is reached at this rate
    percent_at_reset: float  # where usage would stand at the reset

    @property
    def runs_out_before_reset(self) -> bool:
        return self.percent_at_reset > 100.0


def add_sample(samples: tuple[Sample, ...], sample: Sample) -> tuple[Sample, ...]:
    """Append, keeping samples at least SAMPLE_SPACING apart (the newest always replaces a
    too-close predecessor, so the last sample is the latest reading) and at most MAX_SAMPLES."""
    kept = list(samples)
    if len(kept) >= 2 and kept[-1].at - kept[-2].at < SAMPLE_SPACING:
        kept.pop()
    kept.append(sample)
    return tuple(kept[-MAX_SAMPLES:])


def forecast(
    samples: tuple[Sample, ...],
    percent: float,
    now: datetime,
    period_start: datetime | None,
    period_end: datetime | None,
) -> Forecast | None:
    """None when there is nothing sound to say: unknown period, too early, too little used,
    already at the limit, or usage not rising."""
    if period_start is None or period_end is None or period_end <= period_start:
        return None
    if now >= period_end or percent < MIN_PERCENT or percent >= 100.0:
        return None
    if (now - period_start) / (period_end - period_start) < MIN_PERIOD_FRACTION:
        return None
    rate = _recent_rate(samples, now)
    if rate is None:  # a flat recent rate (0.0) is an answer, not a reason to look further
        rate = _average_rate(percent, now, period_start)
    if rate is None or rate <= 0:
        return None
    hours_left = (period_end - now).total_seconds() / 3600
    # A rate of float noise (1e-12 points an hour) would put the end beyond any date.
    hours_to_limit = min((100.0 - percent) / rate, MAX_FORECAST_HOURS)
    return Forecast(
        rate_per_hour=rate,
        exhausted_at=now + timedelta(hours=hours_to_limit),
        percent_at_reset=percent + rate * hours_left,
    )


def _recent_rate(samples: tuple[Sample, ...], now: datetime) -> float | None:
    recent = [s for s in samples if now - RECENT_WINDOW <= s.at <= now]
    if len(recent) < 2:
        return None
    oldest, newest = recent[0], recent[-1]
    span = newest.at - oldest.at
    if span < MIN_RECENT_SPAN:
        return None
    return (newest.percent - oldest.percent) / (span.total_seconds() / 3600)


def _average_rate(percent: float, now: datetime, period_start: datetime) -> float | None:
    hours = (now - period_start).total_seconds() / 3600
    return percent / hours if hours > 0 else None
