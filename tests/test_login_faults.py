"""auth.json and its directory failing in real ways: each is reported as what it is, and none
of them may cost the user the Grok CLI login.

Permission tests run the watcher in a subprocess without the capabilities that let root ignore
file modes (CI runs as root); the full disk is a real tiny tmpfs in a private mount namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENTRY, Home, cli_entry
from tests.fake_grok import FakeGrok, Grant
from watcher.files import remove_stale_temporaries

REPO = Path(__file__).resolve().parents[1]
NOT_LOGGED_IN = "Grok not logged in. Run `grok login`."
NO_DAC = [
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search",
    "--inh-caps",
    "-dac_override,-dac_read_search",
]


def soon(minutes: float = 2) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def ago(minutes: float = 2) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def _watcher(home: Home, *argv: str, prefix: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "watcher", *argv],
        env=home.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def file_modes_apply(tmp_path: Path) -> list[str]:
    """A command prefix under which file modes bind (root loses DAC override), verified."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to drop root's capabilities")
    probe = tmp_path / "read-only"
    probe.mkdir(mode=0o555)
    try:
        result = subprocess.run(
            [*NO_DAC, "sh", "-c", f"touch {probe}/x"], capture_output=True, text=True
        )
    finally:
        probe.chmod(0o755)
    if result.returncode == 0 or "Permission denied" not in result.stderr:
        pytest.skip(f"setpriv could not drop DAC override here: {result.stderr.strip()}")
    return NO_DAC


def _expired(home: Home, grok: FakeGrok) -> bytes:
    """A login that must be refreshed before it can be used; the token endpoint would grant it."""
    home.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=ago())})
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    return home.auth_path.read_bytes()


# -- 1. an auth.json that exists but cannot be read ---------------------------------------------


def test_an_auth_file_without_read_permission_is_not_a_missing_login(ready, file_modes_apply):
    ready.auth_path.chmod(0o000)
    result = _watcher(ready, "--status", "--json", prefix=file_modes_apply)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["error"] == {
        "kind": "auth_unreadable",
        "message": f"Cannot read the Grok login {ready.auth_path}: Permission denied.",
    }


def test_an_auth_file_that_is_a_directory_says_so(ready, run):
    ready.auth_path.unlink()
    ready.auth_path.mkdir()
    result = run("--status")
    assert (result.code, result.err.strip()) == (
        1,
        f"Cannot read the Grok login {ready.auth_path}: Is a directory.",
    )


def test_a_dangling_symlink_names_where_it_points(ready, run):
    elsewhere = ready.root / "dotfiles" / "auth.json"
    ready.auth_path.unlink()
    ready.auth_path.symlink_to(elsewhere)
    result = run("--status")
    assert (result.code, result.err.strip()) == (
        1,
        f"Cannot read the Grok login {ready.auth_path}: "
        f"it links to {elsewhere}, which does not exist.",
    )


def test_an_io_error_is_reported_as_an_io_error(ready, run):
    # Reading /proc/self/mem from its start fails with EIO: a real I/O error, no fault injection.
    ready.auth_path.unlink()
    ready.auth_path.symlink_to("/proc/self/mem")
    result = run("--status")
    assert (result.code, result.err.strip()) == (
        1,
        f"Cannot read the Grok login {ready.auth_path}: Input/output error.",
    )


@pytest.mark.parametrize("content", [None, "", "{not json", "[]", '"text"'])
def test_a_missing_or_non_object_auth_file_is_still_not_logged_in(ready, run, content):
    if content is None:
        ready.auth_path.unlink()
    else:
        ready.write_auth(content)
    result = run("--status", "--json")
    assert result.code == 1
    assert json.loads(result.out)["error"] == {"kind": "not_logged_in", "message": NOT_LOGGED_IN}


# -- 3. never spend the refresh token when the rotated login cannot be saved -------------------


