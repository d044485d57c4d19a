"""`check_grok_usage` as a monitoring system meets it: a real process (or `main` in this one)
against the fake Grok server, its stdout parsed the way the Monitoring Plugins guidelines
define it -- the first line's text up to `|`, the performance data after it, each item
`'label'=value[UOM];[warn];[crit];[min];[max]` -- and its exit code taken as the state.

Fixture times are relative to now (tests/conftest.py): the suite runs a year ahead too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import (
    ENTRY,
    MONTHLY_BODY,
    POOL_END,
    POOL_START,
    Home,
    cli_entry,
    point_at,
    pool_body,
    state_file,
)
from tests.fake_grok import FakeGrok, Grant, Reply
from watcher import __version__
from watcher.core.formatting import format_local_time
from watcher.errors import AuthExpired
from watcher.grok.deadline import Deadline
from watcher.grok.login import Credentials, Login, RefreshNotAllowed, SpentRefreshTokens
from watcher.grok.transport import Transport
from watcher.nagios import main

REPO = Path(__file__).resolve().parent.parent
STATES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
NOT_LOGGED_IN = "Grok not logged in. Run `grok login`."
EXPIRED = "Grok auth expired. Run `grok login` again."
USAGE_LINE = (
    "Usage: check_grok_usage [-w RANGE] [-c RANGE] [-t SECONDS] [--account NAME] [-v] [-h] [-V]"
)
NOBODY = 65534
CREDITS = "/billing?format=credits"


# --- reading the output as the guidelines define it ----------------------------------------------

_LABEL = r"'(?P<quoted>(?:[^']|'')+)'|(?P<bare>[^'=\s][^=\s]*)"
_PERF_ITEM = re.compile(
    rf"(?:{_LABEL})=(?P<value>[-0-9.]+)(?P<uom>[a-zA-Z%]*)"
    r"(?:;(?P<warn>[^;\s]*)(?:;(?P<crit>[^;\s]*)(?:;(?P<min>[^;\s]*)(?:;(?P<max>[^;\s]*))?)?)?)?"
)
_RANGE = re.compile(r"@?(?:(?:~|-?[0-9.]+)?:)?(?:-?[0-9.]+)?")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_UOMS = {"", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"}


@dataclass
class Perf:
    label: str
    value: float
    uom: str
    warn: str
    crit: str
    min: str
    max: str


def parse_perfdata(text: str) -> dict[str, Perf]:
    """Space-separated items, each valid by the guidelines, or the test fails."""
    items: dict[str, Perf] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _PERF_ITEM.match(text, position)
        assert match, f"not performance data at {text[position:]!r}"
        end = match.end()
        assert end == len(text) or text[end] == " ", f"junk after {match.group(0)!r}"
        label = match.group("quoted") or match.group("bare")
        label = label.replace("''", "'")
        value, uom = match.group("value"), match.group("uom")
        assert _NUMBER.fullmatch(value), f"{label}: value {value!r} is not in C-locale"
        assert uom in _UOMS, f"{label}: unit {uom!r}"
        fields = {k: match.group(k) or "" for k in ("warn", "crit", "min", "max")}
        for key in ("warn", "crit"):
            assert _RANGE.fullmatch(fields[key]), f"{label}: {key} {fields[key]!r} is no range"
        for key in ("min", "max"):
            assert fields[key] == "" or _NUMBER.fullmatch(fields[key]), f"{label}: {key}"
        assert label not in items, f"{label} twice"
        items[label] = Perf(label, float(value), uom, **fields)
        position = end + 1
    return items


@dataclass
class Check:
    code: int
    out: str
    err: str
    elapsed: float

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def first(self) -> str:
        return self.lines[0]

    @property
    def status(self) -> str:
        """The text before `|`, as the monitoring system shows it."""
        return self.first.partition("|")[0].strip()

    @property
    def state(self) -> str:
        match = re.fullmatch(r"GROK USAGE (OK|WARNING|CRITICAL|UNKNOWN) - \S.*", self.status)
        assert match, self.status
        return match.group(1)

    @property
    def text(self) -> str:
        return self.status.split(" - ", 1)[1]

    @property
    def perfdata(self) -> dict[str, Perf]:
        """The first line's performance data and any after a `|` in the long text."""
        more = []
        in_perfdata = False
        for line in self.lines[1:]:
            if in_perfdata:
                more.append(line)
            elif "|" in line:
                in_perfdata = True
                more.append(line.partition("|")[2])
        return parse_perfdata(" ".join([self.first.partition("|")[2], *more]))

    @property
    def long_text(self) -> list[str]:
        kept = []
        for line in self.lines[1:]:
            if "|" in line:
                break
            kept.append(line)
        return kept

    def detail(self, name: str) -> str:
        prefix = f"{name}: "
        (value,) = [line.removeprefix(prefix) for line in self.long_text if line.startswith(prefix)]
        return value

    def assert_valid(self) -> None:
        """What any monitoring system relies on: the state word is the exit code, the
        performance data parses."""
        assert STATES[self.state] == self.code, (self.code, self.out)
        self.perfdata  # noqa: B018 -- parsing is the check


