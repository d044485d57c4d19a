"""The command line: parse flags, run one mode, map every failure to one line and an exit code.

Exit codes (`--help` gives them per mode, README's "Messages and exit codes" the same): 0 ok;
1 usage could not be read, a delivery failed or the state could not be saved (the message on
stderr); 2 bad flags, bad config or a refused `--state` file; 130 and 143 a one-off command
stopped by Ctrl-C or SIGTERM. The service exits 0 when stopped. Nothing a user or a server can
cause ends in a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from watcher import __version__, critical
from watcher.critical import StopRequested
from watcher.errors import ConfigError, WatcherError
from watcher.logs import configure_command_logging

if TYPE_CHECKING:  # each mode imports what it needs when it runs: start-up stays short
    from watcher.config import Config
    from watcher.core.holding import Hold
    from watcher.core.model import Observation, Rules, Snooze, State, TokenInfo
    from watcher.core.outlook import Outlook
    from watcher.core.usage import Usage
    from watcher.grok.identity import LoginView

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGTERM = 128 + signal.SIGTERM
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_UNKNOWN = 3  # --nagios (check_grok_usage): the Monitoring Plugins' UNKNOWN

log = logging.getLogger("watcher")


DESCRIPTION = """\
Warns before Grok Build credits run out: reads usage with the Grok CLI's login
and alerts through Apprise (desktop, email, chat), each alert once. With no
mode it runs as the service: a check at start, then one every [schedule]
interval until SIGTERM or Ctrl-C; SIGHUP re-reads the config."""

# Raw text (RawDescriptionHelpFormatter): one line each, at most 79 columns. README's
# "Messages and exit codes" and "Environment" say the same (tests/test_docs.py).
EPILOG = """\
exit codes (0 ok; 2 a config, flag or --state error, but with --nagios):
  --status             1 usage not read
  --check              1 usage not read, a send failed or state not saved
  --test-notify        1 a target failed
  --snooze             1 the state could not be saved; 2 no reset time known
  --install-service    1 systemctl missing or failed (it says what to run)
  --uninstall-service  1 a unit could not be removed
  any mode above       130 stopped by Ctrl-C, 143 by SIGTERM (a save finishes)
  no mode: service     0 stopped by SIGTERM or Ctrl-C; 2 config error at start
  --nagios             1 WARNING, 2 CRITICAL, 3 UNKNOWN (an error included)

environment:
  GROK_HOME                     its auth.json is the login (default ~/.grok)
  GROK_CLI_CHAT_PROXY_BASE_URL  the API, unless the config sets [grok] api_base
  XDG_CONFIG_HOME               the config and the units (default ~/.config)
  XDG_STATE_HOME                the state (default ~/.local/state)
  XDG_CACHE_HOME                check_grok_usage: the plan (default ~/.cache)
  XDG_RUNTIME_DIR               the desktop bus at $XDG_RUNTIME_DIR/bus
  DBUS_SESSION_BUS_ADDRESS      the desktop bus, for desktop notifications
  HOME                          ~, and the defaults above
  PATH                          --install-service: the command and systemctl
  TZ                            the time zone of the times shown
  NO_COLOR, FORCE_COLOR, TERM   colour in --status
  LC_ALL, LC_CTYPE, LANG        a C locale: --status's plain lines
  COLUMNS                       the width of --status (else the terminal's)
  HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE  a proxy, a CA bundle
  NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID, JOURNAL_STREAM  set by systemd"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grok-usage-watcher",
        usage="%(prog)s [MODE] [OPTION ...]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,  # -h goes with the other options, after the modes
    )
    # The order of the calls is the order of --help. Each help text fits one line of an
    # 80-column terminal (tests/test_docs.py).
    _add_modes(parser)
    _add_mode_options(parser)
    _add_file_options(parser)
    _add_general_options(parser)
    return parser


