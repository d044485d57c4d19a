"""auth.json with plain files: which login is used, and how a refreshed one is written back."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime

import pytest

from tests.conftest import ENTRY, cli_entry, make_jwt
from watcher.errors import AuthNotWritable
from watcher.grok.auth_file import (
    DEFAULT_CLIENT_ID,
    RefreshedTokens,
    ensure_writable,
    jwt_expiry,
    login_entries,
    write_back,
)
from watcher.paths import default_auth_path

NEW_EXPIRY = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
TOKENS = RefreshedTokens("access-new", "refresh-new", "id-new", NEW_EXPIRY)


def test_auth_path_follows_grok_home():
    assert str(default_auth_path({"HOME": "/h"})) == "/h/.grok/auth.json"
    assert str(default_auth_path({"HOME": "/h", "GROK_HOME": "/g"})) == "/g/auth.json"


def test_jwt_expiry_is_read_without_verifying():
    assert jwt_expiry(make_jwt(NEW_EXPIRY)) == NEW_EXPIRY
    for token in ("opaque", "a.b.c", "a.!!!.c", make_jwt(NEW_EXPIRY).replace(".sig", "")):
        assert jwt_expiry(token) is None


def test_login_entries_keep_file_order_and_skip_what_holds_no_token():
    document = {
        "a": {"key": ""},
        "b": ["not", "an", "object"],
        "https://auth.x.ai::client-c": {"key": "token-c", "refresh": "r"},
        "d": {"key": "token-d", "expires": 1790000000000},
    }
    entries = login_entries(document)
    assert [e.name for e in entries] == ["https://auth.x.ai::client-c", "d"]
    assert entries[0].client_id == "client-c"
    assert entries[0].refresh_token == "r"
    assert entries[1].client_id == DEFAULT_CLIENT_ID
    assert entries[1].expires_at == datetime.fromtimestamp(1790000000, UTC)


def test_an_entry_never_shows_its_tokens_in_a_repr():
    (entry,) = login_entries({ENTRY: cli_entry("secret-access", refresh="secret-refresh")})
    assert "secret" not in repr(entry)
    assert "secret" not in repr(TOKENS) + repr(RefreshedTokens("secret", "secret", "s", NEW_EXPIRY))


def _write(tmp_path, document, indent=2):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(document, indent=indent) + "\n")
    path.chmod(0o644)
    return path


def test_only_token_values_change_in_the_types_the_file_already_has(tmp_path):
    entry = {
        "key": "old",
        "refresh": None,
        "expires": 1790000000,
        "id_token": None,
        "auth_mode": "oidc",
        "create_time": 5,
        "user_id": "u",
        "nested": {"keep": [1, 2.5, True]},
    }
    path = _write(tmp_path, {ENTRY: entry, "other": {"key": "x", "ü": "ß"}})
    assert write_back(path, ENTRY, TOKENS)
    written = json.loads(path.read_text())
    assert written["other"] == {"key": "x", "ü": "ß"}
    assert written[ENTRY] == {
        **entry,
        "key": "access-new",
        "refresh": "refresh-new",
        "id_token": "id-new",
        "expires": int(NEW_EXPIRY.timestamp()),
    }
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith('{\n  "https')  # the file's own indentation
    assert "ß" in path.read_text()  # not escaped


def test_millisecond_and_float_expiries_keep_their_unit_and_type(tmp_path):
    path = _write(tmp_path, {"a": {"key": "k", "expires_at": 1790000000000}})
    write_back(path, "a", TOKENS)
    assert json.loads(path.read_text())["a"]["expires_at"] == int(NEW_EXPIRY.timestamp() * 1000)
    path = _write(tmp_path, {"a": {"key": "k", "expires_at": 1790000000.5}})
    write_back(path, "a", TOKENS)
    assert json.loads(path.read_text())["a"]["expires_at"] == NEW_EXPIRY.timestamp()


def test_fields_the_entry_lacks_are_never_added(tmp_path):
    path = _write(tmp_path, {"a": {"key": "k", "user_id": "u"}})
    write_back(path, "a", TOKENS)
    assert json.loads(path.read_text()) == {"a": {"key": "access-new", "user_id": "u"}}


def test_an_iso_expiry_keeps_its_offset_style(tmp_path):
    path = _write(tmp_path, {"a": {"key": "k", "expires_at": "2026-01-01T00:00:00+00:00"}})
    write_back(path, "a", TOKENS)
    assert json.loads(path.read_text())["a"]["expires_at"] == "2026-11-27T04:00:00+00:00"


@pytest.mark.parametrize("content", ['{"a": {"key": "k"', "[]", ""])
def test_a_file_that_does_not_parse_is_never_rewritten(tmp_path, content):
    path = tmp_path / "auth.json"
    path.write_text(content)
    assert not write_back(path, "a", TOKENS)
    assert path.read_text() == content


def test_a_vanished_entry_is_not_written_back(tmp_path):
    path = _write(tmp_path, {"b": {"key": "k"}})
    before = path.read_bytes()
    assert not write_back(path, "a", TOKENS)
    assert path.read_bytes() == before


def test_no_temporary_file_is_left_behind(tmp_path):
    path = _write(tmp_path, {"a": {"key": "k"}})
    write_back(path, "a", TOKENS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.json"]


def test_a_write_back_that_fails_keeps_the_file_and_says_the_login_may_be_lost(tmp_path, caplog):
    path = _write(tmp_path, {"a": {"key": "k"}})
    before = path.read_bytes()
    # A directory where the temporary file goes: replacing fails for every user, root too.
    (tmp_path / f".auth.json.{os.getpid()}.tmp").mkdir()
    assert not write_back(path, "a", TOKENS)
    assert path.read_bytes() == before
    assert f"could not be saved to {path} (Is a directory)" in caplog.text


def test_the_write_check_leaves_nothing_behind_and_names_what_stops_it(tmp_path):
    path = _write(tmp_path, {"a": {"key": "k"}})
    before = path.read_bytes()
    ensure_writable(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.json"]
    (tmp_path / f".auth.json.{os.getpid()}.tmp").mkdir()
    with pytest.raises(AuthNotWritable) as failure:
        ensure_writable(path)
    assert failure.value.message == (
        f"Grok login {path} needs a refresh but cannot be written (Is a directory); "
        "not refreshing, so the login is kept. Free some space or fix the permissions."
    )
    assert path.read_bytes() == before
