"""`--snooze`: alerts wait for a while, as in quiet hours, and come as one digest after it.

`--snooze 4h`, `--snooze until-reset` (each login until its own reset), `--snooze off`;
`--account NAME` for one login; `--include-critical` holds critical alerts too. Recorded in
the state file, under its lock: the state is the truth, so a running service sees a snooze
at its next check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from watcher.config import Config
from watcher.core.formatting import format_local_time
from watcher.core.model import Snooze, State
from watcher.durations import parse_duration
from watcher.errors import ConfigError
from watcher.logins import chosen, keeper, plan_watches
from watcher.state_file import check_ownership, in_own_place, load_state, save_state, state_lock

OFF = "off"
UNTIL_RESET = "until-reset"
SHORTEST = timedelta(minutes=1)
LONGEST = timedelta(days=366)

log = logging.getLogger(__name__)


def parse_when(text: str) -> str | timedelta:
    """ "off", "until-reset", or a duration ("4h", "90m", "1h30m"); ConfigError else."""
    if text in (OFF, UNTIL_RESET):
        return text
    if not text.strip():
        raise ConfigError("--snooze needs 4h, until-reset or off")
    try:
        span = parse_duration(text)
    except (ValueError, OverflowError) as exc:
        reason = "far too long" if isinstance(exc, OverflowError) else str(exc)
        raise ConfigError(
            f"--snooze {text}: {reason} (a duration like 4h or 1h30m, until-reset, or off)"
        ) from None
    if not SHORTEST <= span <= LONGEST:
        raise ConfigError(f"--snooze {text}: from a minute to a year")
    return span


def run_snooze(
    config: Config,
    state_path: Path,
    environ: Mapping[str, str],
    when: str,
    out: TextIO,
    only: Sequence[str] = (),
    include_critical: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Records the snooze of each chosen login; prints until when. 0, or an error."""
    wanted = parse_when(when)
    accounts = chosen(config, only)
    own_place = in_own_place(state_path, environ)
    check_ownership(state_path, own_place)
    with state_lock(state_path):
        histories, warning = load_state(state_path, clock(), own_place=own_place)
        if warning:
            log.warning("%s", warning)
        now = clock()
        lines = []
        # A login two names read keeps one history (logins.keeper): the snooze goes there.
        for watch in plan_watches(config.accounts, now, only=accounts):
            account = keeper(watch, histories)
            state = histories.get(account.name) or State()
            if wanted == OFF:
                was = state.snooze is not None and state.snooze.until > now
                state = state._replace(snooze=None)
                said = "snooze off" if was else "no snooze was on"
            else:
                until = _until(wanted, state, now, account.name, config.named_accounts)
                state = state._replace(snooze=Snooze(until, include_critical, now))
                said = f"snoozed until {format_local_time(until, now)}"
            if config.named_accounts:
                lines.append(f"{', '.join(watch.names)}: {said}.")
            else:
                lines.append(f"{said[0].upper()}{said[1:]}.")
            histories[account.name] = state
        save_state(state_path, histories)
    print("\n".join(lines), file=out)
    if wanted != OFF:
        print(_what_waits(config, include_critical), file=out)
    else:
        print(
            "Alerts go out again; what the snooze held comes at the next check (after the "
            "quiet hours, when they are on).",
            file=out,
        )
    return 0


def _until(
    wanted: str | timedelta, state: State, now: datetime, name: str, named: bool
) -> datetime:
    if isinstance(wanted, timedelta):
        return now + wanted
    period = state.period
    end = period.end if period is not None else None
    if end is None or end <= now:
        whose = f" for {name}" if named else ""
        raise ConfigError(
            f"--snooze until-reset: no reset time is known yet{whose}; run "
            "grok-usage-watcher --check first, or give a duration (--snooze 4h)"
        )
    return end


def _what_waits(config: Config, include_critical: bool) -> str:
    passes = None if include_critical else config.alerts.quiet_lets_through
    if passes is None:
        return "Every alert waits, and comes as one message when the snooze ends."
    return (
        f"Alerts below {passes.label} wait, and come as one message when the snooze ends; "
        f"{passes.label} ones still go out at once (--include-critical holds them too)."
    )
