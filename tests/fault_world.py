"""The world the fault matrix (test_fault_matrix.py) runs `python -m watcher --check` in: a
fresh home, the fake Grok server, a real webhook sink (Apprise json://), and the few extra
pieces a fault needs that the shared helpers do not have (a raw reply, a sink that holds its
answer, a port that refuses, a port that never answers, a private mount namespace).

Everything here is real: real processes, real sockets on 127.0.0.1, real files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.conftest import ENTRY, cli_entry
from tests.fake_grok import FakeGrok, Grant, Reply
from tests.sinks import WebhookSink

REPO = Path(__file__).resolve().parent.parent
BILLING = "/billing?format=credits"
LEGACY = "/billing"
SETTINGS = {"subscription_tier_display": "SuperGrok Heavy"}
STATE_MARKER = "# grok-usage-watcher state"
LOGIN_TITLE = "Grok Build: run grok login"
SETPRIV = (
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search",
    "--inh-caps",
    "-dac_override,-dac_read_search",
)
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def threshold_title(threshold: float) -> str:
    return f"Grok Build: {threshold:g}% of weekly credits used"


def pool(percent: float, end: datetime) -> dict[str, Any]:
    return {
        "config": {
            "creditUsagePercent": percent,
            "currentPeriod": {
                "type": "USAGE_PERIOD_TYPE_WEEKLY",
                "start": (end - timedelta(days=7)).isoformat(),
                "end": end.isoformat(),
            },
            "onDemandCap": {},
            "isUnifiedBillingUser": True,
        }
    }


def monthly(percent: float, end: datetime) -> dict[str, Any]:
    return {
        "config": {
            "monthlyLimit": {"val": 60000},
            "used": {"val": int(600 * percent)},
            "onDemandCap": {"val": 0},
            "billingPeriodStart": (end - timedelta(days=30)).isoformat(),
            "billingPeriodEnd": end.isoformat(),
        }
    }


# --- servers ---------------------------------------------------------------------------------


@dataclass
class RawReply(Reply):
    """Bytes written to the socket as they are (status line and headers included), then the
    connection is closed: a body shorter than its Content-Length, for instance."""

    raw: bytes = b""


class FaultyGrok(FakeGrok):
    """FakeGrok that can also send raw bytes, and remembers what its token endpoint granted."""

    def __init__(self) -> None:
        super().__init__()
        self.granted: list[str] = []  # access tokens the token endpoint handed out, in order

    def _token(self, form: dict[str, str]) -> Reply:
        reply = super()._token(form)
        if reply.status == 200 and isinstance(reply.json, dict):
            self.granted.append(reply.json["access_token"])
        return reply

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if isinstance(reply, RawReply):
            with contextlib.suppress(OSError):
                handler.wfile.write(reply.raw)
                handler.wfile.flush()
            handler.close_connection = True
            return
        super()._send(handler, reply)


class HoldingSink(WebhookSink):
    """The real webhook sink, which can hold its answer: it records the webhook, says so
    (`arrived`), then answers only once `release` is set (a target that is slow to answer)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.holding = False
        self.arrived = threading.Event()
        self.release = threading.Event()
        sink = self
        base = self._server.RequestHandlerClass

        class Handler(base):  # type: ignore[misc, valid-type]
            def send_response(self, code: int, message: str | None = None) -> None:
                if sink.holding:
                    sink.arrived.set()
                    sink.release.wait(30)
                super().send_response(code, message)

        self._server.RequestHandlerClass = Handler

    def hold(self) -> None:
        self.release.clear()
        self.arrived.clear()
        self.holding = True

    def unhold(self) -> None:
        self.holding = False
        self.release.set()

    def stop(self) -> None:
        self.unhold()
        super().stop()


