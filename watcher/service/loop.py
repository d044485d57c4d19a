"""The background service: one check at start, then one every `[schedule] interval`.

Sleeping: between checks the process waits in select() on a self-pipe until the next job is
due (`schedule`'s `idle_seconds`); it wakes for nothing else but a signal and, when systemd
asks for one, the watchdog. No one-second `run_pending()` loop.

Two clocks: `schedule` counts wall-clock time, select() counts monotonic time, which stands
still while the machine is suspended. A wait never lasts longer than one interval, so after a
resume the overdue check runs once, at most one interval late, and `schedule` then plans the
next from that moment: never a burst. If the wall clock is set back, `schedule` would wait for
the old time to come round again; the monotonic clock says when an interval has really
passed, and the job is run then.

Checks never overlap (the loop is one thread; a slow check delays the next) and use the same
state lock as `--check`, so a timer, this service and a manual check can coexist.

Signals: SIGTERM and SIGINT stop within a second, even in the middle of a hung request (the
handler raises into whatever blocks), but never in the middle of a critical block (the state
save, a login write-back: see `critical.py`). SIGHUP reloads the config between checks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from watcher import critical
from watcher.critical import StopRequested
from watcher.errors import ConfigError, WatcherError

if TYPE_CHECKING:
    import schedule

    from watcher.check import CheckReport
    from watcher.config import Config
    from watcher.core.model import State
    from watcher.service.metrics_endpoint import MetricsEndpoint
    from watcher.service.sd_notify import Notifier

log = logging.getLogger(__name__)


class Flags(Protocol):
    stop: bool
    reload: bool


class Signals:
    """SIGTERM/SIGINT -> stop, SIGHUP -> reload; each wakes the idle wait through a pipe."""

    def __init__(self) -> None:
        self.stop = False
        self.reload = False
        self.checking = False  # a stop raises into a check; between checks it only wakes
        self._read_fd = -1

    def install(self) -> None:
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._read_fd = read_fd
        # The C-level handler writes a byte here before Python's handler runs, so a signal
        # that lands just before select() still wakes it.
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`; return early when a signal arrives."""
        with contextlib.suppress(InterruptedError):
            select.select([self._read_fd], [], [], max(0.0, seconds))
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read_fd, 512):
                pass

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stop = True
        if self.checking:
            critical.interrupt(StopRequested())

    def _on_reload(self, signum: int, frame: object) -> None:
        self.reload = True


