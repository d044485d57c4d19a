"""config/prometheus/: the alerting rules and the Alertmanager example, checked by the real tools.

`promtool check rules` on the rules, `promtool test rules` on their unit tests
(tests/prometheus/grok-usage.rules.test.yml: input series under which each alert fires and
does not), `promtool check metrics` on a hand-written exposition of the metric names the rules
read, and `amtool check-config` plus `amtool config routes test` on the Alertmanager example.

promtool and amtool come from Debian's `prometheus` and `prometheus-alertmanager` packages;
.ci/run takes the two binaries out of the .debs. Without them these tests skip and say how to
get them, except under CI (CI=true), where a missing tool fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from watcher.config import DEFAULT_INTERVAL

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "config" / "prometheus" / "grok-usage.rules.yml"
ALERTMANAGER_EXAMPLE = ROOT / "config" / "prometheus" / "alertmanager-route.example.yml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "grok-usage.rules.test.yml"
SAMPLE_EXPOSITION = ROOT / "tests" / "prometheus" / "grok-usage.sample.prom"
# Where .ci/run puts promtool and amtool (it also puts the directory on PATH).
CI_TOOLS = Path.home() / ".cache" / "grok-usage-watcher-ci" / "prometheus-tools"

# The exporter's metric names (gauges but the counter), as the rules and the sample use them.
METRICS = {
    "grok_usage_credits_used_ratio": "gauge",
    "grok_usage_period_start_timestamp_seconds": "gauge",
    "grok_usage_period_end_timestamp_seconds": "gauge",
    "grok_usage_period_elapsed_ratio": "gauge",
    "grok_usage_projected_used_ratio": "gauge",
    "grok_usage_pay_as_you_go_cap_dollars": "gauge",
    "grok_usage_pay_as_you_go_used_dollars": "gauge",
    "grok_usage_login_expiry_timestamp_seconds": "gauge",
    "grok_usage_last_success_timestamp_seconds": "gauge",
    "grok_usage_up": "gauge",
    "grok_usage_alerts_delivered_total": "counter",
    "grok_usage_watcher_info": "gauge",
}


# -- the tools -------------------------------------------------------------------------------


def _tool(name: str, package: str) -> str:
    """The path of `name`: on PATH, else where .ci/run installs it. Skips the test (fails it
    under CI) when neither has it."""
    found = shutil.which(name)
    if found:
        return found
    candidate = CI_TOOLS / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    reason = (
        f"{name} is not on PATH nor in {CI_TOOLS}: .ci/run puts it there from Debian's "
        f"`{package}` package (`apt-get download {package}`, then `dpkg-deb -x` the .deb into a "
        f"directory: its usr/bin/{name}); or `apt install {package}`"
    )
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI must have {name}. {reason}")
    pytest.skip(reason)


def promtool() -> str:
    """promtool's path (Debian: package `prometheus`), or skip the test saying how to get it.

    For other tests too, e.g. `subprocess.run([promtool(), "check", "metrics"], input=text)`."""
    return _tool("promtool", "prometheus")


def amtool() -> str:
    """amtool's path (Debian: package `prometheus-alertmanager`), or skip the test."""
    return _tool("amtool", "prometheus-alertmanager")


