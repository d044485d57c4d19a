"""How important an alert is: its severity, and the order alerts are listed in. Pure."""

from __future__ import annotations

from watcher.core.model import Alert, AlertKind, Severity

# The order alerts of equal severity are listed in, most important first.
KIND_ORDER: tuple[AlertKind, ...] = (
    AlertKind.LOGIN,
    AlertKind.OUTAGE,
    AlertKind.STATE,
    AlertKind.THRESHOLD,
    AlertKind.PACE,
    AlertKind.TOKEN_EXPIRY,
    AlertKind.METER,
    AlertKind.RESET,
    AlertKind.RECOVERED,
    AlertKind.TEST,
)


def threshold_severity(threshold: float) -> Severity:
    if threshold >= 100:
        return Severity.CRITICAL
    if threshold >= 80:
        return Severity.WARNING
    return Severity.INFO


def importance(alert: Alert) -> tuple[int, int]:
    """Sort key: most important first."""
    kind_rank = KIND_ORDER.index(alert.kind) if alert.kind in KIND_ORDER else len(KIND_ORDER)
    return (-int(alert.severity), kind_rank)
