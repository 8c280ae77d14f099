"""The Markdown plan: its layout, safe dose text, and patient text that cannot break or inject anything."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from plan_fixtures import ALL_PLANS, EXCLUDED, HOSTILE, NEEDS_REVIEW, RATE
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from ketaplan.render import renderer_for
from ketaplan.render.json import plan_to_dict
from ketaplan.render.markdown import MarkdownRenderer, inert, render_plan_dict, render_signed
from ketaplan.signing import sign, with_digest
from ketaplan.units import find_forbidden

SIGNED_AT = datetime(2026, 11, 27, 10, 15, 0, tzinfo=UTC)
NAMES = sorted(ALL_PLANS)


class MarkdownSnapshot(SingleFileSnapshotExtension):
    """One .md file per snapshot, so a reviewer reads the plans as plans in the diff."""

    file_extension = "md"
    _write_mode = WriteMode.TEXT


@pytest.fixture
def md_snapshot(snapshot):
    return snapshot.use_extension(MarkdownSnapshot)


def _parser() -> MarkdownIt:
    # GitHub's dialect as far as markdown-it goes: tables, strikethrough and bare links made links
    # (linkify needs linkify-it-py, in the test extra).
    return MarkdownIt("gfm-like")


def _tokens(text: str) -> list:
    """Every token, inline children included, in document order."""
    out = []
    for token in _parser().parse(text):
        out.append(token)
        out.extend(token.children or [])
    return out


def _markdown(name: str) -> str:
    return MarkdownRenderer().render(ALL_PLANS[name])


def _signed(plan=NEEDS_REVIEW, reasons=None) -> dict:
    draft = with_digest(plan_to_dict(plan))
    acks = reasons or {rule: f"Reviewed {rule} with the patient" for rule in plan.acknowledge}
    return sign(draft, clinician="Dr A. Osei", registration="GMC 7654321", acks=acks, now=SIGNED_AT)


def _tables(text: str) -> list[list[int]]:
    """For each table, the number of cells in each row (header first)."""
    tables, rows, cells = [], None, 0
    for token in _parser().parse(text):
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            cells = 0
        elif token.type in ("th_open", "td_open"):
            cells += 1
        elif token.type == "tr_close":
            rows.append(cells)
        elif token.type == "table_close":
            tables.append(rows)
    return tables


def _cells(text: str) -> list[list[str]]:
    """The text of every table row's cells, in document order."""
    rows, row, cell_open = [], [], False
    for token in _parser().parse(text):
        if token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            cell_open = True
        elif token.type == "inline" and cell_open:
            # As a reader sees it: a no-break space (between number and unit) is a space.
            text = "".join(c.content for c in token.children if c.type in ("text", "code_inline"))
            row.append(text.replace("\u00a0", " "))
            cell_open = False
        elif token.type in ("th_close", "td_close") and cell_open:
            row.append("")
            cell_open = False
        elif token.type == "tr_close":
            rows.append(row)
    return rows


def _task_items(text: str) -> list[str]:
    """The text of every list item written as an open task (`- [ ] ...`)."""
    return [
        t.content[4:]
        for t in _parser().parse(text)
        if t.type == "inline" and t.content.startswith("[ ] ")
    ]


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    ends = [i for i in (text.find("\n## ", start + 1), text.find("\n---\n", start)) if i != -1]
    return text[start : min(ends, default=len(text))]


# ------------------------------------------------------------------ snapshots


@pytest.mark.parametrize("name", NAMES)
def test_markdown_of_each_fixture_plan_matches_its_reviewed_snapshot(name, md_snapshot):
    assert _markdown(name) == md_snapshot


def test_markdown_of_a_signed_plan_matches_its_reviewed_snapshot(md_snapshot):
    assert render_signed(_signed()) == md_snapshot


# ------------------------------------------------------------------ layout


def test_renderer_for_markdown_gives_the_markdown_renderer():
    assert isinstance(renderer_for("markdown"), MarkdownRenderer)


