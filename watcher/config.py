"""The user's config.toml: where it is, what it may say, and one clear line when it is wrong.

Every key is validated on load against `_SCHEMA`, so a typo never silently falls back to a
default: an unknown section or key, or a wrong type, is one line naming the file, the section
and the key, with a suggestion for a near-miss spelling.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

from watcher.core.model import Rules, Severity
from watcher.core.quiet import QuietError, QuietWindow, parse_times, parse_weekdays
from watcher.durations import format_duration_setting, parse_duration
from watcher.errors import ConfigError
from watcher.grok.settings import API_BASE_ENV, GrokSettings
from watcher.notify.settings import NotifySettings
from watcher.numbers import is_number
from watcher.paths import default_auth_path, default_config_path, home_directory

DEFAULT_ACCOUNT = "default"
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
# [alerts] becomes the core's Rules: their defaults are the config's.
DEFAULT_THRESHOLDS = Rules().thresholds
DEFAULT_INTERVAL = timedelta(minutes=5)
MIN_INTERVAL = timedelta(seconds=10)  # the API is asked once per check: no hammering it


class ScheduleSettings(NamedTuple):
    interval: timedelta = DEFAULT_INTERVAL  # the service's time between checks


class ExportSettings(NamedTuple):
    """Metrics for Prometheus: a node_exporter textfile written after every check, and (the
    service only) an HTTP endpoint."""

    textfile: Path | None = None
    listen: tuple[str, int] | None = None  # (host, port)


class Account(NamedTuple):
    """One Grok login to watch. Without [[accounts]] there is one, named DEFAULT_ACCOUNT,
    which never appears in a message."""

    name: str
    auth_file: Path
    rules: Rules = Rules()
    # Account tags: its alerts go only to targets carrying one of them (or `always`); None:
    # every target. Separate from the severity routing tags, which apply as well.
    targets: tuple[str, ...] | None = None
    named: bool = False  # from an [[accounts]] table
    grok_home: Path | None = None  # as configured: the home `grok login` must be run for


class Config(NamedTuple):
    grok: GrokSettings
    alerts: Rules = Rules()
    notify: NotifySettings = NotifySettings()
    schedule: ScheduleSettings = ScheduleSettings()
    export: ExportSettings = ExportSettings()
    source: Path | None = None  # the file read, None when running on defaults
    accounts: tuple[Account, ...] = ()  # never empty once loaded (see `_build`)
    # GROK_HOME was set but [[accounts]] name every login: the start line says it is ignored.
    grok_home_ignored: bool = False
    quiet: tuple[QuietWindow, ...] = ()  # [[quiet]]: when alerts wait (see core/quiet.py)

    @property
    def named_accounts(self) -> bool:
        return any(a.named for a in self.accounts)


def load_config(explicit_path: Path | None, environ: Mapping[str, str]) -> Config:
    """`--config PATH` must exist; the default path may be absent (defaults apply)."""
    path = explicit_path or default_config_path(environ)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if explicit_path is not None:
            raise ConfigError(f"{path}: no such config file") from None
        return _build({}, None, environ)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _build(document, path, environ)


# --- validation ---------------------------------------------------------------------------

Validator = Callable[[Any, str], Any]


class _Invalid(Exception):
    """A value of the wrong shape; the text says what was expected."""


def _number(minimum_exclusive: float = 0.0, maximum: float = math.inf) -> Validator:
    def validate(value: Any, where: str) -> float:
        if not is_number(value):
            raise _Invalid(f"expected a number, got {_type_name(value)}")
        if not math.isfinite(value) or value <= minimum_exclusive or value > maximum:
            raise _Invalid(f"must be greater than {minimum_exclusive:g} and at most {maximum:g}")
        return float(value)

    return validate


def _choice(*choices: str) -> Validator:
    def validate(value: Any, where: str) -> str:
        if value not in choices:
            listed = ", ".join(f'"{c}"' for c in choices)
            raise _Invalid(f"must be one of {listed}, got {_shown(value)}")
        return str(value)

    return validate


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_shown(value)}")
    return value


def _non_negative(value: Any, where: str) -> float:
    if not is_number(value):
        raise _Invalid(f"expected a number, got {_type_name(value)}")
    if not math.isfinite(value) or value < 0:
        raise _Invalid("must be 0 or more")
    return float(value)


def _duration(minimum: timedelta) -> Validator:
    def validate(value: Any, where: str) -> timedelta:
        if not isinstance(value, str):
            raise _Invalid(f'expected a duration like "90m" or "1h30m", got {_shown(value)}')
        try:
            span = parse_duration(value)
        except ValueError as exc:
            raise _Invalid(str(exc)) from None
        if span < minimum:
            raise _Invalid(f"must be at least {format_duration_setting(minimum)}, got {value!r}")
        return span

    return validate


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"expected a non-empty string, got {_shown(value)}")
    return value.strip()


def _secure_url(value: Any, where: str) -> str:
    url = _string(value, where)
    check_secure_url(url)
    return url.rstrip("/")


def check_secure_url(url: str) -> None:
    """https, or plain http to this machine only: the bearer token must not travel in clear."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise _Invalid(f"not a URL: {url}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise _Invalid(f"expected an https:// URL, got {url}")
    if parts.scheme == "http" and not _is_loopback(host):
        raise _Invalid(
            f"must be https:// unless the host is this machine (the token would travel "
            f"in clear), got {url}"
        )


