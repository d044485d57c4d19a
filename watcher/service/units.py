"""`--install-service [--timer]` and `--uninstall-service`: the shipped systemd units, put
where the user's systemd looks, pointing at the command that is actually installed.

The service and the timer are two ways to do the same watching: installing one disables the
other, so checks never double. Where systemctl or a user manager is missing, the exact
commands are printed instead (exit 1).

With the opt-in hardening drop-in (systemd/hardening.conf: the home read-only but ~/.grok),
every other Grok home watched must stay writable, or a refreshed login cannot be written
back and is lost: install writes them into a drop-in of its own, LOGINS_DROP_IN, beside it.
"""

from __future__ import annotations

import contextlib
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
# Our drop-in beside the user's hardening.conf (theirs is never touched): the Grok homes.
LOGINS_DROP_IN = "logins.conf"
LOGINS_MARK = "# Written by grok-usage-watcher --install-service"
LOGINS_HEADER = (
    f"{LOGINS_MARK} and rewritten each time it runs: edits here\n"
    "# are lost (put yours in another file of this directory). The Grok homes the watcher\n"
    "# refreshes logins in, kept writable under hardening.conf's ProtectHome=read-only: a\n"
    "# refreshed login is written back to auth.json there, under the Grok CLI's lock file.\n"
)


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
    login_dirs: Sequence[Path] = (),
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
        # Before daemon-reload: the unit must never start sandboxed without its Grok homes.
        _update_logins_drop_in(environ, unit_dir, CHECK_SERVICE if timer else SERVICE, login_dirs)
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
        _remove_logins_drop_in(unit_dir / f"{name}.d")
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


def _update_logins_drop_in(
    environ: Mapping[str, str], unit_dir: Path, unit: str, login_dirs: Sequence[Path]
) -> None:
    """Keep LOGINS_DROP_IN naming the Grok homes that hardening.conf does not (~/.grok).

    Written when a drop-in of `unit` sandboxes the home, and kept current once ours (the
    sandbox may come from where we do not look); removed when no home needs it. A file of
    that name that is not ours is left alone, with a line saying what it should hold."""
    home = home_directory(environ)
    # systemd takes no ".." in a path: the directory it names, as the kernel finds it.
    dirs = [Path(os.path.realpath(d)) if ".." in d.parts else d for d in login_dirs]
    extra = [d for d in dict.fromkeys(dirs) if not _within(d, home / ".grok")]
    named = {d: _read_write_path(d, home) for d in extra}
    words = [w for w in named.values() if w is not None]
    homes = ", ".join(str(d) for d in extra)
    drop_in_dir = unit_dir / f"{unit}.d"
    path = drop_in_dir / LOGINS_DROP_IN
    ours = _is_ours(path)
    hardened = _home_sandboxed(unit_dir, unit)
    if (hardened or ours) and len(words) < len(extra):
        print(
            "cannot name in ReadWritePaths= (a relative path or a control character): "
            + ", ".join(str(d) for d, w in named.items() if w is None)
        )
    if path.exists() and not ours:
        if hardened and words:
            print(
                f"left {path} alone (grok-usage-watcher did not write it): the Grok homes "
                f"{homes} need ReadWritePaths={' '.join(words)} in a drop-in of yours"
            )
    elif words and (hardened or ours):
        drop_in_dir.mkdir(parents=True, exist_ok=True)
        text = f"{LOGINS_HEADER}\n[Service]\nReadWritePaths={' '.join(words)}\n"
        replace_atomically(path, text)
        print(f"wrote {path} (ReadWritePaths for the Grok homes {homes})")
        return
    elif ours:
        path.unlink()
        print(f"removed {path} (no Grok home outside ~/.grok to keep writable)")
        return
    if extra and not hardened:
        print(
            f"Note: with systemd/hardening.conf installed in {drop_in_dir}, the Grok homes "
            f"{homes} need ReadWritePaths= (or a refreshed login is lost); running "
            "--install-service again after installing it adds them."
        )


def _remove_logins_drop_in(drop_in_dir: Path) -> None:
    """Remove our LOGINS_DROP_IN with its unit, and its directory if that leaves it empty;
    the user's drop-ins (hardening.conf) stay."""
    path = drop_in_dir / LOGINS_DROP_IN
    if not _is_ours(path):
        return
    path.unlink()
    print(f"removed {path}")
    with contextlib.suppress(OSError):  # not empty: the user's drop-ins stay, and it
        drop_in_dir.rmdir()


def _is_ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(LOGINS_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def _within(path: Path, directory: Path) -> bool:
    return path == directory or path.is_relative_to(directory)


def _read_write_path(directory: Path, home: Path) -> str | None:
    """`directory` as one ReadWritePaths= word: "-" (a missing one does not fail the unit),
    the home as %h, "%" as the specifier "%%", double-quoted with backslash escapes when it
    holds a space, a quote or a backslash. None when no word can name it for systemd."""
    text = str(directory)
    if not directory.is_absolute() or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes: the drop-in is written as UTF-8
        return None
    if str(home) != "/" and _within(directory, home):
        rest = directory.relative_to(home).as_posix()
        word = "-%h" + ("" if rest == "." else "/" + rest.replace("%", "%%"))
    else:
        word = "-" + text.replace("%", "%%")
    if any(c in word for c in " \t\"'\\"):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def _home_sandboxed(unit_dir: Path, unit: str) -> bool:
    """Whether `unit`'s drop-ins in `unit_dir` leave the home read-only or hidden:
    ProtectHome= yes, read-only or tmpfs, or ProtectSystem=strict, as the last assignment
    of each reads (drop-ins in file-name order; the unit's own .d over its prefixes' and
    the type's service.d, for the same name)."""
    stem = unit.removesuffix(".service")
    parts = stem.split("-")
    dirs = ["service.d"] + [f"{'-'.join(parts[:n])}-.service.d" for n in range(1, len(parts))]
    files: dict[str, Path] = {}
    for name in [*dirs, f"{unit}.d"]:  # least specific first: a later one wins a name
        try:
            for entry in sorted((unit_dir / name).glob("*.conf")):
                files[entry.name] = entry
        except OSError:
            continue
    settings: dict[str, str] = {}
    for name in sorted(files):
        try:
            text = files[name].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # unreadable to us is unreadable to the user's manager too
        settings.update(_service_settings(text, ("ProtectHome", "ProtectSystem")))
    home = settings.get("ProtectHome", "")
    return (
        home in ("read-only", "tmpfs")
        or home.lower() in _TRUE
        or settings.get("ProtectSystem") == "strict"
    )


_TRUE = ("1", "yes", "y", "true", "t", "on")


def _service_settings(text: str, keys: Sequence[str]) -> dict[str, str]:
    """The last value of each of `keys` in the [Service] section of a unit file's text."""
    found: dict[str, str] = {}
    section = None
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if key in keys:
                found[key] = value
    return found


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
