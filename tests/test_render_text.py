"""The terminal view: the verdict first, doses written the ISMP way, patient text inert."""

from __future__ import annotations

import re

import pytest

from ketaplan.render.text import TextRenderer
from ketaplan.units import find_forbidden
from tests.plan_fixtures import (
    ALL_PLANS,
    ELIGIBLE,
    EXCLUDED,
    HOSTILE,
    HOSTILE_MEDICATION,
    NEEDS_REVIEW,
    RATE,
    SHORT_STATURE_MESSAGE,
)

WIDE = 400  # wide enough that no line wraps: exact sentences can be compared


def _view(plan, *, color: bool = False, width: int | None = None) -> str:
    return TextRenderer(color=color, width=width).render(plan)


def _lines(plan, width: int | None = None) -> list[str]:
    return _view(plan, width=width).split("\n")


def _cells(line: str) -> list[str]:
    """The cells of a schedule row: columns are two or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())


def _row(plan, number: int, width: int | None = None) -> list[str]:
    for line in _lines(plan, width):
        cells = _cells(line)
        if cells[0] == str(number) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", cells[1]):
            return cells
    raise AssertionError(f"no schedule row for session {number}")


# ------------------------------------------------------------------ title and verdict


def test_the_view_opens_with_the_draft_title_then_the_verdict():
    lines = _lines(NEEDS_REVIEW, WIDE)
    assert lines[0] == "DRAFT — P-0150 — trd-iv-induction 2026.11"
    assert lines[1] == (
        "VERDICT: NEEDS REVIEW — acknowledge 2 findings with a reason at sign-off: "
        "EXCL-PSYCHOSIS, IDEAL-WEIGHT-SHORT-STATURE"
    )


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_the_verdict_is_said_again_at_the_very_end(name):
    lines = _lines(ALL_PLANS[name], WIDE)
    assert lines[-2] == lines[1] and lines[-1] == ""


def test_the_verdict_comes_before_the_findings():
    view = _view(NEEDS_REVIEW)
    assert view.index("VERDICT:") < view.index("EXCL-PSYCHOSIS")


def test_an_eligible_plan_has_nothing_to_acknowledge():
    assert _lines(ELIGIBLE)[1] == "VERDICT: ELIGIBLE — nothing to acknowledge; a clinician checks and signs it"


def test_an_excluded_plan_shows_verdict_findings_and_no_doses():
    view = _view(EXCLUDED, width=WIDE)
    assert view.split("\n")[1] == (
        "VERDICT: EXCLUDED — the protocol excludes this patient (EXCL-PSYCHOSIS): no sessions or doses are "
        "drafted; 1 other finding needs review"
    )
    assert "EXCL-PSYCHOSIS" in view and "REV-BP" in view
    assert "No sessions or doses are drafted for this patient under this protocol" in view
    assert " mg" not in view and "Schedule" not in view and "Sign-off" not in view


# ------------------------------------------------------------------ findings


def test_findings_are_listed_most_serious_first():
    view = _view(EXCLUDED, width=WIDE)
    assert view.index("exclude  EXCL-PSYCHOSIS") < view.index("review   REV-BP")
    assert "Findings: 1 exclusion, 1 needs review, most serious first\n" in view


def test_an_unchecked_exclude_rule_says_so_in_its_first_words():
    view = _view(NEEDS_REVIEW, width=WIDE)
    row = next(line for line in view.split("\n") if "EXCL-PSYCHOSIS  " in line)
    assert row.split("  could not be checked (an exclude rule): ")[1] == "History of psychosis."
    assert row.split()[0] == "review"


def test_an_unchecked_exclude_rule_comes_before_other_reviews():
    view = _view(NEEDS_REVIEW, width=WIDE)
    assert view.index("EXCL-PSYCHOSIS  ") < view.index("IDEAL-WEIGHT-SHORT-STATURE  ") < view.index("HOLD-BENZODIAZEPINE  ")


def test_a_finding_shows_its_evidence_and_source():
    view = _view(ELIGIBLE, width=WIDE)
    assert "· medication 'lorazepam 1 mg at night' is lorazepam, a benzodiazepine\n" in view
    assert "Source: APA consensus 2017" in view


def test_a_note_is_folded_to_one_line_and_verbose_shows_it_whole():
    long_note = RATE.findings[0]._replace(message="A cap lowered a dose or a rate. " * 5)
    plan = RATE._replace(findings=(long_note,))
    folded = TextRenderer(width=80).render(plan)
    row = next(line for line in folded.split("\n") if "DOSE-CAPPED" in line)
    assert row.endswith("…") and len(row) == 80
    assert "session 2: 43 mg/h capped" not in folded
    whole = TextRenderer(width=80, verbose=True).render(plan)
    assert "…" not in whole
    assert "session 2: 43 mg/h capped at 40 mg/h" in whole


# ------------------------------------------------------------------ patient


def test_patient_summary_gives_body_size_and_weighing_date():
    view = _view(ELIGIBLE)
    assert "Patient: P-0107, 45 years, female, 165 cm, 82.5 kg (weighed on 2026-11-20)\n" in view
    assert "Body size: BMI 30.3 · ideal 56.9 kg · adjusted 67.1 kg · lean 47.3 kg\n" in view


def test_a_bmi_is_truncated_never_rounded_up_over_a_threshold():
    from fractions import Fraction

    patient = ELIGIBLE.patient._replace(bmi=Fraction("34.9965"))
    assert "BMI 34.9 ·" in _view(ELIGIBLE._replace(patient=patient))


def test_below_152_4_cm_the_ideal_weight_is_said_to_be_undefined():
    view = _view(NEEDS_REVIEW, width=WIDE)
    assert "ideal not defined at this height" in view
    assert "(date of weighing not recorded)" in view


# ------------------------------------------------------------------ dose calculation


def test_dose_calculation_is_shown_step_by_step():
    assert (
        "  • Sessions 1–6: 0.5 mg/kg × 82.5 kg = 41.25 mg → rounded to 41 mg → cap 60 mg not reached: "
        "0.497 mg/kg given\n"
    ) in _view(ELIGIBLE, width=WIDE)


def test_dosing_weight_names_its_basis_and_where_it_comes_from():
    assert "  Dosing weight: 82.5 kg, actual weight (protocol dose.weight_basis); no factors\n" in _view(ELIGIBLE)


def test_a_dose_factor_is_shown_with_its_rule():
    from fractions import Fraction

    from ketaplan.model.plan import Factor

    dosing = ELIGIBLE.dosing._replace(factors=(Factor("ADJ-AGE-65", Fraction(3, 4)),))
    view = _view(ELIGIBLE._replace(dosing=dosing), width=WIDE)
    assert "  Factors: × 0.75 (ADJ-AGE-65)\n" in view
    assert "0.5 mg/kg × 82.5 kg × 0.75 (ADJ-AGE-65) = 41.25 mg" in view


def test_a_cap_set_by_a_rule_names_the_rule():
    dosing = ELIGIBLE.dosing._replace(cap_rule="ADJ-FRAIL-CAP")
    assert "; cap 60 mg (ADJ-FRAIL-CAP)\n" in _view(ELIGIBLE._replace(dosing=dosing), width=WIDE)


def test_a_rate_dose_shows_the_hourly_steps_then_the_session_total():
    view = _view(RATE, width=WIDE)
    assert (
        "  • Session 1: 0.5 mg/kg/h × 72.5 kg = 36.25 mg/h → rounded to 36 mg/h "
        "→ cap 40 mg/h not reached → 36 mg/h × 4 h = 144 mg "
        "per session → cap 200 mg not reached: 0.497 mg/kg/h given\n"
    ) in view


def test_a_rate_lowered_by_the_hourly_cap_says_so():
    view = _view(RATE, width=WIDE)
    assert (
        "= 43.5 mg/h → rounded to 43 mg/h → capped at 40 mg/h "
        "(dose.max_mg_per_hour) → 40 mg/h × 4 h = 160 mg per session"
    ) in view


def test_a_rate_lowered_by_the_session_cap_says_so():
    session = RATE.sessions[1]._replace(capped_by="dose.max_mg")
    dosing = RATE.dosing._replace(cap_mg=RATE.sessions[1].dose_mg)
    view = _view(RATE._replace(sessions=(session,), dosing=dosing), width=WIDE)
    assert (
        "→ cap 40 mg/h not reached → 43 mg/h × 4 h would pass the cap of 160 mg (dose.max_mg): "
        "rate lowered to 40 mg/h → 40 mg/h × 4 h = 160 mg per session:"
    ) in view


def test_short_stature_says_no_dose_is_drafted_and_why():
    view = _view(NEEDS_REVIEW, width=WIDE)
    assert "  Dosing weight: not set, ideal weight (protocol dose.weight_basis); no factors\n" in view
    assert "  • Sessions 1–2: 0.5 mg/kg: no dose is drafted\n" in view
    assert (
        "  No dose is drafted: there is no ideal weight to dose on for this patient. "
        f"IDEAL-WEIGHT-SHORT-STATURE: {SHORT_STATURE_MESSAGE}\n"
    ) in view


# ------------------------------------------------------------------ schedule


def test_a_schedule_row_gives_the_dose_and_the_mg_per_kg_given():
    assert _row(ELIGIBLE, 1) == ["1", "2026-12-01", "Tue", "41 mg", "0.497 mg/kg"]


def test_values_the_same_in_every_session_are_said_once_above_the_table():
    view = _view(ELIGIBLE, width=WIDE)
    assert (
        "Schedule: 6 sessions (mg/kg given); every session: Phase induction · Time 40 min · Draw 4.1 mL · "
        "Conc. 0.41 mg/mL · Volume 100 mL · Pump 150 mL/h\n"
    ) in view


def test_columns_that_vary_stay_in_the_table():
    sessions = ELIGIBLE.sessions[:4] + tuple(s._replace(phase="maintenance") for s in ELIGIBLE.sessions[4:])
    assert _row(ELIGIBLE._replace(sessions=sessions), 5)[3] == "maintenance"


def test_a_rate_schedule_row_gives_the_hourly_rate_and_marks_the_cap():
    assert _row(RATE, 2) == ["2", "2026-12-03", "Thu", "160 mg", "†", "0.55 mg/kg/h", "40 mg/h", "16 mL", "160 mL", "40 mL/h"]
    assert "† capped: lowered to the 40 mg/h cap (dose.max_mg_per_hour)\n" in _view(RATE)


def test_a_session_without_a_dose_shows_not_drafted():
    assert _row(NEEDS_REVIEW, 1) == ["1", "2026-12-01", "Tue", "not drafted", "—"]


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_at_80_columns_each_session_is_one_row(name):
    plan = ALL_PLANS[name]
    for s in plan.sessions:
        assert _row(plan, s.number, 80)[1] == s.date.isoformat()


def test_a_narrow_terminal_lists_sessions_rather_than_cutting_a_value():
    view = _view(RATE, width=60)
    assert "  Session 2: Thu 2026-12-03\n    Dose: 160 mg †\n    mg/kg/h given: 0.55 mg/kg/h\n    Hourly rate: 40 mg/h\n" in view
    assert "    Pump rate: 40 mL/h\n" in view


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_no_line_is_wider_than_the_view(name):
    for width in (60, 80, 100):
        assert max(len(line) for line in _lines(ALL_PLANS[name], width)) <= width


# ------------------------------------------------------------------ ISMP


def test_doses_are_written_without_trailing_zeros_and_with_leading_zeros():
    view = _view(ELIGIBLE)
    assert "41 mg" in view and "0.5 mg/kg" in view
    assert "41.0" not in view and " .5" not in view


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_no_error_prone_dose_form_appears(name):
    assert find_forbidden(_view(ALL_PLANS[name], width=WIDE)) == []


# ------------------------------------------------------------------ holds, checklists, sign-off, footer


def test_a_hold_gives_its_medications_and_instruction():
    view = _view(ELIGIBLE, width=WIDE)
    assert "  • HOLD-BENZODIAZEPINE (lorazepam): Omit the evening before and the morning of each session" in view


def test_a_hold_to_confirm_is_marked_and_says_why():
    view = _view(NEEDS_REVIEW, width=WIDE)
    assert "  • HOLD-BENZODIAZEPINE (medications not named), TO CONFIRM (medications are not recorded): Omit" in view


def test_checklists_are_given_for_before_during_and_after():
    view = _view(ELIGIBLE)
    assert "Before each session (2), one line each (--verbose: whole)\n  [ ] Written informed consent on file\n" in view
    assert "During each session (1), one line each (--verbose: whole)\n  [ ] Blood pressure, heart rate" in view
    assert "After each session (2), one line each (--verbose: whole)\n  [ ] Observe for at least 60 minutes\n" in view


def test_a_session_check_names_its_session_and_date():
    assert "  [ ] Session 6, Mon 2026-12-14: Weigh again and re-draft before this session\n" in _view(ELIGIBLE)


def test_sign_off_lists_each_finding_to_acknowledge():
    view = _view(NEEDS_REVIEW)
    assert "Sign-off\n  Each finding below needs review." in view
    assert "    [ ] EXCL-PSYCHOSIS  reason: ____" in view
    assert "    [ ] IDEAL-WEIGHT-SHORT-STATURE  reason: ____" in view


def test_the_footer_gives_versions_start_and_hash_prefixes():
    assert (
        "ketaplan 0.1.0 · vocabulary 2026.11 · holidays 0.109 · start 2026-12-01 · sha256 patient a3f1c2d4e5b6, "
        "protocol 0f9e8d7c6b5a\n"
    ) in _view(ELIGIBLE, width=WIDE)


def test_without_holiday_data_the_footer_says_none():
    assert "· holidays none ·" in _view(RATE)


# ------------------------------------------------------------------ text from the files is inert


def test_rich_markup_from_the_patient_file_prints_literally():
    view = _view(HOSTILE, width=WIDE)
    assert "[red]markup[/red]" in view
    assert "[bold]grave[/bold]" in view
    assert "<script>alert(1)</script> | pipe |" in view
    assert "`rm -rf`" in view


def test_markup_from_the_protocol_file_prints_literally():
    assert "[ ] [link=http://example.invalid]Confirm[/link] consent" in _view(HOSTILE, width=WIDE)


def test_a_newline_in_patient_text_is_shown_as_an_escape():
    view = _view(HOSTILE, width=WIDE)
    assert "`rm -rf` \\nnext line' is not in the vocabulary" in view
    assert HOSTILE_MEDICATION not in view


def test_an_escape_character_in_patient_text_is_made_visible():
    view = _view(HOSTILE, width=WIDE)
    assert "condition '\\x1b[31mred\\x1b[0m [bold]grave[/bold] | x |'" in view
    assert "\x1b" not in view


def test_c1_controls_and_bidi_overrides_are_made_visible():
    finding = HOSTILE.findings[0]._replace(evidence=("dose \x9b2J\r\u202e0.5\t\x7f",))
    view = _view(HOSTILE._replace(findings=(finding,)), width=WIDE)
    assert "dose \\x9b2J\\x0d\\u202e0.5\\t\\x7f" in view


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_without_colour_no_escape_sequence_is_written(name):
    assert "\x1b" not in _view(ALL_PLANS[name])


def test_colour_from_the_environment_is_ignored_without_colour(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLORTERM", "truecolor")
    assert "\x1b" not in _view(NEEDS_REVIEW)


# ------------------------------------------------------------------ colour


def test_with_colour_the_verdict_is_coloured():
    view = _view(NEEDS_REVIEW, color=True)
    assert "\x1b[1;33mVERDICT: NEEDS REVIEW\x1b[0m — acknowledge 2 findings" in view


def test_an_excluded_verdict_is_red():
    assert "\x1b[1;31mVERDICT: EXCLUDED\x1b[0m" in _view(EXCLUDED, color=True)


def test_with_colour_patient_text_still_cannot_inject_an_escape():
    view = _view(HOSTILE, color=True, width=WIDE)
    assert "\x1b[31mred" not in view
    assert "\\x1b[31mred" in view


def test_colour_does_not_depend_on_the_terminal_type(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[1;32mVERDICT: ELIGIBLE" in _view(ELIGIBLE, color=True)


# ------------------------------------------------------------------ the presentation model


def test_a_later_view_inserts_a_section_where_it_belongs_and_every_view_lays_it_out():
    from ketaplan.render.html import render_html
    from ketaplan.render.markdown import render_markdown
    from ketaplan.render.text import render_view
    from ketaplan.render.view import Para, Section, build_view, spans

    view = build_view(ELIGIBLE).with_section(Section("given", "Given", (Para(spans("3 sessions given.")),)), after="schedule")
    assert [s.key for s in view.sections] == ["findings", "patient", "dose", "schedule", "given", "holds", "checklists", "signoff"]
    text = render_view(view, width=80)
    assert text.index("Schedule:") < text.index("Given\n  3 sessions given.") < text.index("Medication holds")
    assert "## Given\n\n3 sessions given." in render_markdown(view)
    assert '<section id="given"><h2>Given</h2><p>3 sessions given.</p></section>' in render_html(view)


def test_a_block_a_view_does_not_know_is_an_error_not_a_silent_gap():
    from ketaplan.render.text import render_view
    from ketaplan.render.view import Section, build_view

    view = build_view(ELIGIBLE).with_section(Section("chart", "Response", (object(),)))
    with pytest.raises(TypeError, match="cannot lay out"):
        render_view(view)


def test_views_compute_nothing_they_format_no_number_themselves():
    import ketaplan.render.html as html
    import ketaplan.render.markdown as markdown
    import ketaplan.render.text as text

    for module in (text, markdown, html):
        source = open(module.__file__, encoding="utf-8").read()
        assert "ketaplan.units" not in source and "Fraction" not in source and "digest_of" not in source
        assert "signing" not in source.replace("render.signed", "")


def test_a_titrated_session_is_marked_and_names_its_rule():
    from fractions import Fraction

    titrated = ELIGIBLE.sessions[1]._replace(
        amount=Fraction(3, 5), titrated_by="TITRATE-UP", raw_dose_mg=Fraction("49.5"), rounded_mg=Fraction(49),
        dose_mg=Fraction(49), given_per_kg=Fraction(49) / Fraction("82.5"),
    )
    plan = ELIGIBLE._replace(sessions=(ELIGIBLE.sessions[0], titrated))
    view = _view(plan, width=WIDE)
    assert _row(plan, 2, 80)[3:6] == ["49 mg", "‡", "0.59 mg/kg"]
    assert "‡ titrated: the mg/kg set by TITRATE-UP, not the phase's\n" in view
    assert "• Session 2: 0.6 mg/kg (TITRATE-UP) × 82.5 kg = 49.5 mg → rounded to 49 mg" in view