def _is_loopback(host: str) -> bool:
    import ipaddress  # only http:// URLs get here; spares every run the import

    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _thresholds(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise _Invalid(f"expected a list of percents, like [50, 80, 100], got {_shown(value)}")
    if not value:
        raise _Invalid("needs at least one threshold, like [50, 80, 100]")
    percent = _number(0.0, 1000.0)
    return tuple(sorted({percent(item, where) for item in value}))


def _lets_through(value: Any, where: str) -> Severity | None:
    """[alerts] quiet_lets_through: "critical" (the default), "warning" (and critical),
    "none" (every alert waits)."""
    choice = _choice("critical", "warning", "none")(value, where)
    return None if choice == "none" else Severity[choice.upper()]


def _listen(value: Any, where: str) -> tuple[str, int]:
    """ "127.0.0.1:9877", "[::1]:9877", "0.0.0.0:9877": a host is required (a bare ":9877"
    would listen everywhere by accident)."""
    text = _string(value, where)
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host:
        raise _Invalid(f'needs a host and a port, like "127.0.0.1:9877", got {text!r}')
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise _Invalid(f'needs a port from 1 to 65535, like "127.0.0.1:9877", got {text!r}')
    return host, int(port)


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid(f"expected a list of strings, got {_type_name(value)}")
    return tuple(_string(item, where) for item in value)


_SCHEMA: dict[str, dict[str, Validator]] = {
    "grok": {
        "auth_file": _string,
        "api_base": _secure_url,
        "token_url": _secure_url,
        "billing": _choice("auto", "credits", "legacy"),
        "timeout_seconds": _number(0.0, 300.0),
    },
    "alerts": {
        "thresholds": _thresholds,
        "rearm_below": _non_negative,
        "forecast": _boolean,
        "stale_after": _duration(timedelta(0)),
        "quiet_lets_through": _lets_through,
    },
    "notify": {"urls": _string_list, "config": _string_list},
    "schedule": {"interval": _duration(MIN_INTERVAL)},
    "export": {"textfile": _string, "listen": _listen},
}


# An [[accounts]] table: each key's validator (the path keys are expanded in `_accounts`).
_ACCOUNT_KEYS: dict[str, Validator] = {
    "name": _string,
    "grok_home": _string,
    "auth_file": _string,
    "thresholds": _thresholds,
    "rearm_below": _non_negative,
    "forecast": _boolean,
    "targets": _string_list,
}
# Severity routing tags and `always` route by themselves: an account's tags are other words.
_NOT_ACCOUNT_TAGS = frozenset(("critical", "warning", "info", "always"))


def _build(document: dict[str, Any], path: Path | None, environ: Mapping[str, str]) -> Config:
    where = str(path) if path else "config"
    values: dict[str, dict[str, Any]] = {section: {} for section in _SCHEMA}
    document = dict(document)
    account_tables = document.pop("accounts", None)
    quiet = _quiet(document.pop("quiet", None), where)
    for section, table in document.items():
        if section not in _SCHEMA:
            owner = _owner(section)
            if owner is not None:  # a key written above every [section] header
                raise ConfigError(f"{where}: `{section}` belongs under [{owner}]")
            raise ConfigError(f"{where}: [{section}]: unknown section{_suggest(section, _SCHEMA)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {section}: expected a [{section}] table")
        keys = _SCHEMA[section]
        for key, value in table.items():
            if key not in keys:
                owner = _owner(key)
                hint = f" (it belongs under [{owner}])" if owner else _suggest(key, keys)
                raise ConfigError(f"{where}: [{section}] {key}: unknown key{hint}")
            try:
                values[section][key] = keys[key](value, where)
            except _Invalid as exc:
                raise ConfigError(f"{where}: [{section}] {key}: {exc}") from None

    grok = values["grok"]
    if account_tables is not None and "auth_file" in grok:
        raise ConfigError(
            f"{where}: [grok] auth_file cannot be used with [[accounts]]: give each account "
            "its grok_home or auth_file"
        )
    if "auth_file" in grok:
        grok["auth_file"] = _expand_home(grok["auth_file"], environ)
    else:
        grok["auth_file"] = default_auth_path(environ)
    if "api_base" not in grok and environ.get(API_BASE_ENV):
        try:
            grok["api_base"] = _secure_url(environ[API_BASE_ENV], API_BASE_ENV)
        except _Invalid as exc:
            raise ConfigError(f"{API_BASE_ENV}: {exc}") from None
    notify = values["notify"]
    if "config" in notify:
        notify["config"] = tuple(_expand_home(item, environ) for item in notify["config"])
    export = values["export"]
    if "textfile" in export:
        export["textfile"] = _expand_home(export["textfile"], environ)
    rules = Rules(**values["alerts"])
    if account_tables is None:
        accounts: tuple[Account, ...] = (Account(DEFAULT_ACCOUNT, grok["auth_file"], rules),)
    else:
        accounts = _accounts(account_tables, rules, where, environ)
        grok["auth_file"] = accounts[0].auth_file
    return Config(
        grok=GrokSettings(**grok),
        alerts=rules,
        notify=NotifySettings(**values["notify"]),
        schedule=ScheduleSettings(**values["schedule"]),
        export=ExportSettings(**export),
        source=path,
        accounts=accounts,
        grok_home_ignored=account_tables is not None and bool(environ.get("GROK_HOME")),
        quiet=quiet,
    )


QUIET_KEYS = ("times", "weekdays", "location")  # a [[quiet]] window's
# Alertmanager's time_intervals keys this has no use for: said so, not "unknown".
_UNSUPPORTED_QUIET = ("days_of_month", "months", "years")


def _quiet(tables: Any, where: str) -> tuple[QuietWindow, ...]:
    """[[quiet]] windows: `times` ("HH:MM-HH:MM", may wrap midnight), `weekdays`
    ("monday:friday", "saturday"), `location` (an IANA zone; else the local zone)."""
    if tables is None:
        return ()
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: quiet: expected [[quiet]] tables")
    windows = []
    for number, table in enumerate(tables, 1):
        label = f"[[quiet]] #{number}"
        for key in table:
            if key in _UNSUPPORTED_QUIET:
                raise ConfigError(
                    f"{where}: {label} {key}: not supported (times, weekdays and location are)"
                )
            if key not in QUIET_KEYS:
                known = dict.fromkeys(QUIET_KEYS)
                raise ConfigError(f"{where}: {label} {key}: unknown key{_suggest(key, known)}")
        if "times" not in table and "weekdays" not in table:
            raise ConfigError(
                f'{where}: {label}: needs times (like ["22:00-07:30"]) or weekdays (like '
                '["saturday", "sunday"]), or both'
            )
        times = tuple(
            r
            for text in _quiet_list(table, "times", label, where)
            for r in _parsed(parse_times, text, f"{where}: {label} times")
        )
        days = frozenset(
            d
            for text in _quiet_list(table, "weekdays", label, where)
            for d in _parsed(parse_weekdays, text, f"{where}: {label} weekdays")
        )
        if "times" in table and not times:
            raise ConfigError(f'{where}: {label} times: name at least one, like "22:00-07:30"')
        if "weekdays" in table and not days:
            raise ConfigError(f'{where}: {label} weekdays: name at least one, like "monday:friday"')
        zone = (
            _zone(table["location"], f"{where}: {label} location") if "location" in table else None
        )
        shown = " ".join([*table.get("times", []), *table.get("weekdays", [])])
        if "location" in table:
            shown += f" ({table['location']})"
        windows.append(QuietWindow(days or frozenset(range(7)), times, zone, shown))
    return tuple(windows)


def _quiet_list(table: dict[str, Any], key: str, label: str, where: str) -> tuple[str, ...]:
    try:
        return _string_list(table.get(key, []), where)
    except _Invalid as exc:
        raise ConfigError(f"{where}: {label} {key}: {exc}") from None


_Parsed = TypeVar("_Parsed")


def _parsed(parse: Callable[[str], _Parsed], text: str, where: str) -> _Parsed:
    try:
        return parse(text)
    except QuietError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _zone(value: Any, where: str) -> tzinfo:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f'{where}: expected an IANA zone name like "Europe/Berlin"')
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only a window in another zone

    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory of zones
        raise ConfigError(
            f"{where}: {value!r} is not a time zone this machine knows (an IANA name like "
            '"Europe/Berlin")'
        ) from None


