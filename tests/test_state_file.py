"""The state file on a real filesystem: round trip, safety, corruption, bounds, the lock."""

from __future__ import annotations

import fcntl
import functools
import os
import stat
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core_values import EXPIRED, NETWORK, PACE_RULES, RULES, T0, next_period, reading
from watcher.core.evaluate import evaluate
from watcher.core.model import PendingAlert, State, TokenInfo
from watcher.paths import default_state_path
from watcher.state_file import CheckBusy, encode_state, load_state, save_state, state_lock

NOW = T0 + timedelta(days=1)


def busy_state() -> State:
    state = State()
    sequence = [reading(30), reading(55), NETWORK, NETWORK, NETWORK, EXPIRED, reading(85)]
    for i, observation in enumerate(sequence):
        state = evaluate(observation, state, PACE_RULES, NOW + i * timedelta(minutes=40)).state
    token = TokenInfo(NOW + timedelta(hours=10), renewable=False)
    return evaluate(reading(91, token=token), state, PACE_RULES, NOW + timedelta(hours=6)).state


def test_default_path_follows_xdg():
    assert (
        str(default_state_path({"HOME": "/h"})) == "/h/.local/state/grok-usage-watcher/state.toml"
    )
    assert str(default_state_path({"HOME": "/h", "XDG_STATE_HOME": "/s"})) == (
        "/s/grok-usage-watcher/state.toml"
    )


def test_no_file_is_a_fresh_state(tmp_path):
    assert load_state(tmp_path / "state.toml", NOW) == ({}, None)


def test_round_trip_is_exact_and_the_file_is_private_and_readable(tmp_path):
    path = tmp_path / "deep" / "state.toml"
    state = busy_state()
    assert state.pending and state.period.fired and state.period.samples
    save_state(path, {"default": state})
    assert load_state(path, NOW) == ({"default": state}, None)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("# grok-usage-watcher state (version 2)")
    assert "threshold = 90.0" in text  # a person can see what fired when
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.toml"]


def test_a_pending_alert_of_an_unknown_kind_is_left_out_not_the_state(tmp_path, caplog):
    """A newer version may queue a kind this one does not know: the rest is kept."""
    path = tmp_path / "state.toml"
    state = busy_state()
    kinds = [p.alert.kind for p in state.pending]
    assert len(kinds) >= 2
    save_state(path, {"default": state})
    text = path.read_text()
    path.write_text(text.replace(f'kind = "{kinds[0]}"', 'kind = "quota_note"', 1))
    loaded, problem = load_state(path, NOW)
    assert problem is None
    assert loaded == {"default": state._replace(pending=state.pending[1:])}
    assert "left out a pending alert" in caplog.text and "quota_note" in caplog.text


def test_an_empty_only_to_survives_the_round_trip(tmp_path):
    state = busy_state()
    state = state._replace(pending=(state.pending[0]._replace(only_to=()),))
    save_state(tmp_path / "s.toml", {"default": state})
    assert load_state(tmp_path / "s.toml", NOW)[0]["default"].pending[0].only_to == ()


@pytest.mark.parametrize(
    "content",
    [
        "not toml [",
        'version = "1"\n',
        "version = 1\n[period]\nfired = [{threshold = 50}]\n",
        "version = 1\nlast_reading_at = 2026-01-01T00:00:00\n",  # no offset
        "version = 1\n[[pending]]\nkind = 'threshold'\n",
        "version = 1\nlast_percent = true\n",
    ],
)
def test_a_corrupt_or_unknown_file_is_moved_aside_with_one_warning(tmp_path, content):
    path = tmp_path / "state.toml"
    path.write_text(content)
    histories, warning = load_state(path, NOW, own_place=True)  # the default place: ours
    assert histories == {}
    assert warning is not None and "\n" not in warning
    assert "moved aside to state.toml.corrupt-20261121T050000" in warning
    assert (tmp_path / "state.toml.corrupt-20261121T050000").read_text() == content
    assert not path.exists()


@functools.cache
def a_year_of_checks() -> State:
    """A year of checks every five minutes: weekly periods used up to 120%, an outage now
    and then."""
    state = State()
    step = timedelta(minutes=5)
    checks = 365 * 24 * 12
    week = timedelta(days=7)
    for i in range(checks):
        now = T0 + i * step
        weeks = int((now - T0) / week)
        percent = ((now - T0) % week) / week * 120
        observation = next_period(percent, weeks) if weeks else reading(percent)
        if i % 997 == 0:
            observation = NETWORK
        state = evaluate(observation, state, PACE_RULES, now).state
    return state


def test_a_year_of_checks_every_five_minutes_stays_small(tmp_path):
    path = tmp_path / "state.toml"
    state = a_year_of_checks()
    save_state(path, {"default": state})
    assert path.stat().st_size < 64 * 1024
    assert load_state(path, T0)[0]["default"] == state


def test_each_account_stays_within_64_kb_over_a_year(tmp_path):
    """Three logins, each after a year of checks, each with its identity, a long login path
    and the most pending alerts it may hold (20, undelivered to two targets)."""
    import tomli_w

    from watcher.core.evaluate import MAX_PENDING

    year = a_year_of_checks()
    alert = year.pending[0].alert if year.pending else None
    worst = evaluate(reading(100), State(), PACE_RULES, T0).alerts[0] if alert is None else alert
    pending = tuple(
        PendingAlert(worst._replace(key=f"threshold:{i}", body=worst.body * 2), ("a" * 12,))
        for i in range(MAX_PENDING)
    )
    histories = {
        name: year._replace(
            identity=f"{name}-0123456789abcdef0123456789abcdef",
            auth_file=f"/home/someone-with-a-long-name/.grok-{name}-{'x' * 60}/auth.json",
            seen_at=T0,
            pending=pending,
        )
        for name in ("personal", "work", "client-project-2026")
    }
    path = tmp_path / "state.toml"
    save_state(path, histories)
    for name, history in histories.items():
        size = len(tomli_w.dumps(encode_state({name: history})).encode())
        assert size < 64 * 1024, (name, size)
    assert path.stat().st_size < 3 * 64 * 1024
    assert load_state(path, T0)[0] == histories


@settings(max_examples=50)
@given(st.lists(st.floats(0, 130, allow_nan=False), max_size=30))
def test_any_state_the_core_makes_round_trips(tmp_path_factory, percents):
    path = tmp_path_factory.mktemp("s") / "state.toml"
    state = State()
    for i, percent in enumerate(percents):
        state = evaluate(reading(percent), state, RULES, NOW + i * timedelta(hours=5)).state
    save_state(path, {"default": state})
    assert load_state(path, NOW)[0]["default"] == state


def test_a_second_check_waits_for_the_lock_then_gives_up(tmp_path):
    path = tmp_path / "state.toml"
    holder = os.open(tmp_path / "state.toml.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    clock = [100.0]  # a monotonic clock that only the injected sleep moves
    try:
        with (
            pytest.raises(CheckBusy, match="Another check is still running"),
            state_lock(
                path,
                wait_seconds=1,
                monotonic=lambda: clock[0],
                sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds),
            ),
        ):
            pass
    finally:
        os.close(holder)
    assert 101 <= clock[0] <= 101.1  # waited its full second, without real sleeping
    with state_lock(path, wait_seconds=1):
        pass  # free again


def test_a_directory_where_the_state_should_be_is_refused(tmp_path):
    from watcher.state_file import StateRefused

    path = tmp_path / "state.toml"
    path.mkdir()
    with pytest.raises(StateRefused, match="is a directory, not a state file"):
        load_state(path, NOW, own_place=True)
