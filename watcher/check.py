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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from watcher.config import Account, Config
from watcher.core import messages
from watcher.core.accounts import claim, drop_unclaimed
from watcher.core.evaluate import evaluate, may_read_monthly_instead
from watcher.core.holding import Hold, hold_for, mark_held, sendable
from watcher.core.model import (
    Alert,
    Failure,
    Observation,
    PendingAlert,
    Reading,
    Rules,
    Severity,
    State,
)
from watcher.core.quiet import quiet_at, quiet_until
from watcher.critical import critical
from watcher.errors import ConfigError
from watcher.grok.client import MeterPolicy
from watcher.grok.login import SpentRefreshTokens, fingerprint
from watcher.grok.reading import observe, reading_deadline_seconds
from watcher.logins import Watch, addressee, chosen, keeper, plan_watches, shared_logins
from watcher.paths import default_auth_path
from watcher.state_file import (
    LOCK_WAIT_SECONDS,
    StateError,
    check_ownership,
    in_own_place,
    load_state,
    save_state,
    state_lock,
)

if TYPE_CHECKING:  # delivery and targets load only when something is due (see deliver)
    import requests

    from watcher.core.addressing import Addressee
    from watcher.core.delivery import Message, Outcome, Route
    from watcher.grok.identity import LoginView
    from watcher.notify.targets import Target

PLAN_MAX_AGE = timedelta(days=1)
MAX_SPENT_REMEMBERED = 8  # refresh token fingerprints kept per account

log = logging.getLogger(__name__)


class AccountCheck(NamedTuple):
    """One login's part of a check: what was read, decided and remembered for it."""

    name: str  # the account whose history it is
    observation: Observation
    alerts: tuple[Alert, ...]  # decided in this check, as sent (named, for several logins)
    state: State  # its history as saved (or as it would be, in a dry run)
    rules: Rules = Rules()  # the rules it was decided with
    auth_path: Path | None = None  # the login file read
    names: tuple[str, ...] = ()  # every account name that reads this login
    hold: Hold | None = None  # its snooze, or the quiet hours: what held its alerts back

    def login(self, now: datetime) -> LoginView | None:
        """Which login was read, for --json (read again: only --json asks)."""
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


