"""The course views: text (terminal), Markdown and HTML of one continued plan and its course.

They lay out one `CourseView` value and compute nothing: every figure (a dose, an mg/kg, a change %,
a status) comes from the course model; only the formatting is done here (a change % is shown to one
decimal, truncated toward zero, as course.md says). The order is the spec's: the verdict first, then
Given, Response (a chart per scale), Next (with the titration rule of each dose), then findings,
holds, checklists, sign-off and footer as in a plan.
"""

from __future__ import annotations

import html
import io
from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

from ketaplan.units import fmt_mg, fmt_mg_per_kg, fmt_mg_per_kg_per_h, fmt_number

if TYPE_CHECKING:
    from ketaplan.model.plan import Plan

SCALE_NAMES = {"phq9": "PHQ-9", "madrs": "MADRS", "gad7": "GAD-7", "pain_nrs": "Pain NRS"}
NOT_RECORDED = "not recorded"
UNKNOWN = "unknown"


# ------------------------------------------------------------------------------------------------
# The value the views lay out


class GivenRow(NamedTuple):
    """One session of the current series, as recorded, with the model's mg/kg of the current dosing weight."""

    number: int
    date: date
    dose_mg: Fraction
    mg_per_kg: Fraction | None
    completed: bool = True
    stopped_because: str | None = None
    bp_before: tuple[int, int] | None = None
    bp_peak: tuple[int, int] | None = None
    adverse_events: tuple[str, ...] | None = None  # None: not recorded


class ScalePoint(NamedTuple):
    date: date | None  # None: a baseline with no `scored_on`
    score: int
    what: str  # "baseline" | "assessment"


class ScaleResponse(NamedTuple):
    scale: str  # "phq9", "madrs", ...
    baseline: int | None
    latest: int | None
    latest_on: date | None
    change_pct: Fraction | None  # exact; None = unknown
    status: str  # remission | response | partial | no response | worse | unknown
    points: tuple[ScalePoint, ...] = ()
    scale_max: int | None = None  # the top of the scale, for the chart's axis
    remission_below: int | None = None  # the protocol's threshold, drawn on the chart


class Titration(NamedTuple):
    """What set the per-kg amount of one session still to give."""

    number: int
    rule: str | None  # the titrate rule applied; None: the phase's amount
    not_used: tuple[str, ...] = ()  # titrate rules that applied but were not used (the lowest wins)
    note: str | None = None  # e.g. "an escalation that could not be checked is not applied"


class CourseView(NamedTuple):
    plan: Plan  # the continued plan: its sessions are the ones still to give
    protocol_id: str
    given: tuple[GivenRow, ...]
    response: tuple[ScaleResponse, ...]
    continued_from: int  # sessions of the series already given
    titration: tuple[Titration, ...] = ()


# ------------------------------------------------------------------------------------------------
# Formatting shared by the views (formatting only)


def fmt_change(change: Fraction | None) -> str:
    """A change % as course.md shows it: one decimal, truncated toward zero (a shown 50.0 % is never an
    exact 49.96 %); a fall is "lower", a rise "higher"; unknown is never 0."""
    if change is None:
        return UNKNOWN
    tenths = int(Fraction(change) * 10)  # int() truncates toward zero
    shown = f"{abs(tenths) // 10}.{abs(tenths) % 10} %"
    if change == 0:
        return "0.0 % (no change)"
    return f"{shown} {'lower' if change > 0 else 'higher'}"


def fmt_bp(bp: tuple[int, int] | None) -> str:
    return NOT_RECORDED if bp is None else f"{bp[0]}/{bp[1]}"


def fmt_events(events: tuple[str, ...] | None) -> str:
    if events is None:
        return NOT_RECORDED
    return ", ".join(events) if events else "none"


def _bp_cell(row: GivenRow) -> str:
    if row.bp_before is None and row.bp_peak is None:
        return NOT_RECORDED
    return f"{fmt_bp(row.bp_before) if row.bp_before else '?'} → {fmt_bp(row.bp_peak) if row.bp_peak else '?'}"


def fmt_completed(row: GivenRow) -> str:
    if row.completed:
        return "completed"
    return f"stopped: {row.stopped_because}" if row.stopped_because else "stopped"


def scale_name(scale: str) -> str:
    return SCALE_NAMES.get(scale, scale)


def _per_kg(plan: Plan, amount: Fraction) -> str:
    rate = plan.dosing is not None and plan.dosing.mode == "mg_per_kg_per_hour"
    return (fmt_mg_per_kg_per_h if rate else fmt_mg_per_kg)(amount)


