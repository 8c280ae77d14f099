"""The plan as JSON (spec/plan.md, "ketaplan-plan/1"): the contract that scripts rely on."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, overload

from ketaplan.model.plan import Dosing, Factor, Finding, Hold, PatientSummary, Plan, ProtocolRef, Provenance, Session
from ketaplan.units import json_number, truncate

PLAN_FORMAT = "ketaplan-plan/1"

# Characters that JSON may carry raw but a terminal acts on (C1 controls, U+009B is a CSI) or that
# reorder or break what is displayed (bidirectional overrides, line and paragraph separators).
# They are written as \uXXXX escapes: `cat plan.json` cannot be hijacked and json.loads reads them back.
_DISPLAY_UNSAFE = {
    **{c: f"\\u{c:04x}" for c in range(0x7F, 0xA0)},
    **{c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029)},
    **{c: f"\\u{c:04x}" for c in range(0x202A, 0x202F)},
    **{c: f"\\u{c:04x}" for c in range(0x2066, 0x206A)},
}


def _exact(x: Fraction | None, places: int = 4) -> int | float | None:
    """A number given in the protocol (mg/kg, a factor, a cap) exactly as written; only a value
    with no short decimal form is rounded, to `places`."""
    if x is None:
        return None
    try:
        return json_number(x)
    except ValueError:
        return json_number(x, places)


def _num(x: Fraction | None, places: int) -> int | float | None:
    return None if x is None else json_number(x, places)


def _day(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _utc(at: datetime) -> str:
    """"2026-11-27T09:00:00Z": UTC, whole seconds. A time without a zone is taken as UTC."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _patient(p: PatientSummary) -> dict[str, Any]:
    return {
        "id": p.id,
        "age": p.age,
        "sex": p.sex,
        "height_cm": _num(p.height_cm, 1),
        "weight_kg": _num(p.weight_kg, 1),
        # Cut, never rounded: BMI 34.9965 must not read as 35, a threshold it does not reach.
        "bmi": _num(truncate(p.bmi, 1), 1),
        "ideal_weight_kg": _num(p.ideal_weight_kg, 1),
        "adjusted_weight_kg": _num(p.adjusted_weight_kg, 1),
        "lean_weight_kg": _num(p.lean_weight_kg, 1),
        "weighed_on": _day(p.weighed_on),
    }


def _dosing(d: Dosing | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "weight_basis": d.weight_basis,
        "dosing_weight_kg": _num(d.dosing_weight_kg, 1),
        "factors": [{"rule": f.rule, "factor": _exact(f.factor)} for f in d.factors],
        "cap_mg": _exact(d.cap_mg, 2),
        "round_to_mg": _exact(d.round_to_mg),
        "mode": d.mode,
        "basis_rule": d.basis_rule,
        "cap_rule": d.cap_rule,
        "max_mg_per_hour": _exact(d.max_mg_per_hour, 2),
    }


