"""A patient recorded session by session through `ketaplan record` (starting from an example, four
sessions with scores and vitals), then `ketaplan course`: every figure checked against hand-worked numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.builders import run_cli as run
from tests.test_sheet import CHROMIUM, print_pdf

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples/patients/eligible-trd.toml"  # EX-001: 73 kg; MADRS 32, PHQ-9 19, GAD-7 12
PROTOCOL = str(ROOT / "examples/protocols/trd-iv-course.toml")

# (date, vitals, adverse events, MADRS, PHQ-9, GAD-7): Tuesdays and Fridays, as the protocol's days.
SESSIONS = [
    ("2026-11-10", ["0:128/82,74,98", "15:138/86,80,98", "40:150/92,86,97", "90:130/82,76,98"], ["--ae", "nausea"], 31, 18, 12),
    ("2026-11-13", ["0:126/80,72,98", "40:146/90,84", "90:128/80,74"], ["--no-ae"], 29, 17, 11),
    ("2026-11-17", ["0:130/84,76,99", "40:152/94,88", "90:132/82,76"], ["--no-ae"], 27, 16, 10),
    ("2026-11-20", ["0:128/82,74,98", "40:148/92,84", "90:130/80,74"], ["--no-ae"], 26, 16, 10),
]  # fmt: skip


@pytest.fixture()
def recorded(tmp_path, capsys) -> Path:
    path = tmp_path / "EX-001.toml"
    path.write_bytes(EXAMPLE.read_bytes())
    for day, vitals, events, madrs, phq9, gad7 in SESSIONS:
        before = path.read_bytes()
        args = ["record", str(path), "--date", day, "--dose", "36 mg", "-p", PROTOCOL, "--duration", "40 min"]
        for v in vitals:
            args += ["--vitals", v]
        args += [*events, "--sedation", "5", "--dissociation", "10", "--observed", "60 min"]
        args += ["--madrs", str(madrs), "--phq9", str(phq9), "--gad7", str(gad7)]
        code, _, err = run(capsys, *args)
        assert code == 0, err
        assert path.read_bytes().startswith(before)
    assert path.read_bytes().startswith(EXAMPLE.read_bytes())
    return path


def course(capsys, path: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "course", str(path), "--protocol", PROTOCOL, "--start", "2026-12-01", *extra)


def test_the_course_json_of_the_recorded_patient(capsys, recorded):
    code, out, err = course(capsys, recorded, "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    c = plan["course"]
    assert c["continued_from"] == 4
    assert [s["date"] for s in c["series"]] == [s[0] for s in SESSIONS]
    # Titrated after 3 sessions without a response, the dose tolerated: 0.75 mg/kg x 73 kg = 54.75 mg -> 55 mg.
    assert [(s["number"], s["date"], s["dose_mg"]) for s in plan["sessions"]] == [(5, "2026-12-01", 55), (6, "2026-12-04", 55)]


def test_the_course_view_at_80_columns(capsys, recorded, monkeypatch):
    monkeypatch.setattr("ketaplan.cli.terminal_width", lambda output: 80)
    code, out, err = course(capsys, recorded)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == "DRAFT COURSE — EX-001 — trd-iv-course 2026.12"
    # Given: 36 mg of 73 kg = 0.4931... mg/kg, shown 0.49; BP at minute 0 -> the highest reading.
    assert re.search(r"^  1  2026-11-10  36 mg  0\.49 mg/kg  128/82 → 150/92 +completed +nausea$", out, re.M)
    assert re.search(r"^  3  2026-11-17  36 mg  0\.49 mg/kg  130/84 → 152/94 +completed +none$", out, re.M)
    # Response, truncated to one decimal: PHQ-9 (19-16)/19 = 15.78...; MADRS (32-26)/32 = 18.75; GAD-7 (12-10)/12 = 16.66...
    assert re.search(r"^  PHQ-9 +19 +16  2026-11-20  15\.7 % lower  no response$", out, re.M)
    assert re.search(r"^  MADRS +32 +26  2026-11-20  18\.7 % lower  no response$", out, re.M)
    assert re.search(r"^  GAD-7 +12 +10  2026-11-20  16\.6 % lower  no response$", out, re.M)
    assert out.count("(0 to 60)") == 1 and out.count("(0 to 27)") == 1 and out.count("(0 to 21)") == 1
    # Next: 0.75 x 73 = 54.75 -> 55 mg; 55 mg of 10 mg/mL = 5.5 mL; in 100 mL: 0.55 mg/mL; 100 mL / 40 min = 150 mL/h.
    assert "Sessions 5–6: 0.75 mg/kg, set by titration rule TITRATE-0-75-AFTER-3" in out
    assert "0.75 mg/kg (TITRATE-0-75-AFTER-3) × 73 kg = 54.75 mg → rounded" in out
    assert "Draw 5.5 mL · Conc. 0.55 mg/mL · Volume 100 mL · Pump 150 mL/h" in out
    assert re.search(r"^  5  2026-12-01  Tue  55 mg  ‡  0\.753 mg/kg$", out, re.M)
    assert re.search(r"^  6  2026-12-04  Fri  55 mg  ‡  0\.753 mg/kg$", out, re.M)


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_the_course_in_markdown_and_html(capsys, recorded, fmt):
    code, out, err = course(capsys, recorded, "--format", fmt)
    assert code == 0, err
    flat = out.replace("\xa0", " ")
    for figure in ("18.7 % lower", "15.7 % lower", "16.6 % lower", "55 mg", "0.753 mg/kg", "TITRATE-0-75-AFTER-3", "128/82 → 150/92"):
        assert figure in flat, figure
    assert flat.count("<svg") == (3 if fmt == "html" else 0)


def test_sheet_refusals_name_the_option(capsys, recorded):
    code, _, err = course(capsys, recorded, "--sheet", "3")
    assert code == 2 and err.startswith("error: --sheet 3: session 3 was given on 2026-11-17")
    code, _, err = course(capsys, recorded, "--sheet", "9")
    assert code == 2 and "the plan has no session 9; it drafts sessions 5 to 6" in err
    code, _, err = course(capsys, recorded, "--sheet", "five")
    assert code == 2 and err.startswith("error: --sheet: 'five'")
    code, _, err = course(capsys, recorded, "--sheet", "next", "--format", "json")
    assert code == 2 and "a sheet is for paper" in err


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless chromium")
def test_the_next_sessions_sheet_printed(capsys, recorded, tmp_path):
    pdfplumber = pytest.importorskip("pdfplumber")
    code, out, err = course(capsys, recorded, "--sheet", "next", "--format", "html")
    assert code == 0, err
    with pdfplumber.open(print_pdf(out, tmp_path)) as pdf:
        text = ""
        for page in pdf.pages:
            for ch in page.chars:
                assert 0 <= ch["x0"] and ch["x1"] <= page.width and 0 <= ch["top"] and ch["bottom"] <= page.height
            assert "Patient EX-001 · session 5 · Tue 2026-12-01 · 55 mg" in page.extract_text()
            text += page.extract_text() + "\n"
    flat = re.sub(r"\s+", " ", text)
    for figure in ("55 mg", "0.75 mg/kg", "(titrated: TITRATE-0-75-AFTER-3)", "73 kg", "54.75 mg", "5.5 mL", "0.55 mg/mL",
                   "100 mL", "150 mL/h", "4 given so far, the last on 2026-11-20"):  # fmt: skip
        assert figure in flat, figure
    for minute in (0, 15, 30, 40, 60, 90):
        assert f"{minute} min" in flat