def titration_lines(view: CourseView) -> list[str]:
    """One line per run of sessions with the same titration: which rule set the amount, which did not."""
    by_number = {t.number: t for t in view.titration}
    runs: list[tuple[int, int, str]] = []
    for s in view.plan.sessions:
        t = by_number.get(s.number)
        if t is None or t.rule is None:
            text = f"{_per_kg(view.plan, s.amount)}, the phase's amount ({s.phase}): no titration rule applies"
        else:
            text = f"{_per_kg(view.plan, s.amount)}, set by titration rule {t.rule}"
        if t is not None and t.not_used:
            text += f"; not used: {', '.join(t.not_used)}"
        if t is not None and t.note:
            text += f" ({t.note})"
        if runs and runs[-1][2] == text and runs[-1][1] + 1 == s.number:
            runs[-1] = (runs[-1][0], s.number, text)
        else:
            runs.append((s.number, s.number, text))
    return [
        (f"Session {a}" if a == b else f"Sessions {a}–{b}") + f": {text}" for a, b, text in runs
    ]


def given_heading(view: CourseView) -> str:
    n = view.continued_from
    if n == 0:
        return f"No session of a series under {view.protocol_id} is recorded: the series starts at session 1."
    nxt = view.plan.sessions[0].number if view.plan.sessions else None
    tail = f"; the plan continues at session {nxt}" if nxt is not None else ""
    return f"{n} {'session' if n == 1 else 'sessions'} given in the current series under {view.protocol_id}{tail}."


def given_rows(view: CourseView) -> list[list[str]]:
    return [
        [
            str(g.number),
            g.date.isoformat(),
            fmt_mg(g.dose_mg),
            fmt_mg_per_kg(g.mg_per_kg) if g.mg_per_kg is not None else UNKNOWN,
            _bp_cell(g),
            fmt_completed(g),
            fmt_events(g.adverse_events),
        ]
        for g in view.given
    ]


GIVEN_HEADERS = ["#", "Date", "Dose", "mg/kg", "BP before → peak", "Completed", "Adverse events"]
RESPONSE_HEADERS = ["Scale", "Baseline", "Latest", "On", "Change", "Status"]


def response_rows(view: CourseView) -> list[list[str]]:
    return [
        [
            scale_name(r.scale),
            str(r.baseline) if r.baseline is not None else NOT_RECORDED,
            str(r.latest) if r.latest is not None else "none yet",
            r.latest_on.isoformat() if r.latest_on is not None else "",
            fmt_change(r.change_pct),
            r.status,
        ]
        for r in view.response
    ]


def dated_points(r: ScaleResponse) -> list[ScalePoint]:
    return [p for p in r.points if p.date is not None]


def chart_caption(r: ScaleResponse) -> str:
    shown = ", ".join(f"{p.date.isoformat()} {p.score}" for p in dated_points(r))
    undated = [p for p in r.points if p.date is None]
    text = f"{scale_name(r.scale)}: {shown}" if shown else f"{scale_name(r.scale)}: no dated score"
    if undated:
        text += f" (baseline {undated[0].score} has no date: not drawn)"
    return text


# ------------------------------------------------------------------------------------------------
# Terminal


def _uniplot_chart(r: ScaleResponse, width: int) -> str | None:
    """A scale over time, drawn by uniplot (imported here only); None when fewer than two dated scores."""
    points = dated_points(r)
    if len(points) < 2 or points[0].date == points[-1].date:
        return None
    import numpy as np
    from uniplot import plot_to_string

    xs = np.array([p.date.isoformat() for p in points], dtype="datetime64[D]")
    ys = [p.score for p in points]
    top = r.scale_max if r.scale_max is not None else max(ys)
    # One series only: without colour a second line (a threshold) could not be told from the scores.
    text = plot_to_string(
        ys,
        xs,
        lines=True,
        height=8,
        width=max(20, width - 12),
        y_min=0,
        y_max=top,
        color=False,
        title=f"{scale_name(r.scale)} (0 to {top})",
    )
    return text.rstrip("\n")


