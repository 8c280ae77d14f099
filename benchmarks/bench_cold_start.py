"""Cold start of `ketaplan plan --format json` against its floor, `python -c "import typer, rich, pydantic"`."""

# python benchmarks/bench_cold_start.py [--runs 21]
#
# Target: at most 1.2 x the floor (median of interleaved runs). The cache (holidays, vocabulary
# index) is warmed by one untimed run first, as on any machine after its first plan; the same
# command with an empty cache folder for every run ("cold") is timed in the same rounds, for the
# first plan on a machine. ketaplan's bytecode is compiled first, as `pip install` does. The order
# within a round alternates, so that neither side always runs right after the other. Also writes
# the `python -X importtime` report of the plan command to benchmarks/data/importtime-plan.txt.

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time

from _common import (
    DATA,
    PROTOCOL,
    REPO,
    START,
    compile_tree,
    env,
    ketaplan_command,
    load_average,
    machine,
    ratios,
    timed,
)

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
        for cumulative, own, _depth, name in sorted(rows, key=lambda r: -r[1])[:40]:
            out.write(f"{cumulative / 1000:14.1f} {own / 1000:8.1f}  {name}\n")
    return [(c, o, n) for c, o, d, n in rows if d == 1]


def imported_from() -> str:
    """Where the timed runs import ketaplan from: this tree, not an installed copy elsewhere."""
    probe = [sys.executable, "-c", "import ketaplan; print(ketaplan.__file__)"]
    return subprocess.run(probe, env=env(), cwd=REPO, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    load_before = load_average()
    DATA.mkdir(parents=True, exist_ok=True)
    compile_tree()
    cold_root = DATA / "cold-cache"
    shutil.rmtree(cold_root, ignore_errors=True)

    timed(plan_command())  # warms the cache (and the OS file cache): not counted
    timed(FLOOR)
    sides = {"floor": [], "plan": [], "cold": []}
    loads = []
    began = time.time()
    for i in range(args.runs):
        # Interleaved, so that a busy moment of the machine weighs on every side alike; the order
        # alternates from round to round.
        order = ("floor", "plan", "cold") if i % 2 == 0 else ("cold", "plan", "floor")
        for side in order:
            if side == "floor":
                sides[side].append(timed(FLOOR))
            elif side == "plan":
                sides[side].append(timed(plan_command()))
            else:
                cold = cold_root / str(i)  # a new, empty cache folder: the first plan on a machine
                sides[side].append(timed(plan_command(), extra_env={"KETAPLAN_CACHE_DIR": str(cold)}))
                shutil.rmtree(cold, ignore_errors=True)
        loads.append(float(load_average()) if load_average() != "unknown" else 0.0)
    shutil.rmtree(cold_root, ignore_errors=True)
    report = DATA / "importtime-plan.txt"
    top = importtime_report(report)

    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(began))}")
    print(
        f"load average (1 min): {load_before} at start, {load_average()} at end, "
        f"{min(loads):.2f} to {max(loads):.2f} during the runs"
    )
    print(f"command: {' '.join(plan_command())}")
    print(f"ketaplan imported from: {imported_from()}")
    print(f"floor:   {' '.join(FLOOR)}")
    print(f"runs: {args.runs} of each, interleaved in alternating order; bytecode compiled first")
    print("warm cache (every plan after a machine's first):")
    print(ratios("plan", sides["plan"], "floor", sides["floor"], TARGET, unit="ms"))
    print("cold cache (an empty cache folder for every run: a machine's first plan):")
    print(ratios("cold", sides["cold"], "floor", sides["floor"], TARGET, unit="ms"))
    print(f"import times written to {report.relative_to(REPO)}; top-level imports, cumulative:")
    for cumulative, _own, name in top[:12]:
        print(f"  {cumulative / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
