"""Safety round 2 (issue 9): holes found by trying to break ketaplan, each closed and proven here."""

from __future__ import annotations

import json
import re
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
        ("sertraline 50 mg and lorazepam 1 mg", "sertraline, lorazepam"),
    ],
)
def test_a_second_medicine_in_an_entry_is_never_dropped_as_free_text(text, names):
    plan = plan_for(load_patient(rest=recorded(medications=f'["{text}"]')), hold_benzodiazepine())
    f = finding(plan, "SEVERAL-MEDICINES-IN-ONE-ENTRY")
    assert (f.effect, f.evidence) == ("review", (f"medication '{text}' names {names}",))
    assert f.message == (
        "A medication entry names more than one medicine: give one medicine per entry "
        "(rules on the names after the first could not be checked)."
    )
    hold = finding(plan, "HOLD-BENZO")
    assert hold.unknown and hold.effect == "review"
    assert hold.evidence == (f"could not be checked: medication '{text}' names more than one medicine ({names})",)
    assert "UNRECOGNISED-MEDICATION" not in ids(plan)


def test_the_first_medicine_of_an_entry_still_counts_and_unrelated_rules_stay_false():
    rules = (
        '[[rule]]\nid = "EXCL-MAOI"\neffect = "exclude"\nwhen = { medication = ["maoi"] }\nmessage = "MAOI."\n'
        '[[rule]]\nid = "REV-OPIOID"\neffect = "review"\nwhen = { medication = ["opioid"] }\nmessage = "Opioid."\n'
    )
    plan = plan_for(load_patient(rest=recorded(medications='["phenelzine 15 mg plus benzodiazepine prn"]')), load_protocol(rest=rules))
    assert finding(plan, "EXCL-MAOI").evidence == (
        "medication 'phenelzine 15 mg plus benzodiazepine prn' is phenelzine, in maoi",
    )
    assert plan.verdict == "excluded"
    assert finding(plan, "REV-OPIOID") is None


def test_a_rule_on_the_class_named_second_could_not_be_checked():
    rule = '[[rule]]\nid = "REV-MAOI"\neffect = "review"\nwhen = { medication = ["maoi"] }\nmessage = "MAOI."\n'
    plan = plan_for(load_patient(rest=recorded(medications='["sertraline and an MAOI"]')), load_protocol(rest=rule))
    f = finding(plan, "REV-MAOI")
    assert f.unknown and f.evidence == (
        "could not be checked: medication 'sertraline and an MAOI' names more than one medicine "
        "(sertraline, monoamine oxidase inhibitor)",
    )


def test_a_class_the_drug_belongs_to_is_not_a_second_medicine():
    plan = plan_for(load_patient(rest=recorded(medications='["fluoxetine (an SSRI) 20 mg"]')), hold_benzodiazepine())
    assert "UNRECOGNISED-MEDICATION" not in ids(plan)
    assert finding(plan, "HOLD-BENZO") is None


# ------------------------------------------------- 2. thresholds held to the patient format's limits


def rule_with(when: str, effect: str = "review") -> str:
    return f'[[rule]]\nid = "R-X"\neffect = "{effect}"\nwhen = {{ {when} }}\nmessage = "R-X message."\n'


@pytest.mark.parametrize(
    "when, message",
    [
        ('blood_pressure_at_least = "180/1000"', "diastolic 1000 mmHg is outside 20..200, the limits of a patient's blood pressure"),
        ('blood_pressure_at_least = "90/140"', "diastolic 140 must be below systolic 90"),
        ('blood_pressure_at_least = "0/0"', "systolic 0 mmHg is outside 50..300, the limits of a patient's blood pressure"),
        ('blood_pressure_at_least = "9999/9999"', "systolic 9999 mmHg is outside 50..300, the limits of a patient's blood pressure"),
        ("systolic_at_least = 400", "400 is outside 50..300"),
        ("age_at_least = 150", "150 is outside 0..120"),
        ("score_at_least = { phq9 = 28 }", "28 is outside 0..27"),
        ("bmi_at_least = 500", "500 is out of range: it must be at least 10 and at most 100"),
    ],
)
def test_an_implausible_threshold_is_a_load_error_naming_file_line_and_field(tmp_path, capsys, when, message):
    from tests.builders import run_cli

    path = tmp_path / "protocol.toml"
    path.write_text(protocol_text(rest=rule_with(when)))
    code, _, err = run_cli(capsys, "protocol", "check", str(path))
    assert code == 2
    line = protocol_text(rest=rule_with(when)).splitlines().index(f"when = {{ {when} }}") + 1
    assert err.startswith(f"{path}:{line}:")
    assert "rule[1].when." in err and message in err
    assert "Traceback" not in err