def test_renderer_renders_the_plan_as_its_json_renders():
    assert MarkdownRenderer().render(NEEDS_REVIEW) == render_plan_dict(with_digest(plan_to_dict(NEEDS_REVIEW)))


@pytest.mark.parametrize("name", NAMES)
def test_numbers_read_back_as_decimals_render_the_same(name):
    text = json.dumps(with_digest(plan_to_dict(ALL_PLANS[name])))
    assert render_plan_dict(json.loads(text, parse_float=Decimal)) == _markdown(name)


def test_title_says_draft_and_names_patient_and_protocol_version():
    first, second = _markdown("needs_review").splitlines()[0:3:2]
    assert first == "# DRAFT treatment plan for patient P-0150"
    assert second.startswith("Protocol **trd-iv-induction**, version 2026.11: ")


@pytest.mark.parametrize(
    ("name", "verdict"),
    [("eligible", "ELIGIBLE"), ("needs_review", "NEEDS REVIEW"), ("excluded", "EXCLUDED")],
)
def test_verdict_is_stated_first_and_last(name, verdict):
    tokens = _parser().parse(_markdown(name))
    paragraphs = [t.content for t in tokens if t.type == "inline"]
    said = [i for i, p in enumerate(paragraphs) if p.startswith(f"**VERDICT: {verdict}** — ")]
    assert said == [4, len(paragraphs) - 1]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[1:3] == ["Verdict", "Findings"]


def test_findings_are_a_list_most_serious_first_with_their_evidence():
    section = _section(_markdown("needs_review"), "Findings")
    assert "\n2 need review, 1 hold, most serious first:\n" in section
    assert (
        "- **review** · **EXCL-PSYCHOSIS**: could not be checked (an exclude rule): History of psychosis.\n"
        "  - could not be checked: conditions are not recorded\n"
        "  - Source: APA consensus 2017\n"
        "- **review** · **IDEAL-WEIGHT-SHORT-STATURE**: "
    ) in section
    assert section.index("IDEAL-WEIGHT-SHORT-STATURE") < section.index("HOLD-BENZODIAZEPINE")


def test_schedule_states_what_every_session_shares_then_one_row_per_session():
    section = _section(_markdown("eligible"), "Schedule")
    assert (
        "Every session: Phase induction; Duration 40 min; Volume to draw 4.1 mL; Concentration 0.41 mg/mL; "
        "Volume to infuse 100 mL; Pump rate 150 mL/h." in section
    )
    rows = _cells(section)
    assert rows[0] == ["Session", "Date", "Day", "Dose", "mg/kg given"]
    assert rows[1] == ["1", "2026-12-01", "Tue", "41 mg", "0.497 mg/kg"]
    assert len(rows) == 1 + 6


def test_rate_schedule_shows_the_hourly_rate_beside_the_session_total_and_marks_the_cap():
    section = _section(_markdown("rate"), "Schedule")
    rows = _cells(section)
    assert rows[0] == ["Session", "Date", "Day", "Dose", "mg/kg/h", "Rate", "Draw", "Volume", "Pump"]
    assert rows[2][3:6] == ["160 mg †", "0.55 mg/kg/h", "40 mg/h"]
    assert (
        "Columns: mg/kg/h: mg/kg/h given; Rate: hourly rate; Draw: volume to draw; Volume: volume to infuse; "
        "Pump: pump rate." in section
    )
    assert "† capped: lowered to the 40 mg/h cap (dose.max\\_mg\\_per\\_hour)" in section


def test_dose_calculation_names_basis_weight_raw_dose_rounding_and_cap():
    section = _section(_markdown("eligible"), "Dose calculation")
    assert "- **Dosing weight**: 82.5 kg, actual weight (protocol dose.weight\\_basis); no factors" in section
    assert "- **Rounding**: nearest 1 mg, an exact half down; cap 60 mg (protocol dose.max\\_mg)" in section
    assert (
        "* **Sessions 1–6**: 0.5 mg/kg × 82.5 kg = 41.25 mg → rounded to 41 mg → cap 60 mg not reached: "
        "0.497 mg/kg given" in section
    )


