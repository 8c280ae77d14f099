"""The session sheet as HTML (printed on A4) and as Markdown: a layout of one Sheet value.

Every number is a value of the plan, formatted by the same `ketaplan.units` functions as the plan's
own views; nothing is computed here. Text from a patient or protocol file is escaped (HTML) or made
inert (Markdown): it shows as written and does nothing else.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, NamedTuple

from ketaplan.units import (
    fmt_kg,
    fmt_mg,
    fmt_mg_per_h,
    fmt_mg_per_kg,
    fmt_mg_per_kg_per_h,
    fmt_mg_per_ml,
    fmt_minutes,
    fmt_ml,
    fmt_ml_per_h,
    fmt_number,
)

if TYPE_CHECKING:
    from ketaplan.sheet import Sheet

RATE_MODE = "mg_per_kg_per_hour"
NOT_GIVEN = "not in the plan"
SHA_PREFIX = 12
TIME_BLANK = "__ : __"
EXTRA_VITALS_ROWS = 2  # blank rows under the protocol's minutes, for readings taken at other times
_BASIS_WORDS = {"actual": "actual", "ideal": "ideal", "adjusted": "adjusted", "lean": "lean"}


class Fact(NamedTuple):
    label: str
    value: str  # the figure, printed large
    note: str = ""  # what it is, printed small beside it


def _or(value, fmt) -> str:
    return NOT_GIVEN if value is None else fmt(value)


def _sessions_given(sheet: Sheet) -> str:
    n = len(sheet.given)
    if n == 0:
        return "no session of this series recorded yet"
    last = sheet.given[-1]
    return f"{n} given so far, the last on {last.date.isoformat()}"


def identity(sheet: Sheet) -> list[Fact]:
    plan, s = sheet.plan, sheet.session
    p = plan.protocol
    return [
        Fact("Patient", plan.patient.id, f"{plan.patient.age} years, {plan.patient.sex}"),
        Fact("Session", str(s.number), f"{s.phase}; {_sessions_given(sheet)}"),
        Fact("Date", f"{s.weekday} {s.date.isoformat()}", "the drafted date"),
        Fact("Protocol", p.id, f"version {p.version}: {p.title}"),
    ]


def _chain(sheet: Sheet, per_kg, unit, raw, rounded, final) -> str:
    """How the plan reached the figure: the per-kg amount, the dosing weight, the factors, the raw
    product, the rounding and the cap, each as the plan holds it."""
    s, d = sheet.session, sheet.plan.dosing
    weight = fmt_kg(d.dosing_weight_kg) if d is not None and d.dosing_weight_kg is not None else "?"
    basis = _BASIS_WORDS.get(d.weight_basis, d.weight_basis) if d is not None else "?"
    titrated = getattr(s, "titrated_by", None)
    text = f"{per_kg(s.amount)}" + (f" (titrated: {titrated})" if titrated else "") + f" × {weight} ({basis} weight)"
    if d is not None:
        text += "".join(f" × {fmt_number(f.factor, places=4)} ({f.rule})" for f in d.factors)
    if raw is not None:
        text += f" = {unit(raw)}"
    if rounded is not None and rounded != raw:
        text += f", rounded to {unit(rounded)}"
    if s.capped_by and final is not None:
        text += f", lowered to {unit(final)} by the cap ({s.capped_by})"
    return text


def dose_facts(sheet: Sheet) -> list[Fact]:
    """The dose and its preparation, each figure as the plan has it."""
    plan, s = sheet.plan, sheet.session
    d = plan.dosing
    p = plan.protocol
    rate = d is not None and d.mode == RATE_MODE
    facts = []
    if rate:
        facts.append(Fact("Dose", fmt_mg(sheet.dose_mg), f"in the session of {fmt_minutes(s.duration_min)}"))
        chain = _chain(sheet, fmt_mg_per_kg_per_h, fmt_mg_per_h, s.raw_rate_mg_per_h, s.rounded_rate_mg_per_h,
                       s.rate_mg_per_h)  # fmt: skip
        facts.append(Fact("Rate", _or(s.rate_mg_per_h, fmt_mg_per_h), chain))
    else:
        chain = _chain(sheet, fmt_mg_per_kg, fmt_mg, s.raw_dose_mg, s.rounded_mg, s.dose_mg)
        given = getattr(s, "given_per_kg", None)
        if given is not None:
            # As the plan's schedule writes it (ketaplan.render.view.given_text).
            from ketaplan.render.view import given_text

            chain += f"; {fmt_mg(sheet.dose_mg)} is {given_text(given, s.amount, False)} given"
        facts.append(Fact("Dose", fmt_mg(sheet.dose_mg), f"over {fmt_minutes(s.duration_min)}"))
        facts.append(Fact("mg/kg", fmt_mg_per_kg(s.amount), chain))
    stock = f"of the {fmt_mg_per_ml(p.stock_mg_per_ml)} stock" if p.stock_mg_per_ml is not None else ""
    bag = f"into the {fmt_ml(p.bag_ml)} bag, the same volume of diluent removed first" if p.bag_ml is not None else ""
    facts += [
        Fact("Volume to draw", _or(s.draw_ml, fmt_ml), stock),
        Fact("Concentration", _or(s.concentration_mg_per_ml, fmt_mg_per_ml), "in the bag or syringe"),
        Fact("Volume to infuse", _or(s.volume_ml, fmt_ml), bag),
        Fact("Pump rate", _or(s.pump_ml_per_h, fmt_ml_per_h), f"for {fmt_minutes(s.duration_min)}"),
    ]
    return facts


def review_warning(sheet: Sheet) -> str | None:
    """The warning a needs-review plan carries onto its sheet."""
    if sheet.plan.verdict != "needs-review":
        return None
    rules = ", ".join(sheet.plan.acknowledge) or "see the plan"
    return (
        f"The plan NEEDS REVIEW ({rules}): give this session only under a plan a clinician has signed, "
        "with each of these findings acknowledged."
    )


def pre_items(sheet: Sheet) -> list[str]:
    items = list(sheet.plan.checklist_pre)
    for h in sheet.plan.holds:
        what = f" ({', '.join(h.medications)})" if h.medications else ""
        confirm = " To confirm: " + "; ".join(h.unknown_because) if h.to_confirm and h.unknown_because else ""
        items.append(f"Hold {h.rule}{what}: {h.instruction}{confirm}")
    items += list(sheet.session.checks)
    return items


def running_line(sheet: Sheet) -> str:
    """The line printed at the foot of every page, so that a loose page still names its patient."""
    s = sheet.session
    return (
        f"Patient {sheet.plan.patient.id} · session {s.number} · {s.weekday} {s.date.isoformat()} · "
        f"{fmt_mg(sheet.dose_mg)} · protocol {sheet.plan.protocol.id} {sheet.plan.protocol.version}"
    )


def footer_lines(sheet: Sheet) -> list[str]:
    g = sheet.plan.generated
    source = sheet.patient_file or g.patient_file or "PATIENT.toml"
    return [
        f"Drafted by {g.by} at {g.at.isoformat()} (UTC) from patient file SHA-256 {g.patient_sha256[:SHA_PREFIX]}… "
        f"and protocol {sheet.plan.protocol.id} {sheet.plan.protocol.version} "
        f"(SHA-256 {g.protocol_sha256[:SHA_PREFIX]}…).",
        f"Record it afterwards with: ketaplan record {source} --date {sheet.session.date.isoformat()} "
        f"--protocol {sheet.plan.protocol.id} --dose (as given), one --vitals per row, --sedation, --dissociation, "
        "--observed, --ae or --no-ae (ketaplan record --help).",
    ]


# --------------------------------------------------------------------------------------------------
# HTML


def _h(value: object) -> str:
    """File text as HTML that shows it and does nothing else (control characters made visible)."""
    from ketaplan.errors import printable

    return html.escape(printable(str(value)).replace("\n", " ").replace("\t", " "), quote=True)


_CSS = """
@page { size: A4; margin: 10mm 12mm 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 8.5pt; color: #000;
       margin: 0; line-height: 1.3; }