@pytest.fixture
def plugin(capsys: pytest.CaptureFixture[str], home: Home):  # type: ignore[no-untyped-def]
    """`main` in this process."""

    def invoke(*argv: str) -> Check:
        started = time.monotonic()
        code = main(list(argv), environ=dict(os.environ))
        elapsed = time.monotonic() - started
        captured = capsys.readouterr()
        check = Check(code, captured.out, captured.err, elapsed)
        check.assert_valid()
        return check

    return invoke


def _icinga_env() -> dict[str, str]:
    # Icinga 2 sets LC_NUMERIC=C for plugins; the rest is the (test's) user's environment.
    return {**os.environ, "LC_NUMERIC": "C"}


@pytest.fixture
def icinga(home: Home):  # type: ignore[no-untyped-def]
    """The plugin as a monitoring system runs it: a child process with a timeout of its own
    (the system kills a plugin that overruns it), stdout and the exit code read."""

    def invoke(*argv: str, kill_after: float = 30.0) -> Check:
        check = Check(*_raw(*argv, kill_after=kill_after))
        check.assert_valid()
        return check

    return invoke


def serve(grok: FakeGrok, percent: float) -> None:
    grok.routes[CREDITS] = Reply(json=pool_body(POOL_START, POOL_END, percent))


def reset_words() -> str:
    return f"resets {format_local_time(POOL_END, datetime.now(UTC))}"


# --- the four states, as a monitoring system runs the plugin ------------------------------------


@pytest.mark.parametrize(
    ("percent", "argv", "state"),
    [
        (50.0, (), "OK"),
        (83.4, ("-w", "80", "-c", "95"), "WARNING"),
        (97.0, ("-t", "10"), "CRITICAL"),
    ],
    ids=["ok", "warning", "critical"],
)
def test_a_monitoring_system_gets_the_right_state(ready, grok, icinga, percent, argv, state):
    serve(grok, percent)
    check = icinga(*argv)
    assert (check.state, check.code) == (state, STATES[state]), check.out
    assert check.text == f"{int(percent)}% of weekly credits used, {reset_words()}"
    assert check.err == ""  # nothing on stderr without -vvv: some systems merge it in
    assert set(check.perfdata) == {"used", "period_elapsed", "reset_in"}
    assert check.perfdata["used"].value == percent
    assert check.long_text[0] == "plan: SuperGrok Heavy"
    assert check.long_text[1].startswith("pace: ")


def test_a_monitoring_system_gets_unknown_when_usage_cannot_be_read(ready, grok, icinga):
    grok.routes[CREDITS] = Reply(503)
    check = icinga("-t", "10")
    assert check.code == 3
    assert check.lines == [
        "GROK USAGE UNKNOWN - Grok billing request failed (HTTP 503). Try again later."
    ]
    assert check.perfdata == {}


def test_the_warning_output_line_by_line(ready, grok, plugin):
    check = plugin()
    now = datetime.now(UTC)
    assert check.code == 1
    assert check.text == f"83% of weekly credits used, {reset_words()}"
    assert check.first.startswith(
        f"GROK USAGE WARNING - 83% of weekly credits used, {reset_words()} | "
        "'used'=83.4%;80;95;0;100 'period_elapsed'="
    )
    perf = check.perfdata
    assert perf["used"] == Perf("used", 83.4, "%", "80", "95", "0", "100")
    elapsed = (now - POOL_START) / (POOL_END - POOL_START) * 100
    assert perf["period_elapsed"].value == pytest.approx(elapsed, abs=0.15)
    assert (perf["period_elapsed"].uom, perf["period_elapsed"].min) == ("%", "0")
    assert perf["period_elapsed"].max == "100"
    assert perf["reset_in"].value == pytest.approx((POOL_END - now).total_seconds(), abs=60)
    assert perf["reset_in"].value.is_integer()
    assert (perf["reset_in"].uom, perf["reset_in"].min, perf["reset_in"].max) == ("s", "0", "")
    # Labels quoted, C-locale numbers with one decimal for percents, whole seconds.
    assert re.search(r"'period_elapsed'=\d+\.\d%;;;0;100 'reset_in'=\d+s;;;0$", check.first)
    # 83.4 % on day 5 of 7 and no samples: the period's average rate runs out before the reset.
    assert check.long_text[0] == "plan: SuperGrok Heavy"
    assert check.long_text[1].startswith("pace: runs out ")
    assert len(check.lines) == 3


@pytest.mark.parametrize(
    ("percent", "state", "shown"),
    [
        (79.9, "OK", "79%"),
        (80.0, "OK", "80%"),  # the guidelines' ranges include their end: documented
        (80.04, "OK", "80%"),  # judged as the perfdata shows it: 80.0
        (80.1, "WARNING", "80%"),
        (95.0, "WARNING", "95%"),
        (95.04, "WARNING", "95%"),  # 95.0 in the perfdata: inside -c 95
        (95.1, "CRITICAL", "95%"),
        (100.0, "CRITICAL", "100%"),
        (130.0, "CRITICAL", "130%"),
    ],
)
def test_the_ends_of_the_default_ranges_are_fine(ready, grok, plugin, percent, state, shown):
    serve(grok, percent)
    check = plugin()
    assert check.state == state
    assert check.text.startswith(f"{shown} of weekly credits used")
    assert check.perfdata["used"].value == round(percent, 1)


