"""Rules: every `when` key, every effect, and three-valued logic where data is missing."""

from __future__ import annotations

import json

import pytest

from tests.builders import BASE_PATIENT, RECORDED, finding, ids, load_patient, load_protocol, plan_for, protocol_text


def rule(rule_id: str, effect: str, when: str | None, extra: str = "") -> str:
    when_line = f"when = {when}\n" if when else ""
    return f'[[rule]]\nid = "{rule_id}"\neffect = "{effect}"\n{when_line}message = "{rule_id} message."\n{extra}\n'


def fired(when: str, patient_rest: str = RECORDED, **patient):
    """(effect, unknown) of a review rule with this `when`, or None when it did not fire."""
    plan = plan_for(load_patient(rest=patient_rest, **patient), load_protocol(rest=rule("R-X", "review", when)))
    f = finding(plan, "R-X")
    return None if f is None else ("unknown" if f.unknown else "true")


@pytest.mark.parametrize(
    "when, patient, expected",
    [
        ("{ age_at_least = 45 }", {"age": 45}, "true"),
        ("{ age_at_least = 45 }", {"age": 44}, None),
        ("{ age_below = 18 }", {"age": 17}, "true"),
        ("{ age_below = 18 }", {"age": 18}, None),
        ('{ sex = "male" }', {"sex": "male"}, "true"),
        ('{ sex = "male" }', {"sex": "female"}, None),
        ("{ weight_kg_at_least = 82.5 }", {"weight": "82.5 kg"}, "true"),
        ("{ weight_kg_below = 82.5 }", {"weight": "82.5 kg"}, None),
        ("{ bmi_at_least = 30 }", {"weight": "82.5 kg", "height": "165 cm"}, "true"),  # BMI 30.30
        ("{ bmi_below = 30.3 }", {"weight": "82.5 kg", "height": "165 cm"}, None),  # 30.303 is not below 30.3
    ],
)
def test_patient_measures(when, patient, expected):
    assert fired(when, **patient) == expected


@pytest.mark.parametrize(
    "when, rest, expected",
    [
        ('{ blood_pressure_at_least = "140/90" }', 'blood_pressure = "150/80"', "true"),  # systolic alone
        ('{ blood_pressure_at_least = "140/90" }', 'blood_pressure = "130/90"', "true"),  # diastolic alone
        ('{ blood_pressure_at_least = "140/90" }', 'blood_pressure = "139/89"', None),
        ('{ blood_pressure_at_least = "140/90" }', "", "unknown"),
        ("{ systolic_at_least = 160 }", 'blood_pressure = "160/90"', "true"),
        ("{ diastolic_at_least = 100 }", 'blood_pressure = "160/90"', None),
        ("{ heart_rate_at_least = 110 }", "heart_rate = 110", "true"),
        ("{ heart_rate_below = 50 }", "heart_rate = 49", "true"),
        ("{ heart_rate_below = 50 }", "", "unknown"),
        ("{ spo2_below = 94 }", "spo2 = 93", "true"),
        ("{ spo2_below = 94 }", "spo2 = 94", None),
        ("{ score_at_least = { phq9 = 20 } }", "[scores]\nphq9 = 20", "true"),
        ("{ score_below = { phq9 = 10, gad7 = 5 } }", "[scores]\nphq9 = 9", "unknown"),  # gad7 missing
        ("{ score_below = { phq9 = 10, gad7 = 5 } }", "[scores]\nphq9 = 12", None),  # false beats unknown
        ('{ missing = ["blood_pressure"] }', "", "true"),
        ('{ missing = ["scores.madrs"] }', "[scores]\nmadrs = 30", None),
    ],
)
def test_vitals_scores_and_missing(when, rest, expected):
    base = 'allergies = []\nconditions = ["depression"]\nmedications = []\n'
    assert fired(when, patient_rest=base + rest) == expected


