from datetime import timedelta

import pytest

from watcher.durations import format_duration_setting, parse_duration


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("30s", timedelta(seconds=30)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("0s", timedelta(0)),
    ],
)
def test_durations(text, span):
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "5", "h", "1x", "1h30", "-5m", "m5"])
def test_not_durations(text):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_format_round_trips():
    for text in ("30s", "1h30m", "1d2h", "10m"):
        assert format_duration_setting(parse_duration(text)) == text
