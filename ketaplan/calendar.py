"""Public holidays from the `holidays` package, cached on disk so that drafting a plan starts fast.

The `holidays` package takes about 0.2 s to import, as long as the rest of ketaplan's start-up.
Its answers are cached per holidays version, region and year (ketaplan.cache). An entry that
cannot be read, or fails its checks (format, what it was computed from, digest), is not
believed: the dates are then computed again, never guessed.
"""

from __future__ import annotations

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


def _source(name: str) -> dict:
    """What a holidays entry is computed from: the package version and the region (or "countries", or "regional")."""
    return {"holidays": holidays_version(), "entry": name}


def _read_cache(name: str):
    from ketaplan.cache import read_json

    version = holidays_version()
    return None if version is None else read_json(f"holidays-{version}-{name}.json", _source(name))


def _write_cache(name: str, value) -> None:
    from ketaplan.cache import write_json

    version = holidays_version()
    if version is not None:
        write_json(f"holidays-{version}-{name}.json", _source(name), value)


def _split(region: str) -> tuple[str, str | None]:
    country, _, subdiv = region.partition("-")
    return country, subdiv or None


def country_subdivisions(country: str) -> list[str] | None:
    """The subdivision codes of `country` as the installed holidays package knows them (what its
    list_supported_countries() gives for that code), or None for a code it does not know.

    Only that country's module is imported: listing every country imports all 250 of them (about
    80 ms on a machine's first plan). Cached on disk per holidays version, as the dates are."""
    cached = _read_cache("countries")
    table = cached if isinstance(cached, dict) else {}
    if country in table:
        found = table[country]
        if found is None or (isinstance(found, list) and all(isinstance(s, str) for s in found)):
            return found
    import holidays

    try:
        from holidays.registry import EntityLoader

        # The registry's codes are the ones list_supported_countries() lists (aliases included),
        # read without importing any country's module.
        known = country in set(EntityLoader.get_country_codes())
        subdivs = list(getattr(holidays, country).subdivisions) if known else None
    except (ImportError, AttributeError):
        # A holidays release without this registry: its own list (every country imported).
        listed = holidays.list_supported_countries()
        subdivs = list(listed[country]) if country in listed else None
    table[country] = subdivs
    _write_cache("countries", table)
    return subdivs


def region_problem(region: str) -> str | None:
    """None when `region` (e.g. "GB-ENG", "US", "US-CA") is known; else what is wrong with it."""
    from ketaplan.formats import REGION

    if not re.fullmatch(REGION, region):
        return f"{region!r} is not a region code: write a country code, optionally with a subdivision (\"GB-ENG\", \"US-NY\")"
    country, subdiv = _split(region)
    subdivs = country_subdivisions(country)
    if subdivs is None:
        return f"{country!r} is not a country the holidays package {holidays_version()} knows"
    if subdiv is not None and subdiv not in subdivs:
        shown = ", ".join(f"{country}-{s}" for s in subdivs[:12])
        return f"{region!r} is not a known subdivision of {country}" + (f"; known: {shown}" if shown else "")
    if subdiv is None and subdivs and _regions_differ(country, subdivs):
        # "GB" alone misses Easter Monday and the August bank holiday of England: a clinic closed
        # on those days would be sent patients. The region decides, so it must be given.
        iso = "GB" if country == "UK" else country
        shown = ", ".join(f"{iso}-{s}" for s in sorted(subdivs))
        return (
            f"{region!r} is a country whose regions keep different public holidays: give the region, "
            f"one of {shown}"
        )
    return None


#: The years over which a country's regions are compared (any difference in them is enough).
_COMPARED_YEARS = range(2024, 2031)


def _regions_differ(country: str, subdivs: list[str]) -> bool:
    """Whether any subdivision of `country` keeps public holidays the country as a whole does not
    (or the other way round), in the years compared; cached on disk per holidays version."""
    cached = _read_cache("regional")
    table = cached if isinstance(cached, dict) else {}
    if isinstance(table.get(country), bool):
        return table[country]
    import holidays

    whole = set(holidays.country_holidays(country, years=_COMPARED_YEARS))
    differ = any(
        set(holidays.country_holidays(country, subdiv=subdiv, years=_COMPARED_YEARS)) != whole
        for subdiv in subdivs
    )
    table[country] = differ
    _write_cache("regional", table)
    return differ


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
