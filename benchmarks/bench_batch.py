"""`ketaplan check` over 10,000 patient TOML files against its floor, a script that only reads and parses them."""

# python benchmarks/bench_batch.py [--count 10000] [--runs 5] [--jobs 1 2]
#
# Target: at most 2.0 x the floor (median of interleaved runs). The files are generated once
# (benchmarks/generate.py, seed 2026) under benchmarks/data/; results go to /dev/null as jsonl.
# The floor walks the same folder in the same sorted order, reads every file and parses it with
# tomllib (exact decimals, as ketaplan reads it), in one fresh Python process like `check`.

from __future__ import annotations

import argparse
import subprocess
import sys

from _common import DATA, PROTOCOL, REPO, START, ketaplan_command, load_average, machine, median, ratios, timed

TARGET = 2.0

FLOOR_SCRIPT = """
import os, sys, tomllib
from decimal import Decimal

def walk(folder):
    with os.scandir(folder) as entries:
        listing = sorted(entries, key=lambda e: e.name)
    for entry in listing:
        if entry.is_dir(follow_symlinks=False):
            yield from walk(entry.path)
        elif entry.name.endswith(".toml"):
            yield entry.path

count = 0
for path in walk(sys.argv[1]):
    with open(path, "rb") as handle:
        tomllib.loads(handle.read().decode("utf-8"), parse_float=Decimal)
    count += 1
"""


def ensure_data(count: int):
    folder = DATA / f"toml-{count}"
    marker = folder / ".complete"
    if not marker.exists():
        print(f"generating {count} patient files in {folder.relative_to(REPO)} ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / "generate.py"), "toml", str(count), str(folder)], check=True
        )
        marker.touch()
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    load_before = load_average()
    folder = ensure_data(args.count)

    def check(jobs: int) -> list[str]:
        return [
            *ketaplan_command(), "check", str(folder), "--protocol", str(PROTOCOL), "--start", START,
            "--format", "jsonl", "--jobs", str(jobs),
        ]  # fmt: skip

    floor = [sys.executable, "-c", FLOOR_SCRIPT, str(folder)]
    timed(check(1))  # warms the holiday cache and the OS file cache: not counted
    timed(floor)
    checks: dict[int, list[tuple[float, float]]] = {jobs: [] for jobs in args.jobs}
    floors: list[tuple[float, float]] = []
    for _ in range(args.runs):
        # Interleaved, so that a busy moment of the machine weighs on every side alike.
        floors.append(timed(floor))
        for jobs in args.jobs:
            checks[jobs].append(timed(check(jobs)))
    print(f"machine: {machine()}; load average at start {load_before}, at end {load_average()}")
    print(f"floor:   read + tomllib.loads(parse_float=Decimal) of the same {args.count} files, sorted walk")
    print(f"runs: {args.runs} each, interleaved; holiday cache warmed first; results to /dev/null")
    for jobs, runs in checks.items():
        wall = median([w for w, _ in runs])
        print(f"command: {' '.join(check(jobs))} > /dev/null   ({args.count / wall:,.0f} patients/s)")
        print(ratios(f"-j {jobs}", runs, "floor", floors, TARGET))
    if 1 in checks:
        serial = checks[1]
        for jobs, runs in checks.items():
            if jobs != 1:
                by_median = median([w for w, _ in serial]) / median([w for w, _ in runs])
                by_fastest = min(w for w, _ in serial) / min(w for w, _ in runs)
                print(f"--jobs {jobs} over --jobs 1: {by_median:.2f} x by median wall time, {by_fastest:.2f} x fastest")


if __name__ == "__main__":
    main()
