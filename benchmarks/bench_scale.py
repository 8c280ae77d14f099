"""`ketaplan check` of a 100,000-row CSV file: peak memory (target under 150 MB) and patients per second."""

# python benchmarks/bench_scale.py [--rows 100000] [--runs 3] [--jobs 1]
#
# Peak RSS is the child's own (os.wait4 rusage; with --jobs > 1, the largest single process, as
# Linux reports a maximum, not a sum). To show that memory does not grow with the number of
# patients, the same command over the file's first 1,000 rows is measured too: the two peaks
# should be nearly equal. The floor printed beside it is the peak RSS of
# `python -c "import typer, rich, pydantic"`.

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys

from _common import DATA, PROTOCOL, REPO, START, ketaplan_command, load_average, machine, median, run_with_rusage, timed

LIMIT_BYTES = 150 * 1024 * 1024
MB = 1024 * 1024


def ensure_csv(rows: int):
    path = DATA / f"rows-{rows}.csv"
    if not path.exists():
        print(f"generating {rows} CSV rows in {path.relative_to(REPO)} ...", file=sys.stderr)
        temp = path.with_suffix(".csv.part")
        generate = [sys.executable, str(REPO / "benchmarks" / "generate.py"), "csv", str(rows), str(temp)]
        subprocess.run(generate, check=True)
        temp.rename(path)
    return path


def head(path, rows: int):
    """The first `rows` patient rows of `path` (and its header), as a file beside it."""
    small = DATA / f"{path.stem}-head-{rows}.csv"
    if not small.exists():
        with open(path, encoding="utf-8", newline="") as src, open(small, "w", encoding="utf-8", newline="") as out:
            out.writelines(itertools.islice(src, rows + 1))
    return small


def check_command(path, jobs: int) -> list[str]:
    return [
        *ketaplan_command(), "check", str(path), "--protocol", str(PROTOCOL), "--start", START,
        "--format", "jsonl", "--jobs", str(jobs),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    load_before = load_average()
    big = ensure_csv(args.rows)
    small = head(big, 1000)
    timed(check_command(small, args.jobs))  # warms the holiday cache: not counted

    floor_rss = median([run_with_rusage([sys.executable, "-c", "import typer, rich, pydantic"])[1] for _ in range(3)])
    small_rss = median([run_with_rusage(check_command(small, args.jobs))[1] for _ in range(3)])
    times, peaks = [], []
    summary = b""
    for _ in range(args.runs):
        elapsed, rss, summary = run_with_rusage(check_command(big, args.jobs))
        times.append(elapsed)
        peaks.append(rss)
    seconds, peak = median(times), max(peaks)
    print(f"machine: {machine()}; load average at start {load_before}, at end {load_average()}")
    print(f"command: {' '.join(check_command(big, args.jobs))} > /dev/null")
    print(f"result:  {summary.decode().strip().splitlines()[-1]}")
    print(f"runs: {args.runs}")
    print(f"peak RSS {peak / MB:6.1f} MB over {args.rows:,} rows (largest of the runs); limit 150 MB: "
          f"{peak / LIMIT_BYTES:.2f} x the limit, {'MET' if peak < LIMIT_BYTES else 'NOT MET'}")
    print(f"peak RSS {small_rss / MB:6.1f} MB over 1,000 rows (growth with 100x the rows: {peak / small_rss:.2f} x)")
    print(f"peak RSS {floor_rss / MB:6.1f} MB for the floor `python -c \"import typer, rich, pydantic\"` "
          f"({peak / floor_rss:.2f} x)")
    print(
        f"throughput {args.rows / seconds:,.0f} patients/s "
        f"(median {seconds:.1f} s; min {min(times):.1f}, max {max(times):.1f})"
    )


if __name__ == "__main__":
    main()