class CheckReport(NamedTuple):
    accounts: tuple[AccountCheck, ...]  # every login read, in config order
    targets: tuple[Target, ...] = ()
    plan: Mapping[str, Message] = MappingProxyType({})
    outcomes: Mapping[str, Outcome] = MappingProxyType({})
    dry_run: bool = False
    save_error: str | None = None  # the state file could not be written: path and reason
    held: bool = False  # nothing was sent, because the state could not be saved first
    named: bool = False  # the config names its logins ([[accounts]])
    shared: tuple[str, ...] = ()  # a warning for each login two names read

    # The first login's: the only one without [[accounts]].
    @property
    def observation(self) -> Observation:
        return self.accounts[0].observation

    @property
    def state(self) -> State:
        return self.accounts[0].state

    @property
    def rules(self) -> Rules:
        return self.accounts[0].rules

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(a for account in self.accounts for a in account.alerts)

    def login(self, now: datetime) -> LoginView | None:
        return self.accounts[0].login(now)

    @property
    def read_ok(self) -> bool:
        return all(a.read_ok for a in self.accounts)

    @property
    def pending(self) -> int:
        return sum(len(a.state.pending) for a in self.accounts)

    @property
    def sendable(self) -> bool:
        """Something pending may go now (whether a target takes it is routing's business)."""
        return any(sendable(a.state.pending, a.hold, a.read_ok) for a in self.accounts)

    @property
    def hold(self) -> Hold | None:
        """The first login's hold (the only one's without [[accounts]])."""
        return self.accounts[0].hold

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
    """The service's histories between its checks. While the state file cannot be written,
    the service goes on from this copy, so that it still alerts once each."""

    def __init__(self) -> None:
        self.histories: dict[str, State] | None = None
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
    only: Sequence[str] = (),
    dry_run: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    spent: SpentRefreshTokens | None = None,
    print_to: TextIO | None = None,
    lock_wait_seconds: float | None = None,
    remembered: Remembered | None = None,
) -> CheckReport:
    """Read every account (`only`: those named), one after another, each within its own
    deadline; decide; save; send what is due, one message per target; save again."""
    accounts = chosen(config, only)
    if any(a.targets is not None for a in config.accounts):
        # Before anything is read or saved: alerts that would reach no one are a config
        # error now, not after the state has queued them. (Apprise loads only for tags.)
        from watcher.notify.targets import load_targets

        check_account_targets(config, [t.route for t in load_targets(config.notify, environ)])
    own_place = in_own_place(state_path, environ)
    check_ownership(state_path, own_place)  # before a lock or a directory is made beside it
    guard: contextlib.AbstractContextManager[Any]
    if dry_run:
        guard = contextlib.nullcontext()  # writes nothing, so it never waits for a writer
    else:
        # The wait covers a whole check of every login: one reading's deadline each, and
        # the sends after them.
        wait = lock_wait_seconds
        if wait is None:
            deadline = reading_deadline_seconds(config.grok.timeout_seconds)
            wait = LOCK_WAIT_SECONDS + deadline * (len(config.accounts) - 1)
        guard = state_lock(state_path, wait)
    with guard:
        if remembered is not None and remembered.unsaved and remembered.histories is not None:
            histories = dict(remembered.histories)  # the file is behind what was sent since
        else:
            histories, warning = load_state(
                state_path, clock(), move_aside=not dry_run, own_place=own_place
            )
            if warning:
                log.warning("%s", warning)
        if spent is None:
            spent = SpentRefreshTokens()
        spent.remembered = {
            mark: name for name, history in histories.items() for mark in history.spent_refresh
        }
        watches = plan_watches(config.accounts, clock(), only=accounts)
        shared = tuple(shared_logins(watches))
        for line in shared:
            log.debug("%s", line)
        checks: list[AccountCheck] = []
        with Sessions() as sessions:
            for watch in watches:
                histories, checked = _check_login(
                    watch, config, histories, environ, clock, spent, sessions
                )
                checks.append(checked)
        now = clock()
        histories = drop_unclaimed(histories, (a.name for a in config.accounts), now)
        quiet = hold_now(config, now)
        lets_through = config.alerts.quiet_lets_through
        checks = [_held_back(c, quiet, lets_through, now) for c in checks]
        histories = {**histories, **{c.name: c.state for c in checks}}
        from watcher.core.addressing import as_sent

        addressees = [
            addressee(w, config, environ, c.name) for w, c in zip(watches, checks, strict=True)
        ]
        checks = [
            c._replace(alerts=tuple(as_sent(a, who) for a in c.alerts))
            for c, who in zip(checks, addressees, strict=True)
        ]
        report = CheckReport(
            tuple(checks),
            dry_run=dry_run,
            named=config.named_accounts,
            shared=shared,
        )
        delivery = _Delivery(report, histories, addressees)
        if dry_run:
            return delivery.deliver(config, environ, print_to) if report.sendable else report
        first_save = _save(state_path, histories)
        if first_save is not None:
            report = report._replace(save_error=first_save.message)
            if remembered is None:
                report = report._replace(held=bool(report.pending))
                if config.export.textfile is not None:
                    export_textfile(config, report, histories, now)
                return report
            if remembered.unsaved is None:
                alert = messages.state_alert(str(state_path), first_save.reason, clock())
                report = delivery.with_state_alert(report, alert)
        delivery = _Delivery(report, delivery.histories, addressees)
        if report.sendable:  # targets (and Apprise) load only when something may go
            report = delivery.deliver(config, environ, print_to)
            if first_save is None:
                second_save = _save(state_path, delivery.histories)
                if second_save is not None:
                    report = report._replace(save_error=second_save.message)
        if remembered is not None:
            remembered.histories = delivery.histories
            remembered.unsaved = report.save_error
        if config.export.textfile is not None:
            export_textfile(config, report, delivery.histories, now)
    return report


def _check_login(
    watch: Watch,
    config: Config,
    histories: dict[str, State],
    environ: Mapping[str, str],
    clock: Callable[[], datetime],
    spent: SpentRefreshTokens,
    sessions: Sessions,
) -> tuple[dict[str, State], AccountCheck]:
    """Read one login (through the first of its files that reads), claim its history and
    decide. Nothing here touches another login's history."""
    primary = keeper(watch, histories)
    before = histories.get(primary.name) or State()
    if watch.identity is not None and before.identity not in (None, watch.identity):
        # The file holds another login now: read it as a login with no history (which meter
        # answers, the plan), not with the former login's.
        as_read = State()
    else:
        as_read = before
    sessions.next_login()
    observation, read_from = read_watch(watch, config, as_read, clock, spent, sessions)
    now = clock()
    configured = [a.name for a in config.accounts]
    # The history kept before several logins could be watched ([accounts.default], which
    # file it was read from not recorded): the only account's, when it reads the file that
    # version read by default. (One moved with [grok] auth_file may alert once again: never
    # a history carried into another login's.)
    legacy = str(default_auth_path(environ)) if len(config.accounts) == 1 else None
    if isinstance(observation, Reading):
        who = _who(read_from.auth_file, observation, now)
        identity = observation.token.identity
    else:
        # Not read: the history is found by the identity the file gives (a renamed account
        # failing at once keeps its incidents), never judged by it.
        who, identity = None, watch.identity if primary.name not in histories else None
    note = None
    if isinstance(observation, Reading) or identity is not None:
        claimed = claim(
            histories,
            primary.name,
            identity,
            str(read_from.auth_file),
            configured,
            now,
            who=who,
            legacy_auth_file=legacy,
        )
        histories, state, note = claimed.histories, claimed.state, claimed.note
        if note is not None:
            log.info("%s: now watching another login, %s", primary.name, who)
        if claimed.adopted_from is not None:
            log.info(
                "%s: took over the history of %s (the same login)",
                primary.name,
                claimed.adopted_from,
            )
    else:
        state = before._replace(seen_at=now)
    state = _with_spent(state, spent, watch)
    rules = primary.rules._replace(local_zone=config.alerts.local_zone)
    evaluation = evaluate(observation, state, rules, now)
    histories = {**histories, primary.name: evaluation.state}
    if log.isEnabledFor(logging.DEBUG):  # -v: why, rule by rule (imported only then)
        from watcher.core.decisions import decisions

        for line in decisions(observation, evaluation.state, rules, now):
            log.debug("%s%s", f"{primary.name}: " if config.named_accounts else "", line)
    checked = AccountCheck(
        primary.name,
        observation,
        ((note,) if note is not None else ()) + evaluation.alerts,
        evaluation.state,
        rules,
        read_from.auth_file,
        watch.names,
    )
    return histories, checked