def _in_tiny_tmpfs(home: Home, *argv: str) -> tuple[str, dict[str, Any]]:
    """Run the watcher with ~/.grok on a full 16 KiB tmpfs holding a copy of auth.json: its
    stderr, and its exit code, whether auth.json is unchanged and the names in ~/.grok.

    The tmpfs vanishes with the namespace, so the child itself reports what became of the file.
    """
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a private mount namespace")
    grok_dir = home.auth_path.parent
    original = home.root / "auth.json.original"
    shutil.copyfile(home.auth_path, original)
    report = home.root / "tmpfs-report.json"
    child = f"""
import json, os, sys
from pathlib import Path
auth = Path({str(home.auth_path)!r})
original = Path({str(original)!r}).read_bytes()
auth.write_bytes(original)
auth.chmod(0o600)
filler = os.open(auth.with_name("filler"), os.O_WRONLY | os.O_CREAT, 0o600)
try:
    while True:
        os.write(filler, b"x" * 512)
except OSError:
    pass  # the disk is full now
os.close(filler)
from watcher.cli import main
code = main({list(argv)!r}, environ=dict(os.environ))
Path({str(report)!r}).write_text(json.dumps({{
    "code": code,
    "unchanged": auth.read_bytes() == original,
    "names": sorted(p.name for p in auth.parent.iterdir()),
}}))
"""
    command = (
        f"mount -t tmpfs -o size=16k tmpfs {grok_dir} && "
        f'exec "$0" -c "$1"'  # the interpreter and the script, unquoted by no shell
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", command, sys.executable, child],
        env=home.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if not report.exists():
        if "mount" in result.stderr or "unshare" in result.stderr:
            pytest.skip(f"no private tmpfs here: {result.stderr.strip()}")
        pytest.fail(f"the child did not report: {result.stderr}")
    return result.stderr, json.loads(report.read_text())


def test_a_full_disk_refuses_to_refresh_and_keeps_the_login(ready, grok):
    _expired(ready, grok)
    stderr, report = _in_tiny_tmpfs(ready, "--status")
    assert report["code"] == 1, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"Grok login {ready.auth_path} needs a refresh but cannot be written "
        "(No space left on device); not refreshing, so the login is kept. "
        "Free some space or fix the permissions."
    )
    assert grok.token_posts() == []
    assert report["unchanged"]
    assert report["names"] == ["auth.json", "auth.json.lock", "filler"]


def test_a_full_disk_still_reads_with_a_token_that_has_minutes_left(ready, grok):
    ready.write_auth({ENTRY: cli_entry("access-1", refresh="refresh-1", expires_at=soon())})
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    stderr, report = _in_tiny_tmpfs(ready, "--status")
    assert report["code"] == 0, stderr
    assert grok.token_posts() == []
    assert report["unchanged"]


def test_a_read_only_grok_directory_refuses_to_refresh(ready, grok, file_modes_apply):
    before = _expired(ready, grok)
    ready.auth_path.with_name("auth.json.lock").touch(mode=0o600)  # the CLI made it long ago
    ready.auth_path.parent.chmod(0o555)
    try:
        result = _watcher(ready, "--status", "--json", prefix=file_modes_apply)
    finally:
        ready.auth_path.parent.chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["error"] == {
        "kind": "auth_not_writable",
        "message": f"Grok login {ready.auth_path} needs a refresh but cannot be written "
        "(Permission denied); not refreshing, so the login is kept. "
        "Free some space or fix the permissions.",
    }
    assert grok.token_posts() == []
    assert ready.auth_path.read_bytes() == before


def test_a_refresh_leaves_no_temporary_file_behind(ready, grok, run):
    _expired(ready, grok)
    grok.accepted_tokens = {"access-new"}
    assert run("--status").code == 0
    assert ready.read_auth()[ENTRY]["refresh_token"] == "refresh-2"
    assert sorted(p.name for p in ready.auth_path.parent.iterdir()) == [
        "auth.json",
        "auth.json.lock",
    ]


# -- 4. a lock file that cannot be created -----------------------------------------------------


