"""Reading the course additions of protocol format v1 (spec/course.md): the `[course]` table, the
`when` keys over the course, and the `titrate` effect."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

# The format's keys, ranges and patterns: ketaplan/formats.py (the schema reads them there too).
from ketaplan.formats import (  # noqa: F401 - re-exported: the protocol loader and the schema read them here
    COURSE_INT_KEYS,
    COURSE_TABLE_KEYS,
    COURSE_WHEN_KEYS,
    DOSE_UPPER,
    INT_RANGES,
    PERCENT_MAX,
    RESPONSE_RANGE,
    SCORE_RANGES,
    TITRATE_KEYS,
)
from ketaplan.load.reader import Source, Table, check_int, check_number, type_name
from ketaplan.model.protocol import CourseSettings


def course_settings(top: Table) -> CourseSettings:
    """The `[course]` table; absent keys take the spec's defaults."""
    t = top.table("course", COURSE_TABLE_KEYS)
    default = CourseSettings()
    if t is None:
        return default
    restart = t.integer("restart_after_days", *INT_RANGES["course.restart_after_days"])
    response = t.number("response_at_least", gt=0, le=PERCENT_MAX)
    partial = t.number("partial_at_least", gt=0, le=PERCENT_MAX)
    response = default.response_at_least if response is None else response
    partial = default.partial_at_least if partial is None else partial
    if partial >= response:
        t.fail(
            "partial_at_least" if "partial_at_least" in t else "response_at_least",
            f"partial_at_least ({_n(partial)} %) must be below response_at_least ({_n(response)} %)",
        )
    remission = default.remission_below
    if "remission_below" in t:
        rt = Table(t.src, t.path + ("remission_below",), t.data["remission_below"], tuple(SCORE_RANGES),
                   what="table of scores, e.g. { madrs = 10, phq9 = 5 }")  # fmt: skip
        remission = tuple(
            (name, rt.integer(name, lo + 1, hi + 1, required=True)) for name, (lo, hi) in SCORE_RANGES.items() if name in rt
        )
    minutes = default.vitals_at_minutes
    if "vitals_at_minutes" in t:
        raw = t.data["vitals_at_minutes"]
        if not isinstance(raw, list) or not raw:
            t.fail("vitals_at_minutes", f"expected a list of minutes such as [0, 15, 30, 40, 60, 90], found {type_name(raw)}")
        lo, hi = INT_RANGES["course.vitals_at_minutes"]
        minutes = tuple(check_int(t.src, t.path + ("vitals_at_minutes", i), m, lo, hi) for i, m in enumerate(raw))
        for i in range(1, len(minutes)):
            if minutes[i] <= minutes[i - 1]:
                t.fail(("vitals_at_minutes", i), "list the minutes in increasing order, each once")
    return CourseSettings(
        restart_after_days=default.restart_after_days if restart is None else restart,
        response_at_least=response,
        partial_at_least=partial,
        remission_below=remission,
        vitals_at_minutes=minutes,
    )


def course_clause(src: Source, path, key: str, value: Any, t: Table):
    """(key, typed value) for one course `when` key."""
    from ketaplan import units

    p = tuple(path) + (key,)
    if key in COURSE_INT_KEYS:
        lo, hi = COURSE_INT_KEYS[key]
        return key, check_int(src, p, value, lo, hi)
    if key in ("response_below", "response_at_least"):
        st = Table(src, p, value, tuple(SCORE_RANGES), what="table of scales and % reductions, e.g. { madrs = 25 }")
        if not value:
            src.fail(p, "give at least one scale, e.g. { madrs = 25 }")
        return key, tuple(
            (name, check_number(src, p + (name,), value[name], ge=RESPONSE_RANGE[0], le=RESPONSE_RANGE[1]))
            for name in SCORE_RANGES
            if name in st
        )
    if key == "peak_blood_pressure_at_least":
        try:
            return key, units.parse_blood_pressure(value)
        except units.QuantityError as exc:
            src.fail(p, str(exc))
    if key == "adverse_event":
        from ketaplan.vocabulary.adverse_events import ADVERSE_EVENTS, close_matches

        names = t.texts(key)
        if not names:
            src.fail(p, "give at least one adverse event")
        for i, name in enumerate(names):
            if name not in ADVERSE_EVENTS:
                src.fail(p + (i,), f"{name!r} is not an adverse event ketaplan knows{close_matches(name)}; use one of: {', '.join(ADVERSE_EVENTS)}")
        return key, names
    if key == "stopped_early":
        if not isinstance(value, bool):
            src.fail(p, f"expected true or false, found {type_name(value)}")
        return key, value
    raise AssertionError(key)


def titrate_amount(rt: Table, dose) -> Fraction:
    """A titrate rule's per-kg dose: exactly one of mg_per_kg / mg_per_kg_per_hour, the protocol's
    dose mode, in the same range as [dose]."""
    other = "mg_per_kg_per_hour" if dose.mode == "mg_per_kg" else "mg_per_kg"
    if other in rt:
        rt.fail(other, f"this protocol doses by {dose.mode}: a titrate rule gives {dose.mode}")
    if dose.mode not in rt:
        rt.fail("effect", f"a titrate rule needs {dose.mode} = ..., the per-kg dose for the sessions still to be given")
    return rt.number(dose.mode, gt=0, le=DOSE_UPPER[dose.mode], required=True)  # present: checked above


def _n(x: Fraction) -> str:
    from ketaplan.units import fmt_number

    return fmt_number(x, 2)