class DeadPort:
    """A port on 127.0.0.1 that refuses connections (bound, never listening: no one else can
    take it while the test runs)."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]

    def close(self) -> None:
        self._socket.close()


class SilentPort(DeadPort):
    """A port that accepts connections (the kernel completes them) and never answers."""

    def __init__(self) -> None:
        super().__init__()
        self._socket.listen(16)


# --- one user's world ------------------------------------------------------------------------


@dataclass
class Faulty:
    """How the faulty check is run: the command (`--check` unless the row runs another), extra
    flags, environment, a command wrapper, and what to do while it runs. `result` is filled in
    once it has run, for the fault's own checks."""

    command: str = "--check"
    argv: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    prefix: tuple[str, ...] = ()
    during: Callable[[subprocess.Popen[str]], None] | None = None
    result: Result | None = None


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float
    titles: list[str]  # what the sink received during this check
    bodies: list[str]  # ... and their bodies
    granted: list[str]  # access tokens the token endpoint granted during this check


def clean_environment(home: Path) -> dict[str, str]:
    """As conftest's `home` fixture: HOME, TZ=UTC, no proxies and no GROK_/XDG_/REQUESTS_."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not (name.lower().endswith("_proxy") or name.startswith(("GROK_", "XDG_", "REQUESTS_")))
    }
    env.update(HOME=str(home), TZ="UTC", PYTHONPATH=str(REPO))
    # Some 250 short-lived interpreters: let them keep compiled bytecode, outside the checkout.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "fault-matrix-pycache")
    return env


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.root = tmp_path / "home"
        self.root.mkdir()
        self.env = clean_environment(self.root)
        self.grok = FaultyGrok().start()
        self.sink = HoldingSink()
        self.end = datetime.now(UTC) + timedelta(days=3)
        self.auth_reference: bytes | None = None  # what auth.json holds if a refresh is due now
        self._closers: list[Callable[[], None]] = [self.grok.stop, self.sink.stop]
        self.grok.accepted_tokens.add("access-1")
        self.grok.grants["refresh-1"] = Grant("access-2", refresh_token="refresh-2")
        self.grok.routes["/settings"] = Reply(json=SETTINGS)
        self.write_auth({ENTRY: cli_entry("access-1")})
        self.textfile.parent.mkdir()
        self.configure()

    def close(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                close()

    def on_close(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def auth_path(self) -> Path:
        return self.root / ".grok" / "auth.json"

    @property
    def config_path(self) -> Path:
        return self.root / ".config" / "grok-usage-watcher" / "config.toml"

    @property
    def state_path(self) -> Path:
        return self.root / ".local" / "state" / "grok-usage-watcher" / "state.toml"

    @property
    def textfile(self) -> Path:
        """The metrics a check writes for node_exporter (the directory is made at start)."""
        return self.root / "metrics" / "grok-usage.prom"

    @property
    def state_dir(self) -> Path:
        return self.state_path.parent

    # -- what the user has ---------------------------------------------------------------------
    def write_auth(self, document: Any) -> None:
        self.auth_path.parent.mkdir(parents=True, exist_ok=True)
        text = document if isinstance(document, str) else json.dumps(document, indent=2)
        self.auth_path.write_text(text)
        self.auth_path.chmod(0o600)

    def expire_login(self) -> None:
        """The access token expired an hour ago; refresh-1 is one the server grants."""
        past = datetime.now(UTC) - timedelta(hours=1)
        self.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=past)})

    def configure(
        self,
        urls: list[str] | None = None,
        api_base: str | None = None,
        token_url: str | None = None,
        grok_extra: str = "",
        forecast: str = "false",
        timeout: float = 1,
        apprise_configs: list[Path] | None = None,
    ) -> None:
        urls = [self.sink.url()] if urls is None else urls
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "[grok]\n"
            f'api_base = "{api_base or self.grok.api_base}"\n'
            f'token_url = "{token_url or self.grok.token_url}"\n'
            f"timeout_seconds = {timeout:g}\n"
            f"{grok_extra}"
            "[alerts]\n"
            f"forecast = {forecast}\n"
            "[notify]\n"
            f"urls = {json.dumps(urls)}\n"
            f"config = {json.dumps([str(path) for path in apprise_configs or []])}\n"
            "[export]\n"
            f'textfile = "{self.textfile}"\n'
        )

    def serve(self, percent: float) -> None:
        self.grok.routes[BILLING] = Reply(json=pool(percent, self.end))

    def make_plan_stale(self) -> None:
        """Date the state's plan check two days back, so the next check asks /settings."""
        text = self.state_path.read_text(encoding="utf-8")
        document = tomllib.loads(text)
        stale = datetime.now(UTC) - timedelta(days=2)

        def walk(table: dict[str, Any]) -> int:
            found = 0
            for key, value in table.items():
                if isinstance(value, dict):
                    if key == "plan" and "checked_at" in value:
                        value["checked_at"] = stale
                        found += 1
                    found += walk(value)
            return found

        assert walk(document), f"no [plan] checked_at in the state:\n{text}"
        import tomli_w

        comments = "".join(line for line in text.splitlines(True) if line.startswith("#"))
        header = comments if text.startswith("#") else ""
        self.state_path.write_text(header + tomli_w.dumps(document), encoding="utf-8")

    # -- a check -------------------------------------------------------------------------------
    def check(self, faulty: Faulty | None = None, timeout: float = 60) -> Result:
        faulty = faulty or Faulty()
        env = {**self.env, **faulty.env}
        received = len(self.sink.received)
        granted = len(self.grok.granted)
        started = time.monotonic()
        process = subprocess.Popen(
            [*faulty.prefix, sys.executable, "-m", "watcher", faulty.command, *faulty.argv],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            if faulty.during is not None:
                faulty.during(process)
            out, err = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        result = Result(
            code=process.returncode,
            out=out,
            err=err,
            seconds=time.monotonic() - started,
            titles=self.sink.titles()[received:],
            bodies=[webhook.body for webhook in self.sink.received[received:]],
            granted=self.grok.granted[granted:],
        )
        faulty.result = result
        return result


# --- what may be run, here ---------------------------------------------------------------------


def no_dac_prefix() -> tuple[str, ...]:
    """A wrapper under which file modes bind even for root; () when they bind anyway."""
    import pytest

    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv is unavailable: file modes would not bind")
    probe = subprocess.run([*SETPRIV, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop CAP_DAC_OVERRIDE here: {probe.stderr.decode().strip()}")
    return SETPRIV


def tmpfs_prefix(mount_on: Path, copy_from: Path, size_kib: int = 64) -> tuple[str, ...]:
    """Run the command in a private mount namespace with a tmpfs of `size_kib` KiB over
    `mount_on`, holding a copy of `copy_from`'s files and filled to the last byte."""
    import pytest

    if shutil.which("unshare") is None:
        pytest.skip("unshare is unavailable: cannot mount a full tmpfs in a private namespace")
    probe_dir = copy_from.parent / "tmpfs-probe"
    probe_dir.mkdir(exist_ok=True)
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=16k tmpfs {probe_dir}"],
        capture_output=True,
    )
    probe_dir.rmdir()
    if probe.returncode != 0:
        pytest.skip(
            "cannot mount a tmpfs in a private mount namespace here (needs root or user "
            f"namespaces): {probe.stderr.decode().strip()}"
        )
    script = (
        'mount -t tmpfs -o size="$3"k,mode=0700 tmpfs "$1" && cp -a "$2"/. "$1"/ '
        '&& { dd if=/dev/zero of="$1/.filler" bs=1k 2>/dev/null; true; } '
        '&& shift 3 && exec "$@"'
    )
    return ("unshare", "-m", "sh", "-c", script, "sh", str(mount_on), str(copy_from), str(size_kib))


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def signal_when_sending(world: World, signum: int, notes: dict[str, float]) -> Callable[..., None]:
    """Send `signum` once the sink has the webhook and holds its answer; note how long the
    process took to end after it (at most 5 s are waited for)."""

    def during(process: subprocess.Popen[str]) -> None:
        if not world.sink.arrived.wait(20):
            raise AssertionError("the check never reached the sink")
        sent = time.monotonic()
        process.send_signal(signum)
        try:
            process.wait(5)
            notes["ended_after"] = time.monotonic() - sent
        except subprocess.TimeoutExpired:
            notes["ended_after"] = float("inf")
            process.kill()

    return during


SIGKILL = signal.SIGKILL
SIGTERM = signal.SIGTERM
