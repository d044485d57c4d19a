"""A deadline for one whole reading that holds even against a server trickling bytes.

requests' timeouts bound each connect and each socket read, not the whole exchange: a server
that sends one byte every few seconds keeps a request alive forever. In the main thread a
SIGALRM timer interrupts whatever blocks when the deadline passes; elsewhere (no signals in
other threads) every timeout is capped at the time left and checked between reads.

Some work must never be cut in half -- writing a rotated login back to auth.json above all,
since losing the new refresh token would log the user out. `shielded()` defers the deadline
until such a block is done (see `critical.py`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from watcher import critical


class DeadlineExceeded(Exception):
    """The reading's time ran out."""


class Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ends_at = clock() + seconds
        self._armed = False

    def remaining(self) -> float:
        return max(0.0, self._ends_at - self._clock())

    def check(self) -> None:
        if self.remaining() <= 0 and not critical.active():
            raise DeadlineExceeded

    def cap(self, seconds: float) -> float:
        """A per-operation timeout that never outlives the deadline (never 0: requests
        treats 0 as non-blocking)."""
        self.check()
        return max(0.001, min(seconds, self.remaining()))

    @contextmanager
    def enforced(self) -> Iterator[None]:
        """Interrupt blocking calls in this block when the deadline passes (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self.check()
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._armed = True
        signal.setitimer(signal.ITIMER_REAL, max(self.remaining(), 0.001))
        try:
            yield
        finally:
            self._armed = False  # an alarm landing now must not fail a finished reading
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def shielded(self) -> contextlib.AbstractContextManager[None]:
        """Let this block finish even if the deadline passes meanwhile."""
        return critical.critical()

    def _on_alarm(self, signum: int, frame: object) -> None:
        if self._armed:
            critical.interrupt(DeadlineExceeded())
