"""The one file-lock helper behind the state lock and the Grok CLI's login lock."""

from __future__ import annotations

import fcntl
import os

import pytest

from watcher import locks


class Clock:
    """A monotonic clock that only the injected sleep moves."""

    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps = 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def test_a_free_lock_is_held_until_its_descriptor_closes(tmp_path):
    lock_path = tmp_path / "x.lock"
    fd = locks.acquire(lock_path, 0)
    other = os.open(lock_path, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    finally:
        os.close(other)
    assert lock_path.exists()  # never deleted


def test_a_held_lock_times_out_by_the_monotonic_clock(tmp_path):
    lock_path = tmp_path / "x.lock"
    holder = locks.acquire(lock_path, 0)
    clock = Clock()
    try:
        with pytest.raises(locks.LockTimeout):
            locks.acquire(lock_path, 2, clock.monotonic, clock.sleep)
    finally:
        os.close(holder)
    assert 502 <= clock.now <= 502 + locks.POLL_SECONDS
    assert clock.sleeps == round(2 / locks.POLL_SECONDS)


def test_a_lock_released_while_waiting_is_taken(tmp_path):
    lock_path = tmp_path / "x.lock"
    holder = locks.acquire(lock_path, 0)
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.sleeps == 3:
            os.close(holder)

    os.close(locks.acquire(lock_path, 10, clock.monotonic, sleep))
    assert clock.sleeps == 3


def test_a_lock_file_that_cannot_be_created_is_the_file_systems_reason(tmp_path):
    with pytest.raises(locks.LockUnavailable) as caught:
        locks.acquire(tmp_path / "no-such-directory" / "x.lock", 10)
    assert (caught.value.action, caught.value.reason) == ("create", "No such file or directory")
