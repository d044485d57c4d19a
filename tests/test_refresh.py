"""Token refresh over real HTTP and the real auth.json: the Grok CLI login must survive."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import CLIENT_ID, ENTRY, Home, cli_entry, make_jwt, point_at, state_file
from tests.fake_grok import FakeGrok, Grant, Reply
from watcher.errors import AuthExpired, RefreshNetworkFailure
from watcher.grok.deadline import Deadline
from watcher.grok.login import Login, SpentRefreshTokens
from watcher.grok.transport import Transport

EXPIRED = "Grok auth expired. Run `grok login` again."
OTHER = "https://accounts.example::other-client"


def soon(minutes: float = 2) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def ago(minutes: float = 2) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


@pytest.fixture
def expiring(ready: Home, grok: FakeGrok) -> Home:
    """A login whose token expires in two minutes, a second unrelated login beside it."""
    ready.write_auth(
        {
            ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=soon()),
            OTHER: {"key": "other-key", "auth_mode": "api_key", "create_time": 1, "user_id": 7},
        }
    )
    grok.accepted_tokens = {"access-new"}
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2", id_token="id-2")
    return ready


def test_token_near_expiry_is_refreshed_and_the_rotated_login_written_back(expiring, grok, run):
    before = expiring.read_auth()
    result = run("--status")
    assert result.code == 0, result.err

    (post,) = grok.token_posts()
    assert post.form == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "refresh_token": "refresh-1",
    }
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert grok.requests_to("/v1/billing?format=credits")[0].headers["Authorization"] == (
        "Bearer access-new"
    )

    after = expiring.read_auth()
    assert list(after) == list(before)
    assert after[OTHER] == before[OTHER]
    entry = after[ENTRY]
    assert set(entry) == set(before[ENTRY])
    assert (entry["key"], entry["refresh_token"], entry["id_token"]) == (
        "access-new",
        "refresh-2",
        "id-2",
    )
    untouched = {k: v for k, v in entry.items() if k not in ("key", "refresh_token", "id_token")}
    assert {k: before[ENTRY][k] for k in untouched if k != "expires_at"} == {
        k: v for k, v in untouched.items() if k != "expires_at"
    }
    expires_at = datetime.fromisoformat(entry["expires_at"])
    assert expires_at.utcoffset() == timedelta(0)
    assert abs(expires_at - (datetime.now(UTC) + timedelta(seconds=21600))) < timedelta(minutes=1)
    assert stat.S_IMODE(os.stat(expiring.auth_path).st_mode) == 0o600
    lock = expiring.auth_path.with_name("auth.json.lock")
    assert lock.exists()  # created if missing, never deleted


def test_older_field_names_and_zulu_times_are_written_back_in_their_own_style(ready, grok, run):
    ready.write_auth(
        {
            ENTRY: {
                "key": "access-old",
                "refresh": "refresh-1",
                "expires": soon().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "auth_mode": "oidc",
                "create_time": "2026-01-01T00:00:00Z",
                "user_id": "u",
            }
        }
    )
    grok.accepted_tokens = {"access-new"}
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2", id_token="id-2")
    assert run("--status").code == 0
    entry = ready.read_auth()[ENTRY]
    assert set(entry) == {"key", "refresh", "expires", "auth_mode", "create_time", "user_id"}
    assert entry["refresh"] == "refresh-2"
    assert entry["expires"].endswith("Z")
    assert datetime.fromisoformat(entry["expires"]) > datetime.now(UTC) + timedelta(hours=5)


def test_a_jwt_expiry_is_read_when_the_entry_has_no_expiry_field(ready, grok, run):
    entry = cli_entry(make_jwt(soon(1)), refresh="refresh-1")
    del entry["expires_at"]
    ready.write_auth({ENTRY: entry})
    grok.accepted_tokens = {"access-new"}
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    assert run("--status").code == 0
    written = ready.read_auth()[ENTRY]
    assert "expires_at" not in written  # the set of fields never changes
    assert written["key"] == "access-new"


def test_unrotated_refresh_keeps_the_refresh_token(expiring, grok, run):
    grok.grants["refresh-1"] = Grant("access-new", refresh_token=None, expires_in=None)
    assert run("--status").code == 0
    entry = expiring.read_auth()[ENTRY]
    assert entry["refresh_token"] == "refresh-1"
    assert entry["key"] == "access-new"


def test_401_refreshes_once_and_retries_the_request(ready, grok, run):
    ready.write_auth({ENTRY: cli_entry("revoked", refresh="refresh-1")})
    grok.accepted_tokens = {"access-new"}
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    result = run("--status")
    assert result.code == 0, result.err
    assert len(grok.token_posts()) == 1
    assert len(grok.requests_to("/v1/billing?format=credits")) == 2
    assert ready.read_auth()[ENTRY]["refresh_token"] == "refresh-2"


def test_401_after_a_refresh_means_expired_and_no_second_refresh(ready, grok, run):
    ready.write_auth({ENTRY: cli_entry("revoked", refresh="refresh-1")})
    grok.routes["/billing?format=credits"] = Reply(401)  # even the new token is refused
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    grok.grants["refresh-2"] = Grant("access-newer", refresh_token="refresh-3")
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, EXPIRED)
    assert len(grok.token_posts()) == 1
    # The rotated login is still saved: the old refresh token is spent either way.
    assert ready.read_auth()[ENTRY]["refresh_token"] == "refresh-2"


def test_a_refused_refresh_of_an_expired_token_means_expired_and_leaves_the_file(ready, grok, run):
    ready.write_auth({ENTRY: cli_entry("access-old", refresh="dead", expires_at=ago())})
    before = ready.auth_path.read_bytes()
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, EXPIRED)
    assert ready.auth_path.read_bytes() == before


def test_an_expired_login_that_cannot_be_refreshed_is_skipped_for_the_next(ready, grok, run):
    ready.write_auth(
        {
            ENTRY: cli_entry("access-old", refresh="dead", expires_at=ago()),
            OTHER: cli_entry("access-1", refresh=None),
        }
    )
    result = run("--status")
    assert result.code == 0, result.err
    assert grok.requests_to("/v1/billing?format=credits")[0].headers["Authorization"] == (
        "Bearer access-1"
    )


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_token_endpoint_is_transient_never_expired(ready, grok, run, status):
    ready.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=ago())})
    grok.token_reply = Reply(status)
    before = ready.auth_path.read_bytes()
    result = run("--status")
    assert (result.code, result.err.strip()) == (
        1,
        f"Grok login refresh failed (HTTP {status}). Try again later.",
    )
    assert ready.auth_path.read_bytes() == before


def test_an_unreachable_token_endpoint_is_a_network_failure(home, grok, run):
    home.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=ago())})
    home.write_config(
        f'[grok]\napi_base = "{grok.api_base}"\ntoken_url = "http://127.0.0.1:9/token"\n'
    )
    result = run("--status", "--json")
    assert result.code == 1
    assert json.loads(result.out)["error"] == {
        "kind": "refresh_network",
        "message": "Grok login refresh failed. Check your connection.",
    }


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, body=b"<html>maintenance</html>"),
        Reply(200, json=["not", "an", "object"]),
        Reply(200, json={"token_type": "Bearer"}),  # no access_token
    ],
)
def test_a_token_answer_not_understood_is_worded_as_the_refresh(ready, grok, run, reply):
    ready.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=ago())})
    grok.token_reply = reply
    before = ready.auth_path.read_bytes()
    result = run("--status", "--json")
    assert result.code == 1
    assert json.loads(result.out)["error"] == {
        "kind": "refresh_response_changed",
        "message": "Grok login refresh response changed.",
    }
    assert ready.auth_path.read_bytes() == before


def _login(home: Home, token_url: str, spent: SpentRefreshTokens) -> Login:
    deadline = Deadline(30)
    return Login(
        auth_path=home.auth_path,
        token_url=token_url,
        transport=Transport(0.5, deadline),
        deadline=deadline,
        now=lambda: datetime.now(UTC),
        spent=spent,
    )


def test_a_refresh_that_never_connected_leaves_the_token_to_send_again(home, grok):
    home.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=ago())})
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    spent = SpentRefreshTokens()
    with pytest.raises(RefreshNetworkFailure) as failure:
        _login(home, "http://127.0.0.1:9/token", spent).credentials()
    assert failure.value.message == "Grok login refresh failed. Check your connection."
    assert failure.value.kind == "refresh_network"
    # Nothing reached a server, so refresh-1 is not spent: the next check sends it.
    assert _login(home, grok.token_url, spent).credentials().access_token == "access-new"
    assert len(grok.token_posts()) == 1


def test_a_refresh_cut_off_after_sending_never_sends_the_token_again(home, grok):
    home.write_auth({ENTRY: cli_entry("access-old", refresh="refresh-1", expires_at=ago())})
    grok.token_reply = Reply(200, json={"access_token": "lost"}, delay=2)  # past the timeout
    spent = SpentRefreshTokens()
    with pytest.raises(RefreshNetworkFailure):
        _login(home, grok.token_url, spent).credentials()
    grok.token_reply = None
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    # refresh-1 may have been spent by the server: never sent a second time.
    with pytest.raises(AuthExpired):
        _login(home, grok.token_url, spent).credentials()
    assert len(grok.token_posts()) == 1


def test_a_failing_refresh_still_reads_with_a_token_that_has_minutes_left(expiring, grok, run):
    grok.token_reply = Reply(503)
    grok.accepted_tokens.add("access-old")
    assert run("--status").code == 0


def _hold_lock(home: Home) -> int:
    fd = os.open(home.auth_path.with_name("auth.json.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_token_refreshed_by_another_process_under_the_lock_is_adopted(expiring, grok, run):
    lock = _hold_lock(expiring)

    def the_grok_cli_refreshes() -> None:
        document = expiring.read_auth()
        document[ENTRY]["key"] = "access-by-cli"
        document[ENTRY]["refresh_token"] = "refresh-by-cli"
        document[ENTRY]["expires_at"] = soon(360).isoformat()
        expiring.write_auth(document)
        os.close(lock)  # releases the lock

    grok.accepted_tokens.add("access-by-cli")
    timer = threading.Timer(0.3, the_grok_cli_refreshes)
    timer.start()
    result = run("--status")
    timer.join()
    assert result.code == 0, result.err
    assert grok.token_posts() == []  # refresh-1 is spent by the CLI: never sent
    assert grok.requests_to("/v1/billing?format=credits")[0].headers["Authorization"] == (
        "Bearer access-by-cli"
    )
    assert expiring.read_auth()[ENTRY]["refresh_token"] == "refresh-by-cli"


def test_a_lock_held_too_long_is_a_transient_failure_and_nothing_is_sent(expiring, grok, run):
    expiring.write_config(point_at(grok, timeout=0.3))
    document = expiring.read_auth()
    document[ENTRY]["expires_at"] = ago().isoformat()
    expiring.write_auth(document)
    lock = _hold_lock(expiring)
    try:
        result = run("--status")
    finally:
        os.close(lock)
    assert result.code == 1
    assert result.err.strip() == (
        "Grok login is locked by another process (auth.json.lock). Try again later."
    )
    assert grok.token_posts() == []


def test_a_file_that_stops_parsing_during_the_refresh_is_never_rewritten(expiring, grok, run):
    garbage = '{"half": "writ'
    grok.on_token_request = lambda: expiring.auth_path.write_text(garbage)
    result = run("--status")
    assert result.code == 0, result.err  # the new token still serves this reading
    assert expiring.auth_path.read_text() == garbage
    assert "not saved" in result.err


def test_an_entry_that_vanished_during_the_refresh_is_not_written_back(expiring, grok, run):
    def user_logs_out() -> None:
        document = expiring.read_auth()
        del document[ENTRY]
        expiring.write_auth(document)

    grok.on_token_request = user_logs_out
    run("--status")
    assert ENTRY not in expiring.read_auth()


def test_an_entry_added_during_the_refresh_is_kept(expiring, grok, run):
    def another_login_arrives() -> None:
        document = expiring.read_auth()
        document["https://auth.x.ai::new-client"] = {"key": "k2", "user_id": "u2"}
        expiring.write_auth(document)

    grok.on_token_request = another_login_arrives
    assert run("--status").code == 0
    after = expiring.read_auth()
    assert after["https://auth.x.ai::new-client"] == {"key": "k2", "user_id": "u2"}
    assert after[ENTRY]["key"] == "access-new"


def test_a_symlinked_auth_file_stays_a_symlink(expiring, grok, run):
    real = expiring.root / "dotfiles" / "auth.json"
    real.parent.mkdir()
    expiring.auth_path.rename(real)
    expiring.auth_path.symlink_to(real)
    assert run("--status").code == 0
    assert expiring.auth_path.is_symlink()
    assert json.loads(real.read_text())[ENTRY]["key"] == "access-new"


def test_the_entrys_own_client_id_wins_and_a_bare_key_gets_the_default(ready, grok, run):
    ready.write_auth(
        {ENTRY: cli_entry("a", refresh="refresh-1", expires_at=ago(), oidc_client_id="mine")}
    )
    grok.accepted_tokens = {"access-new"}
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-2")
    assert run("--status").code == 0
    assert grok.token_posts()[0].form["client_id"] == "mine"

    ready.write_auth({"bare": cli_entry("a", refresh="refresh-2", expires_at=ago())})
    grok.grants["refresh-2"] = Grant("access-new", refresh_token="refresh-3")
    assert run("--status").code == 0
    assert grok.token_posts()[1].form["client_id"] == CLIENT_ID


def test_verbose_output_never_shows_a_token(expiring, grok, run):
    result = run("--status", "-v")
    assert result.code == 0
    assert "HTTP 200" in result.err  # -v does say what happened
    for secret in ("access-old", "access-new", "refresh-1", "refresh-2", "id-2"):
        assert secret not in result.err
        assert secret not in result.out


def test_a_spent_refresh_token_is_remembered_and_never_sent_by_a_later_check(expiring, grok, run):
    """A backup of auth.json put back after a refresh holds the spent refresh token: a later
    check -- another process, nothing in memory -- must not send it (the server may end the
    whole login). The state keeps a fingerprint of it, never the token."""
    backup = expiring.auth_path.read_bytes()
    assert run("--check").code == 0
    assert [p.form["refresh_token"] for p in grok.token_posts()] == ["refresh-1"]
    state = state_file(expiring).read_text()
    assert "refresh-1" not in state and "refresh-2" not in state
    assert "spent_refresh_tokens" in state
    expiring.auth_path.write_bytes(backup)
    grok.grants["refresh-1"] = Grant("access-new", refresh_token="refresh-3")  # would be granted
    expired = {**json.loads(backup)[ENTRY], "expires_at": ago().isoformat()}
    expiring.write_auth({ENTRY: expired})
    result = run("--check")
    assert result.code == 1
    assert "Grok auth expired. Run `grok login` again." in result.out
    assert [p.form["refresh_token"] for p in grok.token_posts()] == ["refresh-1"]


def test_a_refresh_token_the_server_did_not_rotate_is_not_remembered_as_spent(expiring, grok, run):
    grok.grants["refresh-1"] = Grant("access-new", refresh_token=None, expires_in=None)
    assert run("--check").code == 0
    assert "spent_refresh_tokens" not in state_file(expiring).read_text()
