"""The --status lines and JSON, from plain values with an injected clock and zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import monthly_body, pool_body
from watcher.core.formatting import format_amount, format_duration, whole_percent
from watcher.core.usage import Period
from watcher.errors import AuthExpired
from watcher.grok.billing import parse_billing
from watcher.status import error_document, format_status, status_document

# Pure formatting with an injected clock: fixed example times read against a fixed NOW.
NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
POOL_BODY = pool_body(
    datetime(2026, 11, 20, 5, 1, 0, 140114, UTC), datetime(2026, 11, 27, 5, 1, 0, 140114, UTC)
)
MONTHLY_BODY = monthly_body(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def test_the_pool_lines():
    usage = parse_billing(POOL_BODY, "/billing?format=credits")._replace(plan="SuperGrok Heavy")
    assert format_status(usage, NOW, UTC) == (
        "Grok          SuperGrok Heavy\n"
        "Credits used  83%  weekly pool, resets Fri 27 Nov 05:01 UTC (in 1 d 7 h)\n"
        "Pay as you go Disabled"
    )


def test_the_monthly_lines_in_the_local_zone():
    usage = parse_billing(MONTHLY_BODY, "/billing")
    berlin = ZoneInfo("Europe/Berlin")
    assert format_status(usage, NOW, berlin).splitlines() == [
        "Grok          plan unknown",
        "Credits used  7%  4,277 of 60,000 monthly credits, resets Tue 1 Dec 01:00 CET "
        "(in 5 d 2 h)",
        "Pay as you go Disabled",
    ]


@pytest.mark.parametrize(
    ("percent", "shown"), [(99.6, "99%"), (79.9999, "79%"), (80.0, "80%"), (104.2, "104%")]
)
def test_the_percent_is_rounded_down(percent, shown):
    usage = parse_billing(POOL_BODY, "x")._replace(percent_used=percent)
    assert f"Credits used  {shown}  " in format_status(usage, NOW, UTC)
    assert whole_percent(percent) == int(shown[:-1])


def test_unknown_reset_and_unknown_period_kind():
    usage = parse_billing(POOL_BODY, "x")._replace(period=Period(None, None, None))
    assert "usage pool, reset time unknown" in format_status(usage, NOW, UTC)


def test_a_reset_time_already_past_says_when_it_was_due_and_how_long_ago():
    usage = parse_billing(POOL_BODY, "x")._replace(
        period=Period("weekly", None, NOW - timedelta(days=3, minutes=3))
    )
    shown = format_status(usage, NOW, UTC)
    assert "weekly pool, reset was due Sun 22 Nov 21:57 UTC (3 d 0 h ago)" in shown
    assert "reset due" not in shown  # read as if it were still to come


def test_a_reset_in_another_year_names_the_year():
    usage = parse_billing(POOL_BODY, "x")._replace(
        period=Period("monthly", None, datetime(2027, 1, 1, tzinfo=UTC)),
    )
    assert "resets Fri 1 Jan 2027 00:00 UTC" in format_status(usage, NOW, UTC)


@pytest.mark.parametrize(
    ("cap", "used", "balance", "line"),
    [
        (0, None, 0, "Disabled"),
        (2500, None, 0, "$25.00 cap"),
        (2500, 120, 0, "$25.00 cap, $1.20 used"),
        (0, None, 1000, "Disabled, prepaid balance $10.00"),
        (250050, 0, 0, "$2,500.50 cap, $0.00 used"),
    ],
)
def test_pay_as_you_go_on_the_credits_shape_is_money(cap, used, balance, line):
    """The credits shape counts cents (the Grok CLI reads them so): "2,500 cap" had no unit."""
    usage = parse_billing(POOL_BODY, "x")._replace(
        pay_as_you_go_cap=cap,
        pay_as_you_go_used=used,
        prepaid_balance=balance,
    )
    assert format_status(usage, NOW, UTC).splitlines()[2] == f"Pay as you go {line}"


@pytest.mark.parametrize(
    ("cap", "used", "line"),
    [(0, None, "Disabled"), (2500, None, "2,500 cap"), (2500.5, 120, "2,500.5 cap, 120 used")],
)
def test_pay_as_you_go_on_the_monthly_meter_stays_in_its_raw_units(cap, used, line):
    usage = parse_billing(MONTHLY_BODY, "x")._replace(
        pay_as_you_go_cap=cap, pay_as_you_go_used=used
    )
    assert format_status(usage, NOW, UTC).splitlines()[2] == f"Pay as you go {line}"


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=1, hours=7, minutes=59), "1 d 7 h"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(minutes=59, seconds=59), "59 min"),
        (timedelta(seconds=-5), "0 min"),
    ],
)
def test_durations(span, text):
    assert format_duration(span) == text


def test_amounts():
    assert [format_amount(v) for v in (0, 4277, 60000.0, 12.25, 1e6)] == [
        "0",
        "4,277",
        "60,000",
        "12.25",
        "1,000,000",
    ]


def test_the_json_document():
    usage = parse_billing(POOL_BODY, "/billing?format=credits")._replace(plan="SuperGrok")
    assert status_document(usage, NOW) == {
        "schema": 1,
        "read_at": "2026-11-25T22:00:00+00:00",
        "plan": "SuperGrok",
        "percent_used": 83.4,
        "meter": "pool",
        "period": {
            "kind": "weekly",
            "start": "2026-11-20T05:01:00.140114+00:00",
            "end": "2026-11-27T05:01:00.140114+00:00",
        },
        "used": None,
        "limit": None,
        "pay_as_you_go": {"enabled": False, "cap": 0, "used": None, "unit": "cents"},
        "prepaid_balance": 0,
        "source": "/billing?format=credits",
        "period_elapsed": 81.5,  # of the week, at NOW
        "pace": None,
        "login": None,
    }


def test_the_json_document_gives_the_pace_and_the_login():
    from watcher.core.outlook import Outlook
    from watcher.grok.identity import LoginView

    usage = parse_billing(POOL_BODY, "/billing?format=credits")
    at = NOW + timedelta(hours=20)
    document = status_document(
        usage,
        NOW,
        pace=Outlook("runs_out", at=at, percent_at_reset=131.26),
        login=LoginView("me@example.com", NOW + timedelta(hours=3), renewable=True),
    )
    assert document["pace"] == {
        "verdict": "runs_out",
        "runs_out_at": at.isoformat(),
        "percent_at_reset": 131.3,
        "next_threshold": None,
    }
    assert document["login"] == {
        "who": "me@example.com",
        "expires_at": (NOW + timedelta(hours=3)).isoformat(),
        "renews_itself": True,
    }
    assert document["schema"] == 1


def test_the_error_document():
    assert error_document(AuthExpired()) == {
        "schema": 1,
        "error": {"kind": "auth_expired", "message": "Grok auth expired. Run `grok login` again."},
    }