def test_a_patient_at_150_over_120_is_no_longer_passed_by_a_typo_threshold():
    # "180/1000" used to load and leave a 150/120 patient eligible; 180/100 flags her.
    protocol = load_protocol(rest=rule_with('blood_pressure_at_least = "180/100"', "exclude"))
    rest = recorded().replace('"120/80"', '"150/120"')
    assert finding(plan_for(load_patient(rest=rest), protocol), "R-X").effect == "exclude"


@pytest.mark.parametrize(
    "when, code, words",
    [
        ("age_below = 0", "W-RULE-CANNOT-FIRE", "R-X: the lowest plausible age (0) and age_below = 0 can never both be true, so this rule never fires"),
        ("bmi_below = 10", "W-RULE-CANNOT-FIRE", "R-X: the lowest plausible BMI (10) and bmi_below = 10 can never both be true, so this rule never fires"),
        ("spo2_below = 50", "W-RULE-CANNOT-FIRE", "R-X: the lowest plausible SpO2 (50%) and spo2_below = 50 can never both be true, so this rule only ever fires as \"could not be checked\", when a value is not recorded"),
        ("age_at_least = 0", "W-RULE-ALWAYS-FIRES", "R-X: age_at_least = 0 holds for every patient (at the lowest plausible age (0)), so this rule fires for every patient"),
        ("weight_kg_at_least = 2", "W-RULE-ALWAYS-FIRES", "R-X: weight_kg_at_least = 2 holds for every patient (at the lowest plausible weight (2 kg)), so this rule fires for every patient"),
        ('blood_pressure_at_least = "50/20"', "W-RULE-ALWAYS-FIRES", "R-X: blood_pressure_at_least = \"50/20\" holds for every recorded blood pressure (at the lowest plausible systolic (50 mmHg) or the lowest plausible diastolic (20 mmHg)), so this rule fires for every patient in whom it is recorded (and as \"could not be checked\" for the others)"),
        ("score_at_least = { phq9 = 0 }", "W-RULE-ALWAYS-FIRES", "R-X: score_at_least = { phq9 = 0 } holds for every recorded score (the lowest of the scale), so this rule fires for every patient in whom it is recorded (and as \"could not be checked\" for the others)"),
    ],
)
def test_a_threshold_at_the_edge_of_plausibility_is_a_warning(when, code, words):
    from ketaplan.authoring.lint import lint

    loaded = load_protocol(rest=rule_with(when))
    found = [(w.code, w.message) for w in lint(loaded.protocol, loaded.text, date(2026, 12, 1)) if "R-X" in w.message]
    assert found == [(code, words)]


def test_a_plausible_threshold_gives_no_edge_warning():
    from ketaplan.authoring.lint import lint

    loaded = load_protocol(rest=rule_with("age_at_least = 65"))
    assert [w for w in lint(loaded.protocol, loaded.text, date(2026, 12, 1)) if "R-X" in w.message] == []


# ------------------------------------------------- 3. a country whose regions keep different holidays


@pytest.mark.parametrize("region", ["GB", "UK"])
def test_great_britain_without_its_region_is_a_load_error_listing_the_regions(tmp_path, capsys, region):
    from tests.builders import run_cli

    path = tmp_path / "protocol.toml"
    path.write_text(protocol_text(schedule=f'holidays = "{region}"'))
    code, _, err = run_cli(capsys, "protocol", "check", str(path))
    assert code == 2
    assert (
        f"schedule.holidays: {region!r} is a country whose regions keep different public holidays: "
        "give the region, one of GB-ENG, GB-NIR, GB-SCT, GB-WLS"
    ) in err


