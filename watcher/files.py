"""Writing our files and the user's so that a crash or a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def replace_atomically(target: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` to a temporary file beside `target`, fsync it, rename it over `target`.

    Readers see the old file or the new one, never a mix; the file is `mode` (0600: it may
    hold tokens or what the user watches) from its first byte, whatever the umask.
    """
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(target.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
