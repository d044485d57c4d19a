"""The Monitoring Plugins guidelines' threshold ranges (watcher/core/ranges.py), table-driven.

https://www.monitoring-plugins.org/doc/guidelines.html#THRESHOLDFORMAT: alert when the value
is outside start:end (the ends are inside), or with `@` when it is inside.
"""

from __future__ import annotations

import math

import pytest

from watcher.core.ranges import Range, RangeError, parse_range

INF = math.inf

# (range, start, end, alert inside)
PARSED = [
    ("10", 0.0, 10.0, False),
    ("80", 0.0, 80.0, False),
    ("0", 0.0, 0.0, False),
    ("80.5", 0.0, 80.5, False),
    (".5", 0.0, 0.5, False),
    ("10:", 10.0, INF, False),
    ("~:10", -INF, 10.0, False),
    ("10:20", 10.0, 20.0, False),
    ("@10:20", 10.0, 20.0, True),
    ("-10:10", -10.0, 10.0, False),
    ("@~:0", -INF, 0.0, True),
    ("~:", -INF, INF, False),
    ("20:20", 20.0, 20.0, False),
    ("@5", 0.0, 5.0, True),
    ("  90  ", 0.0, 90.0, False),
]


@pytest.mark.parametrize(("text", "start", "end", "inside"), PARSED)
def test_a_range_is_parsed_as_the_guidelines_define_it(text, start, end, inside):
    parsed = parse_range(text)
    assert (parsed.start, parsed.end, parsed.inside) == (start, end, inside)
    assert parsed.text == text.strip()  # echoed in the performance data as given


# (range, value, alerts): the guidelines' own examples, and their ends.
ALERTS = [
    # 10: outside 0..10
    ("10", -0.1, True),
    ("10", 0.0, False),
    ("10", 5.0, False),
    ("10", 10.0, False),
    ("10", 10.1, True),
    # 10: -- outside 10..inf
    ("10:", 9.9, True),
    ("10:", 10.0, False),
    ("10:", 1e12, False),
    # ~:10 -- outside -inf..10
    ("~:10", -1e12, False),
    ("~:10", 10.0, False),
    ("~:10", 10.1, True),
    # 10:20 -- outside 10..20
    ("10:20", 9.9, True),
    ("10:20", 10.0, False),
    ("10:20", 15.0, False),
    ("10:20", 20.0, False),
    ("10:20", 20.1, True),
    # @10:20 -- inside 10..20, ends included
    ("@10:20", 9.9, False),
    ("@10:20", 10.0, True),
    ("@10:20", 15.0, True),
    ("@10:20", 20.0, True),
    ("@10:20", 20.1, False),
    # the plugin's defaults: exactly 80 is OK, the watcher's own 80 % threshold fires there
    ("80", 80.0, False),
    ("80", 80.01, True),
    ("95", 95.0, False),
    ("95", 97.0, True),
    # never and always
    ("~:", 1e300, False),
    ("@~:", -1e300, True),
]


@pytest.mark.parametrize(("text", "value", "alerts"), ALERTS)
def test_a_value_alerts_outside_the_range_or_inside_with_at(text, value, alerts):
    assert parse_range(text).alerts(value) is alerts


BAD = [
    ("", "its end is missing"),
    ("@", "its end is missing"),
    ("abc", "its end 'abc' is not a number"),
    ("~", "its end '~' is not a number"),
    (":10", "its start is missing"),
    (":", "its start is missing"),
    ("10:5", "its start is above its end"),
    ("-5", "its start is above its end"),  # 0:-5
    ("10:~", "its end '~' is not a number"),
    ("1:2:3", "its end '2:3' is not a number"),
    ("+10", "its end '+10' is not a number"),
    ("1e3", "its end '1e3' is not a number"),
    ("inf", "its end 'inf' is not a number"),
    ("nan", "its end 'nan' is not a number"),
    ("80%", "its end '80%' is not a number"),
    ("1,5", "its end '1,5' is not a number"),  # C locale: a point, never a comma
    ("@@10", "its end '@10' is not a number"),
    ("10 :20", "its start '10 ' is not a number"),
    ("-", "its end '-' is not a number"),
    ("ten:20", "its start 'ten' is not a number"),
]


@pytest.mark.parametrize(("text", "why"), BAD)
def test_a_bad_range_is_refused_with_the_reason(text, why):
    with pytest.raises(RangeError) as caught:
        parse_range(text)
    message = str(caught.value)
    assert message.startswith(f"bad range {text.strip()!r}: {why}"), message


def test_a_range_is_a_value():
    assert parse_range("@10:20") == Range(10.0, 20.0, True, "@10:20")
    assert isinstance(RangeError("x"), ValueError)