def test_england_closes_on_easter_monday_2027():
    protocol = load_protocol(schedule='holidays = "GB-ENG"\ndays = ["mon"]')
    plan = plan_for(protocol=protocol, start=date(2027, 3, 29), holidays=england)
    assert plan.sessions[0].date == date(2027, 4, 5)  # 29 March 2027 is Easter Monday in England


def test_a_country_whose_regions_agree_needs_no_region():
    from ketaplan.calendar import region_problem

    assert region_problem("JP") is None


# ------------------------------------------------------------------ 7. infusions in a CSV row


def csv_patients(tmp_path, cell: str, start: date = date(2027, 1, 18)):
    from ketaplan.load.csv_patients import iter_csv_patients

    path = tmp_path / "patients.csv"
    path.write_text(f'id,age,sex,height,weight,infusions\nC-1,45,female,165 cm,82.5 kg,"{cell}"\n')
    return [p for _, p in iter_csv_patients(str(path), start)]


def test_a_csv_infusions_cell_reads_as_the_toml_infusions_table(tmp_path):
    from fractions import Fraction

    from ketaplan.model.patient import Infusion

    [loaded] = csv_patients(tmp_path, "2027-01-10 35 mg trd-iv-induction; 2027-01-13 35.5 mg")
    assert loaded.patient.infusions == (
        Infusion(date(2027, 1, 10), Fraction(35), "trd-iv-induction"),
        Infusion(date(2027, 1, 13), Fraction(71, 2), None),
    )


def test_a_csv_patient_infused_last_week_fires_days_since_last_infusion_below(tmp_path):
    [loaded] = csv_patients(tmp_path, "2027-01-10 35 mg; 2027-01-13 35 mg")
    protocol = load_protocol(rest=rule_with("days_since_last_infusion_below = 7"))
    f = finding(plan_for(loaded, protocol, start=date(2027, 1, 18)), "R-X")
    assert f.evidence == ("last infusion on 2027-01-13, 5 days before the start, is below 7 days",)


@pytest.mark.parametrize(
    "cell, error",
    [
        ("2027-01-10 35 ml", "infusions[1]: '2027-01-10 35 ml': write each infusion as DATE DOSE [PROTOCOL], e.g. '2027-01-10 35 mg trd-iv-induction'"),
        ("2027-01-10 35 mg; 2027-02-30 35 mg", "infusions[2].date: expected a date written YYYY-MM-DD such as 2026-12-01, found '2027-02-30'"),
        ("2027-01-20 35 mg", "infusions[1].date: 2027-01-20 is after the plan's start date 2027-01-18"),
    ],
)
def test_a_bad_csv_infusion_names_its_row_and_entry(tmp_path, cell, error):
    [problem] = csv_patients(tmp_path, cell)
    assert problem.one_line() == f"{tmp_path / 'patients.csv'}:2: {error}"


# --------------------------------------- 8. a shown value never reads as crossing a threshold


def just_below_35():
    # 95.278 kg at 165 cm: BMI 34.9965..., below 35; rounded to one place it would read 35.
    return load_patient(weight="95.278 kg", height="165 cm")


def test_bmi_just_below_35_is_shown_as_34_9_in_every_view():
    import json

    from ketaplan.render import renderer_for

    plan = plan_for(just_below_35(), load_protocol(rest=rule_with("bmi_at_least = 35")))
    assert finding(plan, "R-X") is None
    assert json.loads(renderer_for("json").render(plan))["patient"]["bmi"] == 34.9
    assert "- **Body size**: BMI 34.9 · " in renderer_for("markdown").render(plan)
    text = renderer_for("text", width=200).render(plan)
    assert "BMI 34.9 " in text and "BMI 35" not in text