def read_watch(
    watch: Watch,
    config: Config,
    history: State,
    clock: Callable[[], datetime],
    spent: SpentRefreshTokens | None,
    sessions: Sessions,
    with_plan: bool | None = None,
) -> tuple[Observation, Account]:
    """One login read through the first of its files that reads (a login problem tries the
    next copy; an outage would meet every copy alike), and the account read from. The plan
    is asked when the history's is stale, unless `with_plan` says."""
    observation: Observation | None = None
    read_from = watch.primary
    for account in watch.accounts:
        attempt = observe(
            config.grok._replace(auth_file=account.auth_file),
            with_plan=plan_is_stale(history, clock()) if with_plan is None else with_plan,
            policy=meter_policy(history, clock()),
            now=clock,
            spent=spent,
            session=sessions.get(),
            others=watch.others.get(account.name),
            account=account.name,
        )
        if isinstance(attempt, Failure):
            sessions.discard()  # a connection cut mid-answer must not serve the next login
        if observation is None or isinstance(attempt, Reading):
            observation, read_from = attempt, account
        if not (isinstance(attempt, Failure) and attempt.login_problem):
            break
    assert observation is not None
    return observation, read_from


def _with_spent(state: State, spent: SpentRefreshTokens, watch: Watch) -> State:
    """The history with the fingerprints of the refresh tokens the server rotated for this
    login's readings, the latest MAX_SPENT_REMEMBERED: a later check must never send them
    again, whatever file still holds one (a restored backup, a copied Grok home)."""
    sent = [fingerprint(t) for t, name in spent.sent_by.items() if name in watch.names]
    if not sent:
        return state
    kept = tuple(dict.fromkeys((*state.spent_refresh, *sent)))
    return state._replace(spent_refresh=kept[-MAX_SPENT_REMEMBERED:])


def _who(auth_file: Path, reading: Reading, now: datetime) -> str | None:
    from watcher.grok.identity import describe_login

    view = describe_login(auth_file, now, reading.token.entry)
    return view.who if view is not None else None


