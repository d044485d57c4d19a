"""Exclusive file locks: one check at a time on the state file, and the Grok CLI's own lock
on its login while a refresh spends the refresh token.

`flock` on a lock file beside the guarded file, created when missing and never deleted:
deleting a lock file another process has open would let a third process lock a different
file. Waits are measured by the monotonic clock (a wall clock set back must not stretch a
wait), with the clock and the sleep injectable so that tests never wait for time to pass.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

POLL_SECONDS = 0.05


class LockTimeout(Exception):
    """Another process held the lock for the whole wait."""


class LockUnavailable(Exception):
    """The lock file could not be opened or locked for a reason of the file system's own
    (EACCES, EROFS, ENOSPC, ENOLCK, ...), not because another process holds it."""

    def __init__(self, error: OSError, action: str) -> None:
        super().__init__(error.strerror or str(error))
        self.reason = error.strerror or str(error)
        self.action = action  # "create" (opening it) or "take" (locking it)


def acquire(
    lock_path: Path,
    wait_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Hold an exclusive lock on `lock_path`; the descriptor to close to release it."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:  # opening never waits for a holder: the file system says no
        raise LockUnavailable(exc, "create") from None
    try:
        give_up_at = monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if monotonic() >= give_up_at:
                    raise LockTimeout() from None
                sleep(POLL_SECONDS)
            except OSError as exc:  # e.g. ENOLCK on a network file system: no holder at all
                raise LockUnavailable(exc, "take") from None
    except BaseException:  # a timeout, a failure, or a deadline or signal while waiting
        os.close(fd)
        raise
