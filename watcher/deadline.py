"""A deadline for one whole reading that holds even against a server trickling bytes.

requests' timeouts bound each connect and each socket read, not the whole exchange: a server
that sends one byte every few seconds keeps a request alive forever. In the main thread a
SIGALRM timer interrupts whatever blocks when the deadline passes; elsewhere (no signals in
other threads) every timeout is capped at the time left and checked between reads.

Some work must never be cut in half -- writing a rotated login back to auth.json above all,
since losing the new refresh token would log the user out. `shielded()` defers the deadline
until such a block is done.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class DeadlineExceeded(Exception):
    """The reading's time ran out."""


class Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ends_at = clock() + seconds
        self._shield_depth = 0
        self._fired_while_shielded = False
        self._armed = False

    def remaining(self) -> float:
        return max(0.0, self._ends_at - self._clock())

    def check(self) -> None:
        if self.remaining() <= 0 and self._shield_depth == 0:
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

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Let this block finish even if the deadline passes meanwhile."""
        self._shield_depth += 1
        try:
            yield
        finally:
            self._shield_depth -= 1
        if self._shield_depth == 0 and self._fired_while_shielded:
            self._fired_while_shielded = False
            raise DeadlineExceeded

    def _on_alarm(self, signum: int, frame: object) -> None:
        if not self._armed:
            return
        if self._shield_depth:
            self._fired_while_shielded = True
            return
        raise DeadlineExceeded
