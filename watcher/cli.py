"""The command line: parse flags, run one mode, map every failure to one line and an exit code.

Exit codes: 0 usage read; 1 usage could not be read (the message on stderr); 2 bad flags or
bad config. Nothing a user or a server can cause ends in a traceback.
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

from watcher import __version__, critical
from watcher.critical import StopRequested
from watcher.errors import ConfigError, WatcherError
from watcher.logs import configure_command_logging

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGTERM = 128 + signal.SIGTERM
EXIT_SIGINT = 128 + signal.SIGINT

log = logging.getLogger("watcher")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grok-usage-watcher",
        description=(
            "Warns before Grok Build credits run out, using the Grok CLI's login. With no "
            "mode flag it runs as a service: a check at start, then one every [schedule] "
            "interval, until SIGTERM or Ctrl-C."
        ),
        epilog="Exit codes: 0 usage read, 1 usage could not be read, 2 bad flags or config.",
    )
    # The order of the calls is the order of --help.
    _add_modes(parser)
    _add_mode_options(parser)
    _add_file_options(parser)
    _add_general_options(parser)
    return parser


def _add_modes(parser: argparse.ArgumentParser) -> None:
    """One at most; none runs the service (see `main`)."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--status",
        action="store_true",
        help="read usage once and print plan, credits used and pay-as-you-go; sends nothing",
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help="one check: read usage, send the alerts that are due, remember them; exit 0/1/2",
    )
    mode.add_argument(
        "--test-notify",
        action="store_true",
        help="send one test message to every configured target and report each result",
    )
    mode.add_argument(
        "--install-service",
        action="store_true",
        help="install and start the systemd user service (with --timer: a timer running "
        "--check every 5 minutes instead)",
    )
    mode.add_argument(
        "--uninstall-service",
        action="store_true",
        help="stop and remove the systemd user service or timer (config and state stay)",
    )


def _add_mode_options(parser: argparse.ArgumentParser) -> None:
    """Options that change one mode. argparse cannot tie an option to a group, so `_misuse`
    rejects each without its mode."""
    parser.add_argument(
        "--timer",
        action="store_true",
        help="with --install-service: install the timer instead of the service",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="with --status or --check: print one JSON object instead",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --check: decide and print what would be sent; send and write nothing",
    )


def _add_file_options(parser: argparse.ArgumentParser) -> None:
    """Where the state and the config are, for every mode and the service."""
    parser.add_argument(
        "--state",
        type=Path,
        metavar="PATH",
        help="state file (default: $XDG_STATE_HOME/grok-usage-watcher/state.toml)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default: $XDG_CONFIG_HOME/grok-usage-watcher/config.toml)",
    )


def _add_general_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log requests, timings and decisions to stderr (never tokens)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    misuse = _misuse(args)
    if misuse:
        parser.print_usage(sys.stderr)
        print(f"grok-usage-watcher: {misuse}", file=sys.stderr)
        return EXIT_USAGE
    if not (
        args.status
        or args.check
        or args.test_notify
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
                from watcher.config import load_config

                # The unit must not start into a config error and stay down: check first.
                from watcher.notify.targets import check_targets

                check_targets(load_config(args.config, env).notify, env)
                return install_units(env, timer=args.timer, config=args.config, state=args.state)
            return uninstall_units(env)
        if args.check:
            return _run_check(args, env)
        if args.test_notify:
            return _run_test_notify(args, env)
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
    from watcher.check import meter_policy
    from watcher.config import load_config
    from watcher.grok.reading import read
    from watcher.paths import default_state_path
    from watcher.state_file import in_own_place, load_state
    from watcher.status import format_status, status_document

    config = load_config(args.config, env)
    # The state says which meter this login is watched on; --status reads it, never writes it.
    state_path = args.state or default_state_path(env)
    state, warning = load_state(
        state_path, datetime.now(UTC), move_aside=False, own_place=in_own_place(state_path, env)
    )
    if warning:
        log.debug("%s", warning)
    usage = read(config.grok, policy=meter_policy(state, datetime.now(UTC))).usage
    now = datetime.now(UTC)
    if args.json:
        print(json.dumps(status_document(usage, now)))
    else:
        print(format_status(usage, now))
    return EXIT_OK


def _misuse(args: argparse.Namespace) -> str | None:
    if args.json and not (args.status or args.check):
        return "--json goes with --status or --check"
    if args.dry_run and not args.check:
        return "--dry-run goes with --check"
    if args.timer and not args.install_service:
        return "--timer goes with --install-service"
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
        dry_run=args.dry_run,
        print_to=sys.stderr if args.json else None,
    )
    now = datetime.now(UTC)
    if args.json:
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
    if isinstance(report.observation, Failure):
        print(report.observation.message, file=sys.stderr)
    if report.save_error is not None:
        print(report.save_error, file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def _run_test_notify(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from watcher.config import load_config
    from watcher.trial import run_test_notify

    return run_test_notify(load_config(args.config, env), env, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