h1 { font-size: 13pt; margin: 0 0 1mm 0; }
h2 { font-size: 10pt; margin: 2.5mm 0 1mm 0; padding-bottom: 0.5mm; border-bottom: 0.4mm solid #000;
     break-after: avoid; }
.draft { font-size: 7.5pt; margin: 0 0 2mm 0; }
.warning { border: 0.6mm solid #000; padding: 1.5mm 2mm; margin: 2mm 0; font-weight: bold; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 0.25mm solid #000; padding: 0.7mm 1.5mm; vertical-align: top; text-align: left; }
th { background: #eee; font-weight: bold; }
.facts td.label { width: 24%; font-weight: bold; background: #f4f4f4; }
.facts td.value { width: 20%; font-size: 11.5pt; font-weight: bold; white-space: nowrap; }
.facts td.note { font-size: 8pt; }
.vitals td, .vitals th { height: 6.5mm; text-align: center; vertical-align: middle; }
.vitals td.minute { font-weight: bold; width: 12%; }
.box { display: inline-block; width: 3.2mm; height: 3.2mm; border: 0.3mm solid #000; margin-right: 1.5mm;
       vertical-align: -0.5mm; }
ul.checks { list-style: none; margin: 0; padding: 0; }
ul.checks li { margin: 0 0 0.6mm 0; padding-left: 5mm; text-indent: -5mm; break-inside: avoid; }
.events { columns: 3; column-gap: 4mm; }
.events li { break-inside: avoid; }
.write { display: inline-block; min-width: 40mm; border-bottom: 0.25mm solid #000; height: 4mm; }
.scores td { height: 9mm; width: 50%; }
.times td { height: 9mm; width: 25%; }
.signatures td { height: 10mm; width: 33%; }
.small { font-size: 7.5pt; }
footer { margin-top: 2mm; break-inside: avoid; font-size: 7pt; color: #222; word-wrap: break-word; }
section { break-inside: avoid; }
"""


def _css_string(value: str) -> str:
    """Text as a CSS string: letters, digits and spaces as they are, every other character as a
    CSS escape, so that nothing in it can end the string or the style sheet."""
    from ketaplan.errors import printable

    out = []
    for c in printable(value):
        out.append(c if c.isalnum() or c == " " else f"\\{ord(c):x} ")
    return '"' + "".join(out) + '"'


def _page_boxes(sheet: Sheet) -> str:
    """Every page names the patient, the session and its page number: a loose page is still placed."""
    line = _css_string(running_line(sheet) + " · page ")
    return (
        "@page { @bottom-left { content: " + line + ' counter(page) " of " counter(pages);'
        " font-family: sans-serif; font-size: 7.5pt; vertical-align: top; padding-top: 2mm; } }"
    )


def _facts_table(facts: list[Fact]) -> str:
    rows = "".join(
        f'<tr><td class="label">{_h(f.label)}</td><td class="value">{_h(f.value)}</td>'
        f'<td class="note">{_h(f.note)}</td></tr>'
        for f in facts
    )
    return f'<table class="facts">{rows}</table>'


def _checks(items: list[str], empty: str = "None in the protocol.") -> str:
    if not items:
        return f"<p>{_h(empty)}</p>"
    return '<ul class="checks">' + "".join(f'<li><span class="box"></span>{_h(i)}</li>' for i in items) + "</ul>"


def sheet_html(sheet: Sheet) -> str:
    """The sheet as a standalone HTML document, laid out for A4 paper."""
    s = sheet.session
    warning = review_warning(sheet)
    vitals_rows = "".join(
        f'<tr><td class="minute">{m} min</td><td>{TIME_BLANK}</td><td>/</td><td></td><td></td><td></td></tr>'
        for m in sheet.vitals_at_minutes
    ) + "".join(
        f'<tr><td class="minute">___ min</td><td>{TIME_BLANK}</td><td>/</td><td></td><td></td><td></td></tr>'
        for _ in range(EXTRA_VITALS_ROWS)
    )
    events = "".join(
        f'<li><span class="box"></span>{_h(e)}' + (' <span class="write"></span>' if e == "other" else "") + "</li>"
        for e in sheet.adverse_events
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Session {s.number} monitoring record, patient {_h(sheet.plan.patient.id)}</title>",
        f"<style>{_CSS}{_page_boxes(sheet)}</style></head><body>",
        "<h1>Ketamine infusion: session monitoring record</h1>",
        '<p class="draft">Printed from a DRAFT plan drafted by ketaplan: check every figure against the plan '
        f"a clinician has signed before the dose is drawn up. {_h(footer_lines(sheet)[0])}</p>",
    ]
    if warning:
        parts.append(f'<p class="warning">{_h(warning)}</p>')
    parts += [
        "<section><h2>Patient and session</h2>", _facts_table(identity(sheet)), "</section>",
        "<section><h2>Dose and preparation</h2>", _facts_table(dose_facts(sheet)),
        '<table class="signatures"><tr><td>Drawn up by (name, signature)</td>'
        "<td>Checked by (name, signature)</td><td>Time</td></tr></table></section>",
        "<section><h2>Before the session</h2>", _checks(pre_items(sheet)), "</section>",
        '<section><h2>Vital signs</h2><table class="vitals"><tr><th>Minute from start</th><th>Clock time</th>'
        "<th>Blood pressure (mmHg)</th><th>Heart rate (/min)</th><th>SpO2 (%)</th><th>Initials</th></tr>",
        vitals_rows,
        '</table><p class="small">Minute 0 is the reading before the infusion starts.</p></section>',
        "<section><h2>During the session</h2>", _checks(list(sheet.plan.checklist_during)),
        '<table class="scores"><tr><td><b>Sedation</b>, MOAA/S at its deepest (0 to 5; 5 = awake):</td>'
        "<td><b>Dissociation</b>, CADSS total at its peak (0 to 92):</td></tr></table></section>",
        '<section><h2>Adverse events</h2><ul class="checks"><li><span class="box"></span>'
        "<b>None seen</b></li></ul>",
        f'<ul class="checks events">{events}</ul></section>',
        '<section><h2>Times</h2><table class="times"><tr>'
        f"<td>Infusion started<br>{TIME_BLANK}</td><td>Infusion stopped<br>{TIME_BLANK}</td>"
        f"<td>Observation ended<br>{TIME_BLANK}</td><td>Ready to leave<br>{TIME_BLANK}</td></tr>"
        '<tr><td colspan="4"><span class="box"></span>Completed as planned &nbsp; '
        '<span class="box"></span>Stopped early, because: <span class="write" style="min-width:90mm"></span>'
        "</td></tr></table></section>",
        "<section><h2>Before discharge</h2>", _checks(list(sheet.plan.checklist_after)), "</section>",
        '<section><h2>Signatures</h2><table class="signatures"><tr><th>Role</th><th>Name and signature</th>'
        "<th>Date and time</th></tr><tr><td>Nurse who gave the infusion</td><td></td><td></td></tr>"
        "<tr><td>Clinician responsible for the session and discharge</td><td></td><td></td></tr></table></section>",
        "<footer>" + _h(footer_lines(sheet)[1]) + "</footer>",
        "</body></html>",
    ]  # fmt: skip
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------------
# Markdown


def sheet_markdown(sheet: Sheet) -> str:
    """The sheet as Markdown: the same sections, tables with blank cells to write in."""
    from ketaplan.render.markdown import inert

    def facts(rows: list[Fact]) -> str:
        lines = ["| | | |", "|---|---|---|"]
        lines += [f"| **{inert(f.label)}** | **{inert(f.value)}** | {inert(f.note) or ' '} |" for f in rows]
        return "\n".join(lines)

    def checks(items: list[str], empty: str = "None in the protocol.") -> str:
        return "\n".join(f"- [ ] {inert(i)}" for i in items) if items else empty

    s = sheet.session
    write = "." * 30
    blocks = [
        f"# Ketamine infusion: session monitoring record, patient {inert(sheet.plan.patient.id)}, session {s.number}",
        "Printed from a DRAFT plan drafted by ketaplan: check every figure against the plan a clinician has "
        "signed before the dose is drawn up.",
    ]
    warning = review_warning(sheet)
    if warning:
        blocks.append(f"> **{inert(warning)}**")
    vitals = ["| Minute from start | Clock time | Blood pressure (mmHg) | Heart rate (/min) | SpO2 (%) | Initials |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    vitals += [f"| {m} min | {TIME_BLANK} | / | | | |" for m in sheet.vitals_at_minutes]
    vitals += [f"| ___ min | {TIME_BLANK} | / | | | |" for _ in range(EXTRA_VITALS_ROWS)]
    events = [inert(e) + (f": {write}" if e == "other" else "") for e in sheet.adverse_events]
    blocks += [
        "## Patient and session",
        facts(identity(sheet)),
        "## Dose and preparation",
        facts(dose_facts(sheet)),
        f"Drawn up by (name, signature): {write}  Checked by (name, signature): {write}  Time: {TIME_BLANK}",
        "## Before the session",
        checks(pre_items(sheet)),
        "## Vital signs",
        "\n".join(vitals),
        "Minute 0 is the reading before the infusion starts.",
        "## During the session",
        checks(list(sheet.plan.checklist_during)),
        f"Sedation, MOAA/S at its deepest (0 to 5; 5 = awake): {write}\n\n"
        f"Dissociation, CADSS total at its peak (0 to 92): {write}",
        "## Adverse events",
        checks(["None seen", *events]),
        "## Times",
        f"Infusion started: {TIME_BLANK}  Infusion stopped: {TIME_BLANK}  Observation ended: {TIME_BLANK}  "
        f"Ready to leave: {TIME_BLANK}",
        checks(["Completed as planned", f"Stopped early, because: {write}"]),
        "## Before discharge",
        checks(list(sheet.plan.checklist_after)),
        "## Signatures",
        "| Role | Name and signature | Date and time |\n|---|---|---|\n"
        "| Nurse who gave the infusion | | |\n| Clinician responsible for the session and discharge | | |",
        "---",
        "\n".join(f"- {inert(line)}" for line in footer_lines(sheet)),
    ]
    return "\n\n".join(blocks) + "\n"