@pytest.mark.parametrize(
    ("argv", "percent", "state", "echoed"),
    [
        (("-w", "10:", "-c", "5:"), 7.0, "WARNING", ("10:", "5:")),  # below 10 / below 5
        (("-w", "10:", "-c", "5:"), 3.0, "CRITICAL", ("10:", "5:")),
        (("-w", "10:", "-c", "5:"), 50.0, "OK", ("10:", "5:")),
        (("-w", "~:60", "-c", "~:90"), 60.0, "OK", ("~:60", "~:90")),
        (("-w", "~:60", "-c", "~:90"), 61.0, "WARNING", ("~:60", "~:90")),
        (("--warning=@40:60",), 40.0, "WARNING", ("@40:60", "95")),  # inside, ends included
        (("--warning=@40:60",), 60.5, "OK", ("@40:60", "95")),
        (("-w", "20:70", "-c", "10:90"), 15.0, "WARNING", ("20:70", "10:90")),
        (("-w", "90", "-c", "99.5"), 99.6, "CRITICAL", ("90", "99.5")),
        (("-c", "~:"), 100.0, "WARNING", ("80", "~:")),  # a critical range that never alerts
    ],
)
def test_the_ranges_given_decide_the_state_and_are_echoed(
    ready, grok, plugin, argv, percent, state, echoed
):
    serve(grok, percent)
    check = plugin(*argv)
    assert check.state == state
    used = check.perfdata["used"]
    assert (used.warn, used.crit) == echoed


def test_the_monthly_meter_is_named_and_judged_the_same(ready, grok, plugin):
    ready.write_config(point_at(grok, extra='billing = "legacy"\n'))
    grok.routes["/billing"] = Reply(json=MONTHLY_BODY)
    check = plugin("-w", "7", "-c", "8")  # 7.13 %: above 7, not above 8
    assert check.state == "WARNING"
    assert check.text.startswith("7% of monthly credits used, resets ")
    assert check.perfdata["used"].value == pytest.approx(4277 * 100 / 60000, abs=0.05)


# --- login problems are CRITICAL, everything else that stops a reading UNKNOWN -------------------


def test_no_login_is_critical(home, grok, plugin):
    home.write_config(point_at(grok))
    check = plugin()
    assert check.lines == [f"GROK USAGE CRITICAL - {NOT_LOGGED_IN}"]
    assert check.code == 2


def test_an_expired_login_is_critical(ready, grok, plugin):
    past = datetime.now(UTC) - timedelta(minutes=1)
    ready.write_auth({ENTRY: cli_entry("access-1", refresh=None, expires_at=past)})
    check = plugin()
    assert check.lines == [f"GROK USAGE CRITICAL - {EXPIRED}"]
    assert grok.requests == []


def test_a_rejected_login_that_cannot_be_renewed_is_critical(ready, grok, plugin):
    ready.write_auth({ENTRY: cli_entry("revoked", refresh=None)})
    assert plugin().lines == [f"GROK USAGE CRITICAL - {EXPIRED}"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(503), "Grok billing request failed (HTTP 503). Try again later."),
        (Reply(500), "Grok billing request failed (HTTP 500). Try again later."),
        (Reply(body=b"<html>maintenance</html>"), "Grok billing response changed."),
    ],
)
def test_usage_that_cannot_be_read_is_unknown_with_the_exact_message(
    ready, grok, plugin, reply, message
):
    grok.routes[CREDITS] = reply
    check = plugin()
    assert check.lines == [f"GROK USAGE UNKNOWN - {message}"]
    assert check.code == 3


def test_a_refused_connection_is_unknown_and_says_so_at_once(home, plugin):
    home.write_auth({ENTRY: cli_entry("access-1")})
    home.write_config('[grok]\napi_base = "http://127.0.0.1:9/v1"\n')
    check = plugin("-t", "5")
    assert check.lines == [
        "GROK USAGE UNKNOWN - Grok billing request failed. Check your connection."
    ]
    assert check.elapsed < 2


def test_a_config_error_is_unknown_in_one_line(ready, grok, plugin):
    ready.write_config(point_at(grok) + "colour = 'red'\n")
    check = plugin()
    assert check.code == 3
    assert len(check.lines) == 1
    assert check.text.startswith(f"{ready.config_path}: [grok] colour: unknown key")
    assert grok.requests == []


def test_the_config_applies_its_grok_settings(ready, grok, plugin):
    # The fixture's config is all that points the plugin at the fake server.
    assert plugin().state == "WARNING"
    assert len(grok.requests_to(f"/v1{CREDITS}")) == 1


