"""Durations as people write them in config files: "30s", "90m", "1h30m", "1d"."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """`"1h30m"` -> 1:30:00. Raises ValueError with a hint when the text is no duration."""
    compact = text.strip().lower().replace(" ", "")
    position = 0
    seconds = 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not compact or position != len(compact):
        raise ValueError(f'expected a duration like "30s", "90m" or "1h30m", got {text!r}')
    return timedelta(seconds=seconds)


def format_duration_setting(span: timedelta) -> str:
    """The inverse, for messages: 5400 s -> "1h30m"."""
    seconds = int(span.total_seconds())
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
