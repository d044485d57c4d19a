"""Where alerts go: Apprise targets from the config, or the fallback (print + desktop).

A target is what Apprise sends to: one service, named by the URL Apprise rebuilds from it
(`url(privacy=False)`), however and wherever the user wrote it. The same service listed inline
and in an Apprise config file, or typed two ways, is one target and gets one message.

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

from watcher.core.delivery import Message, Outcome, Route
from watcher.core.model import Severity
from watcher.errors import ConfigError
from watcher.notify.settings import NotifySettings

ROUTING_TAGS = {"info": Severity.INFO, "warning": Severity.WARNING, "critical": Severity.CRITICAL}
PRINT_TARGET_ID = "stdout"
DESKTOP_URL = "dbus://"
# The "tag,tag=" prefix of Apprise's TEXT config form, before the URL's "scheme://".
_TAG_PREFIX = re.compile(r"^\s*(?P<tags>[^=:/]*(?::[^=:/]*)*)=\s*(?P<url>[a-z0-9+.-]+://.*)$", re.I)
# A URL line of a TEXT config file, as Apprise's own parser tells it from comments, tag-group
# assignments and `include` lines.
_TEXT_URL_LINE = re.compile(r"^(?:[a-z0-9,_: \t-]*=)?\s*(?P<url>[a-z0-9]{1,32}://.*)$", re.I)
# Apprise reads a config file as YAML by its name, never by its content.
_YAML_NAME = re.compile(r"^.*\.ya?ml\s*$", re.I)

log = logging.getLogger(__name__)


class Target(NamedTuple):
    target_id: str  # a stable hash of the service's URL: the state file never holds a URL
    masked: str  # the URL with secrets hidden, for people
    tags: tuple[str, ...]  # every place's tags, a priority shown as "1:phone"
    route: Route
    service: Any = None  # the Apprise service; None for the print target or a broken URL
    problem: str | None = None  # why it cannot be sent to
    secrets: tuple[str, ...] = ()  # fragments to hide from Apprise's failure reasons
    places: tuple[str, ...] = ()  # where the config names it: "urls[2]", "/p/apprise.yml line 4"
    aliases: tuple[str, ...] = ()  # its other ids under the previous version's naming

    @property
    def is_print(self) -> bool:
        return self.target_id == PRINT_TARGET_ID

    def __repr__(self) -> str:  # the service and the secrets stay out of logs and tracebacks
        return (
            f"Target(target_id={self.target_id!r}, masked={self.masked!r}, tags={self.tags!r}, "
            f"places={self.places!r})"
        )


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
    """Every target once, in the order the config first names it. A URL Apprise cannot read
    is a target that fails (a check goes on sending to the others), not an error."""
    return _read(settings, environ)[0]


def checked_targets(settings: NotifySettings, environ: Mapping[str, str]) -> list[Target]:
    """`load_targets`, for when a person is there to read a mistake: ConfigError, one line
    naming the first entry Apprise cannot read (by its place, masked)."""
    targets, problems = _read(settings, environ)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)
    return targets


def check_targets(settings: NotifySettings, environ: Mapping[str, str]) -> None:
    """For the service's start and reload, --install-service and --test-notify."""
    if configured(settings):  # the fallback holds nothing a person typed, nor needs Apprise
        checked_targets(settings, environ)


def renamed_ids(targets: Iterable[Target]) -> dict[str, str]:
    """Old target id -> new: for a state file written by the previous version, which named
    an inline URL by its text as typed."""
    return {alias: t.target_id for t in targets for alias in t.aliases}


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


def export_desktop_bus(environ: Mapping[str, str]) -> str | None:
    """The session bus address found in `environ` (None when there is none), also put into
    this process's environment unless an address is already there.

    Apprise's dbus:// plugin is handed no environment: it connects through dbus-python, which
    reads DBUS_SESSION_BUS_ADDRESS from the process environment, and a user service may have
    the bus only as $XDG_RUNTIME_DIR/bus. The one place the watcher writes to os.environ."""
    address = desktop_bus_address(environ)
    if address is not None:
        os.environ.setdefault("DBUS_SESSION_BUS_ADDRESS", address)
    return address


def desktop_target(environ: Mapping[str, str]) -> Target | None:
    # Looked for before dbus-python is imported: without a bus, a check never imports it.
    if desktop_bus_address(environ) is None:
        return None
    try:
        import dbus  # noqa: F401  (the extra `grok-usage-watcher[desktop]`)
    except ImportError:
        log.debug("a session bus is there but dbus-python is not installed: no desktop alert")
        return None
    export_desktop_bus(environ)
    import apprise

    services = _services(apprise, DESKTOP_URL)
    if not services:
        return None
    return Target(
        target_id_for(DESKTOP_URL), DESKTOP_URL, (), Route(target_id_for(DESKTOP_URL)), services[0]
    )


