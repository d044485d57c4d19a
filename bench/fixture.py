"""What both benchmarks stand on: a loopback fake Grok server serving a pool answer, a webhook
sink, and a temporary home logged in and configured to use them."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import ENTRY, cli_entry
from tests.fake_grok import FakeGrok, Reply
from tests.sinks import WebhookSink
from tests.test_check import pool


class Bench(NamedTuple):
    server: FakeGrok
    sink: WebhookSink
    root: Path  # the home
    env: dict[str, str]  # HOME set, no proxy variables

    def serve(self, percent: float, **reply: object) -> None:
        self.server.routes["/billing?format=credits"] = Reply(json=pool(percent), **reply)

    def accounts_config(self, count: int) -> Path:
        """A config watching `count` logins ([[accounts]]), each in a Grok home of its own
        with its own token and identity; the first is ~/.grok."""
        text = (self.root / ".config" / "grok-usage-watcher" / "config.toml").read_text()
        for number in range(1, count + 1):
            home = self.root / (".grok" if number == 1 else f".grok-{number}")
            home.mkdir(exist_ok=True)
            token = f"access-{number}"
            entry = cli_entry(token, refresh=f"refresh-{number}", user_id=f"user-{number}")
            (home / "auth.json").write_text(json.dumps({ENTRY: entry}))
            self.server.accepted_tokens.add(token)
            text += f'[[accounts]]\nname = "login{number}"\ngrok_home = "{home}"\n'
        path = self.root / f"accounts-{count}.toml"
        path.write_text(text)
        return path


@contextmanager
def bench_home(extra_config: str = "") -> Iterator[Bench]:
    server = FakeGrok().start()
    sink = WebhookSink()
    server.accepted_tokens.add("access-1")
    server.routes["/settings"] = Reply(json={"subscription_tier_display": "SuperGrok Heavy"})
    try:
        with tempfile.TemporaryDirectory() as home:
            root = Path(home)
            (root / ".grok").mkdir()
            (root / ".grok" / "auth.json").write_text(json.dumps({ENTRY: cli_entry("access-1")}))
            config = root / ".config" / "grok-usage-watcher"
            config.mkdir(parents=True)
            (config / "config.toml").write_text(
                f'[grok]\napi_base = "{server.api_base}"\ntoken_url = "{server.token_url}"\n'
                f'[alerts]\nforecast = false\n[notify]\nurls = ["{sink.url()}"]\n' + extra_config
            )
            env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
            env["HOME"] = home
            # Measure the program as installed: pip compiles every module to bytecode at
            # install time, so a run never compiles. With PYTHONDONTWRITEBYTECODE set (as some
            # shells and CI set it), an editable checkout would compile its own modules on
            # every run and the figures would measure the compiler.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            bench = Bench(server, sink, root, env)
            bench.serve(10)
            yield bench
    finally:
        server.stop()
        sink.stop()


def default_exe() -> str:
    return str(Path(sys.executable).with_name("grok-usage-watcher"))
