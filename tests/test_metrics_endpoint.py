"""`[export] listen`: the service's /metrics over real HTTP on loopback."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from watcher.service.metrics_endpoint import MetricsEndpoint, is_loopback


@pytest.fixture
def endpoint():
    server = MetricsEndpoint("127.0.0.1", 0)
    try:
        yield server
    finally:
        server.close()


def get(endpoint: MetricsEndpoint, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{endpoint.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], ""


def test_it_serves_what_the_last_check_left(endpoint):
    assert get(endpoint, "/metrics")[0] == 200  # before the first check: nothing yet
    endpoint.update("# HELP grok_usage_up x\n# TYPE grok_usage_up gauge\ngrok_usage_up 1\n")
    status, content_type, body = get(endpoint, "/metrics")
    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert body.endswith("grok_usage_up 1\n")
    assert get(endpoint, "/")[0] == 404


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("metrics.example", False),
    ],
)
def test_what_counts_as_this_machine_only(host, loopback):
    assert is_loopback(host) is loopback


def test_a_host_other_machines_reach_is_a_warning_at_start(caplog):
    import logging

    from watcher.service.loop import _serve_metrics

    with caplog.at_level(logging.INFO, logger="watcher"):
        for host in ("127.0.0.1", "0.0.0.0"):
            _serve_metrics(host, 0).close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("[export] listen = 0.0.0.0:0 is reachable")


def test_a_service_check_that_cannot_run_is_up_0_not_the_last_reading(ready, tmp_path):
    from watcher.config import load_config
    from watcher.service.loop import Service, Signals
    from watcher.service.sd_notify import Notifier

    state_path = tmp_path / "state.toml"
    config = load_config(None, ready.env)
    service = Service(config, None, state_path, ready.env, Notifier.from_environ({}), Signals())
    service.metrics = MetricsEndpoint("127.0.0.1", 0)
    try:
        service.check()
        assert 'grok_usage_up{account="default"} 1\n' in service.metrics.text().decode()
        state_path.write_text("# grok-usage-watcher state\nversion = 99\n")  # refused now
        service.check()
        text = service.metrics.text().decode()
        assert 'grok_usage_up{account="default"} 0\n' in text
        assert "grok_usage_last_success_timestamp_seconds" in text  # the last good one's time
        assert "grok_usage_credits_used_ratio" not in text
    finally:
        service.metrics.close()


def test_a_changed_listen_on_sighup_says_it_waits_for_the_next_start(ready, tmp_path, caplog):
    import logging

    from watcher.config import load_config
    from watcher.service.loop import Service, Signals
    from watcher.service.sd_notify import Notifier

    path = tmp_path / "config.toml"
    path.write_text('[export]\nlisten = "127.0.0.1:39877"\n')
    config = load_config(path, ready.env)
    service = Service(
        config, path, tmp_path / "state.toml", ready.env, Notifier.from_environ({}), Signals()
    )
    path.write_text('[export]\nlisten = "127.0.0.1:39878"\n')
    with caplog.at_level(logging.INFO, logger="watcher"):
        assert service.reload() is not None
    assert any(
        r.levelno == logging.WARNING and "changes at the next start" in r.getMessage()
        for r in caplog.records
    )