# --- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (("-w", "abc"), "bad range 'abc': its end 'abc' is not a number"),
        (("-c", "10:5"), "bad range '10:5': its start is above its end"),
        (("-w", "80%"), "bad range '80%'"),
        (("--critical=",), "bad range '': its end is missing"),
        (("-t", "0"), "-t/--timeout: must be more than 0 seconds, got '0'"),
        (("-t", "soon"), "-t/--timeout: expected seconds like 10 or 30s, got 'soon'"),
        (("-t", "nan"), "-t/--timeout: must be more than 0 seconds"),
        (("--frobnicate",), "unrecognized arguments: --frobnicate"),
        (("-w",), "argument -w/--warning: expected one argument"),
        (("--warn", "80"), "unrecognized arguments"),  # no abbreviations
        (("extra",), "unrecognized arguments: extra"),
        (("--account",), "argument --account: expected one argument"),
        (("--account", "a", "--account=b"), "--account: one per check, got 'a', 'b'"),
    ],
)
def test_a_bad_argument_is_unknown_with_the_usage(ready, grok, icinga, argv, why):
    check = icinga(*argv)
    assert check.code == 3
    assert check.first.startswith(f"GROK USAGE UNKNOWN - bad argument: {why}"), check.first
    assert check.lines[-1] == USAGE_LINE
    assert grok.requests == []


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_exits_unknown_as_the_guidelines_say_and_overrides_the_rest(home, flag):
    check = Check(*_raw(flag, "-w", "abc"))
    assert check.code == 3
    assert USAGE_LINE in check.lines
    assert "exactly 80.0 %" in check.out
    for option in (
        "--warning=RANGE",
        "--critical=RANGE",
        "--timeout=SECONDS",
        "--account=NAME",
        "--verbose",
    ):
        assert option in check.out


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_exits_unknown(home, flag):
    code, out, _, _ = _raw(flag)
    assert (code, out) == (3, f"check_grok_usage {__version__} (grok-usage-watcher)\n")