def test_rate_calculation_gives_the_hourly_rate_then_the_session_total():
    section = _section(_markdown("rate"), "Dose calculation")
    assert (
        "* **Session 1**: 0.5 mg/kg/h × 72.5 kg = 36.25 mg/h → rounded to 36 mg/h → cap 40 mg/h not reached → "
        "36 mg/h × 4 h = 144 mg per session → cap 200 mg not reached: 0.497 mg/kg/h given\n"
        "* **Session 2**: 0.6 mg/kg/h × 72.5 kg = 43.5 mg/h → rounded to 43 mg/h → capped at 40 mg/h "
        "(dose.max\\_mg\\_per\\_hour) → 40 mg/h × 4 h = 160 mg per session → cap 200 mg not reached: "
        "0.55 mg/kg/h given" in section
    )


def test_a_plan_json_without_the_rounding_keys_still_shows_the_cap_that_lowered_the_rate():
    plan = plan_to_dict(RATE)
    for key in ("raw_rate_mg_per_h", "rounded_rate_mg_per_h", "effective_mg_per_kg_per_hour_actual"):
        del plan["sessions"][1][key]
    section = _section(render_plan_dict(plan), "Dose calculation")
    assert (
        "* **Session 2**: 0.6 mg/kg/h × 72.5 kg → capped at 40 mg/h (dose.max\\_mg\\_per\\_hour) → "
        "40 mg/h × 4 h = 160 mg per session" in section
    )


def test_calculation_shows_each_factor_with_its_rule_and_the_rule_that_set_basis_and_cap():
    from fractions import Fraction

    from ketaplan.model.plan import Factor

    plan = ALL_PLANS["eligible"]
    dosing = plan.dosing._replace(
        weight_basis="ideal", dosing_weight_kg=Fraction("56.9"), basis_rule="ADJ-BMI-35",
        factors=(Factor("ADJ-AGE-65", Fraction(3, 4)),), cap_rule="ADJ-AGE-65", cap_mg=Fraction(30),
    )
    session = plan.sessions[0]._replace(
        raw_dose_mg=Fraction("21.3375"), rounded_mg=Fraction(21), dose_mg=Fraction(21),
        effective_mg_per_kg_actual=Fraction(21) / Fraction("82.5"), given_per_kg=Fraction(21) / Fraction("56.9"),
    )
    section = _section(MarkdownRenderer().render(plan._replace(dosing=dosing, sessions=(session,))), "Dose calculation")
    assert "- **Dosing weight**: 56.9 kg, ideal weight (ADJ-BMI-35)\n" in section
    assert "- **Factors**: × 0.75 (ADJ-AGE-65)\n" in section
    assert "; cap 30 mg (ADJ-AGE-65)" in section
    assert (
        "* **Session 1**: 0.5 mg/kg × 56.9 kg × 0.75 (ADJ-AGE-65) = 21.34 mg → rounded to 21 mg → cap 30 mg not "
        "reached: 0.37 mg/kg given (0.25 mg/kg of actual weight)" in section
    )


def test_a_capped_dose_shows_the_rounded_dose_and_the_cap_that_lowered_it():
    from fractions import Fraction

    plan = ALL_PLANS["eligible"]
    session = plan.sessions[0]._replace(
        raw_dose_mg=Fraction("66.5"), rounded_mg=Fraction(66), dose_mg=Fraction(60), capped_by="dose.max_mg",
        given_per_kg=Fraction(60) / Fraction("82.5"),
    )
    text = MarkdownRenderer().render(plan._replace(sessions=(session,)))
    assert "= 66.5 mg → rounded to 66 mg → capped at 60 mg (dose.max\\_mg): 0.73 mg/kg given" in text
    assert _cells(_section(text, "Schedule"))[1] == ["1", "2026-12-01", "Tue", "60 mg †", "0.73 mg/kg"]


