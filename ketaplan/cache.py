"""A small on-disk cache of parsed data, so that a plan starts fast; never a source of truth.

The folder is ``KETAPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/ketaplan``, else
``~/.cache/ketaplan``; ``KETAPLAN_CACHE_DIR=`` (empty) turns the cache off.

An entry is one file: a first line, a JSON header naming the entry's format, what it was computed
from (``source``: a file's SHA-256, a package version, a region) and the SHA-256 and length of the
rest; then the value as JSON. On read every part is checked: a regular file (a FIFO or a device is
never opened for reading, a symbolic link is not followed), the format, the source, the length
and the digest. An entry that fails any check is not believed: the value is computed again and
the entry rewritten. The caller also checks the value's shape. Write failures are ignored; a
failed write leaves nothing behind (ketaplan.output).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ketaplan.digest import sha256_hex

FORMAT = "ketaplan-cache/1"
#: No entry is larger than this (the parsed vocabulary is about 150 KB).
MAX_ENTRY_BYTES = 16 * 1024 * 1024


def cache_dir() -> Path | None:
    configured = os.environ.get("KETAPLAN_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "ketaplan")


def _read_regular(path: Path) -> bytes | None:
    """The bytes of `path` if it is a regular file (not followed through a link), else None."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def read_json(name: str, source: Any) -> Any:
    """The cached value of entry `name` computed from `source`, or None when there is none or it
    fails a check (then the caller computes it again and writes it back)."""
    folder = cache_dir()
    if folder is None:
        return None
    data = _read_regular(folder / name)
    if data is None:
        return None
    head, newline, body = data.partition(b"\n")
    try:
        header = json.loads(head.decode("utf-8"))
        if not (
            newline
            and isinstance(header, dict)
            and header.get("format") == FORMAT
            and header.get("source") == json.loads(_canonical(source))
            and header.get("length") == len(body)
            and header.get("sha256") == sha256_hex(body)
        ):
            return None
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def write_json(name: str, source: Any, value: Any) -> None:
    """Store `value` computed from `source` as entry `name`, whole or not at all; failures are ignored."""
    from ketaplan.output import write_cache_file

    folder = cache_dir()
    if folder is None:
        return
    body = _canonical(value)
    header = {"format": FORMAT, "source": source, "length": len(body), "sha256": sha256_hex(body)}
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return
    write_cache_file(str(folder / name), _canonical(header) + b"\n" + body)
