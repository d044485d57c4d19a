"""Where things live: the home directory, the XDG config and state homes, the Grok CLI's login.

One lookup for each, from the environment the command was given (tests pass their own), so
that a path is computed the same way wherever it is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def home_directory(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def config_home(environ: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME, else ~/.config: where this config and the user's systemd units live."""
    return Path(environ.get("XDG_CONFIG_HOME") or home_directory(environ) / ".config")


def state_home(environ: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME, else ~/.local/state."""
    return Path(environ.get("XDG_STATE_HOME") or home_directory(environ) / ".local" / "state")


def cache_home(environ: Mapping[str, str]) -> Path:
    """$XDG_CACHE_HOME, else ~/.cache."""
    return Path(environ.get("XDG_CACHE_HOME") or home_directory(environ) / ".cache")


def default_config_path(environ: Mapping[str, str]) -> Path:
    return config_home(environ) / "grok-usage-watcher" / "config.toml"


def default_state_path(environ: Mapping[str, str]) -> Path:
    return state_home(environ) / "grok-usage-watcher" / "state.toml"


def default_auth_path(environ: Mapping[str, str]) -> Path:
    """The Grok CLI's login: $GROK_HOME/auth.json, else ~/.grok/auth.json."""
    grok_home = environ.get("GROK_HOME")
    if grok_home:
        return Path(grok_home).expanduser() / "auth.json"
    return home_directory(environ) / ".grok" / "auth.json"
