"""Every alert's words, whole: a table of golden texts, one row per kind (and per variant),
in a zone with a real abbreviation. A change of wording shows here as a changed row."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.core_values import T0, WEEK, usage
from watcher.core import messages
from watcher.core.addressing import Addressee, addressed
from watcher.core.formatting import format_local_time
from watcher.core.model import Alert
from watcher.core.pace import Forecast

BERLIN = ZoneInfo("Europe/Berlin")
NOW = T0 + timedelta(days=2, hours=3)  # Sun 22 Nov 08:00 UTC, 09:00 CET
U = usage(83.4)
MONTHLY = U._replace(
    meter="monthly", used=4277, limit=60000, period=U.period._replace(kind="monthly")
)
HTTP_503 = "Grok billing request failed (HTTP 503). Try again later."
STATE = "/home/me/.local/state/grok-usage-watcher/state.toml"
RESET = "they reset Fri 27 Nov 06:00 CET (in 4 d 21 h)"

GOLDEN: list[tuple[str, Alert, str, str, str]] = [
    (
        "threshold-50",
        messages.threshold_alert(50, usage(52.0), NOW, BERLIN),
        "info",
        "Grok Build: 50% of weekly credits used",
        f"You have used 52% of your Grok Build weekly credits; {RESET}. "
        "Check `grok-usage-watcher --status` any time.",
    ),
    (
        "threshold-80",
        messages.threshold_alert(80, U, NOW, BERLIN),
        "warning",
        "Grok Build: 80% of weekly credits used",
        f"You have used 83% of your Grok Build weekly credits; {RESET}. "
        "Consider saving heavy tasks for after the reset.",
    ),
    (
        "threshold-100-with-a-cap",
        messages.threshold_alert(100, usage(100.2, cap=2500, cap_used=120), NOW, BERLIN),
        "critical",
        "Grok Build: weekly credits used up (100%)",
        "You have used 100% of your Grok Build weekly credits. Further use is billed as "
        "pay-as-you-go, up to your cap of $25.00 ($1.20 used so far), until the credits "
        "reset, Fri 27 Nov 06:00 CET (in 4 d 21 h).",
    ),
    (
        "threshold-100-without-a-cap",
        messages.threshold_alert(100, usage(100.2), NOW, BERLIN),
        "critical",
        "Grok Build: weekly credits used up (100%)",
        "You have used 100% of your Grok Build weekly credits. Grok Build stops until the "
        "credits reset, Fri 27 Nov 06:00 CET (in 4 d 21 h). Pay-as-you-go is disabled.",
    ),
    (
        "threshold-as-of-an-earlier-check",
        messages.threshold_alert(80, U, NOW, BERLIN, as_of=NOW - timedelta(hours=3)),
        "warning",
        "Grok Build: 80% of weekly credits used",
        "As of Sun 22 Nov 06:00 CET (3 h 0 min ago): You have used 83% of your Grok Build "
        f"weekly credits; {RESET}. Consider saving heavy tasks for after the reset.",
    ),
    (
        "reset",
        messages.reset_alert(usage(2.0, start=T0 + WEEK, end=T0 + 2 * WEEK), NOW, BERLIN),
        "info",
        "Grok Build: weekly credits reset",
        "Your Grok Build weekly credits were reset: 2% used now; next, they reset "
        "Fri 4 Dec 06:00 CET (in 11 d 21 h).",
    ),
    (
        "pace",
        messages.pace_alert(
            usage(60.0), Forecast(2.5, NOW + timedelta(hours=16), 180.0), NOW, BERLIN
        ),
        "warning",
        "Grok Build: weekly credits will run out before the reset",
        "At the current pace (2.5 points per hour) your weekly credits run out "
        "Mon 23 Nov 01:00 CET (in 16 h 0 min), before they reset Fri 27 Nov 06:00 CET "
        "(in 4 d 21 h). 60% used now.",
    ),
    (
        "meter-to-monthly",
        messages.meter_alert(MONTHLY, HTTP_503, NOW, BERLIN),
        "info",
        "Grok Build: watching the monthly credits meter",
        f"The usage pool has not been readable for a day; the last try said: {HTTP_503} The "
        "monthly credits meter answers, so alerts now count against the monthly credits: "
        f"83% (4,277 of 60,000) used; {RESET}. The watcher goes back to the pool when it "
        "answers again.",
    ),
    (
        "meter-back-to-the-pool",
        messages.meter_alert(U, None, NOW, BERLIN),
        "info",
        "Grok Build: watching the weekly usage pool again",
        f"The weekly usage pool answers again, so alerts count against it again: 83% used; "
        f"{RESET}.",
    ),
    (
        "state",
        messages.state_alert(STATE, "No space left on device", NOW),
        "warning",
        "Grok Build watcher: its state is not being saved",
        f"The state file {STATE} cannot be written (No space left on device). Alerts still "
        "go out once each while the watcher runs, but a restart would forget what was sent. "
        "Free some space or fix the permissions; the watcher tries again at every check.",
    ),
    (
        "login",
        messages.login_alert("Grok auth expired. Run `grok login` again.", NOW),
        "critical",
        "Grok Build: run grok login",
        "Grok auth expired. Run `grok login` again. Until then usage cannot be watched.",
    ),
    (
        "token-expiry",
        messages.token_expiry_alert(NOW + timedelta(hours=5), NOW, BERLIN),
        "warning",
        "Grok Build: login expires soon",
        "Your Grok CLI login expires Sun 22 Nov 14:00 CET (in 5 h 0 min) and has no refresh "
        "token to renew it. Run `grok login` before then.",
    ),
    (
        "outage",
        messages.outage_alert(
            "Grok billing request failed. Check your connection.",
            NOW - timedelta(hours=2),
            NOW,
            BERLIN,
        ),
        "warning",
        "Grok Build: usage cannot be read",
        "Grok billing request failed. Check your connection. Usage has not been readable "
        "since Sun 22 Nov 07:00 CET (2 h 0 min ago), so thresholds are not being watched.",
    ),
    (
        "outage-just-begun",
        messages.outage_alert(
            "Grok billing request failed. Check your connection.", NOW, NOW, None
        ),
        "warning",
        "Grok Build: usage cannot be read",
        "Grok billing request failed. Check your connection. Usage has not been readable "
        f"since {format_local_time(NOW, NOW)} (just now), so thresholds are not "
        "being watched.",
    ),
    (
        "recovered",
        messages.recovered_alert(U, NOW - timedelta(hours=2), NOW, BERLIN),
        "info",
        "Grok Build: usage readable again",
        "Usage is readable again after failing since Sun 22 Nov 07:00 CET: 83% of your "
        f"weekly credits used; {RESET}.",
    ),
    (
        "login-works-again",
        messages.login_works_alert(U, NOW - timedelta(hours=2), NOW, BERLIN),
        "info",
        "Grok Build: Grok login works again",
        "Grok login works again (it had not since Sun 22 Nov 07:00 CET): 83% of your weekly "
        f"credits used; {RESET}.",
    ),
    (
        "passed-outage",
        messages.passed_outage_alert(
            "Grok billing request failed. Check your connection.",
            NOW - timedelta(hours=1, minutes=30),
            NOW,
            BERLIN,
        ),
        "warning",
        "Grok Build: usage could not be read for 1 h 30 min",
        "Usage could not be read from Sun 22 Nov 07:30 CET until Sun 22 Nov 09:00 CET: Grok "
        "billing request failed. Check your connection.",
    ),
    (
        "passed-login",
        messages.passed_login_alert(
            "Grok auth expired. Run `grok login` again.", NOW - timedelta(hours=2), NOW, BERLIN
        ),
        "critical",
        "Grok Build: the Grok login did not work for 2 h 0 min",
        "The Grok login did not work from Sun 22 Nov 07:00 CET until Sun 22 Nov 09:00 CET: "
        "Grok auth expired. Run `grok login` again.",
    ),
    (
        "account-another-login",
        messages.other_login_alert("a@example.com", NOW),
        "info",
        "Grok Build: now watching another login",
        "Now watching another login, a@example.com: the login file holds another Grok login "
        "than before, so its thresholds and pace start afresh.",
    ),
    # Several logins: every alert names its account; a login alert adds the command that
    # logs that account's Grok home in.
    (
        "threshold-80-named",
        addressed(messages.threshold_alert(80, U, NOW, BERLIN), Addressee("work", ("work",))),
        "warning",
        "Grok Build (work): 80% of weekly credits used",
        f"work: You have used 83% of your Grok Build weekly credits; {RESET}. "
        "Consider saving heavy tasks for after the reset.",
    ),
    (
        "login-named-with-its-command",
        addressed(
            messages.login_alert("Grok auth expired. Run `grok login` again.", NOW),
            Addressee("work", ("work",), fix="GROK_HOME=~/.grok-work grok login"),
        ),
        "critical",
        "Grok Build (work): run grok login",
        "work: Grok auth expired. Run `grok login` again. Until then usage cannot be watched. "
        "For this login: `GROK_HOME=~/.grok-work grok login`.",
    ),
    (
        "token-expiry-one-login-under-two-names",
        addressed(
            messages.token_expiry_alert(NOW + timedelta(hours=5), NOW, BERLIN),
            Addressee("work", ("work", "laptop"), fix="GROK_HOME=~/.grok-work grok login"),
        ),
        "warning",
        "Grok Build (work, laptop): login expires soon",
        "work, laptop: Your Grok CLI login expires Sun 22 Nov 14:00 CET (in 5 h 0 min) and has "
        "no refresh token to renew it. Run `grok login` before then. For this login: "
        "`GROK_HOME=~/.grok-work grok login`.",
    ),
]


@pytest.mark.parametrize(
    ("alert", "severity", "title", "body"),
    [pytest.param(*row[1:], id=row[0]) for row in GOLDEN],
)
def test_the_words_of_each_alert(alert, severity, title, body):
    assert (alert.severity.label, alert.title, alert.body) == (severity, title, body)


def test_every_kind_has_a_row():
    from watcher.core.model import AlertKind

    covered = {row[1].kind for row in GOLDEN}
    assert covered == set(AlertKind) - {AlertKind.TEST}  # the test message: tests/test_test_notify


@pytest.mark.parametrize("row", GOLDEN, ids=[row[0] for row in GOLDEN])
def test_no_title_or_body_carries_the_old_words(row):
    alert = row[1]
    text = f"{alert.title}\n{alert.body}"
    assert "(+1 more)" not in text and "(0 min ago)" not in text and "target(s)" not in text
    assert not alert.body.startswith(alert.title)  # the body does not repeat the title
