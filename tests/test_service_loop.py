"""The service's loop with an injected clock: the real `schedule` library runs on a fake wall
clock, and the loop's `wait` moves both clocks instead of sleeping. No test sleeps."""

from __future__ import annotations

import datetime as real_datetime
import itertools
import socket
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import schedule

from watcher.service.loop import Loop
from watcher.service.sd_notify import Notifier

START = real_datetime.datetime(2026, 11, 26, 12, 0, 0)


class Clocks:
    """The wall clock `schedule` reads and the monotonic clock the loop reads."""

    def __init__(self) -> None:
        self.wall = START
        self.mono = 1000.0

    def advance(self, seconds: float, *, wall: float | None = None) -> None:
        self.mono += seconds
        self.wall += real_datetime.timedelta(seconds=seconds if wall is None else wall)


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> Clocks:
    clocks = Clocks()

    class FakeDatetime(real_datetime.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return clocks.wall

    fake_module = types.SimpleNamespace(**vars(real_datetime))
    fake_module.datetime = FakeDatetime
    monkeypatch.setattr(schedule, "datetime", fake_module)
    return clocks


class Flags:
    def __init__(self) -> None:
        self.stop = False
        self.reload = False


class Harness:
    """Drives a Loop: records check times (wall and monotonic) and every wait asked for."""

    def __init__(self, clocks: Clocks, interval: float, stop_after_checks: int) -> None:
        self.clocks = clocks
        self.flags = Flags()
        self.checks: list[tuple[real_datetime.datetime, float]] = []
        self.waits: list[float] = []
        self.check_takes = 0.0
        self.during_wait: Callable[[int], None] = lambda index: None
        self.stop_after_checks = stop_after_checks
        self.interval = interval

    def check(self) -> None:
        self.checks.append((self.clocks.wall, self.clocks.mono))
        self.clocks.advance(self.check_takes)
        if len(self.checks) >= self.stop_after_checks:
            self.flags.stop = True

    def wait(self, seconds: float) -> None:
        assert seconds > 0, "a wait of nothing is a busy loop"
        self.waits.append(seconds)
        if len(self.waits) > 1000:
            raise AssertionError("the loop polls")
        self.clocks.advance(seconds)
        self.during_wait(len(self.waits))

    def loop(self, **kwargs) -> Loop:  # type: ignore[no-untyped-def]
        return Loop(
            check=self.check,
            interval=self.interval,
            flags=self.flags,
            wait=self.wait,
            monotonic=lambda: self.clocks.mono,
            scheduler=schedule.Scheduler(),
            **kwargs,
        )

    def gaps(self) -> list[float]:
        monos = [mono for _, mono in self.checks]
        return [round(b - a, 6) for a, b in itertools.pairwise(monos)]


def test_a_check_at_start_then_one_every_interval_with_one_wait_between(clocks):
    harness = Harness(clocks, interval=300, stop_after_checks=4)
    harness.loop().run()
    assert harness.checks[0] == (START, 1000.0)
    assert harness.gaps() == [300, 300, 300]
    assert harness.waits == [300, 300, 300]  # sleeps until due: no polling


def test_a_slow_check_delays_the_next_and_checks_never_overlap(clocks):
    harness = Harness(clocks, interval=60, stop_after_checks=3)
    harness.check_takes = 45
    harness.loop().run()
    assert harness.gaps() == [105, 105]  # the next one comes an interval after the end


def test_after_a_suspend_one_catch_up_check_then_back_to_the_interval(clocks):
    harness = Harness(clocks, interval=300, stop_after_checks=4)

    def suspend_once(index: int) -> None:
        if index == 1:  # during the first wait the machine sleeps two hours (wall only)
            clocks.wall += real_datetime.timedelta(hours=2)

    harness.during_wait = suspend_once
    harness.loop().run()
    walls = [wall for wall, _ in harness.checks]
    # Waking from the first wait, the check is overdue: it runs once, not 24 times.
    assert [w - START for w in walls] == [
        real_datetime.timedelta(0),
        real_datetime.timedelta(hours=2, seconds=300),
        real_datetime.timedelta(hours=2, seconds=600),
        real_datetime.timedelta(hours=2, seconds=900),
    ]
    assert harness.gaps() == [300, 300, 300]
    assert max(harness.waits) <= 300


def test_a_suspend_mid_wait_makes_the_check_at_most_one_interval_late(clocks):
    harness = Harness(clocks, interval=600, stop_after_checks=2)

    def suspend(index: int) -> None:
        if index == 1:
            clocks.wall += real_datetime.timedelta(hours=5)

    harness.during_wait = suspend
    harness.loop().run()
    # Woke at most one interval (of awake time) after the resume; never a burst.
    assert len(harness.checks) == 2
    assert harness.gaps() == [600]


def test_a_clock_set_back_never_stalls_the_loop_longer_than_one_interval(clocks):
    harness = Harness(clocks, interval=300, stop_after_checks=3)

    def set_back(index: int) -> None:
        if index == 1:
            clocks.wall -= real_datetime.timedelta(hours=3)

    harness.during_wait = set_back
    harness.loop().run()
    assert harness.gaps() == [300, 300]
    assert max(harness.waits) <= 300


def test_a_clock_jumping_forward_gives_one_check_not_a_burst(clocks):
    harness = Harness(clocks, interval=60, stop_after_checks=3)

    def jump(index: int) -> None:
        if index == 1:
            clocks.wall += real_datetime.timedelta(days=1)

    harness.during_wait = jump
    harness.loop().run()
    assert harness.gaps() == [60, 60]


class NotifySocket:
    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)

    def messages(self) -> list[str]:
        received = []
        while True:
            try:
                received.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return received


