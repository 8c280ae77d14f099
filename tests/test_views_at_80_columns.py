"""The example plans as a clinician reads them: at 80 columns, within the line budgets of issue 11."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from ketaplan.api import draft
from ketaplan.load.patient import load_patient_file
from ketaplan.load.protocol import load_protocol_file
from ketaplan.render.text import TextRenderer
from tests.builders import NOW

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
START = date(2026, 12, 1)

#: Eligible examples and the most lines each may take at 80 columns (spec/plan.md: 60 for an
#: eligible example; a ten-session rate course and a monthly maintenance plan are longer).
ELIGIBLE = [
    ("eligible-trd", "trd-iv-induction", 60),
    ("eligible-dose-capped", "trd-iv-induction", 60),
    ("imperial-units", "trd-iv-induction", 60),
    ("maintenance-after-induction", "trd-maintenance", 62),
    ("crps-eligible", "crps-iv-rate", 75),
    ("crps-bmi-over-35-adjusted", "crps-iv-rate", 75),
]


def _plan(patient: str, protocol: str):
    loaded_protocol = load_protocol_file(str(EXAMPLES / "protocols" / f"{protocol}.toml"))
    loaded_patient = load_patient_file(str(EXAMPLES / "patients" / f"{patient}.toml"), START)
    return draft(loaded_patient, loaded_protocol, START, NOW)


def _text(plan, verbose: bool = False) -> list[str]:
    return TextRenderer(width=80, verbose=verbose).render(plan).splitlines()


@pytest.mark.parametrize(("patient", "protocol", "budget"), ELIGIBLE)
def test_an_eligible_example_fits_its_line_budget_at_80_columns(patient, protocol, budget):
    lines = _text(_plan(patient, protocol))
    assert len(lines) <= budget
    assert max(len(line) for line in lines) <= 80


def test_the_eligible_example_is_within_60_lines():
    assert len(_text(_plan("eligible-trd", "trd-iv-induction"))) <= 60


@pytest.mark.parametrize(("patient", "protocol", "budget"), ELIGIBLE)
def test_the_verdict_is_the_second_line_and_the_last(patient, protocol, budget):
    lines = _text(_plan(patient, protocol))
    assert lines[1].startswith("VERDICT: ELIGIBLE")
    assert lines[-1] == lines[1]


@pytest.mark.parametrize("patient", sorted(p.stem for p in (EXAMPLES / "patients").glob("*.toml")))
@pytest.mark.parametrize("protocol", ["trd-iv-induction", "crps-iv-rate", "trd-maintenance"])
def test_every_session_of_every_example_is_one_row_at_80_columns(patient, protocol):
    plan = _plan(patient, protocol)
    lines = _text(plan)
    assert max(len(line) for line in lines) <= 80
    for s in plan.sessions:
        rows = [line for line in lines if re.match(rf"\s*{s.number}\s+{s.date.isoformat()}\s+{s.weekday}\s", line)]
        assert len(rows) == 1, (s.number, lines)
        assert "mg" in rows[0]


def test_the_capped_example_shows_what_is_given_and_marks_the_cap():
    lines = _text(_plan("eligible-dose-capped", "trd-iv-induction"))
    rows = [line for line in lines if re.match(r"\s*\d+\s+2026-12-\d\d\s", line)]
    assert len(rows) == 6
    assert all(re.search(r"60 mg\s+†\s+0\.47 mg/kg$", row) for row in rows)
    assert "† capped: lowered to the 60 mg cap (dose.max_mg)" in "\n".join(lines)


def test_the_eligible_example_gives_0_49_mg_per_kg():
    rows = [line for line in _text(_plan("eligible-trd", "trd-iv-induction")) if re.match(r"\s*1\s+2026-12-01", line)]
    assert rows[0].split()[-2:] == ["0.49", "mg/kg"]


def test_verbose_shows_every_note_and_checklist_item_whole():
    plan = _plan("eligible-trd", "trd-iv-induction")
    assert any(line.endswith("…") for line in _text(plan))
    verbose = "\n".join(_text(plan, verbose=True))
    assert "…" not in verbose
    for item in plan.checklist_pre:
        assert item.split()[-1] in verbose


def test_a_long_rule_id_puts_its_message_under_it_rather_than_in_a_narrow_column():
    # EX-022 continues under the course protocol: TITRATE-0-75-AFTER-3 is the first finding, with a
    # 20-character id. Its message starts on the line under the id, indented 6, and uses the width.
    loaded_protocol = load_protocol_file(str(EXAMPLES / "protocols" / "trd-iv-course.toml"))
    loaded_patient = load_patient_file(str(EXAMPLES / "patients" / "course-part-way.toml"), START)
    lines = _text(draft(loaded_patient, loaded_protocol, START, NOW, continuing=True))
    [at] = [i for i, line in enumerate(lines) if line.startswith("  titrate  TITRATE-0-75-AFTER-3")]
    assert lines[at].rstrip() == "  titrate  TITRATE-0-75-AFTER-3"
    assert lines[at + 1].startswith("      After 3 infusions at 0.5 mg/kg without a response")
    assert len(lines[at + 1]) > 70


def test_folded_notes_keep_one_line_each_beside_a_long_rule_id():
    loaded_protocol = load_protocol_file(str(EXAMPLES / "protocols" / "trd-iv-course.toml"))
    loaded_patient = load_patient_file(str(EXAMPLES / "patients" / "course-part-way.toml"), START)
    lines = _text(draft(loaded_patient, loaded_protocol, START, NOW, continuing=True))
    [note] = [line for line in lines if line.startswith("  note     NOTE-OFF-LABEL")]
    assert "NOTE-OFF-LABEL            IV racemic ketamine for depression" in note and note.endswith("…")
    assert len(note) <= 80