def _raw(*argv: str, kill_after: float = 30.0) -> tuple[int, str, str, float]:
    """The plugin as a child process: (exit code, stdout, stderr, seconds taken)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "watcher.nagios", *argv],
        env=_icinga_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=kill_after,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def test_the_timeout_takes_durations_too(ready, grok, plugin):
    assert plugin("-t", "30s").state == "WARNING"
    assert plugin("--timeout=2.5").state == "WARNING"


def test_the_console_script_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["check_grok_usage"] == "watcher.nagios:main"


# --- the timeout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", [Reply(delay=10), Reply(trickle=0.1)], ids=["hung", "trickling"])
def test_a_hung_server_is_unknown_within_the_timeout(ready, grok, icinga, reply):
    ready.write_config(point_at(grok, timeout=15))
    grok.routes[CREDITS] = reply
    check = icinga("-t", "1")
    assert check.lines == ["GROK USAGE UNKNOWN - no answer from Grok within the 1 s timeout (-t)"]
    assert check.elapsed < 2, check.elapsed  # the whole process, start-up included


def test_a_shorter_config_timeout_is_named_when_it_is_the_one_that_ran_out(ready, grok, plugin):
    ready.write_config(point_at(grok, timeout=0.5))
    grok.routes[CREDITS] = Reply(delay=10)
    check = plugin("-t", "10")
    assert check.lines == [
        "GROK USAGE UNKNOWN - no answer from Grok within 0.5 s ([grok] timeout_seconds)"
    ]
    assert check.elapsed < 3


def test_sigterm_from_the_monitoring_system_ends_the_check_unknown(ready, grok):
    grok.routes[CREDITS] = Reply(delay=10)
    process = subprocess.Popen(
        [sys.executable, "-m", "watcher.nagios", "-t", "20"],
        env=_icinga_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not grok.requests_to(f"/v1{CREDITS}") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert grok.requests_to(f"/v1{CREDITS}"), "the plugin never asked"
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=5)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 3
    assert out == "GROK USAGE UNKNOWN - stopped by SIGTERM before the check ended\n"


# --- another user's login file: read, never refreshed ---------------------------------------------

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def _give_away(path: Path) -> bytes:
    os.chown(path, NOBODY, NOBODY)
    return path.read_bytes()


def _left_beside(auth_path: Path) -> set[str]:
    return {p.name for p in auth_path.parent.iterdir()} - {"auth.json"}


def not_refreshed(path: Path) -> str:
    return (
        f"GROK USAGE UNKNOWN - the Grok login {path} belongs to another user (uid {NOBODY}) "
        "and needs a refresh; not refreshed from here. Run the check as that user."
    )


@root_only
def test_another_users_login_that_needs_a_refresh_is_unknown_and_untouched(ready, grok, icinga):
    past = datetime.now(UTC) - timedelta(minutes=1)
    ready.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=past)})
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    before = _give_away(ready.auth_path)
    check = icinga()
    assert check.lines == [not_refreshed(ready.auth_path)]
    assert grok.token_posts() == []  # the refresh token is not spent
    assert grok.requests == []
    assert ready.auth_path.read_bytes() == before
    assert ready.auth_path.stat().st_uid == NOBODY
    assert _left_beside(ready.auth_path) == set()  # no lock file, no temporary


@root_only
def test_another_users_login_rejected_by_the_api_is_not_renewed_from_here(ready, grok, plugin):
    ready.write_auth({ENTRY: cli_entry("revoked", refresh="refresh-1")})
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    before = _give_away(ready.auth_path)
    check = plugin()
    assert check.lines == [not_refreshed(ready.auth_path)]
    assert grok.token_posts() == []
    assert ready.auth_path.read_bytes() == before


@root_only
@pytest.mark.parametrize("minutes_left", [300, 2], ids=["unexpired", "about-to-expire"])
def test_another_users_login_with_a_good_token_is_read(ready, grok, plugin, minutes_left):
    expires = datetime.now(UTC) + timedelta(minutes=minutes_left)
    ready.write_auth({ENTRY: cli_entry("access-1", refresh="refresh-1", expires_at=expires)})
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    before = _give_away(ready.auth_path)
    check = plugin()
    assert check.state == "WARNING"
    assert grok.token_posts() == []  # two minutes left: read with it, the owner refreshes it
    assert ready.auth_path.read_bytes() == before
    assert _left_beside(ready.auth_path) == set()


@root_only
def test_a_symlink_is_followed_to_the_file_whose_owner_counts(ready, grok, plugin):
    past = datetime.now(UTC) - timedelta(minutes=1)
    real = ready.root / "dotfiles" / "auth.json"
    real.parent.mkdir()
    real.write_text(json.dumps({ENTRY: cli_entry("old", refresh="refresh-1", expires_at=past)}))
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    before = _give_away(real)
    ready.auth_path.unlink()
    ready.auth_path.symlink_to(real)  # the link is root's, the login nobody's
    check = plugin()
    assert check.lines == [not_refreshed(ready.auth_path)]
    assert real.read_bytes() == before and grok.token_posts() == []


def test_the_users_own_login_is_refreshed_as_everywhere_else(ready, grok, plugin):
    past = datetime.now(UTC) - timedelta(minutes=1)
    ready.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=past)})
    grok.accepted_tokens = {"access-new"}
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    check = plugin()
    assert check.state == "WARNING"
    assert len(grok.token_posts()) == 1
    entry = ready.read_auth()[ENTRY]
    assert (entry["key"], entry["refresh_token"]) == ("access-new", "refresh-2")


# --- what it leaves alone: the watcher's state, its notifications ---------------------------------


def test_it_never_sends_an_alert_nor_changes_the_watchers_state(watching, grok, sink, plugin, run):
    watching.serve(50.0)
    assert run("--check").code == 0  # the watcher, as the user runs it: the 50 % alert
    assert sink.titles() != []
    sink.received.clear()
    path = state_file(watching)
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns

    watching.serve(97.0)
    check = plugin()
    assert check.state == "CRITICAL"
    assert sink.received == []
    assert (path.read_bytes(), path.stat().st_mtime_ns) == (before, mtime)
    assert {p.name for p in path.parent.iterdir()} <= {"state.toml", "state.toml.lock"}

    # The watcher still owes the user the 80 % and 90 % alerts: none was taken from it.
    assert run("--check").code == 0
    assert len(sink.received) >= 1
    assert any("90%" in title for title in sink.titles()), sink.titles()


def test_without_a_state_it_creates_none(ready, grok, plugin):
    assert plugin().state == "WARNING"
    assert not (ready.root / ".local").exists()


def _save_samples(home: Home, **rates: float) -> None:
    """A state whose pool samples say, for each account named, that usage has risen `rate`
    points an hour over the last five hours to the 83.4 % served now."""
    from watcher.core.model import MeterHistory, PeriodState, Sample, State
    from watcher.state_file import save_state

    now = datetime.now(UTC)
    histories = {}
    for account, rate in rates.items():
        samples = tuple(Sample(now - timedelta(hours=h), 83.4 - rate * h) for h in range(5, 0, -1))
        period = PeriodState(POOL_START, POOL_END, "weekly", samples=samples)
        histories[account] = State(pool=MeterHistory(period=period), meter="pool")
    save_state(state_file(home), histories)


def _save_flat_samples(home: Home) -> None:
    """A state whose pool samples say usage has stood at 83.4 % for the last five hours."""
    _save_samples(home, default=0.0)


def test_the_pace_comes_from_the_states_samples(ready, grok, plugin):
    assert plugin().detail("pace").startswith("runs out ")  # the period's average rate
    _save_flat_samples(ready)
    before = state_file(ready).read_bytes()
    assert plugin().detail("pace") == "on track"  # flat for five hours
    assert state_file(ready).read_bytes() == before


def test_a_state_that_cannot_be_read_only_costs_the_samples(ready, grok, plugin):
    state_file(ready).mkdir(parents=True)  # a directory where the state should be
    check = plugin("-v")
    assert check.state == "WARNING"
    assert check.detail("pace").startswith("runs out ")
    assert check.detail("state").endswith("is a directory, not a state file")


# --- the plan, asked at most once a day -----------------------------------------------------------


def test_the_plan_is_cached_for_a_day(ready, grok, plugin, monkeypatch, tmp_path):
    cache_home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    assert plugin().detail("plan") == "SuperGrok Heavy"
    cache = cache_home / "grok-usage-watcher" / "plan.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    login = str(ready.auth_path.resolve())
    assert json.loads(cache.read_text())["logins"][login]["plan"] == "SuperGrok Heavy"
    assert len(grok.requests_to("/v1/settings")) == 1

    assert plugin().detail("plan") == "SuperGrok Heavy"
    assert len(grok.requests_to("/v1/settings")) == 1  # not asked again

    cached = json.loads(cache.read_text())
    day_ago = datetime.now(UTC) - timedelta(days=1, minutes=1)
    cached["logins"][login]["checked_at"] = day_ago.isoformat()
    cache.write_text(json.dumps(cached))
    grok.routes["/settings"] = Reply(500)  # a day old: asked again; failing, the old one stays
    assert plugin().detail("plan") == "SuperGrok Heavy"
    assert len(grok.requests_to("/v1/settings")) == 2


def test_the_cache_defaults_to_dot_cache_and_is_per_login(ready, grok, plugin, monkeypatch):
    assert plugin().detail("plan") == "SuperGrok Heavy"
    assert (ready.root / ".cache" / "grok-usage-watcher" / "plan.json").exists()
    other = ready.root / "other-grok"
    other.mkdir()
    (other / "auth.json").write_text(json.dumps({ENTRY: cli_entry("access-1")}))
    monkeypatch.setenv("GROK_HOME", str(other))
    grok.routes["/settings"] = Reply(json={"subscription_tier_display": "SuperGrok"})
    assert plugin().detail("plan") == "SuperGrok"  # another login: its own plan
    assert len(grok.requests_to("/v1/settings")) == 2


def test_a_cache_that_cannot_be_written_only_means_asking_again(ready, grok, plugin, monkeypatch):
    blocker = ready.root / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert plugin().detail("plan") == "SuperGrok Heavy"
    assert plugin().state == "WARNING"
    assert len(grok.requests_to("/v1/settings")) == 2


def test_the_watchers_own_recent_plan_is_used(ready, grok, plugin):
    from watcher.core.model import State
    from watcher.state_file import save_state

    fresh = State(plan="SuperGrok Heavy", plan_checked_at=datetime.now(UTC) - timedelta(hours=2))
    save_state(state_file(ready), {"default": fresh})
    assert plugin().detail("plan") == "SuperGrok Heavy"
    assert grok.requests_to("/v1/settings") == []


def test_a_cache_of_another_shape_only_means_asking_again(ready, grok, plugin):
    cache = ready.root / ".cache" / "grok-usage-watcher" / "plan.json"
    cache.parent.mkdir(parents=True)
    login = str(ready.auth_path)
    now = datetime.now(UTC).isoformat()
    cache.write_text(json.dumps({"login": login, "plan": "SuperGrok", "checked_at": now}))
    assert plugin().detail("plan") == "SuperGrok Heavy"
    assert len(grok.requests_to("/v1/settings")) == 1
    assert list(json.loads(cache.read_text())["logins"]) == [login]


def test_a_bar_in_a_plan_name_cannot_start_performance_data(ready, grok, plugin):
    grok.routes["/settings"] = Reply(json={"subscription_tier_display": "Super|Grok\nHeavy"})
    check = plugin()
    assert check.detail("plan") == "Super\N{BROKEN BAR}Grok Heavy"
    assert set(check.perfdata) == {"used", "period_elapsed", "reset_in"}


# --- several logins: one per check ---------------------------------------------------------------


def _grok_home(home: Home, name: str) -> Path:
    return home.root / f".grok-{name}"


def _log_in(home: Home, name: str, **entry: object) -> Path:
    """`name`'s own Grok home, its own token (`access-NAME`) and identity unless told."""
    path = _grok_home(home, name) / "auth.json"
    path.parent.mkdir(exist_ok=True)
    fields: dict[str, object] = {"refresh": f"refresh-{name}", "user_id": f"user-{name}"}
    path.write_text(json.dumps({ENTRY: cli_entry(f"access-{name}", **{**fields, **entry})}))
    path.chmod(0o600)
    return path


