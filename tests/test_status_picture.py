"""`--status` as a person sees it: the real command on a pseudo-terminal of a given width,
with and without colour, and piped (the seed's displayed lines, exactly)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.conftest import ENTRY, cli_entry

REPO = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
YELLOW = "\x1b[33m"


def on_a_terminal(env: dict[str, str], columns: int, *argv: str) -> tuple[int, str]:
    """Run `--status` with stdout and stderr on a pty `columns` wide; (exit code, output)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "watcher", "--status", *argv],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the command ended and the pty closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = process.wait(timeout=30)
    return code, b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@pytest.fixture
def env(ready):
    ready.write_auth({ENTRY: cli_entry("access-1", email="me@example.com")})
    environ = {k: v for k, v in ready.env.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return {**environ, "TERM": "xterm-256color", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


@pytest.mark.parametrize("columns", [40, 60, 80, 100, 160])
def test_the_picture_fits_the_terminal_and_shows_the_bars(env, columns):
    code, out = on_a_terminal(env, columns)
    assert code == 0, out
    shown = ANSI.sub("", out)  # what the eye sees
    lines = shown.rstrip("\n").split("\n")
    assert lines[0].startswith("Grok Build  SuperGrok Heavy") and "me@example.com" in shown
    (meter,) = [line for line in lines if line.startswith("Weekly credits  ")]
    assert meter.startswith("Weekly credits  █") and "83%" in meter
    assert "elapsed" in shown and "pace: " in shown
    assert "Pay as you go   disabled" in lines
    assert any(line.startswith("Login           refreshes itself") for line in lines)
    assert max(len(line) for line in lines) <= columns  # never a wrapped line
    assert ANSI.search(out) is not None  # a terminal gets colour...
    assert YELLOW in out  # ...by severity: 83 % is a warning


def test_at_80_columns_the_countdowns_go_first(env):
    _, wide = on_a_terminal(env, 160)
    _, narrow = on_a_terminal(env, 80)
    assert "(in 1 d " in wide and "(in " not in narrow


def test_no_color_and_a_dumb_terminal_have_no_colour(env):
    for extra in ({"NO_COLOR": "1"}, {"TERM": "dumb"}, {"NO_COLOR": "1", "FORCE_COLOR": "1"}):
        code, out = on_a_terminal({**env, **extra}, 100)
        assert code == 0 and "█" in out
        assert ANSI.search(out) is None, extra


def test_under_40_columns_or_with_plain_it_is_the_plain_lines(env):
    for columns, argv in ((39, ()), (100, ("--plain",))):
        code, out = on_a_terminal(env, columns, *argv)
        assert code == 0
        assert out.startswith("Grok          SuperGrok Heavy\nCredits used  83%  weekly pool, ")
        assert "█" not in out and ANSI.search(out) is None


def test_piped_it_is_the_seeds_lines_exactly(env):
    result = subprocess.run(
        [sys.executable, "-m", "watcher", "--status"],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0
    assert lines[0] == "Grok          SuperGrok Heavy"
    assert re.fullmatch(
        r"Credits used  83%  weekly pool, resets \w{3} \d+ \w{3} \d\d:\d\d UTC \(in 1 d \d+ h\)",
        lines[1],
    )
    assert lines[2] == "Pay as you go Disabled"
    assert len(lines) == 3 and "\x1b" not in result.stdout


def test_force_color_colours_but_never_changes_what_a_pipe_reads(env):
    result = subprocess.run(
        [sys.executable, "-m", "watcher", "--status"],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO), "FORCE_COLOR": "1", "COLUMNS": "100"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("Grok          SuperGrok Heavy\nCredits used  83%")
    # On a terminal it is colour even where TERM=dumb would have none.
    code, out = on_a_terminal({**env, "TERM": "dumb", "FORCE_COLOR": "1"}, 100)
    assert code == 0 and YELLOW in out


def test_a_c_locale_gets_the_plain_lines_on_a_terminal(env):
    for locale in ({"LC_ALL": "C"}, {"LANG": "POSIX"}):
        dropped = ("LANG", "LC_ALL", "LC_CTYPE", "PYTHONIOENCODING")
        environ = {k: v for k, v in env.items() if k not in dropped}
        code, out = on_a_terminal({**environ, **locale}, 100)
        assert code == 0
        assert out.startswith("Grok          SuperGrok Heavy\n") and "█" not in out, locale
