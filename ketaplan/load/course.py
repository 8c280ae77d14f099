"""Reading the course additions of patient format v1 (spec/course.md): `[[infusions]]` session
records, `[[assessments]]` and `scores.scored_on`. Every mistake names its field, line and column."""

from __future__ import annotations

import re
from datetime import date

from ketaplan import units

# The format's keys, ranges and patterns: ketaplan/formats.py (the schema reads them there too).
from ketaplan.formats import (  # noqa: F401 - re-exported: the schema reads them here
    ASSESSMENT_KEYS,
    DECIMAL_HOURS,
    DISSOCIATION_RANGE,
    INFUSION_KEYS,
    INFUSION_PROTOCOL,
    LIMITS,
    MAX_MINUTE,
    SCORE_RANGES,
    SEDATION_RANGE,
    V1_INFUSION_KEYS,
    VITAL_KEYS,
)
from ketaplan.load.reader import Table, integers, type_name
from ketaplan.model.patient import Assessment, Infusion, Vital


def blood_pressure(t: Table, key: str) -> tuple[int, int]:
    """A reading "132/84", validated as the baseline blood pressure is."""
    try:
        systolic, diastolic = units.parse_blood_pressure(t.data[key])
    except units.QuantityError as exc:
        t.fail(key, str(exc))
    # Each written out, not in a loop over (name, reading) pairs: the tuples cost more than the checks.
    lo, hi = LIMITS["systolic"]
    if not lo <= systolic <= hi:
        t.fail(key, f"systolic {systolic} mmHg is outside {lo}..{hi}")
    lo, hi = LIMITS["diastolic"]
    if not lo <= diastolic <= hi:
        t.fail(key, f"diastolic {diastolic} mmHg is outside {lo}..{hi}")
    if diastolic >= systolic:
        t.fail(key, f"diastolic {diastolic} must be below systolic {systolic}")
    return systolic, diastolic


_DECIMAL_HOURS = re.compile(rf"\s*{DECIMAL_HOURS}\s*")


def _minutes(t: Table, key: str) -> int | None:
    """A session's `duration` or `observed`: as a protocol's duration ("40 min", "1 h 30 min"), or in
    decimal hours that make whole minutes ("1.5 h" = 90 min), as spec/course.md writes it."""
    from fractions import Fraction

    from ketaplan import units

    if key not in t:
        return None
    value = t.data[key]
    if isinstance(value, str):
        match = _DECIMAL_HOURS.fullmatch(value)
        if match is not None:
            minutes = Fraction(match[1]) * 60
            if minutes.denominator == 1 and minutes > 0:
                return int(minutes)
    try:
        return units.parse_duration_min(value)
    except units.QuantityError as exc:
        t.fail(key, str(exc))


def _vitals(item: Table) -> tuple[Vital, ...] | None:
    if "vitals" not in item:
        return None
    value = item.data["vitals"]
    if not isinstance(value, list):
        item.fail("vitals", f"expected a list of readings such as {{ minute = 0, blood_pressure = \"132/84\" }}, found {type_name(value)}")
    out: list[Vital] = []
    for i, raw in enumerate(value):
        v = Table(item.src, item.path + ("vitals", i), raw, VITAL_KEYS, what="reading, e.g. { minute = 0, blood_pressure = \"132/84\" }")
        minute = v.integer("minute", 0, MAX_MINUTE, required=True)
        bp = blood_pressure(v, "blood_pressure") if "blood_pressure" in v else None
        reading = Vital(minute, bp, v.integer("heart_rate", *LIMITS["heart_rate"]), v.integer("spo2", *LIMITS["spo2"]))
        if reading[1:] == (None, None, None):
            v.fail("minute", "a reading needs at least one of blood_pressure, heart_rate, spo2")
        if out and minute < out[-1].minute:
            v.fail("minute", f"minute {minute} comes after minute {out[-1].minute}: list the readings in time order")
        out.append(reading)
    return tuple(out)


