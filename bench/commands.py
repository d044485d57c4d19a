"""Wall time and peak RSS of the watcher's commands against a loopback fake Grok server, each
paired with `python -c "import requests"` on the same interpreter (the floor any
requests-based reading pays):

- `--status`;
- `--check` with nothing to send (the steady state: state file present, plan cached);
- `--check` that sends one alert (to a json:// webhook sink on loopback);
- `--check` with nothing to send watching one and three logins (`[[accounts]]`): what each
  login after the first adds (one request on the check's HTTP session; no import, no new
  connection).

    .venv/bin/python bench/commands.py [--runs 30] [--exe PATH]

Single runs vary by ±30 % here, so each command is timed in interleaved pairs: every run times
the floor and then the command, back to back, so background load hits both alike. Per command
it prints the median of the command's times, the median of its paired floor times, the median
of the per-pair ratios (command / floor) with their 25th-75th percentiles, the peak RSS, the
exit codes seen and how many alerts the webhook sink received (0 but for the one-alert run).
Every run is forked and timed by a small `python -S` launcher, so that its peak RSS is its own
and not this script's (a forked child starts from its parent's peak).

Not a test: it prints figures to compare across changes and machines.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import Bench, bench_home, default_exe

Sample = tuple[float, float, int]
HEADER = f"{'command':<27} {'median':>9} {'floor':>9} {'ratio (25-75 %)':>18} peak RSS  exit alerts"


# Forks and times the command from a small process: a child's peak RSS starts from that of the
# process it was forked from (~31 MiB for this script, ~5 MiB for `python -S`).
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))
"""


def measure(argv: list[str], env: dict[str, str]) -> Sample:
    """(wall seconds, peak RSS in MiB, exit code) of one run."""
    launcher = [sys.executable, "-S", "-c", LAUNCHER, *argv]
    report = subprocess.run(launcher, env=env, capture_output=True, check=True).stdout
    wall, rss, code = report.split()
    return float(wall), float(rss), int(code)


def paired(
    name: str, floor: list[str], command: Callable[[int], list[str]], bench: Bench, runs: int
) -> tuple[list[Sample], list[Sample]]:
    """Times `runs` pairs (the floor, then the command for that run), prints the command's row
    and returns the floor's samples and the command's."""
    alerts = len(bench.sink.received)
    floors: list[Sample] = []
    commands: list[Sample] = []
    for run in range(runs):
        floors.append(measure(floor, bench.env))
        commands.append(measure(command(run), bench.env))
    ratios = [c[0] / f[0] for f, c in zip(floors, commands, strict=True)]
    low, _, high = statistics.quantiles(ratios, n=4) if runs > 1 else ratios * 3
    exits = ",".join(str(code) for code in sorted({c[2] for c in commands}))
    print(
        f"{name:<27} {statistics.median(c[0] for c in commands) * 1000:6.1f} ms"
        f" {statistics.median(f[0] for f in floors) * 1000:6.1f} ms"
        f" {statistics.median(ratios):5.2f}x ({low:.2f}-{high:.2f})"
        f" {max(c[1] for c in commands):5.1f} MiB  {exits:<4} {len(bench.sink.received) - alerts}"
    )
    return floors, commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="interleaved pairs per command")
    parser.add_argument("--exe", default=default_exe())
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    with bench_home() as bench:
        exe, runs = args.exe, args.runs
        # The same interpreter the command runs on, or the comparison measures two Pythons.
        interpreter = Path(exe).read_text(errors="replace").splitlines()[0][2:].strip()
        floor = [interpreter, "-c", "import requests"]

        def fresh(run: int) -> str:
            return str(bench.root / f"fresh-{run}.toml")

        measure([exe, "--check"], bench.env)  # warm: state written, plan cached
        print(f'floor: python -c "import requests" on {interpreter}; {runs} pairs per command')
        print(HEADER)
        floors: list[Sample] = []

        def row(name: str, command: Callable[[int], list[str]]) -> list[Sample]:
            floor_samples, samples = paired(name, floor, command, bench, runs)
            floors.extend(floor_samples)
            return samples

        row("--status", lambda run: [exe, "--status"])
        row("--check, nothing to send", lambda run: [exe, "--check"])
        watched = {}
        for count in (1, 3):
            watched[count] = [exe, "--check", "--config", str(bench.accounts_config(count))]
            watched[count] += ["--state", str(bench.root / f"accounts-{count}.state.toml")]
            measure(watched[count], bench.env)  # warm: state written, plans cached
        one = row("--check, 1 account", lambda run: watched[1])
        three = row("--check, 3 accounts", lambda run: watched[3])
        # What each login after the first adds: 1 and 3 accounts timed back to back.
        extra = []
        for _ in range(runs):
            single = measure(watched[1], bench.env)[0]
            extra.append((measure(watched[3], bench.env)[0] - single) / 2 * 1000)
        low, _, high = statistics.quantiles(extra, n=4) if runs > 1 else extra * 3
        print(
            f"(each login after the first: {statistics.median(extra):+.1f} ms, 25-75 % "
            f"{low:+.1f}..{high:+.1f} ms, from {runs} back-to-back pairs; medians above "
            f"{statistics.median(s[0] for s in one) * 1000:.1f} and "
            f"{statistics.median(s[0] for s in three) * 1000:.1f} ms)"
        )
        bench.serve(55)
        # A fresh state per run: the 50 % alert is due every time.
        row("--check, sending one alert", lambda run: [exe, "--check", "--state", fresh(run)])
        exits = ",".join(str(code) for code in sorted({f[2] for f in floors}))
        print(f"(floor: peak RSS {max(f[1] for f in floors):.1f} MiB, exit {exits})")


if __name__ == "__main__":
    main()
