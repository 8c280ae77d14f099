"""Public holidays from the `holidays` package, cached on disk so that drafting a plan starts fast.

The `holidays` package takes about 0.2 s to import, as long as the rest of ketaplan's start-up.
Its answers are cached per holidays version, region and year under the user's cache folder
(``KETAPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/ketaplan``, else ``~/.cache/ketaplan``; set
``KETAPLAN_CACHE_DIR=`` empty to switch the cache off). A cache that cannot be read or written
is ignored: the dates are then computed again, never guessed.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from functools import lru_cache
from pathlib import Path

_MEMO: dict[tuple[str, int], frozenset[date]] = {}


@lru_cache(maxsize=1)
def holidays_version() -> str | None:
    """The installed holidays version, read from its distribution folder without importing it."""
    from importlib.util import find_spec

    spec = find_spec("holidays")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        parent = Path(folder).parent
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            match = re.fullmatch(r"holidays-([0-9][0-9A-Za-z.+-]*)\.dist-info", name)
            if match:
                return match.group(1)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("holidays")
    except PackageNotFoundError:
        return None


def _cache_dir() -> Path | None:
    configured = os.environ.get("KETAPLAN_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "ketaplan")


def _cache_file(name: str) -> Path | None:
    folder = _cache_dir()
    version = holidays_version()
    if folder is None or version is None:
        return None
    return folder / f"holidays-{version}-{name}.json"


def _read_cache(name: str):
    path = _cache_file(name)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_cache(name: str, value) -> None:
    path = _cache_file(name)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
        os.replace(temp, path)
    except OSError:
        pass


def _split(region: str) -> tuple[str, str | None]:
    country, _, subdiv = region.partition("-")
    return country, subdiv or None


def supported_regions() -> dict[str, list[str]]:
    """Country code -> its subdivision codes, as the installed holidays package knows them."""
    cached = _read_cache("regions")
    if isinstance(cached, dict) and all(isinstance(v, list) for v in cached.values()):
        return cached
    import holidays

    regions = {country: list(subdivs) for country, subdivs in holidays.list_supported_countries().items()}
    _write_cache("regions", regions)
    return regions


def region_problem(region: str) -> str | None:
    """None when `region` (e.g. "GB-ENG", "US", "US-CA") is known; else what is wrong with it."""
    if not re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,4})?", region):
        return f"{region!r} is not a region code: write a country code, optionally with a subdivision (\"GB-ENG\", \"US-NY\")"
    country, subdiv = _split(region)
    regions = supported_regions()
    if country not in regions:
        return f"{country!r} is not a country the holidays package {holidays_version()} knows"
    if subdiv is not None and subdiv not in regions[country]:
        shown = ", ".join(f"{country}-{s}" for s in regions[country][:12])
        return f"{region!r} is not a known subdivision of {country}" + (f"; known: {shown}" if shown else "")
    return None


def holiday_dates(region: str, year: int) -> frozenset[date]:
    """The public holidays of `region` in `year`; computed once per run and cached on disk."""
    key = (region, year)
    if key in _MEMO:
        return _MEMO[key]
    cached = _read_cache(region)
    days = None
    if isinstance(cached, dict) and isinstance(cached.get(str(year)), list):
        try:
            days = frozenset(date.fromisoformat(d) for d in cached[str(year)])
        except (TypeError, ValueError):
            days = None
    if days is None:
        import holidays

        country, subdiv = _split(region)
        days = frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year).keys())
        table = cached if isinstance(cached, dict) else {}
        table[str(year)] = sorted(d.isoformat() for d in days)
        _write_cache(region, table)
    _MEMO[key] = days
    return days