def _accounts_config(grok: FakeGrok, **extra: str) -> str:
    """[[accounts]] for each name given, in that order, each with its extra keys."""
    tables = "".join(
        f'\n[[accounts]]\nname = "{name}"\ngrok_home = "~/.grok-{name}"\n{keys}'
        for name, keys in extra.items()
    )
    return point_at(grok) + tables


@pytest.fixture
def accounts(ready: Home, grok: FakeGrok) -> Home:
    """Two logins, `work` then `personal`, each in its own Grok home with its own token."""
    for name in ("work", "personal"):
        _log_in(ready, name)
        grok.accepted_tokens.add(f"access-{name}")
    ready.write_config(_accounts_config(grok, work="", personal=""))
    return ready


def tokens_sent(grok: FakeGrok) -> list[str]:
    """The bearer token of each usage request: which login file was read."""
    return [
        r.headers["Authorization"].removeprefix("Bearer ")
        for r in grok.requests_to(f"/v1{CREDITS}")
    ]


def test_several_accounts_and_no_account_is_unknown_naming_them(accounts, grok, icinga):
    check = icinga("-w", "80", "-c", "95")
    assert check.lines == [
        "GROK USAGE UNKNOWN - the config has 2 Grok logins (work, personal): pass "
        "--account NAME to check one, one service check each"
    ]
    assert grok.requests == []