class Loop:
    """When to check. Everything it touches is injected: tests drive it with a fake clock
    and a `wait` that moves the clock instead of sleeping."""

    def __init__(
        self,
        *,
        check: Callable[[], None],
        interval: float,
        flags: Flags,
        wait: Callable[[float], None],
        reload: Callable[[], float | None] = lambda: None,
        notifier: Notifier | None = None,
        scheduler: schedule.Scheduler | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        import schedule  # the service's alone: --check never pays for it

        self._check = check
        self._interval = interval
        self._flags = flags
        self._wait = wait
        self._reload_config = reload
        self._notifier = notifier
        self._scheduler = scheduler if scheduler is not None else schedule.Scheduler()
        self._monotonic = monotonic
        watchdog = notifier.watchdog_seconds if notifier is not None else None
        self._ping_every = watchdog / 2 if watchdog else None
        self._last_ping = monotonic()
        self._last_check = monotonic()
        self._job = self._every(interval)

    def _every(self, seconds: float) -> schedule.Job:
        # schedule counts in float seconds (an interval of 1.5 s works), though its type
        # hints say int.
        every = self._scheduler.every(seconds)  # type: ignore[arg-type]
        job: schedule.Job = every.seconds.do(self._run_check)  # `do` returns the job, untyped
        return job

    def run(self) -> None:
        self._scheduler.run_all()  # one check at start; `schedule` plans the next from its end
        while not self._flags.stop:
            if self._flags.reload:
                self._flags.reload = False
                self._reload()
                continue
            due_in = self.seconds_until_due()
            if due_in <= 0:
                self._run_due()
                continue
            pause = due_in
            if self._ping_every is not None:
                ping_in = self._last_ping + self._ping_every - self._monotonic()
                if ping_in <= 0:
                    self._ping()
                    continue
                pause = min(pause, ping_in)
            self._wait(pause)

    def seconds_until_due(self) -> float:
        by_schedule = self._scheduler.idle_seconds
        by_monotonic = self._last_check + self._interval - self._monotonic()
        return by_monotonic if by_schedule is None else min(by_schedule, by_monotonic)

    def _run_due(self) -> None:
        idle = self._scheduler.idle_seconds
        if idle is not None and idle <= 0:
            self._scheduler.run_pending()
        else:
            # The wall clock was set back: `schedule` would wait for the old time to come
            # round again, but an interval has really passed.
            self._scheduler.run_all()

    def _run_check(self) -> None:
        try:
            self._check()
        finally:
            self._last_check = self._monotonic()
        self._ping()

    def _ping(self) -> None:
        self._last_ping = self._monotonic()
        if self._notifier is not None:
            self._notifier.watchdog()

    def _reload(self) -> None:
        if self._notifier is not None:
            self._notifier.reloading()
        interval = self._reload_config()
        if interval is not None and interval != self._interval:
            # The next check comes one new interval after the last one.
            self._scheduler.cancel_job(self._job)
            self._interval = interval
            self._job = self._every(interval)
        if self._notifier is not None:
            self._notifier.ready()


class Service:
    """The imperative shell: config, checks, what the journal and systemd are told."""

    def __init__(
        self,
        config: Config,
        config_path: Path | None,
        state_path: Path,
        environ: Mapping[str, str],
        notifier: Notifier,
        signals: Signals,
    ) -> None:
        from watcher.check import Remembered
        from watcher.grok.login import SpentRefreshTokens
        from watcher.service.journal import Logged

        self.config = config
        self._config_path = config_path
        self._state_path = state_path
        self._environ = environ
        self._notifier = notifier
        self._signals = signals
        self._spent = SpentRefreshTokens()  # outlives one reading: see login.py
        self._logged = Logged()
        self._remembered = Remembered()  # goes on from memory when the state cannot be saved
        self.metrics: MetricsEndpoint | None = None  # [export] listen, set by run_service
        self._last_states: dict[str, State] = {}  # for /metrics when a check cannot run
        self._shared: tuple[str, ...] = ()  # the warnings about logins two names read

    def check(self) -> None:
        from watcher.check import run_check
        from watcher.service.journal import describe_check

        outcome: CheckReport | str
        self._signals.checking = True
        unsaved_before = self._remembered.unsaved
        try:
            outcome = run_check(
                self.config,
                self._state_path,
                self._environ,
                spent=self._spent,
                remembered=self._remembered,
            )
        except WatcherError as error:  # the state stayed locked, the config went away, ...
            outcome = error.message
        except Exception as exc:  # a bug: one line, the details with -v; the service goes on
            log.debug("unexpected error in a check", exc_info=True)
            outcome = f"unexpected error ({type(exc).__name__}); run with -v for details"
        finally:
            self._signals.checking = False
        if self.metrics is not None:
            self._update_metrics(outcome)
        if not isinstance(outcome, str) and outcome.shared != self._shared:
            # Two names reading one login: said at the first check and when it changes.
            for shared in outcome.shared:
                log.warning("%s", shared)
            self._shared = outcome.shared
        line = describe_check(outcome, self._logged, datetime.now(UTC))
        self._logged = line.logged
        log.log(line.level, "%s", line.text)
        self._notifier.status(line.status)
        unsaved = self._remembered.unsaved
        if unsaved is not None and unsaved_before is None:
            log.warning(
                "%s; going on from memory (alerts still go out once each) and trying again "
                "at every check",
                unsaved,
            )
        elif unsaved is None and unsaved_before is not None and not isinstance(outcome, str):
            log.info("the state is saved again to %s", self._state_path)

    def _update_metrics(self, outcome: CheckReport | str) -> None:
        """What /metrics serves after a check. A check that could not run at all (the state
        refused or locked, the config gone) is `up` 0 with the last figures' times: never the
        previous reading's `up` 1, which would hide it from every rule."""
        from watcher.core.model import State
        from watcher.export import AccountMetrics, metrics_text

        now = datetime.now(UTC)
        if isinstance(outcome, str):
            accounts = [
                AccountMetrics(a.name, None, self._last_states.get(a.name, State()), a.rules)
                for a in self.config.accounts
            ]
        else:
            accounts = [
                AccountMetrics(a.name, a.observation, a.state, a.rules) for a in outcome.accounts
            ]
            self._last_states.update((a.name, a.state) for a in outcome.accounts)
        text = metrics_text(accounts, now)
        assert self.metrics is not None
        self.metrics.update(text)

    def reload(self) -> float | None:
        """The new interval, or None when the new config is broken (the old one stays)."""
        from watcher.check import check_config_targets
        from watcher.config import load_config

        try:
            config = load_config(self._config_path, self._environ)
            check_config_targets(config, self._environ)
        except ConfigError as error:
            log.error("%s; keeping the previous configuration", error.message)
            return None
        if config.export.listen != self.config.export.listen:
            log.warning(
                "[export] listen changed: the metrics address changes at the next start "
                "(systemctl --user restart grok-usage-watcher)"
            )
        self.config = config
        log.info("configuration reloaded: %s", describe_watch(config, self._state_path))
        return config.schedule.interval.total_seconds()


def describe_watch(config: Config, state_path: Path) -> str:
    from watcher.durations import format_duration_setting
    from watcher.notify.targets import describe_configured

    source = str(config.source) if config.source else "none (defaults)"
    if config.named_accounts:
        listed = ", ".join(f"{a.name} ({a.auth_file})" for a in config.accounts)
        logins = f"the accounts {listed}" if len(config.accounts) > 1 else f"the account {listed}"
        if config.grok_home_ignored:
            logins += " (GROK_HOME is ignored: [[accounts]] name every login)"
    else:
        logins = f"the login in {config.grok.auth_file}"
    return (
        f"watching Grok Build usage with {logins} every "
        f"{format_duration_setting(config.schedule.interval)}; config {source}; "
        f"state {state_path}; targets: {describe_configured(config.notify)}"
    )


def run_service(
    config_path: Path | None, state_path: Path | None, environ: Mapping[str, str], verbose: bool
) -> int:
    """The service's whole life. Exit 0 on SIGTERM/SIGINT, 2 on a config error at start."""
    from watcher.logs import configure_service_logging
    from watcher.notify.targets import export_desktop_bus
    from watcher.paths import default_state_path
    from watcher.service.sd_notify import Notifier

    configure_service_logging(verbose, environ)
    notifier = Notifier.from_environ(environ)
    state = state_path or default_state_path(environ)
    try:
        config = _checked_at_start(config_path, state, environ)
    except ConfigError as error:
        log.error("%s", error.message)
        notifier.status(error.message)
        return 2
    signals = Signals()
    signals.install()
    # Here, not only in the fallback's desktop target: a configured dbus:// needs it too.
    export_desktop_bus(environ)
    service = Service(config, config_path, state, environ, notifier, signals)
    log.info("%s", describe_watch(config, state))
    if config.export.listen is not None:
        try:
            service.metrics = _serve_metrics(*config.export.listen)
        except OSError as exc:  # the port is taken, the address is not this machine's
            host, port = config.export.listen
            message = f"[export] listen: cannot listen on {host}:{port}: {exc.strerror or exc}"
            log.error("%s", message)
            notifier.status(message)
            return 2
    notifier.ready("starting the first check")
    with contextlib.suppress(StopRequested):
        _build_loop(service, signals, notifier).run()
    notifier.stopping()
    log.info("stopped")
    return _exit_when_stopped()


def _serve_metrics(host: str, port: int) -> MetricsEndpoint:
    from watcher.service.metrics_endpoint import MetricsEndpoint, is_loopback

    endpoint = MetricsEndpoint(host, port)
    log.info("metrics at http://%s:%d/metrics", f"[{host}]" if ":" in host else host, port)
    if not is_loopback(host):
        log.warning(
            "[export] listen = %s:%d is reachable from other machines: the metrics name your "
            "plan and usage (and nothing secret); put a firewall or a proxy in front",
            host,
            port,
        )
    return endpoint


def _checked_at_start(config_path: Path | None, state: Path, environ: Mapping[str, str]) -> Config:
    """The config, or ConfigError for the first mistake a person can fix. At start a person
    reads the journal: a URL Apprise cannot read stops the service here, with one line,
    rather than failing its sends at every check."""
    from watcher.check import check_config_targets
    from watcher.config import load_config
    from watcher.state_file import check_ownership, in_own_place

    config = load_config(config_path, environ)
    check_ownership(state, in_own_place(state, environ))
    check_config_targets(config, environ)
    return config


def _build_loop(service: Service, signals: Signals, notifier: Notifier) -> Loop:
    # The signals are the loop's flags and its wait: a stop or a reload wakes the idle wait.
    return Loop(
        check=service.check,
        interval=service.config.schedule.interval.total_seconds(),
        flags=signals,
        wait=signals.wait,
        reload=service.reload,
        notifier=notifier,
    )


def _exit_when_stopped() -> int:
    """0, the exit code of a stop; at once when a worker thread is still there."""
    if threading.active_count() > 1:
        # A stop cut a send short in a worker thread, which would hold the interpreter's exit
        # until its own timeout. Everything that matters is written: the state only ever in a
        # critical block.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
