"""Safety round 2 (issue 9): holes found by trying to break ketaplan, each closed and proven here."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.builders import finding, ids, load_patient, load_protocol, patient_text, plan_for, protocol_text

ROOT = Path(__file__).resolve().parent.parent
TRD = ROOT / "examples" / "protocols" / "trd-iv-induction.toml"


def trd():
    from ketaplan.load.protocol import load_protocol_file

    return load_protocol_file(str(TRD))


RECORDED_WITHOUT_CONDITIONS = 'allergies = []\nmedications = []\nblood_pressure = "120/80"\npregnant = false\nbreastfeeding = false\n[scores]\nphq9 = 20\n'


def trd_plan(conditions: str, *, start: date = date(2027, 1, 4)):
    rest = f"conditions = {conditions}\n{RECORDED_WITHOUT_CONDITIONS}"
    return plan_for(load_patient(rest=rest, start=start), trd(), start=start, holidays=england)


def england(year: int):
    from ketaplan.calendar import holiday_dates

    return holiday_dates("GB-ENG", year)


# ------------------------------------------------------------------- 1. a code never hides a name


def test_a_misspelt_psychosis_coded_as_depression_is_never_eligible():
    plan = trd_plan('[{ name = "schizofrenia", code = "F33.2" }]')
    assert plan.verdict == "needs-review"
    unrecognised = finding(plan, "UNRECOGNISED-CONDITION")
    assert unrecognised.effect == "review"
    assert unrecognised.evidence == (
        "condition 'schizofrenia' [F332]: the name is not recognised; only its ICD-10 code is (in depressive "
        "disorder, major depressive disorder, recurrent depression), and rules were checked against the code",
    )
    psychosis = finding(plan, "EXCL-PSYCHOSIS")
    assert psychosis.unknown and psychosis.effect == "review"
    assert psychosis.evidence == (
        "could not be checked: condition 'schizofrenia' [F332]: the name is not recognised (its code is in "
        "depressive disorder or major depressive disorder or recurrent depression)",
    )


def test_an_unknown_name_with_a_hypertension_code_is_flagged_and_exclusions_are_unknown():
    plan = trd_plan('["treatment-resistant depression", { name = "x", code = "I10" }]')
    assert "UNRECOGNISED-CONDITION" in ids(plan)
    assert finding(plan, "EXCL-PSYCHOSIS").unknown


def test_a_code_that_makes_a_rule_true_still_makes_it_true_with_an_unknown_name():
    plan = trd_plan('["treatment-resistant depression", { name = "skitsofrenia", code = "F20.0" }]')
    psychosis = finding(plan, "EXCL-PSYCHOSIS")
    assert psychosis.effect == "exclude" and not psychosis.unknown
    assert psychosis.evidence == (
        "condition 'skitsofrenia' [F200] is in psychotic disorder or schizophrenia by its ICD-10 code (the name is not recognised)",
    )
    assert plan.verdict == "excluded"
