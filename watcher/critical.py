"""Work that must never be cut in half, and the interruptions that wait for it.

Two things interrupt a check from a signal handler: the reading's deadline (SIGALRM) and, in
the service, a stop (SIGTERM, SIGINT). Both call `interrupt(exc)`: it raises at once, so that
a hung request ends now -- or, inside a `critical()` block, as soon as the outermost block
ends. Critical are the write-back of a rotated login (losing the new refresh token would log
the user out) and the save of the state file.

Signal handlers run in the main thread only, between bytecodes, so a plain counter is enough.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class StopRequested(BaseException):
    """SIGTERM or SIGINT arrived during a check: unwind now. Not an Exception, so that no
    `except Exception` in a library on the way can swallow it."""


_depth = 0
_deferred: BaseException | None = None


def active() -> bool:
    return _depth > 0


@contextmanager
def critical() -> Iterator[None]:
    """Let this block finish even if an interruption arrives meanwhile; raise it after."""
    global _depth, _deferred
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _deferred is not None:
            deferred, _deferred = _deferred, None
            raise deferred


def interrupt(exc: BaseException) -> None:
    """Raise `exc` now, or when the critical block being run ends. A stop (not an Exception)
    outranks a deadline that is already waiting."""
    global _deferred
    if _depth == 0:
        raise exc
    if _deferred is None or isinstance(_deferred, Exception):
        _deferred = exc
