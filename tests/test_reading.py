"""Reading usage through real HTTP against the fake Grok server: endpoints, headers, messages."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ENTRY, MONTHLY_BODY, POOL_BODY, POOL_END, Home, cli_entry, point_at
from tests.fake_grok import FakeGrok, Reply
from watcher import __version__

NOT_LOGGED_IN = "Grok not logged in. Run `grok login`."
EXPIRED = "Grok auth expired. Run `grok login` again."
INVALID = "Grok auth invalid. Run `grok login` again."
NETWORK = "Grok billing request failed. Check your connection."
CHANGED = "Grok billing response changed."


def test_pool_shape_is_read_from_the_credits_endpoint_with_the_seed_headers(ready, grok, run):
    result = run("--status", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["percent_used"] == 83.4
    assert document["meter"] == "pool"
    assert document["period"]["end"] == POOL_END.isoformat()
    assert document["plan"] == "SuperGrok Heavy"
    assert document["source"] == "/billing?format=credits"
    (billing,) = grok.requests_to("/v1/billing?format=credits")
    assert billing.headers["Authorization"] == "Bearer access-1"
    assert billing.headers["X-XAI-Token-Auth"] == "xai-grok-cli"
    assert billing.headers["Accept"] == "application/json"
    assert billing.headers["User-Agent"] == f"grok-usage-watcher/{__version__}"
    assert grok.requests_to("/v1/billing") == []


def test_auto_falls_back_to_plain_billing_when_credits_format_is_unknown(ready, grok, run):
    for status in (400, 404, 405):
        grok.requests.clear()
        grok.routes["/billing?format=credits"] = Reply(status)
        grok.routes["/billing"] = Reply(json=MONTHLY_BODY)
        result = run("--status", "--json")
        assert result.code == 0, result.err
        document = json.loads(result.out)
        assert document["meter"] == "monthly"
        assert document["percent_used"] == 4277 * 100 / 60000
        assert document["source"] == "/billing"
        assert len(grok.requests_to("/v1/billing")) == 1


def test_auto_does_not_fall_back_on_server_errors(ready, grok, run):
    grok.routes["/billing?format=credits"] = Reply(500)
    grok.routes["/billing"] = Reply(json=MONTHLY_BODY)
    result = run("--status")
    assert result.code == 1
    assert result.err.strip() == "Grok billing request failed (HTTP 500). Try again later."
    assert grok.requests_to("/v1/billing") == []


def test_body_shape_decides_the_meter_not_the_url(ready, grok, run):
    # The old URL answering with the pool shape is still read as the pool.
    ready.write_config(point_at(grok, extra='billing = "legacy"\n'))
    grok.routes["/billing"] = Reply(json=POOL_BODY)
    result = run("--status", "--json")
    assert json.loads(result.out)["meter"] == "pool"
    assert grok.requests_to("/v1/billing?format=credits") == []


def test_credits_mode_never_asks_the_old_meter(ready, grok, run):
    ready.write_config(point_at(grok, extra='billing = "credits"\n'))
    grok.routes["/billing?format=credits"] = Reply(404)
    grok.routes["/billing"] = Reply(json=MONTHLY_BODY)
    result = run("--status")
    assert result.err.strip() == "Grok billing request failed (HTTP 404). Try again later."
    assert grok.requests_to("/v1/billing") == []


@pytest.mark.parametrize(
    "settings_reply",
    [Reply(500), Reply(body=b"<html>"), Reply(json={"other": 1}), Reply(delay=5)],
    ids=["http-500", "not-json", "no-label", "hangs"],
)
def test_a_failing_settings_call_never_fails_the_reading(ready, grok, run, settings_reply):
    ready.write_config(point_at(grok, timeout=0.5))
    grok.routes["/settings"] = settings_reply
    result = run("--status")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "Grok          plan unknown"


# --- the messages, exactly ------------------------------------------------------------------


def test_no_auth_file_means_not_logged_in(home, grok, run):
    home.write_config(point_at(grok))
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, NOT_LOGGED_IN)
    assert grok.requests == []


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '"text"', "null"])
def test_auth_file_that_is_not_a_json_object_means_not_logged_in(home, grok, run, content):
    home.write_config(point_at(grok))
    home.write_auth(content)
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, NOT_LOGGED_IN)
    assert home.auth_path.read_text() == content  # never touched


@pytest.mark.parametrize(
    "document", [{}, {ENTRY: {"key": ""}}, {ENTRY: "text"}, {ENTRY: {"refresh_token": "r"}}]
)
def test_no_usable_entry_means_invalid(home, grok, run, document):
    home.write_config(point_at(grok))
    home.write_auth(document)
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, INVALID)


def test_expired_token_without_refresh_token_means_expired(home, grok, run):
    from datetime import UTC, datetime, timedelta

    home.write_config(point_at(grok))
    past = datetime.now(UTC) - timedelta(minutes=1)
    home.write_auth({ENTRY: cli_entry("access-1", refresh=None, expires_at=past)})
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, EXPIRED)
    assert grok.requests == []


def test_401_without_a_way_to_refresh_means_expired(ready, grok, run):
    ready.write_auth({ENTRY: cli_entry("revoked", refresh=None)})
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, EXPIRED)


@pytest.mark.parametrize("status", [403, 429, 500, 502, 503])
def test_other_http_statuses_name_the_status(ready, grok, run, status):
    grok.routes["/billing?format=credits"] = Reply(status)
    result = run("--status")
    expected = (
        EXPIRED
        if status == 403
        else f"Grok billing request failed (HTTP {status}). Try again later."
    )
    assert (result.code, result.err.strip()) == (1, expected)


def test_the_verbose_log_gives_an_error_bodys_real_length(ready, grok, run):
    grok.routes["/billing?format=credits"] = Reply(400, body=b'{"error":"bad request!!!"}')
    result = run("--status", "-v")
    assert result.code == 1
    assert "/billing?format=credits -> HTTP 400 (" in result.err
    assert " ms, 26 bytes)" in result.err  # not "0 bytes": the body was there
    assert "bad request" not in result.err  # its length, never its content


def test_a_slow_error_body_never_holds_the_reading(ready, grok, run):
    """The status is the answer: a body that trickles (or never ends) is counted for -v only
    as far as it comes within half a second, and not read at all without -v."""
    import time

    grok.routes["/billing?format=credits"] = Reply(500, endless=True)
    for argv in (("--status",), ("--status", "-v")):
        started = time.monotonic()
        result = run(*argv)
        assert time.monotonic() - started < 3
        assert "Grok billing request failed (HTTP 500). Try again later." in result.err
    assert " or more bytes)" in result.err


def test_a_redirect_is_not_followed_with_the_token(ready, grok, run):
    grok.routes["/billing?format=credits"] = Reply(
        302, headers={"Location": "http://127.0.0.2:9/steal"}
    )
    result = run("--status")
    assert result.err.strip() == "Grok billing request failed (HTTP 302). Try again later."


def test_connection_refused_means_network(home, run):
    home.write_auth({ENTRY: cli_entry("access-1")})
    home.write_config('[grok]\napi_base = "http://127.0.0.1:9/v1"\n')
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, NETWORK)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>maintenance</html>",
        b"[]",
        b'{"config": []}',
        b'{"config": {"history": []}}',
        b'{"config": {"creditUsagePercent": "lots"}}',
        b'{"config": {"creditUsagePercent": -1}}',
        b'{"config": {"used": {"val": 5}}}',
        b'{"config": {"used": {"val": 5}, "monthlyLimit": {"val": 0}}}',
        b'{"config": {"used": {"val": "NaN"}, "monthlyLimit": {"val": 10}}}',
        b'{"config": {"creditUsagePercent": 5, "currentPeriod": {"end": "next week"}}}',
    ],
)
def test_bodies_that_are_not_understood_mean_changed(ready, grok, run, body):
    grok.routes["/billing?format=credits"] = Reply(body=body)
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, CHANGED)


def test_status_json_failure_is_one_object_on_stdout_and_the_message_on_stderr(home, run):
    result = run("--status", "--json")
    assert result.code == 1
    assert json.loads(result.out) == {
        "schema": 1,
        "error": {"kind": "not_logged_in", "message": NOT_LOGGED_IN},
    }
    assert result.err.strip() == NOT_LOGGED_IN


# --- bounds ---------------------------------------------------------------------------------


def _timed(run, *argv):  # type: ignore[no-untyped-def]
    import time

    started = time.monotonic()
    result = run(*argv)
    return result, time.monotonic() - started


def test_a_hung_server_is_given_up_on_within_the_deadline(ready, grok, run):
    ready.write_config(point_at(grok, timeout=0.5))
    grok.routes["/billing?format=credits"] = Reply(delay=10)
    result, elapsed = _timed(run, "--status")
    assert (result.code, result.err.strip()) == (1, NETWORK)
    assert elapsed < 5  # deadline is 1 s; the bound only guards against hanging


def test_a_server_trickling_bytes_cannot_outlast_the_deadline(ready, grok, run):
    # Each byte arrives well within the per-read timeout, so only the deadline can stop it.
    ready.write_config(point_at(grok, timeout=0.5))
    grok.routes["/billing?format=credits"] = Reply(trickle=0.1)
    result, elapsed = _timed(run, "--status")
    assert (result.code, result.err.strip()) == (1, NETWORK)
    assert elapsed < 5


def test_a_body_over_one_mebibyte_is_not_read(ready, grok, run):
    padding = "x" * (1024 * 1024)
    grok.routes["/billing?format=credits"] = Reply(
        json={"config": {"creditUsagePercent": 5}, "padding": padding}
    )
    result = run("--status")
    assert (result.code, result.err.strip()) == (1, CHANGED)


def test_an_endless_body_is_cut_at_one_mebibyte(ready, grok, run):
    grok.routes["/billing?format=credits"] = Reply(endless=True)
    result, elapsed = _timed(run, "--status")
    assert (result.code, result.err.strip()) == (1, CHANGED)
    assert elapsed < 5


def test_a_body_just_under_the_cap_is_read(ready, grok, run):
    body = json.dumps({"config": {"creditUsagePercent": 5}, "padding": ""}).encode()
    body = body.replace(b'""', b'"' + b"x" * (1024 * 1024 - len(body)) + b'"')
    assert len(body) == 1024 * 1024
    grok.routes["/billing?format=credits"] = Reply(body=body)
    assert run("--status").code == 0


def test_home_with_grok_home_set_reads_that_auth_file(home: Home, grok: FakeGrok, run, monkeypatch):
    other = home.root / "elsewhere"
    other.mkdir()
    (other / "auth.json").write_text(json.dumps({ENTRY: cli_entry("access-1")}))
    monkeypatch.setenv("GROK_HOME", str(other))
    grok.accepted_tokens.add("access-1")
    grok.routes["/billing?format=credits"] = Reply(json=POOL_BODY)
    home.write_config(point_at(grok))
    assert run("--status").code == 0


def test_the_clis_proxy_variable_points_the_watcher_at_its_api(home, grok, run, monkeypatch):
    grok.accepted_tokens.add("access-1")
    grok.routes["/billing?format=credits"] = Reply(json=POOL_BODY)
    home.write_auth({ENTRY: cli_entry("access-1")})
    monkeypatch.setenv("GROK_CLI_CHAT_PROXY_BASE_URL", grok.api_base)
    assert run("--status").code == 0
    assert len(grok.requests_to("/v1/billing?format=credits")) == 1
