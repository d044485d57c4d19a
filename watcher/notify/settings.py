"""What the notifier is told by the config: Apprise URLs and Apprise config files."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class NotifySettings(NamedTuple):
    urls: tuple[str, ...] = ()  # Apprise URLs, each maybe "tag,tag=" prefixed (TEXT config form)
    config: tuple[Path, ...] = ()  # Apprise config files (YAML or TEXT)