def _accounts(
    tables: Any, rules: Rules, where: str, environ: Mapping[str, str]
) -> tuple[Account, ...]:
    """[[accounts]]: each a name and a login file, with its own rules and tags."""
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: accounts: expected [[accounts]] tables")
    accounts: list[Account] = []
    names: dict[str, str] = {}
    files: dict[str, str] = {}
    for number, table in enumerate(tables, 1):
        label = f"[[accounts]] #{number}"
        checked: dict[str, Any] = {}
        for key, value in table.items():
            if key not in _ACCOUNT_KEYS:
                raise ConfigError(
                    f"{where}: {label} {key}: unknown key{_suggest(key, _ACCOUNT_KEYS)}"
                )
            try:
                checked[key] = _ACCOUNT_KEYS[key](value, where)
            except _Invalid as exc:
                raise ConfigError(f"{where}: {label} {key}: {exc}") from None
        name = checked.get("name")
        if name is None:
            raise ConfigError(f'{where}: {label}: needs a name, like name = "work"')
        if not ACCOUNT_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: {label} name: {name!r}: use 1 to 32 letters, digits, - or _"
            )
        label = f'[[accounts]] "{name}"'
        if name.lower() in names:
            raise ConfigError(f'{where}: {label}: a second account named "{names[name.lower()]}"')
        names[name.lower()] = name
        if ("grok_home" in checked) == ("auth_file" in checked):
            raise ConfigError(f"{where}: {label}: needs either grok_home or auth_file (one)")
        grok_home = None
        if "grok_home" in checked:
            grok_home = _expand_home(checked["grok_home"], environ)
            auth_file = grok_home / "auth.json"
        else:
            auth_file = _expand_home(checked["auth_file"], environ)
        same = os.path.realpath(auth_file)
        if same in files:
            raise ConfigError(
                f'{where}: {label}: reads the same login file as "{files[same]}" ({auth_file})'
            )
        files[same] = name
        tags = checked.get("targets")
        if tags is not None:
            tags = tuple(dict.fromkeys(t.lower() for t in tags))
            if not tags:
                raise ConfigError(f"{where}: {label} targets: name at least one tag")
            routing = [t for t in tags if t in _NOT_ACCOUNT_TAGS]
            if routing:
                raise ConfigError(
                    f'{where}: {label} targets: "{routing[0]}" is not an account tag (it '
                    "routes by itself); name the tags of this account's targets"
                )
        overrides = {
            k: checked[k] for k in ("thresholds", "rearm_below", "forecast") if k in checked
        }
        accounts.append(
            Account(
                name,
                auth_file,
                rules._replace(**overrides),
                targets=tags,
                named=True,
                grok_home=grok_home,
            )
        )
    return tuple(accounts)


def _owner(key: str) -> str | None:
    """The section a key belongs under, when it is a key of exactly one."""
    owners = [section for section, keys in _SCHEMA.items() if key in keys]
    return owners[0] if len(owners) == 1 else None


def _suggest(word: str, known: Mapping[str, object]) -> str:
    import difflib  # only a mistake gets here

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"


def _expand_home(text: str, environ: Mapping[str, str]) -> Path:
    if text == "~" or text.startswith("~/"):
        return home_directory(environ) / text[2:]
    return Path(text)


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A short value as written (`'weekly'`, `80`, `true`); anything longer by its type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) or is_number(value):
        return repr(value)
    return _type_name(value)
