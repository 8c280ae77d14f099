"""The `course` part of `ketaplan course --format json` (spec/course.md): the series as recorded,
with computed mg/kg, the response per scale and where the plan continues. Exact numbers, integers
where whole, as in plan.md."""

from __future__ import annotations

from typing import Any

from ketaplan.model.course import Course, GivenSession, ScaleResponse
from ketaplan.render.json import _exact


def _bp(bp: tuple[int, int] | None) -> str | None:
    return None if bp is None else f"{bp[0]}/{bp[1]}"


def given_to_dict(g: GivenSession) -> dict[str, Any]:
    i = g.infusion
    return {
        "number": g.number,
        "phase": g.phase,
        "date": i.date.isoformat(),
        "protocol": i.protocol,
        "dose_mg": _exact(i.dose_mg, 2),
        "mg_per_kg": _exact(g.mg_per_kg, 4),  # of the current dosing weight
        "duration_min": i.duration_min,
        "completed": i.completed,
        "stopped_because": i.stopped_because,
        "vitals": None
        if i.vitals is None
        else [
            {"minute": v.minute, "blood_pressure": _bp(v.blood_pressure), "heart_rate": v.heart_rate, "spo2": v.spo2}
            for v in i.vitals
        ],
        "bp_before": _bp(g.bp_before),
        "bp_peak": _bp(g.bp_peak),
        "sedation": i.sedation,
        "dissociation": i.dissociation,
        "observed_min": i.observed_min,
        "adverse_events": None if i.adverse_events is None else list(i.adverse_events),
        "adverse_event_detail": i.adverse_event_detail,
    }


def response_to_dict(r: ScaleResponse) -> dict[str, Any]:
    return {
        "baseline": r.baseline,
        "baseline_on": None if r.baseline_on is None else r.baseline_on.isoformat(),
        "latest": r.latest,
        "latest_on": None if r.latest_on is None else r.latest_on.isoformat(),
        "change_pct": _exact(r.change_pct, 4),
        "status": r.status,
        "remission_below": r.remission_below,
        "points": [
            {"date": None if p.date is None else p.date.isoformat(), "score": p.score, "baseline": p.baseline}
            for p in r.points
        ],
    }


def course_to_dict(c: Course) -> dict[str, Any]:
    return {
        "protocol": c.protocol,
        "series": [given_to_dict(g) for g in c.series],
        "response": {r.scale: response_to_dict(r) for r in c.response},
        "continued_from": c.continued_from,
        "restart_after_days": c.restart_after_days,
        "response_at_least": _exact(c.response_at_least),
        "partial_at_least": _exact(c.partial_at_least),
    }
