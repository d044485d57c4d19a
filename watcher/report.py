"""What --check and --test-notify print: one summary line, or one JSON object. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from watcher.core.formatting import whole_percent
from watcher.core.model import Failure, Reading
from watcher.status import STATUS_SCHEMA, describe_reset, outlook_now, status_document

if TYPE_CHECKING:
    from watcher.check import CheckReport
    from watcher.core.delivery import Outcome
    from watcher.notify.targets import Target


def summary_line(report: CheckReport, now: datetime) -> str:
    observation = report.observation
    if isinstance(observation, Reading):
        usage = observation.usage
        what = f"{usage.period.kind} pool" if usage.meter == "pool" else "monthly credits"
        if usage.meter == "pool" and not usage.period.kind:
            what = "usage pool"
        read = (
            f"{whole_percent(usage.percent_used)}% used ({what}, "
            f"{describe_reset(usage.period.end, now)})"
        )
        return f"{read}; {_sent(report)}"
    assert isinstance(observation, Failure)
    # The message is a sentence of its own ("... Try again later."): so is what follows.
    sent = _sent(report)
    return f"{observation.message} {sent[0].upper()}{sent[1:]}."


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


def _targets(count: int) -> str:
    return f"{count} target" if count == 1 else f"{count} targets"


def check_document(report: CheckReport, now: datetime) -> dict[str, Any]:
    observation = report.observation
    if isinstance(observation, Reading):
        usage = observation.usage
        if usage.plan is None:  # /settings is asked once a day: the plan the state knows
            usage = usage._replace(plan=report.state.plan)
        reading: dict[str, Any] = status_document(
            usage,
            now,
            pace=outlook_now(usage, report.state, report.rules, now),
            login=report.login(now),
        )
        reading.pop("schema")
    else:
        reading = {"error": {"kind": observation.kind, "message": observation.message}}
    targets = {t.target_id: t for t in report.targets}
    return {
        "schema": STATUS_SCHEMA,
        "dry_run": report.dry_run,
        "reading": reading,
        "alerts": [
            {
                "kind": a.kind,
                "key": a.key,
                "severity": a.severity.label,
                "title": a.title,
                "body": a.body,
            }
            for a in report.alerts
        ],
        "deliveries": [
            _delivery(
                targets[target_id],
                message.title,
                message.alert_keys,
                report.outcomes.get(target_id),
            )
            for target_id, message in report.plan.items()
        ],
        "pending": len(report.state.pending),
        "state_saved": report.save_error is None and not report.dry_run,
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
