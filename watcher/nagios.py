"""`check_grok_usage`: the usage as a Monitoring Plugin, for Nagios, Icinga, Naemon and the like.

Follows the Monitoring Plugins Development Guidelines
(https://www.monitoring-plugins.org/doc/guidelines.html): one status line on stdout,
`GROK USAGE <STATE> - <text> | <performance data>`, then a few lines of detail; exit 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN; `-w` and `-c` take the guidelines' ranges
(`watcher.core.ranges`) over the percent used; `-t` bounds the run.

One check reads one login: a service check is one thing. With several [[accounts]],
`--account NAME` says which (none is UNKNOWN, naming them: checking the first silently would
hide the others); with one it may be left out. The text then starts with the account's name;
the performance data keeps its labels, the service being the account's own.

A sibling of `--status` (cli.py's `_run_status`): the same config, the same reading, the
state file read only for the meter policy and the pace samples, never written. It sends no
alert and changes no alert state: the monitoring system owns notifications then. It only
caches the plan under $XDG_CACHE_HOME, so that /settings is asked at most once a day.

It refreshes the Grok login under the same rules as everything else, but never a login file
it does not own: run as the monitoring system's user, a rotated login written back would
become that user's file, and the owner's own Grok CLI could no longer read it. Such a login
is read while its token is good; once it needs a refresh the answer is UNKNOWN, saying so.

The timeout is the reading's own deadline (`watcher.grok.deadline`), which already owns
SIGALRM and lets a login write-back finish: no alarm of ours may cut that in half.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from watcher import __version__, critical
from watcher.core.ranges import Range, RangeError, parse_range
from watcher.critical import StopRequested
from watcher.errors import LoginProblem, NetworkFailure, RefreshNetworkFailure, WatcherError
from watcher.paths import cache_home

if TYPE_CHECKING:  # the reading's modules load once the arguments are good
    from watcher.config import Account, Config
    from watcher.core.model import Rules, State
    from watcher.core.usage import Usage
    from watcher.grok.login import RefreshNotAllowed

PROG = "check_grok_usage"
SERVICE = "GROK USAGE"
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
# The Grok CLI's own prompt warns above 90 % and is critical above 95 %.
DEFAULT_WARNING = "80"
DEFAULT_CRITICAL = "95"
DEFAULT_TIMEOUT = 10.0
# Kept back from -t for what follows the reading: the output, the plan cache, the exit.
AFTER_READING_SECONDS = 0.25
MIN_READING_SECONDS = 0.1
PLAN_MAX_AGE = timedelta(days=1)  # as `watcher.check.PLAN_MAX_AGE`
PLAN_FORGOTTEN = timedelta(days=30)  # a login's cached plan, once no check asks any more
CACHE_DIRECTORY = "grok-usage-watcher"
PLAN_CACHE = "plan.json"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger(__name__)

USAGE = "Usage: {prog} [-w RANGE] [-c RANGE] [-t SECONDS] [--account NAME] [-v] [-h] [-V]"

HELP = """\
{prog} {version} (grok-usage-watcher)

Checks how much of the Grok Build credits are used, as a Monitoring Plugin
(Nagios, Icinga, Naemon): one status line with performance data, then the
plan and the pace. Reads the Grok CLI's login and grok-usage-watcher's
config and state as the watcher does; sends no alert and writes no state.

{usage}

Options:
 -w, --warning=RANGE
    WARNING when the percent used is outside RANGE (default {warning}: above {warning})
 -c, --critical=RANGE
    CRITICAL when the percent used is outside RANGE (default {critical}: above {critical})
 -t, --timeout=SECONDS
    UNKNOWN when Grok has not answered in time (default {timeout:g}; 30s, 1m too);
    each request waits at most half of it, to leave room for a login refresh
 --account=NAME
    the login to check, by its [[accounts]] name (any case): needed when the
    config has several, one service check each; without [[accounts]] the one
    login is `{default_account}`
 -v, --verbose
    more lines of detail; -vvv also logs the requests to stderr
 -h, --help
    this help (exit 3)
 -V, --version
    the version (exit 3)

Ranges, as the Monitoring Plugins guidelines define them: an alert when the
value is outside start:end, the ends counted inside; with a leading @, when
it is inside. `80` is 0:80 (alert above 80), `10:` alerts below 10, `~:10`
above 10, `10:20` outside 10..20, `@10:20` inside 10..20. So exactly 80.0 %
is OK with -w 80, where the watcher's own 80 % threshold alerts.

