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


# ------------------------------------------------- 4. and 5. the protocol drug and its chemical class


def esketamine_protocol():
    return load_protocol(protocol_text().replace('name = "ketamine"', 'name = "esketamine"'))


def recorded(*, allergies: str = "[]", medications: str = "[]") -> str:
    return (
        f'allergies = {allergies}\nconditions = ["treatment-resistant depression"]\n'
        f'medications = {medications}\nblood_pressure = "120/80"\n'
    )


@pytest.mark.parametrize("allergy", ["sertraline", "antidepressants", "memantine", "nmda antagonist"])
def test_an_allergy_to_a_broad_class_of_esketamine_does_not_exclude(allergy):
    plan = plan_for(load_patient(rest=recorded(allergies=f'["{allergy}"]')), esketamine_protocol())
    assert finding(plan, "ALLERGY-TO-PROTOCOL-DRUG") is None
    assert plan.verdict == "eligible"


@pytest.mark.parametrize(
    "allergy, evidence",
    [
        ("Spravato", "allergy 'Spravato' is esketamine, which covers esketamine"),
        ("ketamine", "allergy 'ketamine' is ketamine, in ketamine class with esketamine"),
        ("ketamines", "allergy 'ketamines' is ketamine class, which covers esketamine"),
        ("r-ketamine", "allergy 'r-ketamine' is arketamine, in ketamine class with esketamine"),
    ],
)
def test_an_allergy_to_esketamine_or_its_chemical_class_excludes(allergy, evidence):
    plan = plan_for(load_patient(rest=recorded(allergies=f'["{allergy}"]')), esketamine_protocol())
    f = finding(plan, "ALLERGY-TO-PROTOCOL-DRUG")
    assert (f.effect, f.evidence) == ("exclude", (evidence,))
    assert plan.verdict == "excluded"


@pytest.mark.parametrize(
    "medication, evidence",
    [
        ("Spravato 56 mg twice weekly", "medication 'Spravato 56 mg twice weekly' is esketamine, in ketamine class with ketamine"),
        ("esketamine nasal spray", "medication 'esketamine nasal spray' is esketamine, in ketamine class with ketamine"),
        ("Ketalar 50 mg", "medication 'Ketalar 50 mg' is ketamine, which covers ketamine"),
    ],
)
def test_a_patient_already_taking_the_protocol_drug_or_its_class_needs_review(medication, evidence):
    plan = plan_for(load_patient(rest=recorded(medications=f'["{medication}"]')))
    f = finding(plan, "ALREADY-TAKING-PROTOCOL-DRUG")
    assert (f.effect, f.unknown, f.evidence) == ("review", False, (evidence,))
    assert f.message == "The patient already takes ketamine or a drug of its chemical class."
    assert plan.verdict == "needs-review"
    assert "ALREADY-TAKING-PROTOCOL-DRUG" in plan.acknowledge


def test_another_nmda_antagonist_or_antidepressant_is_not_the_protocol_drug():
    plan = plan_for(load_patient(rest=recorded(medications='["memantine 10 mg", "sertraline 50 mg"]')), esketamine_protocol())
    assert finding(plan, "ALREADY-TAKING-PROTOCOL-DRUG") is None


def test_medicines_not_recorded_leave_already_taking_could_not_be_checked():
    rest = 'allergies = []\nconditions = ["treatment-resistant depression"]\nblood_pressure = "120/80"\n'
    f = finding(plan_for(load_patient(rest=rest)), "ALREADY-TAKING-PROTOCOL-DRUG")
    assert (f.effect, f.unknown, f.evidence) == ("review", True, ("could not be checked: medications are not recorded",))


# ------------------------------------------------------------- 6. one medicine per entry


def hold_benzodiazepine():
    return load_protocol(
        rest='[[rule]]\nid = "HOLD-BENZO"\neffect = "hold"\nwhen = { medication = ["benzodiazepine"] }\n'
        'message = "Benzodiazepines blunt the response."\nhold = "Omit the evening dose before each session."\n'
    )


@pytest.mark.parametrize(
    "text, names",
    [
        ("sertraline 50 mg plus benzodiazepine prn", "sertraline, benzodiazepine"),
        ("sertraline and an MAOI", "sertraline, monoamine oxidase inhibitor"),
    ],
)
def test_a_second_medicine_in_an_entry_is_never_dropped_as_free_text(text, names):
    plan = plan_for(load_patient(rest=recorded(medications=f'["{text}"]')), hold_benzodiazepine())
    f = finding(plan, "UNRECOGNISED-MEDICATION")
    assert f.effect == "review"
    assert f.evidence == (f"medication '{text}' names more than one medicine ({names}): give one medicine per entry",)
    hold = finding(plan, "HOLD-BENZO")
    assert hold.unknown and hold.effect == "review"
    assert hold.evidence == (f"could not be checked: medication '{text}' names more than one medicine ({names})",)


def test_a_class_the_drug_belongs_to_is_not_a_second_medicine():
    plan = plan_for(load_patient(rest=recorded(medications='["fluoxetine (an SSRI) 20 mg"]')), hold_benzodiazepine())
    assert "UNRECOGNISED-MEDICATION" not in ids(plan)
    assert finding(plan, "HOLD-BENZO") is None
