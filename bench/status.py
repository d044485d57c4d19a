"""Wall time and peak RSS of `grok-usage-watcher --status` against a loopback fake Grok server,
side by side with `python -c "import requests"` (the floor any requests-based reading pays).

    .venv/bin/python bench/status.py [--runs 10] [--exe PATH]

Not a test: it prints figures to compare across changes and machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import ENTRY, POOL_BODY, cli_entry
from tests.fake_grok import FakeGrok, Reply


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, process.returncode


def summarize(name: str, samples: list[tuple[float, float, int]]) -> None:
    walls = [s[0] * 1000 for s in samples]
    rss = [s[1] for s in samples]
    codes = {s[2] for s in samples}
    print(
        f"{name:<34} median {statistics.median(walls):6.1f} ms  "
        f"(min {min(walls):6.1f}, max {max(walls):6.1f})  peak RSS {max(rss):5.1f} MiB  "
        f"exit {sorted(codes)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    default_exe = Path(sys.executable).with_name("grok-usage-watcher")
    parser.add_argument("--exe", default=str(default_exe))
    args = parser.parse_args()

    server = FakeGrok().start()
    server.accepted_tokens.add("access-1")
    server.routes["/billing?format=credits"] = Reply(json=POOL_BODY)
    server.routes["/settings"] = Reply(json={"subscription_tier_display": "SuperGrok Heavy"})
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / ".grok").mkdir()
        (Path(home) / ".grok" / "auth.json").write_text(json.dumps({ENTRY: cli_entry("access-1")}))
        config = Path(home) / ".config" / "grok-usage-watcher"
        config.mkdir(parents=True)
        (config / "config.toml").write_text(
            f'[grok]\napi_base = "{server.api_base}"\ntoken_url = "{server.token_url}"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["HOME"] = home
        # The same interpreter the command runs on, or the comparison measures two Pythons.
        interpreter = Path(args.exe).read_text(errors="replace").splitlines()[0].removeprefix("#!")
        cases = {
            'python -c "import requests"': [interpreter.strip(), "-c", "import requests"],
            "grok-usage-watcher --status": [args.exe, "--status"],
        }
        for name, argv in cases.items():
            measure(argv, env)  # warm the page cache
            summarize(name, [measure(argv, env) for _ in range(args.runs)])
    server.stop()


if __name__ == "__main__":
    main()