def test_where_no_dose_is_drafted_the_plan_says_why():
    text = _markdown("needs_review")
    assert "- **Dosing weight**: not set, ideal weight (protocol dose.weight\\_basis)" in text
    assert (
        "**No dose is drafted: there is no ideal weight to dose on for this patient. IDEAL-WEIGHT-SHORT-STATURE: "
        "Ideal body weight is not defined below 152.4 cm: no dose is drafted; the prescriber sets the dosing "
        "weight.**" in text
    )
    rows = _cells(_section(text, "Schedule"))
    assert rows[1][3:] == ["not drafted", "—"]


def test_an_excluded_plan_shows_verdict_and_findings_and_drafts_nothing():
    text = _markdown("excluded")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == ["Verdict", "Findings", "No plan"]
    assert (
        "No sessions or doses are drafted for this patient under this protocol, "
        "and this plan cannot be signed." in text
    )
    assert " mg" not in text.split("## Findings")[0]


def test_a_hold_to_confirm_says_so_and_why():
    section = _section(_markdown("needs_review"), "Medication holds")
    assert (
        "* **HOLD-BENZODIAZEPINE** (medications not named), **TO CONFIRM** (medications are not recorded): "
        "Omit the evening before and the morning of each session if clinically safe" in section
    )


def test_checklists_are_open_task_lists_for_each_stage_and_session():
    tasks = _task_items(_markdown("rate"))
    assert tasks == [
        "Written informed consent on file",
        "Blood pressure, heart rate and SpO2 every 15 minutes",
        "Observe for at least 60 minutes",
        "No driving until the next day after sleep",
        "Session 2, Thu 2026-12-03: Confirm the previous dose was tolerated",
    ]


def test_draft_signoff_has_a_reason_line_for_each_finding_to_acknowledge_then_the_signature_lines():
    section = _section(_markdown("needs_review"), "Sign-off")
    items = [t for t in _parser().parse(section) if t.type == "list_item_open"]
    assert len(items) == 2
    assert section.count("Reason: ....") == 2
    labels = re.findall(r"^(Clinician name|Registration number|Signature|Date and time): \.{60}$", section, re.M)
    assert labels == ["Clinician name", "Registration number", "Signature", "Date and time"]


def test_a_reason_stays_inside_its_numbered_item_past_nine_findings():
    plan = NEEDS_REVIEW._replace(acknowledge=tuple(f"REV-{n}" for n in range(1, 12)))
    tokens = _parser().parse(_section(MarkdownRenderer().render(plan), "Sign-off"))
    lists = [t for t in tokens if t.type == "ordered_list_open"]
    assert len(lists) == 1


def test_footer_gives_versions_start_date_and_both_input_digests():
    footer = _markdown("eligible").split("\n---\n")[1]
    assert "- Drafted by ketaplan 0.1.0 at 2026-11-27T09:00:00Z (UTC)" in footer
    assert "- Vocabulary `2026.11`; holidays data `0.109`" in footer
    assert "- Start date: 2026-12-01" in footer
    assert "- Patient file SHA-256: `a3f1c2d4e5b6" in footer
    assert "- Protocol file SHA-256: `0f9e8d7c6b5a" in footer
    assert f"- Plan digest: `{with_digest(plan_to_dict(ALL_PLANS['eligible']))['digest']}`" in footer


def test_footer_is_a_thematic_break_not_a_heading():
    tokens = _parser().parse(_markdown("eligible"))
    assert [t.type for t in tokens].count("hr") == 1


# ------------------------------------------------------------------ ISMP


@pytest.mark.parametrize("name", NAMES)
def test_no_error_prone_dose_form_appears(name):
    # A no-break space between number and unit is checked as the space it shows as.
    assert find_forbidden(_markdown(name).replace("\u00a0", " ")) == []


