"""Which login `--status` names, and its state, read from real auth.json files."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ENTRY, Home, cli_entry, make_jwt
from tests.fake_grok import FakeGrok, Grant
from watcher.grok.auth_file import login_entries, read_auth_document
from watcher.grok.deadline import Deadline
from watcher.grok.identity import LoginView, describe_login, used_entry
from watcher.grok.login import Login, SpentRefreshTokens
from watcher.grok.transport import Transport

NOW = datetime.now(UTC).replace(microsecond=0)
LATER = NOW + timedelta(hours=5)
AGO = NOW - timedelta(hours=1)
OTHER = "https://auth.x.ai::client-2"


def id_token(**claims: Any) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': 'user-1', **claims})}.signature"


def write(tmp_path, document: Any) -> Any:
    path = tmp_path / "auth.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2))
    return path


# --- who ------------------------------------------------------------------------------------------


def test_the_entrys_email_names_the_login(tmp_path):
    entry = cli_entry("access", expires_at=LATER, email="me@example.com")
    entry["id_token"] = id_token(email="other@example.com")
    path = write(tmp_path, {ENTRY: entry})
    assert describe_login(path, NOW) == LoginView("me@example.com", LATER, renewable=True)


def test_else_the_id_tokens_email_claim(tmp_path):
    entry = cli_entry("access", expires_at=LATER, id_token=id_token(email="id@example.com"))
    assert describe_login(write(tmp_path, {ENTRY: entry}), NOW).who == "id@example.com"


@pytest.mark.parametrize(
    "extra",
    [
        {},  # cli_entry's id token is "id-1": not a JWT
        {"id_token": id_token()},  # no email claim
        {"id_token": id_token(email=42)},
        {"id_token": "a.!!!.c"},
        {"id_token": None, "email": ""},
        {"id_token": id_token(email="\x1b\x07\n")},  # nothing left once made printable
    ],
)
def test_else_the_entrys_name(tmp_path, extra):
    path = write(tmp_path, {ENTRY: cli_entry("access", expires_at=LATER, **extra)})
    assert describe_login(path, NOW).who == ENTRY


def test_control_characters_never_reach_the_terminal(tmp_path):
    entry = cli_entry("access", expires_at=LATER, email="me\x1b]0;owned\x07@example.com\n")
    assert describe_login(write(tmp_path, {ENTRY: entry}), NOW).who == "me]0;owned@example.com"


# --- its state ----------------------------------------------------------------------------------


def test_expiry_and_whether_it_renews_itself(tmp_path):
    path = write(tmp_path, {ENTRY: cli_entry("access", refresh=None, expires_at=LATER)})
    assert describe_login(path, NOW) == LoginView(ENTRY, LATER, renewable=False)


def test_the_expiry_falls_back_to_the_access_tokens_own(tmp_path):
    entry = cli_entry(make_jwt(LATER))
    del entry["expires_at"]
    assert describe_login(write(tmp_path, {ENTRY: entry}), NOW).expires_at == LATER


def test_an_expired_login_that_cannot_renew_is_still_shown_expired(tmp_path):
    # The reading fails with "expired"; the picture says which login to renew.
    document = {
        ENTRY: cli_entry("a", refresh=None, expires_at=AGO, email="first@example.com"),
        OTHER: cli_entry("b", refresh=None, expires_at=AGO, email="second@example.com"),
    }
    view = describe_login(write(tmp_path, document), NOW)
    assert view == LoginView("first@example.com", AGO, renewable=False)


# --- which entry: the same as the login code ---------------------------------------------------

CHOICES = {
    "the first valid one": [("a", "r-a", LATER), ("b", "r-b", LATER)],
    "an expired one that cannot renew is skipped": [("a", None, AGO), ("b", None, LATER)],
    "an expired one that can renew is used": [("a", "r-a", AGO), ("b", "r-b", LATER)],
    "one about to expire is used while valid": [
        ("a", None, NOW + timedelta(minutes=2)),
        ("b", "r-b", LATER),
    ],
}


@pytest.mark.parametrize("entries", CHOICES.values(), ids=CHOICES.keys())
def test_the_login_read_is_the_one_the_login_code_uses(home: Home, grok: FakeGrok, entries):
    document = {
        f"https://auth.x.ai::{key}": cli_entry(f"access-{key}", refresh=refresh, expires_at=at)
        for key, refresh, at in entries
    }
    home.write_auth(document)
    for _key, refresh, _at in entries:
        if refresh:
            grok.grants[refresh] = Grant(f"new-{refresh}", refresh_token=f"{refresh}-2")
    chosen = used_entry(login_entries(read_auth_document(home.auth_path)), NOW)
    deadline = Deadline(30)
    login = Login(
        auth_path=home.auth_path,
        token_url=grok.token_url,
        transport=Transport(5, deadline),
        deadline=deadline,
        now=lambda: NOW,
        spent=SpentRefreshTokens(),
    )
    assert chosen is not None
    assert chosen.name == login.credentials().entry_name


# --- nothing to show ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        "[1, 2]",
        "{}",
        json.dumps({ENTRY: {"key": ""}, "other": ["x"]}),
        "[" * 100_000 + "]" * 100_000,  # nested past the parser's recursion limit
        b"\xff\xfe{}",
    ],
    ids=["empty", "corrupt", "not an object", "no entries", "no token", "deep", "not utf-8"],
)
def test_a_file_with_no_login_shows_none(tmp_path, content):
    path = tmp_path / "auth.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert describe_login(path, NOW) is None


def test_no_file_or_an_unreadable_one_shows_none(tmp_path):
    assert describe_login(tmp_path / "missing.json", NOW) is None
    assert describe_login(tmp_path, NOW) is None  # a directory: cannot be read
    link = tmp_path / "auth.json"
    link.symlink_to(tmp_path / "gone.json")
    assert describe_login(link, NOW) is None


def test_no_token_is_returned_or_logged(tmp_path, caplog):
    entry = cli_entry("secret-access", refresh="secret-refresh", expires_at=LATER)
    entry["id_token"] = id_token(email="me@example.com", secret="secret-id")
    path = write(tmp_path, {ENTRY: entry, "bad": {"key": "secret-other", "expires_at": "x"}})
    with caplog.at_level(logging.DEBUG):
        view = describe_login(path, NOW)
        describe_login(tmp_path / "missing.json", NOW)
    assert view is not None
    assert "secret" not in repr(view) + str(list(view)) + caplog.text
