"""What the service tells the journal and `systemctl status` about each check. Pure.

The journal stays readable: a check earns an info line only when something changed -- an
alert was sent (or failed to be), an error began or ended, usage moved 5 points or more since
the last line that said it. Everything else is a debug line (shown with -v). The STATUS= text
is always the latest reading or error.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, NamedTuple

from watcher.core.formatting import format_local_time, whole_percent
from watcher.core.model import Observation, Reading
from watcher.report import summary_line

if TYPE_CHECKING:
    from watcher.check import CheckReport

NOTABLE_MOVE = 5.0  # percentage points


class Logged(NamedTuple):
    """What the journal last heard: the usage it was told, the error going on -- for each
    login by name when the config names several."""

    percent: float | None = None
    error: str | None = None
    accounts: tuple[tuple[str, Logged], ...] = ()


class CheckLine(NamedTuple):
    level: int
    text: str
    status: str  # for STATUS=
    logged: Logged


def describe_check(
    outcome: CheckReport | str, logged: Logged, now: datetime, local: tzinfo | None = None
) -> CheckLine:
    """`outcome` is the check's report, or the one-line message of a check that could not run
    at all (state locked too long, config vanished)."""
    if isinstance(outcome, str):
        return _error(outcome, logged)
    if outcome.named:
        line = _several(outcome, logged, now, local)
    else:
        line = _one(outcome, outcome.observation, logged, now, local)
    # STATUS= says that alerts wait, and till when ("... · quiet until Tue 24 Nov 07:30 CET",
    # "... · work snoozed until ...").
    said = []
    for account in outcome.accounts:
        hold = account.hold
        if hold is None:
            continue
        until = f" until {format_local_time(hold.until, now, local)}" if hold.until else ""
        whose = f"{account.name} " if outcome.named and hold.why == "snooze" else ""
        said.append(f"{whose}{_HOLD_WORDS.get(hold.why, hold.why)}{until}")
    if not said:
        return line
    return line._replace(status=" · ".join([line.status, *dict.fromkeys(said)]))


_HOLD_WORDS = {"quiet hours": "quiet", "snooze": "snoozed"}


def _several(
    outcome: CheckReport, logged: Logged, now: datetime, local: tzinfo | None
) -> CheckLine:
    """Several named logins: each judged as one is, in one line; the status a summary
    ("work 83%, personal 12%")."""
    before = dict(logged.accounts)
    lines = [
        (a.name, _one(outcome, a.observation, before.get(a.name, Logged()), now, local))
        for a in outcome.accounts
    ]
    statuses = [
        f"{', '.join(a.names) or a.name} {whole_percent(a.observation.usage.percent_used)}%"
        if isinstance(a.observation, Reading)
        else f"{', '.join(a.names) or a.name}: {a.observation.message}"
        for a in outcome.accounts
    ]
    level = max(line.level for _, line in lines)
    after = dict(before)
    after.update((name, line.logged) for name, line in lines)
    return CheckLine(
        level,
        summary_line(outcome, now),
        ", ".join(statuses),
        Logged(accounts=tuple(after.items())),
    )


def _one(
    outcome: CheckReport,
    observation: Observation,
    logged: Logged,
    now: datetime,
    local: tzinfo | None,
) -> CheckLine:
    if not isinstance(observation, Reading):
        line = _error(observation.message, logged)
        if outcome.outcomes:  # an outage alert went out (or failed to): worth a line
            level = max(line.level, _delivery_level(outcome))
            line = line._replace(level=level, text=summary_line(outcome, now))
        return line
    usage = observation.usage
    text = summary_line(outcome, now)
    status = f"{whole_percent(usage.percent_used)}% used"
    if usage.period.end is not None:
        status += f", resets {format_local_time(usage.period.end, now, local)}"
    moved = logged.percent is None or abs(usage.percent_used - logged.percent) >= NOTABLE_MOVE
    notable = moved or logged.error is not None or bool(outcome.outcomes)
    if logged.error is not None:
        text = f"usage read again: {text}"
    level = max(logging.INFO, _delivery_level(outcome)) if notable else logging.DEBUG
    # What the journal was told: a reading that earned no line leaves the last one's figure
    # -- but the status line always shows this reading's.
    percent = usage.percent_used if notable else logged.percent
    return CheckLine(level, text, status, Logged(percent, None))


def _error(message: str, logged: Logged) -> CheckLine:
    begun = message != logged.error
    level = logging.WARNING if begun else logging.DEBUG
    return CheckLine(level, message, message, logged._replace(error=message))


def _delivery_level(report: CheckReport) -> int:
    failed = any(o.attempted and not o.ok for o in report.outcomes.values())
    return logging.WARNING if failed else logging.INFO