With [[accounts]], the status text starts with the account's name
(`work: 83% of weekly credits used, ...`); the account's own thresholds
decide the pace line, never the state: -w and -c do.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL (the thresholds, or a Grok login
to renew with `grok login`), 3 UNKNOWN (usage not read, no answer within
-t, a bad argument or config, no --account with several accounts or an
unknown one, or a login file of another user that needs a refresh: it is
refreshed only by a check run as its owner).

Performance data: 'used' (percent, with -w and -c as given),
'period_elapsed' (percent of the credits' period passed), 'reset_in'
(seconds until the credits reset); the last two when Grok says the period.

Environment: GROK_HOME (the login without [[accounts]]: $GROK_HOME/auth.json,
else ~/.grok/auth.json), XDG_CONFIG_HOME and XDG_STATE_HOME (the watcher's
config and state), XDG_CACHE_HOME (the plans, each login's asked at most once
a day, default ~/.cache), TZ (the times shown), HOME."""


class Result(NamedTuple):
    state: int
    text: str
    perfdata: tuple[str, ...] = ()
    details: tuple[str, ...] = ()

    def render(self) -> str:
        """The plugin's output, as the guidelines lay it out: the first line up to `|` is
        the text, the rest of it the performance data; then lines of long text."""
        first = f"{SERVICE} {STATE_NAMES[self.state]} - {_one_line(self.text)}"
        if self.perfdata:
            first += " | " + " ".join(self.perfdata)
        return "\n".join((first, *(_one_line(line) for line in self.details)))


class Options(NamedTuple):
    warning: Range
    critical: Range
    timeout: float
    verbose: int
    account: str | None = None  # --account: None, the only one configured


class BadArgument(Exception):
    """A flag the plugin cannot run with: UNKNOWN, with the usage."""


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    prog: str = PROG,
) -> int:
    """Print the plugin's output on stdout and return its state as the exit code. `prog`
    names it in the usage (`grok-usage-watcher --nagios` calls this too)."""
    started = time.monotonic()
    env = os.environ if environ is None else environ
    usage = USAGE.format(prog=prog)
    _never_fail_on_printing()
    try:
        parsed = _parser(prog, usage).parse_args(argv)
        if parsed.help:  # before anything else is looked at: it overrides every other option
            print(_help(prog, usage))
            return UNKNOWN
        if parsed.version:
            print(f"{prog} {__version__} (grok-usage-watcher)")
            return UNKNOWN
        options = _options(parsed)
    except BadArgument as error:
        print(Result(UNKNOWN, f"bad argument: {error}").render())
        print(usage)
        return UNKNOWN
    from watcher.logs import configure_command_logging

    configure_command_logging(options.verbose >= 3)  # stderr: Nagios reads stdout only
    with _stop_after_critical_work():
        result = _run_guarded(options, env, started)
    print(result.render())
    sys.stdout.flush()
    return result.state


# --- arguments ---------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadArgument(message)


def _parser(prog: str, usage: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, usage=usage, add_help=False, allow_abbrev=False)
    parser.add_argument("-w", "--warning", default=DEFAULT_WARNING, metavar="RANGE")
    parser.add_argument("-c", "--critical", default=DEFAULT_CRITICAL, metavar="RANGE")
    parser.add_argument("-t", "--timeout", default=None, metavar="SECONDS")
    parser.add_argument("--account", action="append", default=[], metavar="NAME")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("-V", "--version", action="store_true")
    return parser


def _options(parsed: argparse.Namespace) -> Options:
    try:
        warning = parse_range(parsed.warning)
        critical_range = parse_range(parsed.critical)
    except RangeError as error:
        raise BadArgument(str(error)) from None
    timeout = DEFAULT_TIMEOUT if parsed.timeout is None else parse_timeout(parsed.timeout)
    accounts: list[str] = parsed.account
    if len(accounts) > 1:  # the last one silently winning would check a login not meant
        raise BadArgument(f"--account: one per check, got {', '.join(map(repr, accounts))}")
    account = accounts[0] if accounts else None
    return Options(warning, critical_range, timeout, parsed.verbose, account)


def parse_timeout(text: str) -> float:
    """Seconds: `10`, `2.5`, or a duration as the config writes them (`30s`, `1m`)."""
    from watcher.durations import parse_duration

    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text).total_seconds()
        except ValueError:
            raise BadArgument(
                f"-t/--timeout: expected seconds like 10 or 30s, got {text!r}"
            ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadArgument(f"-t/--timeout: must be more than 0 seconds, got {text!r}")
    return seconds


def _help(prog: str, usage: str) -> str:
    from watcher.config import DEFAULT_ACCOUNT

    return HELP.format(
        default_account=DEFAULT_ACCOUNT,
        prog=prog,
        version=__version__,
        usage=usage,
        warning=DEFAULT_WARNING,
        critical=DEFAULT_CRITICAL,
        timeout=DEFAULT_TIMEOUT,
    )


# --- one check ---------------------------------------------------------------------------------


def _run_guarded(options: Options, env: Mapping[str, str], started: float) -> Result:
    """Every way the check can end, as a Result: nothing ends in a traceback."""
    try:
        return run_check(options, env, started)
    except StopRequested:
        return Result(UNKNOWN, "stopped by SIGTERM before the check ended")
    except KeyboardInterrupt:
        return Result(UNKNOWN, "stopped by Ctrl-C before the check ended")
    except WatcherError as error:  # the config, above all: one line, as the CLI gives it
        return Result(UNKNOWN, error.message)
    except Exception as exc:  # a bug, not a user's mistake: one line, details with -vvv
        log.debug("unexpected error", exc_info=True)
        return Result(UNKNOWN, f"unexpected error ({type(exc).__name__}); run with -vvv")


def run_check(options: Options, env: Mapping[str, str], started: float) -> Result:
    """Read the chosen account's usage once and judge it against the ranges."""
    from watcher.config import load_config

    config = load_config(None, env)
    account = chosen_account(config, options.account)
    try:
        result = _check_account(options, env, started, config, account)
    except WatcherError as error:  # usage not read: one line, as the CLI gives it
        result = Result(UNKNOWN, error.message)
    if account.named:  # the config names its logins: say which one this is
        result = result._replace(text=f"{account.name}: {result.text}")
    return result


def chosen_account(config: Config, name: str | None) -> Account:
    """The one login this check reads: --account's (any case), else the only one there is.
    Without [[accounts]] that one is `default`, and no other name is accepted."""
    from watcher.config import DEFAULT_ACCOUNT
    from watcher.errors import ConfigError
    from watcher.logins import chosen

    if name is None:
        if len(config.accounts) > 1:
            names = ", ".join(a.name for a in config.accounts)
            raise ConfigError(
                f"the config has {len(config.accounts)} Grok logins ({names}): pass "
                "--account NAME to check one, one service check each"
            )
        return config.accounts[0]
    if not config.named_accounts and name.lower() != DEFAULT_ACCOUNT:
        raise ConfigError(
            f"--account {name}: no such account (without [[accounts]] the config has one "
            f"login, {DEFAULT_ACCOUNT})"
        )
    (account,) = chosen(config, [name])
    return account


def _check_account(
    options: Options, env: Mapping[str, str], started: float, config: Config, account: Account
) -> Result:
    from watcher.check import meter_policy
    from watcher.core.model import State
    from watcher.grok.login import RefreshNotAllowed, SpentRefreshTokens
    from watcher.grok.reading import read
    from watcher.logins import login_command, plan_watches

    now = datetime.now(UTC)
    # As the watcher groups them: a login two names read (a copied Grok home) keeps its
    # history under the first name, and the refresh tokens other accounts' files hold are
    # never sent through this one (that would log the other out). Reads files only.
    watch = next(w for w in plan_watches(config.accounts, now) if account.name in w.names)
    histories, state_note = _read_state(env, now)
    state = histories.get(watch.primary.name) if histories is not None else None
    # The refresh tokens the watcher's checks spent: never sent from here either (a restored
    # backup or a copied home may still hold one). This plugin writes no state: what its
    # own refresh spends is kept in the rotated auth.json alone.
    spent = SpentRefreshTokens(
        {mark: name for name, h in (histories or {}).items() for mark in h.spent_refresh}
    )
    auth_file = account.auth_file
    owner = file_owner(auth_file)
    cache = plan_cache_path(env)
    plan_known, plan = _known_plan(state, cache, auth_file, now)
    budget = options.timeout - (time.monotonic() - started) - AFTER_READING_SECONDS
    # The reading's deadline is twice its per-request timeout (reading_deadline_seconds):
    # half the budget each, so that the whole reading, refresh and retry included, fits in -t.
    settings = config.grok._replace(
        auth_file=auth_file,
        timeout_seconds=min(config.grok.timeout_seconds, max(budget, MIN_READING_SECONDS) / 2),
    )
    reading_started = time.monotonic()
    try:
        reading = read(
            settings,
            with_plan=not plan_known,
            policy=meter_policy(state or State(), now),
            may_refresh=owner == os.geteuid(),
            spent=spent,
            others=watch.others.get(account.name),
            account=account.name,
        )
    except RefreshNotAllowed as refusal:
        return Result(UNKNOWN, _not_refreshed(refusal, owner))
    except LoginProblem as problem:
        fix = login_command(account, env)  # a named account: which home to log in
        return Result(CRITICAL, problem.message + (f" For this login: `{fix}`." if fix else ""))
    except (NetworkFailure, RefreshNetworkFailure) as failure:
        waited = time.monotonic() - reading_started
        if waited < settings.timeout_seconds * 0.9:  # refused, reset: not a matter of time
            return Result(UNKNOWN, failure.message)
        if settings.timeout_seconds < config.grok.timeout_seconds:
            return Result(
                UNKNOWN, f"no answer from Grok within the {options.timeout:g} s timeout (-t)"
            )
        limit = f"{config.grok.timeout_seconds:g} s ([grok] timeout_seconds)"
        return Result(UNKNOWN, f"no answer from Grok within {limit}")
    if reading.plan_fetched:
        plan = reading.usage.plan or plan  # a failed /settings keeps the plan known before
        _save_plan(cache, auth_file, plan, datetime.now(UTC))
    usage = reading.usage._replace(plan=plan)
    return judged(
        usage,
        options,
        account.rules._replace(local_zone=config.alerts.local_zone),
        state,
        datetime.now(UTC),
        detail=_detail(options, config, auth_file, owner, reading_started, state_note, plan_known),
    )


def judged(
    usage: Usage,
    options: Options,
    rules: Rules,
    state: State | None,
    now: datetime,
    detail: tuple[str, ...] = (),
) -> Result:
    """The state, the text, the performance data and the lines below for one reading. The
    ranges decide the state; the account's rules only the pace (its next threshold)."""
    from watcher.core.formatting import format_local_time, reset_words, whole_percent
    from watcher.core.outlook import period_elapsed
    from watcher.picture import pace_words
    from watcher.status import outlook_now

    percent = usage.percent_used
    # Judged as the perfdata shows it (one decimal): a graph or a monitoring system that
    # compares the value with the ranges echoed beside it must come to the same state.
    shown = round(percent, 1)
    if options.critical.alerts(shown):
        verdict = CRITICAL
    elif options.warning.alerts(shown):
        verdict = WARNING
    else:
        verdict = OK
    zone = rules.local_zone
    period = usage.period
    what = f"{period.kind} credits" if period.kind else "credits"
    reset = reset_words(
        period.end, now, zone, "reset time unknown", "reset was due {when}", "resets {when}"
    )
    text = f"{whole_percent(percent)}% of {what} used, {reset}"
    perfdata = [f"'used'={shown:.1f}%;{options.warning.text};{options.critical.text};0;100"]
    elapsed = period_elapsed(period.start, period.end, now)
    if elapsed is not None:
        perfdata.append(f"'period_elapsed'={elapsed:.1f}%;;;0;100")
    if period.end is not None:
        seconds = max(0, int((period.end - now).total_seconds()))
        perfdata.append(f"'reset_in'={seconds}s;;;0")
    pace = outlook_now(usage, state, rules, now)
    lines = (
        f"plan: {usage.plan or 'unknown'}",
        f"pace: {pace_words(pace, lambda moment: format_local_time(moment, now, zone))}",
    )
    return Result(verdict, text, tuple(perfdata), lines + detail)


def _not_refreshed(refusal: RefreshNotAllowed, owner: int | None) -> str:
    if owner is None:
        whose = "could not be checked for its owner"
    else:
        whose = f"belongs to another user (uid {owner})"
    return (
        f"the Grok login {refusal.path} {whose} and needs a refresh; not refreshed from "
        "here. Run the check as that user."
    )


def _detail(
    options: Options,
    config: Config,
    auth_file: Path,
    owner: int | None,
    reading_started: float,
    state_note: str | None,
    plan_known: bool,
) -> tuple[str, ...]:
    """-v: where the values came from."""
    if options.verbose < 1:
        return ()
    read_ms = (time.monotonic() - reading_started) * 1000
    if owner == os.geteuid():
        whose = "this user's: refreshed when needed"
    else:
        whose = (
            f"uid {owner}'s: never refreshed from here" if owner is not None else "owner unknown"
        )
    return (
        f"thresholds: warning outside {options.warning.text}, "
        f"critical outside {options.critical.text} (with @: inside)",
        f"config: {config.source or 'none, the defaults'}",
        f"login: {auth_file} ({whose})",
        f"state: {state_note or 'read for the meter and the pace, never written'}",
        f"plan from: {'the last day (asked at most once a day)' if plan_known else '/settings'}",
        f"read in {read_ms:.0f} ms (-t {options.timeout:g} s)",
    )


# --- what is only read: the state, the owner of the login -----------------------------------------


def _read_state(
    env: Mapping[str, str], now: datetime
) -> tuple[dict[str, State] | None, str | None]:
    """Every account's history in the watcher's state, read only (never moved aside, never
    locked): None with the reason when it cannot be read -- the pace then goes without its
    samples."""
    from watcher.paths import default_state_path
    from watcher.state_file import in_own_place, load_state

    path = default_state_path(env)
    try:
        histories, warning = load_state(
            path, now, move_aside=False, own_place=in_own_place(path, env)
        )
    except WatcherError as error:
        log.debug("%s", error.message)
        return None, error.message
    if warning:
        log.debug("%s", warning)
    return histories, warning


def file_owner(path: Path) -> int | None:
    """The uid owning the login file (a symlink followed, as a write-back replaces what it
    points to); None when it cannot be told -- no refresh then either."""
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


# --- the plan cache ----------------------------------------------------------------------------


def plan_cache_path(environ: Mapping[str, str]) -> Path:
    return cache_home(environ) / CACHE_DIRECTORY / PLAN_CACHE


def _known_plan(
    state: State | None, cache: Path, auth_file: Path, now: datetime
) -> tuple[bool, str | None]:
    """(whether the plan was asked within a day, the plan last known): the watcher's own
    state knows when it asked, else this plugin's cache for the same login file. A plan
    known longer ago is still shown should /settings not answer this time."""
    remembered = state.plan if state is not None else None
    if state is not None and _fresh(state.plan_checked_at, now):
        return True, remembered
    try:
        cached = _cached_plans(cache)[str(_resolved(auth_file))]
        checked_at = datetime.fromisoformat(cached["checked_at"])
        plan = cached["plan"]
    except (KeyError, ValueError, TypeError):
        return False, remembered
    if not (plan is None or isinstance(plan, str)):
        return False, remembered
    return _fresh(checked_at if checked_at.tzinfo else None, now), plan or remembered


def _cached_plans(cache: Path) -> dict[str, Any]:
    """The cache's plans by login file (resolved): one per account checked, so that the
    service checks of several accounts do not make each other ask again. Anything else
    read there (an older cache of one login, a broken file) is no plan known."""
    try:
        document = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    logins = document.get("logins") if isinstance(document, dict) else None
    if not isinstance(logins, dict):
        return {}
    return {k: v for k, v in logins.items() if isinstance(v, dict)}


def _fresh(checked_at: datetime | None, now: datetime) -> bool:
    # A time ahead of now (a clock set back) does not keep the plan known forever.
    return checked_at is not None and timedelta(0) <= now - checked_at < PLAN_MAX_AGE


def _save_plan(cache: Path, auth_file: Path, plan: str | None, now: datetime) -> None:
    """0600, written atomically; a cache that cannot be written only means asking again.
    The other logins' plans are kept, but none asked more than PLAN_FORGOTTEN ago (a login
    no longer checked). Two checks saving at once may drop one plan: it is asked again."""
    from watcher.files import remove_stale_temporaries, replace_atomically

    logins = {
        login: entry
        for login, entry in _cached_plans(cache).items()
        if _asked_within(entry, now, PLAN_FORGOTTEN)
    }
    logins[str(_resolved(auth_file))] = {"plan": plan, "checked_at": now.isoformat()}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        remove_stale_temporaries(cache)
        replace_atomically(cache, json.dumps({"logins": logins}) + "\n")
    except OSError as exc:
        log.debug("%s: the plan was not cached: %s", cache, exc.strerror or exc)


def _asked_within(entry: Mapping[str, Any], now: datetime, age: timedelta) -> bool:
    try:
        checked_at = datetime.fromisoformat(entry["checked_at"])
        return checked_at.tzinfo is not None and now - checked_at < age
    except (KeyError, ValueError, TypeError):
        return False


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


# --- output and signals ------------------------------------------------------------------------


def _never_fail_on_printing() -> None:
    """A path or a plan name the output encoding cannot hold is escaped, not a traceback
    (which would exit 1, WARNING)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def _one_line(text: str) -> str:
    """No line breaks, and no `|`: the first one starts the performance data."""
    return " ".join(text.split()).replace("|", "\N{BROKEN BAR}")


@contextmanager
def _stop_after_critical_work() -> Iterator[None]:
    """SIGTERM (a monitoring system's own timeout) and Ctrl-C stop the check at once -- but
    never in the middle of a login write-back (`watcher.critical`): that finishes first."""

    def on_signal(signum: int, frame: object) -> None:
        critical.interrupt(StopRequested() if signum == signal.SIGTERM else KeyboardInterrupt())

    previous = {number: signal.signal(number, on_signal) for number in _STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    sys.exit(main())
