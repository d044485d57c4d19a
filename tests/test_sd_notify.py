"""sd_notify on a real AF_UNIX datagram socket, as systemd sets it up."""

from __future__ import annotations

import os
import socket
import uuid

from watcher.service.sd_notify import Notifier, watchdog_seconds_from


def receive(sock: socket.socket) -> str:
    sock.settimeout(2)
    return sock.recv(4096).decode()


def test_messages_reach_a_socket_named_by_path(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
        notifier.ready("starting the first check")
        notifier.status("83% used, resets Thu 27 Nov 05:01")
        notifier.stopping()
        assert receive(listener) == "READY=1\nSTATUS=starting the first check"
        assert receive(listener) == "STATUS=83% used, resets Thu 27 Nov 05:01"
        assert receive(listener) == "STOPPING=1"


def test_messages_reach_an_abstract_socket():
    name = f"grok-usage-watcher-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        Notifier(f"@{name}").status("ok")
        assert receive(listener) == "STATUS=ok"


def test_a_status_cannot_smuggle_in_a_second_field(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        Notifier(path).status("line one\nREADY=1")
        assert receive(listener) == "STATUS=line one READY=1"


def test_outside_systemd_everything_is_a_no_op(tmp_path):
    notifier = Notifier.from_environ({})
    notifier.ready()
    notifier.watchdog()
    # A socket that went away is no failure either.
    Notifier(str(tmp_path / "gone")).status("x")


def test_the_watchdog_is_fed_only_when_asked_for_and_meant_for_us():
    assert watchdog_seconds_from({"WATCHDOG_USEC": "1800000000"}) == 1800
    assert watchdog_seconds_from({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
    assert watchdog_seconds_from({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_seconds_from({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_seconds_from({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_seconds_from({}) is None


def test_watchdog_pings_go_out_only_with_a_watchdog(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.setblocking(False)
        Notifier(path).watchdog()
        Notifier(path, watchdog_seconds=60).watchdog()
        listener.settimeout(2)
        assert listener.recv(4096) == b"WATCHDOG=1"
        listener.setblocking(False)
        try:
            extra = listener.recv(4096)
        except BlockingIOError:
            extra = None
        assert extra is None
