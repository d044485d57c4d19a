"""The service as a real process: against the fake Grok server, with sd_notify on a real
AF_UNIX datagram socket and stderr as a stand-in journal (JOURNAL_STREAM names it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import point_at
from tests.fake_grok import Reply
from tests.test_check import pool

REPO = Path(__file__).resolve().parent.parent
BILLING = "/billing?format=credits"


class Service:
    def __init__(self, home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        self.stdout_path = tmp_path / "stdout"
        self.stdout = open(self.stdout_path, "w")  # noqa: SIM115 (closed in stop)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = str(tmp_path / "notify")
        self.notify.bind(self.notify_path)
        self.stderr_path = tmp_path / "journal"
        self.stderr = open(self.stderr_path, "w")  # noqa: SIM115 (closed in stop)
        status = os.fstat(self.stderr.fileno())
        env = dict(home.env)
        env.pop("PYTHONUNBUFFERED", None)  # as under systemd: stdout is block-buffered
        env.update(
            NOTIFY_SOCKET=self.notify_path,
            JOURNAL_STREAM=f"{status.st_dev}:{status.st_ino}",
            PYTHONPATH=str(REPO),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "watcher"],
            env=env,
            cwd=REPO,
            stdout=self.stdout,
            stderr=self.stderr,
        )
        self.received: list[str] = []

    def next_notification(self, timeout: float = 15.0) -> str:
        self.notify.settimeout(timeout)
        message = self.notify.recv(4096).decode()
        self.received.append(message)
        return message

    def wait_for_notification(self, prefix: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.next_notification(deadline - time.monotonic())
            if message.startswith(prefix):
                return message
        raise AssertionError(f"no {prefix!r} in {self.received}")

    def journal(self) -> list[str]:
        return self.stderr_path.read_text().splitlines()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        finally:
            self.notify.setblocking(False)
            while True:  # keep what was said on the way out
                try:
                    self.received.append(self.notify.recv(4096).decode())
                except BlockingIOError:
                    break
            self.stderr.close()
            self.stdout.close()
            self.notify.close()


def wait_until(condition, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.fixture
def service_config(ready, grok, sink):  # type: ignore[no-untyped-def]
    def write(urls: str = f'["{sink.url()}"]', interval: str = "10s") -> None:
        ready.write_config(
            point_at(grok)
            + f"[alerts]\nforecast = false\n[notify]\nurls = {urls}\n"
            + f'[schedule]\ninterval = "{interval}"\n'
        )

    write()
    return write


def test_checks_at_start_and_on_time_survives_a_failing_server_reloads_and_stops(
    ready, grok, sink, service_config, tmp_path
):
    grok.routes[BILLING] = Reply(json=pool(55))
    service = Service(ready, tmp_path)
    try:
        assert service.next_notification() == "READY=1\nSTATUS=starting the first check"
        assert service.wait_for_notification("STATUS=").startswith("STATUS=55% used, resets ")
        first_done = time.monotonic()  # STATUS= goes out as the check ends
        assert sink.titles() == ["Grok Build: 50% of weekly credits used"]

        grok.routes[BILLING] = Reply(500)  # the next check fails; the service goes on
        status = service.wait_for_notification("STATUS=")
        assert status == "STATUS=Grok billing request failed (HTTP 500). Try again later."
        second = grok.requests_to("/v1" + BILLING)[1].at
        # On time: one interval after the end of the first check.
        assert 9.8 <= second - first_done < 11.0, second - first_done

        service_config(urls='["critical=json://127.0.0.1:9/never"]')
        service.process.send_signal(signal.SIGHUP)
        assert service.wait_for_notification("RELOADING=1").startswith("RELOADING=1\nMONOTONIC")
        assert service.next_notification() == "READY=1"

        ready.write_config("[schedule]\ninterval = 3\n")
        service.process.send_signal(signal.SIGHUP)
        service.wait_for_notification("RELOADING=1")
        assert service.next_notification() == "READY=1"
        assert service.process.poll() is None
    finally:
        code = service.stop()
    assert code == 0
    assert service.received[-1] == "STOPPING=1"
    journal = service.journal()
    assert journal[0].startswith("<6>watching Grok Build usage with the login in ")
    assert "every 10s;" in journal[0] and "targets: json:// (every alert)" in journal[0]
    assert journal[1].startswith("<6>55% used (weekly pool, resets ")
    assert journal[1].endswith("sent “Grok Build: 50% of weekly credits used” to 1 target")
    assert journal[2] == "<4>Grok billing request failed (HTTP 500). Try again later."
    assert journal[3].startswith("<6>configuration reloaded: ")
    assert "targets: json:// (critical only)" in journal[3]
    assert journal[4].startswith("<3>") and journal[4].endswith(
        '[schedule] interval: expected a duration like "90m" or "1h30m", got 3; '
        "keeping the previous configuration"
    )
    assert journal[5] == "<6>stopped"
    assert len(journal) == 6, journal


def test_sigterm_in_the_middle_of_a_hung_request_stops_within_a_second(
    ready, grok, service_config, tmp_path
):
    grok.routes[BILLING] = Reply(json=pool(55), delay=60)  # a server that never answers
    service = Service(ready, tmp_path)
    try:
        service.next_notification()  # READY=1
        wait_until(lambda: grok.requests_to("/v1" + BILLING))
        time.sleep(0.2)  # well inside the request
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        code = service.process.wait(timeout=10)
        stopped_in = time.monotonic() - started
    finally:
        service.stop()
    assert code == 0
    assert stopped_in < 1.0, stopped_in
    state_dir = ready.root / ".local" / "state" / "grok-usage-watcher"
    # The check never reached its save; nothing half-written is left behind.
    assert not state_dir.exists() or not [p for p in state_dir.iterdir() if "tmp" in p.name]
    assert service.received[-1] == "STOPPING=1"
    assert service.journal()[-1] == "<6>stopped"


def test_sigint_stops_it_too_and_a_broken_config_at_start_exits_2(
    ready, grok, service_config, tmp_path
):
    grok.routes[BILLING] = Reply(json=pool(10))
    service = Service(ready, tmp_path)
    try:
        service.wait_for_notification("STATUS=10% used")
        service.process.send_signal(signal.SIGINT)
        assert service.process.wait(timeout=5) == 0
    finally:
        service.stop()

    ready.write_config('[schedule]\ninterval = "5s"\n')
    again = tmp_path / "again"
    again.mkdir()
    broken = Service(ready, again)
    assert broken.process.wait(timeout=10) == 2
    broken.stop()
    (line,) = broken.journal()
    assert line.startswith("<3>") and "[schedule] interval: must be at least 10s" in line


def test_with_no_target_alerts_reach_the_journal_as_they_happen(ready, grok, tmp_path):
    ready.write_config(point_at(grok) + '[alerts]\nforecast = false\n[schedule]\ninterval = "1h"\n')
    grok.routes[BILLING] = Reply(json=pool(55))
    service = Service(ready, tmp_path)
    try:
        service.wait_for_notification("STATUS=55% used")
        # Still running: what was printed is already out, not sitting in a buffer.
        printed = service.stdout_path.read_text()
    finally:
        assert service.stop() == 0
    assert printed.startswith("[info] Grok Build: 50% of weekly credits used\n")
    assert "targets: none configured: alerts are printed here" in service.journal()[0]


def test_the_service_serves_its_metrics_on_listen_and_a_taken_port_exits_2(
    ready, grok, sink, tmp_path
):
    import urllib.request

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    blocker.close()  # a free port, for the service
    grok.routes[BILLING] = Reply(json=pool(85))
    ready.write_config(
        point_at(grok)
        + f'[alerts]\nforecast = false\n[notify]\nurls = ["{sink.url()}"]\n'
        + f'[export]\nlisten = "127.0.0.1:{port}"\n'
    )
    service = Service(ready, tmp_path)
    try:
        service.wait_for_notification("STATUS=85% used")
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        assert 'grok_usage_up{account="default"} 1\n' in text
        assert 'grok_usage_credits_used_ratio{account="default",meter="pool"} 0.85\n' in text
        assert 'grok_usage_alerts_delivered_total{account="default",severity="warning"} 1\n' in (
            text
        )
        # A second service cannot have the port: one line, exit 2 (not restarted).
        other = tmp_path / "other"
        other.mkdir()
        taken = Service(ready, other)
        assert taken.process.wait(timeout=10) == 2
        taken.stop()
        assert any(
            f"[export] listen: cannot listen on 127.0.0.1:{port}: Address already in use" in line
            for line in taken.journal()
        )
    finally:
        service.stop()


def test_two_logins_start_line_names_them_and_status_sums_them_up(ready, grok, sink, tmp_path):
    """The service with [[accounts]]: its start line names each login and its file (and that
    GROK_HOME is ignored), STATUS= gives each one's figure, alerts come named."""
    import json

    from tests.conftest import ENTRY, cli_entry

    work = ready.root / ".grok-work"
    work.mkdir()
    (work / "auth.json").write_text(
        json.dumps({ENTRY: cli_entry("access-2", refresh="refresh-2", user_id="user-2")})
    )
    grok.accepted_tokens.add("access-2")
    grok.routes[BILLING] = Reply(json=pool(12))
    grok.token_routes["access-2"] = {BILLING: Reply(json=pool(83))}
    ready.write_config(
        point_at(grok)
        + "[alerts]\nforecast = false\n"
        + '[[accounts]]\nname = "work"\ngrok_home = "~/.grok-work"\n'
        + '[[accounts]]\nname = "personal"\ngrok_home = "~/.grok"\n'
        + f'[notify]\nurls = ["{sink.url()}"]\n'
    )
    ready.env["GROK_HOME"] = str(ready.root / ".grok-elsewhere")
    service = Service(ready, tmp_path)
    try:
        assert service.wait_for_notification("STATUS=", timeout=15) == (
            "STATUS=work 83%, personal 12%"
        )
    finally:
        assert service.stop() == 0
    journal = service.journal()
    assert journal[0].startswith(
        f"<6>watching Grok Build usage with the accounts work ({work / 'auth.json'}), "
        f"personal ({ready.auth_path}) (GROK_HOME is ignored: [[accounts]] name every login) "
        "every 5m;"
    ), journal[0]
    assert journal[1].startswith("<6>work: 83% used (weekly pool, resets ")
    assert "; personal: 12% used (weekly pool, resets " in journal[1]
    assert sink.titles() == ["Grok Build (work): 80% of weekly credits used"]
