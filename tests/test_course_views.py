"""The course views (text, Markdown, HTML): the figures they print against hand-worked numbers."""

from __future__ import annotations

import re
from datetime import date
from fractions import Fraction as F

import pytest

from ketaplan.api import draft_files
from ketaplan.render.course import (
    CourseView,
    GivenRow,
    ScalePoint,
    ScaleResponse,
    Titration,
    course_html,
    course_markdown,
    course_text,
    fmt_change,
    svg_chart,
)
from tests.test_sheet import ROOT, START


def view() -> CourseView:
    """EX-001 (73 kg) four sessions into the induction: 36 mg each (0.5 mg/kg x 73 kg = 36.5, an exact
    half, rounds down to 36 mg; 36/73 mg/kg = 0.49315... shown 0.4932 mg/kg)."""
    plan = draft_files(str(ROOT / "examples/patients/eligible-trd.toml"), str(ROOT / "examples/protocols/trd-iv-induction.toml"), START)
    plan = plan._replace(sessions=tuple(s._replace(number=s.number + 4) for s in plan.sessions[:2]))
    given = (
        GivenRow(1, date(2026, 11, 3), F(36), F(36, 73), True, None, (128, 82), (150, 92), ()),
        GivenRow(2, date(2026, 11, 6), F(36), F(36, 73), True, None, (130, 80), (158, 96), ("nausea",)),
        GivenRow(3, date(2026, 11, 10), F(36), F(36, 73), False, "BP 182/104 at 30 min", (126, 80), (182, 104), ("hypertension",)),
        GivenRow(4, date(2026, 11, 13), F(36), F(36, 73), True, None, None, None, None),
    )  # fmt: skip
    response = (
        # MADRS 32 -> 24: (32 - 24) / 32 = 25 % exactly: partial (25 <= x < 50).
        ScaleResponse("madrs", 32, 24, date(2026, 11, 13), F(25), "partial",
                      (ScalePoint(date(2026, 10, 30), 32, "baseline"), ScalePoint(date(2026, 11, 6), 28, "assessment"),
                       ScalePoint(date(2026, 11, 13), 24, "assessment")), 60, 10),
        # PHQ-9 19 -> 16: 3/19 = 15.789... %, shown truncated: 15.7 %.
        ScaleResponse("phq9", 19, 16, date(2026, 11, 13), F(300, 19), "no response",
                      (ScalePoint(None, 19, "baseline"), ScalePoint(date(2026, 11, 6), 17, "assessment"),
                       ScalePoint(date(2026, 11, 13), 16, "assessment")), 27, 5),
        ScaleResponse("gad7", 12, None, None, None, "unknown", (ScalePoint(None, 12, "baseline"),), 21, 5),
    )  # fmt: skip
    titration = (Titration(5, "TITRATE-NONRESPONSE", ("TITRATE-TOLERABILITY",)), Titration(6, "TITRATE-NONRESPONSE"))
    return CourseView(plan, "trd-iv-induction", given, response, 4, titration)


@pytest.mark.parametrize(
    "change, shown",
    [
        (F(25), "25.0 % lower"),
        (F(300, 19), "15.7 % lower"),  # 15.789...: truncated, never rounded up
        (F(4996, 100), "49.9 % lower"),  # a shown 50.0 % is never an exact 49.96 %
        (F(50), "50.0 % lower"),
        (F(-25, 2), "12.5 % higher"),
        (F(-1000, 21), "47.6 % higher"),  # -47.619...: truncated toward zero
        (F(1, 100), "0.0 % lower"),
        (F(0), "0.0 % (no change)"),
        (None, "unknown"),
    ],
)
def test_change_is_shown_to_one_decimal_truncated_toward_zero(change, shown):
    assert fmt_change(change) == shown


def test_text_view_order_and_figures_at_80_columns():
    out = course_text(view(), width=80)
    lines = out.splitlines()
    assert lines[0] == "DRAFT COURSE — EX-001 — trd-iv-induction 2026.11"
    assert lines[1].startswith("VERDICT: ELIGIBLE")
    order = [out.index(h) for h in ("\nGiven\n", "\nResponse\n", "\nNext\n", "\nDose calculation\n", "\nSchedule",
                                      "\nFindings", "\nPatient:", "\nMedication holds", "\nBefore each session")]  # fmt: skip
    assert order == sorted(order)
    assert max(len(line) for line in lines) <= 80
    # 36 mg of 73 kg = 0.4931... mg/kg, written as the plan writes a given mg/kg: 0.49 mg/kg.
    assert re.search(r"^  1  2026-11-03  36 mg  0\.49 mg/kg  128/82 → 150/92 +completed +none$", out, re.M)
    assert re.search(r"^  3  2026-11-10  36 mg  0\.49 mg/kg  126/80 → 182/104 +stopped +hypertension$", out, re.M)
    assert re.search(r"^  4  2026-11-13  36 mg  0\.49 mg/kg  not recorded +completed +not recorded$", out, re.M)
    assert "  Session 3 was stopped early: BP 182/104 at 30 min\n" in out
    assert re.search(r"^  MADRS +32 +24  2026-11-13  25\.0 % lower +partial$", out, re.M)
    assert re.search(r"^  PHQ-9 +19 +16  2026-11-13  15\.7 % lower +no response$", out, re.M)
    assert re.search(r"^  GAD-7 +12  none yet +unknown +unknown$", out, re.M)
    assert "MADRS: 2026-10-30 32, 2026-11-06 28, 2026-11-13 24" in out
    assert "(baseline 19 has no date: not drawn)" in out
    assert "• Session 5: 0.5 mg/kg, set by titration rule TITRATE-NONRESPONSE; not used:" in out
    assert "• Session 6: 0.5 mg/kg, set by titration rule TITRATE-NONRESPONSE\n" in out
    # The next doses, hand-worked: 0.5 mg/kg x 73 kg = 36.5 mg, an exact half, rounds down to 36 mg.
    assert "Sessions 5–6: 0.5 mg/kg × 73 kg = 36.5 mg → rounded to 36 mg" in out
    assert re.search(r"^  5  2026-12-01  Tue  36 mg  0\.49 mg/kg$", out, re.M)
    # The chart: drawn by uniplot, one per scale with two dated scores or more, boxed, 0 to the scale's top.
    assert out.count("MADRS (0 to 60)") == 1 and out.count("PHQ-9 (0 to 27)") == 1 and "GAD-7 (0 to" not in out
    assert "\x1b[" not in out
    assert lines[-1].startswith("VERDICT: ELIGIBLE")


