"""What the service costs while it waits, against a loopback fake Grok server:

- CPU seconds and voluntary context switches while idle between checks (sampled from /proc
  after each check has finished and before the next begins), per idle hour and per wait;
- resident memory before the first alert and after it (the first send imports Apprise);
- how far check times drift from the schedule (gaps between checks vs the interval).

    .venv/bin/python bench/idle.py [--minutes 3] [--interval 10] [--exe PATH]

Not a test: it prints figures to compare across changes and machines.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import bench_home, default_exe

BILLING = "/v1/billing?format=credits"


def sample(pid: int) -> tuple[float, float, int, float]:
    """(monotonic time, CPU seconds, voluntary context switches of all threads, RSS MiB)."""
    at = time.monotonic()
    cpu = 0.0
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        # schedstat's first field: nanoseconds on a CPU (finer than stat's clock ticks).
        cpu += int((task / "schedstat").read_text().split()[0]) / 1e9
        for line in (task / "status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                switches += int(line.split()[1])
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return at, cpu, switches, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--interval", type=int, default=10, help="seconds; at least 10")
    parser.add_argument("--exe", default=default_exe())
    args = parser.parse_args()

    with bench_home(f'[schedule]\ninterval = "{args.interval}s"\n') as bench:
        server, sink = bench.server, bench.sink
        process = subprocess.Popen(
            [args.exe], env=bench.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        samples: list[tuple[float, float, int, float]] = []
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set() and process.poll() is None:
                samples.append(sample(process.pid))
                stop.wait(0.25)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        started = time.monotonic()
        rss_before = None
        while time.monotonic() - started < args.minutes * 60:
            checks = len(server.requests_to(BILLING))
            if checks >= 3 and rss_before is None:
                time.sleep(1.0)  # let the third check finish
                rss_before = samples[-1][3]
                bench.serve(55)  # one alert
            time.sleep(0.2)
        stop.set()
        thread.join()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        check_times = [r.at for r in server.requests_to(BILLING)]
        rss_after = max(s[3] for s in samples)
        alerts = len(sink.received)

    # Idle windows: from 1.5 s after a check began (it has finished) to 0.3 s before the next.
    idle_cpu = idle_switches = idle_seconds = 0.0
    waits = 0
    for begin, end in itertools.pairwise(check_times):
        inside = [s for s in samples if begin + 1.5 <= s[0] <= end - 0.3]
        if len(inside) < 2:
            continue
        first, last = inside[0], inside[-1]
        idle_seconds += last[0] - first[0]
        idle_cpu += last[1] - first[1]
        idle_switches += last[2] - first[2]
        waits += 1
    gaps = [b - a for a, b in itertools.pairwise(check_times)]
    late = [gap - args.interval for gap in gaps]
    total_drift = check_times[-1] - check_times[0] - args.interval * len(gaps)

    print(
        f"service run {args.minutes:g} min at interval {args.interval} s: {len(check_times)} checks"
    )
    if idle_seconds:
        print(
            f"idle: {idle_cpu:.6f} CPU-s over {idle_seconds:.0f} s observed "
            f"= {idle_cpu / idle_seconds * 3600:.4f} CPU-s per idle hour; "
            f"{idle_switches:.0f} voluntary context switches in "
            f"{waits} waits = {idle_switches / max(waits, 1):.2f} per wait"
        )
    whole = samples[-1][2] - samples[0][2]
    print(
        f"whole run: {whole} voluntary context switches, {whole / len(check_times):.1f} per "
        f"check cycle (the check's own I/O included); {samples[-1][1]:.3f} CPU-s in all"
    )
    print(f"RSS before the first alert {rss_before:.1f} MiB, after it {rss_after:.1f} MiB")
    print(
        f"drift: each check {statistics.median(late) * 1000:.0f} ms later than the previous "
        f"+ interval (median; max {max(late) * 1000:.0f} ms), {total_drift:.2f} s over the run"
    )
    print(f"(webhook sink received {alerts} alert(s))")


if __name__ == "__main__":
    main()
