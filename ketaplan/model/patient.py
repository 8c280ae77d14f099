"""A patient as the engine sees it: validated, in exact units, immutable."""

from datetime import date
from fractions import Fraction
from typing import NamedTuple

# The scales' ranges and the plausibility limits are declared with the rest of the formats.
from ketaplan.formats import LIMITS, SCORE_RANGES  # noqa: F401 - re-exported: the engine reads them here


def whole_years(born: date, on: date) -> int:
    """Age in whole years; a 29 February birthday is reached on 1 March in other years."""
    years = on.year - born.year
    if (on.month, on.day) < (born.month, born.day):
        years -= 1
    return years


class Condition(NamedTuple):
    name: str
    code: str | None = None  # normalised ICD-10, e.g. "F332"
    status: str = "active"  # "active" | "history"
    snomed: str | None = None  # a SNOMED CT concept id, e.g. "370143000" (from a record system)


class Medication(NamedTuple):
    text: str  # as written: "sertraline 100 mg once daily" or the table's name
    dose: str | None = None
    schedule: str | None = None
    as_needed: bool = False


class Vital(NamedTuple):
    """One reading during a session, `minute` minutes from the start of the infusion (0 = before it)."""

    minute: int
    blood_pressure: tuple[int, int] | None = None
    heart_rate: int | None = None
    spo2: int | None = None


class Infusion(NamedTuple):
    """One session given, as recorded (spec/course.md). None: not recorded."""

    date: date
    dose_mg: Fraction
    protocol: str | None = None
    duration_min: int | None = None
    completed: bool = True  # absent in the file = completed
    stopped_because: str | None = None
    vitals: tuple[Vital, ...] | None = None  # None: no readings recorded
    sedation: int | None = None  # MOAA/S at its deepest, 0..5 (5 = awake)
    dissociation: int | None = None  # CADSS total at its peak, 0..92
    observed_min: int | None = None  # observation after the infusion ended
    adverse_events: tuple[str, ...] | None = None  # None: not recorded; (): none
    adverse_event_detail: str | None = None  # required with "other"


class Assessment(NamedTuple):
    """Scores taken after the baseline, on `date`."""

    date: date
    scores: tuple[tuple[str, int], ...]

    def score(self, name: str) -> int | None:
        return dict(self.scores).get(name)


class Patient(NamedTuple):
    id: str
    sex: str  # "female" | "male"
    age: int  # whole years on the start date
    height_cm: Fraction
    weight_kg: Fraction
    date_of_birth: date | None = None
    weighed_on: date | None = None
    pregnant: bool | None = None  # None: not recorded (unknown)
    breastfeeding: bool | None = None
    blood_pressure: tuple[int, int] | None = None
    heart_rate: int | None = None
    spo2: int | None = None
    # None: the list was not recorded; () : recorded as none.
    allergies: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] | None = None
    medications: tuple[Medication, ...] | None = None
    scores: tuple[tuple[str, int], ...] = ()
    infusions: tuple[Infusion, ...] = ()
    present: frozenset[str] = frozenset()  # top-level keys given in the file
    assessments: tuple[Assessment, ...] = ()  # oldest first
    scored_on: date | None = None  # the date of the baseline [scores]

    @property
    def bmi(self) -> Fraction:
        metres = self.height_cm / 100
        return self.weight_kg / (metres * metres)

    def score(self, name: str) -> int | None:
        return dict(self.scores).get(name)