def test_the_evidence_of_a_bmi_rule_shows_the_digits_that_decide():
    plan = plan_for(just_below_35(), load_protocol(rest=rule_with("bmi_below = 35")))
    assert finding(plan, "R-X").evidence == ("BMI 34.99 is below 35",)
    plan = plan_for(just_below_35(), load_protocol(rest=rule_with("bmi_below = 34.9966")))
    assert finding(plan, "R-X").evidence == ("BMI 34.9965 is below 34.9966",)


def test_a_weight_in_pounds_is_cut_not_rounded_beside_its_threshold():
    # 200 lb is 90.718474 kg: rounded to two places it would read 90.72, the threshold.
    plan = plan_for(load_patient(weight="200 lb"), load_protocol(rest=rule_with("weight_kg_below = 90.72")))
    assert finding(plan, "R-X").evidence == ("weight 90.71 kg is below 90.72 kg",)


# ------------------------------- 9. AGE-CHANGES-DURING-PLAN: only rules that could apply, named


FEMALE_UNDER_56 = (
    '[[rule]]\nid = "REV-PREGNANCY-TEST"\neffect = "review"\n'
    'when = { sex = "female", age_at_least = 12, age_below = 56, not = { pregnant = false } }\n'
    'message = "Pregnancy status to confirm."\n'
)


def turning_56_on_3_december(sex: str):
    text = patient_text(sex=sex).replace("age = 45", "date_of_birth = 1970-12-03")
    return load_patient(text)


def test_a_man_turning_56_is_not_flagged_for_a_female_only_rule():
    plan = plan_for(turning_56_on_3_december("male"), load_protocol(rest=FEMALE_UNDER_56))
    assert finding(plan, "AGE-CHANGES-DURING-PLAN") is None


def test_a_woman_turning_56_is_flagged_naming_the_rule_and_its_bound():
    plan = plan_for(turning_56_on_3_december("female"), load_protocol(rest=FEMALE_UNDER_56))
    f = finding(plan, "AGE-CHANGES-DURING-PLAN")
    assert f.effect == "review"
    assert f.evidence == (
        "REV-PREGNANCY-TEST (age_below = 56): turns 56 on 2026-12-03, before the last session on 2026-12-14",
    )


def test_without_a_date_of_birth_the_possible_crossing_names_the_rule():
    plan = plan_for(load_patient(age=55), load_protocol(rest=FEMALE_UNDER_56))
    f = finding(plan, "AGE-CHANGES-DURING-PLAN")
    assert f.unknown
    assert f.evidence == (
        "could not be checked: REV-PREGNANCY-TEST (age_below = 56): date_of_birth is missing; aged 55 on "
        "2026-12-01, the patient may turn 56 before the last session on 2026-12-14",
    )


# ------------------------------------------------------------ 10.-13. sign-off that cannot be fooled

ELIGIBLE = str(ROOT / "examples" / "patients" / "eligible-trd.toml")
BP_MISSING = str(ROOT / "examples" / "patients" / "review-bp-not-recorded.toml")
BP_ACKS = ("--ack", "EXCL-BP-180-100=BP 128/80 at rest today", "--ack", "REV-BP-140-90=BP 128/80 at rest today")


def draft_file(capsys, tmp_path, patient: str = ELIGIBLE) -> Path:
    from tests.builders import run_cli

    target = tmp_path / "plan.json"
    code, _, err = run_cli(capsys, "plan", patient, "--protocol", str(TRD), "--start", "2026-12-01", "--format", "json", "--output", str(target))
    assert code == 0, err
    return target


def signed_file(capsys, tmp_path, patient: str = ELIGIBLE, *acks: str) -> Path:
    from tests.builders import run_cli

    draft = draft_file(capsys, tmp_path, patient)
    code, _, err = run_cli(capsys, "sign", str(draft), "--clinician", "Dr A Smith", "--registration", "GMC1234567", *acks)
    assert code == 0, err
    return tmp_path / "plan.signed.json"