def test_a_lock_path_that_is_a_directory_is_reported_as_such(ready, grok, run):
    before = _expired(ready, grok)
    lock = ready.auth_path.with_name("auth.json.lock")
    lock.mkdir()
    result = run("--status", "--json")
    assert result.code == 1
    assert json.loads(result.out)["error"] == {
        "kind": "auth_lock_failed",
        "message": f"Cannot create the Grok login lock {lock}: Is a directory.",
    }
    assert grok.token_posts() == []
    assert ready.auth_path.read_bytes() == before


def test_a_lock_that_cannot_be_created_is_not_another_holder(ready, grok, file_modes_apply):
    before = _expired(ready, grok)
    ready.auth_path.parent.chmod(0o555)
    try:
        result = _watcher(ready, "--status", prefix=file_modes_apply)
    finally:
        ready.auth_path.parent.chmod(0o755)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"Cannot create the Grok login lock {ready.auth_path}.lock: Permission denied.",
    )
    assert grok.token_posts() == []
    assert ready.auth_path.read_bytes() == before


# -- 5. temporary files a killed process left beside auth.json ---------------------------------


def _dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def _old(path: Path) -> Path:
    """Back-date a file: one just written may belong to a writer in another pid namespace."""
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    return path


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    target = tmp_path / "auth.json"
    target.write_text("{}")
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f".auth.json.{dead}.tmp"
    stale.write_text("half")
    kept = [
        tmp_path / f".auth.json.{alive}.tmp",  # a writer that is still running
        tmp_path / f".auth.json.x{dead}.tmp",
        tmp_path / f".auth.json.{dead}.tmp.bak",
        tmp_path / f".state.toml.{dead}.tmp",  # another target's
        tmp_path / f"auth.json.{dead}.tmp",
    ]
    for path in kept:
        path.write_text("keep")
    (tmp_path / f".auth.json.{dead + 1}.tmp").mkdir()  # not a file we would write
    assert remove_stale_temporaries(target) == [stale]
    assert not stale.exists()
    assert all(path.exists() for path in kept)
    assert (tmp_path / f".auth.json.{dead + 1}.tmp").is_dir()


def test_stale_temporaries_younger_than_the_minimum_age_stay(tmp_path):
    stale = tmp_path / f".auth.json.{_dead_pid()}.tmp"
    stale.write_text("half")
    # Young by the process's own clock (which a faked clock may set far from the disk's).
    os.utime(stale, (time.time(), time.time()))
    assert remove_stale_temporaries(tmp_path / "auth.json", min_age_seconds=60) == []
    assert remove_stale_temporaries(tmp_path / "auth.json", min_age_seconds=60) == []
    _old(stale)
    assert remove_stale_temporaries(tmp_path / "auth.json", min_age_seconds=60) == [stale]


def test_a_directory_that_cannot_be_listed_is_not_an_error(tmp_path):
    assert remove_stale_temporaries(tmp_path / "missing" / "auth.json") == []
    (tmp_path / "file").write_text("")
    assert remove_stale_temporaries(tmp_path / "file" / "auth.json") == []


def test_the_next_reading_removes_what_a_killed_refresh_left(ready, run):
    stale = ready.auth_path.with_name(f".auth.json.{_dead_pid()}.tmp")
    stale.write_text('{"half": ')
    running = ready.auth_path.with_name(f".auth.json.{os.getpid()}.tmp")
    running.write_text('{"half": ')
    _old(stale)
    _old(running)
    assert run("--status").code == 0
    assert not stale.exists()
    assert running.exists()


def test_leftovers_beside_a_symlinked_auth_file_are_removed_where_it_points(ready, run):
    real = ready.root / "dotfiles" / "auth.json"
    real.parent.mkdir()
    ready.auth_path.rename(real)
    ready.auth_path.symlink_to(real)
    stale = real.with_name(f".auth.json.{_dead_pid()}.tmp")
    stale.write_text("half")
    _old(stale)
    assert run("--status").code == 0
    assert not stale.exists()
