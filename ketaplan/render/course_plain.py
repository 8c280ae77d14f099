"""A plain terminal view of a continued series (`ketaplan course --format text`): verdict, Given,
Response, Next, then the plan itself (findings, holds, checklists, sign-off) as `plan` shows it.

Plain text, no colour: the full course views (text, Markdown, HTML, with a chart per scale) render
the same Plan and Course values; this one computes nothing either.
"""

from __future__ import annotations

from ketaplan.model.course import Course, fmt_change_pct
from ketaplan.model.plan import Plan
from ketaplan.render.text import inert
from ketaplan.units import fmt_mg, fmt_mg_per_h, fmt_mg_per_kg, fmt_mg_per_kg_per_h

SCALES = {"phq9": "PHQ-9", "madrs": "MADRS", "gad7": "GAD-7", "pain_nrs": "Pain NRS"}
NONE = "—"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]]


def _bp(bp) -> str:
    return NONE if bp is None else f"{bp[0]}/{bp[1]}"


def given_lines(course: Course) -> list[str]:
    if not course.series:
        return ["No session of the series is recorded."]
    rows = []
    for g in course.series:
        i = g.infusion
        events = NONE if i.adverse_events is None else (", ".join(i.adverse_events) or "none")
        if i.adverse_event_detail:
            events += f" ({i.adverse_event_detail})"
        state = "completed" if i.completed else f"stopped: {i.stopped_because}"
        rows.append(
            [
                str(g.number),
                i.date.isoformat(),
                fmt_mg(i.dose_mg),
                NONE if g.mg_per_kg is None else fmt_mg_per_kg(g.mg_per_kg),
                state,
                _bp(g.bp_before),
                _bp(g.bp_peak),
                "not recorded" if i.adverse_events is None else events,
            ]
        )
    rows = [[inert(c) for c in r] for r in rows]
    return _table(["#", "date", "dose", "mg/kg", "completed", "BP before", "BP peak", "adverse events"], rows)


def response_lines(course: Course) -> list[str]:
    if not course.response:
        return ["No scores are recorded."]
    rows = []
    for r in course.response:
        baseline = NONE if r.baseline is None else str(r.baseline)
        if r.baseline_on is not None:
            baseline += f" ({r.baseline_on.isoformat()})"
        latest = NONE if r.latest is None else f"{r.latest} ({r.latest_on.isoformat()})"
        rows.append([SCALES.get(r.scale, r.scale), baseline, latest, fmt_change_pct(r.change_pct), r.status])
    return _table(["scale", "baseline", "latest", "change", "status"], rows)


def next_lines(plan: Plan) -> list[str]:
    if not plan.sessions:
        return ["No session left to draft."]
    rate = plan.dosing is not None and plan.dosing.mode == "mg_per_kg_per_hour"
    rows = []
    for s in plan.sessions:
        amount = fmt_mg_per_kg_per_h(s.amount) if rate else fmt_mg_per_kg(s.amount)
        dose = NONE if s.dose_mg is None else fmt_mg(s.dose_mg)
        if rate and s.rate_mg_per_h is not None:
            dose += f" ({fmt_mg_per_h(s.rate_mg_per_h)})"
        if s.not_drafted_because:
            dose = f"not drafted ({s.not_drafted_because})"
        titration = s.titrated_by or "phase dose"
        if s.titration_not_used:
            titration += "; not used: " + "; ".join(s.titration_not_used)
        rows.append([str(s.number), s.date.isoformat(), s.weekday, s.phase, amount, dose, titration])
    rows = [[inert(c) for c in r] for r in rows]
    return _table(["#", "date", "day", "phase", "per kg", "dose", "titration"], rows)


def render_course_plain(plan: Plan, plan_text: str) -> str:
    """The course sections, then `plan_text` (the plan as `ketaplan plan --format text` shows it)."""
    course = plan.course
    assert course is not None, "a course view needs the Plan from continue_series"
    lines = [
        f"COURSE  {plan.verdict.upper()}  patient {inert(plan.patient.id)}  protocol {inert(plan.protocol.id)}",
        f"{course.continued_from} session{'s' if course.continued_from != 1 else ''} given in the current series"
        + (f", from {course.first_session.isoformat()} to {course.last_session.isoformat()}" if course.series else ""),
        "",
        "Given",
        *given_lines(course),
        "",
        f"Response (response at least {fmt_change_pct(course.response_at_least)}, partial at least "
        f"{fmt_change_pct(course.partial_at_least)} reduction from baseline)",
        *response_lines(course),
        "",
        "Next",
        *next_lines(plan),
        "",
    ]
    return "\n".join(lines) + "\n" + plan_text
