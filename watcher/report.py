"""What --check and --test-notify print: one summary line, or one JSON object. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from watcher.core.formatting import format_local_time, whole_percent
from watcher.core.model import Failure, Observation, Reading
from watcher.status import STATUS_SCHEMA, describe_reset, outlook_now, status_document

if TYPE_CHECKING:
    from watcher.check import AccountCheck, CheckReport
    from watcher.core.delivery import Outcome
    from watcher.notify.targets import Target


def summary_line(report: CheckReport, now: datetime) -> str:
    """ "83% used (weekly pool, resets ...); nothing to send" -- for several named logins,
    each one's part under its name."""
    parts = [_read_part(a.observation, now) for a in report.accounts]
    if report.named:
        parts = [
            f"{', '.join(a.names) or a.name}: {p}"
            for a, p in zip(report.accounts, parts, strict=True)
        ]
    read = "; ".join(parts)
    sent = _sent(report) + _held(report, now)
    if read.endswith("."):
        # A failure's message is a sentence of its own ("... Try again later."): so is what
        # follows.
        return f"{read} {sent[0].upper()}{sent[1:]}."
    return f"{read}; {sent}"


def _read_part(observation: Observation, now: datetime) -> str:
    if isinstance(observation, Reading):
        usage = observation.usage
        what = f"{usage.period.kind} pool" if usage.meter == "pool" else "monthly credits"
        if usage.meter == "pool" and not usage.period.kind:
            what = "usage pool"
        return (
            f"{whole_percent(usage.percent_used)}% used ({what}, "
            f"{describe_reset(usage.period.end, now)})"
        )
    assert isinstance(observation, Failure)
    return observation.message


def _sent(report: CheckReport) -> str:
    if report.held:
        return "nothing sent: the state could not be saved, so what is sent could not be recorded"
    if not report.plan:
        return "nothing to send"
    titles = sorted({m.title for m in report.plan.values()})
    what = f"“{titles[0]}”" if len(titles) == 1 else f"{len(titles)} different messages"
    names = {t.target_id: t.masked for t in report.targets}
    if report.dry_run:
        return f"would send {what} to {_targets(len(report.plan))}: " + ", ".join(
            names[t] for t in report.plan
        )
    attempted = {t: o for t, o in report.outcomes.items() if o.attempted}
    ok = [t for t, o in attempted.items() if o.ok]
    failed = ", ".join(f"{names[t]} ({o.reason})" for t, o in attempted.items() if not o.ok)
    if not ok:
        return f"could not send {what}: {failed}; will retry next check"
    if not failed:
        return f"sent {what} to {_targets(len(ok))}"
    return (
        f"sent {what} to {len(ok)} of {_targets(len(attempted))}; "
        f"failed, will retry next check: {failed}"
    )


def _held(report: CheckReport, now: datetime) -> str:
    """ "; 2 alerts held until Tue 24 Nov 07:30 CET (quiet hours)" """
    from watcher.core.holding import is_held

    said = []
    for account in report.accounts:
        hold = account.hold
        count = sum(1 for p in account.state.pending if is_held(p, hold))
        if hold is None or not count:
            continue
        until = f" until {format_local_time(hold.until, now)}" if hold.until is not None else ""
        whose = f"{account.name}: " if report.named else ""
        alerts = f"{count} alert{'s' if count > 1 else ''}"
        said.append(f"{whose}{alerts} held{until} ({hold.why})")
    return "".join(f"; {line}" for line in said)


def _targets(count: int) -> str:
    return f"{count} target" if count == 1 else f"{count} targets"


def check_document(report: CheckReport, now: datetime) -> dict[str, Any]:
    """One check as JSON: every account under `accounts`; one unnamed login's reading also
    at the top, where it was before several logins could be watched."""
    targets = {t.target_id: t for t in report.targets}
    accounts = [_account_document(a, now) for a in report.accounts]
    document: dict[str, Any] = {"schema": STATUS_SCHEMA, "dry_run": report.dry_run}
    if not report.named:
        document["reading"] = accounts[0]["reading"]
    document.update(
        {
            "alerts": [alert for a in accounts for alert in a["alerts"]],
            "deliveries": [
                _delivery(
                    targets[target_id],
                    message.title,
                    message.alert_keys,
                    report.outcomes.get(target_id),
                )
                for target_id, message in report.plan.items()
            ],
            "pending": report.pending,
            "state_saved": report.save_error is None and not report.dry_run,
            "accounts": accounts,
        }
    )
    return document


def _account_document(account: AccountCheck, now: datetime) -> dict[str, Any]:
    observation = account.observation
    if isinstance(observation, Reading):
        usage = observation.usage
        if usage.plan is None:  # /settings is asked once a day: the plan the state knows
            usage = usage._replace(plan=account.state.plan)
        reading: dict[str, Any] = status_document(
            usage,
            now,
            pace=outlook_now(usage, account.state, account.rules, now),
            login=account.login(now),
        )
        reading.pop("schema")
    else:
        reading = {"error": {"kind": observation.kind, "message": observation.message}}
    return {
        "name": account.name,
        "names": list(account.names or (account.name,)),
        "reading": reading,
        "alerts": [
            {
                "kind": a.kind,
                "key": a.key,
                "severity": a.severity.label,
                "title": a.title,
                "body": a.body,
            }
            for a in account.alerts
        ],
        "pending": len(account.state.pending),
    }


def _delivery(
    target: Target, title: str, keys: tuple[str, ...], outcome: Outcome | None
) -> dict[str, Any]:
    return {
        "target": target.masked,
        "tags": list(target.tags),
        "title": title,
        "alerts": list(keys),
        "sent": outcome.attempted if outcome else False,
        "ok": outcome.ok if outcome else None,
        "reason": (outcome.reason or None) if outcome else None,
    }
