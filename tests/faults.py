"""Helpers for fault tests: a real small disk (tmpfs), a disk that fills half way, processes."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "64k"):
    """Mount a tmpfs of `size` on `folder` (created); skipped where mounting is not possible."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if not (shutil.which("mount") and shutil.which("umount")):
        pytest.skip("no mount command here")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True, check=False)
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def remount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of `folder` with a file named "filler", leaving `leave` bytes free
    (rounded down to whole blocks)."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    size = max(0, free - leave)
    with open(folder / "filler", "wb") as handle:
        try:
            handle.write(b"\0" * size)
            handle.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise


def fail_after(monkeypatch, allowed: int, err: int = errno.ENOSPC) -> None:
    """os.write in ketaplan.output accepts `allowed` bytes in all, then fails with `err`."""
    from ketaplan import output

    left = [allowed]
    real = os.write

    def write(fd, data):
        if left[0] <= 0:
            raise OSError(err, os.strerror(err))
        n = real(fd, bytes(data[: left[0]]))
        left[0] -= n
        return n

    monkeypatch.setattr(output.os, "write", write)


def ketaplan_env(tmp_path: Path) -> dict:
    return {**os.environ, "KETAPLAN_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}


def ketaplan_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "ketaplan", *args]


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(x) for x in handle.read().split()]
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_until(predicate, timeout: float, step: float = 0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()
