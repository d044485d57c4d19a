"""The service manager's notification protocol (sd_notify), in the few lines it takes.

systemd passes an AF_UNIX datagram socket in $NOTIFY_SOCKET (a path, or "@name" in the
abstract namespace); each datagram is newline-separated KEY=VALUE fields: READY=1, STATUS=...,
RELOADING=1, STOPPING=1, WATCHDOG=1. The protocol is stable and documented (sd_notify(3)),
so a dependency for it would cost more than it saves. Outside systemd every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None, watchdog_seconds: float | None = None) -> None:
        self.watchdog_seconds = watchdog_seconds  # None: no watchdog asked for
        self._socket: socket.socket | None = None
        self._address: str | bytes | None = None
        if address:
            # "@name" is the abstract namespace: a leading NUL byte on the wire.
            self._address = b"\0" + address[1:].encode() if address.startswith("@") else address
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier:
        return cls(environ.get("NOTIFY_SOCKET"), watchdog_seconds_from(environ))

    def send(self, *fields: str) -> None:
        if self._socket is None or self._address is None:
            return
        # One field per line; a value must not smuggle in a second field.
        text = "\n".join(field.replace("\n", " ") for field in fields)
        try:
            self._socket.sendto(text.encode(), self._address)
        except OSError as exc:  # the manager went away: nothing to tell, nothing to fail
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets newer managers tell this reload from an older one.
        self.send(
            "RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
        )

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        if self.watchdog_seconds is not None:
            self.send("WATCHDOG=1")


def watchdog_seconds_from(environ: Mapping[str, str]) -> float | None:
    """WATCHDOG_USEC, when it is meant for this process (WATCHDOG_PID, if set, is ours)."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = environ.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1_000_000
