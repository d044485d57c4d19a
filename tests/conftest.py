from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fake_grok import FakeGrok, Reply
from watcher.cli import main

CLIENT_ID = "b1a00492-073a-47ea-816f-4c329264a828"
ENTRY = f"https://auth.x.ai::{CLIENT_ID}"


def make_jwt(expires_at: datetime, subject: str = "user-1") -> str:
    """An unsigned JWT: the watcher only reads `exp`, as the Grok CLI's tokens carry it."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return (
        f"{part({'alg': 'none'})}.{part({'sub': subject, 'exp': int(expires_at.timestamp())})}.sig"
    )


def cli_entry(
    key: str, refresh: str | None = "refresh-1", expires_at: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    """An auth.json entry as the Grok CLI 0.2.x writes it."""
    entry: dict[str, Any] = {
        "key": key,
        "refresh_token": refresh,
        "id_token": "id-1",
        "expires_at": (expires_at or datetime.now(UTC) + timedelta(hours=5)).isoformat(),
        "auth_mode": "oidc",
        "create_time": "2026-11-01T10:00:00+00:00",
        "user_id": "user-1",
        "oidc_issuer": "https://auth.x.ai",
    }
    entry.update(extra)
    return entry


# Fixture times are relative to one "now", read once when the tests start, never calendar
# dates: the suite must pass on any date (CI runs it a year ahead too). The pool period is in
# its sixth day of seven; the monthly meter is half-way through a 30-day period.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
POOL_START = NOW - timedelta(days=5, hours=3) + timedelta(microseconds=140114)
POOL_END = POOL_START + timedelta(days=7)
MONTH_START = (NOW - timedelta(days=15)).replace(hour=0, minute=0)
MONTH_END = MONTH_START + timedelta(days=30)


def pool_body(start: datetime, end: datetime, percent: float = 83.4) -> dict[str, Any]:
    return {
        "config": {
            "creditUsagePercent": percent,
            "currentPeriod": {
                "type": "USAGE_PERIOD_TYPE_WEEKLY",
                "start": start.isoformat(),
                "end": end.isoformat(),
            },
            "onDemandCap": {},
            "isUnifiedBillingUser": True,
            "billingPeriodStart": MONTH_START.isoformat(),
            "billingPeriodEnd": MONTH_END.isoformat(),
        }
    }


def monthly_body(start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "config": {
            "monthlyLimit": {"val": 60000},
            "used": {"val": 4277},
            "onDemandCap": {"val": 0},
            "billingPeriodStart": start.isoformat(),
            "billingPeriodEnd": end.isoformat(),
            "history": [
                {
                    "billingCycle": {"year": 2026, "month": 10},
                    "includedUsed": {"val": 0},
                    "onDemandUsed": {"val": 0},
                    "totalUsed": {"val": 0},
                }
            ],
        }
    }


POOL_BODY = pool_body(POOL_START, POOL_END)
MONTHLY_BODY = monthly_body(MONTH_START, MONTH_END)


@dataclass
class Home:
    """A user's home for one test: HOME, XDG dirs and ~/.grok, nothing shared with the host."""

    root: Path
    env: dict[str, str]

    @property
    def auth_path(self) -> Path:
        return self.root / ".grok" / "auth.json"

    @property
    def config_path(self) -> Path:
        return self.root / ".config" / "grok-usage-watcher" / "config.toml"

    def write_auth(self, document: Any) -> Path:
        self.auth_path.parent.mkdir(parents=True, exist_ok=True)
        text = document if isinstance(document, str) else json.dumps(document, indent=2)
        self.auth_path.write_text(text)
        self.auth_path.chmod(0o600)
        return self.auth_path

    def read_auth(self) -> Any:
        return json.loads(self.auth_path.read_text())

    def write_config(self, text: str) -> Path:
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(text)
        return self.config_path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    root = tmp_path / "home"
    root.mkdir()
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name.startswith(("GROK_", "XDG_", "REQUESTS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(root))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return Home(root=root, env=dict(os.environ))


@pytest.fixture
def grok() -> Iterator[FakeGrok]:
    server = FakeGrok().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ready(home: Home, grok: FakeGrok) -> Home:
    """A logged-in user whose config points at the fake server, with the pool shape served."""

    grok.accepted_tokens.add("access-1")
    grok.routes["/billing?format=credits"] = Reply(json=POOL_BODY)
    grok.routes["/settings"] = Reply(json={"subscription_tier_display": "SuperGrok Heavy"})
    home.write_auth({ENTRY: cli_entry("access-1")})
    home.write_config(point_at(grok))
    return home


def point_at(grok: FakeGrok, timeout: float = 2.0, extra: str = "") -> str:
    return (
        "[grok]\n"
        f'api_base = "{grok.api_base}"\n'
        f'token_url = "{grok.token_url}"\n'
        f"timeout_seconds = {timeout}\n" + extra
    )


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], home: Home):  # type: ignore[no-untyped-def]
    def invoke(*argv: str) -> Run:
        code = main(list(argv), environ=dict(os.environ))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def sink() -> Iterator[Any]:
    from tests.sinks import WebhookSink

    server = WebhookSink()
    try:
        yield server
    finally:
        server.stop()


def pool(
    percent: float, end: datetime | None = None, start: datetime | None = None
) -> dict[str, Any]:
    """A pool answer at `percent`, its period ending in three days unless told otherwise."""
    end = end or datetime.now(UTC) + timedelta(days=3)
    return pool_body(start or end - timedelta(days=7), end, percent)


@pytest.fixture
def watching(ready: Home, grok: FakeGrok, sink: Any) -> Home:
    """A user whose config sends to the webhook sink; forecasts off unless a test wants them."""

    def configure(urls: list[str] | None = None, extra: str = "") -> None:
        urls = [sink.url()] if urls is None else urls
        ready.write_config(
            point_at(grok)
            + "[alerts]\nforecast = false\n"
            + extra
            + "[notify]\nurls = "
            + json.dumps(urls)
            + "\n"
        )

    configure()
    ready.configure = configure  # type: ignore[attr-defined]
    ready.end = datetime.now(UTC) + timedelta(days=3)  # type: ignore[attr-defined]
    ready.serve = lambda percent, end=None: grok.routes.__setitem__(
        "/billing?format=credits",
        Reply(json=pool(percent, end or ready.end)),  # type: ignore[attr-defined]
    )
    return ready


def state_file(home: Home) -> Path:
    return home.root / ".local" / "state" / "grok-usage-watcher" / "state.toml"
