"""Where alerts go: Apprise targets from the config, or the fallback (print + desktop).

The only module that imports apprise, and only when something is to be sent or tested:
Apprise loads all of its plugins on first use (~0.2 s, ~20 MB).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from watcher.config import NotifySettings
from watcher.delivery import Message, Outcome, Route
from watcher.model import Severity

ROUTING_TAGS = {"info": Severity.INFO, "warning": Severity.WARNING, "critical": Severity.CRITICAL}
PRINT_TARGET_ID = "stdout"
DESKTOP_URL = "dbus://"
# The "tag,tag=" prefix of Apprise's TEXT config form, before the URL's "scheme://".
_TAG_PREFIX = re.compile(r"^\s*(?P<tags>[^=:/]*(?::[^=:/]*)*)=\s*(?P<url>[a-z0-9+.-]+://.*)$", re.I)

log = logging.getLogger(__name__)


class Target(NamedTuple):
    target_id: str  # a stable hash of the URL: the state file never holds a URL
    masked: str  # the URL with secrets hidden, for people
    tags: tuple[str, ...]
    route: Route
    service: Any = None  # the Apprise service; None for the print target or a broken URL
    problem: str | None = None  # why it cannot be sent to
    secrets: tuple[str, ...] = ()  # fragments to hide from Apprise's failure reasons

    @property
    def is_print(self) -> bool:
        return self.target_id == PRINT_TARGET_ID

    def __repr__(self) -> str:  # the service and the secrets stay out of logs and tracebacks
        return f"Target(target_id={self.target_id!r}, masked={self.masked!r}, tags={self.tags!r})"


def target_id_for(url: str) -> str:
    return hashlib.sha256(url.strip().encode()).hexdigest()[:12]


def min_severity(tags: Iterable[str]) -> Severity:
    """critical -> critical only; warning -> warning and critical; info, untagged, or only
    other tags -> everything. The most inclusive routing tag wins."""
    routing = [ROUTING_TAGS[t.strip().lower()] for t in tags if t.strip().lower() in ROUTING_TAGS]
    return min(routing) if routing else Severity.INFO


def configured(settings: NotifySettings) -> bool:
    return bool(settings.urls or settings.config)


def load_targets(settings: NotifySettings, environ: Mapping[str, str]) -> list[Target]:
    if not configured(settings):
        return fallback_targets(environ)
    import apprise

    targets: list[Target] = []
    for line in settings.urls:
        targets.extend(_from_text(apprise, line))
    for path in settings.config:
        targets.extend(_from_config_file(apprise, path))
    return _with_chains(targets)


def describe_configured(settings: NotifySettings) -> str:
    """The targets by scheme and routing, for the service's start line: without Apprise (it
    would cost every start 0.2 s), so no URL is shown, masked or not."""
    if not configured(settings):
        return (
            "none configured: alerts are printed here and, when a desktop session bus is "
            "reachable, shown on the desktop"
        )
    parts = []
    for line in settings.urls:
        match = _TAG_PREFIX.match(line)
        url = match.group("url") if match else line.strip()
        tags = match.group("tags").split(",") if match else []
        scheme = url.partition("://")[0].lower() if "://" in url else "?"
        parts.append(f"{scheme}:// ({_ROUTING_WORDS[min_severity(tags)]})")
    parts.extend(f"Apprise config {path}" for path in settings.config)
    return ", ".join(parts)


_ROUTING_WORDS = {
    Severity.INFO: "every alert",
    Severity.WARNING: "warning and critical",
    Severity.CRITICAL: "critical only",
}


def fallback_targets(environ: Mapping[str, str]) -> list[Target]:
    """No target configured: print (cron mail and the journal carry it) and, when a desktop
    session is reachable, a desktop notification."""
    targets = [Target(PRINT_TARGET_ID, "print to standard output", (), Route(PRINT_TARGET_ID))]
    desktop = desktop_target(environ)
    if desktop is not None:
        targets.append(desktop)
    return targets


def desktop_bus_address(environ: Mapping[str, str]) -> str | None:
    address = environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime, "bus").exists():  # a user service has no variable, but this
        return f"unix:path={Path(runtime, 'bus')}"
    return None


def desktop_target(environ: Mapping[str, str]) -> Target | None:
    address = desktop_bus_address(environ)
    if address is None:
        return None
    try:
        import dbus  # noqa: F401  (the extra `grok-usage-watcher[desktop]`)
    except ImportError:
        log.debug("a session bus is there but dbus-python is not installed: no desktop alert")
        return None
    os.environ.setdefault("DBUS_SESSION_BUS_ADDRESS", address)
    import apprise

    services = _services(apprise, DESKTOP_URL)
    if not services:
        return None
    return Target(
        target_id_for(DESKTOP_URL), DESKTOP_URL, (), Route(target_id_for(DESKTOP_URL)), services[0]
    )


def _services(apprise: Any, text_config: str) -> list[Any]:
    config = apprise.AppriseConfig()
    config.add_config(text_config, format="text")
    notifier = apprise.Apprise()
    notifier.add(config)
    return list(notifier)


def _from_text(apprise: Any, line: str) -> list[Target]:
    match = _TAG_PREFIX.match(line)
    url = match.group("url") if match else line.strip()
    services = _services(apprise, line if match else f"{url}")
    if not services:
        return [_broken(url, "Apprise cannot parse this URL")]
    return [_target(service, target_id_for(url)) for service in services]


def _from_config_file(apprise: Any, path: Path) -> list[Target]:
    try:
        path.read_bytes()
    except OSError as exc:
        return [_broken(str(path), f"cannot read the Apprise config: {exc.strerror or exc}")]
    config = apprise.AppriseConfig()
    config.add(str(path))
    notifier = apprise.Apprise()
    notifier.add(config)
    services = list(notifier)
    if not services:
        return [_broken(str(path), "no Apprise URL could be read from this config file")]
    return [_target(s, target_id_for(s.url(privacy=False))) for s in services]


def _target(service: Any, target_id: str) -> Target:
    tags = tuple(sorted(service.tags, key=str))
    secret_url = service.url(privacy=False)
    masked = service.url(privacy=True)
    return Target(
        target_id=target_id,
        masked=masked,
        tags=tuple(_tag_label(t) for t in tags),
        route=Route(target_id, min_severity(str(t) for t in tags)),
        service=service,
        secrets=_secret_fragments(secret_url, masked),
    )


def _broken(url: str, problem: str) -> Target:
    target_id = target_id_for(url)
    return Target(target_id, mask_unparsed(url), (), Route(target_id), problem=problem)


def mask_unparsed(url: str) -> str:
    """Apprise cannot mask what it cannot parse: keep the scheme, hide the rest."""
    scheme, separator, _ = url.partition("://")
    return f"{scheme}://****" if separator else "****"


def _tag_label(tag: Any) -> str:
    if getattr(tag, "has_priority", False):
        return f"{tag.priority}:{tag}"
    return str(tag)


def _with_chains(targets: list[Target]) -> list[Target]:
    """Targets sharing a tag that carries a priority (`1:phone`, `2:phone`) escalate."""
    chain_names = {
        str(tag).lower()
        for t in targets
        if t.service is not None
        for tag in t.service.tags
        if getattr(tag, "has_priority", False) and str(tag).lower() not in ROUTING_TAGS
    }
    chained = []
    for target in targets:
        chain, priority = None, 0
        for tag in sorted(target.service.tags, key=str) if target.service is not None else ():
            if str(tag).lower() in chain_names:
                chain, priority = str(tag).lower(), int(getattr(tag, "priority", 0))
                break
        if chain is not None:
            target = target._replace(route=target.route._replace(chain=chain, priority=priority))
        chained.append(target)
    return chained


def _secret_fragments(secret_url: str, masked_url: str) -> tuple[str, ...]:
    fragments = set(re.findall(r"[A-Za-z0-9_\-.~%]{6,}", secret_url))
    return tuple(sorted(f for f in fragments if f not in masked_url))


def redact(text: str, target: Target) -> str:
    for fragment in target.secrets:
        text = text.replace(fragment, "****")
    return text


# --- sending ------------------------------------------------------------------------------------


def send(target: Target, message: Message, out: Any = None) -> Outcome:
    if target.is_print:
        stream = out if out is not None else sys.stdout
        # Flushed: under systemd stdout is a pipe to the journal, block-buffered otherwise.
        print(
            f"[{message.severity.label}] {message.title}\n{message.body}", file=stream, flush=True
        )
        return Outcome(True)
    if target.service is None:
        return Outcome(False, target.problem or "cannot be sent to")
    import apprise

    notify_type = {
        Severity.INFO: apprise.NotifyType.INFO,
        Severity.WARNING: apprise.NotifyType.WARNING,
        Severity.CRITICAL: apprise.NotifyType.FAILURE,
    }[message.severity]
    reasons = _ReasonCollector()
    apprise_log = logging.getLogger("apprise")
    apprise_log.addHandler(reasons)
    try:
        ok = bool(
            target.service.notify(body=message.body, title=message.title, notify_type=notify_type)
        )
    except Exception as exc:  # a plugin bug must not stop the other targets
        ok = False
        reasons.messages.append(f"{type(exc).__name__}: {exc}")
    finally:
        apprise_log.removeHandler(reasons)
    if ok:
        return Outcome(True)
    reason = reasons.messages[-1] if reasons.messages else "Apprise reported a failure"
    return Outcome(False, redact(reason, target))


class _ReasonCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))