def _add_modes(parser: argparse.ArgumentParser) -> None:
    """One at most; none runs the service (see `main`)."""
    group = parser.add_argument_group("modes (at most one; with none, it runs as the service)")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument(
        "--status",
        action="store_true",
        help="read usage once and print it; sends nothing",
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help="read usage, send the alerts due, remember them",
    )
    mode.add_argument(
        "--test-notify",
        action="store_true",
        help="send one test message to every target",
    )
    mode.add_argument(
        "--snooze",
        metavar="WHEN",
        help="hold alerts for a while: 4h, until-reset, or off",
    )
    mode.add_argument(
        "--install-service",
        action="store_true",
        help="install and start the systemd user service",
    )
    mode.add_argument(
        "--uninstall-service",
        action="store_true",
        help="stop and remove the service or the timer",
    )
    mode.add_argument(  # handled before parsing (see `main`): its options are the plugin's
        "--nagios",
        action="store_true",
        help="the check_grok_usage plugin (--nagios -h: options)",
    )


def _add_mode_options(parser: argparse.ArgumentParser) -> None:
    """Options that change one mode. argparse cannot tie an option to a group, so `_misuse`
    rejects each without its mode."""
    group = parser.add_argument_group("with a mode")
    group.add_argument(
        "--timer",
        action="store_true",
        help="with --install-service: a timer running --check",
    )
    group.add_argument(
        "--json",
        action="store_true",
        help="with --status or --check: print one JSON object",
    )
    group.add_argument(
        "--dry-run",
        action="store_true",
        help="with --check: print what would be sent; send nothing",
    )
    group.add_argument(
        "--plain",
        action="store_true",
        help="with --status: plain lines, even on a terminal",
    )
    group.add_argument(
        "--explain",
        action="store_true",
        help="why alerts came or not (alone, or after --check)",
    )
    group.add_argument(
        "--include-critical",
        action="store_true",
        help="with --snooze: hold critical alerts too",
    )
    group.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME",
        help="only NAME: --status, --check, --test-notify, --snooze",
    )


def _add_file_options(parser: argparse.ArgumentParser) -> None:
    """Where the state and the config are, for every mode and the service."""
    group = parser.add_argument_group("files (every mode and the service)")
    group.add_argument(
        "--state",
        type=Path,
        metavar="PATH",
        help="this state file, not the one in $XDG_STATE_HOME",
    )
    group.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="this config file, not the one in $XDG_CONFIG_HOME",
    )