@pytest.mark.parametrize(
    "when, lists, expected",
    [
        ('{ condition = ["psychotic disorder"] }', 'conditions = [{ name = "schizophrenia", status = "history" }]', "true"),
        ('{ active_condition = ["psychotic disorder"] }', 'conditions = [{ name = "schizophrenia", status = "history" }]', None),
        ('{ condition = ["psychotic disorder"] }', 'conditions = ["schizofrenia"]', "unknown"),
        ('{ condition = ["psychotic disorder"] }', "", "unknown"),  # conditions not recorded
        ('{ condition = ["psychotic disorder"] }', "conditions = []", None),
        ('{ condition = ["psychotic disorder"] }', 'conditions = [{ name = "odd thing", code = "F20.0" }]', "true"),
        ('{ medication = ["benzodiazepine"] }', 'medications = ["Ativan 1 mg at night"]', "true"),
        ('{ medication = ["lorazepam"] }', 'medications = ["l\u043erazepam 1 mg"]', "unknown"),  # Cyrillic o
        ('{ medication = ["benzodiazepine"] }', 'medications = ["sertraline 100 mg", "zzzfoo"]', "unknown"),
        ('{ medication = ["benzodiazepine"] }', 'medications = ["diazepam", "zzzfoo"]', "true"),  # known hit wins
        ('{ allergy = ["penicillin"] }', 'allergies = ["amoxicillin"]', "true"),
        ('{ allergy = ["penicillin"] }', "", "unknown"),
    ],
)
def test_list_tests_fail_closed(when, lists, expected):
    defaults = {"conditions": 'conditions = ["depression"]', "medications": "medications = []", "allergies": "allergies = []"}
    for key in defaults:
        if lists.startswith(key) or f"\n{key}" in lists:
            defaults[key] = ""
    rest = "\n".join(v for v in defaults.values() if v) + "\n" + lists
    if "not recorded" in when or (lists == "" and "condition" in when):
        rest = "medications = []\nallergies = []\n"
    if lists == "" and "allergy" in when:
        rest = 'conditions = ["depression"]\nmedications = []\n'
    assert fired(when, patient_rest=rest) == expected


@pytest.mark.parametrize(
    "when, rest, expected",
    [
        ('{ pregnant = true }', "pregnant = true", "true"),
        ('{ pregnant = true }', "", "unknown"),
        ('{ pregnant = "unknown" }', "", "true"),
        ('{ pregnant = "unknown" }', "pregnant = false", None),
        ('{ not = { pregnant = false } }', "", "unknown"),
        ('{ not = { pregnant = false } }', "pregnant = true", "true"),
        ('{ breastfeeding = true }', "breastfeeding = false", None),
    ],
)
def test_pregnancy_is_unknown_until_recorded(when, rest, expected):
    assert fired(when, patient_rest=RECORDED + rest) == expected


def test_pregnancy_of_a_male_patient_is_false_not_unknown():
    assert fired("{ pregnant = true }", sex="male") is None


@pytest.mark.parametrize(
    "when, rest, expected",
    [
        ("{ any = [{ age_at_least = 40 }, { heart_rate_at_least = 100 }] }", "", "true"),  # true beats unknown
        ("{ any = [{ age_at_least = 60 }, { heart_rate_at_least = 100 }] }", "", "unknown"),
        ("{ any = [{ age_at_least = 60 }, { heart_rate_at_least = 100 }] }", "heart_rate = 70", None),
        ("{ not = { heart_rate_at_least = 100 } }", "", "unknown"),  # not unknown is unknown
        ("{ not = { heart_rate_at_least = 100 } }", "heart_rate = 70", "true"),
        ("{ age_at_least = 60, heart_rate_at_least = 100 }", "", None),  # and: false beats unknown
        ("{ age_at_least = 40, heart_rate_at_least = 100 }", "", "unknown"),
    ],
)
def test_three_valued_any_not_and(when, rest, expected):
    assert fired(when, patient_rest=RECORDED + rest, age=45) == expected


def test_infusion_history_keys():
    rest = RECORDED + "[[infusions]]\ndate = 2026-11-03\ndose = \"41 mg\"\n[[infusions]]\ndate = 2026-11-10\ndose = \"41 mg\"\n"
    assert fired("{ sessions_given_at_least = 2 }", patient_rest=rest) == "true"
    assert fired("{ sessions_given_at_least = 3 }", patient_rest=rest) is None
    # 2026-11-10 to the start 2026-12-01 is 21 days
    assert fired("{ days_since_last_infusion_below = 22 }", patient_rest=rest) == "true"
    assert fired("{ days_since_last_infusion_below = 21 }", patient_rest=rest) is None


# --- effects ------------------------------------------------------------------------------------


