"""`ketaplan protocol test`: each [[test]] case drafted and compared; a failure shows expected against actual."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ketaplan.authoring.testing import run_case
from ketaplan.load.protocol import read_protocol_bytes
from tests.builders import run_cli as _run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "protocols").glob("*.toml"))

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

[schedule]
days = ["tue", "fri"]

[[schedule.phase]]
name = "induction"
sessions = 3
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
"""

PASSING = """
[[test]]
name = "eligible: 82.5 kg gives 41.25 mg, 41 mg"
start = 2026-12-01
patient = { id = "T-1", age = 40, sex = "female", height = "165 cm", weight = "82.5 kg", pregnant = false, allergies = [], conditions = ["major depressive disorder"], medications = [] }
expect = { verdict = "eligible", findings_exact = [], first_dose_mg = 41, dates = [2026-12-01, 2026-12-04, 2026-12-08] }
"""

FAILING = """
[[test]]
name = "aged 70: needs review, and the author expected a lower dose"
start = 2026-12-01
patient = { id = "T-2", age = 70, sex = "male", height = "175 cm", weight = "80 kg", allergies = [], conditions = ["major depressive disorder"], medications = [] }
expect = { verdict = "eligible", findings = ["REV-AGE-65", "ADJ-AGE-65"], first_dose_mg = 30, dates = [2026-12-01, 2026-12-04, 2026-12-07] }
"""


@pytest.fixture
def write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def write(text: str) -> str:
        Path("protocol.toml").write_text(text, encoding="utf-8")
        return "protocol.toml"

    return write


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_protocols_cases_pass(capsys, example):
    code, out, err = _run(capsys, "protocol", "test", str(example))
    cases = len(read_protocol_bytes(example.read_bytes(), example.name).protocol.tests)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == f"{cases} passed, 0 failed"


def test_passing_cases_print_one_line_each_and_the_count(capsys, write):
    assert _run(capsys, "protocol", "test", write(PROTOCOL + PASSING)) == (
        0,
        "ok    1/1 eligible: 82.5 kg gives 41.25 mg, 41 mg\n1 passed, 0 failed\n",
        "",
    )


def test_a_failing_case_shows_every_aspect_expected_against_actual_and_exits_1(capsys, write):
    code, out, err = _run(capsys, "protocol", "test", write(PROTOCOL + PASSING + FAILING))
    assert (code, err) == (1, "")
    assert out == (
        "ok    1/2 eligible: 82.5 kg gives 41.25 mg, 41 mg\n"
        "FAIL  2/2 aged 70: needs review, and the author expected a lower dose  (protocol.toml:40)\n"
        "    x verdict     expected: eligible\n"
        "                  actual:   needs-review\n"
        "    x findings    expected: include REV-AGE-65, ADJ-AGE-65\n"
        "                  actual:   REV-AGE-65 [review]  (missing: ADJ-AGE-65)\n"
        "    x first dose  expected: 30 mg\n"
        "                  actual:   40 mg\n"
        "    x dates       expected: 2026-12-01, 2026-12-04, 2026-12-07\n"
        "                  actual:   2026-12-01, 2026-12-04, 2026-12-08\n"
        "1 passed, 1 failed\n"
    )


def test_a_case_name_cannot_drive_the_terminal(capsys, write):
    case = PASSING.replace('name = "eligible:', 'name = "\u202eeligible:')
    _, out, _ = _run(capsys, "protocol", "test", write(PROTOCOL + case))
    assert out.splitlines()[0] == "ok    1/1 \\u202eeligible: 82.5 kg gives 41.25 mg, 41 mg"


def test_aspects_a_case_does_not_give_are_shown_but_not_checked(capsys, write):
    case = FAILING.replace(
        'expect = { verdict = "eligible", findings = ["REV-AGE-65", "ADJ-AGE-65"], first_dose_mg = 30, '
        "dates = [2026-12-01, 2026-12-04, 2026-12-07] }",
        'expect = { verdict = "excluded" }',
    )
    code, out, _ = _run(capsys, "protocol", "test", write(PROTOCOL + case))
    assert code == 1
    assert out.splitlines()[1:9] == [
        "    x verdict     expected: excluded",
        "                  actual:   needs-review",
        "      findings    expected: (not checked)",
        "                  actual:   REV-AGE-65 [review]",
        "      first dose  expected: (not checked)",
        "                  actual:   40 mg",
        "      dates       expected: (not checked)",
        "                  actual:   2026-12-01, 2026-12-04, 2026-12-08",
    ]


def test_findings_exact_names_what_is_missing_and_what_was_not_expected(capsys, write):
    case = PASSING.replace("age = 40", "age = 70").replace("findings_exact = []", 'findings_exact = ["NOTE-X"]')
    code, out, _ = _run(capsys, "protocol", "test", write(PROTOCOL + case))
    assert code == 1
    assert out.splitlines()[5:7] == [
        "    x exactly     expected: NOTE-X",
        "                  actual:   REV-AGE-65  (missing: NOTE-X; not expected: REV-AGE-65)",
    ]


def test_an_excluded_patients_first_dose_is_none(capsys, write):
    case = PASSING.replace('["major depressive disorder"]', '["schizophrenia"]').replace(
        'expect = { verdict = "eligible", findings_exact = [], first_dose_mg = 41, dates = [2026-12-01, 2026-12-04, 2026-12-08] }',
        'expect = { verdict = "excluded", findings = ["EXCL-PSYCHOSIS"], first_dose_mg = "none", dates = [] }',
    )
    assert _run(capsys, "protocol", "test", write(PROTOCOL + case))[0] == 0


def test_no_cases_is_0_passed_0_failed_with_a_note(capsys, write):
    code, out, err = _run(capsys, "protocol", "test", write(PROTOCOL))
    assert (code, out) == (0, "0 passed, 0 failed\n")
    assert err.startswith("note: protocol.toml has no [[test]] cases")


def test_a_case_with_a_bad_patient_is_a_load_error_with_exit_2(capsys, write):
    code, out, err = _run(capsys, "protocol", "test", write(PROTOCOL + PASSING.replace('"82.5 kg"', '"82,5 kg"')))
    assert (code, out) == (2, "")
    assert err.startswith("protocol.toml:37:70: error: test[1].patient.weight: '82,5 kg' is not a weight")


def test_a_case_long_past_does_not_pick_up_a_start_in_past_note():
    # "Now" is the case's own start date, so the result does not depend on when the tests run.
    text = PROTOCOL + PASSING.replace("2026-12-01, 2026-12-04, 2026-12-08", "2020-01-07, 2020-01-10, 2020-01-14").replace(
        "start = 2026-12-01", "start = 2020-01-07"
    )
    loaded = read_protocol_bytes(text.encode(), "protocol.toml")
    result = run_case(loaded.protocol.tests[0], loaded)
    assert result.passed, result.checks


def test_a_case_with_no_open_day_fails_with_the_reason():
    loaded = read_protocol_bytes(
        (PROTOCOL.replace('days = ["tue", "fri"]', 'days = ["tue", "fri"]\nholidays = "GB-ENG"') + PASSING).encode(),
        "protocol.toml",
    )

    def every_day(year: int) -> frozenset[date]:
        first = date(year, 1, 1).toordinal()
        return frozenset(date.fromordinal(first + i) for i in range(366) if date.fromordinal(first + i).year == year)

    result = run_case(loaded.protocol.tests[0], loaded, every_day, "test")
    assert not result.passed
    assert result.error == (
        "schedule: no allowed date within 366 days of 2026-12-01 for phase 'induction' session 1 "
        "(days tue, fri, minus holidays and closed dates)"
    )
