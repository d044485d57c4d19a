"""The fault matrix: one table of faults, one runner, every check a real `python -m watcher
--check` process against the fake Grok server and a real webhook sink (Apprise json://).

Each row runs in a fresh home:

  check 1  usage 45 %: nothing due, exit 0 (the baseline: state, plan and pool known);
  check 2  the server would say 55 % (the 50 % alert is due if usage can be read), with the
           row's fault applied for this one check; the row says what it must show: the exit
           code, the one line on stderr (exact, or a tight regex), and what it sends;
  the fault is removed;
  check 3  82 %: the 80 % alert is due (a row may choose other figures for checks 3 and 4);
  check 4  83 %: nothing new.

Most rows run `--check` in check 2; a few run the command whose fault they prove
(`--install-service`, `--test-notify`).

After every check: no traceback anywhere; auth.json byte-identical unless the token endpoint
granted a refresh in that check (then it holds every entry and field as before, same JSON
types, times with an offset, and the granted token); the state file is the watcher's
(`assert_state_is_ours`) and no temporary of a save is left beside it; a config error (exit 2)
leaves the state as it was. Over checks 2-4 the sink receives what the model says is due, each
exactly once -- a row whose check is killed may repeat that check's messages once, no more --
and every threshold alert states the usage of the check that sent it.

Rows marked xfail(strict=True) fail today for the reason given (issue 9); one that starts
passing turns red until its mark is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import stat
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENTRY, cli_entry
from tests.fake_grok import Reply
from tests.fault_world import (
    BILLING,
    LEGACY,
    LOGIN_TITLE,
    RFC3339,
    SETTINGS,
    SIGKILL,
    SIGTERM,
    STATE_MARKER,
    DeadPort,
    Faulty,
    RawReply,
    Result,
    SilentPort,
    World,
    dead_pid,
    monthly,
    no_dac_prefix,
    pool,
    signal_when_sending,
    threshold_title,
    tmpfs_prefix,
)

NOT_LOGGED_IN = "Grok not logged in. Run `grok login`."
EXPIRED = "Grok auth expired. Run `grok login` again."
INVALID = "Grok auth invalid. Run `grok login` again."
CONNECTION = "Grok billing request failed. Check your connection."
CHANGED = "Grok billing response changed."
REFRESH_CONNECTION = "Grok login refresh failed. Check your connection."
TODO_TOML = 'title = "groceries"\n\n[items]\nmilk = 2\n'
GARBLED_STATE = b"version = 1\n[period\nstart = 2026-"  # a state cut short
THRESHOLD_TITLE = re.compile(r"Grok Build: \d+% of weekly credits used")
TEST_TITLE = "Grok Build: test notification"

Message = str | re.Pattern[str]
Expected = Message | Callable[[World], Message] | None
Fault = Callable[[World], contextlib.AbstractContextManager[Faulty]]


def http(status: int) -> str:
    return f"Grok billing request failed (HTTP {status}). Try again later."


def refresh_http(status: int) -> str:
    return f"Grok login refresh failed (HTTP {status}). Try again later."


# --- the state helper (one place: the format is about to gain a marker line) -------------------


def assert_state_is_ours(path: Path) -> None:
    """The state file parses as TOML and is the watcher's: it starts with the marker comment
    or has a `version` key."""
    text = path.read_text(encoding="utf-8")
    document = tomllib.loads(text)
    assert text.startswith(STATE_MARKER) or "version" in document, f"not our state:\n{text}"


# --- the model of what is due ------------------------------------------------------------------


class Model:
    """Which threshold alert is due (README, "The alerts"): a threshold fires once per period,
    when usage first reaches it; a jump over several is ONE message naming the highest; what a
    check fired is remembered only if that check saved its state; one that was not delivered is
    due again at the next check, unless a higher threshold's alert takes its place."""

    THRESHOLDS = (50.0, 80.0, 90.0, 100.0)

    def __init__(self) -> None:
        self.fired: set[float] = set()
        self.pending: str | None = None

    def due(self, percent: float, saved: bool = True, delivered: bool = True) -> list[str]:
        reached = {t for t in self.THRESHOLDS if percent >= t} - self.fired
        if reached:
            due = [threshold_title(max(reached))]
        else:
            due = [self.pending] if self.pending else []
        if saved:
            self.fired |= reached
            self.pending = due[0] if due and not delivered else None
        return due


# --- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    fault: Fault
    code: int | tuple[int, ...]
    err: Expected  # the one line on stderr; "" nothing; None not checked
    out: Expected = None  # found in the summary line on stdout
    reads: bool = False  # the faulty check reads usage (so the 50 % alert is due)
    delivers: bool = False  # ... and the sink gets it in that check
    saves: bool = True  # ... and the check's state is saved
    extra: tuple[str, ...] = ()  # other titles the faulty check sends to the sink
    killed: bool = False  # the faulty check is killed: its messages may come once more
    percent: float = 55  # what the server would say in check 2
    later: tuple[float, float] = (82, 83)  # usage in checks 3 and 4