def _course_text_sections(view: CourseView, console) -> list[list[Any]]:
    from rich import box
    from rich.table import Table

    from ketaplan.render import text as t

    plan = view.plan

    def table(headers: list[str], rows: list[list[str]], right: set[int], whole: set[int]) -> Any:
        # Columns in `whole` (dates, doses, readings) are never wrapped; the others wrap at spaces.
        tab = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, header_style="bold")
        for i, h in enumerate(headers):
            tab.add_column(t._text(h), justify="right" if i in right else "left", overflow="fold", no_wrap=i in whole)
        for row in rows:
            tab.add_row(*(t._text(c) for c in row))
        return tab

    head = [
        t._text((f"{plan.status.upper()} COURSE — {plan.patient.id} — {plan.protocol.id} {plan.protocol.version}", "bold")),
        t._verdict(plan),
    ]
    given: list[Any] = [t._text(("Given", "bold")), t._indent(t._text(given_heading(view)))]
    if view.given:
        given.append(table(GIVEN_HEADERS, given_rows(view), {0, 2, 3}, {0, 1, 2, 3, 4}))
    response: list[Any] = [t._text(("Response", "bold"))]
    if view.response:
        response.append(table(RESPONSE_HEADERS, response_rows(view), {1, 2}, {0, 1, 3, 4}))
        for r in view.response:
            chart = _uniplot_chart(r, console.width)
            response.append(t._indent(t._text(chart_caption(r))))
            if chart is not None:
                response.extend(t._text(line) for line in chart.split("\n"))
    else:
        response.append(t._indent(t._text("No baseline score is recorded: the response cannot be followed.")))
    if plan.verdict == "excluded":
        return [
            head,
            [t._findings(plan)],
            given,
            response,
            [t._text(("No further session is drafted: the protocol excludes this patient now.", "bold"))],
            t._footer(plan),
        ]
    nxt: list[Any] = [t._text(("Next", "bold"))]
    if plan.sessions:
        nxt += [t._indent(t._text(line)) for line in titration_lines(view)]
    else:
        nxt.append(t._indent(t._text("No session is left to draft in this series.")))
    return [
        head,
        given,
        response,
        nxt,
        t._dose_calculation(plan),
        t._schedule(plan, console),
        [t._text(("Findings", "bold")), t._findings(plan)],
        t._holds(plan),
        t._checklists(plan),
        t._signoff(plan),
        t._footer(plan),
    ]


def course_text(view: CourseView, *, color: bool = False, width: int | None = None) -> str:
    from rich.console import Console

    from ketaplan.render.text import DEFAULT_WIDTH

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        width=width or DEFAULT_WIDTH,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
    )
    for i, section in enumerate(_course_text_sections(view, console)):
        if i > 0:
            console.print()
        for block in section:
            console.print(block)
    lines = buffer.getvalue().split("\n")
    if lines[-1] == "":
        lines.pop()
    return "".join(line.rstrip(" ") + "\n" for line in lines)


# ------------------------------------------------------------------------------------------------
# Markdown


def course_markdown(view: CourseView) -> str:
    from ketaplan.render import markdown as m
    from ketaplan.render.json import plan_to_dict

    d = plan_to_dict(view.plan)
    pid = m.inert(view.plan.patient.id)
    blocks = [
        f"# DRAFT course of treatment for patient {pid}",
        f"Protocol **{m.inert(view.plan.protocol.id)}**, version {m.inert(view.plan.protocol.version)}: "
        f"{m.inert(view.plan.protocol.title)}.",
        *m._verdict(d, False),
        "## Given",
        m.inert(given_heading(view)),
    ]
    if view.given:
        blocks += m._table(GIVEN_HEADERS, [[m.inert(c) for c in row] for row in given_rows(view)])
    blocks.append("## Response")
    if view.response:
        blocks += m._table(RESPONSE_HEADERS, [[m.inert(c) for c in row] for row in response_rows(view)])
        for r in view.response:
            points = r.points
            if points:
                blocks.append(f"### {m.inert(scale_name(r.scale))} over time")
                blocks += m._table(
                    ["Date", "Score", "What"],
                    [[m.inert(p.date.isoformat() if p.date else "not dated"), str(p.score), m.inert(p.what)] for p in points],
                )
    else:
        blocks.append("No baseline score is recorded: the response cannot be followed.")
    if view.plan.verdict == "excluded":
        blocks += m._findings(d)
        blocks.append("No further session is drafted: the protocol excludes this patient now.")
        blocks += m._footer(d)
        return "\n\n".join(blocks) + "\n"
    blocks.append("## Next")
    if view.plan.sessions:
        blocks.append("\n".join(f"- {m.inert(line)}" for line in titration_lines(view)))
    else:
        blocks.append("No session is left to draft in this series.")
    blocks += m._dose(d) + m._schedule(d) + m._findings(d) + m._patient(d) + m._holds(d) + m._checklists(d)
    blocks += m._signoff(d, None) + m._footer(d)
    return "\n\n".join(blocks) + "\n"


# ------------------------------------------------------------------------------------------------
# HTML