def _session(s: Session, rate: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": s.number,
        "phase": s.phase,
        "date": s.date.isoformat(),
        "weekday": s.weekday,
        # A rate protocol doses per hour: a per-session mg/kg would be a number nobody prescribed.
        "mg_per_kg": None if rate else _exact(s.amount),
    }
    if rate:
        out["mg_per_kg_per_hour"] = _exact(s.amount)
        out["raw_rate_mg_per_h"] = _num(s.raw_rate_mg_per_h, 2)
        out["rounded_rate_mg_per_h"] = _num(s.rounded_rate_mg_per_h, 2)
        out["rate_mg_per_h"] = _num(s.rate_mg_per_h, 2)
    out.update(
        {
            "raw_dose_mg": _num(s.raw_dose_mg, 2),
            "dose_mg": _num(s.dose_mg, 2),
            "duration_min": s.duration_min,
            "draw_ml": _num(s.draw_ml, 2),
            "concentration_mg_per_ml": _num(s.concentration_mg_per_ml, 4),
            "volume_ml": _num(s.volume_ml, 2),
            "pump_ml_per_h": _num(s.pump_ml_per_h, 1),
            "checks": list(s.checks),
            # Added keys: how the dose was reached, so that a view of this JSON (the Markdown of a
            # signed plan) can show every step.
            "capped_by": s.capped_by,
            "not_drafted_because": s.not_drafted_because,
        }
    )
    if s.titrated_by is not None or s.titration_not_used:
        # Only where a titrate rule was considered (spec/course.md): plans without one are unchanged.
        out["titrated_by"] = s.titrated_by
        out["titration_not_used"] = list(s.titration_not_used)
    if rate:
        out["effective_mg_per_kg_per_hour_actual"] = _num(s.effective_mg_per_kg_per_hour_actual, 4)
        out["mg_per_kg_per_hour_given"] = _num(s.given_per_kg, 6)
    else:
        out["rounded_mg"] = _num(s.rounded_mg, 2)
        out["effective_mg_per_kg_actual"] = _num(s.effective_mg_per_kg_actual, 4)
        out["mg_per_kg_given"] = _num(s.given_per_kg, 6)
    return out


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "effect": f.effect,
        "rule_effect": f.rule_effect,
        "unknown": f.unknown,
        "message": f.message,
        "evidence": list(f.evidence),
        "source": f.source,
    }


def _hold(h: Hold) -> dict[str, Any]:
    return {
        "rule": h.rule,
        "medications": list(h.medications),
        "instruction": h.instruction,
        "to_confirm": h.to_confirm,
        "unknown_because": list(h.unknown_because),
    }