# --- reading the config --------------------------------------------------------------------------


class _Entry(NamedTuple):
    """One place in the config naming a service, or failing to."""

    target_id: str
    masked: str
    places: tuple[str, ...]
    service: Any = None
    tags: tuple[Any, ...] = ()  # Apprise's tag objects: str() drops a tag's priority
    alias: str | None = None  # the id the previous version gave it
    problem: str | None = None


class _Found(NamedTuple):
    """A URL entry of a config file, read on its own: its line and what Apprise made of it."""

    line: int
    text: str
    urls: tuple[str, ...]  # each service's url(privacy=False); none when Apprise cannot read it


def _read(settings: NotifySettings, environ: Mapping[str, str]) -> tuple[list[Target], list[str]]:
    """The targets, and one line per entry Apprise cannot read, in config order."""
    if not configured(settings):
        return fallback_targets(environ), []
    import apprise

    entries: list[_Entry] = []
    problems: list[str] = []
    for number, line in enumerate(settings.urls, start=1):
        found = _from_text(apprise, line, f"urls[{number}]")
        entries.extend(found)
        problems.extend(
            f"[notify] urls[{number}]: Apprise cannot read this URL: {e.masked}"
            for e in found
            if e.problem
        )
    for path in settings.config:
        found, file_problems = _from_config_file(apprise, path)
        entries.extend(found)
        problems.extend(file_problems)
    return _merge(entries), problems


def _services(apprise: Any, text_config: str, config_format: str = "text") -> list[Any]:
    config = apprise.AppriseConfig()
    config.add_config(text_config, format=config_format)
    notifier = apprise.Apprise()
    notifier.add(config)
    return list(notifier)


def _from_text(apprise: Any, line: str, place: str) -> list[_Entry]:
    match = _TAG_PREFIX.match(line)
    url = match.group("url") if match else line.strip()
    services = _services(apprise, line if match else url)
    if not services:
        return [_broken(url, place, "Apprise cannot parse this URL")]
    return [_entry(service, (place,), alias=target_id_for(url)) for service in services]


def _from_config_file(apprise: Any, path: Path) -> tuple[list[_Entry], list[str]]:
    where = str(path)
    try:
        content = path.read_bytes().decode()
    except OSError as exc:
        reason = f"cannot read the Apprise config: {exc.strerror or exc}"
        return [_broken(where, where, reason)], [f"{where}: {reason}"]
    except UnicodeDecodeError:  # Apprise reads UTF-8 only, and then reads nothing
        reason = "cannot read the Apprise config: not UTF-8 text"
        return [_broken(where, where, reason)], [f"{where}: {reason}"]
    # Parsed from the text just read, not from the path: the line numbers below are then
    # those of the very text Apprise read.
    is_yaml = _YAML_NAME.match(where) is not None
    services = _services(apprise, content, "yaml" if is_yaml else "text")
    if not services:
        reason = "no Apprise URL could be read from this config file"
        return [_broken(where, where, reason)], [f"{where}: {reason}"]
    found = _yaml_entries(apprise, content) if is_yaml else _text_entries(apprise, content)
    lines: dict[str, list[int]] = {}
    for entry in found:
        for url in entry.urls:
            lines.setdefault(url, []).append(entry.line)
    entries = []
    for service in services:
        numbers = lines.get(service.url(privacy=False), [])
        places = tuple(f"{where} line {n}" for n in numbers) or (where,)
        entries.append(_entry(service, places, alias=target_id_for(service.url(privacy=False))))
    problems = []
    # Entries read one by one agree with the whole file read at once (they may not, say with
    # YAML anchors): then an entry that yields nothing is one Apprise skipped in the file too.
    if sum(len(entry.urls) for entry in found) == len(services):
        problems = [
            f"{where} line {e.line}: Apprise cannot read this URL: {mask_unparsed(e.text)}"
            for e in found
            if not e.urls
        ]
    return entries, problems


def _text_entries(apprise: Any, content: str) -> list[_Found]:
    """Apprise's TEXT form has one URL per line: each line read on its own."""
    found = []
    for number, raw in enumerate(content.split("\n"), start=1):
        text = raw.strip()
        match = _TEXT_URL_LINE.match(text)
        if text.startswith(("#", ";")) or match is None:
            continue
        urls = tuple(s.url(privacy=False) for s in _services(apprise, text))
        found.append(_Found(number, match.group("url"), urls))
    return found