def _h(value: object) -> str:
    from ketaplan.errors import printable

    return html.escape(printable(str(value)).replace("\n", " "), quote=True)


def svg_chart(r: ScaleResponse, width: int = 520, height: int = 170) -> str | None:
    """A scale over time as a small SVG: the scores joined by a line, each labelled with its value and
    date; the protocol's remission threshold dashed. Layout only: dates and scores are placed on the
    drawing; nothing clinical is computed. None when fewer than two dated scores."""
    points = dated_points(r)
    if len(points) < 2 or points[0].date == points[-1].date:
        return None
    left, right, top, bottom = 44, 16, 14, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    first, last = points[0].date, points[-1].date
    span = (last - first).days
    ymax = r.scale_max if r.scale_max is not None else max(p.score for p in points)

    def x(d: date) -> float:
        return left + plot_w * (d - first).days / span

    def y(v: int) -> float:
        return top + plot_h * (1 - v / ymax) if ymax else top + plot_h

    name = _h(scale_name(r.scale))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{name} over time">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#000"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#000"/>',
    ]
    for v in sorted({0, ymax}):
        out.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v}</text>')
    if r.remission_below is not None:
        yy = y(r.remission_below)
        out.append(
            f'<line x1="{left}" y1="{yy:.1f}" x2="{left + plot_w}" y2="{yy:.1f}" stroke="#555" stroke-dasharray="4 3"/>'
            f'<text x="{left + plot_w}" y="{yy - 3:.1f}" font-size="9" text-anchor="end" fill="#333">'
            f"remission below {r.remission_below}</text>"
        )
    path = " ".join(f"{x(p.date):.1f},{y(p.score):.1f}" for p in points)
    out.append(f'<polyline points="{path}" fill="none" stroke="#000" stroke-width="1.5"/>')
    for i, p in enumerate(points):
        px, py = x(p.date), y(p.score)
        anchor = "start" if i == 0 else "end" if i == len(points) - 1 else "middle"
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#000"/>')
        out.append(f'<text x="{px:.1f}" y="{py - 6:.1f}" font-size="10" text-anchor="{anchor}">{p.score}</text>')
        out.append(
            f'<text x="{px:.1f}" y="{top + plot_h + 14}" font-size="9" text-anchor="{anchor}">{p.date.isoformat()}</text>'
        )
    out.append("</svg>")
    return "".join(out)


_HTML_CSS = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9.5pt; color: #000;
       max-width: 190mm; margin: 0 auto; line-height: 1.35; }