def row(r: Row, xfail: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(r, id=r.name, marks=marks)


def unread(name: str, fault: Fault, message: Expected) -> Row:
    """Usage cannot be read: exit 1, the message once, in the summary line on stdout (stderr
    stays empty), nothing sent (an outage alerts only later)."""
    return Row(name, fault, 1, "", out=message)


def login(name: str, fault: Fault, message: Expected) -> Row:
    """A login problem: exit 1, the message once on stdout, the critical login alert once."""
    return Row(name, fault, 1, "", out=message, extra=(LOGIN_TITLE,))


def fine(name: str, fault: Fault, **more: Any) -> Row:
    """The fault does not stop the check: usage read, the 50 % alert sent, exit 0."""
    return Row(name, fault, 0, more.pop("err", ""), reads=True, delivers=True, **more)


def config_error(name: str, fault: Fault, err: Expected) -> Row:
    return Row(name, fault, 2, err)


def target_failed(name: str, fault: Fault, out: Expected, delivers: bool) -> Row:
    """A target fails: exit 1 (never 2), the failure in the summary line (stdout: the
    contract puts no message on stderr for it)."""
    return Row(name, fault, 1, None, out=out, reads=True, delivers=delivers)


def state_unsaved(name: str, fault: Fault, reason: str) -> Row:
    """The state cannot be saved: nothing is sent, the summary says why, stderr names the path
    and the OS error, exit 1."""
    return Row(
        name,
        fault,
        1,
        lambda w: re.compile(rf".*{re.escape(str(w.state_dir))}.*{re.escape(reason)}.*"),
        out="state could not be saved",
        reads=True,
        saves=False,
    )


def killed(name: str, signum: int, code: int | tuple[int, ...]) -> Row:
    """A signal while the target holds its answer: the sink has the 50 % alert, the state
    from before the check (or after its save) must stay valid."""
    fault = signalled_while_sending(signum)
    return Row(name, fault, code, None, reads=True, delivers=True, saves=False, killed=True)


# --- faults ------------------------------------------------------------------------------------


def billing_status(status: int) -> Fault:
    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        posts = len(world.grok.token_posts())
        world.grok.routes[BILLING] = Reply(status, json={"error": "injected"})
        yield Faulty()
        refreshes = len(world.grok.token_posts()) - posts
        assert refreshes == (1 if status in (401, 403) else 0), f"{refreshes} refresh(es)"

    return fault


def billing_reply(make: Callable[[World], Reply], timeout: float = 1) -> Fault:
    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        world.configure(timeout=timeout)  # a slow answer costs the suite this long
        world.grok.routes[BILLING] = make(world)
        yield Faulty()
        world.configure()

    return fault


def truncated(world: World) -> Reply:
    body = json.dumps(pool(55, world.end)).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    return RawReply(raw=head % (len(body) + 1000) + body[: len(body) // 2])


def huge(world: World) -> Reply:
    document = pool(55, world.end)
    document["config"]["padding"] = "x" * (1024 * 1024 + 1)  # otherwise a good answer
    return Reply(body=json.dumps(document).encode())


@contextlib.contextmanager
def redirected(world: World) -> Iterator[Faulty]:
    elsewhere = world.grok.origin + "/v1/elsewhere"
    world.grok.routes[BILLING] = Reply(302, headers={"Location": elsewhere})
    yield Faulty()
    assert not world.grok.requests_to("/v1/elsewhere"), "the redirect was followed"


def api_base(make: Callable[[World], str]) -> Fault:
    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        world.configure(api_base=make(world))
        yield Faulty()
        world.configure()

    return fault


def closed_port_api(world: World) -> str:
    port = DeadPort()
    world.on_close(port.close)
    return f"http://127.0.0.1:{port.port}/v1"


def settings_status(status: int) -> Fault:
    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        world.make_plan_stale()
        asked = len(world.grok.requests_to("/v1/settings"))
        world.grok.routes["/settings"] = Reply(status, json={"error": "injected"})
        yield Faulty()
        world.grok.routes["/settings"] = Reply(json=SETTINGS)
        assert len(world.grok.requests_to("/v1/settings")) == asked + 1, "/settings not asked"

    return fault


def token_endpoint(reply: Reply, timeout: float = 1) -> Fault:
    """The access token expired; the token endpoint answers `reply` for one check."""

    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        world.configure(timeout=timeout)
        world.expire_login()
        posts = len(world.grok.token_posts())
        world.grok.token_reply = reply
        yield Faulty()
        world.grok.token_reply = None
        world.configure()
        assert len(world.grok.token_posts()) == posts + 1, "not exactly one refresh was tried"

    return fault


@contextlib.contextmanager
def token_endpoint_refuses_connections(world: World) -> Iterator[Faulty]:
    port = DeadPort()
    world.on_close(port.close)
    world.expire_login()
    world.configure(token_url=f"http://127.0.0.1:{port.port}/oauth2/token")
    yield Faulty()
    world.configure()


def auth_replaced(change: Callable[[World], tuple[str, ...] | None]) -> Fault:
    """auth.json changed by `change` for one check (which may ask for a command wrapper), then
    put back as it was."""

    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        path = world.auth_path
        saved = path.read_bytes()
        prefix = change(world) or ()
        try:
            yield Faulty(prefix=prefix)
        finally:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.is_symlink() or path.exists():
                path.unlink()
            world.write_auth(saved.decode())

    return fault


def auth_text(text: str) -> Callable[[World], None]:
    return lambda world: world.write_auth(text)


def auth_removed(world: World) -> None:
    world.auth_path.unlink()


def auth_unreadable(world: World) -> tuple[str, ...]:
    prefix = no_dac_prefix()
    world.auth_path.chmod(0)
    return prefix


def auth_directory(world: World) -> None:
    world.auth_path.unlink()
    world.auth_path.mkdir()


def auth_dangling_link(world: World) -> None:
    world.auth_path.unlink()
    world.auth_path.symlink_to(dangling_target(world))


def dangling_target(world: World) -> Path:
    return world.root / "dotfiles" / "grok-auth.json"


def auth_entry(key: str, refresh: str | None) -> Callable[[World], None]:
    """One login whose access token expired an hour ago."""

    def change(world: World) -> None:
        past = datetime.now(UTC) - timedelta(hours=1)
        world.write_auth({ENTRY: cli_entry(key, refresh=refresh, expires_at=past)})

    return change


OTHER_LOGIN = "https://auth.x.ai::0b5a7d1e-other-client"


@contextlib.contextmanager
def cli_rewrites_during_refresh(world: World) -> Iterator[Faulty]:
    """While the watcher's refresh is in flight, the Grok CLI rewrites auth.json (atomically,
    as it does) with a second login added."""
    world.expire_login()

    def rewrite() -> None:
        document = json.loads(world.auth_path.read_bytes())
        document[OTHER_LOGIN] = cli_entry("access-other", refresh="refresh-other", email="o@x.ai")
        text = json.dumps(document, indent=2).encode()
        temporary = world.auth_path.with_name(".auth.json.grok-cli.tmp")
        temporary.write_bytes(text)
        temporary.chmod(0o600)
        os.replace(temporary, world.auth_path)
        world.auth_reference = text

    world.grok.on_token_request = rewrite
    yield Faulty()
    world.grok.on_token_request = None
    kept = json.loads(world.auth_path.read_bytes())
    assert kept[OTHER_LOGIN]["key"] == "access-other", "the login the CLI added was lost"


@contextlib.contextmanager
def far_future_login_verbose(world: World) -> Iterator[Faulty]:
    path = world.auth_path
    saved = path.read_bytes()
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    world.write_auth({ENTRY: cli_entry("access-1", expires_at=far)})
    faulty = Faulty(argv=("-v",), env={"TZ": "Europe/Berlin"})
    yield faulty
    world.write_auth(saved.decode())
    assert faulty.result is not None
    assert "login: refreshes itself (access token valid until Fri 31 Dec 9999" in (
        faulty.result.err
    )


MISSING_CONFIG = "no-such-config.toml"


def flags(*argv: str) -> Fault:
    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        yield Faulty(argv=argv)

    return fault


@contextlib.contextmanager
def config_flag_missing(world: World) -> Iterator[Faulty]:
    yield Faulty(argv=("--config", str(world.root / MISSING_CONFIG)))


def config_text(edit: Callable[[str], str]) -> Fault:
    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        saved = world.config_path.read_text()
        world.config_path.write_text(edit(saved))
        yield Faulty()
        world.config_path.write_text(saved)

    return fault


def state_garbled(earlier_same_second: bool) -> Fault:
    """Our own state at the default path, garbled; maybe with backups of earlier corruptions
    under every name the current second (and the next minute) could give."""

    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        earlier: dict[Path, bytes] = {}
        if earlier_same_second:
            now = datetime.now(UTC)
            for second in range(-2, 61):
                stamp = (now + timedelta(seconds=second)).strftime("%Y%m%dT%H%M%S")
                path = world.state_dir / f"state.toml.corrupt-{stamp}"
                earlier[path] = f"an earlier corrupt state, {second}\n".encode()
                path.write_bytes(earlier[path])
        world.state_path.write_bytes(GARBLED_STATE)
        yield Faulty()
        for path, content in earlier.items():
            assert path.read_bytes() == content, f"the earlier backup {path.name} was replaced"
        backups = [p for p in world.state_dir.glob("state.toml.corrupt-*") if p not in earlier]
        assert [p.read_bytes() for p in backups] == [GARBLED_STATE], "not one new backup"

    return fault


def moved_aside(world: World) -> re.Pattern[str]:
    return re.compile(
        rf"(grok-usage-watcher: )?{re.escape(str(world.state_path))}: .+; "
        r"moved aside to state\.toml\.corrupt-\S+, starting fresh"
    )


def documents(world: World, name: str) -> Path:
    return world.root / "Documents" / name


def foreign_state(name: str, write: Callable[[World, Path], None]) -> Fault:
    """--state names a file of the user's that is not the watcher's."""

    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        path = documents(world, name)
        path.parent.mkdir(exist_ok=True)
        write(world, path)
        content, beside = path.read_bytes(), sorted(os.listdir(path.parent))
        yield Faulty(argv=("--state", str(path)))
        assert path.read_bytes() == content, f"{path} was changed"
        assert sorted(os.listdir(path.parent)) == beside, "a file was made or moved beside it"

    return fault


def not_ours(name: str) -> Callable[[World], re.Pattern[str]]:
    return lambda world: re.compile(
        rf".*{re.escape(str(documents(world, name)))}.*not a grok-usage-watcher state file.*"
    )


@contextlib.contextmanager
def state_directory_unwritable(world: World) -> Iterator[Faulty]:
    prefix = no_dac_prefix()
    world.state_dir.chmod(0o500)
    try:
        yield Faulty(prefix=prefix)
    finally:
        world.state_dir.chmod(0o700)


@contextlib.contextmanager
def disk_full(world: World) -> Iterator[Faulty]:
    copy = world.tmp / "state-copy"
    shutil.copytree(world.state_dir, copy)
    yield Faulty(prefix=tmpfs_prefix(world.state_dir, copy))


@contextlib.contextmanager
def state_lock_held(world: World) -> Iterator[Faulty]:
    """Another check holds the state lock for 1.5 s."""
    fd = os.open(world.state_path.with_name("state.toml.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    release = threading.Timer(1.5, os.close, (fd,))
    release.start()
    faulty = Faulty()
    try:
        yield faulty
    finally:
        release.join()
    assert faulty.result is not None and faulty.result.seconds >= 1.3, "it did not wait"


@contextlib.contextmanager
def sink_answers_500(world: World) -> Iterator[Faulty]:
    world.sink.status = 500
    yield Faulty()
    world.sink.status = 200


def second_target(make: Callable[[World], str]) -> Fault:
    """The sink and a second target, which fails, for one check."""

    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        world.configure(urls=[world.sink.url(), make(world)])
        faulty = Faulty()
        yield faulty
        world.configure()
        assert faulty.result is not None
        assert "hunter2" not in faulty.result.out + faulty.result.err, "a secret was shown"

    return fault


def hanging_target(world: World) -> str:
    port = SilentPort()
    world.on_close(port.close)
    return f"json://127.0.0.1:{port.port}/hook?cto=0.5&rto=0.5"


def refusing_target(world: World) -> str:
    port = DeadPort()
    world.on_close(port.close)
    return f"json://127.0.0.1:{port.port}/hook?cto=0.5&rto=0.5"


def sink_inline(world: World) -> list[str]:
    return [world.sink.url()]


FAILED = re.compile(
    rf"could not send “{re.escape(threshold_title(50))}”: json://127\.0\.0\.1:\d+/hook.*; "
    "will retry next check"
)
# The summary of a check run a day back: the reset is a day further off than the 3 days.
A_DAY_BACK = re.compile(r"^55% used \(weekly pool, resets .+ \(in (4 d|3 d 23 h)")
HALF_SENT = re.compile(
    rf"sent “{re.escape(threshold_title(50))}” to 1 of 2 targets; "
    r"failed, will retry next check: json://127\.0\.0\.1:\d+/hook"
)


def same_target_twice(
    inline: Callable[[World], list[str]], in_apprise_config: bool, command: str = "--check"
) -> Fault:
    """For one check the sink is listed twice: `inline` in [notify] urls, and maybe also in an
    Apprise config file (where Apprise writes the URL its own way)."""

    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        configs = []
        if in_apprise_config:
            path = world.root / ".config" / "apprise" / "apprise.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# my alerts\n{world.sink.url()}\n")
            configs = [path]
        world.configure(urls=inline(world), apprise_configs=configs)
        yield Faulty(command=command)
        world.configure()

    return fault


def broken_toml(world: World) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(str(world.config_path))}: not valid TOML: .+")


@contextlib.contextmanager
def install_with_broken_config(world: World) -> Iterator[Faulty]:
    """`--install-service` with the config broken: the command on PATH in ~/.local/bin (as
    pipx puts it) and a stand-in systemctl that records what it is asked."""
    tools = world.tmp / "tools"
    tools.mkdir()
    asked = tools / "systemctl.log"
    systemctl = tools / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$*" >> "{asked}"\n')
    systemctl.chmod(0o755)
    bin_dir = world.root / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "grok-usage-watcher").write_text("#!/bin/sh\n")
    (bin_dir / "grok-usage-watcher").chmod(0o755)
    saved = world.config_path.read_text()
    world.config_path.write_text(saved.replace("[alerts]", "[alerts"))
    path = f"{bin_dir}:{tools}:{world.env.get('PATH', '/usr/bin:/bin')}"
    yield Faulty(command="--install-service", env={"PATH": path})
    world.config_path.write_text(saved)
    units = world.root / ".config" / "systemd"
    assert not units.exists(), f"written: {sorted(map(str, units.rglob('*')))}"
    assert not asked.exists(), f"systemctl was asked: {asked.read_text()}"


@contextlib.contextmanager
def config_error_as_json(world: World) -> Iterator[Faulty]:
    saved = world.config_path.read_text()
    world.config_path.write_text(saved.replace("[alerts]", "timout_seconds = 1\n[alerts]"))
    faulty = Faulty(argv=("--json",))
    yield faulty
    world.config_path.write_text(saved)
    assert faulty.result is not None
    assert faulty.result.out.count("\n") == 1, describe(faulty.result)
    error = json.loads(faulty.result.out)["error"]
    assert error == {"kind": "config", "message": unknown_key(world)}


def unknown_key(world: World) -> str:
    suggestion = "(did you mean timeout_seconds?)"
    return f"{world.config_path}: [grok] timout_seconds: unknown key {suggestion}"


@contextlib.contextmanager
def period_end_left_out(world: World) -> Iterator[Faulty]:
    """The pool's period comes without its end (protobuf leaves out a zero value) in a period
    whose end is known, at 95 %: the pace runs out before the known reset. The pace alert
    goes out in the message of the 90 % alert (its title under "Also:")."""
    body = pool(95, world.end)
    del body["config"]["currentPeriod"]["end"]
    world.configure(forecast="true")
    world.grok.routes[BILLING] = Reply(json=body)
    faulty = Faulty()
    yield faulty
    world.configure()
    assert faulty.result is not None
    (body_sent,) = faulty.result.bodies
    assert body_sent.endswith(
        "\n\nAlso:\n- Grok Build: weekly credits will run out before the reset"
    )


@contextlib.contextmanager
def meter_flips(world: World) -> Iterator[Faulty]:
    """billing auto, after the pool answered: for one check the pool request answers 404 while
    plain /billing answers the monthly meter at 99 %."""
    world.grok.routes[BILLING] = Reply(404, json={"error": "not found"})
    world.grok.routes[LEGACY] = Reply(json=monthly(99, world.end))
    yield Faulty()
    del world.grok.routes[LEGACY]


@contextlib.contextmanager
def clock_back_a_day(world: World) -> Iterator[Faulty]:
    libfaketime = pytest.importorskip("libfaketime")
    library = libfaketime._get_shared_lib("libfaketime.so.1")
    # An absolute start (TZ=UTC): right even when the suite itself runs under FAKETIME.
    start = (datetime.now(UTC) - timedelta(days=1)).strftime("@%Y-%m-%d %H:%M:%S")
    yield Faulty(
        env={"LD_PRELOAD": library, "FAKETIME": start, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    )


@contextlib.contextmanager
def leftover_temporary(world: World) -> Iterator[Faulty]:
    """What a SIGKILL mid-save leaves: the temporary of a process that is gone, an hour old."""
    temporary = world.state_dir / f".state.toml.{dead_pid()}.tmp"
    temporary.write_bytes(GARBLED_STATE)
    an_hour_ago = time.time() - 3600
    os.utime(temporary, (an_hour_ago, an_hour_ago))
    yield Faulty()
    assert not temporary.exists(), f"{temporary.name} is still there"


def signalled_while_sending(signum: int) -> Fault:
    """The sink holds its answer; the check gets `signum` while it waits for it."""

    @contextlib.contextmanager
    def fault(world: World) -> Iterator[Faulty]:
        notes: dict[str, float] = {}
        world.sink.hold()
        try:
            yield Faulty(during=signal_when_sending(world, signum, notes))
        finally:
            world.sink.unhold()
        if signum == SIGTERM:
            assert notes["ended_after"] <= 2.0, f"ended {notes['ended_after']:.1f} s after it"

    return fault


# --- the table ---------------------------------------------------------------------------------

ROWS = [
    # The billing request answers an error status.
    row(login("billing-401", billing_status(401), EXPIRED)),
    row(login("billing-403", billing_status(403), EXPIRED)),
    # A 401 whose error body trickles in: the status is the answer, at once.
    row(login("billing-401-slow-body", billing_reply(lambda w: Reply(401, trickle=0.1)), EXPIRED)),
    *(row(unread(f"billing-{s}", billing_status(s), http(s))) for s in (404, 429, 500, 503)),
    # /settings fails: the plan is unknown, the check is not.
    *(row(fine(f"settings-{s}", settings_status(s))) for s in (401, 403, 404, 429, 500, 503)),
    # The token endpoint fails a due refresh.
    row(login("token-401", token_endpoint(Reply(401, json={"error": "x"})), EXPIRED)),
    row(login("token-403", token_endpoint(Reply(403, json={"error": "x"})), EXPIRED)),
    *(
        row(unread(f"token-{s}", token_endpoint(Reply(s, json={"error": "x"})), refresh_http(s)))
        for s in (404, 429, 500, 503)
    ),
    row(
        unread(
            "token-timeout", token_endpoint(Reply(503, delay=3), timeout=0.5), REFRESH_CONNECTION
        )
    ),
    row(unread("token-refused", token_endpoint_refuses_connections, REFRESH_CONNECTION)),
    # The billing answer is slow, broken or not understood.
    row(
        unread(
            "billing-timeout",
            billing_reply(lambda w: Reply(json=pool(55, w.end), delay=3), timeout=0.5),
            CONNECTION,
        )
    ),
    row(
        unread(
            "billing-trickle", billing_reply(lambda w: Reply(trickle=0.1), timeout=0.5), CONNECTION
        )
    ),
    # The connection ended before the body it announced: the network (or a proxy) cut it,
    # so the remedy is the connection's, not an update for a changed API.
    row(unread("billing-truncated", billing_reply(truncated), CONNECTION)),
    row(unread("billing-huge", billing_reply(huge), CHANGED)),
    row(
        unread(
            "billing-html",
            billing_reply(lambda w: Reply(body=b"<!doctype html><h1>502 Bad Gateway</h1>")),
            CHANGED,
        )
    ),
    row(unread("billing-empty", billing_reply(lambda w: Reply(body=b"")), CHANGED)),
    row(unread("billing-empty-object", billing_reply(lambda w: Reply(body=b"{}")), CHANGED)),
    row(
        unread(
            "billing-nan",
            billing_reply(lambda w: Reply(body=json.dumps(pool(float("nan"), w.end)).encode())),
            CHANGED,
        )
    ),
    row(unread("billing-redirect", redirected, http(302))),
    row(
        replace(
            fine("billing-period-end-left-out", period_end_left_out),
            percent=95,
        )
    ),
    row(unread("api-refused", api_base(closed_port_api), CONNECTION)),
    row(unread("api-dns", api_base(lambda w: "https://grok.invalid/v1"), CONNECTION)),
    # The Grok login.
    row(login("auth-missing", auth_replaced(auth_removed), NOT_LOGGED_IN)),
    row(login("auth-empty", auth_replaced(auth_text("")), NOT_LOGGED_IN)),
    row(login("auth-garbage", auth_replaced(auth_text('{"https://auth.x.ai::b1')), NOT_LOGGED_IN)),
    row(login("auth-not-an-object", auth_replaced(auth_text("[]")), NOT_LOGGED_IN)),
    row(login("auth-no-token", auth_replaced(auth_text(json.dumps({ENTRY: {}}))), INVALID)),
    row(
        unread(
            "auth-mode-000",
            auth_replaced(auth_unreadable),
            lambda w: f"Cannot read the Grok login {w.auth_path}: Permission denied.",
        )
    ),
    row(
        unread(
            "auth-directory",
            auth_replaced(auth_directory),
            lambda w: f"Cannot read the Grok login {w.auth_path}: Is a directory.",
        )
    ),
    row(
        unread(
            "auth-dangling-symlink",
            auth_replaced(auth_dangling_link),
            lambda w: (
                f"Cannot read the Grok login {w.auth_path}: it links to {dangling_target(w)}, "
                "which does not exist."
            ),
        )
    ),
    row(login("auth-expired-no-refresh", auth_replaced(auth_entry("access-1", None)), EXPIRED)),
    row(
        login(
            "auth-refresh-rejected", auth_replaced(auth_entry("access-old", "refresh-x")), EXPIRED
        )
    ),
    row(fine("auth-rewritten-during-refresh", cli_rewrites_during_refresh)),
    # A login "valid" until the year 9999, with -v (whose lines give its expiry) in Berlin.
    row(fine("auth-expiry-year-9999-verbose", far_future_login_verbose, err=None)),
    # The config.
    row(
        config_error(
            "config-missing",
            config_flag_missing,
            lambda w: f"{w.root / MISSING_CONFIG}: no such config file",
        )
    ),
    row(
        config_error(
            "config-broken-toml",
            config_text(lambda text: text.replace("[alerts]", "[alerts")),
            broken_toml,
        )
    ),
    row(
        config_error(
            "config-unknown-key",
            config_text(lambda text: text.replace("[alerts]", "timout_seconds = 1\n[alerts]")),
            unknown_key,
        )
    ),
    row(
        config_error(
            "config-wrong-type",
            config_text(lambda text: text.replace("forecast = false", 'forecast = "no"')),
            lambda w: f"{w.config_path}: [alerts] forecast: expected true or false, got 'no'",
        )
    ),
    # Several logins ([[accounts]]): each mistake one line, before anything is read or saved.
    row(
        config_error(
            "accounts-duplicate-name",
            config_text(
                lambda text: (
                    text
                    + '[[accounts]]\nname = "work"\ngrok_home = "~/.grok"\n'
                    + '[[accounts]]\nname = "Work"\ngrok_home = "~/.grok-work"\n'
                )
            ),
            lambda w: f'{w.config_path}: [[accounts]] "Work": a second account named "work"',
        )
    ),
    row(
        config_error(
            "accounts-one-file-twice",
            config_text(
                lambda text: (
                    text
                    + '[[accounts]]\nname = "a"\ngrok_home = "~/.grok"\n'
                    + '[[accounts]]\nname = "b"\nauth_file = "~/.grok/auth.json"\n'
                )
            ),
            lambda w: (
                f'{w.config_path}: [[accounts]] "b": reads the same login file as "a" '
                f"({w.auth_path})"
            ),
        )
    ),
    row(
        config_error(
            "accounts-beside-grok-auth-file",
            config_text(
                lambda text: (
                    text.replace("[alerts]", 'auth_file = "~/.grok/auth.json"\n[alerts]')
                    + '[[accounts]]\nname = "a"\ngrok_home = "~/.grok"\n'
                )
            ),
            lambda w: (
                f"{w.config_path}: [grok] auth_file cannot be used with [[accounts]]: give each "
                "account its grok_home or auth_file"
            ),
        )
    ),
    row(
        config_error(
            "accounts-unknown-key",
            config_text(lambda text: text + '[[accounts]]\nname = "a"\ngork_home = "~/.grok"\n'),
            lambda w: (
                f"{w.config_path}: [[accounts]] #1 gork_home: unknown key (did you mean grok_home?)"
            ),
        )
    ),
    row(
        config_error(
            "accounts-targets-reach-nothing",
            config_text(
                lambda text: (
                    text + '[[accounts]]\nname = "a"\ngrok_home = "~/.grok"\ntargets = ["work"]\n'
                )
            ),
            '[[accounts]] "a" targets: no target carries the tag work (nor always): its alerts '
            "would go nowhere",
        )
    ),
    row(
        config_error(
            "check-account-unknown",
            flags("--account", "nope"),
            "--account nope: no such account (the config has: default)",
        )
    ),
    # Quiet hours: a window the config cannot mean is one line, before anything is read.
    row(
        config_error(
            "quiet-window-malformed",
            config_text(lambda text: text + '[[quiet]]\ntimes = ["22:00-7:30"]\n'),
            lambda w: (
                f'{w.config_path}: [[quiet]] #1 times: expected "HH:MM-HH:MM", like '
                "\"22:00-07:30\", got '22:00-7:30'"
            ),
        )
    ),
    row(
        config_error(
            "quiet-window-empty",
            config_text(lambda text: text + '[[quiet]]\nlocation = "Europe/Berlin"\n'),
            lambda w: (
                f'{w.config_path}: [[quiet]] #1: needs times (like ["22:00-07:30"]) or weekdays '
                '(like ["saturday", "sunday"]), or both'
            ),
        )
    ),
    # The state file.
    row(fine("state-corrupt", state_garbled(earlier_same_second=False), err=moved_aside)),
    row(
        fine("state-corrupt-same-second", state_garbled(earlier_same_second=True), err=moved_aside)
    ),
    row(
        config_error(
            "state-foreign-auth-copy",
            foreign_state("auth-backup.json", lambda w, path: shutil.copy(w.auth_path, path)),
            not_ours("auth-backup.json"),
        )
    ),
    row(
        config_error(
            "state-foreign-toml",
            foreign_state("todo.toml", lambda w, path: path.write_text(TODO_TOML)),
            not_ours("todo.toml"),
        )
    ),
    row(
        state_unsaved("state-directory-unwritable", state_directory_unwritable, "Permission denied")
    ),
    row(state_unsaved("state-disk-full", disk_full, "No space left on device")),
    row(fine("state-lock-held", state_lock_held)),
    # The targets.
    row(
        target_failed(
            "target-500",
            sink_answers_500,
            FAILED,
            delivers=False,
        )
    ),
    row(target_failed("target-hanging", second_target(hanging_target), HALF_SENT, True)),
    row(target_failed("target-refused", second_target(refusing_target), HALF_SENT, True)),
    row(
        target_failed(
            "target-invalid-url",
            second_target(lambda w: "nosuchscheme://user:hunter2@host/path"),
            "nosuchscheme://**** (Apprise cannot parse this URL)",
            delivers=True,
        )
    ),
    row(
        replace(
            target_failed("target-500-retried-current", sink_answers_500, FAILED, False),
            later=(62, 63),  # the retry is not replaced by a higher threshold's alert
        )
    ),
    # The same target listed twice: one target, one message.
    row(fine("target-inline-and-in-apprise-config", same_target_twice(sink_inline, True))),
    row(
        fine(
            "target-critical-beside-untagged",
            same_target_twice(lambda w: [f"critical={w.sink.url()}", w.sink.url()], False),
        )
    ),
    row(
        Row(
            "test-notify-target-inline-and-in-apprise-config",
            same_target_twice(sink_inline, True, command="--test-notify"),
            0,
            "",
            extra=(TEST_TITLE,),
        )
    ),
    # The commands refuse a broken config the same way.
    row(config_error("install-service-broken-config", install_with_broken_config, broken_toml)),
    row(config_error("check-json-config-error", config_error_as_json, unknown_key)),
    # The meter, the clock, and kills.
    row(unread("meter-flips-for-one-check", meter_flips, http(404))),
    row(fine("clock-back-a-day", clock_back_a_day, out=A_DAY_BACK)),
    row(fine("sigkill-leftover-temporary", leftover_temporary)),
    row(killed("sigkill-while-sending", SIGKILL, -SIGKILL)),
    row(killed("sigterm-while-sending", SIGTERM, (0, 143))),
]


# --- the runner --------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()


@pytest.mark.parametrize("case", ROWS)
def test_fault(world: World, case: Row) -> None:
    model = Model()

    world.serve(45)
    first = observed_check(world)
    assert first.code == 0, describe(first)
    assert first.err == "", describe(first)
    assert first.titles == model.due(45) == []

    world.serve(case.percent)
    with case.fault(world) as faulty:
        second = observed_check(world, faulty, killed=case.killed)
        codes = case.code if isinstance(case.code, tuple) else (case.code,)
        assert second.code in codes, describe(second)
        if case.err is not None:
            assert_line(second.err, resolve(case.err, world), "stderr", second)
        if case.out is not None:
            assert_line(second.out, resolve(case.out, world), "stdout", second, search=True)
    due = model.due(case.percent, saved=case.saves, delivered=case.delivers) if case.reads else []
    assert Counter(second.titles) == Counter((due if case.delivers else []) + list(case.extra))
    assert_current_figures(second, case.percent)

    world.serve(case.later[0])
    third = observed_check(world)
    assert third.code == 0, describe(third)
    assert_current_figures(third, case.later[0])
    if LOGIN_TITLE in second.titles:  # the login alert went out: its end is said, once
        assert ["works again" in body for body in third.bodies] == [True], describe(third)
    world.serve(case.later[1])
    fourth = observed_check(world)
    assert fourth.code == 0, describe(fourth)
    assert_current_figures(fourth, case.later[1])

    # No alert lost, none repeated (a killed check's messages at most once more).
    expected_later = Counter(model.due(case.later[0]) + model.due(case.later[1]))
    later = Counter(third.titles + fourth.titles)
    assert later - expected_later <= (Counter(second.titles) if case.killed else Counter())
    assert not expected_later - later, f"lost: {expected_later - later}"
    assert Counter(fourth.titles) - Counter(second.titles if case.killed else []) == Counter()


def assert_current_figures(result: Result, percent: float) -> None:
    """A threshold alert says the usage of the check that sends it (a retried one too)."""
    for title, body in zip(result.titles, result.bodies, strict=True):
        if THRESHOLD_TITLE.fullmatch(title):
            assert f"You have used {percent:g}% " in body, f"{title!r}: {body!r}"


def observed_check(world: World, faulty: Faulty | None = None, killed: bool = False) -> Result:
    """One check, and what must hold after any check."""
    auth_before = auth_snapshot(world.auth_path)
    state_before = world.state_path.read_bytes() if world.state_path.exists() else None
    textfile_before = world.textfile.stat().st_mtime_ns if world.textfile.exists() else None
    result = world.check(faulty)
    reference, world.auth_reference = world.auth_reference, None

    assert "Traceback" not in result.out + result.err, describe(result)
    verbose = faulty is not None and "-v" in faulty.argv
    if not killed and not verbose:
        assert len(result.err.splitlines()) <= 1, describe(result)
        if result.code == 2 and "--json" not in (faulty.argv if faulty else ()):
            assert result.out == "", describe(result)
            assert world.state_path.read_bytes() == state_before, "exit 2 changed the state"
        else:
            assert len(result.out.splitlines()) == 1, describe(result)
    assert_auth_kept(world, auth_before, reference, result)
    assert_state_is_ours(world.state_path)
    if not killed and result.code != 2 and faulty_command(faulty) == "--check":
        assert_metrics_written(world, result, textfile_before)
    leftovers = sorted(p.name for p in world.state_dir.glob(".state.toml.*.tmp"))
    assert not leftovers, f"temporaries left beside the state: {leftovers}"
    return result


def faulty_command(faulty: Faulty | None) -> str:
    return faulty.command if faulty is not None else "--check"


def assert_metrics_written(world: World, result: Result, before: int | None) -> None:
    """Every check that ran wrote the metrics again (a failed reading and a check that could
    not save its state too): `up` says whether it read, mode 0644, no temporary left."""
    path = world.textfile
    assert path.exists() and path.stat().st_mtime_ns != before, "the metrics were not written"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    text = path.read_text()
    up = re.search(r'^grok_usage_up\{account="default"\} ([01])$', text, re.M)
    assert up is not None, text
    read = "grok_usage_credits_used_ratio{" in text
    assert (up.group(1) == "1") == read, text
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def auth_snapshot(path: Path) -> tuple[Any, ...]:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if not path.exists():
        return ("missing",)
    if path.is_dir():
        return ("directory", tuple(sorted(os.listdir(path))))
    status = path.stat()
    try:
        content: Any = path.read_bytes()
    except PermissionError:  # mode 000 when not root: the inode, size and time stand for it
        content = (status.st_ino, status.st_size, status.st_mtime_ns)
    return ("file", content, stat.S_IMODE(status.st_mode))


REFRESHED_FIELDS = ("key", "refresh_token", "refresh", "id_token", "expires_at", "expires")


def assert_auth_kept(
    world: World, before: tuple[Any, ...], reference: bytes | None, result: Result
) -> None:
    after = auth_snapshot(world.auth_path)
    if not result.granted:
        assert after == before, f"auth.json changed without a refresh: {describe(result)}"
        return
    # A refresh was granted: the rotated login is in the file, in the shape the file had.
    assert after[0] == "file" and after[2] == 0o600, after[:1] + after[2:]
    old = json.loads(reference if reference is not None else before[1])
    new = json.loads(after[1])
    assert new[ENTRY]["key"] == result.granted[-1], "the refreshed login was not written back"
    assert list(new) == list(old), "entries were added, lost or reordered"
    for name, entry in old.items():
        if name != ENTRY:
            assert new[name] == entry, f"the login {name} was changed"
            continue
        assert set(new[name]) == set(entry), f"fields changed: {set(new[name]) ^ set(entry)}"
        for key, value in entry.items():
            got = new[name][key]
            assert type(got) is type(value), f"{key}: {type(value).__name__} became {got!r}"
            if key not in REFRESHED_FIELDS:
                assert got == value, f"{key} changed"
            elif key in ("expires_at", "expires") and isinstance(got, str):
                assert RFC3339.fullmatch(got), f"{key} {got!r} is not RFC 3339 with an offset"


def resolve(expected: Expected, world: World) -> Message:
    assert expected is not None
    return expected(world) if callable(expected) else expected


def assert_line(
    text: str, expected: Message, stream: str, result: Result, search: bool = False
) -> None:
    if expected == "":
        assert text == "", f"{stream} should be empty: {describe(result)}"
        return
    lines = text.splitlines()
    assert len(lines) == 1, f"{stream} should be one line: {describe(result)}"
    line = lines[0]
    if isinstance(expected, re.Pattern):
        found = expected.search(line) if search else expected.fullmatch(line)
    else:
        found = expected in line if search else expected == line
    assert found, f"{stream}: expected {expected!r}, got {line!r}"


def describe(result: Result) -> str:
    return (
        f"exit {result.code} after {result.seconds:.1f} s; stdout {result.out!r}; "
        f"stderr {result.err!r}; sent {result.titles}"
    )
