"""`--snooze` from the command line: recorded in the state, honoured by checks, ended by its
time (a child whose clock libfaketime moves on), `off` or the reset."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from tests.conftest import ENTRY, cli_entry, state_file
from tests.fake_grok import Reply
from tests.test_check import pool
from tests.test_quiet_process import check, later_by
from watcher.state_file import load_state

CREDITS = "/billing?format=credits"
WHEN = r"\w{3} \d{1,2} \w{3} \d{2}:\d{2} UTC"


def histories(home):  # type: ignore[no-untyped-def]
    return load_state(state_file(home), datetime.now(UTC))[0]


def test_a_snooze_holds_alerts_and_they_come_as_one_message_when_it_ends(watching, grok, sink, run):
    result = run("--snooze", "4h")
    assert result.code == 0, result.err
    first, second = result.out.splitlines()
    assert re.fullmatch(rf"Snoozed until {WHEN}\.", first), first
    assert second == (
        "Alerts below critical wait, and come as one message when the snooze ends; critical "
        "ones still go out at once (--include-critical holds them too)."
    )
    until = histories(watching)["default"].snooze.until
    assert timedelta(hours=3, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=4)
    watching.serve(83)
    held = run("--check")
    assert held.code == 0
    assert re.search(rf"nothing to send; 1 alert held until {WHEN} \(snooze\)$", held.out.strip())
    assert sink.titles() == []
    after = check(watching, **later_by(4.5))  # the snooze is over (the token lasts 5 h)
    assert after.returncode == 0, after.stderr
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]
    assert "\n\nHeld since " in sink.received[0].body
    assert histories(watching)["default"].snooze is None  # ended: forgotten


def test_critical_alerts_pass_a_snooze_unless_it_includes_them(watching, grok, sink, run):
    assert run("--snooze", "2h").code == 0
    watching.serve(100.5)
    assert run("--check").code == 0
    assert sink.titles() == ["Grok Build: weekly credits used up (100%)"]
    including = run("--snooze", "2h", "--include-critical")
    assert including.code == 0 and "Every alert waits" in including.out
    # A new period, used up at once: critical -- and held now.
    grok.routes[CREDITS] = Reply(json=pool(101, datetime.now(UTC) + timedelta(days=9)))
    held = run("--check")
    assert held.code == 0 and "alerts held until" in held.out
    assert len(sink.received) == 1


def test_until_reset_needs_a_known_reset_then_ends_there(watching, grok, run):
    refused = run("--snooze", "until-reset")
    assert refused.code == 2
    assert refused.err.strip() == (
        "--snooze until-reset: no reset time is known yet; run grok-usage-watcher --check "
        "first, or give a duration (--snooze 4h)"
    )
    assert not state_file(watching).exists() or "snooze" not in state_file(watching).read_text()
    watching.serve(10)
    assert run("--check").code == 0
    assert run("--snooze", "until-reset").code == 0
    until = histories(watching)["default"].snooze.until
    assert abs(until - watching.end) < timedelta(seconds=1)  # the period's end, as read


def test_off_ends_a_snooze_and_the_next_check_sends_what_it_held(watching, grok, sink, run):
    assert run("--snooze", "1h").code == 0
    watching.serve(55)
    assert run("--check").code == 0 and sink.titles() == []
    off = run("--snooze", "off")
    assert off.code == 0
    assert off.out.splitlines() == [
        "Snooze off.",
        "Alerts go out again; what the snooze held comes at the next check (after the quiet "
        "hours, when they are on).",
    ]
    assert run("--check").code == 0
    assert sink.titles() == ["Grok Build: 50% of weekly credits used"]
    assert run("--snooze", "off").out.startswith("No snooze was on.")


def test_a_snooze_for_one_account_holds_only_its_alerts(watching, grok, sink, run):
    work = watching.root / ".grok-work"
    work.mkdir()
    entry = cli_entry("access-2", refresh="refresh-2", user_id="user-2")
    (work / "auth.json").write_text(json.dumps({ENTRY: entry}))
    grok.accepted_tokens.add("access-2")
    grok.token_routes["access-2"] = {CREDITS: Reply(json=pool(83))}
    watching.configure(
        extra='[[accounts]]\nname = "personal"\ngrok_home = "~/.grok"\n'
        '[[accounts]]\nname = "work"\ngrok_home = "~/.grok-work"\n'
    )
    watching.serve(55)
    snoozed = run("--snooze", "3h", "--account", "work")
    assert snoozed.code == 0
    assert re.fullmatch(rf"work: snoozed until {WHEN}\.", snoozed.out.splitlines()[0])
    result = run("--check")
    assert result.code == 0
    assert sink.titles() == ["Grok Build (personal): 50% of weekly credits used"]
    assert re.search(rf"work: 1 alert held until {WHEN} \(snooze\)$", result.out.strip())


def test_snooze_mistakes_are_one_line(run, watching):
    for argv, message in [
        (("--snooze", "soon"), "--snooze soon: "),
        (("--snooze", "0m"), "--snooze 0m: from a minute to a year"),
        (("--snooze", "30s"), "--snooze 30s: from a minute to a year"),
        (("--snooze", "99999999999999999999d"), "--snooze 99999999999999999999d: "),
        (("--snooze", ""), "--snooze needs 4h, until-reset or off"),
        (("--check", "--include-critical"), "--include-critical goes with --snooze"),
    ]:
        result = run(*argv)
        assert result.code == 2
        assert message in result.err


def test_status_shows_a_snooze_and_when_it_ends(watching, run):
    watching.serve(10)
    assert run("--snooze", "2h", "--include-critical").code == 0
    plain = run("--status", "--plain")
    assert re.fullmatch(
        rf"Snoozed       until {WHEN}: every alert waits", plain.out.splitlines()[-1]
    ), plain.out
    document = json.loads(run("--status", "--json").out)
    assert document["snooze"]["include_critical"] is True
    assert document["accounts"][0]["snooze"] == document["snooze"]
    assert run("--snooze", "off").code == 0
    assert json.loads(run("--status", "--json").out)["snooze"] is None


def test_a_login_two_names_read_is_snoozed_and_explained_through_its_one_history(
    watching, grok, sink, run
):
    copy = watching.root / ".grok-copy"
    copy.mkdir()
    (copy / "auth.json").write_text(watching.auth_path.read_text())  # the same login
    watching.configure(
        extra='[[accounts]]\nname = "personal"\ngrok_home = "~/.grok"\n'
        '[[accounts]]\nname = "copy"\ngrok_home = "~/.grok-copy"\n'
    )
    watching.serve(10)
    assert run("--check").code == 0
    assert run("--snooze", "until-reset").code == 0  # the shared login's reset is known
    snoozed = run("--snooze", "4h", "--account", "copy")
    assert snoozed.code == 0
    assert snoozed.out.startswith("personal, copy: snoozed until ")
    watching.serve(55)
    assert run("--check").code == 0
    assert sink.titles() == []  # held: the snooze is the login's, whichever name set it
    explained = run("--explain")
    assert "Grok Build (personal, copy)" in explained.out
    assert "not read yet" not in explained.out
