"""The course views: text (terminal), Markdown and HTML of one continued plan and its course.

They lay out one `CourseView` value and compute nothing: every figure (a dose, an mg/kg, a change %,
a status) comes from the course model; only the formatting is done here (a change % is shown to one
decimal, truncated toward zero, as course.md says). The order is the spec's: the verdict first, then
Given, Response (a chart per scale), Next (with the titration rule of each dose), then findings,
holds, checklists, sign-off and footer as in a plan.
"""

from __future__ import annotations

import html
from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

from ketaplan.units import fmt_mg, fmt_mg_per_kg, fmt_mg_per_kg_per_h

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


class DatedPoint(NamedTuple):
    """A ScalePoint that has a date: what a chart can place."""

    date: date
    score: int


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
    from ketaplan.model.course import fmt_change_pct  # the one truncation to one decimal

    shown = fmt_change_pct(abs(Fraction(change)))  # truncation toward zero commutes with abs
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


def _given_per_kg(plan: Plan, x: Fraction | None) -> str:
    """The mg/kg given, as the plan's schedule writes a given mg/kg (two decimals)."""
    if x is None:
        return UNKNOWN
    from ketaplan.render.view import given_text

    rate = plan.dosing is not None and plan.dosing.mode == "mg_per_kg_per_hour"
    return given_text(x, x, rate)


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
            _given_per_kg(view.plan, g.mg_per_kg),
            _bp_cell(g),
            "completed" if g.completed else "stopped",
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


def dated_points(r: ScaleResponse) -> list[DatedPoint]:
    return [DatedPoint(p.date, p.score) for p in r.points if p.date is not None]


def chart_caption(r: ScaleResponse) -> str:
    shown = ", ".join(f"{p.date.isoformat()} {p.score}" for p in dated_points(r))
    undated = [p for p in r.points if p.date is None]
    text = f"{scale_name(r.scale)}: {shown}" if shown else f"{scale_name(r.scale)}: no dated score"
    if undated:
        text += f" (baseline {undated[0].score} has no date: not drawn)"
    return text


# ------------------------------------------------------------------------------------------------
# The course as a PlanView: the plan's view with the course's sections


class Chart(NamedTuple):
    """A block of a course view: one scale over time. Each view draws it its own way (terminal:
    uniplot; HTML: SVG; Markdown: a table of the points)."""

    response: ScaleResponse
    caption: str


SECTION_ORDER = ("given", "response", "next", "dose", "schedule", "findings", "patient", "holds", "checklists",
                 "signoff", "nothing-drafted")  # fmt: skip


def _given_section(view: CourseView):
    from ketaplan.render.view import Column, Para, Section, Table, spans

    blocks: list = [Para(spans(given_heading(view)))]
    if view.given:
        columns = (
            Column("number", "Session", "#", keep=True),
            Column("date", "Date", "Date", right=False, keep=True),
            Column("dose", "Dose", "Dose", keep=True),
            Column("given", "mg/kg given", "mg/kg", keep=True),
            Column("bp", "BP before → peak", "BP before → peak", right=False, keep=True),
            Column("completed", "Completed", "Completed", right=False, keep=True),
            Column("events", "Adverse events", "Adverse events", right=False, keep=True),
        )
        legend = ("Blood pressures in mmHg: the reading at minute 0 (before the infusion) and the highest.",) + tuple(
            f"Session {g.number} was stopped early: {g.stopped_because}" for g in view.given if not g.completed and g.stopped_because
        )
        blocks.append(Table(columns, tuple(tuple(r) for r in given_rows(view)), legend))
    return Section("given", "Given", tuple(blocks))


def _response_section(view: CourseView):
    from ketaplan.render.view import Column, Para, Section, Table, spans

    if not view.response:
        return Section("response", "Response", (Para(spans("No baseline score is recorded: the response cannot be followed.")),))
    columns = (
        Column("scale", "Scale", "Scale", right=False, keep=True),
        Column("baseline", "Baseline", "Baseline", keep=True),
        Column("latest", "Latest", "Latest", keep=True),
        Column("on", "On", "On", right=False, keep=True),
        Column("change", "Change from baseline", "Change", right=False, keep=True),
        Column("status", "Status", "Status", right=False, keep=True),
    )
    blocks: list = [Table(columns, tuple(tuple(r) for r in response_rows(view)))]
    blocks += [Chart(r, chart_caption(r)) for r in view.response]
    return Section("response", "Response", tuple(blocks))


def _next_section(view: CourseView):
    from ketaplan.render.view import Items, Para, Section, spans

    if not view.plan.sessions:
        return Section("next", "Next", (Para(spans("No session is left to draft in this series.")),))
    return Section("next", "Next", (Items(tuple(spans(line) for line in titration_lines(view))),))


def build_course_view(view: CourseView, *, digest: str | None = None):
    """The PlanView of the continued plan with the course's sections, in course.md's order: the
    verdict first (the view's head), Given, Response, Next (titration, then the dose calculation and
    the schedule of the sessions still to give), then findings, patient, holds, checklists, sign-off."""
    from ketaplan.render.view import build_view

    pv = build_view(view.plan, digest=digest)
    sections = [s for s in pv.sections] + [_given_section(view), _response_section(view)]
    if view.plan.verdict != "excluded":
        sections.append(_next_section(view))
    rank = {key: i for i, key in enumerate(SECTION_ORDER)}
    sections.sort(key=lambda s: rank.get(s.key, len(rank)))
    return pv._replace(
        status=f"{pv.status} COURSE",
        title=f"{pv.status} course of treatment for patient {view.plan.patient.id}",
        sections=tuple(sections),
    )


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


