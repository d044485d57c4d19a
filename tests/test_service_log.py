"""What the journal hears about each check, from plain values: a line at info only when
something changed, the STATUS= text always current."""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

from tests.core_values import NETWORK, T0, reading
from watcher.check import AccountCheck, CheckReport
from watcher.core.delivery import Message, Outcome, Route
from watcher.core.model import Severity, State
from watcher.notify.targets import Target
from watcher.service.journal import Logged, describe_check

NOW = T0 + timedelta(days=2)
SINK = Target("sink1", "json://localhost/", (), Route("sink1"))
MESSAGE = Message("Grok Build: 50% of weekly credits used", "…", Severity.INFO, ("threshold:50",))


def report(observation, *, ok: bool | None = None) -> CheckReport:  # type: ignore[no-untyped-def]
    if ok is None:
        return CheckReport((AccountCheck("default", observation, (), State()),))
    return CheckReport(
        (AccountCheck("default", observation, (), State()),),
        targets=(SINK,),
        plan={"sink1": MESSAGE},
        outcomes={"sink1": Outcome(ok, "" if ok else "HTTP 500")},
    )


def describe(outcome, logged=None):  # type: ignore[no-untyped-def]
    return describe_check(outcome, logged or Logged(), NOW, UTC)


def test_the_first_reading_is_logged_at_info_with_the_status_line():
    line = describe(report(reading(42)))
    assert line.level == logging.INFO
    assert line.text.startswith("42% used (weekly pool, resets Fri 27 Nov 05:00 UTC")
    assert line.status == "42% used, resets Fri 27 Nov 05:00 UTC"
    assert line.logged == Logged(42, None)


def test_small_moves_are_debug_until_they_add_up_to_five_points():
    logged = Logged(42, None)
    line = describe(report(reading(45.5)), logged)
    assert line.level == logging.DEBUG
    assert line.status == "45% used, resets Fri 27 Nov 05:00 UTC"  # always current
    assert line.logged == logged  # measured from the last line the journal got
    line = describe(report(reading(47)), line.logged)
    assert line.level == logging.INFO
    assert line.logged.percent == 47


def test_a_sent_alert_is_info_and_a_failed_send_a_warning():
    logged = Logged(50, None)
    sent = describe(report(reading(51), ok=True), logged)
    assert sent.level == logging.INFO
    assert sent.text.endswith("; sent “Grok Build: 50% of weekly credits used” to 1 target")
    failed = describe(report(reading(51), ok=False), logged)
    assert failed.level == logging.WARNING
    assert failed.text.endswith(
        "; could not send “Grok Build: 50% of weekly credits used”: json://localhost/ "
        "(HTTP 500); will retry next check"
    )
    assert "target(s)" not in sent.text + failed.text and "0 of 1" not in failed.text


def test_an_error_is_a_warning_when_it_begins_then_debug_while_it_lasts():
    first = describe(report(NETWORK), Logged(42, None))
    assert (first.level, first.text, first.status) == (
        logging.WARNING,
        NETWORK.message,
        NETWORK.message,
    )
    again = describe(report(NETWORK), first.logged)
    assert again.level == logging.DEBUG
    other = describe("The state file is locked by another check.", again.logged)
    assert other.level == logging.WARNING


def test_the_end_of_an_error_is_logged_even_without_a_move():
    line = describe(report(reading(42)), Logged(42, NETWORK.message))
    assert line.level == logging.INFO
    assert line.text.startswith("usage read again: 42% used")
    assert line.logged == Logged(42, None)


def test_an_outage_alert_sent_during_a_lasting_error_is_logged():
    logged = Logged(42, NETWORK.message)
    line = describe(report(NETWORK, ok=True), logged)
    assert line.level == logging.INFO
    # The message is a sentence; what was sent is the next one (never "later.; sent").
    assert line.text.startswith(f"{NETWORK.message} Sent “")
    assert line.text.endswith(" to 1 target.")


def test_the_status_line_says_that_alerts_wait_and_till_when():
    from watcher.core.holding import Hold

    plain = report(reading(42))
    hold = Hold(Severity.CRITICAL, NOW + timedelta(hours=3))
    held = plain._replace(accounts=(plain.accounts[0]._replace(hold=hold),))
    line = describe(held)
    assert line.status == (
        "42% used, resets Fri 27 Nov 05:00 UTC · quiet until Sun 22 Nov 08:00 UTC"
    )
