"""What a billing answer means: one `Usage` value from either of the API's two shapes.

Pure: bytes and dicts in, a frozen value out; no I/O, no clock. The API is undocumented and
has changed once, so the body is read by what it carries, not by which URL was asked:

- the shared usage pool (`/billing?format=credits`, what the Grok CLI calls today): marked by
  `currentPeriod`, `isUnifiedBillingUser` or `creditUsagePercent`; already a percent; resets
  at `currentPeriod.end`;
- the monthly meter of the user's specification: `used.val` of `monthlyLimit.val`, resetting
  at `billingPeriodEnd`.

The body is protobuf rendered as JSON: a field at its zero value is left out (absent = 0, not
a changed schema), and 64-bit numbers may arrive as strings (`{"val": "4277"}`).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from watcher.core.usage import Number, Period, Usage
from watcher.errors import ResponseChanged
from watcher.numbers import is_number

_POOL_MARKERS = ("currentPeriod", "isUnifiedBillingUser", "creditUsagePercent")


_PERIOD_KINDS = {
    "USAGE_PERIOD_TYPE_DAILY": "daily",
    "USAGE_PERIOD_TYPE_WEEKLY": "weekly",
    "USAGE_PERIOD_TYPE_MONTHLY": "monthly",
}


def parse_billing_body(body: bytes, source: str) -> Usage:
    try:
        document = json.loads(body)
    except ValueError:
        raise ResponseChanged() from None
    return parse_billing(document, source)


def parse_billing(document: object, source: str) -> Usage:
    try:
        return _parse_billing(document, source)
    except OverflowError:  # a number too large for a float is no meter we know
        raise ResponseChanged() from None


def _parse_billing(document: object, source: str) -> Usage:
    if not isinstance(document, dict):
        raise ResponseChanged()
    config = document.get("config")
    if not isinstance(config, dict):
        raise ResponseChanged()
    # What both shapes carry alike; each shape then says which meter and how full.
    common = Usage(
        percent_used=0.0,
        meter="pool",
        period=Period(None, None, None),
        used=None,
        limit=None,
        pay_as_you_go_cap=_meter_value(config, "onDemandCap"),
        pay_as_you_go_used=(
            _meter_value(config, "onDemandUsed") if "onDemandUsed" in config else None
        ),
        prepaid_balance=_meter_value(config, "prepaidBalance"),
        source=source,
    )
    if any(marker in config for marker in _POOL_MARKERS):
        return common._replace(
            percent_used=float(_number(config.get("creditUsagePercent", 0))),
            period=_pool_period(config.get("currentPeriod")),
        )
    if "monthlyLimit" in config or "used" in config:
        used = _meter_value(config, "used")
        limit = _meter_value(config, "monthlyLimit")
        if limit <= 0:
            raise ResponseChanged()
        return common._replace(
            # used * 100 first: an exact quotient (e.g. 80%) then stays exact in floats,
            # so a threshold is never reported crossed (or missed) by a rounding error.
            percent_used=used * 100 / limit,
            meter="monthly",
            period=Period(
                kind="monthly",
                start=_timestamp(config.get("billingPeriodStart")),
                end=_timestamp(config.get("billingPeriodEnd")),
            ),
            used=used,
            limit=limit,
        )
    raise ResponseChanged()


def _pool_period(value: object) -> Period:
    if value is None:
        return Period(kind=None, start=None, end=None)
    if not isinstance(value, dict):
        raise ResponseChanged()
    kind = value.get("type")
    if kind is not None and not isinstance(kind, str):
        raise ResponseChanged()
    return Period(
        kind=_PERIOD_KINDS.get(kind, _readable_kind(kind)) if kind else None,
        start=_timestamp(value.get("start")),
        end=_timestamp(value.get("end")),
    )


def _readable_kind(kind: str) -> str:
    # A period type this version does not know yet still reads well: "..._QUARTERLY" -> quarterly.
    return kind.removeprefix("USAGE_PERIOD_TYPE_").lower().replace("_", " ")


def _meter_value(config: dict[str, object], name: str) -> Number:
    """`{"val": n}` -> n; an absent meter or an absent `val` is 0 (proto-JSON zero rule)."""
    wrapper = config.get(name)
    if wrapper is None:
        return 0
    if not isinstance(wrapper, dict):
        raise ResponseChanged()
    return _number(wrapper.get("val", 0))


def _number(value: object) -> Number:
    if isinstance(value, str):
        value = _numeric_string(value)
    if not is_number(value):
        raise ResponseChanged()
    if not math.isfinite(value) or value < 0:
        raise ResponseChanged()
    return value


def _numeric_string(text: str) -> Number:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)  # float() also takes "nan"/"inf"; _number rejects those
    except ValueError:
        raise ResponseChanged() from None


def _timestamp(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ResponseChanged()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ResponseChanged() from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
