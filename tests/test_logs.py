"""Log lines: journald priority prefixes when stderr is the journal, timestamps otherwise."""

from __future__ import annotations

import logging
import os
import re

import pytest

from watcher.logs import configure_command_logging, configure_service_logging, stream_is_journal


def journal_env_for(stream) -> dict[str, str]:  # type: ignore[no-untyped-def]
    status = os.fstat(stream.fileno())
    return {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}


@pytest.fixture
def stream(tmp_path):
    with open(tmp_path / "stderr", "w+") as handle:
        yield handle
    configure_command_logging(False)


def logged(stream) -> list[str]:  # type: ignore[no-untyped-def]
    for handler in logging.getLogger("watcher").handlers:
        handler.flush()
    stream.seek(0)
    return stream.read().splitlines()


def test_journal_lines_carry_the_syslog_priority_and_no_timestamp(stream):
    assert configure_service_logging(False, journal_env_for(stream), stream)
    log = logging.getLogger("watcher.service.loop")
    log.info("%s used", "55%")
    log.warning("Grok billing request failed (HTTP 500). Try again later.")
    log.error("bad config")
    log.debug("not shown without -v")
    assert logged(stream) == [
        "<6>55% used",
        "<4>Grok billing request failed (HTTP 500). Try again later.",
        "<3>bad config",
    ]


def test_with_verbose_debug_lines_have_priority_7(stream):
    configure_service_logging(True, journal_env_for(stream), stream)
    logging.getLogger("watcher.check").debug("a\nb")
    assert logged(stream) == ["<7>a", "<7>b"]  # each journal line its own entry


def test_elsewhere_lines_are_timestamped_without_prefixes(stream):
    assert not configure_service_logging(False, {}, stream)
    log = logging.getLogger("watcher.service.loop")
    log.info("started")
    log.warning("Grok auth expired")
    lines = logged(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d started", lines[0]), lines
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d warning: Grok auth expired", lines[1])


def test_a_journal_stream_naming_another_file_is_not_ours(stream, tmp_path):
    other = tmp_path / "other"
    other.write_text("")
    status = os.stat(other)
    assert not stream_is_journal({"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}, stream)
    assert not stream_is_journal({"JOURNAL_STREAM": "garbage"}, stream)
    assert stream_is_journal(journal_env_for(stream), stream)
