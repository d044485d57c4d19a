"""Exclusive file locks: one check at a time on the state file, and the Grok CLI's own lock
on its login while a refresh spends the refresh token.

`flock` on a lock file beside the guarded file, created when missing and never deleted:
deleting a lock file another process has open would let a third process lock a different
file. Waits are measured by the monotonic clock (a wall clock set back must not stretch a
wait), with the clock and the sleep injectable so that tests never wait for time to pass.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def held(
    lock_path: Path,
    wait_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    gives_up_on: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` while the block runs.

    Raises LockTimeout when another process held it for `wait_seconds`, or when one of
    `gives_up_on` (a reading's deadline, say) interrupts the wait -- only the wait: raised
    by the block, they pass through. The descriptor is closed however the block ends.
    """
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:  # opening never waits for a holder: the file system says no
        raise LockUnavailable(exc, "create") from None
    try:
        try:
            _wait_for(fd, wait_seconds, monotonic, sleep)
        except gives_up_on:
            raise LockTimeout() from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _wait_for(
    fd: int, wait_seconds: float, monotonic: Callable[[], float], sleep: Callable[[float], None]
) -> None:
    give_up_at = monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if monotonic() >= give_up_at:
                raise LockTimeout() from None
            sleep(POLL_SECONDS)
        except OSError as exc:  # e.g. ENOLCK on a network file system: no holder at all
            raise LockUnavailable(exc, "take") from None
