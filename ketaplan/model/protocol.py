"""A clinic's protocol as the engine sees it: validated rules and numbers, immutable."""

from datetime import date
from fractions import Fraction
from typing import Any, NamedTuple

from ketaplan.formats import EFFECTS, STAGES, WEEKDAYS, WEIGHT_BASES  # noqa: F401 - the format's words, re-exported


class Clause(NamedTuple):
    """One key of a `when` table. `value` is typed by key: int, Fraction, str, bool|"unknown",
    tuple of names, (systolic, diastolic), tuple of (score, int), or a nested When."""

    key: str
    value: Any


class When(NamedTuple):
    """All clauses must hold (three-valued AND). `any` holds a tuple of When; `not` one When."""

    clauses: tuple[Clause, ...]


class Rule(NamedTuple):
    id: str
    effect: str
    when: When | None
    message: str
    source: str | None = None
    dose_factor: Fraction | None = None
    weight_basis: str | None = None
    max_mg: Fraction | None = None
    hold: str | None = None
    stage: str | None = None
    item: str | None = None
    titrate: Fraction | None = None  # titrate rules: the per-kg dose, in the protocol's dose mode


class Drug(NamedTuple):
    name: str
    route: str | None = None
    stock_mg_per_ml: Fraction | None = None
    bag_ml: Fraction | None = None
    final_mg_per_ml: Fraction | None = None


class Dose(NamedTuple):
    mode: str  # "mg_per_kg" | "mg_per_kg_per_hour"
    amount: Fraction  # mg/kg per session, or mg/kg/h
    duration_min: int
    weight_basis: str
    max_mg: Fraction
    max_mg_per_hour: Fraction | None
    round_to: Fraction
    weight_valid_days: int | None = None


class Phase(NamedTuple):
    name: str
    sessions: int
    min_gap_days: int
    within_days: int | None = None
    amounts: tuple[Fraction, ...] | None = None  # one per session, in the dose mode's unit
    days: frozenset[int] | None = None  # weekday numbers, Monday = 0


class Schedule(NamedTuple):
    days: frozenset[int]
    holidays: str | None
    closed: frozenset[date]
    phases: tuple[Phase, ...]
    timezone: str = "Europe/London"  # IANA name: the clinic's local time, for calendars
    observation_min: int | None = None  # observation after each session; None: not in the protocol


class TestCase(NamedTuple):
    name: str
    start: date
    patient: Any  # the case's patient, validated when the protocol loads (a Patient)
    expect: dict
    # A NamedTuple field may shadow tuple.index at run time; typeshed types the name as the method.
    index: int  # type: ignore[assignment]  # position among [[test]] tables, for error messages


class CourseSettings(NamedTuple):
    """The protocol's [course] table (spec/course.md); the defaults are the spec's."""

    restart_after_days: int = 56
    response_at_least: Fraction = Fraction(50)  # % reduction from baseline: "response"
    partial_at_least: Fraction = Fraction(25)  # % reduction: "partial"
    # Latest score below: "remission". Defaults: MADRS below 10, PHQ-9 below 5 (clinical-facts 9).
    remission_below: tuple[tuple[str, int], ...] = (("phq9", 5), ("madrs", 10))
    vitals_at_minutes: tuple[int, ...] = (0, 15, 30, 40, 60, 90)


class Protocol(NamedTuple):
    id: str
    title: str
    version: str
    drug: Drug
    dose: Dose
    schedule: Schedule
    rules: tuple[Rule, ...]
    checklist_pre: tuple[str, ...] = ()
    checklist_during: tuple[str, ...] = ()
    checklist_after: tuple[str, ...] = ()
    indication: str | None = None
    indications: tuple[str, ...] = ()
    approved_by: str | None = None
    review_due: date | None = None
    sources: tuple[str, ...] = ()
    tests: tuple[TestCase, ...] = ()
    vocabulary: Any = None  # ketaplan.vocabulary.Vocabulary, extended by [vocabulary]
    course: CourseSettings = CourseSettings()
