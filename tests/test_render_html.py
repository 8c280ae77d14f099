"""The HTML page (`--format html`): self-contained, inert, and printed on A4 by a real browser
engine (Chromium, headless) with every schedule column on the paper and every dose and pump rate."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from plan_fixtures import ALL_PLANS, HOSTILE, HOSTILE_MEDICATION

from ketaplan.api import draft
from ketaplan.load.patient import load_patient_file
from ketaplan.load.protocol import load_protocol_file
from ketaplan.render import renderer_for
from ketaplan.render.html import DEFAULT_CSS, HtmlRenderer
from ketaplan.units import find_forbidden, fmt_mg, fmt_ml_per_h
from tests.builders import NOW

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
START = date(2026, 12, 1)
MM = 72 / 25.4  # PDF points in a millimetre
A4_WIDTH = 210 * MM
SIDE_MARGIN = 12 * MM  # DEFAULT_CSS: @page margin 16mm 12mm 14mm 12mm

#: Printed in the browser: a capped per-session plan, a ten-session rate course and a long
#: needs-review plan whose findings push the schedule onto a later page.
PRINTED = [
    ("eligible-dose-capped", "trd-iv-induction"),
    ("crps-eligible", "crps-iv-rate"),
    ("review-unrecognised-medication", "crps-iv-rate"),
]


def _plan(patient: str, protocol: str):
    loaded_protocol = load_protocol_file(str(EXAMPLES / "protocols" / f"{protocol}.toml"))
    loaded_patient = load_patient_file(str(EXAMPLES / "patients" / f"{patient}.toml"), START)
    return draft(loaded_patient, loaded_protocol, START, NOW)


# ------------------------------------------------------------------ the page itself


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_the_page_is_self_contained_with_no_script_and_nothing_fetched(name):
    page = HtmlRenderer().render(ALL_PLANS[name])
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for forbidden in ("<script", "<link", "<img", "<iframe", "<object", "src=", "href=", "url(", "@import"):
        assert forbidden not in lowered, forbidden
    assert "default-src 'none'" in page  # and a browser is told to fetch nothing


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_no_error_prone_dose_form_appears(name):
    assert find_forbidden(HtmlRenderer().render(ALL_PLANS[name]).split("<body>")[1]) == []


def test_patient_text_is_escaped():
    page = HtmlRenderer().render(HOSTILE)
    assert "<script>" not in page and HOSTILE_MEDICATION not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | pipe | [red]markup[/red] `rm -rf` \\nnext line" in page
    assert "\x1b" not in page and "\\x1b[31mred" in page


def test_a_patient_id_cannot_break_out_of_the_running_header():
    patient = HOSTILE.patient._replace(id='P-1"; } body { display: none } </style><script>x</script>')
    page = HtmlRenderer().render(HOSTILE._replace(patient=patient))
    head = page.split("<body>")[0]
    assert head.count("</style>") == 2 and "<script>" not in page
    header = head.split('<style id="ketaplan-running-header">')[1].split("</style>")[0]
    # One CSS string from "content:" to the end of the declaration: nothing escapes it.
    assert re.fullmatch(r'@page \{ @top-left \{ content: "[^"\\<]*(\\[0-9a-f]+ [^"\\<]*)*"; [^"]*\} \}', header)


def test_verdict_first_and_last_and_the_sections_of_the_markdown():
    page = HtmlRenderer().render(ALL_PLANS["needs_review"])
    body = page.split("<body>")[1]
    assert body.count("VERDICT: NEEDS REVIEW") == 2
    assert body.index("VERDICT: NEEDS REVIEW") < body.index('id="findings"')
    assert body.rindex("VERDICT: NEEDS REVIEW") > body.index('id="signoff"')
    ids = re.findall(r'<section id="([a-z-]+)"', body)
    assert ids == ["findings", "patient", "dose", "schedule", "holds", "checklists", "signoff"]


def test_checklists_and_signoff_start_a_new_page():
    page = HtmlRenderer().render(ALL_PLANS["eligible"])
    assert '<section id="checklists" class="page-break">' in page
    assert '<section id="signoff" class="page-break">' in page
    assert ".page-break { break-before: page; }" in DEFAULT_CSS


def test_every_column_is_in_every_row_of_the_printed_schedule():
    page = HtmlRenderer().render(ALL_PLANS["rate"])
    rows = re.findall(r"<tr>(.*?)</tr>", page.split('class="schedule"')[1].split("</table>")[0])
    assert [len(re.findall(r"<t[hd]", r)) for r in rows] == [12, 12, 12]
    assert '<td data-col="pump">40 mL/h</td>' in rows[2]


def test_css_replaces_the_stylesheet_and_keeps_the_running_header():
    page = renderer_for("html", css="body { color: navy }").render(ALL_PLANS["eligible"])
    assert "body { color: navy }" in page and "table.schedule" not in page
    assert '@top-left { content: "DRAFT · patient P-0107 · trd-iv-induction 2026.11"' in page


def test_a_stylesheet_cannot_close_its_style_element():
    page = renderer_for("html", css="</style><script>x</script>").render(ALL_PLANS["eligible"])
    assert page.split("<body>")[0].count("</style>") == 2


def test_plan_format_html_and_css_on_the_command_line(tmp_path, capsys):
    from ketaplan.cli import main

    css = tmp_path / "clinic.css"
    css.write_text("h1 { color: teal }", encoding="utf-8")
    out = tmp_path / "plan.html"
    patient = str(EXAMPLES / "patients" / "eligible-trd.toml")
    protocol = str(EXAMPLES / "protocols" / "trd-iv-induction.toml")
    with pytest.raises(SystemExit) as exit_:
        main(["plan", patient, "--protocol", protocol, "--start", "2026-12-01", "-f", "html", "--css", str(css), "-o", str(out)])
    assert exit_.value.code == 0
    assert "h1 { color: teal }" in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main(["plan", patient, "--protocol", protocol, "--css", str(css)])
    assert exit_.value.code == 2
    assert "--css is for --format html" in capsys.readouterr().err


# ------------------------------------------------------------------ printed by a browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium():
    found = _chromium()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must print the HTML in a real browser: install chromium (.ci/run does)")
        pytest.skip("chromium is not installed (CI installs it)")
    return found


def _print_to_pdf(chromium: str, html: str, tmp_path: Path) -> Path:
    page = tmp_path / "plan.html"
    page.write_text(html, encoding="utf-8")
    pdf = tmp_path / "plan.pdf"
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", page.as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )
    assert pdf.exists() and pdf.stat().st_size > 0
    return pdf


@pytest.fixture(scope="module", params=PRINTED, ids=lambda p: f"{p[0]}+{p[1]}")
def printed(request, chromium, tmp_path_factory):
    import pdfplumber

    plan = _plan(*request.param)
    tmp_path = tmp_path_factory.mktemp("pdf")
    pdf = _print_to_pdf(chromium, HtmlRenderer().render(plan), tmp_path)
    with pdfplumber.open(pdf) as document:
        pages = [(p.width, p.height, p.chars, p.extract_text() or "") for p in document.pages]
    return plan, pages


def test_the_pages_are_a4(printed):
    _, pages = printed
    for width, height, _, _ in pages:
        assert abs(width - A4_WIDTH) < 1 and abs(height - 297 * MM) < 1


def test_every_schedule_column_is_inside_the_page_box(printed):
    plan, pages = printed
    rate = plan.dosing.mode == "mg_per_kg_per_hour"
    headers = ["Session", "Date", "Day", "Phase", "Dose", "given", "Duration", "Concentration", "Pump"]
    headers += ["Hourly"] if rate else []
    text = "\n".join(t for *_, t in pages)
    for header in headers:
        assert header in text, header
    for width, _, chars, _ in pages:
        for c in chars:
            assert c["x0"] >= 0 and c["x1"] <= width
            # Inside the printable area, not merely on the sheet (a border may sit on its edge).
            if c["top"] > 20 * MM and c["bottom"] < 280 * MM:
                assert SIDE_MARGIN - 2 <= c["x0"] and c["x1"] <= width - SIDE_MARGIN + 2, c["text"]


def test_every_sessions_dose_and_pump_rate_are_on_the_paper(printed):
    plan, pages = printed
    lines = [line for *_, text in pages for line in text.splitlines()]
    for s in plan.sessions:
        row = [line for line in lines if re.match(rf"{s.number} {s.date.isoformat()} {s.weekday} ", line)]
        assert len(row) == 1, (s.number, lines)
        assert f" {fmt_mg(s.dose_mg)} " in row[0]
        assert row[0].endswith(f" {fmt_ml_per_h(s.pump_ml_per_h)}"), row[0]


def test_every_page_carries_the_running_header(printed):
    plan, pages = printed
    running = f"DRAFT · patient {plan.patient.id} · {plan.protocol.id} {plan.protocol.version}"
    for *_, text in pages:
        assert running in text


def test_checklists_and_signoff_each_open_a_page(printed):
    _, pages = printed
    firsts = [[line for line in text.splitlines() if not line.startswith("DRAFT · ")][0] for *_, text in pages]
    assert "Checklists" in firsts and "Sign-off" in firsts


def test_the_markdown_schedule_prints_on_a4_with_no_value_broken(chromium, tmp_path):
    """The widest schedule (a rate protocol, a cap): GitHub-flavoured Markdown made HTML with no
    stylesheet of ours, printed on A4: each session one line, dose and pump rate on it."""
    import pdfplumber
    from markdown_it import MarkdownIt
    from plan_fixtures import RATE

    from ketaplan.render.markdown import MarkdownRenderer

    body = MarkdownIt("commonmark").enable("table").render(MarkdownRenderer().render(RATE))
    html = f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>@page {{ size: A4 }}</style></head><body>{body}</body></html>'
    with pdfplumber.open(_print_to_pdf(chromium, html, tmp_path)) as document:
        lines = [line for page in document.pages for line in (page.extract_text() or "").splitlines()]
        widths = [(page.width, max(c["x1"] for c in page.chars)) for page in document.pages]
    assert all(x1 <= width for width, x1 in widths)
    for s in RATE.sessions:
        row = [line for line in lines if s.date.isoformat() in line and fmt_mg(s.dose_mg) in line]
        assert len(row) == 1 and row[0].endswith(fmt_ml_per_h(s.pump_ml_per_h)), lines
