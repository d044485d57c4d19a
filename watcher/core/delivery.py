"""Who gets what: pending alerts x targets -> one message per target, and what was delivered.

Pure except `deliver`, which calls the sender it is given (the Apprise edge lives in
`targets.py`). At-least-once per target: an alert counts as delivered to a target only when
that target's send succeeded; it stays pending for the targets that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import groupby
from typing import NamedTuple

from watcher.core.model import Alert, AlertKind, PendingAlert, Severity, State
from watcher.core.severity import importance


class Route(NamedTuple):
    """A target as routing sees it.

    `min_severity` comes from its tags (critical -> critical only; warning -> warning and
    critical; info or untagged -> everything). Targets sharing a tag that carries an Apprise
    priority (`1:phone`, `2:phone`) form an escalation chain: the lowest number is tried
    first, and the next only when a whole level failed.
    """

    target_id: str
    min_severity: Severity = Severity.INFO
    chain: str | None = None
    priority: int = 0
    # Also listed plain: it gets its messages directly, and still counts in its chain.
    direct: bool = False
    tags: frozenset[str] = frozenset()  # its tags, lower case, without a priority


class Message(NamedTuple):
    title: str
    body: str
    severity: Severity
    alert_keys: tuple[str, ...]


class Outcome(NamedTuple):
    ok: bool
    reason: str = ""
    attempted: bool = True  # False: an escalation level that was not needed


def routes_to(pending: PendingAlert, route: Route) -> bool:
    return pending.alert.severity >= route.min_severity and (
        pending.only_to is None or route.target_id in pending.only_to
    )


def plan_messages(pending: Iterable[PendingAlert], routes: Iterable[Route]) -> dict[str, Message]:
    """One message per target holding every alert routed to it and not yet delivered to it."""
    pending = tuple(pending)
    plan = {}
    for route in routes:
        due = [
            p.alert
            for p in pending
            if routes_to(p, route) and route.target_id not in p.delivered_to
        ]
        if due:
            plan[route.target_id] = group(due)
    return plan


def group(alerts: Iterable[Alert]) -> Message:
    """Many alerts as ONE message: the most important alert's title and body, then "Also:"
    and the others' titles (a title names one thing; a notification shows the title first)."""
    ordered = sorted(alerts, key=importance)
    first = ordered[0]
    body = first.body
    if len(ordered) > 1:
        body += "\n\nAlso:\n" + "\n".join(f"- {a.title}" for a in ordered[1:])
    return Message(
        title=first.title,
        body=body,
        severity=max(a.severity for a in ordered),
        alert_keys=tuple(a.key for a in ordered),
    )


def deliver(
    plan: Mapping[str, Message],
    routes: Iterable[Route],
    send: Callable[[str, Message], Outcome],
) -> dict[str, Outcome]:
    """Send each planned message once; escalation chains stop at the first level that fully
    succeeds (its later levels count as delivered: the chain was reached)."""
    outcomes: dict[str, Outcome] = {}
    planned = [r for r in routes if r.target_id in plan]
    for route in (r for r in planned if r.chain is None or r.direct):
        outcomes[route.target_id] = send(route.target_id, plan[route.target_id])
    chained = sorted(
        (r for r in planned if r.chain is not None), key=lambda r: (r.chain, r.priority)
    )
    for _, members in groupby(chained, key=lambda r: r.chain):
        reached = False
        for _, level_routes in groupby(members, key=lambda r: r.priority):
            level = list(level_routes)
            if reached:
                for route in level:  # a member already sent to directly keeps its outcome
                    outcomes.setdefault(
                        route.target_id, Outcome(True, "escalation not needed", False)
                    )
                continue
            for route in level:
                if route.target_id not in outcomes:  # never twice, even if also plain
                    outcomes[route.target_id] = send(route.target_id, plan[route.target_id])
            reached = all(outcomes[r.target_id].ok for r in level)
    return outcomes


def record_deliveries(
    state: State,
    plan: Mapping[str, Message],
    outcomes: Mapping[str, Outcome],
    routes: Iterable[Route],
) -> State:
    """Mark what each successful target received; drop alerts every route now has."""
    routes = tuple(routes)
    received: dict[str, set[str]] = {}
    for target_id, outcome in outcomes.items():
        if outcome.ok and target_id in plan:
            for key in plan[target_id].alert_keys:
                received.setdefault(key, set()).add(target_id)

    still_pending = []
    outage, login = state.outage, state.login
    counted = state.delivered
    for pending in state.pending:
        got_it = received.get(pending.alert.key, set())
        if got_it and not pending.delivered_to:  # its first target: it counts once
            counted = counted.plus_one(pending.alert.severity)
        delivered = tuple(sorted(set(pending.delivered_to) | got_it))
        if pending.alert.kind == AlertKind.OUTAGE and outage is not None and got_it:
            outage = outage._replace(notified=tuple(sorted(set(outage.notified) | got_it)))
        if pending.alert.kind == AlertKind.LOGIN and login is not None and got_it:
            login = login._replace(notified=tuple(sorted(set(login.notified) | got_it)))
        wanted = {r.target_id for r in routes if routes_to(pending, r)}
        if not wanted <= set(delivered):
            still_pending.append(pending._replace(delivered_to=delivered))
    return state._replace(
        pending=tuple(still_pending), outage=outage, login=login, delivered=counted
    )
