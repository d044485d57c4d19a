"""What counts as a number in the files and answers the watcher reads (TOML, JSON)."""

from __future__ import annotations

from typing import TypeGuard


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float, never a bool: `true` is an int to Python, never a number to a user."""
    return isinstance(value, int | float) and not isinstance(value, bool)
