"""One meter, one history; what is sent is true when it is sent. The core with plain values,
then --check against the fake server with billing "auto"."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import monthly_body
from tests.core_values import NETWORK, PACE_RULES, RULES, T0, WEEK, reading, usage
from tests.fake_grok import Reply
from watcher.core.evaluate import evaluate, may_read_monthly_instead
from watcher.core.model import Failure, Reading, State, TokenInfo

H = timedelta(hours=1)
HTTP_404 = Failure(
    "http_error", "Grok billing request failed (HTTP 404). Try again later.", False, True
)


def monthly(percent: float) -> Reading:
    u = usage(percent, start=T0 - 10 * 24 * H, end=T0 + 20 * 24 * H, kind="monthly")
    u = u._replace(meter="monthly", used=percent * 600, limit=60000, source="/billing")
    return Reading(u, TokenInfo(None, True), pool_failure=HTTP_404.message)


def test_a_pool_that_answered_is_not_given_up_for_a_failure_until_a_day_has_passed():
    state = evaluate(reading(85), State(), RULES, T0).state
    assert state.pool_answered and not may_read_monthly_instead(state, T0 + H)
    state = evaluate(HTTP_404, state, RULES, T0 + H).state
    assert state.pool_failing_since == T0 + H
    state = evaluate(HTTP_404, state, RULES, T0 + 20 * H).state
    assert state.pool_failing_since == T0 + H  # from the first failure
    assert not may_read_monthly_instead(state, T0 + 24 * H)
    assert may_read_monthly_instead(state, T0 + 25 * H)
    # A good pool answer ends it.
    assert evaluate(reading(85), state, RULES, T0 + 26 * H).state.pool_failing_since is None


def test_a_clock_set_back_counts_as_no_time():
    state = evaluate(reading(85), State(), RULES, T0).state
    state = evaluate(HTTP_404, state, RULES, T0 + 10 * H).state
    state = evaluate(HTTP_404, state, RULES, T0 - 30 * H).state  # set back a day and more
    assert state.pool_failing_since == T0 - 30 * H
    assert not may_read_monthly_instead(state, T0 - 20 * H)


def test_a_login_without_a_pool_may_read_the_monthly_meter():
    assert may_read_monthly_instead(State(), T0)
    state = evaluate(monthly(10)._replace(pool_failure=None), State(), RULES, T0).state
    assert not state.pool_answered and may_read_monthly_instead(state, T0)


def test_a_switch_of_meter_is_one_note_never_a_reset_and_each_meter_fires_once():
    state = evaluate(reading(85), State(), RULES, T0).state  # pool: 50 and 80 fired
    switched = evaluate(monthly(99), state, RULES, T0 + 25 * H)
    titles = [a.title for a in switched.alerts]
    assert titles == [
        "Grok Build: watching the monthly credits meter",
        "Grok Build: 90% of monthly credits used",
    ]
    assert "reset" not in " ".join(titles)
    note = switched.alerts[0]
    assert (
        "the last try said: Grok billing request failed (HTTP 404). Try again later. The"
        in note.body
    )
    state = switched.state
    assert state.monthly.period.fired_thresholds == {50, 80, 90}
    assert state.pool.period.fired_thresholds == {50, 80}  # kept for when it answers again
    back = evaluate(reading(86), state, RULES, T0 + 26 * H)
    assert [a.title for a in back.alerts] == ["Grok Build: watching the weekly usage pool again"]
    again = evaluate(monthly(99.5), back.state, RULES, T0 + 51 * H)
    assert [a.title for a in again.alerts] == ["Grok Build: watching the monthly credits meter"]


def test_a_retried_alert_carries_the_figures_of_the_check_that_sends_it():
    first = evaluate(reading(52), State(), RULES, T0 + 2 * H)
    (pending,) = first.state.pending
    assert "52% of your Grok Build weekly credits" in pending.alert.body
    later = evaluate(reading(78), first.state, RULES, T0 + 4 * H)
    (pending,) = later.state.pending
    assert pending.alert.title == "Grok Build: 50% of weekly credits used"
    assert "You have used 78% of your Grok Build weekly credits" in pending.alert.body
    assert "(in 6 d 20 h)" in pending.alert.body  # reset seen from the sending check
    assert pending.alert.created == T0 + 2 * H  # still the same alert


def test_an_alert_kept_through_a_failed_reading_says_when_its_figures_are_from():
    first = evaluate(reading(52), State(), RULES, T0 + 2 * H)
    later = evaluate(NETWORK, first.state, RULES, T0 + 5 * H)
    (pending,) = later.state.pending
    assert pending.alert.body.startswith(
        "As of Fri 20 Nov 07:00 UTC (3 h 0 min ago): You have used 52%"
    )


def test_an_alert_whose_cause_passed_is_dropped():
    first = evaluate(reading(52), State(), RULES, T0 + 2 * H)
    fell = evaluate(reading(40), first.state, RULES, T0 + 3 * H)  # re-armed under 45
    assert fell.state.pending == ()


def test_a_pace_alert_that_no_longer_runs_out_is_dropped_and_may_come_again():
    state = State()
    now = T0 + 24 * H
    for hour, percent in enumerate((20, 24, 28, 32)):  # 4 points an hour: out in a day
        evaluation = evaluate(reading(percent), state, PACE_RULES, now + hour * H)
        state = evaluation.state
    assert [p.alert.kind for p in state.pending] == ["pace"]
    for hour, percent in enumerate((32, 32, 32, 32, 32, 32, 32), start=4):  # flat now
        state = evaluate(reading(percent), state, PACE_RULES, now + hour * H).state
    assert state.pending == () and state.period.pace_fired_at is None


def test_samples_from_the_future_are_discarded():
    state = evaluate(reading(30), State(), PACE_RULES, T0 + 48 * H).state
    state = evaluate(reading(31), state, PACE_RULES, T0 + 24 * H).state  # clock set back
    assert [s.at for s in state.period.samples] == [T0 + 24 * H]


def test_a_new_period_of_one_meter_keeps_the_other_meters_pending_alerts():
    state = evaluate(reading(85), State(), RULES, T0).state
    state = evaluate(monthly(95), state, RULES, T0 + 25 * H).state
    assert {p.alert.key for p in state.pending} >= {"monthly:threshold:90", "threshold:80"}
    next_week = reading(3, start=T0 + WEEK, end=T0 + 2 * WEEK)
    state = evaluate(next_week, state, RULES, T0 + WEEK + H).state
    keys = {p.alert.key for p in state.pending}
    assert "monthly:threshold:90" in keys and "threshold:80" not in keys


# --- through the fake server ---------------------------------------------------------------------


def test_a_transient_404_after_the_pool_answered_is_a_failed_reading_not_a_switch(
    watching, grok, sink, run
):
    watching.configure(extra="")
    watching.serve(85)
    assert run("--check").code == 0
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]
    grok.routes["/billing?format=credits"] = Reply(404)
    end = watching.end
    grok.routes["/billing"] = Reply(json=monthly_body(end - timedelta(days=30), end))
    result = run("--check")
    assert result.code == 1
    assert result.out.startswith("Grok billing request failed (HTTP 404). Try again later. ")
    assert result.err == ""  # said once, in the summary line
    assert grok.requests_to("/v1/billing") == []
    watching.serve(86)
    assert run("--check").code == 0
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]  # nothing repeated


def test_status_reads_the_state_to_know_the_meter_and_never_writes_it(watching, grok, run):
    watching.serve(85)
    run("--check")
    path = watching.root / ".local" / "state" / "grok-usage-watcher" / "state.toml"
    before = path.read_bytes()
    grok.routes["/billing?format=credits"] = Reply(404)
    end = watching.end
    grok.routes["/billing"] = Reply(json=monthly_body(end - timedelta(days=30), end))
    result = run("--status")
    assert result.code == 1
    assert result.err == "Grok billing request failed (HTTP 404). Try again later.\n"
    assert path.read_bytes() == before
    watching.serve(85)
    assert "weekly pool" in run("--status").out