def course_text(view: CourseView, *, color: bool = False, width: int | None = None, verbose: bool = False) -> str:
    from ketaplan.render import text as t

    class Layout(t._Layout):
        def block(self, block: Any, indent: int = 2) -> None:
            if isinstance(block, Chart):
                self.wrapped(t._text(block.caption), indent)
                chart = _uniplot_chart(block.response, self.width)
                if chart is not None:
                    for line in chart.split("\n"):
                        self.line(t._text(line))
                return
            super().block(block, indent)

    return t.lay_out(Layout, build_course_view(view), color=color, width=width, verbose=verbose)


# ------------------------------------------------------------------------------------------------
# Markdown and HTML: the plan's own layouts (render/markdown.py, render/html.py) of the course's
# PlanView, a Chart given to each as blocks it knows


def _chart_table(r: ScaleResponse):
    from ketaplan.render.view import Column, Table

    columns = (
        Column("date", "Date", "Date", right=False, keep=True),
        Column("score", f"{scale_name(r.scale)} score", "Score", keep=True),
        Column("what", "What", "What", right=False, keep=True),
    )
    rows = tuple((p.date.isoformat() if p.date else "not dated", str(p.score), p.what) for p in r.points)
    return Table(columns, rows)


def _replace_charts(pv, replace):
    sections = []
    for section in pv.sections:
        blocks: list = []
        for block in section.blocks:
            blocks += replace(block) if isinstance(block, Chart) else [block]
        sections.append(section._replace(blocks=tuple(blocks)))
    return pv._replace(sections=tuple(sections))


def course_markdown(view: CourseView) -> str:
    """Markdown: each scale's scores as a table (no picture is written beside it)."""
    from ketaplan.render.markdown import render_markdown
    from ketaplan.render.view import Para, spans

    def as_table(chart: Chart) -> list:
        r = chart.response
        head = [Para(spans((f"{scale_name(r.scale)} over time", "strong")))]
        return head + ([_chart_table(r)] if r.points else [Para(spans(chart.caption))])

    return render_markdown(_replace_charts(build_course_view(view), as_table))


def _h(value: object) -> str:
    from ketaplan.render.view import one_line

    return html.escape(one_line(value), quote=True)


def _html_inline(inline) -> str:
    out = []
    for span in inline:
        text = _h(span.text)
        out.append(f"<b>{text}</b>" if span.style in ("strong", "warn") and text else text)
    return "".join(out)


def svg_chart(r: ScaleResponse, width: int = 520, height: int = 160) -> str | None:
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


_CHART_CSS = """
div.chart-block { break-inside: avoid; }
svg.chart { display: block; margin: 1mm 0 1mm 0; }
p.chart-caption { font-size: 8.5pt; margin: 0 0 2mm 0; }
"""


def course_html(view: CourseView, css: str | None = None) -> str:
    """HTML (A4): the plan's HTML layout of the course's PlanView, each Chart drawn as an SVG."""
    import secrets

    from ketaplan.render.html import DEFAULT_CSS, render_html
    from ketaplan.render.view import Para, spans

    # A chart stands in the page as a paragraph holding a token no file can write (a fresh random
    # one); the token's paragraph is then replaced by the drawing, made here from numbers only.
    nonce = secrets.token_hex(8)
    drawings: dict[str, str] = {}

    def placeholder(chart: Chart) -> list:
        token = f"KETAPLAN-CHART-{nonce}-{len(drawings)}"
        svg = svg_chart(chart.response)
        title = f"<p><strong>{_h(scale_name(chart.response.scale))} over time</strong></p>"
        caption = f'<p class="chart-caption">{_h(chart.caption)}</p>'
        drawings[token] = f'<div class="chart-block">{title}{svg or ""}{caption}</div>'
        return [Para(spans(token))]

    pv = _replace_charts(build_course_view(view), placeholder)
    page = render_html(pv, (css if css is not None else DEFAULT_CSS) + _CHART_CSS)
    for token, drawing in drawings.items():
        page = page.replace(f"<p>{token}</p>", drawing)
    return page


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


# ------------------------------------------------------------------------------------------------
# From the course model (ketaplan.model.course, riding on Plan.course) to the value the views lay out


def course_view_of(plan: Plan) -> CourseView:
    """The CourseView of a continued plan: the course model's figures, taken as they are."""
    from ketaplan.model.patient import SCORE_RANGES

    course = plan.course
    if course is None:  # a plan drafted without a series to continue: nothing given, nothing scored
        return CourseView(plan, plan.protocol.id, (), (), 0, ())
    given = tuple(
        GivenRow(
            number=g.number,
            date=g.date,
            dose_mg=g.dose_mg,
            mg_per_kg=g.mg_per_kg,
            completed=g.infusion.completed,
            stopped_because=g.infusion.stopped_because,
            bp_before=g.bp_before,
            bp_peak=g.bp_peak,
            adverse_events=g.infusion.adverse_events,
        )
        for g in course.series
    )
    response = tuple(
        ScaleResponse(
            scale=r.scale,
            baseline=r.baseline,
            latest=r.latest,
            latest_on=r.latest_on,
            change_pct=r.change_pct,
            status=r.status,
            points=tuple(ScalePoint(p.date, p.score, "baseline" if p.baseline else "assessment") for p in r.points),
            scale_max=SCORE_RANGES.get(r.scale, (0, None))[1],
            remission_below=r.remission_below,
        )
        for r in course.response
    )
    titration = tuple(Titration(s.number, s.titrated_by, tuple(s.titration_not_used)) for s in plan.sessions)
    return CourseView(plan, course.protocol, given, response, course.continued_from, titration)
