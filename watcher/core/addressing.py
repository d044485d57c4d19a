"""How each account's alerts are sent, when several logins are watched. Pure.

Alerts are decided per account as for one login. For delivery they are addressed: their
keys qualified by the account (`work/threshold:80`), their title and body naming it when
more than one login is watched, a login alert given the command that fixes that login, and
their targets limited by the account's tags. Then one message per target holds every
account's alerts (`delivery.plan_messages`), and what each target received is recorded back
into each account's own history.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from watcher.core.delivery import Message, Outcome, Route, plan_messages, record_deliveries
from watcher.core.holding import Hold, sendable
from watcher.core.model import Alert, AlertKind, PendingAlert, State

ALWAYS_TAG = "always"  # a target tagged so gets every account's alerts
# The alerts that tell the user to run `grok login`: a named account's add which home.
_FIXED_BY_LOGIN = (AlertKind.LOGIN, AlertKind.TOKEN_EXPIRY)
_TITLE_START = "Grok Build:"


class Addressee(NamedTuple):
    """How one account's alerts are sent."""

    account: str  # the history's name: qualifies its alert keys when `names` are shown
    names: tuple[str, ...] = ()  # the names its alerts carry; () when one login is watched
    fix: str | None = None  # the command that fixes its login, for a login alert
    tags: tuple[str, ...] | None = None  # None: every target (see `reaches`)


def reaches(route: Route, tags: Sequence[str] | None) -> bool:
    """An account with tags reaches the targets carrying one of them, and those tagged
    `always`; one without reaches every target."""
    return tags is None or bool(route.tags & {*tags, ALWAYS_TAG})


def unreached(tags: Sequence[str] | None, routes: Iterable[Route]) -> bool:
    """The account's alerts would go nowhere."""
    return tags is not None and not any(reaches(r, tags) for r in routes)


def addressed(alert: Alert, addressee: Addressee) -> Alert:
    """The alert as sent for this account: named, with the command that fixes its login."""
    title, body = alert.title, alert.body
    if addressee.fix is not None and alert.kind in _FIXED_BY_LOGIN:
        body = f"{body} For this login: `{addressee.fix}`."
    if addressee.names and alert.kind != AlertKind.STATE:  # the state file is everyone's
        shown = ", ".join(addressee.names)
        if title.startswith(_TITLE_START):
            title = f"Grok Build ({shown}):{title[len(_TITLE_START) :]}"
        body = f"{shown}: {body}"
    return alert._replace(title=title, body=body)


def as_sent(alert: Alert, addressee: Addressee) -> Alert:
    """The alert as a target gets it: addressed, its key qualified when names are shown."""
    return addressed(alert, addressee)._replace(key=_qualified(alert.key, addressee))


def _qualified(key: str, addressee: Addressee) -> str:
    """Keys are unique within one history; several named ones need the account's name (one
    unnamed login keeps the keys --json has always shown)."""
    return f"{addressee.account}/{key}" if addressee.names else key


def _for_delivery(
    state: State, addressee: Addressee, routes: Sequence[Route]
) -> tuple[PendingAlert, ...]:
    """The account's pending alerts as delivery sees them: addressed, keys qualified, and
    routed only to the targets its tags reach."""
    reach = tuple(r.target_id for r in routes if reaches(r, addressee.tags))
    return tuple(
        p._replace(
            alert=as_sent(p.alert, addressee),
            only_to=reach if p.only_to is None else tuple(t for t in p.only_to if t in reach),
        )
        for p in state.pending
    )


def plan_for_accounts(
    accounts: Sequence[tuple[Addressee, State]],
    routes: Iterable[Route],
    holds: Mapping[str, Hold | None] | None = None,
    unread: Collection[str] = (),
    held_note: Callable[[datetime], str] | None = None,
) -> dict[str, Message]:
    """One message per target with every account's alerts routed to it, in config order
    (so that among equally important alerts the first account's titles the message) --
    but what an account's hold keeps back (`holding.sendable`; `holds` by account name;
    `unread`: the accounts this check could not read). A message holding alerts that were
    held ends with `held_note(since)`."""
    routes = tuple(routes)
    holds = holds or {}
    pending = [
        p
        for a, s in accounts
        for p in sendable(
            _for_delivery(s, a, routes), holds.get(a.account), a.account not in unread
        )
    ]
    plan = plan_messages(pending, routes)
    held = {p.alert.key: p.held_since for p in pending if p.held_since is not None}
    if held_note is None or not held:
        return plan
    for target_id, message in plan.items():
        since = [held[key] for key in message.alert_keys if key in held]
        if since:
            body = f"{message.body}\n\n{held_note(min(since))}"
            plan[target_id] = message._replace(body=body)
    return plan


def record_for_accounts(
    accounts: Sequence[tuple[Addressee, State]],
    plan: Mapping[str, Message],
    outcomes: Mapping[str, Outcome],
    routes: Iterable[Route],
) -> list[State]:
    """Each account's history with what each target received recorded (`record_deliveries`
    on its own alerts), in the order given."""
    routes = tuple(routes)
    recorded = []
    for addressee, state in accounts:
        as_sent = _for_delivery(state, addressee, routes)
        after = record_deliveries(state._replace(pending=as_sent), plan, outcomes, routes)
        originals = {_qualified(p.alert.key, addressee): p for p in state.pending}
        pending = tuple(
            originals[p.alert.key]._replace(delivered_to=p.delivered_to) for p in after.pending
        )
        recorded.append(after._replace(pending=pending))
    return recorded
