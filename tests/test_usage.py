"""The billing body -> Usage, with plain values: both shapes, proto-JSON rules, what is refused."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import MONTH_END, MONTHLY_BODY, POOL_BODY, POOL_END, POOL_START
from watcher.core.usage import Period
from watcher.errors import ResponseChanged
from watcher.grok.billing import parse_billing, parse_billing_body


def pool(**config: object) -> dict[str, object]:
    return {"config": config}


def test_the_pool_shape():
    usage = parse_billing(POOL_BODY, "/billing?format=credits")
    assert usage.meter == "pool"
    assert usage.percent_used == 83.4
    assert usage.period == Period(
        kind="weekly",
        start=POOL_START,
        end=POOL_END,
    )
    assert (usage.used, usage.limit) == (None, None)
    assert usage.pay_as_you_go_cap == 0
    assert usage.source == "/billing?format=credits"


def test_the_seeds_monthly_shape():
    usage = parse_billing(MONTHLY_BODY, "/billing")
    assert usage.meter == "monthly"
    assert usage.percent_used == 4277 * 100 / 60000
    assert (usage.used, usage.limit) == (4277, 60000)
    assert usage.period.kind == "monthly"
    assert usage.period.end == MONTH_END
    assert usage.pay_as_you_go_cap == 0


def test_a_body_with_both_meters_is_the_pool():
    body = {"config": {**MONTHLY_BODY["config"], **POOL_BODY["config"]}}
    assert parse_billing(body, "/billing").meter == "pool"


@pytest.mark.parametrize("marker", [{"isUnifiedBillingUser": True}, {"currentPeriod": {}}])
def test_an_absent_percent_is_zero_not_a_changed_schema(marker):
    usage = parse_billing(pool(**marker), "/billing?format=credits")
    assert usage.percent_used == 0.0
    assert usage.period.end is None  # shows as "reset time unknown", not an error


def test_absent_meters_and_vals_are_zero():
    usage = parse_billing({"config": {"monthlyLimit": {"val": 10}, "used": {}}}, "/billing")
    assert usage.percent_used == 0
    assert usage.pay_as_you_go_cap == 0
    assert usage.pay_as_you_go_used is None  # the body does not say


def test_numbers_may_arrive_as_strings():
    body = {"config": {"monthlyLimit": {"val": "60000"}, "used": {"val": "4277"}}}
    assert parse_billing(body, "/billing").used == 4277
    usage = parse_billing(pool(creditUsagePercent="12.5", onDemandCap={"val": "2500"}), "x")
    assert (usage.percent_used, usage.pay_as_you_go_cap) == (12.5, 2500)


def test_pay_as_you_go_and_prepaid_balance():
    usage = parse_billing(
        pool(
            creditUsagePercent=100,
            onDemandCap={"val": 2500},
            onDemandUsed={"val": 120},
            prepaidBalance={"val": 1000},
        ),
        "x",
    )
    assert (usage.pay_as_you_go_cap, usage.pay_as_you_go_used, usage.prepaid_balance) == (
        2500,
        120,
        1000,
    )


def test_percent_above_100_is_kept():
    assert parse_billing(pool(creditUsagePercent=104.2), "x").percent_used == 104.2


def test_an_exact_threshold_stays_exact():
    # 80% of an odd limit must be exactly 80.0, or "80% reached" would be missed or early.
    body = {"config": {"monthlyLimit": {"val": 60001}, "used": {"val": 0}}}
    for used in range(0, 60002, 997):
        body["config"]["used"] = {"val": used}
        percent = parse_billing(body, "x").percent_used
        assert percent == used * 100 / 60001
    exact = {"config": {"monthlyLimit": {"val": 35}, "used": {"val": 28}}}
    assert parse_billing(exact, "x").percent_used == 80.0


def test_timestamps_with_offsets_nanoseconds_and_z_are_aware():
    usage = parse_billing(
        pool(
            currentPeriod={
                "type": "USAGE_PERIOD_TYPE_WEEKLY",
                "start": "2026-06-30T21:36:52.140114123+02:00",
                "end": "2026-07-07T21:36:52Z",
            }
        ),
        "x",
    )
    assert usage.period.start == datetime(
        2026, 6, 30, 21, 36, 52, 140114, timezone(timedelta(hours=2))
    )
    assert usage.period.end == datetime(2026, 7, 7, 21, 36, 52, tzinfo=UTC)


def test_an_unknown_period_type_still_reads():
    usage = parse_billing(pool(currentPeriod={"type": "USAGE_PERIOD_TYPE_QUARTERLY"}), "x")
    assert usage.period.kind == "quarterly"


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {},
        {"config": None},
        {"config": {}},
        {"config": {"history": []}},
        pool(creditUsagePercent=True),
        pool(creditUsagePercent=None),
        pool(creditUsagePercent="12%"),
        pool(creditUsagePercent=-0.5),
        pool(creditUsagePercent="inf"),
        pool(creditUsagePercent=10**400),
        pool(creditUsagePercent=1, onDemandCap=5),
        pool(creditUsagePercent=1, currentPeriod=[]),
        pool(creditUsagePercent=1, currentPeriod={"type": 3}),
        pool(creditUsagePercent=1, currentPeriod={"end": 1767225600}),
        pool(creditUsagePercent=1, currentPeriod={"end": "soon"}),
        {"config": {"used": {"val": 1}}},
        {"config": {"monthlyLimit": {"val": 0}, "used": {"val": 1}}},
        {"config": {"monthlyLimit": {"val": 10}, "used": {"val": "NaN"}}},
        {"config": {"monthlyLimit": {"val": 10}, "used": {"val": -1}}},
        {"config": {"monthlyLimit": {"val": 10}, "used": {"val": [1]}}},
        {"config": {"monthlyLimit": {"val": 10}, "billingPeriodEnd": "31/12/2026"}},
    ],
)
def test_what_is_not_understood_is_a_changed_response(body):
    with pytest.raises(ResponseChanged):
        parse_billing(body, "x")


def test_bytes_that_are_not_json_are_a_changed_response():
    with pytest.raises(ResponseChanged):
        parse_billing_body(b"\xff<html>", "x")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "config",
                    "creditUsagePercent",
                    "currentPeriod",
                    "used",
                    "monthlyLimit",
                    "val",
                    "onDemandCap",
                    "end",
                    "start",
                    "type",
                    "isUnifiedBillingUser",
                    "billingPeriodEnd",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_body_gives_a_sane_usage_or_changed_and_nothing_else(body):
    try:
        usage = parse_billing(body, "x")
    except ResponseChanged:
        return
    assert math.isfinite(usage.percent_used) and usage.percent_used >= 0
    for moment in (usage.period.start, usage.period.end):
        assert moment is None or moment.tzinfo is not None


@given(st.integers(0, 10**12), st.integers(1, 10**12))
def test_monthly_percent_is_used_over_limit(used, limit):
    body = json.dumps({"config": {"used": {"val": str(used)}, "monthlyLimit": {"val": limit}}})
    usage = parse_billing_body(body.encode(), "x")
    assert usage.percent_used == used * 100 / limit
