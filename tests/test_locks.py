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


def is_locked(lock_path) -> bool:
    other = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(other)
    return False


def test_a_free_lock_is_held_while_the_block_runs(tmp_path):
    lock_path = tmp_path / "x.lock"
    with locks.held(lock_path, 0):
        assert is_locked(lock_path)
    assert not is_locked(lock_path)
    assert lock_path.exists()  # never deleted


def test_a_held_lock_times_out_by_the_monotonic_clock(tmp_path):
    lock_path = tmp_path / "x.lock"
    clock = Clock()
    with (
        locks.held(lock_path, 0),
        pytest.raises(locks.LockTimeout),
        locks.held(lock_path, 2, clock.monotonic, clock.sleep),
    ):
        pass
    assert 502 <= clock.now <= 502 + locks.POLL_SECONDS
    assert clock.sleeps == round(2 / locks.POLL_SECONDS)


def test_a_lock_released_while_waiting_is_taken(tmp_path):
    lock_path = tmp_path / "x.lock"
    holder = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.sleeps == 3:
            os.close(holder)

    with locks.held(lock_path, 10, clock.monotonic, sleep):
        assert clock.sleeps == 3


class Interrupted(Exception):
    pass


def test_an_interruption_of_the_wait_gives_up_but_one_in_the_block_passes_through(tmp_path):
    lock_path = tmp_path / "x.lock"

    def interrupt(seconds: float) -> None:
        raise Interrupted()

    with (
        locks.held(lock_path, 0),
        pytest.raises(locks.LockTimeout),
        locks.held(lock_path, 10, sleep=interrupt, gives_up_on=(Interrupted,)),
    ):
        pass
    with (
        pytest.raises(Interrupted),
        locks.held(lock_path, 10, gives_up_on=(Interrupted,)),
    ):
        raise Interrupted()
    assert not is_locked(lock_path)  # released however the block ended


def test_a_lock_file_that_cannot_be_created_is_the_file_systems_reason(tmp_path):
    with pytest.raises(locks.LockUnavailable) as caught, locks.held(tmp_path / "no" / "x", 10):
        pass
    assert (caught.value.action, caught.value.reason) == ("create", "No such file or directory")