def test_markdown_view_has_the_tables_and_no_chart():
    out = course_markdown(view()).replace("\xa0", " ")  # the Markdown view keeps a quantity on one line
    assert out.startswith("# DRAFT course of treatment for patient EX-001\n")
    order = [out.index(h) for h in ("## Verdict", "## Given", "## Response", "## Next", "## Dose calculation",
                                      "## Schedule", "## Findings", "## Patient", "## Medication holds", "## Checklists",
                                      "## Sign-off")]  # fmt: skip
    assert order == sorted(order)
    assert "| 1 | 2026-11-03 | 36 mg | 0.49 mg/kg | 128/82 → 150/92 | completed | none |" in out
    assert "| PHQ-9 | 19 | 16 | 2026-11-13 | 15.7 % lower | no response |" in out
    assert "| not dated | 19 | baseline |" in out
    assert "Session 3 was stopped early: BP 182/104 at 30 min" in out
    assert "<svg" not in out


def test_html_view_has_an_svg_per_scale_with_two_dated_scores():
    out = course_html(view())
    assert out.count("<svg") == 2
    assert '<td data-col="given">0.49 mg/kg</td>' in out
    assert "KETAPLAN-CHART" not in out
    assert '<td class="left" data-col="change">25.0 % lower</td>' in out
    order = [out.index(h) for h in ("VERDICT: ELIGIBLE", "<h2>Given", "<h2>Response", "<h2>Next", "<h2>Findings",
                                      "<h2>Checklists")]  # fmt: skip
    assert order == sorted(order)


def test_svg_places_each_score_and_labels_it():
    r = view().response[0]
    svg = svg_chart(r, width=520, height=170)
    # Plot box: x from 44 to 504 (460 wide), y from 14 to 146 (132 high) for 0..60.
    # 2026-10-30 -> x 44; 2026-11-06 (7 of 14 days) -> x 274; 2026-11-13 -> x 504.
    # 32 -> 14 + 132 * (1 - 32/60) = 75.6; 28 -> 84.4; 24 -> 93.2; remission 10 -> 124.0.
    assert 'points="44.0,75.6 274.0,84.4 504.0,93.2"' in svg
    assert 'y1="124.0"' in svg and "remission below 10" in svg
    for label in (">32<", ">28<", ">24<", ">2026-10-30<", ">2026-11-13<"):
        assert label in svg
    assert svg_chart(view().response[2]) is None  # fewer than two dated scores: no chart


def test_file_text_is_inert_in_every_view():
    v = view()
    hostile = "<b>x</b> \x1b[31m [l](http://e)"
    v = v._replace(given=(v.given[0]._replace(completed=False, stopped_because=hostile),) + v.given[1:])
    assert "<b>x</b>" not in course_html(v)
    assert "\x1b" not in course_text(v, width=80)
    assert "[l](" not in course_markdown(v)


def test_an_excluded_course_shows_given_and_response_and_drafts_nothing():
    v = view()
    excluded = v.plan._replace(verdict="excluded", sessions=(), dosing=None, acknowledge=())
    v = v._replace(plan=excluded, titration=())
    out = course_text(v, width=80)
    assert out.splitlines()[1].startswith("VERDICT: EXCLUDED")
    assert "\nGiven\n" in out and "\nResponse\n" in out
    assert "\nNext\n" not in out and "Schedule" not in out
    assert "No sessions or doses are drafted" in out
    md = course_markdown(v)
    assert "## Given" in md and "## Next" not in md
    assert course_html(v).count("<svg") == 2


def test_no_series_yet_says_the_series_starts_at_session_1():
    v = view()._replace(given=(), continued_from=0)
    assert "No session of a series under trd-iv-induction is recorded" in course_text(v, width=80)


def test_a_plan_without_a_course_is_shown_as_a_series_not_started():
    from ketaplan.render.course import course_view_of

    v = course_view_of(view().plan._replace(course=None))
    assert (v.given, v.response, v.continued_from) == ((), (), 0)
    assert "No session of a series under trd-iv-induction is recorded" in course_text(v, width=80)
