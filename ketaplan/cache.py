"""A small on-disk cache of parsed data, so that a plan starts fast; never a source of truth.

Entries are keyed by what they were computed from (a file's SHA-256, a package version), so a
changed input is simply a different entry. The folder is ``KETAPLAN_CACHE_DIR``, else
``$XDG_CACHE_HOME/ketaplan``, else ``~/.cache/ketaplan``; ``KETAPLAN_CACHE_DIR=`` (empty) turns
the cache off. Anything unreadable is ignored and computed again; write failures are ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path | None:
    configured = os.environ.get("KETAPLAN_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "ketaplan")


def read_json(name: str) -> Any:
    """The cached value, or None when there is none or it cannot be read."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(name: str, value: Any) -> None:
    """Store `value` atomically (a reader never sees half a file); failures are ignored."""
    folder = cache_dir()
    if folder is None:
        return
    path = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(value, sort_keys=True, separators=(",", ":")), encoding="utf-8")
        os.replace(temp, path)
    except OSError:
        pass
