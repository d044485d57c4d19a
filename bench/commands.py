"""Wall time and peak RSS of the watcher's commands against a loopback fake Grok server, side
by side with `python -c "import requests"` on the same interpreter (the floor any
requests-based reading pays):

- `--status`;
- `--check` with nothing to send (the steady state: state file present, plan cached);
- `--check` that sends one alert (to a json:// webhook sink on loopback).

    .venv/bin/python bench/commands.py [--runs 10] [--exe PATH]

Not a test: it prints figures to compare across changes and machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import bench_home, default_exe


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, process.returncode


def summarize(name: str, samples: list[tuple[float, float, int]], floor: float | None) -> float:
    walls = [s[0] * 1000 for s in samples]
    median = statistics.median(walls)
    ratio = f"  {median / floor:4.2f}x" if floor else ""
    print(
        f"{name:<34} median {median:6.1f} ms{ratio}  (min {min(walls):6.1f}, "
        f"max {max(walls):6.1f})  peak RSS {max(s[1] for s in samples):5.1f} MiB  "
        f"exit {sorted({s[2] for s in samples})}"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--exe", default=default_exe())
    args = parser.parse_args()

    with bench_home() as bench:
        env, root, sink = bench.env, bench.root, bench.sink
        # The same interpreter the command runs on, or the comparison measures two Pythons.
        interpreter = Path(args.exe).read_text(errors="replace").splitlines()[0][2:].strip()

        measure([args.exe, "--check"], env)  # warm: state written, plan cached
        floor = summarize(
            'python -c "import requests"',
            [measure([interpreter, "-c", "import requests"], env) for _ in range(args.runs)],
            None,
        )
        summarize(
            "--status",
            [measure([args.exe, "--status"], env) for _ in range(args.runs)],
            floor,
        )
        summarize(
            "--check, nothing to send",
            [measure([args.exe, "--check"], env) for _ in range(args.runs)],
            floor,
        )
        bench.serve(55)
        one_alert = []
        for run in range(args.runs):
            state = root / f"fresh-{run}.toml"  # a fresh state: the 50 % alert is due
            one_alert.append(measure([args.exe, "--check", "--state", str(state)], env))
        summarize("--check, sending one alert", one_alert, floor)
        print(f"(webhook sink received {len(sink.received)} alerts in {args.runs} runs)")


if __name__ == "__main__":
    main()
