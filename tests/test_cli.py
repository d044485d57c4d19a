"""The command line as a user meets it: output, exit codes, and what --status never does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import POOL_END, POOL_START, point_at, pool_body
from tests.fake_grok import Reply
from watcher import __version__


def _shown(moment, zone):
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def test_status_prints_the_displayed_lines(ready, run):
    result = run("--status")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "Grok          SuperGrok Heavy"
    # The period ends 1 d 21 h after the fixtures' "now", read a moment before this test.
    expected = f"Credits used  83%  weekly pool, resets {_shown(POOL_END, UTC)} (in 1 d 2"
    assert lines[1].startswith(expected), lines[1]
    assert lines[2] == "Pay as you go Disabled"
    assert len(lines) == 3
    assert result.err == ""


def test_status_honours_tz(ready, run, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert f"resets {_shown(POOL_END, ZoneInfo('Asia/Tokyo'))} (in" in run("--status").out
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()


def test_no_mode_runs_the_service_which_refuses_a_broken_config_with_exit_2(home, run):
    home.write_config('[schedule]\ninterval = "1s"\n')
    result = run()
    assert result.code == 2
    assert result.err.count("\n") == 1, result.err
    assert "[schedule] interval: must be at least 10s, got '1s'" in result.err


def test_json_without_status_is_a_usage_error(home, run):
    result = run("--json")
    assert result.code == 2
    assert "--json goes with --status" in result.err


def test_unknown_flags_exit_2(home, capsys):
    from watcher.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["--statsu"])
    assert caught.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_a_config_error_is_one_line_and_exit_2(ready, grok, run):
    ready.write_config(point_at(grok) + "colour = 'red'\n")
    result = run("--status")
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "[grok] colour: unknown key" in result.err
    assert grok.requests == []


def test_a_config_error_with_json_is_a_json_error(ready, grok, run):
    ready.write_config('[grok]\napi_base = "http://grok.example/v1"\n')
    result = run("--status", "--json")
    assert result.code == 2
    document = json.loads(result.out)
    assert document["error"]["kind"] == "config"
    assert "must be https://" in document["error"]["message"]


def test_a_missing_explicit_config_exits_2(home, run):
    result = run("--status", "--config", str(home.root / "absent.toml"))
    assert result.code == 2
    assert "absent.toml: no such config file" in result.err


def test_an_explicit_config_is_used(ready, grok, run):
    other = ready.root / "other.toml"
    other.write_text(point_at(grok, extra='billing = "legacy"\n'))
    from tests.conftest import MONTHLY_BODY
    from tests.fake_grok import Reply

    grok.routes["/billing"] = Reply(json=MONTHLY_BODY)
    result = run("--status", "--config", str(other))
    assert "4,277 of 60,000" in result.out


def _python(home, *code_or_args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *code_or_args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        cwd=cwd,
    )


def test_python_dash_m_watcher_works(home):
    result = _python(home, "-m", "watcher", "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"grok-usage-watcher {__version__}"


def test_the_console_script_is_installed(home):
    script = Path(sys.executable).with_name("grok-usage-watcher")
    if not script.exists():
        pytest.skip("the project is not installed into this interpreter's environment")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--status", "--json", "--config", "--verbose", "--version"):
        assert flag in result.stdout


def test_status_neither_imports_apprise_nor_writes_state(ready):
    probe = (
        "import sys\n"
        "from watcher.cli import main\n"
        "code = main(['--status'])\n"
        "print('apprise loaded' if 'apprise' in sys.modules else 'apprise not loaded')\n"
        "sys.exit(code)\n"
    )
    result = _python(ready, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "apprise not loaded"
    assert result.stdout.startswith("Grok          SuperGrok Heavy")
    assert not (ready.root / ".local" / "state").exists()
    config_dir = ready.root / ".config" / "grok-usage-watcher"
    assert sorted(p.name for p in config_dir.iterdir()) == ["config.toml"]


def test_a_users_mistake_never_ends_in_a_traceback(home):
    home.write_config("[grok]\ntimeout_seconds = 'soon'\n")
    result = _python(home, "-m", "watcher", "--status")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    home.write_auth("{ corrupt")
    home.write_config("")
    result = _python(home, "-m", "watcher", "--status")
    assert result.returncode == 1
    assert result.stderr == "Grok not logged in. Run `grok login`.\n"


@pytest.mark.parametrize("mode", ["--check", "--status"])
def test_every_failure_with_json_is_one_error_document(ready, grok, run, mode):
    ready.write_config(point_at(grok) + "colour = 'red'\n")
    result = run(mode, "--json")
    assert result.code == 2
    document = json.loads(result.out)
    assert document["error"]["kind"] == "config"
    assert "[grok] colour: unknown key" in document["error"]["message"]
    result = run(mode, "--json", "--state", str(ready.auth_path))
    assert json.loads(result.out)["error"]["kind"] in ("config", "state_refused")


def test_nagios_is_the_plugin_with_its_own_options_and_states(ready, grok, run):
    grok.routes["/billing?format=credits"] = Reply(json=pool_body(POOL_START, POOL_END, 83.4))
    result = run("--nagios", "-w", "80", "-c", "95")
    assert result.code == 1  # WARNING
    assert result.out.startswith("GROK USAGE WARNING - 83% of weekly credits used, resets ")
    assert " | 'used'=83.4%;80;95;0;100 " in result.out.splitlines()[0]
    assert run("--nagios", "-w", "nonsense").code == 3  # UNKNOWN: a bad argument
    misplaced = run("--dry-run", "--nagios")
    assert misplaced.code == 2 and "--nagios comes first" in misplaced.err


def test_the_login_named_is_the_one_the_reading_used(ready, grok, run):
    """Alice's login is first but expired beyond renewal; the reading uses Bob's: the JSON
    (and the picture) must name Bob's, with Bob's expiry -- not guess again."""
    from datetime import UTC, datetime, timedelta

    from tests.conftest import cli_entry

    past = datetime.now(UTC) - timedelta(hours=1)
    ready.write_auth(
        {
            "https://auth.x.ai::alice-client": cli_entry(
                "access-alice", refresh="refresh-refused", expires_at=past, email="alice@x.ai"
            ),
            "https://auth.x.ai::bob-client": cli_entry("access-1", refresh=None, email="bob@x.ai"),
        }
    )
    document = json.loads(run("--status", "--json").out)
    assert document["login"]["who"] == "bob@x.ai"
    assert document["login"]["renews_itself"] is False


def test_nagios_judges_the_value_its_perfdata_shows(ready, grok, run):
    """80.04 % is shown as 80.0 in the perfdata: inside `-w 80` (ends included), so OK."""
    grok.routes["/billing?format=credits"] = Reply(json=pool_body(POOL_START, POOL_END, 80.04))
    result = run("--nagios", "-w", "80", "-c", "95")
    assert (result.code, result.out.split(" - ")[0]) == (0, "GROK USAGE OK")
    assert "'used'=80.0%;80;95;0;100" in result.out
