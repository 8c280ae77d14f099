"""The patient loader's quicker constructions give what the plain ones gave: the same values, and the
same first error, word for word, where a table's keys, a list or a table of scores is wrong."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from ketaplan.errors import PatientError
from ketaplan.load import patient as patient_loader
from ketaplan.load.patient import patient_from_table
from ketaplan.load.reader import Source
from ketaplan.model.patient import Condition, Medication, Patient
from tests.builders import load_patient, patient_text


def error_of(text: str) -> str:
    with pytest.raises(PatientError) as caught:
        load_patient(text)
    return caught.value.one_line()


def test_conditions_and_medications_written_as_text_are_the_model_s_own_values():
    rest = 'conditions = ["asthma", "migraine"]\nmedications = ["sertraline 100 mg once daily"]\n'
    patient = load_patient(patient_text(rest=rest)).patient
    assert patient.conditions == (Condition("asthma"), Condition("migraine"))
    assert patient.medications == (Medication("sertraline 100 mg once daily"),)
    assert all(type(c) is Condition for c in patient.conditions)
    assert type(patient.medications[0]) is Medication
    assert patient.medications[0].as_needed is False and patient.conditions[0].status == "active"


def test_the_patient_is_the_value_its_keywords_build():
    patient = load_patient(patient_text(rest='heart_rate = 72\nspo2 = 98\n[scores]\ngad7 = 4\nphq9 = 20\n')).patient
    assert type(patient) is Patient
    assert patient == Patient(
        id="T-1", sex="female", age=45, height_cm=Fraction(165), weight_kg=Fraction(165, 2), heart_rate=72, spo2=98,
        scores=(("phq9", 20), ("gad7", 4)), present=frozenset({"id", "age", "sex", "height", "weight", "heart_rate",
                                                                 "spo2", "scores"}),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rest", "message"),
    [
        ("[scores]\nphq9 = 28", "patient.toml:8:1: scores.phq9: 28 is outside 0..27"),
        ("[scores]\ngad7 = 3\nphq9 = -1", "patient.toml:9:1: scores.phq9: -1 is outside 0..27"),  # the scales' order
        ("[scores]\nmadrs = 2.0", "patient.toml:8:1: scores.madrs: expected a whole number, found 2.0 (write it without a decimal point)"),
        ("[scores]\ngad7 = true", "patient.toml:8:1: scores.gad7: expected a whole number, found true/false"),
        ("[scores]\nphq8 = 3", "patient.toml:8:1: scores.phq8: unknown key 'phq8' (did you mean 'phq9'?)"),
        ("[[assessments]]\ndate = 2026-11-01\nphq9 = 30", "patient.toml:9:1: assessments[1].phq9: 30 is outside 0..27"),
        ('medications = ["a", " "]', "patient.toml:7:21: medications[2]: must not be empty"),
        ('conditions = ["a", 3]', "patient.toml:7:20: conditions[2]: expected a condition name or table, found a number"),
    ],
)
def test_a_wrong_score_or_list_item_is_named_as_before(rest, message):
    assert error_of(patient_text(rest=rest + "\n")) == message


def test_an_unknown_key_is_named_with_its_suggestion():
    assert error_of(patient_text(rest="alergies = []\n")) == (
        "patient.toml:7:1: alergies: unknown key 'alergies' (did you mean 'allergies'?)"
    )


@pytest.mark.parametrize(
    ("height", "weight", "message"),
    [
        ("0 ft", "82.5 kg", "'0 ft' is not a height"),
        ("0 cm", "82.5 kg", "'0 cm' is not a height"),
        ("165 cm", "0.0 kg", "'0.0 kg' is not a weight"),
    ],
)
def test_a_zero_quantity_must_be_more_than_zero(height, weight, message):
    text = error_of(patient_text(height=height, weight=weight))
    assert message in text and text.endswith("; the value must be more than zero")


def test_feet_and_decimal_inches_are_exact():
    patient = load_patient(patient_text(height="5 ft 10.5 in", weight="180.5 lb")).patient
    assert patient.height_cm == (5 * 12 + Fraction(21, 2)) * Fraction("2.54")
    assert patient.weight_kg == Fraction("180.5") * Fraction("0.45359237")


# Each field's usual value is taken as read without the Table reader; anything else goes to the reader,
# and the first mistake in the fields' order is still the one named, word for word (as main named them).
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            patient_text().replace('id = "T-1"', 'id = ".."'),
            "patient.toml:2:1: id: '..' is not allowed here: use 1 to 64 letters, digits, '.', '_' or '-' "
            "(a pseudonymous id, never a path or a name)",
        ),
        (patient_text(sex="Female").replace('id = "T-1"', "id = 7"), "patient.toml:2:1: id: expected text in quotes, found a number"),
        (patient_text(sex="Female", rest="heart_rate = 300\n"), "patient.toml:4:1: sex: 'Female' is not one of: female, male (did you mean 'female'?)"),
        (patient_text(rest="date_of_birth = 1980-01-01\n"), "patient.toml:3:1: age: give exactly one of 'age' and 'date_of_birth'"),
        (patient_text(rest='pregnant = "no"\nbreastfeeding = 1\n'), "patient.toml:7:1: pregnant: expected true or false, found text"),
        (
            patient_text(sex="male", rest="pregnant = false\nbreastfeeding = true\n"),
            "patient.toml:8:1: breastfeeding: is true for a patient recorded as male: check sex and this field",
        ),
        (patient_text(rest="weighed_on = 2027-01-01\nspo2 = 101\n"), "patient.toml:7:1: weighed_on: 2027-01-01 is after the plan's start date 2026-12-01"),
        (patient_text(rest='allergies = ["latex", ""]\nconditions = [3]\n'), "patient.toml:7:23: allergies[2]: must not be empty"),
        (patient_text(rest='allergies = "latex"\n'), "patient.toml:7:1: allergies: expected a list of text, found text"),
        (patient_text(rest='conditions = "asthma"\n'), "patient.toml:7:1: conditions: expected a list (use [] for none), found text"),
        (patient_text(rest="heart_rate = 72.0\n"), "patient.toml:7:1: heart_rate: expected a whole number, found 72.0 (write it without a decimal point)"),
        (patient_text(rest="spo2 = true\n"), "patient.toml:7:1: spo2: expected a whole number, found true/false"),
        (patient_text(rest="scores = 3\n"), "patient.toml:7:1: scores: expected a table, found a number"),
        (
            patient_text(rest="[scores]\nscored_on = 2027-01-01\nphq9 = 3\n"),
            "patient.toml:8:1: scores.scored_on: 2027-01-01 is after the plan's start date 2026-12-01",
        ),
        (patient_text(rest="[scores]\nscored_on = 2026-01-01\nphq9 = 30\n"), "patient.toml:9:1: scores.phq9: 30 is outside 0..27"),
    ],
)
def test_an_unusual_value_is_read_by_the_table_reader_and_named_as_before(text, message):
    assert error_of(text) == message


_START = date(2026, 12, 1)
_TABLE = {"id": "T-1", "age": 45, "sex": "female", "height": "165 cm", "weight": "82.5 kg"}


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("pregnant", "d: pregnant: expected true or false, found NoneType"),
        ("weighed_on", "d: weighed_on: expected a date such as 2026-12-01 (no quotes), found NoneType"),
        ("heart_rate", "d: heart_rate: expected a whole number, found NoneType"),
        ("allergies", "d: allergies: expected a list of text, found NoneType"),
        ("conditions", "d: conditions: expected a list (use [] for none), found NoneType"),
        ("scores", "d: scores: expected a table, found NoneType"),
    ],
)
def test_a_key_given_none_by_a_caller_is_a_wrong_value_not_an_absent_key(key, message):
    with pytest.raises(PatientError) as caught:
        patient_from_table({**_TABLE, key: None}, Source("d", None, PatientError), _START)
    assert caught.value.one_line() == message


class _Text(str):
    pass


def test_text_of_a_str_subclass_is_read_as_text_and_kept_as_given():
    table = {**_TABLE, "id": _Text("T-1"), "sex": _Text("female"), "allergies": [_Text("latex")],
             "conditions": [_Text("asthma")], "medications": [_Text("sertraline")]}  # fmt: skip
    patient = patient_from_table(table, Source("d", None, PatientError), _START)
    assert patient == Patient(
        id="T-1", sex="female", age=45, height_cm=Fraction(165), weight_kg=Fraction(165, 2), allergies=("latex",),
        conditions=(Condition("asthma"),), medications=(Medication("sertraline"),), present=frozenset(table),
    )  # fmt: skip
    assert type(patient.id) is _Text and type(patient.conditions[0].name) is _Text
    assert type(patient.medications[0].text) is _Text
    # Not remembered for the plain text: its Condition holds a str.
    plain = load_patient(patient_text(rest='conditions = ["asthma"]\nmedications = ["sertraline"]\n')).patient
    assert type(plain.conditions[0].name) is str and type(plain.medications[0].text) is str


def test_a_condition_or_medication_text_is_made_once_and_shared():
    rest = 'conditions = ["asthma", "asthma"]\nmedications = ["sertraline 50 mg"]\n'
    first, second = (load_patient(patient_text(rest=rest)).patient for _ in range(2))
    assert first.conditions == (Condition("asthma"), Condition("asthma")) and first.conditions[0] is second.conditions[1]
    assert first.medications == (Medication("sertraline 50 mg"),) and first.medications[0] is second.medications[0]


def test_the_shared_texts_are_emptied_when_full(monkeypatch):
    monkeypatch.setattr(patient_loader, "_TEXTS_KEPT", 2)
    monkeypatch.setattr(patient_loader, "_TEXT_CONDITIONS", {})
    patient = load_patient(patient_text(rest='conditions = ["a", "b", "c", "a"]\n')).patient
    assert patient.conditions == tuple(Condition(name) for name in "abca")
    assert len(patient_loader._TEXT_CONDITIONS) <= 2
