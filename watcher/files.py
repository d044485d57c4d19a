"""Writing our files and the user's so that a crash or a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path

_TEMPORARY_SUFFIX = ".tmp"


def temporary_for(target: Path, pid: int | None = None) -> Path:
    """The temporary file `replace_atomically` writes before renaming it over `target`."""
    return target.with_name(f".{target.name}.{os.getpid() if pid is None else pid}.tmp")


def replace_atomically(target: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` to a temporary file beside `target`, fsync it, rename it over `target`.

    Readers see the old file or the new one, never a mix; the file is `mode` (0600: it may
    hold tokens or what the user watches) from its first byte, whatever the umask.
    """
    temporary = temporary_for(target)
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


def probe_replace(target: Path, size: int, mode: int = 0o600) -> None:
    """Raise the OSError a `replace_atomically(target, <size bytes>)` would meet, if any.

    Creates the very temporary file it would create, writes and fsyncs `size` bytes (a full
    disk or quota may only show at fsync), then removes it; `target` itself is not touched.
    For when losing a write is worse than not starting the work that makes it necessary.
    """
    temporary = temporary_for(target)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            block = b"\0" * 65536
            left = size
            while left > 0:
                left -= os.write(fd, block[: min(left, len(block))])
            os.fsync(fd)
        finally:
            os.close(fd)  # may fail too (quota on NFS): still an answer, still cleaned up
    finally:
        # Removed even when interrupted: the bytes would stay taken on a disk already short.
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def remove_stale_temporaries(target: Path, min_age_seconds: float = 0.0) -> list[Path]:
    """Remove the temporaries of `replace_atomically(target, ...)` whose writer is gone.

    Only regular files named exactly `.{target.name}.{pid}.tmp` whose pid is not a running
    process, and (with `min_age_seconds`) not modified for that long -- a writer in another
    pid namespace sharing the directory has a pid that looks dead here. Never raises on
    OSError: a directory that cannot be listed or a file that cannot be removed is left as is.
    Returns what was removed.
    """
    prefix = f".{target.name}."
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    removed = []
    for name in names:
        pid = _writer_pid(name, prefix)
        if pid is None or _running(pid):
            continue
        path = target.parent / name
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue  # never ours: replace_atomically writes regular files only
            if time.time() - info.st_mtime < min_age_seconds:
                continue
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def _writer_pid(name: str, prefix: str) -> int | None:
    """The pid in `{prefix}{pid}.tmp`, spelled exactly as `temporary_for` spells it."""
    if not (name.startswith(prefix) and name.endswith(_TEMPORARY_SUFFIX)):
        return None
    digits = name[len(prefix) : -len(_TEMPORARY_SUFFIX)]
    if not (digits.isascii() and digits.isdigit()) or digits != str(int(digits)):
        return None
    pid = int(digits)
    return pid if pid > 0 else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # it exists but is not ours (EPERM), or we cannot tell: keep its file
    return True