def test_a_number_and_its_unit_never_part_in_a_schedule_cell():
    row = next(line for line in _markdown("rate").splitlines() if line.startswith("| 2 |"))
    assert "| 160\u00a0mg\u00a0† | 0.55\u00a0mg/kg/h | 40\u00a0mg/h |" in row


def test_no_error_prone_dose_form_appears_in_a_signed_plan():
    assert find_forbidden(render_signed(_signed()).replace("\u00a0", " ")) == []


# ------------------------------------------------------------------ inert text


@pytest.mark.parametrize("name", NAMES)
def test_every_table_row_has_as_many_cells_as_its_header(name):
    for rows in _tables(_markdown(name)):
        assert set(rows) == {rows[0]}


def test_a_pipe_and_a_newline_in_patient_text_stay_inside_their_list_item():
    tokens = _parser().parse(_section(_markdown("hostile"), "Findings"))
    items = [t for t in tokens if t.type == "list_item_open"]
    assert len(items) == 4  # two findings, one piece of evidence under each
    texts = [t.content for t in tokens if t.type == "inline"]
    assert (
        "medication '&lt;script&gt;alert(1)&lt;/script&gt; \\| pipe \\| \\[red\\]markup\\[/red\\] "
        "\\`rm -rf\\` next line' is not in the vocabulary"
    ) in texts


@pytest.mark.parametrize("name", NAMES)
def test_no_html_reaches_the_rendered_page(name):
    types = {t.type for t in _tokens(_markdown(name))}
    assert not types & {"html_block", "html_inline"}


def test_script_tag_is_written_as_entities():
    text = _markdown("hostile")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_brackets_in_patient_text_make_no_link_and_backticks_no_code():
    tokens = _tokens(_markdown("hostile"))
    assert not [t for t in tokens if t.type in ("link_open", "image")]
    assert all(re.fullmatch(r"[A-Za-z0-9:._-]+", t.content) for t in tokens if t.type == "code_inline")


def test_a_terminal_escape_is_shown_not_sent():
    text = _markdown("hostile")
    assert "\x1b" not in text
    assert "condition '\\\\x1b\\[31mred\\\\x1b\\[0m \\[bold\\]grave\\[/bold\\] \\| x \\|'" in text


HOSTILE_TEXT = (
    "<img src=x onerror=alert(1)> | `code` *em* _em_ ~~gone~~ [link](http://e.invalid) "
    "![img](x.png) $x$ ^sup^ @cite &amp; <!-- c -->\n# heading\r\n- [ ] task \\ \x1b[2J\u202e"
)


