"""`--explain` and `--check --explain`: the state and the config, read and put in words.

`--explain` reads the config and the state file only: no network, no lock, nothing written,
no Apprise (targets are named by scheme and routing, as the service's start line names
them). After `--check` the check's own targets are known, and its decisions are told first:
what fired, what was held, what was sent where.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watcher.config import Config
from watcher.core.explain import (
    account_view,
    explain_document,
    explain_text,
    quiet_view,
)
from watcher.core.formatting import format_local_time
from watcher.core.model import State
from watcher.logins import chosen, keeper, plan_watches
from watcher.state_file import in_own_place, load_state

if TYPE_CHECKING:
    from watcher.check import CheckReport

log = logging.getLogger(__name__)


def explained(
    config: Config,
    state_path: Path,
    environ: Mapping[str, str],
    only: Sequence[str],
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """The words and the document of `--explain`."""
    histories, warning = load_state(
        state_path, now, move_aside=False, own_place=in_own_place(state_path, environ)
    )
    if warning:
        log.warning("%s", warning)
    return _explain(config, histories, only, now, _labels(config, None))


def check_explained(
    config: Config, report: CheckReport, only: Sequence[str], now: datetime
) -> tuple[str, dict[str, Any]]:
    """After a check: its decisions, then the state it left, as `--explain` tells it."""
    labels = _labels(config, report)
    histories = {a.name: a.state for a in report.accounts}
    text, document = _explain(config, histories, only, now, labels)
    decided = _decisions(report, labels, now, config)
    document["check"] = {"lines": decided}
    return "\n".join(["This check:", *(f"- {line}" for line in decided), "", text]), document


def _explain(
    config: Config,
    histories: Mapping[str, State],
    only: Sequence[str],
    now: datetime,
    labels: dict[str, str],
) -> tuple[str, dict[str, Any]]:
    accounts = chosen(config, only)
    views = []
    # A login two names read keeps one history (logins.keeper): told once, under both names.
    for watch in plan_watches(config.accounts, now, only=accounts):
        account = keeper(watch, histories)
        view = account_view(
            account.name,
            histories.get(account.name) or State(),
            account.rules._replace(local_zone=config.alerts.local_zone),
            now,
            lambda target: labels.get(target, "a target"),
        )
        views.append(view._replace(names=watch.names))
    quiet = quiet_view(config.quiet, config.alerts.quiet_lets_through, now)
    text = explain_text(views, quiet, now, config.alerts.local_zone, config.named_accounts)
    targets = f"Targets: {_configured(config)}."
    return f"{text}\n{targets}", explain_document(views, quiet, now)


def _configured(config: Config) -> str:
    from watcher.notify.targets import describe_configured

    return describe_configured(config.notify)


def _labels(config: Config, report: CheckReport | None) -> dict[str, str]:
    """Target ids as people know them: without Apprise only the fallback's; after a check
    that loaded the targets, each by its masked URL."""
    from watcher.notify.targets import DESKTOP_URL, PRINT_TARGET_ID, target_id_for

    labels = {PRINT_TARGET_ID: "standard output", target_id_for(DESKTOP_URL): "the desktop"}
    if report is not None:
        labels.update({t.target_id: t.masked for t in report.targets})
    return labels


def _decisions(
    report: CheckReport, labels: Mapping[str, str], now: datetime, config: Config
) -> list[str]:
    lines = []
    for account in report.accounts:
        whose = f"{account.name}: " if report.named else ""
        if account.alerts:
            for alert in account.alerts:
                lines.append(f"{whose}decided “{alert.title}” ({alert.severity.label})")
        else:
            lines.append(f"{whose}nothing new is due")
        hold = account.hold
        if hold is not None:
            from watcher.core.holding import is_held

            held = [p.alert.title for p in account.state.pending if is_held(p, hold)]
            until = (
                f" until {format_local_time(hold.until, now, config.alerts.local_zone)}"
                if hold.until
                else ""
            )
            if held:
                lines.append(f"{whose}held ({hold.why}{until}): " + "; ".join(held))
    for target_id, message in report.plan.items():
        outcome = report.outcomes.get(target_id)
        label = labels.get(target_id, "a target")
        if report.dry_run:
            result = "would be sent"
        elif outcome is None or not outcome.attempted:
            result = "not needed (its escalation chain was reached)"
        elif outcome.ok:
            result = "sent"
        else:
            result = f"failed ({outcome.reason}); tried again next check"
        lines.append(f"“{message.title}” to {label}: {result}")
    if not report.plan and not report.held:
        lines.append("nothing was sent")
    if report.held:
        lines.append("nothing was sent: the state could not be saved")
    return lines