def run(*command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alerting_rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


# -- the rules -------------------------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    result = run(promtool(), "check", "rules", str(RULES))
    assert result.returncode == 0, said(result)
    assert f"SUCCESS: {len(alerting_rules())} rules found" in result.stdout, said(result)


def test_the_rules_unit_tests_pass() -> None:
    result = run(promtool(), "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, said(result)
    assert "SUCCESS" in result.stdout, said(result)


def test_promtool_test_rules_fails_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests are evaluated, not just read: 79 % expected to warn must fail."""
    (tmp_path / "wrong.test.yml").write_text(
        f"""
rule_files: [{RULES}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'grok_usage_credits_used_ratio{{account="default",meter="pool"}}'
        values: '0.79x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: GrokUsageThresholdWarning
        exp_alerts:
          - exp_labels: {{severity: warning, account: default, meter: pool}}
""",
        encoding="utf-8",
    )
    result = run(promtool(), "test", "rules", str(tmp_path / "wrong.test.yml"))
    assert result.returncode != 0, said(result)
    assert "FAILED" in result.stdout + result.stderr, said(result)


def test_each_alert_is_tested_firing_and_not_firing() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for group in load(RULE_TESTS)["tests"]:
        for case in group["alert_rule_test"]:
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {rule["alert"] for rule in alerting_rules()}
    assert names - fired == set(), "never shown firing"
    assert names - silent == set(), "never shown not firing"
    assert (fired | silent) - names == set(), "tests of alerts the rules do not have"


def test_each_alert_has_a_severity_a_summary_and_a_description() -> None:
    for rule in alerting_rules():
        assert rule["alert"].startswith("GrokUsage"), "the Alertmanager route matches GrokUsage.*"
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]
        if "grok_usage_" in rule["expr"]:  # the series carry the login's name
            for text in rule["annotations"].values():
                assert "{{ $labels.account }}" in text, rule["alert"]


def test_the_rules_read_only_the_exporters_metrics() -> None:
    used = {
        name for rule in alerting_rules() for name in re.findall(r"grok_usage_\w+", rule["expr"])
    }
    assert used, "no rule reads a grok_usage_ metric"
    assert used - set(METRICS) == set()


def test_stale_export_allows_three_checks_at_the_default_interval() -> None:
    (stale,) = [rule for rule in alerting_rules() if rule["alert"] == "GrokUsageExportStale"]
    match = re.search(r">\s*3\s*\*\s*(\d+)\s*$", stale["expr"].strip())
    assert match, stale["expr"]
    assert timedelta(seconds=int(match[1])) == DEFAULT_INTERVAL
    assert "5-minute" in stale["annotations"]["description"]


# -- the metrics they read ---------------------------------------------------------------------


def test_promtool_checks_a_sample_of_the_metrics() -> None:
    text = SAMPLE_EXPOSITION.read_text(encoding="utf-8")
    assert dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)) == METRICS
    result = run(promtool(), "check", "metrics", stdin=text)
    assert result.returncode == 0, said(result)
    assert result.stdout + result.stderr == "", said(result)


def test_promtool_check_metrics_refuses_a_bad_exposition() -> None:
    """The check above could pass by reading nothing: a counter without _total must fail."""
    text = (
        "# HELP grok_usage_alerts Alerts.\n# TYPE grok_usage_alerts counter\ngrok_usage_alerts 1\n"
    )
    result = run(promtool(), "check", "metrics", stdin=text)
    assert result.returncode != 0, said(result)
    assert "_total" in result.stdout + result.stderr, said(result)


# -- the Alertmanager example ------------------------------------------------------------------


def test_amtool_checks_the_alertmanager_example() -> None:
    result = run(amtool(), "check-config", str(ALERTMANAGER_EXAMPLE))
    assert result.returncode == 0, said(result)
    assert "SUCCESS" in result.stdout, said(result)


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            ["alertname=GrokUsageThresholdWarning", "account=default", "instance=a:9100"],
            "grok-usage",
        ),
        (["alertname=GrokUsageExportStale", "instance=a:9100"], "grok-usage"),
        (["alertname=NodeFilesystemAlmostFull", "instance=a:9100"], "default"),
    ],
)
def test_the_example_routes_the_watchers_alerts(labels: list[str], receiver: str) -> None:
    result = run(
        amtool(),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_EXAMPLE}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert result.returncode == 0, said(result)
    assert result.stdout.strip() == receiver, said(result)


def test_the_example_inhibits_alerts_the_rules_have() -> None:
    names = {rule["alert"] for rule in alerting_rules()}
    for inhibit in load(ALERTMANAGER_EXAMPLE)["inhibit_rules"]:
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            label, _, value = (part.strip() for part in matcher.partition("="))
            assert label == "alertname" and value in names, matcher
