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


def env() -> dict[str, str]:
    """The environment of every timed run: ketaplan importable from this tree, and the holiday
    cache under benchmarks/data/ (warmed once before timing) rather than the user's home."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO) + (os.pathsep + out["PYTHONPATH"] if out.get("PYTHONPATH") else "")
    out["KETAPLAN_CACHE_DIR"] = str(DATA / "cache")
    out.pop("NO_COLOR", None)
    return out


def ketaplan_command() -> list[str]:
    """`python -m ketaplan` from this tree: the same imports as the installed `ketaplan` script."""
    return [sys.executable, "-m", "ketaplan"]


def timed(command: list[str], *, stdout=subprocess.DEVNULL, cwd: Path = REPO) -> float:
    """Wall-clock seconds of one run; a run that fails stops the benchmark (a fast failure is no result)."""
    began = time.perf_counter()
    done = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, env=env(), cwd=cwd)
    elapsed = time.perf_counter() - began
    if done.returncode not in (0, 1):
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr.decode(errors='replace')}")
    return elapsed


def run_with_rusage(command: list[str], *, cwd: Path = REPO) -> tuple[float, int, bytes]:
    """(wall seconds, peak RSS in bytes of that one child, its stderr)."""
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env(), cwd=cwd)
    # wait4 gives this child's own peak RSS (getrusage(RUSAGE_CHILDREN) is the maximum over all children).
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.exit(f"failed ({proc.returncode}): {' '.join(command)}\n{err.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss * 1024, err


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    import platform

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