@pytest.fixture
def notify_socket(tmp_path):
    listener = NotifySocket(tmp_path)
    yield listener
    listener.sock.close()


def test_with_a_watchdog_longer_than_the_interval_it_is_fed_at_each_check_only(
    clocks, notify_socket
):
    harness = Harness(clocks, interval=300, stop_after_checks=4)
    notifier = Notifier(notify_socket.path, watchdog_seconds=1800)
    harness.loop(notifier=notifier).run()
    assert notify_socket.messages() == ["WATCHDOG=1"] * 4
    assert harness.waits == [300, 300, 300]  # the watchdog adds no wake-up


def test_with_an_interval_longer_than_half_the_watchdog_it_wakes_to_feed_it(clocks, notify_socket):
    harness = Harness(clocks, interval=3600, stop_after_checks=2)
    notifier = Notifier(notify_socket.path, watchdog_seconds=1800)
    harness.loop(notifier=notifier).run()
    assert harness.waits == [900, 900, 900, 900]
    assert notify_socket.messages() == ["WATCHDOG=1"] * 5  # 2 checks + 3 wake-ups between
    assert harness.gaps() == [3600]


def test_a_reload_between_checks_applies_the_new_interval_and_tells_systemd(clocks, notify_socket):
    harness = Harness(clocks, interval=300, stop_after_checks=3)
    reloads = []

    def ask_reload(index: int) -> None:
        if index == 1:
            clocks.advance(-200)  # the signal came 100 s into the first wait
            harness.flags.reload = True

    def reload() -> float:
        reloads.append(clocks.mono)
        return 60.0

    harness.during_wait = ask_reload
    notifier = Notifier(notify_socket.path)
    harness.loop(notifier=notifier, reload=reload).run()
    assert reloads == [1100.0]
    sent = notify_socket.messages()
    assert sent[0].startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert sent[1] == "READY=1"
    # 60 s had passed since the last check when the reload came: the next check runs at
    # once, then every 60 s.
    assert harness.gaps() == [100, 60]


def test_a_broken_reload_keeps_the_interval(clocks):
    harness = Harness(clocks, interval=120, stop_after_checks=3)

    def ask_reload(index: int) -> None:
        if index == 1:
            clocks.advance(-60)
            harness.flags.reload = True

    harness.during_wait = ask_reload
    harness.loop(reload=lambda: None).run()
    assert harness.gaps() == [120, 120]


def test_a_stop_between_checks_ends_the_loop_at_once(clocks):
    harness = Harness(clocks, interval=300, stop_after_checks=100)

    def stop(index: int) -> None:
        if index == 2:
            harness.flags.stop = True

    harness.during_wait = stop
    harness.loop().run()
    assert len(harness.checks) == 2
    assert len(harness.waits) == 2