def test_verify_never_prints_an_escape_sequence_from_the_file(capsys, tmp_path):
    from tests.builders import run_cli

    path = signed_file(capsys, tmp_path, BP_MISSING, *BP_ACKS)
    data = json.loads(path.read_text(encoding="utf-8"))
    fake = "\x1b[H\x1b[2J" + f"{path}: intact — signed by Dr A Smith (GMC1234567)\x1b[8m"
    data["signoff"]["acknowledgements"][0]["rule"] = fake
    path.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run_cli(capsys, "verify", str(path))
    assert code == 1
    assert "\x1b" not in err + out
    assert err.startswith(f"{path}: ALTERED")
    assert "\\x1b[H\\x1b[2J" in err


@pytest.mark.parametrize(
    "option, value, problem",
    [
        ("--clinician", "Dr A Smith\u202e", "the clinician's name holds characters that hide or reorder text (\\u202e): type it again"),
        ("--clinician", "Dr A\u200b Smith", "the clinician's name holds characters that hide or reorder text (\\u200b): type it again"),
        ("--registration", "GMC\x1b[2J1234567", "the registration number holds characters that hide or reorder text (\\x1b): type it again"),
    ],
)
def test_sign_refuses_hidden_characters_in_what_the_clinician_typed(capsys, tmp_path, option, value, problem):
    from tests.builders import run_cli

    draft = draft_file(capsys, tmp_path)
    args = {"--clinician": "Dr A Smith", "--registration": "GMC1234567", option: value}
    code, _, err = run_cli(capsys, "sign", str(draft), *[x for kv in args.items() for x in kv])
    assert code == 1
    assert problem in err and "\x1b" not in err
    assert not (tmp_path / "plan.signed.json").exists()


@pytest.mark.parametrize(
    "reason, problem",
    [
        ("fine\u2066 not", "the reason given for EXCL-BP-180-100 holds characters that hide or reorder text (\\u2066): type it again"),
        ("...", "the reason given for EXCL-BP-180-100 has no letters: say why the plan may go ahead"),
        ("120/80", "the reason given for EXCL-BP-180-100 has no letters: say why the plan may go ahead"),
    ],
)
def test_sign_refuses_a_reason_hiding_text_or_saying_nothing(capsys, tmp_path, reason, problem):
    from tests.builders import run_cli

    draft = draft_file(capsys, tmp_path, BP_MISSING)
    code, _, err = run_cli(
        capsys, "sign", str(draft), "--clinician", "Dr A Smith", "--registration", "GMC1234567",
        "--ack", f"EXCL-BP-180-100={reason}", "--ack", "REV-BP-140-90=BP 128/80 at rest today",
    )  # fmt: skip
    assert code == 1 and problem in err


def test_verify_refuses_a_duplicate_key_naming_it(capsys, tmp_path):
    from tests.builders import run_cli

    path = signed_file(capsys, tmp_path)
    text = path.read_text(encoding="utf-8")
    # A reader that keeps the first of two keys sees 410 mg; Python's json keeps the last.
    first = text.index('"dose_mg": ')
    end = text.index(",", first)
    dose = text[first + len('"dose_mg": ') : end]
    path.write_text(text[:first] + f'"dose_mg": {dose}0, ' + text[first:], encoding="utf-8")
    code, _, err = run_cli(capsys, "verify", str(path))
    assert code == 1
    assert f"- a key appears twice in one object: 'dose_mg' ({dose}0, then {dose})" in err
    assert "intact" not in err


