"""The session sheet: the plan's own numbers, laid out to print on A4 and fill in by hand."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from ketaplan.api import draft_files
from ketaplan.errors import KetaplanError
from ketaplan.render.sheet import sheet_html, sheet_markdown
from ketaplan.sheet import DEFAULT_VITALS_AT_MINUTES, GivenSession, build_sheet, parse_sheet_choice

ROOT = Path(__file__).resolve().parent.parent
INDUCTION = str(ROOT / "examples/protocols/trd-iv-induction.toml")
RATE = str(ROOT / "examples/protocols/crps-iv-rate.toml")
START = date(2026, 12, 1)


def plan_of(patient: str, protocol: str = INDUCTION):
    return draft_files(str(ROOT / "examples/patients" / patient), protocol, START)


# Hand-worked: EX-007 weighs 94 kg; 0.5 mg/kg x 94 kg = 47 mg (whole, no rounding, cap 60 mg not reached);
# 47 mg of the 10 mg/mL stock = 4.7 mL, into the 100 mL bag: 47 mg / 100 mL = 0.47 mg/mL;
# 100 mL over 40 min = 150 mL/h.
EX007 = ["EX-007", "47 mg", "0.5 mg/kg", "94 kg", "4.7 mL", "0.47 mg/mL", "100 mL", "150 mL/h", "40 min"]
# EX-001 (73 kg): 0.5 x 73 = 36.5 mg, an exact half, rounds down to 36 mg; 3.6 mL; 0.36 mg/mL; 150 mL/h;
# 36 / 73 = 0.49315... mg/kg given, shown as the plan shows it: 0.49 mg/kg.
EX001 = ["EX-001", "36 mg", "0.5 mg/kg", "73 kg", "36.5 mg", "3.6 mL", "0.36 mg/mL", "100 mL", "150 mL/h",
         "0.49 mg/kg given"]  # fmt: skip


def test_parse_sheet_choice():
    assert parse_sheet_choice("next") == "next"
    assert parse_sheet_choice(" Next ") == "next"
    assert parse_sheet_choice("5") == 5
    for bad in ("0", "-1", "five", "", "1.5"):
        with pytest.raises(KetaplanError, match="^--sheet: "):
            parse_sheet_choice(bad)


def test_next_is_the_first_session_still_to_give_and_n_picks_by_number():
    plan = plan_of("review-bp-150-95.toml")
    assert build_sheet(plan, "next").session == plan.sessions[0]
    assert build_sheet(plan, 3).session == plan.sessions[2]


def test_the_sheet_holds_the_plans_session_unchanged():
    plan = plan_of("eligible-trd.toml")
    sheet = build_sheet(plan, 2)
    assert sheet.session is plan.sessions[1]
    assert sheet.vitals_at_minutes == DEFAULT_VITALS_AT_MINUTES == (0, 15, 30, 40, 60, 90)


@pytest.mark.parametrize("render", [sheet_markdown, sheet_html])
def test_every_figure_is_the_hand_worked_one(render):
    text = render(build_sheet(plan_of("eligible-trd.toml"), "next"))
    for figure in EX001:
        assert figure in text, figure
    assert "Tue 2026-12-01" in text


def test_a_capped_dose_shows_the_cap_and_the_mg_per_kg_of_actual_weight():
    # EX-003 weighs 128 kg: 0.5 x 128 = 64 mg, lowered to the 60 mg cap; 60 / 128 = 0.46875 mg/kg, shown 0.47.
    text = sheet_markdown(build_sheet(plan_of("eligible-dose-capped.toml"), 1))
    assert "**60 mg**" in text
    assert "0.5 mg/kg × 128 kg (actual weight) = 64 mg, lowered to 60 mg by the cap (dose.max\\_mg)" in text
    assert "60 mg is 0.47 mg/kg given" in text


def test_a_rate_protocol_shows_the_rate_and_the_session_total():
    # 0.35 mg/kg/h x 70 kg = 24.5 mg/h, an exact half, rounds down to 24 mg/h; over 4 h = 96 mg;
    # 1 mg/mL final: 96 mL to infuse at 24 mL/h; 96 mg of the 10 mg/mL stock = 9.6 mL.
    text = sheet_markdown(build_sheet(plan_of("crps-eligible.toml", RATE), 1))
    assert "| **Dose** | **96 mg** | in the session of 4 h |" in text
    assert "| **Rate** | **24 mg/h** | 0.35 mg/kg/h × 70 kg (actual weight) = 24.5 mg/h, rounded to 24 mg/h |" in text
    for figure in ("9.6 mL", "1 mg/mL", "96 mL", "24 mL/h"):
        assert figure in text


def test_the_vitals_grid_has_a_row_per_minute_and_two_spare():
    text = sheet_markdown(build_sheet(plan_of("eligible-trd.toml"), 1, vitals_at_minutes=(0, 20, 40, 100)))
    rows = [line for line in text.splitlines() if re.match(r"\| (\d+|___) min \|", line)]
    assert [r.split("|")[1].strip() for r in rows] == ["0 min", "20 min", "40 min", "100 min", "___ min", "___ min"]


def test_checklists_holds_events_and_signatures_are_all_there():
    plan = plan_of("review-maoi.toml")
    text = sheet_markdown(build_sheet(plan, 1))
    for item in plan.checklist_pre + plan.checklist_during + plan.checklist_after:
        assert item.split(";")[0].split(":")[0][:30] in text.replace("\\", "")
    for hold in plan.holds:
        assert f"Hold {hold.rule}" in text
    for event in ("nausea", "emergence reaction", "suicidal thoughts", "other"):
        assert f"- [ ] {event}" in text
    assert "- [ ] None seen" in text
    assert "Nurse who gave the infusion" in text and "Clinician responsible" in text
    for label in ("Infusion started", "Infusion stopped", "Observation ended", "Ready to leave"):
        assert label in text
    assert "MOAA/S" in text and "CADSS" in text


def test_a_needs_review_plan_says_so_at_the_top():
    text = sheet_markdown(build_sheet(plan_of("review-bp-150-95.toml"), 1))
    head = text.split("## Patient and session")[0]
    assert "NEEDS REVIEW (REV-BP-140-90, REV-HYPERTENSION)" in head


def test_an_eligible_plan_has_no_warning():
    assert "NEEDS REVIEW" not in sheet_markdown(build_sheet(plan_of("eligible-trd.toml"), 1))


def test_refusals_name_the_sheet_option():
    plan = plan_of("eligible-trd.toml")
    with pytest.raises(KetaplanError, match=r"^--sheet 9: the plan has no session 9; it drafts sessions 1 to 6$"):
        build_sheet(plan, 9)
    with pytest.raises(KetaplanError, match=r"^--sheet next: the plan excludes this patient"):
        build_sheet(plan_of("excluded-pregnancy.toml"), "next")
    given = (GivenSession(1, date(2026, 11, 3)),)
    with pytest.raises(KetaplanError, match=r"^--sheet 1: session 1 was given on 2026-11-03"):
        build_sheet(plan, 1, given=given)
    undrafted = plan._replace(sessions=(plan.sessions[0]._replace(dose_mg=None, not_drafted_because="DOSE-NOT-DRAFTED"),))
    with pytest.raises(KetaplanError, match=r"^--sheet 1: no dose is drafted for session 1 \(DOSE-NOT-DRAFTED\)"):
        build_sheet(undrafted, 1)


def test_file_text_is_inert_in_both_views():
    plan = plan_of("eligible-trd.toml")
    hostile = "<script>alert(1)</script> [link](http://x) \x1b[31m"
    plan = plan._replace(checklist_pre=(hostile,), protocol=plan.protocol._replace(title=hostile))
    sheet = build_sheet(plan, 1)
    page = sheet_html(sheet)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in page and "\\x1b" in page
    md = sheet_markdown(sheet)
    assert "<script>" not in md and "[link](" not in md and "\x1b" not in md


def test_the_page_line_is_a_safe_css_string():
    plan = plan_of("eligible-trd.toml")
    plan = plan._replace(protocol=plan.protocol._replace(version='1"; } body { display: none } </style>'))
    page = sheet_html(build_sheet(plan, 1))
    style = page.split("<style>")[1].split("</style>")[0]
    assert "display: none" not in style.replace("display\\3a", "")
    assert page.count("</style>") == 1


# --- printed: headless chromium to PDF, read back with pdfplumber ----------------------------------

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def print_pdf(html_text: str, folder: Path) -> Path:
    source, target = folder / "sheet.html", folder / "sheet.pdf"
    source.write_text(html_text, encoding="utf-8")
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={target}", source.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return target


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless chromium")
@pytest.mark.parametrize(
    "patient, protocol, figures",
    [
        ("review-bp-150-95.toml", INDUCTION, EX007),
        ("eligible-trd.toml", INDUCTION, EX001),
        ("crps-eligible.toml", RATE, ["96 mg", "24 mg/h", "0.35 mg/kg/h", "24.5 mg/h", "9.6 mL", "1 mg/mL", "96 mL", "24 mL/h"]),
    ],
)
def test_printed_on_a4_every_figure_is_on_the_page(tmp_path, patient, protocol, figures):
    pdfplumber = pytest.importorskip("pdfplumber")
    plan = plan_of(patient, protocol)
    sheet = build_sheet(plan, "next")
    with pdfplumber.open(print_pdf(sheet_html(sheet), tmp_path)) as pdf:
        assert 1 <= len(pdf.pages) <= 2
        text = ""
        for page in pdf.pages:
            # A4 is 595 x 842 points; every character lies inside the page box.
            assert (round(page.width), round(page.height)) == (595, 842)
            for ch in page.chars:
                assert 0 <= ch["x0"] and ch["x1"] <= page.width and 0 <= ch["top"] and ch["bottom"] <= page.height, ch
            page_text = page.extract_text()
            # Every page names its patient and session, and its number.
            assert f"Patient {plan.patient.id} · session {sheet.session.number}" in page_text
            assert f"page {page.page_number} of {len(pdf.pages)}" in page_text
            text += page_text + "\n"
    flat = re.sub(r"\s+", " ", text)
    for figure in figures:
        assert figure in flat, figure
    for minute in sheet.vitals_at_minutes:
        assert f"{minute} min" in flat
    assert "Ready to leave" in flat and "Nurse who gave the infusion" in flat
