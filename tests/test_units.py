"""The shipped systemd units and --install-service / --uninstall-service.

The units are checked by systemd's own tools (`systemd-analyze verify` and `security`); the
install commands run against a stand-in `systemctl` on PATH that records what it was asked,
since no user manager runs here (CI has no systemd as PID 1)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.service.units import (
    ALL_UNITS,
    CHECK_SERVICE,
    SERVICE,
    TIMER,
    command_line,
    exec_start,
    shipped_unit,
)

REPO = Path(__file__).resolve().parent.parent
UNITS = [*ALL_UNITS]


def analyze_env(tmp_path: Path) -> dict[str, str]:
    """A home whose ~/.local/bin holds the command (verify checks ExecStart exists) and a
    runtime directory, which `systemd-analyze --user` needs even offline."""
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    command = home / ".local" / "bin" / "grok-usage-watcher"
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}


def analyze(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("needs systemd-analyze (apt install systemd); .ci/run installs it")
    return subprocess.run(
        ["systemd-analyze", *argv], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_prints_nothing(tmp_path, name):
    env = analyze_env(tmp_path)
    unit = tmp_path / name
    unit.write_text(shipped_unit(name))
    if name in (CHECK_SERVICE, TIMER):  # the timer verifies the unit it starts
        for other in (CHECK_SERVICE, TIMER):
            (tmp_path / other).write_text(shipped_unit(other))
    result = analyze("verify", "--user", str(unit), env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_hardening_drop_in_verifies_and_scores_two_or_less(tmp_path):
    env = analyze_env(tmp_path)
    plain = tmp_path / SERVICE
    plain.write_text(shipped_unit(SERVICE))
    hardened_dir = tmp_path / "hardened"
    hardened_dir.mkdir()
    hardened = hardened_dir / SERVICE
    hardened.write_text(shipped_unit(SERVICE) + "\n" + shipped_unit("hardening.conf"))
    assert analyze("verify", "--user", str(hardened), env=env).stderr == ""
    scores = {}
    for name, path in (("shipped", plain), ("hardened", hardened)):
        result = analyze("security", "--user", "--offline=yes", str(path), env=env)
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
        assert match, result.stdout + result.stderr
        scores[name] = float(match.group(1))
    # The shipped unit: about 6, the offline scorer assuming root's capabilities.
    assert 5.0 <= scores["shipped"] <= 7.0, scores
    assert scores["hardened"] <= 2.0, scores


def test_the_shipped_units_carry_the_options_asked_for():
    service = shipped_unit(SERVICE)
    for line in (
        "Type=notify",
        "ExecStart=%h/.local/bin/grok-usage-watcher",
        "ExecReload=kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "WatchdogSec=30min",
        "WantedBy=default.target",
        "NoNewPrivileges=yes",
        "UMask=0077",
    ):
        assert line in service.splitlines(), line
    assert "CapabilityBoundingSet" not in "".join(
        line for line in service.splitlines() if not line.startswith("#")
    )
    timer = shipped_unit(TIMER)
    assert "Persistent=true" in timer and "RandomizedDelaySec=" in timer
    assert "ExecStart=%h/.local/bin/grok-usage-watcher --check" in shipped_unit(CHECK_SERVICE)


# --- --install-service / --uninstall-service ---------------------------------------------------


class Systemctl:
    """A stand-in `systemctl` on PATH: records each call; fails when told to."""

    def __init__(self, directory: Path) -> None:
        self.log = directory / "systemctl.log"
        self.script = directory / "systemctl"
        self.script.write_text(
            "#!/bin/sh\n"
            f'echo "$*" >> "{self.log}"\n'
            'if [ -n "$SYSTEMCTL_FAILS" ]; then\n'
            '  echo "Failed to connect to bus: No medium found" >&2; exit 1\n'
            "fi\n"
        )
        self.script.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def user(home, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A user with the command on PATH in ~/.local/bin (as pipx puts it) and systemctl."""
    bin_dir = home.root / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    command = bin_dir / "grok-usage-watcher"
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    tools = tmp_path / "tools"
    tools.mkdir()
    systemctl = Systemctl(tools)
    monkeypatch.setenv("PATH", f"{bin_dir}:{tools}:/usr/bin:/bin")
    monkeypatch.setattr("sys.argv", [str(command)])
    home.systemctl = systemctl
    home.unit_dir = home.root / ".config" / "systemd" / "user"
    return home


def install(*argv: str) -> int:
    return main(list(argv), environ=dict(os.environ))


