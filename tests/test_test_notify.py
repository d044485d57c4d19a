"""--test-notify through real Apprise, a real webhook sink and real config files: one line and
one message per target, a failure names where the target came from."""

from __future__ import annotations

import io
from pathlib import Path

from watcher.config import Config
from watcher.grok.settings import GrokSettings
from watcher.notify.settings import NotifySettings
from watcher.trial import run_test_notify

DOWN = "json://127.0.0.1:9/down"  # nothing listens on the discard port: a send there fails


def config(tmp_path: Path, urls: tuple[str, ...] = (), files: tuple[Path, ...] = ()) -> Config:
    return Config(GrokSettings(tmp_path / "auth.json"), notify=NotifySettings(urls, files))


def run(cfg: Config, environ: dict[str, str] | None = None) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = run_test_notify(cfg, environ or {}, out)
    return code, out.getvalue().splitlines()


def test_each_target_is_tested_once_and_a_failure_names_its_places(tmp_path, sink):
    apprise_yml = tmp_path / "apprise.yml"
    apprise_yml.write_text(f"urls:\n  - {sink.url()}\n  - {DOWN}:\n      - tag: critical\n")
    code, lines = run(config(tmp_path, (sink.url(), DOWN), (apprise_yml,)))
    assert code == 1
    ok, failed = lines
    assert ok.startswith("ok     json://127.0.0.1:") and ok.endswith("  tags: -")
    assert failed.startswith("failed json://127.0.0.1:9/down?")
    assert "  tags: critical  (" in failed
    assert failed.endswith(f")  from urls[2], {apprise_yml} line 3")
    assert sink.titles() == ["Grok Build: test notification"]


def test_every_target_working_exits_0(tmp_path, sink):
    code, lines = run(config(tmp_path, (f"warning,team={sink.url()}",)))
    assert code == 0
    (line,) = lines
    assert line.startswith("ok     json://127.0.0.1:") and line.endswith("  tags: team,warning")


def test_a_url_apprise_cannot_read_stops_before_anything_is_sent(tmp_path, sink, capsys):
    code, lines = run(config(tmp_path, (sink.url(), "bogus://me:hunter2@host")))
    assert code == 2
    assert lines == []
    assert capsys.readouterr().err == (
        "[notify] urls[2]: Apprise cannot read this URL: bogus://****\n"
    )
    assert sink.received == []


def test_a_config_file_that_cannot_be_read_stops_before_anything_is_sent(tmp_path, sink, capsys):
    missing = tmp_path / "apprise.yml"
    code, _ = run(config(tmp_path, (sink.url(),), (missing,)))
    assert code == 2
    assert capsys.readouterr().err == (
        f"{missing}: cannot read the Apprise config: No such file or directory\n"
    )
    assert sink.received == []


def test_with_nothing_configured_the_fallback_is_tested(tmp_path):
    code, lines = run(config(tmp_path))
    assert code == 0
    assert lines[0].startswith("No notification target is configured ([notify] urls or config).")
    assert "[info] Grok Build: test notification" in lines
    assert lines[-1] == "ok     print to standard output  tags: -"
