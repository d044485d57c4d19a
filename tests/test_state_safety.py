"""The state file under faults: never another's file, never a lost record, never a send that
cannot be recorded. Real files, the fake Grok server and the webhook sink."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from tests.conftest import state_file
from tests.core_values import RULES, T0, reading
from watcher.core.evaluate import evaluate
from watcher.core.model import State
from watcher.state_file import StateRefused, load_state, save_state

NOW = T0 + timedelta(days=1)


# --- whose file it is ----------------------------------------------------------------------------


def test_the_grok_login_given_as_state_is_refused_and_left_byte_identical(watching, sink, run):
    watching.serve(85)
    before = watching.auth_path.read_bytes()
    result = run("--check", "--state", str(watching.auth_path))
    assert result.code == 2
    assert result.err == (
        f"{watching.auth_path}: not a grok-usage-watcher state file; refusing to read or "
        "change it. Choose another --state path.\n"
    )
    assert watching.auth_path.read_bytes() == before
    assert sorted(p.name for p in watching.auth_path.parent.iterdir()) == ["auth.json"]
    assert sink.received == []  # refused before anything was read or sent


@pytest.mark.parametrize("mode", ["--check", "--status", "--check --dry-run"])
def test_the_config_given_as_state_is_refused_in_every_mode(watching, run, mode):
    before = watching.config_path.read_bytes()
    result = run(*mode.split(), "--state", str(watching.config_path))
    assert result.code == 2
    assert "not a grok-usage-watcher state file" in result.err
    assert watching.config_path.read_bytes() == before
    assert sorted(p.name for p in watching.config_path.parent.iterdir()) == ["config.toml"]


def test_an_empty_file_starts_fresh(watching, sink, run, tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    watching.serve(85)
    assert run("--check", "--state", str(path)).code == 0
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]
    assert path.read_text().startswith("# grok-usage-watcher state (version 2)")


def test_a_file_from_a_newer_version_is_refused_never_moved_aside(watching, run):
    path = state_file(watching)
    path.parent.mkdir(parents=True)
    newer = "# grok-usage-watcher state (version 3)\nversion = 3\n[accounts]\n"
    path.write_text(newer)
    result = run("--check")
    assert result.code == 2
    assert result.err == (
        f"{path}: written by a newer grok-usage-watcher (state version 3); refusing to change "
        "it. Upgrade, or choose another --state path.\n"
    )
    assert path.read_text() == newer
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.toml"]


def test_garbage_in_the_own_place_is_ours_and_moved_aside(watching, sink, run):
    path = state_file(watching)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00\x01 half a file")
    watching.serve(85)
    result = run("--check")
    assert result.code == 0
    assert "moved aside to state.toml.corrupt-" in result.err
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]


def test_two_corrupt_files_in_the_same_second_get_two_backups(tmp_path):
    path = tmp_path / "state.toml"
    names = []
    for content in ("first [", "second ["):
        path.write_text(content)
        _, warning = load_state(path, NOW, own_place=True)
        assert warning is not None
        names.append(warning.split("moved aside to ")[1].split(",")[0])
    assert names[0] != names[1]
    assert sorted((tmp_path / n).read_text() for n in names) == ["first [", "second ["]


def test_a_file_elsewhere_with_the_state_marker_is_ours(tmp_path):
    path = tmp_path / "mine.toml"
    state = evaluate(reading(55), State(), RULES, NOW).state
    save_state(path, {"default": state})
    assert load_state(path, NOW)[0]["default"] == state
    path.write_text("[something]\nelse = 1\n")
    with pytest.raises(StateRefused):
        load_state(path, NOW)


# --- version 1 -----------------------------------------------------------------------------------


def _old_id(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:12]


def test_a_version_1_file_is_migrated_without_losing_anything(watching, sink, run, tmp_path):
    """As version 1 wrote it: fired 50, 80 and 90 in this period, the 90 alert delivered to
    the sink under the id version 1 gave it (which must count for the sink's new id)."""
    end = watching.end
    start = end - timedelta(days=7)
    url = sink.url()
    v1 = f"""version = 1
last_reading_at = {(end - timedelta(days=2)).isoformat()}
last_percent = 91.0

[period]
start = {start.isoformat()}
end = {end.isoformat()}
kind = "weekly"
fired = [
    {{ threshold = 50.0, at = {start.isoformat()} }},
    {{ threshold = 80.0, at = {start.isoformat()} }},
    {{ threshold = 90.0, at = {start.isoformat()} }},
]

[[pending]]
kind = "threshold"
key = "threshold:90"
severity = "warning"
title = "Grok Build: 90% of weekly credits used"
body = "You have used 91% of your Grok Build weekly credits."
scope = "period"
created = {start.isoformat()}
delivered_to = ["{_old_id(url)}"]
only_to = ["{_old_id(url)}", "someone-else"]
"""
    path = tmp_path / "v1.toml"
    path.write_text(v1)
    watching.serve(92)
    result = run("--check", "--state", str(path))
    assert result.code == 0, result.err
    assert sink.received == []  # nothing fired again, nothing delivered twice
    text = path.read_text()
    assert text.startswith("# grok-usage-watcher state (version 2)")
    state = load_state(path, NOW)[0]["default"]
    assert state.period is not None
    assert state.period.fired_thresholds == {50.0, 80.0, 90.0}
    watching.serve(100)
    run("--check", "--state", str(path))
    assert sink.titles() == ["Grok Build: weekly credits used up (100%)"]


# --- never send what cannot be recorded ----------------------------------------------------------


def _block_saves(path):  # type: ignore[no-untyped-def]
    """A directory where the save's temporary file goes: every save fails, even for root."""
    from watcher.files import temporary_for

    blocker = temporary_for(path)
    blocker.mkdir()
    return blocker


def test_a_check_that_cannot_save_sends_nothing_and_the_next_sends_once(watching, sink, run):
    path = state_file(watching)
    watching.serve(45)
    assert run("--check").code == 0
    watching.serve(85)
    blocker = _block_saves(path)
    for _ in range(3):
        result = run("--check")
        assert result.code == 1
        assert result.out.count("\n") == 1
        assert result.out.rstrip().endswith(
            "nothing sent: the state could not be saved, so what is sent could not be recorded"
        )
        assert result.err == f"{path}: cannot write the state file: Is a directory\n"
    assert sink.received == []
    blocker.rmdir()
    assert run("--check").code == 0
    assert run("--check").code == 0
    assert sink.titles() == ["Grok Build: 80% of weekly credits used"]


def test_check_json_says_the_state_was_not_saved(watching, run):
    path = state_file(watching)
    watching.serve(45)
    run("--check")
    watching.serve(85)
    _block_saves(path)
    result = run("--check", "--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["state_saved"] is False
    assert document["deliveries"] == []


def test_the_service_goes_on_from_memory_and_says_so_once(watching, sink):
    from watcher.check import Remembered, run_check
    from watcher.config import load_config

    path = state_file(watching)
    config = load_config(None, watching.env)
    remembered = Remembered()
    watching.serve(45)
    run_check(config, path, watching.env, remembered=remembered)
    blocker = _block_saves(path)
    for percent in (85, 86, 92):
        watching.serve(percent)
        report = run_check(config, path, watching.env, remembered=remembered)
        assert report.save_error is not None
    # One message for the 85 % check (the state alert and the 80 % alert), none for 86 %,
    # the 90 % alert once: alerted once each, from memory.
    titles = sink.titles()
    assert titles == [
        "Grok Build watcher: its state is not being saved",
        "Grok Build: 90% of weekly credits used",
    ]
    assert "Grok Build: 80% of weekly credits used" in sink.received[0].body
    assert f"The state file {path} cannot be written (Is a directory)" in sink.received[0].body
    blocker.rmdir()
    report = run_check(config, path, watching.env, remembered=remembered)
    assert report.save_error is None and remembered.unsaved is None
    assert load_state(path, NOW, own_place=True)[0]["default"].period.fired_thresholds == {
        50,
        80,
        90,
    }
    assert len(sink.received) == 2  # nothing repeated when saving works again