class Sessions:
    """One HTTP session for every reading of a check: a second login costs one request on
    the connection the first opened, not a new connection (and TLS handshake)."""

    def __init__(self) -> None:
        self._session: requests.Session | None = None

    def __enter__(self) -> Sessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def get(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def next_login(self) -> None:
        """Another login reads next: the connection stays, one login's cookies do not (an
        answer tied to a cookie must never be another login's usage)."""
        if self._session is not None:
            self._session.cookies.clear()

    def discard(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class _Delivery:
    """The histories of one check and how each login's alerts are addressed: the delivery
    step, over every account at once."""

    def __init__(
        self, report: CheckReport, histories: dict[str, State], addressees: list[Addressee]
    ) -> None:
        self.report = report
        self.histories = histories
        self.addressees = addressees

    def with_state_alert(self, report: CheckReport, alert: Alert) -> CheckReport:
        """The service cannot save: one alert says so, kept in the first login's history."""
        first = report.accounts[0]
        state = first.state._replace(pending=(*first.state.pending, PendingAlert(alert)))
        self.histories = {**self.histories, first.name: state}
        first = first._replace(state=state, alerts=(*first.alerts, alert))
        return report._replace(accounts=(first, *report.accounts[1:]))

    def deliver(
        self, config: Config, environ: Mapping[str, str], print_to: TextIO | None
    ) -> CheckReport:
        from watcher.core.addressing import plan_for_accounts, record_for_accounts
        from watcher.core.delivery import deliver
        from watcher.notify.targets import load_targets, renamed_ids, send

        report = self.report
        targets = _unique(load_targets(config.notify, environ))
        routes = [t.route for t in targets]
        renamed = renamed_ids(targets)
        accounts = tuple(
            a._replace(state=_with_current_ids(a.state, renamed)) for a in report.accounts
        )
        pairs = list(zip(self.addressees, (a.state for a in accounts), strict=True))
        unread = {a.name for a in accounts if not a.read_ok}
        holds = {a.name: a.hold for a in accounts}
        plan = plan_for_accounts(pairs, routes, holds, unread, _held_note(config))
        report = report._replace(accounts=accounts, targets=tuple(targets), plan=plan)
        self._keep(accounts)
        if report.dry_run or not plan:
            return report
        by_id = {t.target_id: t for t in targets}
        stream = print_to if print_to is not None else sys.stdout

        def send_to(target_id: str, message: Message) -> Outcome:
            outcome = send(by_id[target_id], message, stream)
            if not outcome.ok:
                log.debug("delivery to %s failed: %s", by_id[target_id].masked, outcome.reason)
            return outcome

        outcomes = deliver(plan, routes, send_to)
        states = record_for_accounts(pairs, plan, outcomes, routes)
        accounts = tuple(a._replace(state=s) for a, s in zip(accounts, states, strict=True))
        self._keep(accounts)
        return report._replace(accounts=accounts, outcomes=outcomes)

    def _keep(self, accounts: Sequence[AccountCheck]) -> None:
        self.histories = {**self.histories, **{a.name: a.state for a in accounts}}


def hold_now(config: Config, now: datetime) -> Hold | None:
    """The hold on alerts at `now`: quiet hours ([[quiet]])."""
    if not config.quiet or not quiet_at(now, config.quiet):
        return None
    return Hold(config.alerts.quiet_lets_through, quiet_until(now, config.quiet))


def _held_back(
    checked: AccountCheck, quiet: Hold | None, lets_through: Severity | None, now: datetime
) -> AccountCheck:
    """The login's hold now (its snooze, else the quiet hours), what it keeps back marked
    (and saved so); a snooze that has ended is forgotten."""
    state = checked.state
    hold = hold_for(state, quiet, lets_through, now)
    if state.snooze is not None and now >= state.snooze.until:
        state = state._replace(snooze=None)
    return checked._replace(state=mark_held(state, hold, now), hold=hold)


def _held_note(config: Config) -> Callable[[datetime], str]:
    def note(since: datetime) -> str:
        from watcher.core.formatting import format_local_time

        when = format_local_time(since, datetime.now(UTC), config.alerts.local_zone)
        return f"Held since {when}."

    return note


def check_config_targets(config: Config, environ: Mapping[str, str]) -> None:
    """For a person to read at once (the service's start and reload, --install-service): a
    URL Apprise cannot read, or an account whose alerts would reach no target."""
    from watcher.notify.targets import check_targets, load_targets

    check_targets(config.notify, environ)
    if any(a.targets is not None for a in config.accounts):
        check_account_targets(config, [t.route for t in load_targets(config.notify, environ)])


def check_account_targets(config: Config, routes: Sequence[Route]) -> None:
    """An account whose tags no target carries would alert no one: a config error."""
    from watcher.core.addressing import unreached

    for account in config.accounts:
        if unreached(account.targets, routes):
            tags = ", ".join(account.targets or ())
            raise ConfigError(
                f'[[accounts]] "{account.name}" targets: no target carries the tag '
                f"{tags} (nor always): its alerts would go nowhere"
            )


def export_textfile(
    config: Config, report: CheckReport, histories: Mapping[str, State], now: datetime
) -> None:
    """The metrics file after a check, whatever it read, with every configured account (one
    this check did not read, `--account`, as its history has it); a failure to write it is
    one warning line, never a failed check (the stale-export rule is Prometheus's to raise)."""
    from watcher.export import AccountMetrics, metrics_text, remembered_observation, write_textfile

    assert config.export.textfile is not None
    path = config.export.textfile
    read = {name for a in report.accounts for name in (a.name, *a.names)}
    accounts = [AccountMetrics(a.name, a.observation, a.state, a.rules) for a in report.accounts]
    for account in config.accounts:
        history = histories.get(account.name)
        if account.name not in read and history is not None:
            observation = remembered_observation(history)
            accounts.append(AccountMetrics(account.name, observation, history, account.rules))
    try:
        write_textfile(path, metrics_text(accounts, now))
    except OSError as exc:
        log.warning("cannot write the metrics file %s: %s", path, exc.strerror or exc)


def _save(path: Path, histories: Mapping[str, State]) -> StateError | None:
    try:
        with critical():  # a stop waits for the save: no temp file left behind
            save_state(path, histories)
    except StateError as error:
        return error
    return None


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
