"""The Prometheus metrics: the text a check writes, and the textfile on disk."""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta

import pytest

from tests.core_values import NETWORK, PACE_RULES, RULES, T0, reading
from tests.test_check import state_file
from watcher import __version__
from watcher.core.evaluate import evaluate
from watcher.core.model import Severity, State, TokenInfo
from watcher.export import AccountMetrics, metrics_text

HOUR = timedelta(hours=1)
SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, for every sample line; each metric has HELP and TYPE."""
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, labels, value = match.groups()
        assert f"# TYPE {name} " in text and f"# HELP {name} " in text, name
        found[name + (labels or "")] = float(value)
    return found


def test_a_reading_gives_every_usage_gauge_as_ratios():
    token = TokenInfo(T0 + 30 * HOUR, True)
    state, now = State(), T0
    for i, percent in enumerate((10, 20, 30, 40)):
        now = T0 + (i + 1) * 6 * HOUR
        state = evaluate(reading(percent, token=token), state, PACE_RULES, now).state
    text = metrics_text(
        [AccountMetrics("default", reading(40, token=token), state, PACE_RULES)], now
    )
    got = samples(text)
    usage = '{account="default",meter="pool"}'
    assert got[f"grok_usage_credits_used_ratio{usage}"] == 0.4
    assert got[f"grok_usage_period_start_timestamp_seconds{usage}"] == T0.timestamp()
    assert got[f"grok_usage_period_end_timestamp_seconds{usage}"] == (T0 + 168 * HOUR).timestamp()
    assert got[f"grok_usage_period_elapsed_ratio{usage}"] == pytest.approx(24 / 168)
    assert got[f"grok_usage_projected_used_ratio{usage}"] > 1  # 10 points a 6 h: runs out
    assert got['grok_usage_login_expiry_timestamp_seconds{account="default"}'] == (
        (T0 + 30 * HOUR).timestamp()
    )
    assert got['grok_usage_up{account="default"}'] == 1
    assert got['grok_usage_last_success_timestamp_seconds{account="default"}'] == now.timestamp()
    assert got[f'grok_usage_watcher_info{{version="{__version__}"}}'] == 1
    assert "# TYPE grok_usage_alerts_delivered_total counter" in text
    assert text.endswith("\n")


def test_a_failed_reading_leaves_the_usage_gauges_out_and_says_down():
    state = evaluate(reading(40), State(), RULES, T0 + HOUR).state
    text = metrics_text([AccountMetrics("default", NETWORK, state, RULES)], T0 + 2 * HOUR)
    got = samples(text)
    assert got['grok_usage_up{account="default"}'] == 0
    assert not [name for name in got if "credits_used" in name or "period_" in name]
    assert got['grok_usage_last_success_timestamp_seconds{account="default"}'] == (
        (T0 + HOUR).timestamp()
    )


def test_the_delivered_counter_counts_each_alert_once_by_severity():
    state = State()._replace(delivered=State().delivered.plus_one(Severity.WARNING))
    got = samples(metrics_text([AccountMetrics("default", reading(40), state, RULES)], T0))
    assert got['grok_usage_alerts_delivered_total{account="default",severity="warning"}'] == 1
    assert got['grok_usage_alerts_delivered_total{account="default",severity="critical"}'] == 0


def test_check_writes_the_textfile_0644_whatever_the_umask_and_counts_across_checks(
    watching, sink, run
):
    textfile = watching.root / "textfile" / "grok-usage.prom"
    textfile.parent.mkdir()
    watching.configure(extra=f'[export]\ntextfile = "{textfile}"\n')
    watching.serve(85)
    old = os.umask(0o077)
    try:
        assert run("--check").code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(textfile.stat().st_mode) == 0o644
    got = samples(textfile.read_text())
    assert got['grok_usage_alerts_delivered_total{account="default",severity="warning"}'] == 1
    assert sorted(p.name for p in textfile.parent.iterdir()) == ["grok-usage.prom"]
    watching.serve(86)
    assert run("--check").code == 0  # nothing new: the counter stays
    got = samples(textfile.read_text())
    assert got['grok_usage_alerts_delivered_total{account="default",severity="warning"}'] == 1
    assert got['grok_usage_credits_used_ratio{account="default",meter="pool"}'] == 0.86
    assert "delivered" in state_file(watching).read_text()  # kept across restarts


def test_a_dry_run_writes_no_textfile_and_a_failed_reading_still_does(watching, grok, run):
    from tests.fake_grok import Reply

    textfile = watching.root / "grok-usage.prom"
    watching.configure(extra=f'[export]\ntextfile = "{textfile}"\n')
    watching.serve(40)
    run("--check", "--dry-run")
    assert not textfile.exists()
    grok.routes["/billing?format=credits"] = Reply(503)
    assert run("--check").code == 1
    assert samples(textfile.read_text())['grok_usage_up{account="default"}'] == 0


def test_an_unwritable_textfile_is_one_warning_not_a_failed_check(watching, sink, run):
    watching.configure(extra='[export]\ntextfile = "/nonexistent-dir/grok-usage.prom"\n')
    watching.serve(40)
    result = run("--check")
    assert result.code == 0
    assert result.err.strip() == (
        "grok-usage-watcher: cannot write the metrics file "
        "/nonexistent-dir/grok-usage.prom: No such file or directory"
    )


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        (":9877", "needs a host and a port"),
        ("127.0.0.1", "needs a host and a port"),
        ("127.0.0.1:0", "needs a port from 1 to 65535"),
        ("127.0.0.1:²", "needs a port from 1 to 65535"),  # a digit, but not an ASCII one
    ],
)
def test_listen_needs_a_host_and_a_port(tmp_path, listen, message):
    from watcher.config import load_config
    from watcher.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text(f'[export]\nlisten = "{listen}"\n')
    with pytest.raises(ConfigError, match=message):
        load_config(path, {"HOME": str(tmp_path)})


def test_the_textfile_a_check_writes_passes_promtool_check_metrics(watching, sink, run):
    import subprocess

    from tests.test_prometheus_rules import promtool

    textfile = watching.root / "grok-usage.prom"
    watching.configure(extra=f'[export]\ntextfile = "{textfile}"\n')
    watching.serve(85)
    assert run("--check").code == 0
    for text in (
        textfile.read_text(),
        metrics_text([AccountMetrics("default", NETWORK, State(), RULES)], T0),
    ):
        result = subprocess.run(
            [promtool(), "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert result.returncode == 0 and result.stdout + result.stderr == "", result


def test_a_check_that_cannot_save_its_state_still_writes_the_textfile(watching, sink, run):
    from tests.test_state_safety import _block_saves

    textfile = watching.root / "grok-usage.prom"
    watching.configure(extra=f'[export]\ntextfile = "{textfile}"\n')
    watching.serve(45)
    assert run("--check").code == 0
    textfile.unlink()
    watching.serve(85)
    _block_saves(state_file(watching))  # every save fails, even for root
    result = run("--check")
    assert result.code == 1 and "nothing sent: the state could not be saved" in result.out
    got = samples(textfile.read_text())  # written all the same: what was read
    assert got['grok_usage_credits_used_ratio{account="default",meter="pool"}'] == 0.85
