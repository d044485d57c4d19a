"""The reading's deadline: it interrupts what blocks, except what must never be cut in half."""

from __future__ import annotations

import time

import pytest

from watcher.grok.deadline import Deadline, DeadlineExceeded


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cap_never_outlives_the_deadline_and_check_raises_once_it_passed():
    clock = FakeClock()
    deadline = Deadline(2.0, clock=clock)
    assert deadline.cap(15) == 2.0
    clock.now += 1.5
    assert deadline.cap(15) == pytest.approx(0.5)
    assert deadline.cap(0.1) == 0.1
    clock.now += 1.0
    with pytest.raises(DeadlineExceeded):
        deadline.check()


def test_a_shielded_block_is_not_cut_by_check_but_is_reported_after():
    clock = FakeClock()
    deadline = Deadline(1.0, clock=clock)
    clock.now += 5
    with deadline.shielded():
        deadline.check()  # does not raise inside
    with pytest.raises(DeadlineExceeded):
        deadline.check()


def test_the_alarm_interrupts_a_blocking_call():
    deadline = Deadline(0.05)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded), deadline.enforced():
        time.sleep(5)
    assert time.monotonic() - started < 2


def test_the_alarm_waits_for_a_shielded_block_to_finish_then_fires():
    deadline = Deadline(0.05)
    finished = False
    with pytest.raises(DeadlineExceeded), deadline.enforced():
        with deadline.shielded():
            time.sleep(0.2)  # e.g. writing the rotated login back to auth.json
            finished = True
        pytest.fail("the deadline should fire as the shield ends")
    assert finished


def test_the_alarm_is_disarmed_after_the_block():
    deadline = Deadline(0.05)
    with deadline.enforced():
        pass
    time.sleep(0.1)  # nothing fires once the reading is over
