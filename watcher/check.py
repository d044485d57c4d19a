"""One check, the imperative shell around the pure core:

    lock -> load state -> read usage -> evaluate -> save -> deliver what is pending -> save

Never send what cannot be recorded: the state, with the alerts that are due queued in it, is
saved before anything is sent; when it cannot be saved, nothing is sent (a one-shot check) --
or, in the service, which keeps its state in memory, the sends go on and one alert says the
state is not being saved. After the sends the state is saved again with each alert marked
delivered only to the targets Apprise reported successful. A crash between the two saves
repeats at most that check's messages; it never loses one.
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
from watcher.core import messages
from watcher.core.evaluate import evaluate, may_read_monthly_instead
from watcher.core.model import Alert, Observation, PendingAlert, Reading, Rules, State
from watcher.critical import critical
from watcher.grok.client import MeterPolicy
from watcher.grok.login import SpentRefreshTokens
from watcher.grok.reading import observe
from watcher.state_file import (
    StateError,
    check_ownership,
    in_own_place,
    load_state,
    save_state,
    state_lock,
)

if TYPE_CHECKING:  # delivery and targets load only when something is due (see _deliver)
    from watcher.core.delivery import Message, Outcome
    from watcher.grok.identity import LoginView
    from watcher.notify.targets import Target

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
    save_error: str | None = None  # the state file could not be written: path and reason
    held: bool = False  # nothing was sent, because the state could not be saved first
    rules: Rules = Rules()  # the rules the check evaluated with
    auth_path: Path | None = None  # the login file the check read

    def login(self, now: datetime) -> LoginView | None:
        """Which login the check read, for --json (read again: only --json asks)."""
        if self.auth_path is None or not isinstance(self.observation, Reading):
            return None
        from watcher.grok.identity import describe_login

        view = describe_login(self.auth_path, now, self.observation.token.entry)
        if view is None:
            return None
        token = self.observation.token  # what the reading used, a refresh included
        return view._replace(expires_at=token.expires_at, renewable=token.renewable)

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
        return self.read_ok and not self.failed_targets and self.save_error is None


class Remembered:
    """The service's state between its checks. While the state file cannot be written, the
    service goes on from this copy, so that it still alerts once each."""

    def __init__(self) -> None:
        self.state: State | None = None
        self.unsaved: str | None = None  # why the last save failed; None while saving works


def plan_is_stale(state: State, now: datetime) -> bool:
    """/settings is asked at most once a day: a check costs one billing request."""
    return state.plan_checked_at is None or now - state.plan_checked_at >= PLAN_MAX_AGE


def meter_policy(state: State, now: datetime) -> MeterPolicy:
    return MeterPolicy(
        pool_answered=state.pool_answered,
        monthly_instead=may_read_monthly_instead(state, now),
    )


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
    remembered: Remembered | None = None,
) -> CheckReport:
    own_place = in_own_place(state_path, environ)
    check_ownership(state_path, own_place)  # before a lock or a directory is made beside it
    guard: contextlib.AbstractContextManager[Any]
    if dry_run:
        guard = contextlib.nullcontext()  # writes nothing, so it never waits for a writer
    elif lock_wait_seconds is None:
        guard = state_lock(state_path)
    else:
        guard = state_lock(state_path, lock_wait_seconds)
    with guard:
        if remembered is not None and remembered.unsaved and remembered.state is not None:
            state = remembered.state  # the file is behind what was sent since
        else:
            state, warning = load_state(
                state_path, clock(), move_aside=not dry_run, own_place=own_place
            )
            if warning:
                log.warning("%s", warning)
        observation = observe(
            config.grok,
            with_plan=plan_is_stale(state, clock()),
            policy=meter_policy(state, clock()),
            now=clock,
            spent=spent,
        )
        now = clock()
        evaluation = evaluate(observation, state, config.alerts, now)
        state = evaluation.state
        if log.isEnabledFor(logging.DEBUG):  # -v: why, rule by rule (imported only then)
            from watcher.core.decisions import decisions

            for line in decisions(observation, state, config.alerts, now):
                log.debug("%s", line)
        report = CheckReport(
            observation,
            evaluation.alerts,
            state,
            dry_run=dry_run,
            rules=config.alerts,
            auth_path=config.grok.auth_file,
        )
        if dry_run:
            return _deliver(report, config, environ, print_to) if state.pending else report
        first_save = _save(state_path, state)
        if first_save is not None:
            report = report._replace(save_error=first_save.message)
            if remembered is None:
                report = report._replace(held=bool(state.pending))
                if config.export.textfile is not None:
                    export_textfile(config.export.textfile, report, now)
                return report
            if remembered.unsaved is None:
                alert = messages.state_alert(str(state_path), first_save.reason, clock())
                state = state._replace(pending=(*state.pending, PendingAlert(alert)))
                report = report._replace(state=state, alerts=(*report.alerts, alert))
        if state.pending:
            report = _deliver(report, config, environ, print_to)
            if first_save is None:
                second_save = _save(state_path, report.state)
                if second_save is not None:
                    report = report._replace(save_error=second_save.message)
        if remembered is not None:
            remembered.state = report.state
            remembered.unsaved = report.save_error
        if config.export.textfile is not None:
            export_textfile(config.export.textfile, report, now)
    return report


def export_textfile(path: Path, report: CheckReport, now: datetime) -> None:
    """The metrics file after a check, whatever it read; a failure to write it is one
    warning line, never a failed check (the stale-export rule is Prometheus's to raise)."""
    from watcher.export import metrics_text, write_textfile

    try:
        write_textfile(path, metrics_text(report.observation, report.state, report.rules, now))
    except OSError as exc:
        log.warning("cannot write the metrics file %s: %s", path, exc.strerror or exc)


def _save(path: Path, state: State) -> StateError | None:
    try:
        with critical():  # a stop waits for the save: no temp file left behind
            save_state(path, state)
    except StateError as error:
        return error
    return None


def _deliver(
    report: CheckReport, config: Config, environ: Mapping[str, str], print_to: TextIO | None
) -> CheckReport:
    from watcher.core.delivery import deliver, plan_messages, record_deliveries
    from watcher.notify.targets import load_targets, renamed_ids, send

    targets = _unique(load_targets(config.notify, environ))
    routes = [t.route for t in targets]
    state = _with_current_ids(report.state, renamed_ids(targets))
    report = report._replace(state=state)
    plan = plan_messages(state.pending, routes)
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


def _with_current_ids(state: State, current: Mapping[str, str]) -> State:
    """Delivery records written under a target's former id (an older version identified
    targets differently) count for the target as it is identified now."""
    if not current:
        return state

    def mapped(ids: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({current.get(i, i) for i in ids}))

    pending = tuple(
        p._replace(
            delivered_to=mapped(p.delivered_to),
            only_to=None if p.only_to is None else mapped(p.only_to),
        )
        for p in state.pending
    )
    outage = state.outage
    if outage is not None:
        outage = outage._replace(notified=mapped(outage.notified))
    return state._replace(pending=pending, outage=outage)