h1 { font-size: 15pt; margin: 0 0 2mm 0; }
h2 { font-size: 11.5pt; margin: 5mm 0 1.5mm 0; border-bottom: 0.4mm solid #000; break-after: avoid; }
h3 { font-size: 10pt; margin: 3mm 0 1mm 0; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm 0; }
td, th { border: 0.25mm solid #777; padding: 0.8mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; white-space: nowrap; }
td.whole { white-space: nowrap; }
.caption { font-size: 8.5pt; margin: 0 0 1mm 0; }
.verdict { font-size: 12pt; font-weight: bold; border: 0.6mm solid #000; padding: 2mm; }
.chart { display: block; margin: 1mm 0 3mm 0; break-inside: avoid; }
ul.checks { list-style: none; padding-left: 0; }
ul.checks li::before { content: "\\2610  "; }
footer { font-size: 7.5pt; margin-top: 5mm; border-top: 0.25mm solid #000; }
"""


def _html_table(
    headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), whole: set[int] = frozenset()
) -> str:
    def cls(i: int) -> str:
        names = (["num"] if i in numeric else []) + (["whole"] if i in whole else [])
        return f' class="{" ".join(names)}"' if names else ""

    head = "".join(f"<th>{_h(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_h(c)}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def course_html(view: CourseView) -> str:
    """The course as a standalone HTML document (prints on A4)."""
    from ketaplan.render import text as t

    plan = view.plan
    verdict_words = {"eligible": "Eligible", "needs-review": "Needs review", "excluded": "Excluded"}
    verdict = verdict_words.get(plan.verdict, plan.verdict)
    ack = f": acknowledge at sign-off {', '.join(plan.acknowledge)}" if plan.acknowledge else ""
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>DRAFT course of treatment, patient {_h(plan.patient.id)}</title><style>{_HTML_CSS}</style></head><body>",
        f"<h1>DRAFT course of treatment for patient {_h(plan.patient.id)}</h1>",
        f"<p>Protocol <b>{_h(plan.protocol.id)}</b>, version {_h(plan.protocol.version)}: {_h(plan.protocol.title)}. "
        "This is not a prescription: a clinician checks every dose and signs before it is used.</p>",
        f'<p class="verdict">Verdict: {_h(verdict)}{_h(ack)}</p>',
        "<h2>Given</h2>",
        f"<p>{_h(given_heading(view))}</p>",
    ]
    if view.given:
        parts.append(_html_table(GIVEN_HEADERS, given_rows(view), {0, 2, 3}, {1, 4}))
    parts.append("<h2>Response</h2>")
    if view.response:
        parts.append(_html_table(RESPONSE_HEADERS, response_rows(view), {1, 2}, {3}))
        for r in view.response:
            chart = svg_chart(r)
            parts.append(f"<h3>{_h(scale_name(r.scale))} over time</h3>")
            if chart is not None:
                parts.append(chart)
            parts.append(f'<p class="caption">{_h(chart_caption(r))}</p>')
    else:
        parts.append("<p>No baseline score is recorded: the response cannot be followed.</p>")
    if plan.verdict != "excluded":
        parts.append("<h2>Next</h2>")
        if plan.sessions:
            parts.append("<ul>" + "".join(f"<li>{_h(line)}</li>" for line in titration_lines(view)) + "</ul>")
            rate = plan.dosing is not None and plan.dosing.mode == "mg_per_kg_per_hour"
            columns = [h for h, _ in t._LEAD_COLUMNS] + (["mg/kg/h", "Rate"] if rate else ["mg/kg"])
            columns += [h for h, _ in t._TAIL_COLUMNS]
            parts.append(_html_table(columns, [t._schedule_row(s, rate) for s in plan.sessions], set(range(3, 12))))
        else:
            parts.append("<p>No session is left to draft in this series.</p>")
    parts.append("<h2>Findings</h2>")
    if plan.findings:
        parts.append(
            _html_table(
                ["Rule", "Effect", "Message", "Evidence"],
                [
                    [f.rule, f.effect + (" (could not be checked)" if f.unknown else ""),
                     f.message + (f" Source: {f.source}" if f.source else ""), "; ".join(f.evidence)]
                    for f in plan.findings
                ],
            )  # fmt: skip
        )
    else:
        parts.append("<p>No rule of the protocol applied, and ketaplan added no finding.</p>")
    if plan.verdict != "excluded":
        parts.append("<h2>Medication holds</h2>")
        if plan.holds:
            parts.append(
                "<ul>"
                + "".join(
                    f"<li><b>{_h(h.rule)}</b> ({_h(', '.join(h.medications))})"
                    + (" <b>to confirm</b>" if h.to_confirm else "")
                    + f": {_h(h.instruction)}</li>"
                    for h in plan.holds
                )
                + "</ul>"
            )
        else:
            parts.append("<p>None.</p>")
        parts.append("<h2>Checklists</h2>")
        for title, items in (
            ("Before each session", plan.checklist_pre),
            ("During each session", plan.checklist_during),
            ("After each session", plan.checklist_after),
        ):
            body = "".join(f"<li>{_h(i)}</li>" for i in items) or "<li>None in the protocol.</li>"
            parts.append(f'<h3>{_h(title)}</h3><ul class="checks">{body}</ul>')
        parts.append("<h2>Sign-off</h2>")
        if plan.acknowledge:
            parts.append(
                "<p>Each finding below needs review; the clinician records why the plan may go ahead:</p><ol>"
                + "".join(f"<li><b>{_h(a)}</b>: reason ........................................</li>" for a in plan.acknowledge)
                + "</ol>"
            )
        else:
            parts.append("<p>No finding needs review.</p>")
        parts.append(
            "<p>Clinician name: ....................................<br>Registration number: "
            "....................................<br>Signature: ....................................<br>"
            "Date and time: ....................................</p>"
        )
    g = plan.generated
    parts.append(
        f"<footer>Drafted by {_h(g.by)} at {_h(g.at.isoformat())} (UTC); vocabulary {_h(g.vocabulary)}; "
        f"holidays {_h(g.holidays or 'none')}; start {g.start.isoformat()}; patient file SHA-256 "
        f"{_h(g.patient_sha256)}; protocol file SHA-256 {_h(g.protocol_sha256)}.</footer>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_course(view: CourseView, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """The course in `fmt`: "text", "markdown" or "html" (JSON is the course model's own)."""
    if fmt == "text":
        return course_text(view, color=color, width=width)
    if fmt == "markdown":
        return course_markdown(view)
    if fmt == "html":
        return course_html(view)
    from ketaplan.errors import UsageError

    raise UsageError(f"--format: the course has no {fmt!r} view here; use text, markdown, html or json")
