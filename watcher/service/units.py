"""`--install-service [--timer]` and `--uninstall-service`: the shipped systemd units, put
where the user's systemd looks, pointing at the command that is actually installed.

The service and the timer are two ways to do the same watching: installing one disables the
other, so checks never double. Where systemctl or a user manager is missing, the exact
commands are printed instead (exit 1).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from watcher.errors import WatcherError
from watcher.files import replace_atomically
from watcher.paths import config_home, home_directory

COMMAND = "grok-usage-watcher"
SERVICE = "grok-usage-watcher.service"
CHECK_SERVICE = "grok-usage-watcher-check.service"
TIMER = "grok-usage-watcher-check.timer"
SHIPPED_EXEC = "%h/.local/bin/grok-usage-watcher"
ALL_UNITS = (SERVICE, CHECK_SERVICE, TIMER)


def shipped_unit(name: str) -> str:
    try:  # installed: systemd/ ships in the wheel as the package data of watcher.units
        return resources.files("watcher.units").joinpath(name).read_text(encoding="utf-8")
    except ModuleNotFoundError:  # an editable install or a checkout: the repository's own
        checkout = Path(__file__).resolve().parents[2]  # watcher/service/units.py -> the root
        return (checkout / "systemd" / name).read_text("utf-8")


def user_unit_dir(environ: Mapping[str, str]) -> Path:
    return config_home(environ) / "systemd" / "user"


def command_line(environ: Mapping[str, str], argv0: str | None = None) -> list[str]:
    """How systemd should start this program: by its stable path on PATH (pipx's
    ~/.local/bin link) when that is the program running, not by a path inside a virtualenv
    that a reinstall or a Python upgrade would break."""
    argv0 = argv0 if argv0 is not None else sys.argv[0]
    running = Path(argv0)
    on_path = shutil.which(COMMAND, path=environ.get("PATH"))
    if on_path and (not _is_command(running) or _same_file(Path(on_path), running)):
        return [str(Path(on_path).absolute())]
    if _is_command(running):
        return [str(running.absolute())]
    return [sys.executable, "-m", "watcher"]  # run as `python -m watcher`, nothing on PATH


def exec_start(command: Sequence[str], environ: Mapping[str, str], extra: Sequence[str]) -> str:
    """An ExecStart= value: shell-style quoting, systemd's specifiers ("%") and variables
    ("$") escaped, and the home directory as %h so the line stays right if it moves."""
    home = str(home_directory(environ))
    words = []
    for index, word in enumerate([*command, *extra]):
        text = _escape(shlex.quote(word))
        if index == 0 and shlex.quote(word) == word and word.startswith(home + "/"):
            text = "%h" + text[len(_escape(home)) :]
        words.append(text)
    return " ".join(words)


def _escape(text: str) -> str:
    return text.replace("%", "%%").replace("$", "$$")


def render_unit(name: str, exec_line: str) -> str:
    """The shipped unit with ExecStart pointing at `exec_line` (its arguments kept)."""
    lines = []
    for line in shipped_unit(name).splitlines():
        if line.startswith("ExecStart=" + SHIPPED_EXEC):
            line = "ExecStart=" + exec_line + line[len("ExecStart=" + SHIPPED_EXEC) :]
        lines.append(line)
    return "\n".join(lines) + "\n"


def install_units(
    environ: Mapping[str, str],
    *,
    timer: bool,
    config: Path | None = None,
    state: Path | None = None,
    argv0: str | None = None,
) -> int:
    from watcher.paths import default_state_path

    unit_dir = user_unit_dir(environ)
    extra = []
    if config is not None:
        extra += ["--config", str(config.absolute())]
    if state is not None:
        extra += ["--state", str(state.absolute())]
    exec_line = exec_start(command_line(environ, argv0), environ, extra)
    wanted = (CHECK_SERVICE, TIMER) if timer else (SERVICE,)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        for name in wanted:
            replace_atomically(unit_dir / name, render_unit(name, exec_line))
            print(f"wrote {unit_dir / name}")
        # The hardening drop-in keeps the state directory writable only if it exists.
        state_dir = (state or default_state_path(environ)).parent
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        where = exc.filename or unit_dir
        raise WatcherError(f"{where}: cannot write: {exc.strerror or exc}") from None

    start = TIMER if timer else SERVICE
    other = SERVICE if timer else TIMER
    commands = [["systemctl", "--user", "daemon-reload"]]
    if (unit_dir / other).exists():
        commands.append(["systemctl", "--user", "disable", "--now", other])
    commands.append(["systemctl", "--user", "enable", "--now", start])
    failure = _run_all(commands, environ)
    if failure is not None:
        _print_by_hand(*failure)
        return 1
    unit = "grok-usage-watcher-check" if timer else "grok-usage-watcher"
    print(
        f"{start} is enabled and started; it runs `{exec_line}`.\n"
        f"  status: systemctl --user status {start}\n"
        f"  log:    journalctl --user -u {unit} -f\n"
        "To keep watching while logged out: loginctl enable-linger"
    )
    return 0


def uninstall_units(environ: Mapping[str, str]) -> int:
    from watcher.paths import default_config_path, default_state_path

    unit_dir = user_unit_dir(environ)
    installed = [name for name in ALL_UNITS if (unit_dir / name).exists()]
    if not installed:
        print(f"nothing to remove: no grok-usage-watcher unit in {unit_dir}")
        return 0
    # The files the units ran with (--config, --state), read before the units go.
    home = str(home_directory(environ))
    configs, states = set(), set()
    for name in installed:
        named = _files_named_by(unit_dir / name, home)
        configs.add(named.get("--config") or str(default_config_path(environ)))
        states.add(named.get("--state") or str(default_state_path(environ)))
    startable = [name for name in installed if name != CHECK_SERVICE]
    failure = _run_all([["systemctl", "--user", "disable", "--now", *startable]], environ)
    managed = failure is None
    if failure is not None:
        # No user manager to ask. Disabling is only removing the links `enable` made, which
        # needs none; stopping needs the session where a copy may run.
        print(
            f"{failure[0]}. Removing the files and links here; if the service or timer runs "
            f"in your login session, stop it there: systemctl --user stop {' '.join(startable)}"
        )
        for link in unit_dir.glob("*.wants/*"):
            if link.name in installed and link.is_symlink():
                link.unlink()
                print(f"removed {link}")
    for name in installed:
        (unit_dir / name).unlink()
        print(f"removed {unit_dir / name}")
    if managed:
        _run_all([["systemctl", "--user", "daemon-reload"]], environ)
    print(
        f"Left in place: the config ({', '.join(sorted(configs))}), "
        f"the state ({', '.join(sorted(states))}) and your Grok login."
    )
    drop_ins = [unit_dir / f"{name}.d" for name in installed if (unit_dir / f"{name}.d").exists()]
    if drop_ins:
        print("Also left: your drop-in directories " + ", ".join(str(d) for d in drop_ins))
    return 0


def _files_named_by(unit: Path, home: str) -> dict[str, str]:
    """`--config` and `--state` as the unit's ExecStart= gives them (its escapes undone)."""
    try:
        text = unit.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            value = re.sub(
                r"%(.)",
                lambda m: home if m[1] == "h" else m[1] if m[1] == "%" else m[0],
                line[len("ExecStart=") :],
            ).replace("$$", "$")
            try:
                words = shlex.split(value)
            except ValueError:
                return {}
            return {
                flag: words[words.index(flag) + 1]
                for flag in ("--config", "--state")
                if flag in words[:-1]
            }
    return {}


def _run_all(
    commands: list[list[str]], environ: Mapping[str, str]
) -> tuple[str, list[list[str]]] | None:
    """Run each command. None when all succeeded; else why one could not, and the commands
    left to do (it included)."""
    if shutil.which("systemctl", path=environ.get("PATH")) is None:
        return "systemctl is not installed here", commands
    for index, command in enumerate(commands):
        try:
            result = subprocess.run(
                command, env=dict(environ), capture_output=True, text=True, timeout=60
            )
        except OSError as exc:
            return f"cannot run systemctl: {exc.strerror or exc}", commands[index:]
        if result.returncode != 0:
            reason = (result.stderr or result.stdout or "").strip().splitlines()
            why = reason[-1] if reason else f"exit code {result.returncode}"
            return f"`{shlex.join(command)}` failed: {why}", commands[index:]
    return None


def _print_by_hand(reason: str, commands: list[list[str]]) -> None:
    print(f"{reason}. To finish, run (with a user manager, i.e. in your login session):")
    for command in commands:
        print(f"  {shlex.join(command)}")


def _is_command(path: Path) -> bool:
    return path.name == COMMAND and path.is_file() and os.access(path, os.X_OK)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)
    except OSError:
        return False