def _add_general_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("other options")
    group.add_argument("-h", "--help", action="help", help="show this help and exit")
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log requests, timings and decisions to stderr",
    )
    group.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="print the version and exit",
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--nagios"]:  # the plugin's own options and exit codes follow
        from watcher.nagios import main as nagios

        return nagios(arguments[1:], env, prog="grok-usage-watcher --nagios")
    parser = build_parser()
    args = parser.parse_args(arguments)
    misuse = _misuse(args)
    if misuse:
        parser.print_usage(sys.stderr)
        print(f"grok-usage-watcher: {misuse}", file=sys.stderr)
        return EXIT_USAGE
    if not (
        args.status
        or args.check
        or args.test_notify
        or args.snooze is not None
        or args.explain
        or args.install_service
        or args.uninstall_service
    ):
        from watcher.service.loop import run_service

        return run_service(args.config, args.state, env, args.verbose)
    configure_command_logging(args.verbose)
    _stop_after_critical_work()
    try:
        if args.install_service or args.uninstall_service:
            from watcher.service.units import install_units, uninstall_units

            if args.install_service:
                from watcher.check import check_config_targets
                from watcher.config import load_config

                # The unit must not start into a config error and stay down: check first.
                config = load_config(args.config, env)
                check_config_targets(config, env)
                return install_units(
                    env,
                    timer=args.timer,
                    config=args.config,
                    state=args.state,
                    # A refreshed login is written back beside each auth.json (its lock
                    # beside the link, the file where a symlink points).
                    login_dirs=tuple(
                        dict.fromkeys(
                            d
                            for a in config.accounts
                            for d in (a.auth_file.parent, a.auth_file.resolve().parent)
                        )
                    ),
                )
            return uninstall_units(env)
        if args.check:
            return _run_check(args, env)
        if args.test_notify:
            return _run_test_notify(args, env)
        if args.snooze is not None:
            return _run_snooze(args, env)
        if args.explain:
            return _run_explain(args, env)
        return _run_status(args, env)
    except WatcherError as error:  # the one place failures become a line and an exit code
        print(error.message, file=sys.stderr)
        if args.json:
            from watcher.status import error_document

            print(json.dumps(error_document(error)))
        return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED
    except StopRequested:
        return _stopped(EXIT_SIGTERM)
    except KeyboardInterrupt:
        return _stopped(EXIT_SIGINT)
    except Exception as exc:  # a bug, not a user's mistake: one line, details with -v
        log.debug("unexpected error", exc_info=True)
        print(
            f"grok-usage-watcher: unexpected error ({type(exc).__name__}); run with -v for details",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _stop_after_critical_work() -> None:
    """SIGTERM and Ctrl-C stop a command at once -- but never in the middle of a login
    write-back or a state save (see critical.py): those finish first."""

    def on_signal(signum: int, frame: object) -> None:
        critical.interrupt(StopRequested() if signum == signal.SIGTERM else KeyboardInterrupt())

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _stopped(code: int) -> int:
    if threading.active_count() > 1:
        # A send cut short in a worker thread would hold the exit until its own timeout.
        # Everything that matters is written: the state only ever in a critical block.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run_status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from watcher.check import Sessions, read_watch
    from watcher.config import load_config
    from watcher.core.model import Failure, State
    from watcher.errors import WatcherError
    from watcher.logins import chosen, plan_watches, shared_logins
    from watcher.paths import default_state_path
    from watcher.state_file import in_own_place, load_state

    config = load_config(args.config, env)
    accounts = chosen(config, args.account)
    # The state says which meter each login is watched on; --status reads it, never writes it.
    state_path = args.state or default_state_path(env)
    histories, warning = load_state(
        state_path, datetime.now(UTC), move_aside=False, own_place=in_own_place(state_path, env)
    )
    if warning:
        log.debug("%s", warning)
    watches = plan_watches(config.accounts, datetime.now(UTC), only=accounts)
    for line in shared_logins(watches):
        log.warning("%s", line)
    shown: list[_Shown] = []
    with Sessions() as sessions:
        for watch in watches:
            state = histories.get(watch.primary.name) or State()
            observation, account = read_watch(
                watch, config, state, lambda: datetime.now(UTC), None, sessions, with_plan=True
            )
            shown.append(_Shown(watch.names, observation, state, account.auth_file))
    now = datetime.now(UTC)
    if not config.named_accounts:  # one login: exactly as before several could be watched
        only = shown[0]
        if isinstance(only.observation, Failure):
            error = WatcherError(only.observation.message)
            error.kind = only.observation.kind  # --json's kind, as the reading raised it
            raise error
    failed = any(isinstance(s.observation, Failure) for s in shown)
    from watcher.check import hold_now

    hold = hold_now(config, now)
    if args.json:
        for item in shown:  # stdout is the document: a person reads the failure here
            if isinstance(item.observation, Failure):
                print(f"{item.names[0]}: {item.observation.message}", file=sys.stderr)
        document = _status_json(shown, config.named_accounts, config, now)
        print(json.dumps({**document, "quiet": _quiet_json(hold)}))
    else:
        blocks = [
            _status_text(s, config, now, env, config.named_accounts, args.plain) for s in shown
        ]
        if hold is not None:
            blocks[-1] += "\n" + _quiet_line(hold, now)
        print("\n\n".join(blocks))
    return EXIT_FAILED if failed else EXIT_OK


class _Shown(NamedTuple):
    names: tuple[str, ...]
    observation: Observation
    state: State
    auth_file: Path


def _status_json(shown: list[_Shown], named: bool, config: Config, now: datetime) -> dict[str, Any]:
    """One document per account under `accounts`; one unnamed login's fields also at the
    top, where they were before several logins could be watched."""
    from watcher.core.model import Reading
    from watcher.status import STATUS_SCHEMA, outlook_now, status_document

    documents = []
    for item in shown:
        observation = item.observation
        if isinstance(observation, Reading):
            usage = observation.usage
            rules = _rules_of(config, item.names[0])
            document = status_document(
                usage,
                now,
                outlook_now(usage, item.state, rules, now),
                _login_read(item.auth_file, observation.token, now),
            )
            document.pop("schema")
        else:
            document = {"error": {"kind": observation.kind, "message": observation.message}}
        snooze = _snooze_now(item.state, now)
        document["snooze"] = (
            {"until": snooze.until.isoformat(), "include_critical": snooze.include_critical}
            if snooze is not None
            else None
        )
        documents.append({"name": item.names[0], "names": list(item.names), **document})
    if named:
        return {"schema": STATUS_SCHEMA, "accounts": documents}
    top = {k: v for k, v in documents[0].items() if k not in ("name", "names")}
    return {"schema": STATUS_SCHEMA, **top, "accounts": documents}


def _quiet_line(hold: Hold, now: datetime) -> str:
    """ "Quiet hours   until Tue 24 Nov 07:30 CET: alerts below critical wait" """
    from watcher.core.formatting import format_local_time

    until = f"until {format_local_time(hold.until, now)}" if hold.until else "on"
    waiting = (
        "every alert waits" if hold.passes is None else f"alerts below {hold.passes.label} wait"
    )
    return f"{'Quiet hours':<14}{until}: {waiting}"


def _quiet_json(hold: Hold | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {
        "until": hold.until.isoformat() if hold.until else None,
        "lets_through": hold.passes.label if hold.passes is not None else None,
    }


def _rules_of(config: Config, name: str) -> Rules:
    return next(a.rules for a in config.accounts if a.name == name)


def _status_text(
    item: _Shown,
    config: Config,
    now: datetime,
    env: Mapping[str, str],
    named: bool,
    plain: bool,
) -> str:
    """One account's lines: the picture on a terminal, else the seed's lines (under the
    account's name when the config names its logins)."""
    from watcher.core.model import Reading
    from watcher.status import format_status, outlook_now

    title = ", ".join(item.names) if named else None
    observation = item.observation
    if not isinstance(observation, Reading):
        return f"Account       {title}\n{observation.message}"
    usage = observation.usage
    pace = outlook_now(usage, item.state, _rules_of(config, item.names[0]), now)
    login = _login_read(item.auth_file, observation.token, now)
    drawn = None if plain else _picture(usage, now, pace, login, env, title)
    snoozed = _snooze_line(item.state, config, now)
    if drawn is not None:
        return drawn + snoozed
    text = format_status(usage, now) + snoozed
    return f"Account       {title}\n{text}" if title else text


def _snooze_now(state: State, now: datetime) -> Snooze | None:
    snooze = state.snooze
    return snooze if snooze is not None and now < snooze.until else None


def _snooze_line(state: State, config: Config, now: datetime) -> str:
    """ "\nSnoozed       until Tue 1 Dec 09:42 CET: alerts below critical wait", or "" """
    from watcher.core.formatting import format_local_time

    snooze = _snooze_now(state, now)
    if snooze is None:
        return ""
    passes = None if snooze.include_critical else config.alerts.quiet_lets_through
    waiting = "every alert waits" if passes is None else f"alerts below {passes.label} wait"
    return f"\n{'Snoozed':<14}until {format_local_time(snooze.until, now)}: {waiting}"


def _login_read(auth_file: Path, token: TokenInfo, now: datetime) -> LoginView | None:
    """Who is logged in (auth.json's entry), and the state of the token the reading used."""
    from watcher.grok.identity import describe_login

    view = describe_login(auth_file, now, token.entry)
    if view is None:
        return None
    return view._replace(expires_at=token.expires_at, renewable=token.renewable)


def _picture(
    usage: Usage,
    now: datetime,
    pace: Outlook,
    login: LoginView | None,
    env: Mapping[str, str],
    account: str | None = None,
) -> str | None:
    """The picture, on a terminal that is wide enough and can show its characters; None for
    the plain lines."""
    import shutil

    from watcher import picture
    from watcher.status import picture_of

    # On a terminal only: a pipe keeps the seed's lines (FORCE_COLOR changes the colour, never
    # the format a script reads), and so does a C or POSIX locale, whose terminal cannot be
    # trusted with the block characters even where Python itself switches to UTF-8.
    if not sys.stdout.isatty() or _c_locale(env):
        return None
    width = shutil.get_terminal_size().columns
    if not picture.fits(width, sys.stdout.encoding):
        return None
    shown = picture_of(usage, now, None, pace, login)._replace(account=account)
    return picture.render(shown, width, colour=picture.use_colour(env, is_tty=True))


def _c_locale(env: Mapping[str, str]) -> bool:
    """The locale the user set (LC_ALL, else LC_CTYPE, else LANG) is C or POSIX. Python
    itself sets LC_CTYPE=C.UTF-8 when it finds the C locale (PEP 538): that one is not the
    user's choice, so LANG decides then."""
    c = ("C", "POSIX")
    if env.get("LC_ALL"):
        return env["LC_ALL"] in c
    ctype, lang = env.get("LC_CTYPE", ""), env.get("LANG", "")
    coerced = ctype in ("C.UTF-8", "C.utf8") and lang in ("", *c)
    if ctype and not coerced:
        return ctype in c
    return lang in c


def _misuse(args: argparse.Namespace) -> str | None:
    if args.nagios:  # only first: `grok-usage-watcher --nagios -w 80 -c 95`
        return "--nagios comes first, its own options after it"
    if args.json and not (args.status or args.check or args.explain):
        return "--json goes with --status, --check or --explain"
    if args.explain and (
        args.status or args.test_notify or args.snooze is not None or args.dry_run
    ):
        return "--explain goes alone, or with --check"
    if args.explain and (args.install_service or args.uninstall_service):
        return "--explain goes alone, or with --check"
    if args.dry_run and not args.check:
        return "--dry-run goes with --check"
    if args.timer and not args.install_service:
        return "--timer goes with --install-service"
    if args.plain and not args.status:
        return "--plain goes with --status"
    if args.account and not (
        args.status or args.check or args.test_notify or args.snooze is not None or args.explain
    ):
        return "--account goes with --status, --check, --test-notify, --snooze or --explain"
    if args.include_critical and args.snooze is None:
        return "--include-critical goes with --snooze"
    return None


def _run_check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from watcher.check import run_check
    from watcher.config import load_config
    from watcher.core.model import Failure
    from watcher.paths import default_state_path
    from watcher.report import check_document, summary_line

    config = load_config(args.config, env)
    # In JSON mode the printed fallback goes to stderr: stdout holds one JSON object.
    report = run_check(
        config,
        args.state or default_state_path(env),
        env,
        only=args.account,
        dry_run=args.dry_run,
        print_to=sys.stderr if args.json else None,
    )
    now = datetime.now(UTC)
    if args.explain:
        from watcher.explaining import check_explained

        text, explain = check_explained(config, report, args.account, now)
        if args.json:
            print(json.dumps({**check_document(report, now), "explain": explain}))
        else:
            print(summary_line(report, now))
            print(text)
    elif args.json:
        print(json.dumps(check_document(report, now)))
    else:
        if args.dry_run:
            names = {t.target_id: t for t in report.targets}
            for target_id, message in report.plan.items():
                print(
                    f"would send to {names[target_id].masked}: [{message.severity.label}] "
                    f"{message.title}\n{message.body}"
                )
        print(summary_line(report, now))
    if args.json:
        # The summary line already says it; with --json stdout is the document, so a
        # person reading the terminal gets the message here.
        for account in report.accounts:
            if isinstance(account.observation, Failure):
                named = f"{account.name}: " if report.named else ""
                print(f"{named}{account.observation.message}", file=sys.stderr)
    if report.save_error is not None:
        print(report.save_error, file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def _run_explain(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """From the config and the state only: no network, no change to any file."""
    from watcher.config import load_config
    from watcher.explaining import explained
    from watcher.paths import default_state_path

    config = load_config(args.config, env)
    state_path = args.state or default_state_path(env)
    text, document = explained(config, state_path, env, args.account, datetime.now(UTC))
    print(json.dumps(document) if args.json else text)
    return EXIT_OK


def _run_snooze(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from watcher.config import load_config
    from watcher.paths import default_state_path
    from watcher.snooze import run_snooze

    return run_snooze(
        load_config(args.config, env),
        args.state or default_state_path(env),
        env,
        args.snooze,
        sys.stdout,
        only=args.account,
        include_critical=args.include_critical,
    )


def _run_test_notify(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from watcher.config import load_config
    from watcher.trial import run_test_notify

    return run_test_notify(load_config(args.config, env), env, sys.stdout, args.account)


if __name__ == "__main__":
    sys.exit(main())