def _adverse_events(item: Table) -> tuple[tuple[str, ...] | None, str | None]:
    from ketaplan.vocabulary.adverse_events import ADVERSE_EVENTS, OTHER, close_matches

    events = item.texts("adverse_events")
    detail = item.text("adverse_event_detail")
    if events is not None:
        seen: set[str] = set()
        for i, name in enumerate(events):
            if name not in ADVERSE_EVENTS:
                item.fail(
                    ("adverse_events", i),
                    f"{name!r} is not an adverse event ketaplan knows{close_matches(name)}; use one of: "
                    f"{', '.join(ADVERSE_EVENTS)} (with `other`, describe it in adverse_event_detail)",
                )
            if name in seen:
                item.fail(("adverse_events", i), f"{name!r} is listed twice")
            seen.add(name)
    if events is not None and OTHER in events and detail is None:
        item.fail(("adverse_events", events.index(OTHER)), "`other` needs adverse_event_detail = \"...\" beside it, saying what happened")
    if detail is not None and (events is None or OTHER not in events):
        item.fail("adverse_event_detail", "is only for an adverse event `other`: add \"other\" to adverse_events, or name the event from the list")
    return events, detail


def infusion(item: Table, start: date) -> Infusion:
    """One `[[infusions]]` table."""
    from ketaplan import units

    day = item.day("date", required=True)
    if day > start:
        item.fail("date", f"{day} is after the plan's start date {start}")
    try:
        dose = units.parse_mass_mg(item.require("dose"))
    except units.QuantityError as exc:
        item.fail("dose", str(exc))
    protocol = item.text("protocol", pattern=INFUSION_PROTOCOL, hint="a protocol id: lowercase letters, digits, -")
    completed = item.boolean("completed")
    stopped = item.text("stopped_because")
    if completed is False and stopped is None:
        item.fail("completed", "a session stopped early needs stopped_because = \"...\" saying why")
    if stopped is not None and completed is not False:
        item.fail("stopped_because", "is only for a session stopped early: add completed = false")
    events, detail = _adverse_events(item)
    return Infusion(
        date=day,
        dose_mg=dose,
        protocol=protocol,
        duration_min=_minutes(item, "duration"),
        completed=completed is not False,
        stopped_because=stopped,
        vitals=_vitals(item),
        sedation=item.integer("sedation", *SEDATION_RANGE),
        dissociation=item.integer("dissociation", *DISSOCIATION_RANGE),
        observed_min=_minutes(item, "observed"),
        adverse_events=events,
        adverse_event_detail=detail,
    )


def infusions(t: Table, start: date) -> tuple[Infusion, ...]:
    """Oldest first. A file that records sessions (any course addition) must list them in date
    order, and the first one out of order is an error; a file with only the original v1 keys is
    sorted as it always was, so that every v1 file stays valid (docs/spec/decisions.md).
    Called for a file that has `infusions` (the patient loader gives () itself, sooner, for the rest)."""
    items = t.tables("infusions", INFUSION_KEYS)
    out = [infusion(item, start) for item in items]
    records = "assessments" in t or any(set(item.data) - set(V1_INFUSION_KEYS) for item in items)
    if isinstance(t.data.get("scores"), dict) and "scored_on" in t.data["scores"]:
        records = True
    if not records:
        return tuple(sorted(out, key=lambda i: i.date))
    for i in range(1, len(out)):
        if out[i].date < out[i - 1].date:
            items[i].fail("date", f"{out[i].date} is before the infusion above it ({out[i - 1].date}): list infusions oldest first")
    return tuple(out)


def assessments(t: Table, start: date, scored_on: date | None) -> tuple[Assessment, ...]:
    """Oldest first; called, as infusions(), for a file that has `assessments`."""
    out: list[Assessment] = []
    for item in t.tables("assessments", ASSESSMENT_KEYS):
        day = item.day("date", required=True)
        if day > start:
            item.fail("date", f"{day} is after the plan's start date {start}")
        if scored_on is not None and day < scored_on:
            item.fail("date", f"{day} is before the baseline scores (scores.scored_on = {scored_on}): an assessment comes after the baseline")
        if out and day < out[-1].date:
            item.fail("date", f"{day} is before the assessment above it ({out[-1].date}): list assessments oldest first")
        scores = integers(item.src, item.path, item.data, SCORE_RANGES)
        if not scores:
            item.fail("date", f"an assessment needs at least one score: {', '.join(SCORE_RANGES)}")
        out.append(Assessment(day, scores))
    return tuple(out)


def scored_on(t: Table, start: date) -> date:
    """`scores.scored_on`, from the [scores] table `t` that has it."""
    day = t.day("scored_on", required=True)
    if day > start:
        t.fail("scored_on", f"{day} is after the plan's start date {start}")
    return day