def test_exclude_true_excludes_and_drafts_nothing():
    protocol = load_protocol(rest=rule("EXCL-PSYCHOSIS", "exclude", '{ condition = ["psychotic disorder"] }'))
    plan = plan_for(load_patient(rest='allergies = []\nmedications = []\nconditions = [{ name = "schizophrenia", status = "history" }]'), protocol)
    assert plan.verdict == "excluded"
    assert plan.sessions == () and plan.dosing is None
    f = finding(plan, "EXCL-PSYCHOSIS")
    assert (f.effect, f.unknown) == ("exclude", False)
    assert f.evidence == ("condition 'schizophrenia' (history) is in psychotic disorder",)


def test_exclude_unknown_is_a_review_not_a_pass():
    protocol = load_protocol(rest=rule("EXCL-PSYCHOSIS", "exclude", '{ condition = ["psychotic disorder"] }'))
    plan = plan_for(load_patient(rest="allergies = []\nmedications = []\nconditions = [\"schizofrenia\"]"), protocol)
    assert plan.verdict == "needs-review"
    f = finding(plan, "EXCL-PSYCHOSIS")
    assert (f.effect, f.rule_effect, f.unknown) == ("review", "exclude", True)
    assert f.evidence == ("could not be checked: condition 'schizofrenia' is not recognised",)
    assert "UNRECOGNISED-CONDITION" in plan.acknowledge and "EXCL-PSYCHOSIS" in plan.acknowledge


def test_hold_lists_the_patients_matching_medicines():
    protocol = load_protocol(
        rest=rule("HOLD-BENZO", "hold", '{ medication = ["benzodiazepine"] }', 'hold = "Omit the evening before."')
    )
    plan = plan_for(load_patient(rest='allergies = []\nconditions = ["depression"]\nblood_pressure = "120/80"\nmedications = ["sertraline 100 mg", { name = "Ativan", dose = "1 mg", schedule = "at night" }]'), protocol)
    assert [(h.rule, h.medications, h.instruction, h.to_confirm) for h in plan.holds] == [
        ("HOLD-BENZO", ("lorazepam",), "Omit the evening before.", False)
    ]
    assert finding(plan, "HOLD-BENZO").effect == "hold"
    assert plan.verdict == "eligible"


def test_hold_unknown_is_listed_to_confirm_and_needs_review():
    protocol = load_protocol(
        rest=rule("HOLD-BENZO", "hold", '{ medication = ["benzodiazepine"] }', 'hold = "Omit the evening before."')
    )
    plan = plan_for(load_patient(rest='allergies = []\nconditions = ["depression"]\nblood_pressure = "120/80"'), protocol)
    (hold,) = plan.holds
    assert hold.to_confirm and hold.unknown_because == ("medications are not recorded",)
    assert finding(plan, "HOLD-BENZO").effect == "review"


def test_check_rule_adds_its_item_even_when_unknown():
    protocol = load_protocol(
        rest=rule("CHECK-PREG", "check", '{ sex = "female", not = { pregnant = false } }', 'stage = "pre"\nitem = "Urine pregnancy test negative"')
    )
    plan = plan_for(protocol=protocol)
    assert plan.checklist_pre[-1] == "Urine pregnancy test negative"
    f = finding(plan, "CHECK-PREG")
    assert (f.effect, f.unknown) == ("check", True)
    assert plan.verdict == "eligible"


def test_note_fires_only_when_true():
    protocol = load_protocol(rest=rule("NOTE-HR", "note", "{ heart_rate_at_least = 100 }"))
    assert finding(plan_for(protocol=protocol), "NOTE-HR") is None  # unknown: nothing
    plan = plan_for(load_patient(rest=RECORDED + "heart_rate = 104"), protocol)
    assert finding(plan, "NOTE-HR").effect == "note"


def test_rule_without_when_always_fires():
    plan = plan_for(protocol=load_protocol(rest=rule("NOTE-ALL", "note", None)))
    assert finding(plan, "NOTE-ALL").evidence == ("the rule has no condition: it applies to every patient",)


def test_findings_follow_protocol_order_then_builtins():
    rest = rule("R-B", "note", None) + rule("R-A", "note", None)
    plan = plan_for(load_patient(rest='allergies = []\nconditions = ["zzz unknown"]\nmedications = []'), load_protocol(rest=rest))
    assert ids(plan)[:3] == ["R-B", "R-A", "UNRECOGNISED-CONDITION"]


