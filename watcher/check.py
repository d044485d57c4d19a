"""One check, the imperative shell around the pure core:

    lock -> load state -> read usage -> evaluate -> deliver what is pending -> record -> save

Delivery is at-least-once: the state is saved only after the sends, with each alert marked
delivered only to the targets Apprise reported successful. A crash before the save repeats
the check's messages next time; it never loses one.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from watcher.config import Config
from watcher.critical import critical
from watcher.evaluate import evaluate
from watcher.login import SpentRefreshTokens
from watcher.model import Alert, Observation, Reading, Rules, State
from watcher.reading import observe
from watcher.state_file import load_state, save_state, state_lock

if TYPE_CHECKING:  # delivery and targets load only when something is due (see _deliver)
    from watcher.delivery import Message, Outcome
    from watcher.targets import Target

PLAN_MAX_AGE = timedelta(days=1)

log = logging.getLogger(__name__)


class CheckReport(NamedTuple):
    observation: Observation
    alerts: tuple[Alert, ...]  # decided in this check
    state: State  # as saved (or as it would be, in a dry run)
    targets: tuple[Target, ...] = ()
    plan: Mapping[str, Message] = MappingProxyType({})
    outcomes: Mapping[str, Outcome] = MappingProxyType({})
    dry_run: bool = False

    @property
    def read_ok(self) -> bool:
        return isinstance(self.observation, Reading)

    @property
    def failed_targets(self) -> list[Target]:
        return [
            t
            for t in self.targets
            if t.target_id in self.outcomes and not self.outcomes[t.target_id].ok
        ]

    @property
    def ok(self) -> bool:
        return self.read_ok and not self.failed_targets


def rules_from(config: Config) -> Rules:
    alerts = config.alerts
    return Rules(
        thresholds=alerts.thresholds,
        rearm_below=alerts.rearm_below,
        forecast=alerts.forecast,
        stale_after=alerts.stale_after,
    )


def plan_is_stale(state: State, now: datetime) -> bool:
    """/settings is asked at most once a day: a check costs one billing request."""
    return state.plan_checked_at is None or now - state.plan_checked_at >= PLAN_MAX_AGE


def run_check(
    config: Config,
    state_path: Path,
    environ: Mapping[str, str],
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    spent: SpentRefreshTokens | None = None,
    print_to: TextIO | None = None,
    lock_wait_seconds: float | None = None,
) -> CheckReport:
    guard: contextlib.AbstractContextManager[Any]
    if dry_run:
        guard = contextlib.nullcontext()  # writes nothing, so it never waits for a writer
    elif lock_wait_seconds is None:
        guard = state_lock(state_path)
    else:
        guard = state_lock(state_path, lock_wait_seconds)
    with guard:
        state, warning = load_state(state_path, clock(), move_aside=not dry_run)
        if warning:
            log.warning("%s", warning)
        observation = observe(
            config.grok, with_plan=plan_is_stale(state, clock()), now=clock, spent=spent
        )
        evaluation = evaluate(observation, state, rules_from(config), clock())
        state = evaluation.state
        report = CheckReport(observation, evaluation.alerts, state, dry_run=dry_run)
        if state.pending:
            report = _deliver(report, config, environ, print_to)
        if not dry_run:
            with critical():  # a stop waits for the save: no temp file left behind
                save_state(state_path, report.state)
    return report


def _deliver(
    report: CheckReport, config: Config, environ: Mapping[str, str], print_to: TextIO | None
) -> CheckReport:
    from watcher.delivery import deliver, plan_messages, record_deliveries
    from watcher.targets import load_targets, send

    targets = _unique(load_targets(config.notify, environ))
    routes = [t.route for t in targets]
    plan = plan_messages(report.state.pending, routes)
    if report.dry_run or not plan:
        return report._replace(targets=tuple(targets), plan=plan)
    by_id = {t.target_id: t for t in targets}
    stream = print_to if print_to is not None else sys.stdout

    def send_to(target_id: str, message: Message) -> Outcome:
        outcome = send(by_id[target_id], message, stream)
        if not outcome.ok:
            log.debug("delivery to %s failed: %s", by_id[target_id].masked, outcome.reason)
        return outcome

    outcomes = deliver(plan, routes, send_to)
    state = record_deliveries(report.state, plan, outcomes, routes)
    return report._replace(targets=tuple(targets), plan=plan, outcomes=outcomes, state=state)


def _unique(targets: list[Target]) -> list[Target]:
    """The same URL listed twice is one target: it must not get two messages."""
    seen: set[str] = set()
    unique = []
    for target in targets:
        if target.target_id not in seen:
            seen.add(target.target_id)
            unique.append(target)
    return unique
