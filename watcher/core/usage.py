"""What a reading of Grok usage is: the percent used of a meter (the weekly pool or the
monthly credits), the period it counts against, and the pay-as-you-go figures. Values only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple

Number = int | float
Meter = Literal["pool", "monthly"]


class Period(NamedTuple):
    """The usage period the percent counts against; `end` is when the credits reset."""

    kind: str | None  # "weekly", "monthly", ... or None when the API does not say
    start: datetime | None
    end: datetime | None


class Usage(NamedTuple):
    percent_used: float  # exact; only displays round it (down)
    meter: Meter
    period: Period
    used: Number | None  # raw billing units, when the meter counts them
    limit: Number | None
    pay_as_you_go_cap: Number  # 0 = pay-as-you-go disabled
    pay_as_you_go_used: Number | None  # None when the body does not say
    prepaid_balance: Number
    source: str  # the request that answered, e.g. "/billing?format=credits"
    plan: str | None = None  # subscription_tier_display, None when unknown

    @property
    def amounts_in_cents(self) -> bool:
        """The credits shape (the pool) counts `onDemandCap`, `onDemandUsed` and
        `prepaidBalance` in US cents, as the Grok CLI's own source reads them; the monthly
        meter's cap is in raw billing units, shown as the user's specification shows it."""
        return self.meter == "pool"
