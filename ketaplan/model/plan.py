"""The drafted plan: one immutable value that every view renders and none recomputes."""

from datetime import date, datetime
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ketaplan.model.course import Course

VERDICTS = ("eligible", "needs-review", "excluded")

#: Ids of the findings ketaplan adds itself, in the order a plan lists them; a protocol may not reuse them.
BUILTIN_IDS = (
    "ALLERGY-TO-PROTOCOL-DRUG",
    "ALREADY-TAKING-PROTOCOL-DRUG",
    "UNRECOGNISED-CONDITION",
    "UNRECOGNISED-MEDICATION",
    "SEVERAL-MEDICINES-IN-ONE-ENTRY",
    "UNRECOGNISED-ALLERGY",
    "CONDITION-CODE-MISMATCH",
    "INDICATION-NOT-RECORDED",
    "IDEAL-WEIGHT-SHORT-STATURE",
    "WEIGHT-OUT-OF-DATE",
    "PRIOR-INFUSIONS-SAME-PROTOCOL",
    "AGE-CHANGES-DURING-PLAN",
    "SCHEDULE-OVERRUN",
    "PROTOCOL-REVIEW-OVERDUE",
    "DOSE-NOT-DRAFTED",
    "DRAW-EXCEEDS-BAG",
    "DOSE-CAPPED",
    "DOSE-ESCALATION",
    "WEIGHT-BASIS-CHOSEN",
    "START-IN-PAST",
    # The course of treatment (spec/course.md)
    "INFUSION-WITHOUT-PROTOCOL",
    "TITRATION-CHOSEN",
    "SERIES-COMPLETE",
)


class Finding(NamedTuple):
    rule: str  # the protocol rule's id, or a built-in id such as WEIGHT-OUT-OF-DATE
    effect: str  # what it does to this plan: exclude | review | note | adjust | hold | check
    rule_effect: str  # the rule's own effect
    unknown: bool  # the rule's condition could not be decided from the patient file
    message: str
    evidence: tuple[str, ...]
    source: str | None = None


class Hold(NamedTuple):
    rule: str
    medications: tuple[str, ...]
    instruction: str
    to_confirm: bool
    unknown_because: tuple[str, ...] = ()


class Factor(NamedTuple):
    rule: str
    factor: Fraction


class Dosing(NamedTuple):
    """How the dose of every session was reached: the parts that do not vary by session."""

    mode: str  # "mg_per_kg" | "mg_per_kg_per_hour"
    weight_basis: str
    basis_rule: str | None  # the adjust rule that set the basis; None: the protocol's [dose]
    dosing_weight_kg: Fraction | None  # None: not drafted (short stature on ideal/adjusted)
    factors: tuple[Factor, ...]
    cap_mg: Fraction
    cap_rule: str | None  # None: the protocol's dose.max_mg
    round_to_mg: Fraction
    max_mg_per_hour: Fraction | None = None


class Session(NamedTuple):
    number: int
    phase: str
    date: date
    amount: Fraction  # mg/kg (or mg/kg/h for rate protocols) for this session
    duration_min: int
    raw_dose_mg: Fraction | None = None  # before rounding (rate protocols: raw rate x hours)
    rounded_mg: Fraction | None = None  # mg/kg protocols: after rounding, before caps
    dose_mg: Fraction | None = None  # the drafted dose (rate protocols: the session total)
    capped_by: str | None = None  # "dose.max_mg", "dose.max_mg_per_hour" or an adjust rule id
    raw_rate_mg_per_h: Fraction | None = None  # rate protocols only, from here down to the rate
    rounded_rate_mg_per_h: Fraction | None = None
    rate_mg_per_h: Fraction | None = None
    effective_mg_per_kg_actual: Fraction | None = None  # mg/kg protocols: dose / actual weight
    effective_mg_per_kg_per_hour_actual: Fraction | None = None  # rate protocols: rate / actual weight
    # What is actually given, of the dosing weight: dose / dosing weight (rate protocols: rate / dosing
    # weight, mg/kg/h). Below `amount` where a cap lowered the dose (36 mg of 73 kg is 0.49 mg/kg).
    given_per_kg: Fraction | None = None
    not_drafted_because: str | None = None  # the finding's id where no dose is drafted
    draw_ml: Fraction | None = None
    concentration_mg_per_ml: Fraction | None = None
    volume_ml: Fraction | None = None
    pump_ml_per_h: Fraction | None = None
    checks: tuple[str, ...] = ()
    # Titration (spec/course.md): the titrate rule whose per-kg dose this session uses (None: the
    # phase's), and the other titrate rules that would have applied, as "RULE-ID: why not used".
    titrated_by: str | None = None
    titration_not_used: tuple[str, ...] = ()

    @property
    def weekday(self) -> str:
        return ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[self.date.weekday()]


class PatientSummary(NamedTuple):
    id: str
    age: int
    sex: str
    height_cm: Fraction
    weight_kg: Fraction
    bmi: Fraction
    ideal_weight_kg: Fraction | None  # None below 152.4 cm: Devine is not defined there
    adjusted_weight_kg: Fraction | None
    lean_weight_kg: Fraction
    weighed_on: date | None = None


class ProtocolRef(NamedTuple):
    id: str
    title: str
    version: str
    sha256: str
    drug: str
    route: str | None
    approved_by: str | None
    sources: tuple[str, ...]
    stock_mg_per_ml: Fraction | None = None
    bag_ml: Fraction | None = None
    final_mg_per_ml: Fraction | None = None
    timezone: str = "Europe/London"  # [schedule] timezone: the clinic's IANA time zone
    observation_min: int | None = None  # [schedule] observation; None: the protocol gives none


class Provenance(NamedTuple):
    at: datetime  # UTC
    by: str  # "ketaplan 0.1.0"
    vocabulary: str
    holidays: str | None
    patient_sha256: str
    protocol_sha256: str
    start: date
    patient_file: str | None = None
    protocol_file: str | None = None


class Plan(NamedTuple):
    verdict: str
    patient: PatientSummary
    protocol: ProtocolRef
    dosing: Dosing | None  # None for an excluded plan
    sessions: tuple[Session, ...]
    findings: tuple[Finding, ...]
    holds: tuple[Hold, ...]
    checklist_pre: tuple[str, ...]
    checklist_during: tuple[str, ...]
    checklist_after: tuple[str, ...]
    acknowledge: tuple[str, ...]
    generated: Provenance
    status: str = "draft"
    course: "Course | None" = None  # only from continue_series (`ketaplan course`)

    @property
    def first_dose_mg(self) -> Fraction | None:
        return self.sessions[0].dose_mg if self.sessions else None
