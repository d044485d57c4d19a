"""Alerts through real receivers: an SMTP server on loopback (aiosmtpd) and a real desktop
notification daemon (dunst, under Xvfb, on a private D-Bus session bus)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest

from tests.conftest import point_at
from tests.fake_grok import Reply
from tests.test_check import pool


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)
    logins: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook
        self.messages.append(envelope)
        return "250 OK"

    def subjects(self) -> list[str]:
        return [
            str(make_header(decode_header(message_from_bytes(m.content)["Subject"])))
            for m in self.messages
        ]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        mailbox.logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.password in (b"app-password", b"topsecret"))

    mailbox = Mailbox()
    port = free_port()
    # Loopback only, so plain-text AUTH is acceptable here; a real server would want TLS.
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def test_an_alert_arrives_by_email_with_the_right_subject(ready, grok, smtp, run):
    mailbox, port = smtp
    url = (
        f"mailto://watcher:app-password@127.0.0.1:{port}"
        "?mode=insecure&from=watcher@example.com&to=me@example.com"
    )
    ready.write_config(point_at(grok) + f'[alerts]\nforecast = false\n[notify]\nurls = ["{url}"]\n')
    grok.routes["/billing?format=credits"] = Reply(json=pool(91))
    result = run("--check")
    assert result.code == 0, result.out + result.err
    assert mailbox.subjects() == ["Grok Build: 90% of weekly credits used"]
    (envelope,) = mailbox.messages
    assert envelope.rcpt_tos == ["me@example.com"]
    assert mailbox.logins == ["watcher"]
    assert b"You have used 91% of your Grok Build weekly credits" in envelope.content
    assert "app-password" not in result.out + result.err


def test_test_notify_reports_each_target(ready, grok, smtp, sink, run):
    mailbox, port = smtp
    mail = (
        f"mailto://u:topsecret@127.0.0.1:{port}?mode=insecure&from=a@example.com&to=b@example.com"
    )
    ready.write_config(
        point_at(grok)
        + "[notify]\nurls = "
        + json.dumps([mail, "critical=" + sink.url(), "json://127.0.0.1:9/down"])
        + "\n"
    )
    result = run("--test-notify")
    assert result.code == 1
    lines = result.out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("ok     mailto://u:****@127.0.0.1:")
    assert lines[1].startswith("ok     json://127.0.0.1:") and "tags: critical" in lines[1]
    assert lines[2].startswith("failed json://127.0.0.1:9/") and "(" in lines[2]
    assert lines[2].endswith("from urls[3]")
    assert "topsecret" not in result.out + result.err
    assert mailbox.subjects() == ["Grok Build: test notification"]
    assert sink.titles() == ["Grok Build: test notification"]


def test_test_notify_with_every_target_working_exits_0(ready, grok, sink, run):
    ready.write_config(point_at(grok) + f'[notify]\nurls = ["{sink.url()}"]\n')
    result = run("--test-notify")
    assert result.code == 0
    assert result.out.startswith("ok     json://127.0.0.1:")


# --- the desktop ---------------------------------------------------------------------------------

DESKTOP_TOOLS = ("Xvfb", "dbus-daemon", "dunst", "dunstctl")


@dataclass
class Desktop:
    env: dict[str, str]

    def notifications(self) -> list[tuple[str, str]]:
        """(summary, body) of everything dunst received, oldest first."""
        subprocess.run(["dunstctl", "close-all"], env=self.env, check=True, timeout=10)
        time.sleep(0.2)  # dunst moves closed notifications to its history asynchronously
        history = json.loads(
            subprocess.run(
                ["dunstctl", "history"], env=self.env, capture_output=True, check=True, timeout=10
            ).stdout
        )
        return [(n["summary"]["data"], n["body"]["data"]) for n in reversed(history["data"][0])]


@pytest.fixture
def desktop(tmp_path) -> Iterator[Desktop]:
    missing = [tool for tool in DESKTOP_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} (apt install xvfb dbus dunst); .ci/run installs them"
        )
    try:
        import dbus  # noqa: F401
    except ImportError:
        pytest.skip("needs dbus-python (pip install '.[desktop]'; builds with libdbus-1-dev)")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        display = _free_display()
        xvfb = subprocess.Popen(
            ["Xvfb", f":{display}", "-screen", "0", "640x480x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(xvfb)
        _wait_for_x(display, xvfb)
        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
        )
        processes.append(bus)
        address = bus.stdout.readline().decode().strip()
        env = {**os.environ, "DISPLAY": f":{display}", "DBUS_SESSION_BUS_ADDRESS": address}
        (tmp_path / "dunstrc").write_text("[global]\n    history_length = 50\n")
        processes.append(_start_dunst(env, tmp_path))
        yield Desktop(env)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)


def _free_display() -> int:
    # Not -displayfd: Xvfb then takes a number whose socket a killed server left behind, and
    # dies. A number with neither a lock nor a socket is really free.
    for number in range(90, 400):
        if not os.path.exists(f"/tmp/.X{number}-lock") and not os.path.exists(
            f"/tmp/.X11-unix/X{number}"
        ):
            return number
    pytest.fail("no free X display number")


def _wait_for_x(display: int, xvfb: subprocess.Popen[bytes]) -> None:
    for _ in range(200):  # up to 10 s
        if xvfb.poll() is not None:
            pytest.fail(f"Xvfb :{display} exited with {xvfb.returncode}")
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(f"/tmp/.X11-unix/X{display}")
                return
            except OSError:
                time.sleep(0.05)
    pytest.fail(f"Xvfb :{display} did not accept connections")


def _start_dunst(env: dict[str, str], tmp_path) -> subprocess.Popen[bytes]:
    """dunst, once it owns the notification service. Xvfb can report its display a moment
    before it accepts clients, so a dunst that could not open it is started again."""
    log_path = tmp_path / "dunst.log"
    for _ in range(5):
        with open(log_path, "wb") as log:
            dunst = subprocess.Popen(
                ["dunst", "-config", str(tmp_path / "dunstrc")],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        for _ in range(100):  # up to 5 s
            if dunst.poll() is not None:
                break
            probe = subprocess.run(["dunstctl", "count", "displayed"], env=env, capture_output=True)
            if probe.returncode == 0:
                return dunst
            time.sleep(0.05)
        dunst.terminate()
        dunst.wait(timeout=10)
        time.sleep(0.2)
    pytest.fail(f"dunst did not come up on the private session bus: {log_path.read_text()}")


def _watcher(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: dbus-python keeps one session-bus connection per process.
    return subprocess.run(
        [sys.executable, "-m", "watcher", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_with_no_target_an_alert_is_printed_and_shown_on_the_desktop(ready, grok, desktop):
    grok.routes["/billing?format=credits"] = Reply(json=pool(100))
    result = _watcher(desktop.env, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[critical] Grok Build: weekly credits used up (100%)" in result.stdout
    assert "to 2 targets" in result.stdout
    ((summary, body),) = desktop.notifications()
    assert summary == "Grok Build: weekly credits used up (100%)"
    assert "Grok Build stops until the credits reset" in body


def test_the_session_bus_is_found_through_xdg_runtime_dir(ready, grok, desktop, tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    address = desktop.env["DBUS_SESSION_BUS_ADDRESS"]
    (runtime / "bus").symlink_to(address.split("unix:path=")[1].split(",")[0])
    env = {k: v for k, v in desktop.env.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    result = _watcher(env, "--test-notify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok     dbus://" in result.stdout
    assert desktop.notifications() == [
        (
            "Grok Build: test notification",
            "A test from grok-usage-watcher: alerts about your Grok Build usage arrive here.",
        )
    ]
