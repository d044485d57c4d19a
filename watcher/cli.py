"""The command line: parse flags, run one mode, map every failure to one line and an exit code.

Exit codes: 0 usage read; 1 usage could not be read (the message on stderr); 2 bad flags or
bad config. Nothing a user or a server can cause ends in a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from watcher import __version__
from watcher.errors import ConfigError, WatcherError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

log = logging.getLogger("watcher")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grok-usage-watcher",
        description="Warns before Grok Build credits run out, using the Grok CLI's login.",
        epilog="Exit codes: 0 usage read, 1 usage could not be read, 2 bad flags or config.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--status",
        action="store_true",
        help="read usage once and print plan, credits used and pay-as-you-go; sends nothing",
    )
    parser.add_argument(
        "--json", action="store_true", help="with --status: print one JSON object instead"
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default: $XDG_CONFIG_HOME/grok-usage-watcher/config.toml)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log requests, timings and decisions to stderr (never tokens)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    _configure_logging(args.verbose)
    if args.json and not args.status:
        parser.print_usage(sys.stderr)
        print("grok-usage-watcher: --json goes with --status", file=sys.stderr)
        return EXIT_USAGE
    if not args.status:
        # The background service arrives later; until then a bare run explains itself.
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return _run_status(args, env)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not a user's mistake: one line, details with -v
        log.debug("unexpected error", exc_info=True)
        print(
            f"grok-usage-watcher: unexpected error ({type(exc).__name__}); run with -v for details",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _run_status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from watcher.config import load_config
    from watcher.reading import read_usage
    from watcher.status import error_document, format_status, status_document

    try:
        config = load_config(args.config, env)
        usage = read_usage(config.grok)
    except WatcherError as error:
        print(error.message, file=sys.stderr)
        if args.json:
            print(json.dumps(error_document(error)))
        return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED
    now = datetime.now(UTC)
    if args.json:
        print(json.dumps(status_document(usage, now)))
    else:
        print(format_status(usage, now))
    return EXIT_OK


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("grok-usage-watcher: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)
    log.propagate = False


if __name__ == "__main__":
    sys.exit(main())
