"""Which login files a check reads, for which accounts, and how each account is addressed.

Two names whose files hold the same login (the same identity, or the same refresh token: a
copied Grok home) are one watch: the login is read once, through the first of its files that
reads, its history is the first name's, and its alerts name all of them. Reading it twice
would alert twice -- and refreshing both copies would spend the refresh token the other
still holds, logging it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from watcher.config import Account, Config
from watcher.core.addressing import Addressee
from watcher.core.model import State
from watcher.errors import ConfigError
from watcher.grok.identity import LoginPeek, peek_login
from watcher.paths import home_directory


class Watch(NamedTuple):
    """One login to read: the accounts whose files hold it, in config order."""

    accounts: tuple[Account, ...]
    # Per account name: refresh tokens an earlier account's file holds, to that account's
    # name. A reading through this file must never send them (see grok/login.py).
    others: Mapping[str, Mapping[str, str]]
    identity: str | None = None  # whose login the files hold, as they say before a reading

    def __repr__(self) -> str:  # `others` holds refresh tokens: never in a log or traceback
        return f"Watch(names={self.names!r}, identity={self.identity!r})"

    @property
    def primary(self) -> Account:
        """The account whose name keeps the history and whose rules decide."""
        return self.accounts[0]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.accounts)


def chosen(config: Config, only: Sequence[str]) -> tuple[Account, ...]:
    """The accounts `--account NAME ...` picks (any case), in config order; all without."""
    if not only:
        return config.accounts
    by_name = {a.name.lower(): a for a in config.accounts}
    for name in only:
        if name.lower() not in by_name:
            known = ", ".join(a.name for a in config.accounts)
            raise ConfigError(f"--account {name}: no such account (the config has: {known})")
    wanted = {name.lower() for name in only}
    return tuple(a for a in config.accounts if a.name.lower() in wanted)


def plan_watches(
    accounts: Sequence[Account], now: datetime, only: Sequence[Account] | None = None
) -> list[Watch]:
    """The accounts grouped by the login their files hold (read from the files, no
    network), in config order; with `only`, the watches holding one of those. Every account
    is looked at even then: a copy's refresh token is known only from the other file."""
    watches = _grouped(accounts, now)
    if only is None:
        return watches
    wanted = {a.name for a in only}
    return [w for w in watches if wanted.intersection(w.names)]


def _grouped(accounts: Sequence[Account], now: datetime) -> list[Watch]:
    peeks = {a.name: peek_login(a.auth_file, now) for a in accounts}
    groups: list[list[Account]] = []
    for account in accounts:
        for group in groups:
            if _same_login(peeks[group[0].name], peeks[account.name]):
                group.append(account)
                break
        else:
            groups.append([account])
    holder: dict[str, str] = {}  # refresh token -> the first account whose file holds it
    for account in accounts:
        for token in peeks[account.name].refresh_tokens:
            holder.setdefault(token, account.name)
    watches = []
    for group in groups:
        others = {
            a.name: {
                token: name
                for token in peeks[a.name].refresh_tokens
                if (name := holder[token]) != a.name
            }
            for a in group
        }
        identity = next((i for a in group if (i := peeks[a.name].identity)), None)
        watches.append(Watch(tuple(group), others, identity))
    return watches


def _same_login(first: LoginPeek, second: LoginPeek) -> bool:
    same_identity = first.identity is not None and first.identity == second.identity
    return same_identity or bool(first.refresh_tokens & second.refresh_tokens)


def shared_logins(watches: Sequence[Watch]) -> list[str]:
    """One warning line for each login that two names read."""
    return [
        f"accounts {_listed(w.names)} read the same Grok login: it is read once, through "
        f"{w.primary.name}'s file, and its alerts name {'both' if len(w.names) == 2 else 'all'}"
        for w in watches
        if len(w.accounts) > 1
    ]


def _listed(names: Sequence[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def keeper(watch: Watch, histories: Mapping[str, State]) -> Account:
    """The account whose history the login's is: of its names, the one whose history
    belongs to this login (a name whose file now holds another watched name's login must not
    alert that login's thresholds again), else the first."""
    for account in watch.accounts:
        history = histories.get(account.name)
        if (
            watch.identity is not None
            and history is not None
            and history.identity == watch.identity
        ):
            return account
    return watch.primary


def addressee(
    watch: Watch, config: Config, environ: Mapping[str, str], account: str | None = None
) -> Addressee:
    """How this login's alerts are sent (`account`: the name its history is kept under):
    named when the config watches several logins, routed by its accounts' tags (any account
    without tags: every target)."""
    accounts = watch.accounts
    tags: tuple[str, ...] | None = None
    if all(a.targets is not None for a in accounts):
        tags = tuple(dict.fromkeys(t for a in accounts for t in a.targets or ()))
    return Addressee(
        account=account or watch.primary.name,
        names=watch.names if len(config.accounts) > 1 else (),
        fix=login_command(watch.primary, environ),
        tags=tags,
    )


def login_command(account: Account, environ: Mapping[str, str]) -> str | None:
    """The command that logs this account's Grok home in: only for a named account (one
    login without [[accounts]] keeps the seed's sentence alone), and only when its file is a
    Grok home's auth.json (where `grok login` writes)."""
    if not account.named:
        return None
    home = account.grok_home
    if home is None and account.auth_file.name == "auth.json":
        home = account.auth_file.parent
    if home is None:
        return None
    return f"GROK_HOME={_shown_path(home, environ)} grok login"


def _shown_path(path: Path, environ: Mapping[str, str]) -> str:
    """~/.grok-work for a path in the home directory (the shell expands it), else quoted
    as the shell needs."""
    import shlex  # a named account's login alert only

    try:
        inside = path.relative_to(home_directory(environ))
    except ValueError:
        return shlex.quote(str(path))
    return "~/" + shlex.quote(str(inside)) if str(inside) != "." else "~"
