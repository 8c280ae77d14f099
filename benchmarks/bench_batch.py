"""`ketaplan check` over 10,000 patient TOML files against its floor: a script that only reads and parses them.

    python benchmarks/bench_batch.py [--count 10000] [--runs 5] [--jobs 1]

Target: at most 2.0 x the floor (median of interleaved runs). The files are generated once
(benchmarks/generate.py, seed 2026) under benchmarks/data/; results go to /dev/null as jsonl.
The floor walks the same folder in the same sorted order, reads every file and parses it with
tomllib (exact decimals, as ketaplan reads it), in one fresh Python process like `check`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _common import DATA, PROTOCOL, REPO, START, ketaplan_command, machine, median, timed

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
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    folder = ensure_data(args.count)
    check = [
        *ketaplan_command(), "check", str(folder), "--protocol", str(PROTOCOL), "--start", START,
        "--format", "jsonl", "--jobs", str(args.jobs),
    ]  # fmt: skip
    floor = [sys.executable, "-c", FLOOR_SCRIPT, str(folder)]

    timed(check)  # warms the holiday cache and the OS file cache: not counted
    timed(floor)
    checks, floors = [], []
    for _ in range(args.runs):
        floors.append(timed(floor))
        checks.append(timed(check))
    check_s, floor_s = median(checks), median(floors)
    ratio = check_s / floor_s
    print(f"machine: {machine()}")
    print(f"command: {' '.join(check)} > /dev/null")
    print(f"floor:   read + tomllib.loads(parse_float=Decimal) of the same {args.count} files, sorted walk")
    print(f"runs: {args.runs} each, interleaved; holiday cache warmed first")
    print(f"check median {check_s:7.2f} s  ({args.count / check_s:,.0f} patients/s; min {min(checks):.2f}, max {max(checks):.2f})")
    print(f"floor median {floor_s:7.2f} s  (min {min(floors):.2f}, max {max(floors):.2f})")
    print(f"ratio {ratio:.2f} x the floor (target <= {TARGET}): {'MET' if ratio <= TARGET else 'NOT MET'}")


if __name__ == "__main__":
    main()