def test_install_service_writes_the_unit_and_enables_it(user, capsys):
    assert install("--install-service") == 0
    unit = user.unit_dir / SERVICE
    text = unit.read_text()
    assert "ExecStart=%h/.local/bin/grok-usage-watcher\n" in text
    assert stat.S_IMODE(unit.stat().st_mode) == 0o600
    assert user.systemctl.calls() == [
        "--user daemon-reload",
        f"--user enable --now {SERVICE}",
    ]
    out = capsys.readouterr().out
    assert f"systemctl --user status {SERVICE}" in out
    assert "journalctl --user -u grok-usage-watcher -f" in out
    assert "loginctl enable-linger" in out
    assert (user.root / ".local" / "state" / "grok-usage-watcher").is_dir()


def test_the_timer_replaces_the_service_and_the_service_the_timer(user):
    assert install("--install-service") == 0
    assert install("--install-service", "--timer") == 0
    assert (user.unit_dir / TIMER).exists() and (user.unit_dir / CHECK_SERVICE).exists()
    assert "--check" in (user.unit_dir / CHECK_SERVICE).read_text()
    assert user.systemctl.calls()[2:] == [
        "--user daemon-reload",
        f"--user disable --now {SERVICE}",
        f"--user enable --now {TIMER}",
    ]
    assert install("--install-service") == 0
    assert user.systemctl.calls()[5:] == [
        "--user daemon-reload",
        f"--user disable --now {TIMER}",
        f"--user enable --now {SERVICE}",
    ]


def test_a_custom_config_and_state_follow_into_the_unit(user, tmp_path):
    config = tmp_path / "my config.toml"
    config.write_text("[alerts]\nthresholds = [75]\n")
    assert install("--install-service", "--config", str(config), "--state", "s.toml") == 0
    exec_line = next(
        line
        for line in (user.unit_dir / SERVICE).read_text().splitlines()
        if line.startswith("ExecStart=")
    )
    assert exec_line == (
        f"ExecStart=%h/.local/bin/grok-usage-watcher --config '{config}' "
        f"--state {Path('s.toml').absolute()}"
    )


def test_without_a_user_manager_it_prints_the_commands_and_exits_1(user, capsys, monkeypatch):
    monkeypatch.setenv("SYSTEMCTL_FAILS", "1")
    assert install("--install-service", "--timer") == 1
    out = capsys.readouterr().out
    assert "`systemctl --user daemon-reload` failed: Failed to connect to bus" in out
    assert f"  systemctl --user enable --now {TIMER}" in out
    assert (user.unit_dir / TIMER).exists()


def test_without_systemctl_it_prints_the_commands_and_exits_1(user, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(user.root / ".local" / "bin"))
    assert install("--install-service") == 1
    out = capsys.readouterr().out
    assert "systemctl is not installed here. To finish, run" in out
    assert "  systemctl --user daemon-reload\n" in out
    assert f"  systemctl --user enable --now {SERVICE}\n" in out


def test_uninstall_disables_removes_and_says_what_stays(user, capsys):
    install("--install-service")
    capsys.readouterr()
    assert install("--uninstall-service") == 0
    assert not (user.unit_dir / SERVICE).exists()
    assert user.systemctl.calls()[2:] == [
        f"--user disable --now {SERVICE}",
        "--user daemon-reload",
    ]
    out = capsys.readouterr().out
    assert "Left in place: the config" in out and "your Grok login" in out
    assert install("--uninstall-service") == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_uninstall_names_the_config_and_state_the_unit_used(user, tmp_path, capsys):
    config = tmp_path / "100% mine $HOME.toml"  # systemd's escapes, undone when read back
    config.write_text("[alerts]\nthresholds = [75]\n")
    state = user.root / "watch" / "state.toml"
    assert install("--install-service", "--config", str(config), "--state", str(state)) == 0
    capsys.readouterr()
    assert install("--uninstall-service") == 0
    out = capsys.readouterr().out
    assert f"Left in place: the config ({config}), the state ({state}) and your Grok" in out
    assert ".config/grok-usage-watcher/config.toml" not in out  # not the default's


def test_uninstall_without_a_user_manager_still_removes_the_links(user, monkeypatch, capsys):
    install("--install-service")
    wants = user.unit_dir / "default.target.wants"
    wants.mkdir()
    (wants / SERVICE).symlink_to(user.unit_dir / SERVICE)
    monkeypatch.setenv("SYSTEMCTL_FAILS", "1")
    assert install("--uninstall-service") == 0
    assert not (wants / SERVICE).is_symlink()
    assert not (user.unit_dir / SERVICE).exists()
    assert f"systemctl --user stop {SERVICE}" in capsys.readouterr().out


