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
