"""The patient loader's quicker constructions give what the plain ones gave: the same values, and the
same first error, word for word, where a table's keys, a list or a table of scores is wrong."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ketaplan.errors import PatientError
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