def _yaml_entries(apprise: Any, content: str) -> list[_Found]:
    """Each item of the YAML `urls` list, read as the file with only that item: Apprise keeps
    no line numbers, and an item's options (format, tags, templates) change its URL."""
    try:
        import yaml  # Apprise's own dependency for YAML configs
    except ImportError:  # Apprise read no YAML either
        return []
    try:
        root = yaml.compose(content, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    keys = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    urls = keys.get("urls")
    if not isinstance(urls, yaml.SequenceNode):
        return []
    found = []
    for item in urls.value:
        scalar = item if isinstance(item, yaml.ScalarNode) else _url_key(yaml, item)
        alone = yaml.MappingNode(
            root.tag,
            [(k, yaml.SequenceNode(urls.tag, [item]) if v is urls else v) for k, v in root.value],
        )
        try:
            services = _services(apprise, yaml.serialize(alone), "yaml")
        except (yaml.YAMLError, RecursionError):
            return []
        found.append(
            _Found(
                (scalar or item).start_mark.line + 1,
                scalar.value if scalar is not None else "",
                tuple(s.url(privacy=False) for s in services),
            )
        )
    return found


def _url_key(yaml: Any, item: Any) -> Any:
    """The URL of a `- url: {options}` item: its first key that has a scheme, as for Apprise."""
    if isinstance(item, yaml.MappingNode):
        for key, _ in item.value:
            if isinstance(key, yaml.ScalarNode) and "://" in str(key.value):
                return key
    return None


def _entry(service: Any, places: tuple[str, ...], alias: str) -> _Entry:
    return _Entry(
        target_id=target_id_for(service.url(privacy=False)),
        masked=service.url(privacy=True),
        places=places,
        service=service,
        tags=tuple(sorted(service.tags, key=str)),
        alias=alias,
    )


def _broken(url: str, place: str, problem: str) -> _Entry:
    masked = place if url == place else mask_unparsed(url)  # a file's path is no secret
    return _Entry(target_id_for(url), masked, (place,), problem=problem)


def mask_unparsed(url: str) -> str:
    """Apprise cannot mask what it cannot parse: keep the scheme, hide the rest."""
    scheme, separator, _ = url.partition("://")
    return f"{scheme}://****" if separator else "****"


def _tag_label(tag: Any) -> str:
    if getattr(tag, "has_priority", False):
        return f"{tag.priority}:{tag}"
    return str(tag)


def _chain_tag(tags: Iterable[Any], chain_names: set[str]) -> tuple[str, int] | None:
    """The escalation chain an entry is in, and its level there (the first chain by name)."""
    for tag in tags:
        if str(tag).lower() in chain_names:
            return str(tag).lower(), int(getattr(tag, "priority", 0))
    return None


def _merge(entries: list[_Entry]) -> list[Target]:
    """One target per id: the union of its places' routings, tags, places and old ids.

    Targets sharing a tag that carries a priority (`1:phone`, `2:phone`) escalate. A target
    that is also listed plain must get every message routed to it: its route is marked
    `direct`, so `delivery.deliver` sends to it first, once, and its chain level still counts
    its outcome.
    """
    chain_names = {
        str(tag).lower()
        for e in entries
        for tag in e.tags
        if getattr(tag, "has_priority", False) and str(tag).lower() not in ROUTING_TAGS
    }
    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.target_id, []).append(entry)
    chains: dict[str, tuple[str, int] | None] = {}
    direct: dict[str, bool] = {}
    for target_id, group in groups.items():
        memberships = [_chain_tag(e.tags, chain_names) for e in group]
        chains[target_id] = min((m for m in memberships if m is not None), default=None)
        direct[target_id] = None in memberships
    first_level: dict[str, int] = {}
    for membership in chains.values():
        if membership is not None:
            name, priority = membership
            first_level[name] = min(priority, first_level.get(name, priority))

    targets = []
    for target_id, group in groups.items():
        route = Route(
            target_id,
            min(min_severity(str(t) for t in e.tags) for e in group),
            tags=frozenset(str(t).strip().lower() for e in group for t in e.tags),
        )
        membership = chains[target_id]
        if membership is not None:
            # Also listed plain: sent to directly, and still a member of its chain's level.
            route = route._replace(
                chain=membership[0], priority=membership[1], direct=direct[target_id]
            )
        first = group[0]
        labels = sorted({(str(t), _tag_label(t)) for e in group for t in e.tags})
        secrets: tuple[str, ...] = ()
        if first.service is not None:
            secrets = _secret_fragments(first.service.url(privacy=False), first.masked)
        targets.append(
            Target(
                target_id=target_id,
                masked=first.masked,
                tags=tuple(dict.fromkeys(label for _, label in labels)),
                route=route,
                service=first.service,
                problem=first.problem,
                secrets=secrets,
                places=tuple(dict.fromkeys(p for e in group for p in e.places)),
                aliases=tuple(
                    dict.fromkeys(
                        e.alias for e in group if e.alias is not None and e.alias != target_id
                    )
                ),
            )
        )
    return targets


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
