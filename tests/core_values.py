"""Plain values for testing the pure core: usages, readings, failures, a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watcher.core.model import Failure, Reading, Rules, TokenInfo
from watcher.core.usage import Period, Usage

T0 = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)  # a period starts
WEEK = timedelta(days=7)
RULES = Rules(local_zone=UTC, forecast=False)  # pace has its own tests
PACE_RULES = Rules(local_zone=UTC, forecast=True)


def usage(
    percent: float,
    start: datetime | None = T0,
    end: datetime | None = T0 + WEEK,
    kind: str | None = "weekly",
    cap: float = 0,
    cap_used: float | None = None,
) -> Usage:
    return Usage(
        percent_used=percent,
        meter="pool",
        period=Period(kind, start, end),
        used=None,
        limit=None,
        pay_as_you_go_cap=cap,
        pay_as_you_go_used=cap_used,
        prepaid_balance=0,
        source="/billing?format=credits",
    )


def reading(percent: float, **kwargs: object) -> Reading:
    token = kwargs.pop("token", TokenInfo(None, True))
    return Reading(usage(percent, **kwargs), token)  # type: ignore[arg-type]


def next_period(percent: float, periods: int = 1) -> Reading:
    return reading(percent, start=T0 + periods * WEEK, end=T0 + (periods + 1) * WEEK)


NETWORK = Failure("network", "Grok billing request failed. Check your connection.", False)
HTTP_503 = Failure("http_error", "Grok billing request failed (HTTP 503). Try again later.", False)
EXPIRED = Failure("auth_expired", "Grok auth expired. Run `grok login` again.", True)
INVALID = Failure("auth_invalid", "Grok auth invalid. Run `grok login` again.", True)
NOT_LOGGED_IN = Failure("not_logged_in", "Grok not logged in. Run `grok login`.", True)