def test_the_account_named_is_the_login_read_and_named_first(accounts, grok, plugin):
    check = plugin("--account", "personal", "-v")
    assert check.state == "WARNING"
    assert check.text == f"personal: 83% of weekly credits used, {reset_words()}"
    assert check.first.startswith(f"GROK USAGE WARNING - {check.text} | 'used'=83.4%;80;95;0;100")
    assert set(check.perfdata) == {"used", "period_elapsed", "reset_in"}  # labels unchanged
    login = _grok_home(accounts, "personal") / "auth.json"
    assert check.detail("login") == f"{login} (this user's: refreshed when needed)"
    assert tokens_sent(grok) == ["access-personal"]

    check = plugin("--account=WORK")  # any case; shown as the config spells it
    assert check.text.startswith("work: 83% of weekly credits used")
    assert tokens_sent(grok) == ["access-personal", "access-work"]


def test_each_account_is_its_own_check_of_its_own_login(accounts, grok, plugin):
    (_grok_home(accounts, "personal") / "auth.json").unlink()
    missing = plugin("--account", "personal")
    assert missing.lines == [
        f"GROK USAGE CRITICAL - personal: {NOT_LOGGED_IN} "
        "For this login: `GROK_HOME=~/.grok-personal grok login`."
    ]
    assert grok.requests == []
    assert plugin("--account", "work").state == "WARNING"
    assert tokens_sent(grok) == ["access-work"]


def test_failures_of_a_named_account_name_it_too(accounts, grok, plugin):
    grok.routes[CREDITS] = Reply(503)
    assert plugin("--account", "work").lines == [
        "GROK USAGE UNKNOWN - work: Grok billing request failed (HTTP 503). Try again later."
    ]


def test_one_named_account_needs_no_account_option(ready, grok, plugin):
    _log_in(ready, "work")
    grok.accepted_tokens.add("access-work")
    ready.write_config(_accounts_config(grok, work=""))
    check = plugin()
    assert check.text.startswith("work: 83% of weekly credits used")
    assert tokens_sent(grok) == ["access-work"]
    assert plugin("--account", "work").text == check.text


@pytest.mark.parametrize(
    ("with_accounts", "name", "why"),
    [
        (True, "home", "--account home: no such account (the config has: work, personal)"),
        (True, "default", "--account default: no such account (the config has: work, personal)"),
        (
            False,
            "work",
            "--account work: no such account (without [[accounts]] the config has one login, "
            "default)",
        ),
    ],
    ids=["named", "default-with-accounts", "without-accounts"],
)
def test_an_unknown_account_is_unknown_naming_those_known(
    accounts, grok, plugin, with_accounts, name, why
):
    if not with_accounts:
        accounts.write_config(point_at(grok))
    check = plugin("--account", name)
    assert check.lines == [f"GROK USAGE UNKNOWN - {why}"]
    assert grok.requests == []


@pytest.mark.parametrize("name", ["default", "DEFAULT"])
def test_without_accounts_the_one_login_is_default(ready, grok, plugin, name):
    check = plugin("--account", name)
    assert check.text == f"83% of weekly credits used, {reset_words()}"  # not named: as ever
    assert tokens_sent(grok) == ["access-1"]


def test_the_ranges_decide_whatever_the_accounts_thresholds(ready, grok, plugin):
    for name in ("work", "personal"):
        _log_in(ready, name)
        grok.accepted_tokens.add(f"access-{name}")
    ready.write_config(
        _accounts_config(grok, work="thresholds = [50]\n", personal="thresholds = [99]\n")
    )
    for name in ("work", "personal"):
        assert plugin("--account", name).state == "WARNING"  # 83.4 %, -w 80
        assert plugin("--account", name, "-w", "90").state == "OK"
        check = plugin("--account", name, "-w", "~:", "-c", "83")
        assert check.state == "CRITICAL"
        assert (check.perfdata["used"].warn, check.perfdata["used"].crit) == ("~:", "83")


def test_the_pace_is_the_chosen_accounts_own(accounts, grok, plugin):
    # work: flat for five hours; personal: 0.2 points an hour, 92 % by the reset.
    _save_samples(accounts, work=0.0, personal=0.2)
    before = state_file(accounts).read_bytes()
    assert plugin("--account", "work").detail("pace") == "on track"
    assert plugin("--account", "personal").detail("pace") == "would reach 92% by the reset"
    assert state_file(accounts).read_bytes() == before

    # The account's thresholds say which is the next one to reach: none below 95 % now.
    accounts.write_config(_accounts_config(grok, work="", personal="thresholds = [95]\n"))
    assert plugin("--account", "personal").detail("pace") == "on track"


def test_a_login_two_accounts_read_keeps_its_history_under_the_first(accounts, grok, plugin):
    # personal's home is a copy of work's: the watcher keeps their history under "work".
    copy = (_grok_home(accounts, "work") / "auth.json").read_bytes()
    (_grok_home(accounts, "personal") / "auth.json").write_bytes(copy)
    _save_samples(accounts, work=0.2)
    assert plugin("--account", "personal").detail("pace") == "would reach 92% by the reset"


