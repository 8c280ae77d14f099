"""Hand-built plans, every number consistent with protocol.md, shared by the renderer tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

from ketaplan.model.plan import (
    Dosing,
    Finding,
    Hold,
    PatientSummary,
    Plan,
    ProtocolRef,
    Provenance,
    Session,
)

INCH_CM = Fraction(254, 100)
PATIENT_SHA = "a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00"
PROTOCOL_SHA = "0f9e8d7c6b5a49382716a5b4c3d2e1f00112233445566778899aabbccddeeff11"
GENERATED_AT = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
START = date(2026, 12, 1)  # a Tuesday

PRE = ("Written informed consent on file", "Nil by mouth for at least 4 hours")
DURING = ("Blood pressure, heart rate and SpO2 every 15 minutes",)
AFTER = ("Observe for at least 60 minutes", "No driving until the next day after sleep")
BENZO_HOLD = "Omit the evening before and the morning of each session if clinically safe"
BENZO_MESSAGE = "Benzodiazepines may blunt the antidepressant response."
PSYCHOSIS_MESSAGE = "History of psychosis."
TOLERATED = "Confirm the previous dose was tolerated"


# The body-size formulas of protocol.md, only so that the fixtures' numbers agree with each other.
def _bmi(height_cm: Fraction, weight_kg: Fraction) -> Fraction:
    return weight_kg / (height_cm / 100) ** 2


def _devine(sex: str, height_cm: Fraction, weight_kg: Fraction) -> Fraction:
    base = Fraction(50) if sex == "male" else Fraction(455, 10)
    return min(base + Fraction(23, 10) * (height_cm / INCH_CM - 60), weight_kg)


def _lean(sex: str, weight_kg: Fraction, bmi: Fraction) -> Fraction:
    if sex == "male":
        return 9270 * weight_kg / (6680 + 216 * bmi)
    return 9270 * weight_kg / (8780 + 244 * bmi)


def _summary(
    pid: str, age: int, sex: str, height_cm: Fraction, weight_kg: Fraction, weighed_on: date | None
) -> PatientSummary:
    bmi = _bmi(height_cm, weight_kg)
    if height_cm < Fraction(1524, 10):
        ideal = adjusted = None
    else:
        ideal = _devine(sex, height_cm, weight_kg)
        adjusted = min(ideal + Fraction(2, 5) * (weight_kg - ideal), weight_kg)
    return PatientSummary(
        id=pid,
        age=age,
        sex=sex,
        height_cm=height_cm,
        weight_kg=weight_kg,
        bmi=bmi,
        ideal_weight_kg=ideal,
        adjusted_weight_kg=adjusted,
        lean_weight_kg=_lean(sex, weight_kg, bmi),
        weighed_on=weighed_on,
    )


def _induction_protocol() -> ProtocolRef:
    return ProtocolRef(
        id="trd-iv-induction",
        title="IV ketamine for treatment-resistant depression: induction series",
        version="2026.11",
        sha256=PROTOCOL_SHA,
        drug="ketamine",
        route="IV",
        approved_by="Medical director",
        sources=("APA consensus statement, JAMA Psychiatry 2017",),
    )


def _provenance() -> Provenance:
    return Provenance(
        at=GENERATED_AT,
        by="ketaplan 0.1.0",
        vocabulary="2026.11",
        holidays="0.109",
        patient_sha256=PATIENT_SHA,
        protocol_sha256=PROTOCOL_SHA,
        start=START,
    )


# Mon..Fri, at least 2 days apart, from Tuesday 1 December 2026.
INDUCTION_DATES = (
    date(2026, 12, 1),  # Tue
    date(2026, 12, 3),  # Thu
    date(2026, 12, 7),  # Mon (Sat 5 is not a clinic day)
    date(2026, 12, 9),  # Wed
    date(2026, 12, 11),  # Fri
    date(2026, 12, 14),  # Mon
)

# --- eligible: 0.5 mg/kg x 82.5 kg (actual) = 41.25 mg -> 41 mg; 10 mg/mL stock, 100 mL bag, 40 min.
P0107 = _summary("P-0107", 45, "female", Fraction(165), Fraction(825, 10), date(2026, 11, 20))


def _induction_session(number: int, day: date, checks: tuple[str, ...] = ()) -> Session:
    return Session(
        number=number,
        phase="induction",
        date=day,
        amount=Fraction(1, 2),
        duration_min=40,
        raw_dose_mg=Fraction(1, 2) * Fraction(825, 10),  # 41.25
        rounded_mg=Fraction(41),
        dose_mg=Fraction(41),
        capped_by=None,
        effective_mg_per_kg_actual=Fraction(41) / Fraction(825, 10),
        given_per_kg=Fraction(41) / Fraction(825, 10),  # 0.497: 41 mg of the 82.5 kg dosing weight
        draw_ml=Fraction(41, 10),  # 41 mg / 10 mg/mL
        concentration_mg_per_ml=Fraction(41, 100),  # 41 mg / 100 mL
        volume_ml=Fraction(100),
        pump_ml_per_h=Fraction(100) / Fraction(40, 60),  # 150 mL/h
        checks=checks,
    )


ELIGIBLE = Plan(
    verdict="eligible",
    patient=P0107,
    protocol=_induction_protocol(),
    dosing=Dosing(
        mode="mg_per_kg",
        weight_basis="actual",
        basis_rule=None,
        dosing_weight_kg=Fraction(825, 10),
        factors=(),
        cap_mg=Fraction(60),
        cap_rule=None,
        round_to_mg=Fraction(1),
    ),
    sessions=tuple(
        _induction_session(n, d, ("Weigh again and re-draft before this session",) if n == 6 else ())
        for n, d in enumerate(INDUCTION_DATES, start=1)
    ),
    findings=(
        Finding(
            rule="HOLD-BENZODIAZEPINE",
            effect="hold",
            rule_effect="hold",
            unknown=False,
            message=BENZO_MESSAGE,
            evidence=("medication 'lorazepam 1 mg at night' is lorazepam, a benzodiazepine",),
            source="APA consensus 2017",
        ),
    ),
    holds=(
        Hold(
            rule="HOLD-BENZODIAZEPINE",
            medications=("lorazepam",),
            instruction=BENZO_HOLD,
            to_confirm=False,
        ),
    ),
    checklist_pre=PRE,
    checklist_during=DURING,
    checklist_after=AFTER,
    acknowledge=(),
    generated=_provenance(),
)

# --- needs review: 150 cm is below 152.4 cm, the protocol doses on ideal weight: no dose is drafted;
# conditions and medications were not recorded, so the psychosis exclusion could not be checked.
P0150 = _summary("P-0150", 38, "female", Fraction(150), Fraction(60), None)
SHORT_STATURE_MESSAGE = (
    "Ideal body weight is not defined below 152.4 cm: no dose is drafted; "
    "the prescriber sets the dosing weight."
)

NEEDS_REVIEW = Plan(
    verdict="needs-review",
    patient=P0150,
    protocol=_induction_protocol(),
    dosing=Dosing(
        mode="mg_per_kg",
        weight_basis="ideal",
        basis_rule=None,
        dosing_weight_kg=None,
        factors=(),
        cap_mg=Fraction(60),
        cap_rule=None,
        round_to_mg=Fraction(1),
    ),
    sessions=tuple(
        Session(number=n, phase="induction", date=d, amount=Fraction(1, 2), duration_min=40)
        for n, d in enumerate(INDUCTION_DATES[:2], start=1)
    ),
    findings=(
        Finding(
            rule="EXCL-PSYCHOSIS",
            effect="review",
            rule_effect="exclude",
            unknown=True,
            message=PSYCHOSIS_MESSAGE,
            evidence=("could not be checked: conditions are not recorded",),
            source="APA consensus 2017",
        ),
        Finding(
            rule="HOLD-BENZODIAZEPINE",
            effect="hold",
            rule_effect="hold",
            unknown=True,
            message=BENZO_MESSAGE,
            evidence=("could not be checked: medications are not recorded",),
        ),
        Finding(
            rule="IDEAL-WEIGHT-SHORT-STATURE",
            effect="review",
            rule_effect="review",
            unknown=False,
            message=SHORT_STATURE_MESSAGE,
            evidence=("height 150 cm is below 152.4 cm",),
        ),
    ),
    holds=(
        Hold(
            rule="HOLD-BENZODIAZEPINE",
            medications=(),
            instruction=BENZO_HOLD,
            to_confirm=True,
            unknown_because=("medications are not recorded",),
        ),
    ),
    checklist_pre=PRE,
    checklist_during=DURING,
    checklist_after=AFTER,
    acknowledge=("EXCL-PSYCHOSIS", "IDEAL-WEIGHT-SHORT-STATURE"),
    generated=_provenance(),
)

# --- rate protocol: 0.5 mg/kg/h x 72.5 kg = 36.25 mg/h -> 36 mg/h, x 4 h = 144 mg; then 0.6 mg/kg/h
# x 72.5 kg = 43.5 mg/h -> 43 mg/h (an exact half rounds down) -> capped at 40 mg/h, x 4 h = 160 mg.
# Fixed final concentration 1 mg/mL, stock 10 mg/mL.
P0300 = _summary("P-0300", 52, "male", Fraction(180), Fraction(725, 10), date(2026, 11, 25))
CRPS_SHA = "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc"


def _rate_session(
    number: int, day: date, per_kg_h: Fraction, rounded: Fraction, rate: Fraction, **extra
) -> Session:
    raw_rate = per_kg_h * Fraction(725, 10)
    return Session(
        number=number,
        phase="infusion",
        date=day,
        amount=per_kg_h,
        duration_min=240,
        raw_dose_mg=raw_rate * 4,
        dose_mg=rate * 4,
        raw_rate_mg_per_h=raw_rate,
        rounded_rate_mg_per_h=rounded,
        rate_mg_per_h=rate,
        effective_mg_per_kg_per_hour_actual=rate / Fraction(725, 10),
        given_per_kg=rate / Fraction(725, 10),
        draw_ml=rate * 4 / 10,
        concentration_mg_per_ml=Fraction(1),
        volume_ml=rate * 4,
        pump_ml_per_h=rate,
        **extra,
    )


RATE = Plan(
    verdict="eligible",
    patient=P0300,
    protocol=ProtocolRef(
        id="crps-iv-infusion",
        title="IV ketamine for complex regional pain syndrome: 4-hour infusions",
        version="2026.11",
        sha256=CRPS_SHA,
        drug="ketamine",
        route="IV",
        approved_by=None,
        sources=(),
    ),
    dosing=Dosing(
        mode="mg_per_kg_per_hour",
        weight_basis="actual",
        basis_rule=None,
        dosing_weight_kg=Fraction(725, 10),
        factors=(),
        cap_mg=Fraction(200),
        cap_rule=None,
        round_to_mg=Fraction(1),
        max_mg_per_hour=Fraction(40),
    ),
    sessions=(
        _rate_session(1, date(2026, 12, 1), Fraction(1, 2), Fraction(36), Fraction(36)),
        _rate_session(
            2,
            date(2026, 12, 3),
            Fraction(6, 10),
            Fraction(43),
            Fraction(40),
            capped_by="dose.max_mg_per_hour",
            checks=(TOLERATED,),
        ),
    ),
    findings=(
        Finding(
            rule="DOSE-CAPPED",
            effect="note",
            rule_effect="note",
            unknown=False,
            message="A cap lowered a dose or a rate.",
            evidence=("session 2: 43 mg/h capped at 40 mg/h (dose.max_mg_per_hour)",),
        ),
        Finding(
            rule="DOSE-ESCALATION",
            effect="note",
            rule_effect="note",
            unknown=False,
            message="The dose per kg rises from one session to the next.",
            evidence=("session 2: 0.6 mg/kg/h after 0.5 mg/kg/h",),
        ),
    ),
    holds=(),
    checklist_pre=("Written informed consent on file",),
    checklist_during=DURING,
    checklist_after=AFTER,
    acknowledge=(),
    generated=Provenance(
        at=GENERATED_AT,
        by="ketaplan 0.1.0",
        vocabulary="2026.11",
        holidays=None,
        patient_sha256=PATIENT_SHA,
        protocol_sha256=CRPS_SHA,
        start=START,
    ),
)

# --- excluded: a history of schizophrenia; blood pressure not recorded (a review finding as well).
EXCLUDED = Plan(
    verdict="excluded",
    patient=_summary("P-0042", 65, "male", Fraction(1778, 10), Fraction(80), date(2026, 11, 20)),
    protocol=_induction_protocol(),
    dosing=None,
    sessions=(),
    findings=(
        Finding(
            rule="EXCL-PSYCHOSIS",
            effect="exclude",
            rule_effect="exclude",
            unknown=False,
            message=PSYCHOSIS_MESSAGE,
            evidence=("condition 'schizophrenia' (history) is a psychotic disorder",),
            source="APA consensus 2017",
        ),
        Finding(
            rule="REV-BP",
            effect="review",
            rule_effect="review",
            unknown=True,
            message="Baseline blood pressure at or above 160/100.",
            evidence=("could not be checked: blood_pressure is missing",),
        ),
    ),
    holds=(),
    checklist_pre=(),
    checklist_during=(),
    checklist_after=(),
    acknowledge=("REV-BP",),
    generated=_provenance(),
)

# --- hostile: text from the patient file that would inject HTML, break a table, carry rich markup
# or a terminal escape if it were not rendered inert.
HOSTILE_MEDICATION = "<script>alert(1)</script> | pipe | [red]markup[/red] `rm -rf` \nnext line"
HOSTILE_CONDITION = "\x1b[31mred\x1b[0m [bold]grave[/bold] | x |"
HOSTILE_CHECK = "[link=http://example.invalid]Confirm[/link] consent"

HOSTILE = Plan(
    verdict="needs-review",
    patient=P0107,
    protocol=_induction_protocol(),
    dosing=ELIGIBLE.dosing,
    sessions=ELIGIBLE.sessions[:1],
    findings=(
        Finding(
            rule="UNRECOGNISED-MEDICATION",
            effect="review",
            rule_effect="review",
            unknown=False,
            message="A medication the vocabulary does not recognise.",
            evidence=(f"medication '{HOSTILE_MEDICATION}' is not in the vocabulary",),
        ),
        Finding(
            rule="UNRECOGNISED-CONDITION",
            effect="review",
            rule_effect="review",
            unknown=False,
            message="A condition the vocabulary does not recognise.",
            evidence=(f"condition '{HOSTILE_CONDITION}' is not in the vocabulary",),
        ),
    ),
    holds=(),
    checklist_pre=PRE + (HOSTILE_CHECK,),
    checklist_during=DURING,
    checklist_after=AFTER,
    acknowledge=("UNRECOGNISED-MEDICATION", "UNRECOGNISED-CONDITION"),
    generated=_provenance(),
)

ALL_PLANS: dict[str, Plan] = {
    "eligible": ELIGIBLE,
    "needs_review": NEEDS_REVIEW,
    "rate": RATE,
    "excluded": EXCLUDED,
    "hostile": HOSTILE,
}
