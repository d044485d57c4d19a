"""Holding alerts back in quiet hours (and a snooze), and letting them out afterwards. Pure.

An alert below the let-through severity is not sent while a hold lasts; it stays pending,
written anew at every check with that check's figures (evaluate.py), so that when the hold
ends each target gets, in one message, what is still true and has not reached it -- the
digest. What stopped being true while held was dropped on the way (a threshold a reset
re-armed, a forecast that no longer runs out); an incident that came and went left a line
(`passed`). Nothing held is dropped for being held, and nothing is sent twice: delivery
records per target as ever.

After the hold, threshold and pace alerts that were held wait for a good reading: they need
current figures, and a failed check has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from watcher.core.model import AlertKind, PendingAlert, Severity, State

_NEED_FIGURES = (AlertKind.THRESHOLD, AlertKind.PACE)


class Hold(NamedTuple):
    """A hold now: quiet hours or a snooze. `passes`: alerts of this severity and above go
    at once; None: every alert waits."""

    passes: Severity | None
    until: datetime | None = None  # when it ends, when known
    why: str = "quiet hours"  # for people: "quiet hours", "the snooze"


def hold_for(
    state: State, quiet: Hold | None, lets_through: Severity | None, now: datetime
) -> Hold | None:
    """The hold on one login's alerts: its snooze while it lasts (its rule wins over quiet
    hours), else the quiet hours'. A snooze that ended leaves the quiet hours: what it held
    waits for their end."""
    snooze = state.snooze
    if snooze is not None and now < snooze.until:
        passes = None if snooze.include_critical else lets_through
        return Hold(passes, snooze.until, "snooze")
    return quiet


def is_held(pending: PendingAlert, hold: Hold | None) -> bool:
    return hold is not None and (hold.passes is None or pending.alert.severity < hold.passes)


def mark_held(state: State, hold: Hold | None, now: datetime) -> State:
    """Each alert the hold keeps back, marked with when it was first held."""
    if hold is None:
        return state
    pending = tuple(
        p._replace(held_since=p.held_since or now) if is_held(p, hold) else p for p in state.pending
    )
    return state._replace(pending=pending)


def sendable(
    pending: Iterable[PendingAlert], hold: Hold | None, read_ok: bool
) -> list[PendingAlert]:
    """What may go now: during a hold, what it lets through; after it, everything -- but the
    held threshold and pace alerts of a login not read in this check."""
    if hold is not None:
        return [p for p in pending if not is_held(p, hold)]
    if read_ok:
        return list(pending)
    return [p for p in pending if not (p.held_since and p.alert.kind in _NEED_FIGURES)]