# --- built-in findings ---------------------------------------------------------------------------


def test_ketamine_allergy_under_a_brand_name_excludes():
    plan = plan_for(load_patient(rest='allergies = ["Ketalar"]\nconditions = ["depression"]\nmedications = []'))
    assert plan.verdict == "excluded"
    assert finding(plan, "ALLERGY-TO-PROTOCOL-DRUG").effect == "exclude"


def test_allergies_not_recorded_needs_review():
    plan = plan_for(load_patient(rest='conditions = ["depression"]\nmedications = []'))
    f = finding(plan, "ALLERGY-TO-PROTOCOL-DRUG")
    assert (f.effect, f.unknown, f.evidence) == ("review", True, ("could not be checked: allergies are not recorded",))


def test_indication_not_recorded():
    text = protocol_text().replace(
        'version = "1"', 'version = "1"\nindications = ["depressive disorder"]'
    )
    plan = plan_for(load_patient(rest='allergies = []\nconditions = ["essential hypertension"]\nmedications = []'), load_protocol(text))
    assert finding(plan, "INDICATION-NOT-RECORDED").effect == "review"
    plan = plan_for(load_patient(rest='allergies = []\nconditions = ["Treatment-Resistant  Depression"]\nmedications = []'), load_protocol(text))
    assert finding(plan, "INDICATION-NOT-RECORDED") is None


def test_condition_code_mismatch():
    plan = plan_for(load_patient(rest='allergies = []\nmedications = []\nconditions = [{ name = "essential hypertension", code = "F20" }]'))
    assert finding(plan, "CONDITION-CODE-MISMATCH").effect == "review"


def test_prior_infusions_under_the_same_protocol_restart_the_series():
    rest = RECORDED + '[[infusions]]\ndate = 2026-10-01\ndose = "41 mg"\nprotocol = "test-protocol"\n'
    assert finding(plan_for(load_patient(rest=rest)), "PRIOR-INFUSIONS-SAME-PROTOCOL").effect == "review"


def test_age_bound_crossed_during_the_plan():
    protocol = load_protocol(rest=rule("REV-65", "review", "{ age_at_least = 65 }"))
    born_5_december = BASE_PATIENT.replace("age = {age}", "date_of_birth = 1961-12-05")
    patient = load_patient(born_5_december.format(sex="female", height="165 cm", weight="82.5 kg", rest=RECORDED))
    plan = plan_for(patient, protocol)
    assert patient.patient.age == 64
    f = finding(plan, "AGE-CHANGES-DURING-PLAN")
    assert f.evidence[0].startswith("REV-65 (age_at_least = 65): turns 65 on 2026-12-05, before the last session on")


def test_start_in_past_is_a_note():
    from datetime import date

    plan = plan_for(start=date(2026, 11, 2))
    assert finding(plan, "START-IN-PAST").effect == "note"


def test_allergy_to_esketamine_excludes_a_ketamine_protocol_but_memantine_does_not():
    spravato = plan_for(load_patient(rest='allergies = ["Spravato"]\nconditions = ["depression"]\nmedications = []'))
    assert spravato.verdict == "excluded"
    assert finding(spravato, "ALLERGY-TO-PROTOCOL-DRUG").evidence == (
        "allergy 'Spravato' is esketamine, in ketamine class with ketamine",
    )
    memantine = plan_for(load_patient(rest='allergies = ["memantine"]\nconditions = ["depression"]\nmedications = []'))
    assert finding(memantine, "ALLERGY-TO-PROTOCOL-DRUG") is None


def _toml_list(items) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


MEDICATIONS = ["Ketalar 50 mg", "unknownium 5 mg", "Spravato 56 mg twice weekly", "l\u043erazepam 1 mg",
               "sertraline 50 mg plus lorazepam prn", "lorazepam and ketamine"]  # fmt: skip
ALLERGIES = ["penicillin", "k\u0435tamine", "Ketalar", "unknown allergen", "r-ketamine"]
CONDITIONS = ['{ name = "essential hypertension", code = "F20" }', '"schizofrenia"',
              '{ name = "major depressive disorder", status = "history" }', '{ name = "x", code = "I10" }']  # fmt: skip