def test_verify_refuses_a_key_outside_the_signed_envelope(capsys, tmp_path):
    from tests.builders import run_cli

    path = signed_file(capsys, tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["override"] = {"dose_mg": 410}
    data["signoff"]["countersigned_by"] = "nobody"
    path.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run_cli(capsys, "verify", str(path))
    assert code == 1
    assert "- the key 'signoff.countersigned_by' is not part of a signed plan" in err
    assert "- the key 'override' is not part of a signed plan" in err


def test_sign_refuses_a_draft_holding_a_duplicate_key(capsys, tmp_path):
    from tests.builders import run_cli

    draft = draft_file(capsys, tmp_path)
    text = draft.read_text(encoding="utf-8")
    draft.write_text(text.replace('"verdict": "eligible"', '"verdict": "excluded", "verdict": "eligible"', 1), encoding="utf-8")
    code, _, err = run_cli(capsys, "sign", str(draft), "--clinician", "Dr A Smith", "--registration", "GMC1234567")
    assert code == 1
    assert "a key appears twice in one object: 'verdict' ('excluded', then 'eligible')" in err


def test_verify_reads_the_signed_markdown_and_finds_its_json(capsys, tmp_path):
    from tests.builders import run_cli

    signed_file(capsys, tmp_path)
    md = tmp_path / "plan.signed.md"
    assert "Check it with `ketaplan verify` on this Markdown file" in md.read_text(encoding="utf-8")
    code, _, err = run_cli(capsys, "verify", str(md))
    assert code == 0
    assert err.startswith(f"{md}: intact (and its signed JSON {tmp_path / 'plan.signed.json'}) — signed by Dr A Smith")


def test_verify_reports_a_dose_edited_in_the_signed_markdown(capsys, tmp_path):
    from tests.builders import run_cli

    signed_file(capsys, tmp_path)
    md = tmp_path / "plan.signed.md"
    text = md.read_text(encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "| 1 |" in row)
    original = text.splitlines()[line - 1]
    edited = re.sub(r"(\d)(\s)mg", r"\g<1>0\2mg", original, count=1)  # 36 mg made 360 mg
    assert edited != original
    md.write_text(text.replace(original, edited), encoding="utf-8")
    code, _, err = run_cli(capsys, "verify", str(md))
    assert code == 1
    assert f"- the Markdown differs from its signed JSON at line {line}: " in err


def test_verify_of_a_signed_markdown_without_its_json_exits_2(capsys, tmp_path):
    from tests.builders import run_cli

    signed_file(capsys, tmp_path)
    (tmp_path / "plan.signed.json").unlink()
    code, _, err = run_cli(capsys, "verify", str(tmp_path / "plan.signed.md"))
    assert code == 2 and "the signed JSON beside it" in err and "is missing" in err


def test_verify_of_a_draft_says_it_is_a_draft_and_exits_2(capsys, tmp_path):
    from tests.builders import run_cli

    draft = draft_file(capsys, tmp_path)
    code, _, err = run_cli(capsys, "verify", str(draft))
    assert code == 2
    assert "ALTERED" not in err
    assert err == (
        f"error: {draft}: this is a draft plan, not a signed plan: it has no sign-off to verify "
        "(sign it with `ketaplan sign`)\n"
    )


def test_verify_accepts_a_signed_markdown_whose_line_endings_were_converted(capsys, tmp_path):
    from tests.builders import run_cli

    signed_file(capsys, tmp_path)
    md = tmp_path / "plan.signed.md"
    md.write_bytes(md.read_bytes().replace(b"\n", b"\r\n"))
    assert run_cli(capsys, "verify", str(md))[0] == 0


def test_a_region_is_checked_against_the_holidays_package_s_own_list_of_every_country(tmp_path, monkeypatch):
    # The region check imports one country's module, not all 250 (issue 14): for every code the
    # installed holidays package lists (aliases such as UK included), it must give that list's
    # subdivisions, and for a code it does not list, none.
    import holidays

    from ketaplan import calendar

    monkeypatch.setenv("KETAPLAN_CACHE_DIR", str(tmp_path))
    listed = holidays.list_supported_countries()
    assert {"GB", "UK", "US", "DE", "JP"} <= set(listed)
    for code, subdivs in listed.items():
        assert calendar.country_subdivisions(code) == list(subdivs), code
    for unknown in ("XX", "QQ", "ZZZ", "EN"):
        assert unknown not in listed and calendar.country_subdivisions(unknown) is None
    # Read back from the disk cache, the same answers.
    for code in ("GB", "UK", "US", "JP"):
        assert calendar.country_subdivisions(code) == list(listed[code])
    assert calendar.region_problem("XX") == f"'XX' is not a country the holidays package {calendar.holidays_version()} knows"
    assert calendar.region_problem("GB-XYZ") == "'GB-XYZ' is not a known subdivision of GB; known: GB-ENG, GB-NIR, GB-SCT, GB-WLS"
    assert calendar.region_problem("GB-ENG") is None
