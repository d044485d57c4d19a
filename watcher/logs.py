"""Where log lines go and how they look.

One-shot commands: "grok-usage-watcher: message" on stderr, warnings only unless -v.
The service: when stderr is the journal (JOURNAL_STREAM names stderr's device and inode, as
sd_journal's stream documentation describes) each line starts with its syslog priority
("<4>" for a warning) and carries no timestamp of its own -- the journal adds one, and
`journalctl -p warning` can filter. Otherwise plain lines with a timestamp.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

# syslog(3) priorities of Python's levels.
_PRIORITIES = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}

log = logging.getLogger("watcher")


def stream_is_journal(environ: Mapping[str, str], stream: TextIO) -> bool:
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        status = os.fstat(stream.fileno())
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (ValueError, OSError):
        return False


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITIES.get(record.levelno, 6)
        # Every line of a multi-line record is its own journal entry: prefix each.
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


class TimestampedFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            record = logging.makeLogRecord(
                {
                    **record.__dict__,
                    "msg": f"{record.levelname.lower()}: {record.getMessage()}",
                    "args": None,
                }
            )
        return super().format(record)


def configure_command_logging(verbose: bool, stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("grok-usage-watcher: %(message)s"))
    _install(handler, logging.DEBUG if verbose else logging.WARNING)


def configure_service_logging(
    verbose: bool, environ: Mapping[str, str], stream: TextIO | None = None
) -> bool:
    """Returns whether the lines go to the journal."""
    stream = stream or sys.stderr
    journal = stream_is_journal(environ, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter() if journal else TimestampedFormatter())
    _install(handler, logging.DEBUG if verbose else logging.INFO)
    return journal


def _install(handler: logging.Handler, level: int) -> None:
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    # Apprise's own log lines may quote service URLs: its failure reasons reach the user
    # through our per-target lines, redacted, never through its logger.
    apprise_log = logging.getLogger("apprise")
    apprise_log.setLevel(logging.WARNING)
    apprise_log.handlers[:] = [logging.NullHandler()]
    apprise_log.propagate = False