#: Each list's built-in findings (effect, unknown, evidence), in the lists' order above (the words ketaplan
#: gave before a list was worked out from its entries).
LIST_FINDINGS = {
    "ALLERGY-TO-PROTOCOL-DRUG": ("exclude", False, (
        "allergy 'Ketalar' is ketamine, which covers ketamine",
        "allergy 'r-ketamine' is arketamine, in ketamine class with ketamine")),
    "ALREADY-TAKING-PROTOCOL-DRUG": ("review", False, (
        "medication 'Ketalar 50 mg' is ketamine, which covers ketamine",
        "medication 'Spravato 56 mg twice weekly' is esketamine, in ketamine class with ketamine")),
    "UNRECOGNISED-CONDITION": ("review", False, (
        "condition 'schizofrenia' is not recognised",
        "condition 'x' [I10]: the name is not recognised; only its ICD-10 code is (in essential hypertension, "
        "hypertension), and rules were checked against the code")),
    "UNRECOGNISED-MEDICATION": ("review", False, (
        "medication 'unknownium 5 mg' is not recognised",
        "medication 'l\u043erazepam 1 mg' mixes letters from different scripts (a look-alike character?) and is not matched")),
    "SEVERAL-MEDICINES-IN-ONE-ENTRY": ("review", False, (
        "medication 'sertraline 50 mg plus lorazepam prn' names sertraline, lorazepam",
        "medication 'lorazepam and ketamine' names lorazepam, ketamine")),
    "UNRECOGNISED-ALLERGY": ("review", False, (
        "allergy 'k\u0435tamine' mixes letters from different scripts (a look-alike character?) and is not matched",
        "allergy 'unknown allergen' is not recognised")),
    "CONDITION-CODE-MISMATCH": ("review", False, (
        "condition 'essential hypertension' [F20]: the name is in essential hypertension, hypertension; the code is in "
        "psychotic disorder, schizophrenia",)),
}  # fmt: skip


def test_a_lists_built_in_findings_give_its_entries_words_in_its_order():
    """The built-in findings about a list gather what each of its entries gives (worked out once per
    distinct entry in a run: engine/truth.py's Compiled._entry) in the list's order, whatever lists
    the same entries were met in before."""
    text = protocol_text().replace('version = "1"', 'version = "1"\nindications = ["depressive disorder"]')
    protocol = load_protocol(text)
    for order in (1, -1, 1):
        rest = (
            f"allergies = {_toml_list(ALLERGIES[::order])}\nmedications = {_toml_list(MEDICATIONS[::order])}\n"
            f"conditions = [{', '.join(CONDITIONS[::order])}]\n"
        )
        plan = plan_for(load_patient(rest=rest), protocol)
        for rule_id, (effect, unknown, evidence) in LIST_FINDINGS.items():
            f = finding(plan, rule_id)
            assert (f.effect, f.unknown, f.evidence) == (effect, unknown, evidence[::order]), (order, rule_id)
        names = ["'essential hypertension'", "'schizofrenia'", "'x'"][::order]
        assert finding(plan, "INDICATION-NOT-RECORDED").evidence == (f"active conditions recorded: {', '.join(names)}",)
    # Without a match to the protocol drug: why each entry could not be checked, in the list's order.
    allergies = _toml_list(["unknown allergen", "penicillin", "k\u0435tamine"])
    medications = _toml_list(["lorazepam and ketamine", "sertraline 50 mg", "unknownium 5 mg"])
    rest = f'allergies = {allergies}\nmedications = {medications}\nconditions = ["major depressive disorder"]\n'
    plan = plan_for(load_patient(rest=rest), protocol)
    assert finding(plan, "ALLERGY-TO-PROTOCOL-DRUG").evidence == (
        "could not be checked: allergy 'unknown allergen' is not recognised",
        "could not be checked: allergy 'k\u0435tamine' is not recognised",
    )
    assert finding(plan, "ALREADY-TAKING-PROTOCOL-DRUG").evidence == (
        "could not be checked: medication 'lorazepam and ketamine' names more than one medicine (lorazepam, ketamine)",
        "could not be checked: medication 'unknownium 5 mg' is not recognised",
    )
    assert all(finding(plan, i).unknown for i in ("ALLERGY-TO-PROTOCOL-DRUG", "ALREADY-TAKING-PROTOCOL-DRUG"))
    assert finding(plan, "INDICATION-NOT-RECORDED") is None
