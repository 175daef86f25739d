"""Benchmark of the offline plan: wall time and peak memory of `python -m stacks plan <stack> --json`.

Each run is a fresh process (what a user pays, imports included); peak memory is that process's
maximum resident set size. One uncounted warm-up run per stack first lets Python cache the
project's bytecode, as it does after any first run (PYTHONDONTWRITEBYTECODE is dropped for the
children, as the Makefile does). Prints one line per stack and checks the floor the project promises:
prod in at most 3 s wall (median of the runs) and 300 MB peak.

    python scripts/bench_plan.py [--runs N] [STACK ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR_SECONDS = 3.0
FLOOR_MB = 300.0


def one_run(stack: str) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "stacks", "plan", stack, "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"plan {stack} failed: {process.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", default=["dev", "prod"])
    parser.add_argument("--runs", type=int, default=5, help="runs per stack (default 5)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    ok = True
    print(f"offline plan benchmark, {args.runs} runs per stack, {os.cpu_count()} CPUs")
    for stack in args.stacks:
        one_run(stack)  # warm-up: bytecode cache
        runs = [one_run(stack) for _ in range(args.runs)]
        walls = [w for w, _ in runs]
        peak = max(m for _, m in runs)
        median = statistics.median(walls)
        line = f"  {stack:5s} wall median {median:5.2f} s (min {min(walls):.2f}, max {max(walls):.2f})  peak RSS {peak:6.1f} MB"
        if stack == "prod":
            # The floor applies to the median run (the machine's own noise moves single runs by
            # +-0.3 s); the max is printed beside it.
            within = median <= FLOOR_SECONDS and peak <= FLOOR_MB
            ok &= within
            line += f"  floor {FLOOR_SECONDS:.0f} s / {FLOOR_MB:.0f} MB: {'met' if within else 'MISSED'}"
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
