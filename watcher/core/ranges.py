"""Thresholds as the Monitoring Plugins Development Guidelines write them: `[@]start:end`. Pure.

https://www.monitoring-plugins.org/doc/guidelines.html#THRESHOLDFORMAT -- a range is
`start:end`; `start` and the colon may be left out when the start is 0 (`80` is `0:80`), an
end left out is infinity (`10:`), `~` is minus infinity (`~:10`). A value outside the range,
its ends included in the range, raises the alert; with a leading `@`, a value inside it does
(`@10:20`). So `80` alerts above 80, and exactly 80 is fine.

Numbers are written as the guidelines' class `[-0-9.]` allows: no `+`, no exponent, no
`inf` -- what is accepted is echoed in the performance data as given, so it must be valid
there too.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
EXAMPLES = "80, 10:, ~:10, 10:20 or @10:20"


class RangeError(ValueError):
    """Not a range; the text says why, naming the range as given."""


class Range(NamedTuple):
    start: float  # -inf for `~`
    end: float  # inf when left out
    inside: bool  # `@`: alert inside the range, not outside it
    text: str  # as given (without surrounding spaces): what the performance data echoes

    def alerts(self, value: float) -> bool:
        """Whether `value` raises the alert: outside start..end (ends included in the
        range), or with `@` inside it."""
        within = self.start <= value <= self.end
        return within if self.inside else not within


def parse_range(text: str) -> Range:
    """`"80"` -> alert outside 0..80; `"@10:20"` -> alert inside 10..20. Raises RangeError."""
    given = text.strip()
    body = given.removeprefix("@")
    if ":" in body:
        start_text, end_text = body.split(":", 1)
        start = -math.inf if start_text == "~" else _number(start_text, given, "start")
        end = math.inf if end_text == "" else _number(end_text, given, "end")
    else:
        start, end = 0.0, _number(body, given, "end")
    if start > end:
        raise RangeError(f"bad range {given!r}: its start is above its end")
    return Range(start, end, inside=given.startswith("@"), text=given)


def _number(part: str, given: str, which: str) -> float:
    if not _NUMBER.fullmatch(part):
        what = f"{which} {part!r} is not a number" if part else f"{which} is missing"
        raise RangeError(f"bad range {given!r}: its {what} (ranges look like {EXAMPLES})")
    return float(part)
