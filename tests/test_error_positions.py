"""Errors point like a compiler's: file:line:column, the field, the message, the line and a caret under it."""

from __future__ import annotations

import pytest

from tests.builders import run_cli as _run

PROTOCOL = """\
[protocol]
id = "test-clinic"
title = "Test clinic"
version = "1"

[drug]
name = "ketamine"

[dose]
mg_per_kg = 0.5
duration = "40 min"
max_mg = 60

[[schedule.phase]]
name = "induction"
sessions = 6
min_gap_days = 3

[[rule]]
id = "EXCL-PSYCHOSIS"
effect = "exclude"
when = { condition = ["psychotic disorder"] }
message = "Psychosis."

[[rule]]
id = "REV-AGE-65"
effect = "review"
when = { age_at_least = 65 }
message = "Age 65 or over."

[[rule]]
id = "CHECK-PREGNANCY-TEST"
effect = "check"
when = { sex = "female", age_at_least = 12, age_below = 56 }
stage = "pre"
item = "Pregnancy test"
message = "Pregnancy status."
"""

PATIENT = """\
id = "P-1"
age = 40
sex = "female"
height = "165 cm"
weight = "82.5 kg"
allergies = []
"""


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _check(capsys, in_tmp, text: str) -> tuple[int, str, str]:
    (in_tmp / "protocol.toml").write_text(text, encoding="utf-8")
    return _run(capsys, "protocol", "check", "protocol.toml")


def _plan(capsys, in_tmp, patient: str) -> tuple[int, str, str]:
    (in_tmp / "protocol.toml").write_text(PROTOCOL, encoding="utf-8")
    (in_tmp / "patient.toml").write_text(patient, encoding="utf-8")
    return _run(capsys, "plan", "patient.toml", "--protocol", "protocol.toml", "--start", "2026-12-01")


def test_the_unedited_protocol_loads(capsys, in_tmp):
    code, out, _ = _check(capsys, in_tmp, PROTOCOL)
    assert (code, out) == (0, "3 warnings: test-clinic 1: 3 rules, 1 phase, 0 tests\n")


def test_a_misspelt_dose_key_points_at_it_and_suggests_the_right_one(capsys, in_tmp):
    code, out, err = _check(capsys, in_tmp, _edit(PROTOCOL, "max_mg = 60", "max_mgs = 60"))
    assert (code, out) == (2, "")
    assert err == (
        "protocol.toml:12:1: error: dose.max_mgs: unknown key 'max_mgs' (did you mean 'max_mg'?)\n"
        "  12 | max_mgs = 60\n"
        "     | ^^^^^^^\n"
    )


def test_a_bad_value_in_the_third_rules_inline_when_points_at_its_key(capsys, in_tmp):
    code, _, err = _check(capsys, in_tmp, _edit(PROTOCOL, "age_below = 56", 'age_below = "56"'))
    assert code == 2
    assert err == (
        "protocol.toml:34:45: error: rule[3].when.age_below: expected a whole number, found text\n"
        '  34 | when = { sex = "female", age_at_least = 12, age_below = "56" }\n'
        "     |                                             ^^^^^^^^^\n"
    )


def test_an_unknown_vocabulary_name_is_underlined_inside_its_list(capsys, in_tmp):
    text = _edit(PROTOCOL, '["psychotic disorder"]', '["psychotic disorder", "schizofrenia"]')
    code, _, err = _check(capsys, in_tmp, text)
    assert code == 2
    assert err == (
        "protocol.toml:22:45: error: rule[1].when.condition[2]: 'schizofrenia' is not a condition name or group "
        "in the vocabulary (see `ketaplan vocab`, or add it under [vocabulary])\n"
        '  22 | when = { condition = ["psychotic disorder", "schizofrenia"] }\n'
        "     |                                             ^^^^^^^^^^^^^^\n"
    )


def test_a_missing_required_key_points_at_its_table_header(capsys, in_tmp):
    code, _, err = _check(capsys, in_tmp, _edit(PROTOCOL, "max_mg = 60\n", ""))
    assert code == 2
    assert err == (
        "protocol.toml:9:2: error: dose.max_mg: required key 'max_mg' is missing\n"
        "   9 | [dose]\n"
        "     |  ^^^^\n"
    )


def test_a_rule_missing_its_message_points_at_its_double_bracket_header(capsys, in_tmp):
    code, _, err = _check(capsys, in_tmp, _edit(PROTOCOL, 'message = "Age 65 or over."\n', ""))
    assert code == 2
    assert err == (
        "protocol.toml:25:1: error: rule[2].message: required key 'message' is missing\n"
        "  25 | [[rule]]\n"
        "     | ^^^^^^^^\n"
    )


def test_a_toml_syntax_error_points_at_the_character(capsys, in_tmp):
    code, _, err = _check(capsys, in_tmp, _edit(PROTOCOL, "max_mg = 60", "max_mg = 60 mg"))
    assert code == 2
    assert err == (
        "protocol.toml:12:13: error: max_mg: not valid TOML: expected newline or end of document after a statement\n"
        "  12 | max_mg = 60 mg\n"
        "     |             ^\n"
    )


def test_a_misspelt_effect_suggests_the_right_one(capsys, in_tmp):
    code, _, err = _check(capsys, in_tmp, _edit(PROTOCOL, 'effect = "check"', 'effect = "chek"'))
    assert code == 2
    assert err.splitlines()[0] == (
        "protocol.toml:33:1: error: rule[3].effect: 'chek' is not one of: exclude, review, adjust, hold, check, "
        "note, titrate (did you mean 'check'?)"
    )


def test_a_patient_weight_with_a_decimal_comma_points_at_the_weight(capsys, in_tmp):
    code, out, err = _plan(capsys, in_tmp, _edit(PATIENT, '"82.5 kg"', '"82,5 kg"'))
    assert (code, out) == (2, "")
    assert err == (
        "patient.toml:5:1: error: weight: '82,5 kg' is not a weight: write a number and a unit, "
        'e.g. "82.5 kg" or "182 lb" (units: kg, lb, lbs)\n'
        '   5 | weight = "82,5 kg"\n'
        "     | ^^^^^^\n"
    )


def test_a_patients_misspelt_key_suggests_the_right_one(capsys, in_tmp):
    code, _, err = _plan(capsys, in_tmp, _edit(PATIENT, "weight =", "wieght ="))
    assert code == 2
    assert err == (
        "patient.toml:5:1: error: wieght: unknown key 'wieght' (did you mean 'weight'?)\n"
        '   5 | wieght = "82.5 kg"\n'
        "     | ^^^^^^\n"
    )


def test_an_error_in_a_test_patient_points_into_the_protocol_file(capsys, in_tmp):
    text = PROTOCOL + (
        "\n[[test]]\n"
        'name = "x"\n'
        "start = 2026-12-01\n"
        'patient = { id = "T", age = 40, sex = "male", height = "180 cm", wieght = "80 kg" }\n'
        'expect = { verdict = "eligible" }\n'
    )
    code, _, err = _check(capsys, in_tmp, text)
    assert code == 2
    assert err == (
        "protocol.toml:42:66: error: test[1].patient.wieght: unknown key 'wieght' (did you mean 'weight'?)\n"
        '  42 | patient = { id = "T", age = 40, sex = "male", height = "180 cm", wieght = "80 kg" }\n'
        "     |                                                                  ^^^^^^\n"
    )
