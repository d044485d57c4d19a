"""--check through real parts: the fake Grok server, a real webhook sink via Apprise json://,
the real state file. Walks usage as a user's week would go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from tests.conftest import ENTRY, cli_entry, pool, state_file
from tests.fake_grok import Reply


def test_a_week_of_usage_alerts_once_per_threshold_then_says_the_credits_were_reset(
    watching, sink, run
):
    titles = []
    for percent in (10, 52, 81, 81.5, 97, 97):
        watching.serve(percent)
        result = run("--check")
        assert result.code == 0, result.err
        assert result.out.count("\n") == 1  # one line on what it read and what it sent
        titles.append(sink.titles())
        sink.received.clear()
    assert titles == [
        [],
        ["Grok Build: 50% of weekly credits used"],
        ["Grok Build: 80% of weekly credits used"],
        [],
        ["Grok Build: 90% of weekly credits used"],
        [],
    ]
    watching.serve(2, end=watching.end + timedelta(days=7))
    result = run("--check")
    assert sink.titles() == ["Grok Build: weekly credits reset"]
    assert result.out.startswith("2% used (weekly pool, resets")
    assert "sent “Grok Build: weekly credits reset” to 1 target" in result.out


def test_the_summary_line_says_what_was_read_and_sent(watching, sink, run):
    watching.serve(83)
    result = run("--check")
    assert result.out.startswith("83% used (weekly pool, resets ")
    assert result.out.rstrip().endswith(
        "; sent “Grok Build: 80% of weekly credits used” to 1 target"
    )
    result = run("--check")
    assert result.out.rstrip().endswith("; nothing to send")


def test_check_verbose_logs_each_rules_decision_in_one_line(watching, sink, run):
    watching.serve(83)
    err = run("--check", "-v").err
    assert "grok-usage-watcher: threshold 80%: fired now (83% used)\n" in err
    assert "grok-usage-watcher: threshold 90%: not reached (83% used)\n" in err
    assert "grok-usage-watcher: pace: " in err and "grok-usage-watcher: login: " in err
    err = run("--check", "-v").err
    assert "threshold 80%: already fired " in err and "; re-arms below 75%\n" in err
    assert "threshold" not in run("--check").err  # only with -v


def test_a_failed_delivery_exits_1_and_is_sent_again_next_check_only_once(watching, sink, run):
    watching.serve(85)
    sink.status = 500
    result = run("--check")
    assert result.code == 1
    assert (
        "could not send “Grok Build: 80% of weekly credits used”: json://127.0.0.1:" in result.out
    )
    assert result.out.rstrip().endswith("; will retry next check")
    assert "0 of 1" not in result.out and "target(s)" not in result.out  # the old words
    assert "Internal server error" in result.out
    sink.status = 200
    assert run("--check").code == 0
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]
    assert run("--check").code == 0
    assert len(sink.received) == 1


def test_one_target_failing_does_not_resend_to_the_other(watching, sink, run):
    watching.configure([sink.url("/good"), "json://127.0.0.1:9/unreachable"])
    watching.serve(85)
    assert run("--check").code == 1
    assert run("--check").code == 1
    assert sink.titles("/good") == ["Grok Build: 80% of weekly credits used"]


def test_severity_routing_by_tags(watching, sink, run):
    watching.configure(
        [
            sink.url("/all"),
            "info=" + sink.url("/info"),
            "warning,team=" + sink.url("/warn"),
            "critical=" + sink.url("/crit"),
        ]
    )
    for percent in (55, 85, 100):
        watching.serve(percent)
        run("--check")
    assert sink.titles("/all") == sink.titles("/info")
    assert len(sink.titles("/all")) == 3
    assert sink.titles("/warn") == [
        "Grok Build: 80% of weekly credits used",
        "Grok Build: weekly credits used up (100%)",
    ]
    assert sink.titles("/crit") == ["Grok Build: weekly credits used up (100%)"]
    (limit,) = [w for w in sink.received if w.path == "/crit"]
    assert limit.payload["type"] == "failure"  # critical maps to Apprise's failure type
    assert "Grok Build stops until the credits reset" in limit.body


def test_no_target_prints_the_alert(watching, run):
    watching.configure([])
    watching.serve(85)
    result = run("--check")
    assert result.code == 0
    assert "[warning] Grok Build: 80% of weekly credits used\nYou have used 85%" in result.out
    assert result.out.rstrip().endswith("to 1 target")


def test_a_broken_login_alerts_once_and_a_good_reading_ends_it(watching, sink, run):
    watching.serve(10)
    good = watching.read_auth()
    watching.write_auth({ENTRY: cli_entry("revoked", refresh=None)})
    for _ in range(3):
        result = run("--check")
        assert result.code == 1
        assert result.out.startswith("Grok auth expired. Run `grok login` again. ")
        assert "usage not read" not in result.out and ".;" not in result.out  # the old words
    assert sink.titles() == ["Grok Build: run grok login"]
    assert sink.received[0].body.startswith("Grok auth expired. Run `grok login` again.")
    watching.write_auth(good)
    assert run("--check").code == 0  # the incident ends: said once, where its alert went
    assert sink.titles()[1:] == ["Grok Build: Grok login works again"]
    assert sink.received[1].body.startswith("Grok login works again (it had not since ")
    assert run("--check").code == 0
    watching.write_auth({ENTRY: cli_entry("revoked", refresh=None)})
    run("--check")
    assert sink.titles() == [
        "Grok Build: run grok login",
        "Grok Build: Grok login works again",
        "Grok Build: run grok login",
    ]


def test_login_works_again_only_to_the_targets_the_login_alert_reached(watching, grok, sink, run):
    watching.configure(urls=[sink.url("/mail")])
    watching.serve(10)
    good = watching.read_auth()
    watching.write_auth({ENTRY: cli_entry("revoked", refresh=None)})
    assert run("--check").code == 1
    watching.configure(urls=[sink.url("/mail"), sink.url("/phone")])  # added meanwhile
    watching.write_auth(good)
    assert run("--check").code == 0
    assert [(w.path, w.title) for w in sink.received] == [
        ("/mail", "Grok Build: run grok login"),
        ("/mail", "Grok Build: Grok login works again"),
    ]


def test_an_unparsable_url_is_a_failed_target_and_never_shown_whole(watching, sink, run):
    watching.configure([sink.url(), "nosuchscheme://user:hunter2@host/path"])
    watching.serve(85)
    result = run("--check")
    assert result.code == 1
    assert "nosuchscheme://**** (Apprise cannot parse this URL)" in result.out
    assert "hunter2" not in result.out + result.err
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]


def test_secrets_never_reach_the_state_file_or_the_output(watching, sink, run):
    watching.configure([sink.url(user="me:s3cretpassword")])
    watching.serve(85)
    sink.status = 500
    result = run("--check")
    assert "s3cretpassword" not in result.out + result.err
    text = state_file(watching).read_text()
    assert "s3cretpassword" not in text and "json://" not in text and "access-1" not in text
    assert oct(state_file(watching).stat().st_mode & 0o777) == "0o600"


def test_dry_run_sends_and_writes_nothing(watching, sink, run):
    watching.serve(85)
    result = run("--check", "--dry-run")
    assert result.code == 0
    assert "would send to json://127.0.0.1:" in result.out
    assert "would send “Grok Build: 80% of weekly credits used” to 1 target:" in result.out
    assert sink.received == []
    assert not state_file(watching).exists()


def test_check_json(watching, sink, run):
    watching.serve(85)
    document = json.loads(run("--check", "--json").out)
    assert document["schema"] == 1
    assert document["reading"]["percent_used"] == 85
    assert [a["key"] for a in document["alerts"]] == ["threshold:80"]
    assert document["alerts"][0]["severity"] == "warning"
    (delivery,) = document["deliveries"]
    assert delivery["ok"] is True and delivery["target"].startswith("json://127.0.0.1")
    assert document["pending"] == 0


def test_check_json_gives_the_known_plan_the_pace_and_the_login(watching, grok, sink, run):
    watching.serve(40)
    first = json.loads(run("--check", "--json").out)["reading"]
    assert first["plan"] == "SuperGrok Heavy"  # /settings was asked
    second = json.loads(run("--check", "--json").out)["reading"]
    assert len(grok.requests_to("/v1/settings")) == 1  # ... once a day only
    assert second["plan"] == "SuperGrok Heavy"  # known, not null
    assert 0 < second["period_elapsed"] < 100
    assert second["pace"]["verdict"] in ("on_track", "too_early", "would_reach", "runs_out")
    login = second["login"]
    assert login["renews_itself"] is True and login["expires_at"]
    assert login["who"]  # the entry's email, or its name
    assert "access-1" not in json.dumps(second) and "refresh-1" not in json.dumps(second)


def test_check_json_on_a_failed_reading(watching, grok, run):
    grok.routes["/billing?format=credits"] = Reply(503)
    result = run("--check", "--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["reading"]["error"]["message"] == (
        "Grok billing request failed (HTTP 503). Try again later."
    )


def test_a_corrupt_state_is_moved_aside_with_one_warning(watching, sink, run):
    path = state_file(watching)
    path.parent.mkdir(parents=True)
    path.write_text("version = 1\n[period\n")
    watching.serve(85)
    result = run("--check")
    assert result.code == 0
    assert "not valid TOML; moved aside to state.toml.corrupt-" in result.err
    assert len(list(path.parent.glob("state.toml.corrupt-*"))) == 1
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]


def test_the_state_path_flag(watching, sink, run):
    watching.serve(85)
    elsewhere = watching.root / "custom" / "s.toml"
    run("--check", "--state", str(elsewhere))
    assert elsewhere.exists()
    assert not state_file(watching).exists()


def test_the_plan_is_asked_at_most_once_a_day(watching, grok, run):
    watching.serve(10)
    for _ in range(3):
        run("--check")
    assert len(grok.requests_to("/v1/settings")) == 1
    assert len(grok.requests_to("/v1/billing?format=credits")) == 3
    assert 'label = "SuperGrok Heavy"' in state_file(watching).read_text()


def test_an_outage_alerts_once_past_stale_after_and_recovers(watching, grok, sink, run):
    watching.configure(extra='stale_after = "0s"\n')
    grok.routes["/billing?format=credits"] = Reply(503)
    assert run("--check").code == 1
    assert sink.received == []  # a single failed check never alerts
    run("--check")
    run("--check")
    assert sink.titles() == ["Grok Build: usage cannot be read"]
    assert sink.received[0].body.startswith(
        "Grok billing request failed (HTTP 503). Try again later."
    )
    watching.serve(10)
    assert run("--check").code == 0
    assert sink.titles()[-1] == "Grok Build: usage readable again"


def _python(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, env=dict(os.environ), timeout=60
    )


def test_a_check_with_nothing_to_send_does_not_import_apprise(watching, run):
    watching.serve(10)
    probe = (
        "import sys\nfrom watcher.cli import main\ncode = main(['--check'])\n"
        "print('apprise' in sys.modules)\nsys.exit(code)\n"
    )
    for _ in range(2):  # the first check (no state yet) and a routine one
        result = _python("-c", probe)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "False"
    watching.serve(55)
    assert _python("-c", probe).stdout.splitlines()[-1] == "True"  # something to send


def test_concurrent_checks_send_one_message(watching, grok, sink):
    grok.routes["/billing?format=credits"] = Reply(json=pool(85, watching.end), delay=0.3)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "watcher", "--check"],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], results
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]


def test_a_dry_run_never_moves_a_corrupt_state_aside(watching, sink, run):
    path = state_file(watching)
    path.parent.mkdir(parents=True)
    path.write_text("version = 1\n[period\n")
    watching.serve(85)
    result = run("--check", "--dry-run")
    assert result.code == 0
    assert "not valid TOML; deciding as if it were empty" in result.err
    assert path.read_text() == "version = 1\n[period\n"
    assert list(path.parent.glob("state.toml.corrupt-*")) == []
    assert sink.received == []


def test_a_state_directory_that_cannot_be_made_is_one_line_and_exit_1(watching, run, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    result = run("--check", "--state", str(blocker / "state.toml"))
    assert result.code == 1
    assert result.err == f"{blocker}: cannot make the state directory: not a directory\n"
