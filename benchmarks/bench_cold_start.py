"""Cold start of `ketaplan plan --format json` against its floor, `python -c "import typer, rich, pydantic"`."""

# python benchmarks/bench_cold_start.py [--runs 21]
#
# Target: at most 1.2 x the floor (median of interleaved runs). The holiday cache is warmed by one
# untimed run first, as on any machine after its first plan. Also writes the `python -X importtime`
# report of the plan command to benchmarks/data/importtime-plan.txt (largest imports first).

from __future__ import annotations

import argparse
import re
import subprocess
import sys

from _common import DATA, PROTOCOL, REPO, START, env, ketaplan_command, load_average, machine, ratios, timed

PATIENT = REPO / "examples" / "patients" / "eligible-trd.toml"
TARGET = 1.2


def plan_command() -> list[str]:
    return [
        *ketaplan_command(), "plan", str(PATIENT), "--protocol", str(PROTOCOL), "--start", START, "--format", "json"
    ]  # fmt: skip


FLOOR = [sys.executable, "-c", "import typer, rich, pydantic"]


def importtime_report(path) -> list[tuple[int, int, str]]:
    """(cumulative us, self us, module) of every import of one plan run, largest cumulative first."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *plan_command()[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env(),
        cwd=REPO,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match.group(2)), int(match.group(1)), len(match.group(3)), match.group(4)))
    total = sum(r[1] for r in rows)
    rows.sort(key=lambda r: -r[0])
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"python -X importtime: {' '.join(plan_command()[1:])}\n")
        out.write(f"all imports: {total / 1000:.1f} ms (sum of self times)\n\n")
        out.write("top-level imports by cumulative time (a package and everything it imports):\n")
        out.write(f"{'cumulative ms':>14} {'self ms':>8}  module\n")
        for cumulative, own, depth, name in rows:
            if depth == 1:
                out.write(f"{cumulative / 1000:14.1f} {own / 1000:8.1f}  {name}\n")
        out.write("\nlargest self times:\n")
        for cumulative, own, depth, name in sorted(rows, key=lambda r: -r[1])[:40]:
            out.write(f"{cumulative / 1000:14.1f} {own / 1000:8.1f}  {name}\n")
    return [(c, o, n) for c, o, d, n in rows if d == 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    load_before = load_average()
    DATA.mkdir(parents=True, exist_ok=True)

    timed(plan_command())  # warms the holiday cache (and the OS file cache): not counted
    timed(FLOOR)
    plans, floors = [], []
    for _ in range(args.runs):
        # Interleaved, so that a busy moment of the machine weighs on both sides alike.
        floors.append(timed(FLOOR))
        plans.append(timed(plan_command()))
    report = DATA / "importtime-plan.txt"
    top = importtime_report(report)

    print(f"machine: {machine()}; load average at start {load_before}, at end {load_average()}")
    print(f"command: {' '.join(plan_command())}")
    print(f"floor:   {' '.join(FLOOR)}")
    print(f"runs: {args.runs} each, interleaved; holiday cache warmed first")
    print(ratios("plan", plans, "floor", floors, TARGET, unit="ms"))
    print(f"import times written to {report.relative_to(REPO)}; top-level imports, cumulative:")
    for cumulative, own, name in top[:12]:
        print(f"  {cumulative / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
