"""Which targets the config names, through real Apprise and real config files: one target per
service however and wherever it is written, where it came from, and sending to it once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.core_values import RULES, T0, reading
from watcher.check import _unique
from watcher.core.delivery import Message, Outcome, deliver, plan_messages
from watcher.core.evaluate import evaluate
from watcher.core.model import Severity, State
from watcher.errors import ConfigError
from watcher.notify.settings import NotifySettings
from watcher.notify.targets import Target, check_targets, load_targets, send

DOWN = "json://127.0.0.1:9"  # nothing listens on the discard port: a send there fails


def old_id(text: str) -> str:
    """How the previous version named an inline target: the URL as typed."""
    return hashlib.sha256(text.strip().encode()).hexdigest()[:12]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(urls: tuple[str, ...] = (), config: tuple[Path, ...] = ()) -> list[Target]:
    return load_targets(NotifySettings(urls, config), {})


# --- one target per service -------------------------------------------------------------------


def test_a_service_inline_and_in_a_text_config_is_one_target(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"# my alerts\n\n{sink.url()}\n")
    (target,) = load((sink.url(),), (config,))
    assert target.places == ("urls[1]", f"{config} line 3")


def test_a_service_inline_and_in_a_yaml_config_is_one_target(tmp_path, sink):
    config = write(
        tmp_path,
        "apprise.yml",
        f"version: 1\nurls:\n  - {sink.url('/other')}\n  - {sink.url()}:\n      - tag: team\n",
    )
    inline, other = load((sink.url(),), (config,))
    assert inline.places == ("urls[1]", f"{config} line 4")
    assert inline.tags == ("team",)
    assert other.places == (f"{config} line 3",)


def test_a_service_typed_differently_is_still_one_target(tmp_path, sink):
    port = sink.url().split(":")[2].split("/")[0]
    typed = f"JSON://127.0.0.1:{port}//hook"
    config = write(
        tmp_path, "apprise.txt", f"json://127.0.0.1:{port}/hook?overflow=upstream&method=POST\n"
    )
    (target,) = load((typed, sink.url()), (config,))
    assert target.places == ("urls[1]", "urls[2]", f"{config} line 1")
    assert set(target.aliases) == {old_id(typed), old_id(sink.url())}


def test_the_id_is_the_service_not_the_text(tmp_path, sink):
    """Inline and config-file targets are named alike; the old inline name is an alias."""
    config = write(tmp_path, "apprise.txt", f"{sink.url()}\n")
    (from_file,) = load(config=(config,))
    (inline,) = load((f"  team={sink.url()}  ",))
    assert inline.target_id == from_file.target_id
    assert inline.aliases == (old_id(sink.url()),)
    assert from_file.aliases == ()  # a config-file target already had this id


def test_a_yaml_service_listed_twice_with_other_tags_is_one_target_with_both(tmp_path, sink):
    config = write(
        tmp_path,
        "apprise.yaml",
        f"urls:\n  - {sink.url()}:\n      - tag: critical\n      - tag: team, warning\n",
    )
    (target,) = load(config=(config,))
    assert target.tags == ("critical", "team", "warning")
    assert target.route.min_severity == Severity.WARNING
    assert target.places == (f"{config} line 2",)


def test_nothing_is_left_for_the_checks_own_deduplication(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"{sink.url()}\ncritical={sink.url()}\n")
    targets = load((sink.url(), sink.url("/b"), sink.url()), (config,))
    assert len(targets) == 2
    assert _unique(targets) == targets


# --- routing: the union of every place's tags ---------------------------------------------------


def test_critical_beside_untagged_gets_everything(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"{sink.url()}\n")
    (target,) = load((f"critical={sink.url()}",), (config,))
    assert target.route.min_severity == Severity.INFO
    assert target.tags == ("critical",)


def test_warning_beside_critical_gets_warning_and_critical(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"critical,team={sink.url()}\n")
    (target,) = load((f"warning={sink.url()}",), (config,))
    assert target.route.min_severity == Severity.WARNING
    assert target.tags == ("critical", "team", "warning")


def test_two_priorities_of_one_chain_keep_the_earlier(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"2:phone={sink.url()}\n")
    (target,) = load((f"1:phone={sink.url()}",), (config,))
    assert (target.route.chain, target.route.priority) == ("phone", 1)
    assert target.tags == ("1:phone", "2:phone")


def critical_alert() -> State:
    return evaluate(reading(100), State(), RULES, T0 + timedelta(days=1)).state


def send_all(targets: list[Target]) -> tuple[dict[str, Outcome], list[str]]:
    """What check.py does with the targets: plan, deliver, send through Apprise."""
    routes = [t.route for t in targets]
    by_id = {t.target_id: t for t in targets}
    calls: list[str] = []

    def send_to(target_id: str, message: Message) -> Outcome:
        calls.append(target_id)
        return send(by_id[target_id], message)

    plan = plan_messages(critical_alert().pending, routes)
    return deliver(plan, routes, send_to), calls


def test_a_first_level_chain_member_also_listed_plain_gets_one_message(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"{sink.url('/a')}\n")
    targets = load((f"1:phone={sink.url('/a')}", f"2:phone={sink.url('/b')}"), (config,))
    a, b = targets
    outcomes, calls = send_all(targets)
    assert calls == [a.target_id]  # the chain counted it: its second level was not needed
    assert outcomes[b.target_id].attempted is False
    assert [w.path for w in sink.received] == ["/a"]


def test_a_failing_first_level_member_listed_plain_escalates_and_is_sent_once(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"{DOWN}/a\n")
    targets = load((f"1:phone={DOWN}/a", f"2:phone={sink.url('/b')}"), (config,))
    a, b = targets
    outcomes, calls = send_all(targets)
    assert calls == [a.target_id, b.target_id]
    assert not outcomes[a.target_id].ok and outcomes[b.target_id].ok
    assert [w.path for w in sink.received] == ["/b"]


def test_a_later_level_member_listed_plain_gets_its_message_directly_once(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"{sink.url('/b')}\n")
    targets = load((f"1:phone={sink.url('/a')}", f"2:phone={sink.url('/b')}"), (config,))
    outcomes, calls = send_all(targets)
    assert sorted(calls) == sorted(t.target_id for t in targets)
    assert all(o.ok for o in outcomes.values())
    assert sorted(w.path for w in sink.received) == ["/a", "/b"]


# --- places and problems -------------------------------------------------------------------------


def test_a_bad_inline_url_is_a_failed_target_that_never_shows_its_secret(tmp_path, sink):
    bad = "nosuchscheme://user:hunter2@host/path"
    _, broken = load((sink.url(), bad, bad))
    assert broken.problem == "Apprise cannot parse this URL"
    assert broken.masked == "nosuchscheme://****"
    assert broken.places == ("urls[2]", "urls[3]")
    assert broken.target_id == old_id(bad)
    assert "hunter2" not in repr(broken)


def test_check_targets_names_a_bad_inline_url_by_its_place(sink):
    settings = NotifySettings((sink.url(), "nosuchscheme://user:hunter2@host/path"))
    with pytest.raises(ConfigError) as caught:
        check_targets(settings, {})
    assert caught.value.message == (
        "[notify] urls[2]: Apprise cannot read this URL: nosuchscheme://****"
    )


def test_check_targets_names_the_first_of_several_bad_entries(sink):
    settings = NotifySettings(("bogus://a", sink.url(), "bogus://b:secret@c"))
    with pytest.raises(ConfigError) as caught:
        check_targets(settings, {})
    assert caught.value.message == (
        "[notify] urls[1]: Apprise cannot read this URL: bogus://**** (and 1 more)"
    )


def test_check_targets_names_an_unreadable_config_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        check_targets(NotifySettings(config=(tmp_path,)), {})
    assert caught.value.message == f"{tmp_path}: cannot read the Apprise config: Is a directory"
    missing = tmp_path / "missing.yml"
    with pytest.raises(ConfigError) as caught:
        check_targets(NotifySettings(config=(missing,)), {})
    assert caught.value.message == (
        f"{missing}: cannot read the Apprise config: No such file or directory"
    )


def test_check_targets_names_a_config_file_without_a_url(tmp_path):
    config = write(tmp_path, "apprise.yml", "# nothing yet\n")
    with pytest.raises(ConfigError) as caught:
        check_targets(NotifySettings(config=(config,)), {})
    assert caught.value.message == (f"{config}: no Apprise URL could be read from this config file")


def test_check_targets_names_a_bad_line_of_a_text_config(tmp_path, sink):
    config = write(tmp_path, "apprise.txt", f"{sink.url()}\n# the pager\nteam=bogus://x:pw@y\n")
    with pytest.raises(ConfigError) as caught:
        check_targets(NotifySettings(config=(config,)), {})
    assert caught.value.message == f"{config} line 3: Apprise cannot read this URL: bogus://****"
    (target,) = load(config=(config,))  # a check sends to the rest, as Apprise always did
    assert target.problem is None


def test_check_targets_names_a_bad_entry_of_a_yaml_config(tmp_path, sink):
    config = write(tmp_path, "apprise.yml", f"urls:\n  - {sink.url()}\n  - bogus://x:pw@y\n")
    with pytest.raises(ConfigError) as caught:
        check_targets(NotifySettings(config=(config,)), {})
    assert caught.value.message == f"{config} line 3: Apprise cannot read this URL: bogus://****"


def test_check_targets_accepts_a_good_config(tmp_path, sink):
    config = write(tmp_path, "apprise.yml", f"urls:\n  - {sink.url()}\n")
    assert check_targets(NotifySettings((f"critical={sink.url('/x')}",), (config,)), {}) is None


def test_secrets_stay_out_of_places_reprs_and_problems(tmp_path, sink):
    url = sink.url(user="me:s3cretpassword")
    config = write(tmp_path, "apprise.txt", f"{url}\nbogus://me:s3cretpassword@host\n")
    (target,) = load((url,), (config,))
    assert "s3cretpassword" not in repr(target) + " ".join(target.places) + target.masked
    with pytest.raises(ConfigError) as caught:
        check_targets(NotifySettings((url,), (config,)), {})
    assert "s3cretpassword" not in caught.value.message


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_describing_or_checking_no_targets_does_not_import_apprise(tmp_path):
    code = (
        "import sys\nfrom pathlib import Path\nfrom watcher.notify.settings import NotifySettings\n"
        "from watcher.notify.targets import check_targets, describe_configured\n"
        "describe_configured(NotifySettings(('critical=json://h/x',), (Path('a.yml'),)))\n"
        "check_targets(NotifySettings(), {})\n"
        "print('apprise' in sys.modules)\n"
    )
    assert _python(code) == "False"