def test_timer_alone_is_a_usage_error(home, capsys):
    assert install("--timer") == 2
    assert "--timer goes with --install-service" in capsys.readouterr().err


def test_the_stable_path_on_path_is_preferred_to_a_venv_internal_one(tmp_path):
    venv_bin = tmp_path / "venvs" / "gw" / "bin"
    venv_bin.mkdir(parents=True)
    inside = venv_bin / "grok-usage-watcher"
    inside.write_text("#!/bin/sh\n")
    inside.chmod(0o755)
    local_bin = tmp_path / ".local" / "bin"
    local_bin.mkdir(parents=True)
    (local_bin / "grok-usage-watcher").symlink_to(inside)  # what pipx makes
    env = {"HOME": str(tmp_path), "PATH": f"{local_bin}:/usr/bin"}
    assert command_line(env, str(inside)) == [str(local_bin / "grok-usage-watcher")]
    assert exec_start(command_line(env, str(inside)), env, []) == (
        "%h/.local/bin/grok-usage-watcher"
    )
    # Another copy first on PATH is not this program: the running one is named.
    other = tmp_path / "other"
    other.mkdir()
    (other / "grok-usage-watcher").write_text("#!/bin/sh\n")
    (other / "grok-usage-watcher").chmod(0o755)
    env["PATH"] = f"{other}:{local_bin}"
    assert command_line(env, str(inside)) == [str(inside)]


def test_percent_and_dollar_are_escaped_for_systemd(tmp_path):
    env = {"HOME": "/home/me"}
    assert exec_start(["/opt/50%/gw"], env, ["--state", "/tmp/$x"]) == (
        "/opt/50%%/gw --state '/tmp/$$x'"
    )


def test_a_unit_directory_that_cannot_be_written_is_one_line_and_exit_1(user, capsys):
    (user.root / ".config").mkdir(parents=True, exist_ok=True)
    (user.root / ".config" / "systemd").write_text("")  # a file where a directory must be
    assert install("--install-service") == 1
    err = capsys.readouterr().err
    assert err == f"{user.unit_dir}: cannot write: Not a directory\n", err
    assert user.systemctl.calls() == []


