"""The pace verdict `--status` shows beside the period bar: will the credits last? Pure.

The arithmetic is `watcher.core.pace.forecast`, the same forecast the pace alert fires on, so
that the status line and the alert never disagree; this module only puts its answer into the
words a person wants at a glance, and says how much of the period has passed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Literal, NamedTuple

from watcher.core.model import Sample
from watcher.core.pace import MIN_PERCENT, add_sample, forecast

OutlookKind = Literal["runs_out", "would_reach", "on_track", "too_early", "used_up"]


class Outlook(NamedTuple):
    """What the current pace means for this period.

    - "runs_out": the projection passes 100 % before the reset; `at` is when 100 % is reached.
    - "would_reach": it passes `threshold`, the next threshold not reached yet, by the reset.
    - "on_track": neither; usage that is not rising counts as on track.
    - "too_early": no sound forecast (too early in the period, too little used, or the
      period is unknown or over).
    - "used_up": the limit is reached already; there is nothing left to forecast.

    `percent_at_reset` is where usage would stand at the reset (None when there is no forecast).
    """

    kind: OutlookKind
    at: datetime | None = None
    percent_at_reset: float | None = None
    threshold: float | None = None


def outlook(
    period_start: datetime | None,
    period_end: datetime | None,
    percent: float,
    samples: tuple[Sample, ...],
    thresholds: Collection[float],
    fired: Collection[float],
    now: datetime,
) -> Outlook:
    """The verdict for the current reading (`percent` at `now`).

    `samples` and `fired` are the remembered period's (`PeriodState.samples`,
    `PeriodState.fired_thresholds`); pass them only while it is the reading's period. The
    current reading is added as a sample the way a check adds it, so `--status` right after a
    check says what that check's pace rule saw.
    """
    if percent >= 100.0:
        return Outlook("used_up", percent_at_reset=percent)
    # Samples from before the period (a reset not yet remembered) or from the future (a clock
    # set back) would bend the rate; a check never keeps either.
    kept = tuple(
        s for s in samples if s.at <= now and (period_start is None or s.at >= period_start)
    )
    kept = add_sample(kept, Sample(now, percent))
    projected = forecast(kept, percent, now, period_start, period_end)
    if projected is None:
        # `forecast` also says None when usage is not rising. Asked again without samples it
        # falls back to the period's average rate, which is positive from MIN_PERCENT on: an
        # answer then means only the recent rate was flat, so usage stays where it is. This
        # keeps pace's own rules (how early, how little) as the one place they are decided.
        if forecast((), percent, now, period_start, period_end) is None:
            # Too little used to forecast: once a quarter of the period has passed, that
            # little is itself the answer (1 % used at 71 % elapsed is on track).
            elapsed = period_elapsed(period_start, period_end, now)
            if percent < MIN_PERCENT and elapsed is not None and 25.0 <= elapsed < 100.0:
                return Outlook("on_track")
            return Outlook("too_early")
        return Outlook("on_track", percent_at_reset=percent)
    at_reset = projected.percent_at_reset
    if projected.runs_out_before_reset:
        return Outlook("runs_out", at=projected.exhausted_at, percent_at_reset=at_reset)
    # The next threshold not reached yet: above the current percent and not fired (one that
    # fired and was not re-armed counts as reached). Past 100 % is "runs_out" above.
    ahead = [t for t in thresholds if percent < t <= 100.0 and t not in fired]
    if ahead and at_reset >= min(ahead):  # a threshold fires at `>=`
        return Outlook("would_reach", percent_at_reset=at_reset, threshold=min(ahead))
    return Outlook("on_track", percent_at_reset=at_reset)


def period_elapsed(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    """How much of the period has passed, in percent, clamped to 0..100 (a clock a little
    off, or a reading just after the reset, must not draw a bar past its ends). None when
    the period is unknown or has no length."""
    if start is None or end is None or end <= start:
        return None
    fraction = (now - start) / (end - start)
    return min(100.0, max(0.0, fraction * 100.0))
