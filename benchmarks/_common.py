"""Shared helpers of the benchmark scripts: the command to run ketaplan, timing, medians."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "benchmarks" / "data"
PROTOCOL = REPO / "examples" / "protocols" / "trd-iv-induction.toml"
START = "2026-12-01"


def env(**extra: str) -> dict[str, str]:
    """The environment of every timed run: ketaplan importable from this tree, and the holiday
    cache under benchmarks/data/ (warmed once before timing) rather than the user's home.

    Bytecode is written and read as for an installed package (pip compiles it at install): a
    PYTHONDONTWRITEBYTECODE=1 inherited from the shell would make every run compile ketaplan's
    sources again, while the floor's packages in site-packages come with their bytecode."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO) + (os.pathsep + out["PYTHONPATH"] if out.get("PYTHONPATH") else "")
    out["KETAPLAN_CACHE_DIR"] = str(DATA / "cache")
    out.pop("NO_COLOR", None)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    out.update(extra)
    return out


def compile_tree() -> None:
    """Writes the bytecode of this tree's ketaplan package, as `pip install` does."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "ketaplan")], env=env(), check=True,
                   stdout=subprocess.DEVNULL)


def ketaplan_command() -> list[str]:
    """`python -m ketaplan` from this tree: the same imports as the installed `ketaplan` script."""
    return [sys.executable, "-m", "ketaplan"]


def timed(command: list[str], *, cwd: Path = REPO, extra_env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of the process and its workers) of one run, output to /dev/null.

    On a shared machine other work stretches wall time but hardly CPU time: both are reported.
    A run that fails stops the benchmark (a fast failure is no result)."""
    wall, _rss, cpu, _err = _run(command, cwd, extra_env)
    return wall, cpu


def _run(command: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> tuple[float, int, float, bytes]:
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env(**(extra_env or {})),
                            cwd=cwd)
    err = proc.stderr.read()
    # wait4 gives this child's own usage, its reaped workers included.
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode not in (0, 1):
        sys.exit(f"failed ({proc.returncode}): {' '.join(command)}\n{err.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, err


def run_with_rusage(command: list[str], *, cwd: Path = REPO) -> tuple[float, int, bytes]:
    """(wall seconds, peak RSS in bytes of that one child, its stderr)."""
    wall, rss, _cpu, err = _run(command, cwd)
    return wall, rss, err


def median(values: list[float]) -> float:
    return statistics.median(values)


def ratios(name: str, runs: list[tuple[float, float]], floor_name: str, floors: list[tuple[float, float]],
           target: float, unit: str = "s") -> str:
    """The figure against its floor three ways: median wall time (the headline), fastest wall time
    and median CPU time (both barely touched by other work on a shared machine)."""
    scale, fmt = (1000, "{:8.1f} ms") if unit == "ms" else (1, "{:7.2f} s")

    def show(x: float) -> str:
        return fmt.format(x * scale)

    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    floor_walls, floor_cpus = [w for w, _ in floors], [c for _, c in floors]
    ratio = median(walls) / median(floor_walls)
    lines = [
        f"{name:>6} wall median {show(median(walls))}  min {show(min(walls))}  max {show(max(walls))}"
        f"   cpu median {show(median(cpus))}",
        f"{floor_name:>6} wall median {show(median(floor_walls))}  min {show(min(floor_walls))}"
        f"  max {show(max(floor_walls))}   cpu median {show(median(floor_cpus))}",
        f"ratio {ratio:.2f} x the floor, median wall time (target <= {target}): "
        f"{'MET' if ratio <= target else 'NOT MET'}",
        f"      {min(walls) / min(floor_walls):.2f} x by fastest runs; "
        f"{median(cpus) / median(floor_cpus):.2f} x by median CPU time",
    ]
    return "\n".join(lines)


def machine() -> str:
    import platform

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def load_average() -> str:
    """The 1-minute load average: on a shared 2-core machine, other work slows every timing."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"