@pytest.mark.parametrize(
    "config_text", [None, "[alerts\n", "[alerts]\ncolour = 1\n", '[schedule]\ninterval = "1s"\n']
)
def test_a_config_that_would_stop_the_unit_at_once_installs_nothing(
    user, tmp_path, capsys, config_text
):
    """A unit started into a config error exits 2 and is never restarted: refuse first."""
    config = tmp_path / "config.toml"
    if config_text is not None:
        config.write_text(config_text)
    assert install("--install-service", "--config", str(config)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(config) in err
    assert not user.unit_dir.exists() or list(user.unit_dir.iterdir()) == []
    assert user.systemctl.calls() == []


# --- the Grok homes under the hardening drop-in ------------------------------------------------


def harden(user, unit: str = SERVICE) -> Path:  # type: ignore[no-untyped-def]
    """The user's copy of systemd/hardening.conf, installed as the README says."""
    drop_in_dir = user.unit_dir / f"{unit}.d"
    drop_in_dir.mkdir(parents=True, exist_ok=True)
    (drop_in_dir / "hardening.conf").write_text(shipped_unit("hardening.conf"))
    return drop_in_dir


def watch(user, *homes: str) -> None:  # type: ignore[no-untyped-def]
    """A config whose [[accounts]] read these Grok homes ("~/..." or absolute)."""
    user.write_config(
        "".join(
            f'[[accounts]]\nname = "a{number}"\ngrok_home = "{home}"\n'
            for number, home in enumerate(homes)
        )
    )


def read_write_paths(drop_in: Path, home: Path) -> list[str]:
    """The ReadWritePaths= of a drop-in as systemd reads them: the words unquoted (double
    quotes, backslash escapes), "-" taken off (each must have it), %h and %% expanded."""
    lines = [line for line in drop_in.read_text().splitlines() if not line.startswith("#")]
    assert lines[:2] == ["", "[Service]"], lines
    (setting,) = [line for line in lines if line.startswith("ReadWritePaths=")]
    paths = []
    for word in shlex.split(setting[len("ReadWritePaths=") :]):
        assert word.startswith("-"), word
        paths.append(re.sub(r"%(.)", lambda m: str(home) if m[1] == "h" else m[1], word[1:]))
    return paths


@pytest.fixture
def elsewhere(tmp_path):  # type: ignore[no-untyped-def]
    """A Grok home outside the home directory, with a space and a "%" in its path."""
    return tmp_path / "shared logins" / "50% work"


def test_the_hardened_service_gets_every_other_grok_home_before_it_starts(
    user, elsewhere, capsys, monkeypatch
):
    drop_in_dir = harden(user)
    hardening = (drop_in_dir / "hardening.conf").read_text()
    watch(user, "~/.grok", "~/.grok-work", str(elsewhere))
    logins = drop_in_dir / "logins.conf"
    # The stand-in systemctl notes whether the drop-in was there when it ran.
    seen = user.systemctl.log.with_name("seen.log")
    user.systemctl.script.write_text(
        user.systemctl.script.read_text().replace(
            "#!/bin/sh\n", f'#!/bin/sh\n[ -f "{logins}" ] && echo "$*" >> "{seen}"\n'
        )
    )
    assert install("--install-service") == 0
    assert read_write_paths(logins, user.root) == [str(user.root / ".grok-work"), str(elsewhere)]
    text = logins.read_text()
    assert 'ReadWritePaths=-%h/.grok-work "-' + str(elsewhere).replace("%", "%%") + '"\n' in text
    assert text.startswith("# Written by grok-usage-watcher --install-service")
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600  # as the units are
    assert seen.read_text().splitlines() == user.systemctl.calls()  # there before the first
    assert (drop_in_dir / "hardening.conf").read_text() == hardening  # theirs: untouched
    assert sorted(p.name for p in drop_in_dir.iterdir()) == ["hardening.conf", "logins.conf"]
    out = capsys.readouterr().out
    assert (
        f"wrote {logins} (ReadWritePaths for the Grok homes {user.root / '.grok-work'}, "
        f"{elsewhere})\n"
    ) in out
    assert "Note:" not in out


def test_without_the_hardening_drop_in_it_only_says_what_it_would_need(user, capsys):
    watch(user, "~/.grok", "~/.grok-work")
    assert install("--install-service") == 0
    assert not (user.unit_dir / f"{SERVICE}.d").exists()
    out = capsys.readouterr().out
    (note,) = [line for line in out.splitlines() if line.startswith("Note:")]
    assert str(user.root / ".grok-work") in note and "ReadWritePaths=" in note
    assert f"{SERVICE}.d" in note and "--install-service again" in note
    # Only ~/.grok watched: nothing to say.
    watch(user, "~/.grok")
    assert install("--install-service") == 0
    assert "Note:" not in capsys.readouterr().out
    assert not (user.unit_dir / f"{SERVICE}.d").exists()


def test_ours_is_removed_when_only_the_default_home_is_left(user, capsys):
    drop_in_dir = harden(user)
    watch(user, "~/.grok", "~/.grok-work")
    assert install("--install-service") == 0
    assert (drop_in_dir / "logins.conf").exists()
    capsys.readouterr()
    watch(user, "~/.grok")
    assert install("--install-service") == 0
    assert sorted(p.name for p in drop_in_dir.iterdir()) == ["hardening.conf"]
    assert f"removed {drop_in_dir / 'logins.conf'}" in capsys.readouterr().out
    # Without [[accounts]]: the one default login in ~/.grok, the same.
    user.config_path.unlink()
    assert install("--install-service") == 0
    assert "logins.conf" not in capsys.readouterr().out


def test_ours_is_kept_current_even_where_the_sandbox_is_not_seen(user, capsys):
    """Once ours, the file follows the config: a sandbox set where install does not look
    (or hardening.conf put back later) still finds the homes it needs."""
    drop_in_dir = harden(user)
    watch(user, "~/.grok", "~/.grok-work")
    assert install("--install-service") == 0
    (drop_in_dir / "hardening.conf").unlink()
    watch(user, "~/.grok", "~/.grok-other")
    capsys.readouterr()
    assert install("--install-service") == 0
    assert read_write_paths(drop_in_dir / "logins.conf", user.root) == [
        str(user.root / ".grok-other")
    ]
    assert "Note:" not in capsys.readouterr().out


def test_a_logins_conf_of_the_users_is_never_touched(user, capsys):
    drop_in_dir = harden(user)
    theirs = drop_in_dir / "logins.conf"
    theirs.write_text("[Service]\nReadWritePaths=-/srv/mine\n")
    watch(user, "~/.grok", "~/.grok-work")
    assert install("--install-service") == 0
    assert theirs.read_text() == "[Service]\nReadWritePaths=-/srv/mine\n"
    out = capsys.readouterr().out
    assert (
        f"left {theirs} alone (grok-usage-watcher did not write it): the Grok homes "
        f"{user.root / '.grok-work'} need ReadWritePaths=-%h/.grok-work in a drop-in of yours"
    ) in out
    watch(user, "~/.grok")
    assert install("--install-service") == 0
    assert install("--uninstall-service") == 0
    assert theirs.read_text() == "[Service]\nReadWritePaths=-/srv/mine\n"


def test_the_timer_s_service_gets_them_in_its_own_drop_in_directory(user, capsys):
    drop_in_dir = harden(user, CHECK_SERVICE)
    watch(user, "~/.grok", "~/.grok-work")
    assert install("--install-service", "--timer") == 0
    assert read_write_paths(drop_in_dir / "logins.conf", user.root) == [
        str(user.root / ".grok-work")
    ]
    assert not (user.unit_dir / f"{SERVICE}.d").exists()
    assert not (user.unit_dir / f"{TIMER}.d").exists()
    # The service's drop-in directory is not the timer's: not hardened there.
    assert install("--install-service") == 0
    assert not (user.unit_dir / f"{SERVICE}.d").exists()
    assert "Note:" in capsys.readouterr().out


def test_uninstall_removes_ours_and_leaves_theirs(user, capsys):
    drop_in_dir = harden(user)
    watch(user, "~/.grok", "~/.grok-work")
    assert install("--install-service") == 0
    capsys.readouterr()
    assert install("--uninstall-service") == 0
    assert sorted(p.name for p in drop_in_dir.iterdir()) == ["hardening.conf"]
    out = capsys.readouterr().out
    assert f"removed {drop_in_dir / 'logins.conf'}" in out
    assert f"Also left: your drop-in directories {drop_in_dir}" in out
    # Ours alone in the directory (theirs removed by hand): both go.
    assert install("--install-service") == 0
    (drop_in_dir / "hardening.conf").unlink()
    assert install("--uninstall-service") == 0
    assert not drop_in_dir.exists()


@pytest.mark.parametrize(
    ("directory", "text", "sandboxed"),
    [
        (f"{SERVICE}.d", "[Service]\nProtectHome=read-only\n", True),
        (f"{SERVICE}.d", "[Service]\nProtectHome=yes\n", True),
        (f"{SERVICE}.d", "[Service]\nProtectHome = tmpfs\n", True),
        (f"{SERVICE}.d", "[Service]\nProtectSystem=strict\n", True),
        (f"{SERVICE}.d", "[Service]\nProtectSystem=full\nProtectHome=no\n", False),
        (f"{SERVICE}.d", "[Service]\n# ProtectHome=read-only\n", False),
        (f"{SERVICE}.d", "[Unit]\nProtectHome=read-only\n", False),
        (f"{SERVICE}.d", "[Service]\nProtectHome=read-only\nProtectHome=\n", False),
        ("grok-usage-.service.d", "[Service]\nProtectHome=read-only\n", True),
        ("service.d", "[Service]\nProtectSystem=strict\n", True),
        (f"{CHECK_SERVICE}.d", "[Service]\nProtectHome=read-only\n", False),  # another unit
    ],
)
def test_what_counts_as_the_home_sandboxed(user, directory, text, sandboxed):
    (user.unit_dir / directory).mkdir(parents=True)
    (user.unit_dir / directory / "sandbox.conf").write_text(text)
    watch(user, "~/.grok", "~/.grok-work")
    assert install("--install-service") == 0
    assert (user.unit_dir / f"{SERVICE}.d" / "logins.conf").exists() == sandboxed


def test_a_later_drop_in_undoing_the_sandbox_counts(user):
    drop_in_dir = harden(user)
    (drop_in_dir / "zz-off.conf").write_text("[Service]\nProtectHome=no\nProtectSystem=no\n")
    watch(user, "~/.grok", "~/.grok-work")
    assert install("--install-service") == 0
    assert not (drop_in_dir / "logins.conf").exists()


def test_systemd_reads_the_drop_in_as_written(user, elsewhere, tmp_path):
    """The unit with hardening.conf and ours, as one file: `systemd-analyze verify` warns
    of any word it cannot parse (an unquoted space, a bad specifier, a relative path)."""
    harden(user)
    watch(user, "~/.grok", "~/.grok-work", str(elsewhere))
    assert install("--install-service") == 0
    env = analyze_env(tmp_path / "analyze")
    merged = tmp_path / "merged" / SERVICE
    merged.parent.mkdir()
    merged.write_text(
        shipped_unit(SERVICE)
        + "\n"
        + shipped_unit("hardening.conf")
        + "\n"
        + (user.unit_dir / f"{SERVICE}.d" / "logins.conf").read_text()
    )
    result = analyze("verify", "--user", str(merged), env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
