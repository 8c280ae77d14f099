"""`ketaplan protocol check`: load errors exit 2; each lint gives its code at the right line; --strict exits 1."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ketaplan.authoring.lint import CODES, contradiction, lint, shortest_span
from ketaplan.load.protocol import read_protocol_bytes
from ketaplan.model.protocol import Phase
from tests.builders import run_cli as _run

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "protocols").glob("*.toml"))
TODAY = date(2026, 11, 27)

# A protocol with none of the warnings: an age floor, a pregnancy rule and an allergy rule.
CLEAN = """\
[protocol]
id = "test-clinic"
title = "Test clinic"
version = "1"
review_due = 2027-11-30

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
sessions = 6
min_gap_days = 3
within_days = 21

[[rule]]
id = "REV-AGE-UNDER-18"
effect = "review"
when = { age_below = 18 }
message = "Under 18."

[[rule]]
id = "EXCL-PREGNANCY"
effect = "exclude"
when = { pregnant = true }
message = "Pregnancy."

[[rule]]
id = "REV-LATEX"
effect = "review"
when = { allergy = ["latex"] }
message = "Latex allergy."
"""
# CLEAN has 40 lines: a rule a test appends with _rule() has its [[rule]] header on line 42.
EXTRA_LINE = 42


def _lint(text: str, today: date = TODAY) -> list[tuple[str, int]]:
    loaded = read_protocol_bytes(text.encode(), "protocol.toml")
    return [(w.code, w.line) for w in lint(loaded.protocol, text, today)]


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _rule(body: str) -> str:
    return "\n[[rule]]\n" + body


# -- the command ---------------------------------------------------------------------------


def test_a_clean_protocol_prints_its_summary_and_no_warnings(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("protocol.toml").write_text(CLEAN, encoding="utf-8")
    assert _run(capsys, "protocol", "check", "protocol.toml", "--strict") == (
        0,
        "ok: test-clinic 1: 3 rules, 1 phase, 0 tests\n",
        "",
    )


def test_warnings_go_to_stderr_with_their_code_and_caret(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("protocol.toml").write_text(_edit(CLEAN, "within_days = 21", "within_days = 14"), encoding="utf-8")
    code, out, err = _run(capsys, "protocol", "check", "protocol.toml")
    assert (code, out) == (0, "1 warning: test-clinic 1: 3 rules, 1 phase, 0 tests\n")
    assert err == (
        "protocol.toml:22:1: warning: W-PHASE-CANNOT-FIT: phase 'induction': 6 sessions at least 3 days apart on "
        "tue, fri span at least 17 days (starting on a tue, with no holidays), more than within_days = 14: every "
        "plan would get SCHEDULE-OVERRUN\n"
        "  22 | within_days = 14\n"
        "     | ^^^^^^^^^^^\n"
    )


def test_a_quoted_line_cannot_drive_the_terminal(capsys, tmp_path, monkeypatch):
    # A right-to-left override in a comment would make the quoted line read differently.
    monkeypatch.chdir(tmp_path)
    text = _edit(CLEAN, "within_days = 21", "within_days = 14  # \u202e12 = syad_nihtiw")
    Path("protocol.toml").write_text(text, encoding="utf-8")
    _, _, err = _run(capsys, "protocol", "check", "protocol.toml")
    assert "\u202e" not in err
    assert "  22 | within_days = 14  # \\u202e12 = syad_nihtiw\n" in err


def test_strict_turns_a_warning_into_exit_1(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("protocol.toml").write_text(_edit(CLEAN, "within_days = 21", "within_days = 14"), encoding="utf-8")
    code, _, _ = _run(capsys, "protocol", "check", "protocol.toml", "--strict")
    assert code == 1


def test_duplicate_rule_ids_are_a_load_error_with_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = CLEAN + _rule('id = "REV-LATEX"\neffect = "note"\nmessage = "Again."\n')
    Path("protocol.toml").write_text(text, encoding="utf-8")
    code, out, err = _run(capsys, "protocol", "check", "protocol.toml")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == (
        f"protocol.toml:{EXTRA_LINE + 1}:1: error: rule[4].id: 'REV-LATEX' is used by rule 3 already: "
        "rule ids must be unique"
    )


def test_a_missing_max_mg_is_a_load_error_with_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("protocol.toml").write_text(_edit(CLEAN, "max_mg = 60\n", ""), encoding="utf-8")
    code, out, err = _run(capsys, "protocol", "check", "protocol.toml")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == "protocol.toml:10:2: error: dose.max_mg: required key 'max_mg' is missing"


def test_a_missing_file_is_an_error_with_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _run(capsys, "protocol", "check", "nowhere.toml") == (2, "", "nowhere.toml: error: no such file\n")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_each_example_protocol_passes_its_own_linter_strictly(capsys, example):
    # A shipped example is what a clinic starts from: it must pass `protocol check --strict` itself.
    assert _lint(example.read_text(encoding="utf-8"), date(2026, 12, 1)) == []
    code, out, err = _run(capsys, "protocol", "check", "--strict", str(example))
    assert (code, err) == (0, "") and out.startswith("ok: ")


# -- one snippet per lint -------------------------------------------------------------------


def test_no_rule_for_minors_warns_no_age_floor():
    text = _edit(CLEAN, "when = { age_below = 18 }", "when = { age_below = 16 }")
    assert _lint(text) == [("W-NO-AGE-FLOOR", 1)]


def test_an_age_floor_limited_to_one_sex_does_not_cover_every_minor():
    text = _edit(CLEAN, "when = { age_below = 18 }", 'when = { age_below = 18, sex = "female" }')
    assert _lint(text) == [("W-NO-AGE-FLOOR", 1)]


def test_an_age_floor_written_as_not_age_at_least_counts():
    text = _edit(CLEAN, "when = { age_below = 18 }", "when = { not = { age_at_least = 18 } }")
    assert _lint(text) == []


def test_no_pregnancy_rule_warns():
    text = _edit(CLEAN, "when = { pregnant = true }", "when = { breastfeeding = true }")
    assert _lint(text) == [("W-NO-PREGNANCY-RULE", 1)]


def test_a_pregnancy_note_alone_is_not_a_pregnancy_rule():
    text = _edit(CLEAN, 'effect = "exclude"\nwhen = { pregnant = true }', 'effect = "note"\nwhen = { pregnant = true }')
    assert _lint(text) == [("W-NO-PREGNANCY-RULE", 1)]


def test_no_allergy_rule_warns():
    text = _edit(CLEAN, 'when = { allergy = ["latex"] }', 'when = { medication = ["lamotrigine"] }')
    assert _lint(text) == [("W-NO-ALLERGY-RULE", 1)]


def test_a_review_date_before_today_warns_at_review_due():
    assert _lint(CLEAN, today=date(2027, 12, 1)) == [("W-REVIEW-DUE-PASSED", 5)]


def test_a_review_date_of_today_has_not_passed():
    assert _lint(CLEAN, today=date(2027, 11, 30)) == []


def test_contradictory_age_bounds_can_never_fire():
    text = CLEAN + _rule('id = "REV-X"\neffect = "review"\nwhen = { age_at_least = 65, age_below = 18 }\nmessage = "x"\n')
    assert _lint(text) == [("W-RULE-CANNOT-FIRE", EXTRA_LINE + 3)]


def test_contradictory_weight_bounds_can_never_fire():
    body = 'id = "REV-X"\neffect = "review"\nwhen = { weight_kg_at_least = 100, weight_kg_below = 100 }\nmessage = "x"\n'
    assert _lint(CLEAN + _rule(body)) == [("W-RULE-CANNOT-FIRE", EXTRA_LINE + 3)]


def test_sex_both_ways_through_not_can_never_fire():
    body = 'id = "REV-X"\neffect = "review"\nwhen = { sex = "male", not = { sex = "male" } }\nmessage = "x"\n'
    assert _lint(CLEAN + _rule(body)) == [("W-RULE-CANNOT-FIRE", EXTRA_LINE + 3)]


def test_a_same_when_is_found_whatever_the_order_and_spelling():
    first = 'id = "HOLD-BENZO"\neffect = "hold"\nwhen = { medication = ["lorazepam", "benzo"] }\nhold = "h"\nmessage = "x"\n'
    second = 'id = "REV-BENZO"\neffect = "review"\nwhen = { medication = ["benzodiazepine", "Ativan"] }\nmessage = "y"\n'
    assert _lint(CLEAN + _rule(first) + _rule(second)) == [("W-SAME-WHEN", EXTRA_LINE + 10)]


def test_two_rules_without_when_are_not_the_same_when():
    notes = _rule('id = "NOTE-A"\neffect = "note"\nmessage = "a"\n') + _rule('id = "NOTE-B"\neffect = "note"\nmessage = "b"\n')
    assert _lint(CLEAN + notes) == []


def test_overlapping_adjust_rules_setting_max_mg_name_the_lower_cap():
    first = 'id = "ADJ-AGE"\neffect = "adjust"\nwhen = { age_at_least = 65 }\nmax_mg = 50\nmessage = "x"\n'
    second = 'id = "ADJ-LIGHT"\neffect = "adjust"\nwhen = { weight_kg_below = 50 }\nmax_mg = 40\nmessage = "y"\n'
    loaded = read_protocol_bytes((CLEAN + _rule(first) + _rule(second)).encode(), "protocol.toml")
    warnings = lint(loaded.protocol, loaded.text, TODAY)
    assert [(w.code, w.line, w.message) for w in warnings] == [
        (
            "W-ADJUST-OVERLAP",
            EXTRA_LINE + 11,
            "ADJ-AGE and ADJ-LIGHT can both apply to one patient and both set max_mg: the lower cap wins (40 mg, ADJ-LIGHT)",
        )
    ]


def test_overlapping_dose_factors_say_that_they_multiply():
    first = 'id = "ADJ-A"\neffect = "adjust"\nwhen = { age_at_least = 65 }\ndose_factor = 0.75\nmessage = "x"\n'
    second = 'id = "ADJ-B"\neffect = "adjust"\ndose_factor = 0.8\nmessage = "y"\n'
    loaded = read_protocol_bytes((CLEAN + _rule(first) + _rule(second)).encode(), "protocol.toml")
    (warning,) = lint(loaded.protocol, loaded.text, TODAY)
    assert (warning.code, warning.line) == ("W-ADJUST-OVERLAP", EXTRA_LINE + 10)
    assert "the factors multiply (0.75 x 0.8 = 0.6)" in warning.message


def test_adjust_rules_on_exclusive_ages_do_not_overlap():
    first = 'id = "ADJ-A"\neffect = "adjust"\nwhen = { age_at_least = 65 }\ndose_factor = 0.75\nmessage = "x"\n'
    second = 'id = "ADJ-B"\neffect = "adjust"\nwhen = { age_below = 65 }\ndose_factor = 0.8\nmessage = "y"\n'
    assert _lint(CLEAN + _rule(first) + _rule(second)) == []


def test_adjust_rules_on_exclusive_heart_rates_still_overlap_when_it_is_not_recorded():
    # An unrecorded heart rate makes both rules unknown, and an unknown adjust rule is applied.
    first = 'id = "ADJ-A"\neffect = "adjust"\nwhen = { heart_rate_at_least = 100 }\nmax_mg = 50\nmessage = "x"\n'
    second = 'id = "ADJ-B"\neffect = "adjust"\nwhen = { heart_rate_below = 100 }\nmax_mg = 40\nmessage = "y"\n'
    assert _lint(CLEAN + _rule(first) + _rule(second)) == [("W-ADJUST-OVERLAP", EXTRA_LINE + 11)]


def test_a_hold_on_a_class_with_no_drugs_points_at_that_name():
    text = CLEAN + '\n[vocabulary.drugs]\n"empty class" = []\n' + _rule(
        'id = "HOLD-X"\neffect = "hold"\nwhen = { medication = ["lorazepam", "empty class"] }\nhold = "h"\nmessage = "x"\n'
    )
    loaded = read_protocol_bytes(text.encode(), "protocol.toml")
    (warning,) = lint(loaded.protocol, loaded.text, TODAY)
    assert (warning.code, warning.line, warning.column) == ("W-HOLD-MATCHES-NO-DRUG", EXTRA_LINE + 6, 37)
    assert warning.excerpt.splitlines()[1].endswith(" " * 36 + "^" * len('"empty class"'))


def test_a_phase_that_cannot_fit_within_days_warns_at_within_days():
    assert _lint(_edit(CLEAN, "within_days = 21", "within_days = 16")) == [("W-PHASE-CANNOT-FIT", 22)]


def test_a_phase_that_just_fits_within_days_does_not_warn():
    assert _lint(_edit(CLEAN, "within_days = 21", "within_days = 17")) == []


def test_a_titrate_rule_without_when_warns():
    rule = '\n[[rule]]\nid = "TITRATE-ALL"\neffect = "titrate"\nmg_per_kg = 0.75\nmessage = "m"\n'
    assert [code for code, _ in _lint(CLEAN + rule)] == ["W-TITRATE-ALWAYS"]
    with_when = rule.replace('effect = "titrate"', 'effect = "titrate"\nwhen = { series_sessions_at_least = 3 }')
    assert _lint(CLEAN + with_when) == []


def test_every_code_is_documented():
    docs = (Path(__file__).resolve().parent.parent / "docs" / "protocol-authoring.md").read_text(encoding="utf-8")
    assert [code for code in CODES if code not in docs] == []


# -- the reasoning behind the lints -------------------------------------------------------


def test_six_sessions_three_days_apart_on_tuesdays_and_fridays_span_17_days():
    assert shortest_span(Phase("induction", 6, 3), frozenset({1, 4})) == (17, 1)


def test_ten_daily_sessions_on_weekdays_span_13_days_from_a_monday():
    assert shortest_span(Phase("course", 10, 1), frozenset(range(5))) == (11, 0)


def test_a_male_patient_is_never_recorded_pregnant():
    loaded = read_protocol_bytes(
        (CLEAN + _rule('id = "REV-X"\neffect = "review"\nwhen = { sex = "male", pregnant = true }\nmessage = "x"\n')).encode(),
        "protocol.toml",
    )
    rule = loaded.protocol.rules[-1]
    assert contradiction(rule.when.clauses) == 'sex = "male" and pregnant = true can never both be true'


def test_an_any_fails_only_when_every_branch_contradicts():
    body = 'id = "REV-X"\neffect = "review"\nwhen = { age_at_least = 65, any = [{ age_below = 18 }, { bmi_at_least = 35 }] }\nmessage = "x"\n'
    loaded = read_protocol_bytes((CLEAN + _rule(body)).encode(), "protocol.toml")
    assert contradiction(loaded.protocol.rules[-1].when.clauses) is None