def _poisoned(value, keep=("verdict", "mode", "effect", "rule_effect", "status")):
    """Every string in a plan with hostile text appended (ids stay distinct and matching)."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return value._replace(**{k: _poisoned(getattr(value, k)) for k in value._fields if k not in keep})
    if isinstance(value, tuple):
        return tuple(_poisoned(v, keep) for v in value)
    if isinstance(value, str):
        return value + HOSTILE_TEXT
    return value


@pytest.mark.parametrize("name", NAMES)
def test_hostile_text_in_every_field_leaves_the_structure_intact(name):
    clean = _markdown(name)
    text = MarkdownRenderer().render(_poisoned(ALL_PLANS[name]))
    tokens = _tokens(text)
    types = [t.type for t in tokens]
    assert not set(types) & {"html_block", "html_inline", "link_open", "image", "s_open", "em_open"}
    assert types.count("heading_open") == [t.type for t in _tokens(clean)].count("heading_open")
    assert types.count("table_open") == [t.type for t in _tokens(clean)].count("table_open")
    assert types.count("list_item_open") == [t.type for t in _tokens(clean)].count("list_item_open")
    assert len(_task_items(text)) == len(_task_items(clean))
    for rows in _tables(text):
        assert set(rows) == {rows[0]}
    assert "\x1b" not in text and "\u202e" not in text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))))
def test_inert_text_reads_back_as_itself(value):
    tokens = _parser().parse(f"x {inert(value)}")
    children = tokens[1].children if len(tokens) > 1 else []
    shown = "".join(c.content for c in children)
    assert [c.type for c in children] == ["text"] * len(children)
    assert shown == ("x " + re.sub(" {2,}", " ", value).strip()).strip()


@pytest.mark.parametrize(
    ("raw", "written"),
    [
        ("a|b", "a\\|b"),
        ("<b>", "&lt;b&gt;"),
        ("AT&T", "AT&amp;T"),
        ("`x`", "\\`x\\`"),
        ("*x* _y_", "\\*x\\* \\_y\\_"),
        ("[x]", "\\[x\\]"),
        ("C:\\dir", "C:\\\\dir"),
        ("line one\nline two", "line one line two"),
        ("tab\there", "tab here"),
        ("\x1b[31m", "\\\\x1b\\[31m"),
        ("see http://e.invalid", "see http\\://e.invalid"),
        ("see WWW.e.invalid", "see WWW\\.e.invalid"),
    ],
)
def test_inert_escapes_each_markdown_and_html_special(raw, written):
    assert inert(raw) == written


# ------------------------------------------------------------------ signed


def test_signed_markdown_fills_in_the_signoff_and_shows_the_digest():
    signed = _signed()
    section = _section(render_signed(signed), "Sign-off")
    assert "1. **EXCL-PSYCHOSIS**: History of psychosis.\n\n   Reason: Reviewed EXCL-PSYCHOSIS with the patient" in section
    assert "Clinician name: Dr A. Osei" in section
    assert "Registration number: GMC 7654321" in section
    assert "Date and time: 2026-11-27T10:15:00Z (UTC)" in section
    assert f"Digest of the plan and sign-off: `{signed['digest']}`" in section
    assert "not a cryptographic signature" in section
    assert "...." not in section


def test_signed_markdown_title_says_signed_by_whom_and_when():
    lines = render_signed(_signed()).splitlines()
    assert lines[0] == "# SIGNED treatment plan for patient P-0150"
    assert lines[4] == "Status: **SIGNED** by Dr A. Osei (registration GMC 7654321) at 2026-11-27T10:15:00Z (UTC)."


def test_signed_markdown_body_is_the_draft_body():
    draft = _markdown("needs_review")
    signed = render_signed(_signed())
    for heading in ("Findings", "Patient and protocol", "Dose calculation", "Schedule", "Medication holds", "Checklists"):
        assert _section(signed, heading) == _section(draft, heading)


def test_a_hostile_reason_is_inert_in_the_signed_markdown():
    # `sign` now refuses control and direction characters in a reason (issue 9): the hostile text
    # is put into the signed file afterwards, as an edit would, and must still render inert.
    signed = _signed(HOSTILE)
    for ack in signed["signoff"]["acknowledgements"]:
        ack["reason"] = HOSTILE_TEXT
    types = {t.type for t in _tokens(render_signed(signed))}
    assert not types & {"html_block", "html_inline", "link_open", "image"}


def test_an_altered_signed_plan_says_so_above_the_verdict():
    signed = copy.deepcopy(_signed(ALL_PLANS["eligible"]))
    signed["plan"]["sessions"][0]["dose_mg"] = 60
    text = render_signed(signed)
    warning = text.index("## WARNING: this signed plan does not verify")
    assert warning < text.index("## Verdict")
    assert (
        "- changed after signing: session 1 (its date, dose, volumes, rate or checks) "
        "\\[plan.sessions\\[0\\]\\]" in text
    )


def test_an_intact_signed_plan_carries_no_warning():
    assert "WARNING" not in render_signed(_signed())


def test_excluded_markdown_is_never_offered_for_signature():
    assert "## Sign-off" not in MarkdownRenderer().render(EXCLUDED)