def _generated(g: Provenance) -> dict[str, Any]:
    return {
        "at": _utc(g.at),
        "by": g.by,
        "vocabulary": g.vocabulary,
        "holidays": g.holidays,
        "patient_sha256": g.patient_sha256,
        "protocol_sha256": g.protocol_sha256,
        "start": g.start.isoformat(),
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain JSON values, keys in the order of spec/plan.md (added keys after them);
    a continued series (`ketaplan course`) adds `course` (spec/course.md)."""
    out = _plan_to_dict(plan)
    if plan.course is not None:
        from ketaplan.render.course_json import course_to_dict

        out["course"] = course_to_dict(plan.course)
    return out


def _plan_to_dict(plan: Plan) -> dict[str, Any]:
    rate = plan.dosing is not None and plan.dosing.mode == "mg_per_kg_per_hour"
    return {
        "format": PLAN_FORMAT,
        "status": plan.status,
        "verdict": plan.verdict,
        "patient": _patient(plan.patient),
        "protocol": {
            "id": plan.protocol.id,
            "version": plan.protocol.version,
            "sha256": plan.protocol.sha256,
            "title": plan.protocol.title,
            "drug": {
                "name": plan.protocol.drug,
                "route": plan.protocol.route,
                "stock_mg_per_ml": _exact(plan.protocol.stock_mg_per_ml),
                "bag_ml": _exact(plan.protocol.bag_ml),
                "final_concentration_mg_per_ml": _exact(plan.protocol.final_mg_per_ml),
            },
            "approved_by": plan.protocol.approved_by,
            "sources": list(plan.protocol.sources),
        },
        "dosing": _dosing(plan.dosing),
        "sessions": [_session(s, rate) for s in plan.sessions],
        "findings": [_finding(f) for f in plan.findings],
        "holds": [_hold(h) for h in plan.holds],
        "checklist": {
            "pre": list(plan.checklist_pre),
            "during": list(plan.checklist_during),
            "after": list(plan.checklist_after),
        },
        "signoff": {"acknowledge": list(plan.acknowledge)},
        "generated": _generated(plan.generated),
    }


def dumps(d: dict[str, Any]) -> str:
    """The JSON text of `d`: indented, UTF-8 as written, display-unsafe characters escaped."""
    return json.dumps(d, indent=2, ensure_ascii=False).translate(_DISPLAY_UNSAFE) + "\n"


def plan_json_text(plan: Plan) -> str:
    """The draft as `ketaplan plan --format json` writes it: the plan and its own `digest`."""
    from ketaplan.signing import with_digest

    return dumps(with_digest(plan_to_dict(plan)))


class JsonRenderer:
    """`--format json`."""

    def render(self, plan: Plan) -> str:
        return plan_json_text(plan)


# --------------------------------------------------------------------------- reading a plan back


def plan_digest(plan: Plan) -> str:
    """The digest a draft of this plan carries (ketaplan.signing.digest_of its JSON)."""
    from ketaplan.signing import digest_of

    return digest_of(plan_to_dict(plan))


def _fraction(x: Any) -> Fraction | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float, Decimal, str)):
        raise ValueError(f"{x!r} is not a number")
    return Fraction(str(x))  # the decimal as written (a float by its shortest text)


def _number(x: Any) -> Fraction:
    """A number the plan always has (a null there is not such a plan)."""
    value = _fraction(x)
    if value is None:
        raise ValueError(f"{x!r} is not a number")
    return value


@overload
def _text(x: Any) -> str: ...
@overload
def _text(x: Any, *, optional: bool) -> str | None: ...
def _text(x: Any, *, optional: bool = False) -> str | None:
    if x is None and optional:
        return None
    if not isinstance(x, str):
        raise ValueError(f"{x!r} is not text")
    return x


def _texts(x: Any) -> tuple[str, ...]:
    if not isinstance(x, list):
        raise ValueError(f"{x!r} is not a list")
    return tuple(_text(i) for i in x)


def _when(x: Any) -> datetime:
    text = _text(x)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def plan_from_dict(d: dict[str, Any]) -> Plan:
    """The Plan a plan JSON (`plan_to_dict`, read back with Decimals or floats) holds, numbers as the
    JSON gives them. Raises ValueError (or KeyError, TypeError) on a JSON that is not such a plan."""
    p, r, g = d["patient"], d["protocol"], d["generated"]
    drug = r.get("drug") or {}
    dosing = None
    if d.get("dosing") is not None:
        x = d["dosing"]
        dosing = Dosing(
            mode=_text(x.get("mode") or "mg_per_kg"),
            weight_basis=_text(x["weight_basis"]),
            basis_rule=_text(x.get("basis_rule"), optional=True),
            dosing_weight_kg=_fraction(x.get("dosing_weight_kg")),
            factors=tuple(Factor(_text(f["rule"]), _number(f["factor"])) for f in x.get("factors") or []),
            cap_mg=_number(x["cap_mg"]),
            cap_rule=_text(x.get("cap_rule"), optional=True),
            round_to_mg=_number(x["round_to_mg"]),
            max_mg_per_hour=_fraction(x.get("max_mg_per_hour")),
        )
    rate = dosing is not None and dosing.mode == "mg_per_kg_per_hour"
    sessions = []
    for s in d.get("sessions") or []:
        minutes = s["duration_min"]
        if isinstance(minutes, bool) or not isinstance(minutes, (int, Decimal)) or minutes != int(minutes):
            raise ValueError(f"{minutes!r} is not whole minutes")
        sessions.append(
            Session(
                number=int(s["number"]),
                phase=_text(s["phase"]),
                date=date.fromisoformat(_text(s["date"])),
                amount=_number(s["mg_per_kg_per_hour"] if rate else s["mg_per_kg"]),
                duration_min=int(minutes),
                raw_dose_mg=_fraction(s.get("raw_dose_mg")),
                rounded_mg=_fraction(s.get("rounded_mg")),
                dose_mg=_fraction(s.get("dose_mg")),
                capped_by=_text(s.get("capped_by"), optional=True),
                raw_rate_mg_per_h=_fraction(s.get("raw_rate_mg_per_h")),
                rounded_rate_mg_per_h=_fraction(s.get("rounded_rate_mg_per_h")),
                rate_mg_per_h=_fraction(s.get("rate_mg_per_h")),
                effective_mg_per_kg_actual=_fraction(s.get("effective_mg_per_kg_actual")),
                effective_mg_per_kg_per_hour_actual=_fraction(s.get("effective_mg_per_kg_per_hour_actual")),
                given_per_kg=_fraction(s.get("mg_per_kg_per_hour_given" if rate else "mg_per_kg_given")),
                not_drafted_because=_text(s.get("not_drafted_because"), optional=True),
                draw_ml=_fraction(s.get("draw_ml")),
                concentration_mg_per_ml=_fraction(s.get("concentration_mg_per_ml")),
                volume_ml=_fraction(s.get("volume_ml")),
                pump_ml_per_h=_fraction(s.get("pump_ml_per_h")),
                checks=_texts(s.get("checks") or []),
            )
        )
    checklist = d.get("checklist") or {}
    return Plan(
        verdict=_text(d["verdict"]),
        patient=PatientSummary(
            id=_text(p["id"]),
            age=int(p["age"]),
            sex=_text(p["sex"]),
            height_cm=_number(p["height_cm"]),
            weight_kg=_number(p["weight_kg"]),
            bmi=_number(p["bmi"]),  # already cut to 1 decimal: a view shows the same
            ideal_weight_kg=_fraction(p.get("ideal_weight_kg")),
            adjusted_weight_kg=_fraction(p.get("adjusted_weight_kg")),
            lean_weight_kg=_number(p["lean_weight_kg"]),
            weighed_on=date.fromisoformat(p["weighed_on"]) if p.get("weighed_on") else None,
        ),
        protocol=ProtocolRef(
            id=_text(r["id"]),
            title=_text(r.get("title") or ""),
            version=_text(r["version"]),
            sha256=_text(r.get("sha256") or ""),
            drug=_text(drug.get("name") or ""),
            route=_text(drug.get("route"), optional=True),
            approved_by=_text(r.get("approved_by"), optional=True),
            sources=_texts(r.get("sources") or []),
            stock_mg_per_ml=_fraction(drug.get("stock_mg_per_ml")),
            bag_ml=_fraction(drug.get("bag_ml")),
            final_mg_per_ml=_fraction(drug.get("final_concentration_mg_per_ml")),
        ),
        dosing=dosing,
        sessions=tuple(sessions),
        findings=tuple(
            Finding(
                rule=_text(f["rule"]),
                effect=_text(f["effect"]),
                rule_effect=_text(f.get("rule_effect") or f["effect"]),
                unknown=bool(f.get("unknown")),
                message=_text(f["message"]),
                evidence=_texts(f.get("evidence") or []),
                source=_text(f.get("source"), optional=True),
            )
            for f in d.get("findings") or []
        ),
        holds=tuple(
            Hold(
                rule=_text(h["rule"]),
                medications=_texts(h.get("medications") or []),
                instruction=_text(h["instruction"]),
                to_confirm=bool(h.get("to_confirm")),
                unknown_because=_texts(h.get("unknown_because") or []),
            )
            for h in d.get("holds") or []
        ),
        checklist_pre=_texts(checklist.get("pre") or []),
        checklist_during=_texts(checklist.get("during") or []),
        checklist_after=_texts(checklist.get("after") or []),
        acknowledge=_texts((d.get("signoff") or {}).get("acknowledge") or []),
        generated=Provenance(
            at=_when(g["at"]),
            by=_text(g["by"]),
            vocabulary=_text(g["vocabulary"]),
            holidays=_text(g.get("holidays"), optional=True),
            patient_sha256=_text(g["patient_sha256"]),
            protocol_sha256=_text(g["protocol_sha256"]),
            start=date.fromisoformat(_text(g["start"])),
        ),
        status=_text(d.get("status") or "draft"),
    )