def test_a_copied_login_is_never_refreshed_through_the_copy(accounts, grok, plugin):
    past = datetime.now(UTC) - timedelta(minutes=1)
    # personal's home was copied from work's and has expired since; work's still holds the
    # same refresh token: spending it through the copy would log work out.
    copy = _log_in(
        accounts, "personal", refresh="refresh-work", user_id="user-work", expires_at=past
    )
    grok.grants["refresh-work"] = Grant("access-new", refresh_token="refresh-2")
    check = plugin("--account", "personal")
    assert check.lines == [
        f"GROK USAGE CRITICAL - personal: Grok login {copy} is a copy of work's (the same "
        "refresh token); it is not refreshed, since that would log work out. Run `grok login` "
        "for this home. For this login: `GROK_HOME=~/.grok-personal grok login`."
    ]
    assert grok.token_posts() == []
    assert plugin("--account", "work").state == "WARNING"


def test_each_accounts_plan_is_cached_beside_the_others(accounts, grok, plugin):
    for _ in range(2):
        for name in ("work", "personal"):
            assert plugin("--account", name).detail("plan") == "SuperGrok Heavy"
    assert len(grok.requests_to("/v1/settings")) == 2  # once per login, not once per check
    cache = accounts.root / ".cache" / "grok-usage-watcher" / "plan.json"
    assert set(json.loads(cache.read_text())["logins"]) == {
        str(_grok_home(accounts, name).resolve() / "auth.json") for name in ("work", "personal")
    }


# --- verbosity ------------------------------------------------------------------------------------


def test_v_adds_lines_on_stdout_and_vvv_logs_to_stderr(ready, grok, plugin):
    check = plugin("-v")
    assert check.err == ""
    assert check.detail("thresholds") == (
        "warning outside 80, critical outside 95 (with @: inside)"
    )
    assert check.detail("login") == f"{ready.auth_path} (this user's: refreshed when needed)"
    assert check.detail("config") == str(ready.config_path)
    assert re.fullmatch(r"read in \d+ ms \(-t 10 s\)", check.long_text[-1])

    check = plugin("-vvv")
    assert check.state == "WARNING"
    assert f"{CREDITS} -> HTTP 200" in check.err
    assert "access-1" not in check.out + check.err  # never a token


def test_secrets_are_never_printed(ready, grok, plugin):
    ready.write_auth({ENTRY: cli_entry("access-1", refresh="refresh-secret")})
    for argv in ((), ("-v",), ("-vvv",)):
        check = plugin(*argv)
        assert "access-1" not in check.out + check.err
        assert "refresh-secret" not in check.out + check.err


# --- the login's switch underneath: `may_refresh=False` ------------------------------------------


def _login(home: Home, grok: FakeGrok) -> Login:
    deadline = Deadline(5)
    return Login(
        home.auth_path,
        grok.token_url,
        Transport(2, deadline),
        deadline,
        lambda: datetime.now(UTC),
        SpentRefreshTokens(),
        may_refresh=False,
    )


def test_a_login_that_may_not_refresh_adopts_a_token_renewed_elsewhere(home, grok):
    home.write_auth({ENTRY: cli_entry("access-new", refresh="refresh-2")})
    rejected = Credentials(ENTRY, "access-old", None, renewable=True)
    assert _login(home, grok).renew_after_rejection(rejected).access_token == "access-new"
    assert grok.requests == []
    assert _left_beside(home.auth_path) == set()


def test_a_login_that_may_not_refresh_says_so_instead_of_refreshing(home, grok):
    home.write_auth({ENTRY: cli_entry("access-1", refresh="refresh-1")})
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    rejected = Credentials(ENTRY, "access-1", None, renewable=True)
    with pytest.raises(RefreshNotAllowed) as caught:
        _login(home, grok).renew_after_rejection(rejected)
    assert caught.value.message == (
        f"Grok login {home.auth_path} needs a refresh, which is not done from here."
    )
    assert grok.requests == []
    assert _left_beside(home.auth_path) == set()


def test_a_login_that_may_not_refresh_and_has_nothing_to_refresh_with_is_expired(home, grok):
    past = datetime.now(UTC) - timedelta(minutes=1)
    home.write_auth({ENTRY: cli_entry("access-1", refresh=None, expires_at=past)})
    with pytest.raises(AuthExpired):
        _login(home, grok).credentials()


def test_a_refresh_token_the_watcher_spent_is_never_sent_by_the_plugin(ready, grok, plugin, capsys):
    """The watcher's --check refreshed the login (refresh-1 spent); then a backup of
    auth.json holding refresh-1 was put back. The plugin reads the state's fingerprints of
    spent tokens and sends none of them."""
    from watcher.cli import main as watcher

    expired = datetime.now(UTC) - timedelta(minutes=2)
    ready.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=expired)})
    backup = ready.auth_path.read_bytes()
    grok.grants["refresh-1"] = Grant("access-1", refresh_token="refresh-2")
    assert watcher(["--check"], environ=dict(os.environ)) == 0
    capsys.readouterr()
    ready.auth_path.write_bytes(backup)
    grok.grants["refresh-1"] = Grant("access-1", refresh_token="refresh-3")
    check = plugin()
    assert check.state == "CRITICAL"
    assert "Grok auth expired. Run `grok login` again." in check.out
    assert [p.form["refresh_token"] for p in grok.token_posts()] == ["refresh-1"]
