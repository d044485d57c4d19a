"""Quiet hours in a real `python -m watcher --check` process, through the end of the window
on a clock libfaketime moves two hours on, with a real webhook sink."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import point_at
from tests.fake_grok import Reply
from tests.test_check import pool

REPO = Path(__file__).resolve().parent.parent
CREDITS = "/billing?format=credits"


def faketime_library() -> str:
    try:
        import libfaketime
    except ImportError:
        pytest.skip("libfaketime (a test extra: pip install -e '.[test]') is not installed")
    return str(libfaketime._get_shared_lib("libfaketime.so.1"))


def later_by(hours: float) -> dict[str, str]:
    """The environment for a child whose clock runs `hours` ahead of this process's (which
    may itself run ahead: scripts/test's second pass sets FAKETIME=+400d)."""
    seconds = int(hours * 3600)
    outer = os.environ.get("FAKETIME", "")
    match = re.fullmatch(r"\+(\d+)d", outer)
    if match:
        seconds += int(match.group(1)) * 86400
    elif outer:
        pytest.skip(f"cannot add to the outer FAKETIME={outer!r}")
    return {
        "LD_PRELOAD": faketime_library(),
        "FAKETIME": f"+{seconds}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def check(home, **env: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "watcher", "--check"],
        env={**home.env, "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_alerts_held_in_quiet_hours_come_as_one_digest_after_them(ready, grok, sink):
    # A window from an hour ago to an hour ahead, in this process's wall time (TZ=UTC).
    now = datetime.now().replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    ready.write_config(
        point_at(grok)
        + "[alerts]\nforecast = false\n"
        + f'[notify]\nurls = ["{sink.url()}"]\n'
        + f'[[quiet]]\ntimes = ["{start:%H:%M}-{end:%H:%M}"]\n'
    )
    grok.routes[CREDITS] = Reply(json=pool(55))
    held = check(ready)
    assert held.returncode == 0, held.stderr
    assert held.stdout.startswith("55% used (weekly pool, ")
    assert "held until " in held.stdout and sink.titles() == []
    grok.routes[CREDITS] = Reply(json=pool(83))
    assert check(ready).returncode == 0
    assert sink.titles() == []  # 80 % is held too
    after = check(ready, **later_by(2))
    assert after.returncode == 0, after.stderr
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]
    body = sink.received[0].body
    assert body.startswith("You have used 83% of your Grok Build weekly credits;")
    assert "\n\nHeld since " in body
    again = check(ready, **later_by(2.1))
    assert again.returncode == 0 and len(sink.received) == 1  # nothing twice


def test_status_says_the_quiet_hours_and_their_end(ready, grok, run):
    now = datetime.now().replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    ready.write_config(
        point_at(grok)
        + '[alerts]\nquiet_lets_through = "warning"\n'
        + f'[[quiet]]\ntimes = ["{start:%H:%M}-{end:%H:%M}"]\n'
    )
    plain = run("--status", "--plain")
    assert plain.code == 0
    last = plain.out.splitlines()[-1]
    assert re.fullmatch(r"Quiet hours   until .* UTC: alerts below warning wait", last), last
    document = json.loads(run("--status", "--json").out)
    assert document["quiet"]["lets_through"] == "warning"
    assert datetime.fromisoformat(document["quiet"]["until"]) == end.replace(tzinfo=UTC)
    ready.write_config(point_at(grok))
    assert json.loads(run("--status", "--json").out)["quiet"] is None
