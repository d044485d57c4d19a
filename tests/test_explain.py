"""`--explain`: golden texts for a handful of states (plain values), and the command against
the fake server: no network, nothing written, and after `--check` what that check did."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from tests.core_values import EXPIRED, NETWORK, PACE_RULES, RULES, T0, reading
from watcher.core.evaluate import evaluate
from watcher.core.explain import account_view, explain_text, quiet_view
from watcher.core.model import Severity, Snooze, State
from watcher.core.quiet import QuietWindow, parse_times, parse_weekdays

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
NIGHTS = QuietWindow(
    parse_weekdays("monday:friday"), parse_times("22:00-07:30"), BERLIN, "22:00-07:30 monday:friday"
)


def text(state: State, now, rules=RULES, windows=(), named=False) -> str:  # type: ignore[no-untyped-def]
    rules = rules._replace(local_zone=BERLIN)
    view = account_view(
        "work", state, rules, now, lambda target: {"m": "mailto://"}.get(target, "a target")
    )
    quiet = quiet_view(list(windows), Severity.CRITICAL, now)
    return explain_text([view], quiet, now, BERLIN, named)


def checks(observations, rules=RULES, step=H):  # type: ignore[no-untyped-def]
    state, now = State(), T0 + 2 * H
    for observation in observations:
        state = evaluate(observation, state, rules, now).state
        now += step
    return state, now - step


def test_nothing_read_yet():
    assert text(State(), T0) == (
        "Grok Build\n"
        "Usage: not read yet (run grok-usage-watcher --check).\n"
        "Threshold 50%: not reached.\n"
        "Threshold 80%: not reached.\n"
        "Threshold 90%: not reached.\n"
        "Threshold 100%: not reached.\n"
        "Pace: no forecast until usage has been read.\n"
        "Login: not tried yet.\n"
        "Outage: none.\n"
        "Pending: nothing waits to be sent.\n"
        "Snooze: none (grok-usage-watcher --snooze 4h holds alerts for a while).\n"
        "\n"
        "Quiet hours: none configured ([[quiet]])."
    )


def test_two_thresholds_fired_one_pending_in_a_quiet_night():
    state, now = checks([reading(52), reading(83)])
    state = state._replace(
        pending=(state.pending[0]._replace(held_since=now, delivered_to=("m",)),)
    )
    night = T0 + timedelta(days=3, hours=17)  # Monday 23 Nov 23:00 in Berlin
    assert text(state, night, windows=[NIGHTS], named=True) == (
        "Grok Build (work)\n"
        "Usage: 83% of the usage pool, read Fri 20 Nov 09:00 CET (3 d 14 h ago); it resets "
        "Fri 27 Nov 06:00 CET.\n"
        "Threshold 50%: fired Fri 20 Nov 08:00 CET (07:00 UTC); it fires again only after "
        "usage falls below 45% or the credits reset.\n"
        "Threshold 80%: fired Fri 20 Nov 09:00 CET (08:00 UTC); it fires again only after "
        "usage falls below 75% or the credits reset.\n"
        "Threshold 90%: not reached (83% now).\n"
        "Threshold 100%: not reached (83% now).\n"
        "Pace: not forecast ([alerts] forecast = false).\n"
        "Login: works.\n"
        "Outage: none.\n"
        "Pending since Fri 20 Nov 09:00 CET, for the targets that take warning alerts: “Grok "
        "Build: 80% of weekly credits used”; already reached mailto://; held since Fri 20 Nov "
        "09:00 CET.\n"
        "Snooze: none (grok-usage-watcher --snooze 4h holds alerts for a while).\n"
        "\n"
        "Quiet hours (22:00-07:30 monday:friday): now, until Tue 24 Nov 07:30 CET: alerts "
        "below critical wait, then come as one message."
    )


def test_a_pace_that_runs_out_says_its_basis_and_when():
    percents = [10 + 3 * i for i in range(12)]
    state, now = checks([reading(p) for p in percents], rules=PACE_RULES)
    lines = text(state, now, rules=PACE_RULES).splitlines()
    pace = next(line for line in lines if line.startswith("Pace:"))
    assert pace.startswith("Pace: From 12 readings, rising 3 points an hour: the credits run out ")
    assert pace.endswith(
        "before the reset; alerted Fri 20 Nov 08:00 CET, again only once the projection "
        "falls to 90% or less."
    )


def test_too_early_for_a_forecast_says_why():
    state, now = checks([reading(3)], rules=PACE_RULES)
    assert "Pace: no forecast yet: under 5% used." in text(state, now, rules=PACE_RULES)


def test_a_login_incident_an_outage_and_a_snooze():
    state, now = checks([reading(40), EXPIRED])
    lines = text(state, now).splitlines()
    assert (
        "Login: failing since Fri 20 Nov 09:00 CET: Grok auth expired. Run `grok login` again. "
        "Its alert is sent once for this incident; a note follows when it works again."
    ) in lines
    state, now = checks([reading(40), NETWORK, NETWORK])
    assert (
        "Outage: usage cannot be read since Fri 20 Nov 09:00 CET (Grok billing request failed. "
        "Check your connection.); an alert comes if it lasts beyond Fri 20 Nov 10:00 CET."
    ) in text(state, now).splitlines()
    snoozed = state._replace(snooze=Snooze(now + 2 * H))
    assert (
        "Snooze: until Fri 20 Nov 12:00 CET: alerts below critical wait, then come as one message."
    ) in text(snoozed, now).splitlines()


def test_explain_reads_no_network_and_writes_nothing(watching, grok, sink, run):
    watching.serve(83)
    assert run("--check").code == 0
    from tests.conftest import state_file

    before = state_file(watching).read_bytes()
    requests = len(grok.requests)
    result = run("--explain")
    assert result.code == 0, result.err
    assert len(grok.requests) == requests
    assert state_file(watching).read_bytes() == before
    assert "Threshold 80%: fired " in result.out
    assert result.out.rstrip().endswith("Targets: json:// (every alert).")
    document = json.loads(run("--explain", "--json").out)
    assert document["schema"] == 1
    (account,) = document["accounts"]
    assert [t["threshold"] for t in account["thresholds"] if t["fired_at"]] == [50, 80]


def test_check_explain_tells_what_the_check_did(watching, grok, sink, run):
    watching.serve(55)
    result = run("--check", "--explain")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("55% used (weekly pool, ")
    assert lines[1:3] == [
        "This check:",
        "- decided “Grok Build: 50% of weekly credits used” (info)",
    ]
    assert lines[3].startswith("- “Grok Build: 50% of weekly credits used” to json://127.0.0.1:")
    assert lines[3].endswith(": sent")
    document = json.loads(run("--check", "--explain", "--json").out)
    assert document["explain"]["check"]["lines"] == ["nothing new is due", "nothing was sent"]
    assert "Threshold 50%: fired " in result.out


def test_explain_and_status_leave_even_a_dead_writers_temporary_alone(watching, grok, run):
    from tests.conftest import state_file

    watching.serve(10)
    assert run("--check").code == 0
    left = state_file(watching).with_name(".state.toml.999999999.tmp")  # no such process
    left.write_text("half a save")
    assert run("--explain").code == 0
    assert run("--status").code == 0
    assert left.exists()  # only a writer, under the lock, tidies up
    assert run("--check").code == 0
    assert not left.exists()


def test_check_explain_still_says_what_failed(watching, grok, run):
    grok.accepted_tokens.clear()
    grok.grants.clear()
    result = run("--check", "--explain", "--json")
    assert result.code == 1
    assert result.err.strip() == "Grok auth expired. Run `grok login` again."
