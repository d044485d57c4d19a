"""Metrics for Prometheus: what the last check read and what the watcher has sent, in the
text exposition format, for node_exporter's textfile collector (`[export] textfile`) and the
service's own `/metrics` (`[export] listen`).

Written by hand: `prometheus_client` would cost every `--check` some 80 ms of imports. One
prefix, names per the Prometheus naming guide, ratios 0..1 rather than percents. When a
reading fails, the usage gauges are left out (not zeros: a zero would read as "nothing
used") and `grok_usage_up` is 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from watcher import __version__
from watcher.core.evaluate import same_period
from watcher.core.model import (
    Delivered,
    Failure,
    Observation,
    Reading,
    Rules,
    Sample,
    State,
    TokenInfo,
)
from watcher.core.outlook import outlook, period_elapsed
from watcher.core.usage import Usage
from watcher.files import replace_atomically

TEXTFILE_MODE = 0o644  # node_exporter runs as another user; the unit's UMask=0077 aside

_Labels = dict[str, str]


class AccountMetrics(NamedTuple):
    """One login's part: `observation` is what the check read (None: nothing yet)."""

    name: str  # the account ("default" without [[accounts]])
    observation: Observation | None
    state: State
    rules: Rules


def remembered_observation(state: State) -> Observation | None:
    """An account a check did not read (`--check --account` another): its last reading
    as the state keeps it, or its incident -- so that its series stay in the textfile,
    `up` saying how its last check went."""
    if state.login is not None:
        return Failure(state.login.kind, state.login.message, True)
    if state.outage is not None:
        return Failure(state.outage.kind, state.outage.message, False)
    usage = state.history(state.meter).usage if state.meter else None
    if usage is None:
        return None
    return Reading(usage._replace(plan=state.plan), TokenInfo(None, True))


class _Exposition:
    """Metric families in the order first added; each family's samples together, under one
    HELP and TYPE, whichever account added them (the format requires it)."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[tuple[_Labels, float]]]] = {}

    def add(
        self, name: str, kind: str, help_text: str, samples: list[tuple[_Labels, float]]
    ) -> None:
        if samples:
            self.families.setdefault(name, (kind, help_text, []))[2].extend(samples)

    def text(self) -> str:
        lines = []
        for name, (kind, help_text, samples) in self.families.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)
        return "\n".join(lines) + "\n"


def metrics_text(accounts: Sequence[AccountMetrics], now: datetime) -> str:
    """The metrics after a check, every account's labelled with its name."""
    out = _Exposition()
    for account in accounts:
        _account_metrics(out, account, now)
    out.add(
        "grok_usage_watcher_info",
        "gauge",
        "The running grok-usage-watcher, by version.",
        [({"version": __version__}, 1.0)],
    )
    return out.text()


def _account_metrics(out: _Exposition, metrics: AccountMetrics, now: datetime) -> None:
    observation, state, rules = metrics.observation, metrics.state, metrics.rules
    account = {"account": metrics.name}
    if isinstance(observation, Reading):
        _usage_metrics(out, metrics.name, observation.usage, state, rules, now)
        token = observation.token
        if token.expires_at is not None:
            out.add(
                "grok_usage_login_expiry_timestamp_seconds",
                "gauge",
                "When the Grok login's access token expires (it renews itself when it can).",
                [(account, token.expires_at.timestamp())],
            )
    if state.last_reading_at is not None:
        out.add(
            "grok_usage_last_success_timestamp_seconds",
            "gauge",
            "When usage was last read successfully.",
            [(account, state.last_reading_at.timestamp())],
        )
    out.add(
        "grok_usage_up",
        "gauge",
        "1 when the last reading of usage succeeded, 0 when it failed.",
        [(account, 1.0 if isinstance(observation, Reading) else 0.0)],
    )
    out.add(
        "grok_usage_alerts_delivered_total",
        "counter",
        "Alerts that reached a notification target, each counted once, by severity.",
        [
            ({**account, "severity": name}, float(count))
            for name, count in zip(Delivered._fields, state.delivered, strict=True)
        ],
    )


def _usage_metrics(
    out: _Exposition, name: str, usage: Usage, state: State, rules: Rules, now: datetime
) -> None:
    labels = {"account": name, "meter": usage.meter}
    period = usage.period
    out.add(
        "grok_usage_credits_used_ratio",
        "gauge",
        "Credits used in the current period, as a ratio (1 = all of them).",
        [(labels, usage.percent_used / 100)],
    )
    if period.start is not None:
        out.add(
            "grok_usage_period_start_timestamp_seconds",
            "gauge",
            "When the current credits period began.",
            [(labels, period.start.timestamp())],
        )
    if period.end is not None:
        out.add(
            "grok_usage_period_end_timestamp_seconds",
            "gauge",
            "When the credits reset (the current period ends).",
            [(labels, period.end.timestamp())],
        )
    elapsed = period_elapsed(period.start, period.end, now)
    if elapsed is not None:
        out.add(
            "grok_usage_period_elapsed_ratio",
            "gauge",
            "How much of the current period has passed, as a ratio.",
            [(labels, elapsed / 100)],
        )
    projected = _projected(usage, state, rules, now)
    if projected is not None:
        out.add(
            "grok_usage_projected_used_ratio",
            "gauge",
            "Credits used at the reset at the current pace, as a ratio (absent: no forecast).",
            [(labels, projected / 100)],
        )
    if usage.amounts_in_cents and usage.pay_as_you_go_cap:
        account = {"account": name}
        out.add(
            "grok_usage_pay_as_you_go_cap_dollars",
            "gauge",
            "The pay-as-you-go cap, in US dollars.",
            [(account, usage.pay_as_you_go_cap / 100)],
        )
        if usage.pay_as_you_go_used is not None:
            out.add(
                "grok_usage_pay_as_you_go_used_dollars",
                "gauge",
                "Pay-as-you-go spent in the current period, in US dollars.",
                [(account, usage.pay_as_you_go_used / 100)],
            )


def _projected(usage: Usage, state: State, rules: Rules, now: datetime) -> float | None:
    """The percent at the reset at the current pace, from the state's samples of this
    period (the check has just added its own)."""
    remembered = state.history(usage.meter).period
    samples: tuple[Sample, ...] = ()
    fired: frozenset[float] = frozenset()
    if remembered is not None and same_period(remembered, usage.period):
        samples, fired = remembered.samples, frozenset(remembered.fired_thresholds)
    start, end = usage.period.start, usage.period.end
    verdict = outlook(start, end, usage.percent_used, samples, rules.thresholds, fired, now)
    return verdict.percent_at_reset if verdict.kind != "used_up" else None


def write_textfile(path: Path, text: str) -> None:
    """Atomically (a temporary beside it, then a rename: node_exporter reads only `*.prom`
    and never half a file), mode 0644 whatever the umask."""
    replace_atomically(path, text, mode=TEXTFILE_MODE)


def _labels(labels: _Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escaped(value)}"' for key, value in labels.items()) + "}"


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))
