"""`--format fhir`: the drafted plan as one FHIR R4 Bundle (type collection).

A draft CarePlan whose activities reference one draft MedicationRequest per session, a DetectedIssue
per finding, and the checklists (with the sign-off's acknowledgements) as a Questionnaire. Every
resource is checked with the FHIR R4 models (fhir.resources R4B) before anything is written. The
patient is referred to by the plan's patient id only, never by a name.
"""

from __future__ import annotations

import uuid
from typing import Any

from ketaplan.model.plan import Plan

UCUM = "http://unitsofmeasure.org"
SYSTEM = "urn:ketaplan"  # identifier and code systems of ketaplan's own values
SEVERITY = {"exclude": "high", "review": "moderate", "note": "low"}


def _uuid(digest: str, *parts: object) -> str:
    """A stable id: the same plan gives the same ids (from its digest, the resource and its index)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(["ketaplan", digest, *map(str, parts)])))


def plan_fhir_dict(plan: Plan) -> dict[str, Any]:
    from ketaplan.render.json import plan_to_dict
    from ketaplan.signing import with_digest

    d = with_digest(plan_to_dict(plan))
    digest = d["digest"]
    gen = d["generated"]
    patient_ref = {"identifier": {"system": f"{SYSTEM}:patient-id", "value": plan.patient.id}}
    ids: dict[str, Any] = {
        "careplan": _uuid(digest, "CarePlan"),
        "questionnaire": _uuid(digest, "Questionnaire"),
        "sessions": [_uuid(digest, "MedicationRequest", s["number"]) for s in d["sessions"]],
        "issues": [_uuid(digest, "DetectedIssue", i) for i in range(len(d["findings"]))],
    }
    urn = "urn:uuid:{}".format
    provenance = (
        f"Drafted by {gen['by']} on {gen['at']} from protocol {d['protocol']['id']} version "
        f"{d['protocol']['version']}. Plan digest {digest}; patient file sha256:{gen['patient_sha256']}; "
        f"protocol file sha256:{gen['protocol_sha256']}. Verdict: {d['verdict']}. A DRAFT for a clinician to "
        "check and sign: not an order."
    )
    identifiers = [
        {"system": f"{SYSTEM}:plan-digest", "value": digest},
        {"system": f"{SYSTEM}:patient-file-sha256", "value": f"sha256:{gen['patient_sha256']}"},
        {"system": f"{SYSTEM}:protocol-file-sha256", "value": f"sha256:{gen['protocol_sha256']}"},
    ]
    careplan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": ids["careplan"],
        "identifier": identifiers,
        "status": "draft",
        "intent": "plan",
        "title": d["protocol"]["title"],
        "description": f"Verdict: {d['verdict']}. {len(d['sessions'])} session(s) drafted{_given(plan)}.",
        "subject": patient_ref,
        "created": gen["at"],
        "note": [{"text": provenance}],
    }
    if d["sessions"]:
        careplan["period"] = {"start": d["sessions"][0]["date"], "end": d["sessions"][-1]["date"]}
        careplan["activity"] = [{"reference": {"reference": urn(i)}} for i in ids["sessions"]]
    supporting = [{"reference": urn(i)} for i in ids["issues"]] + [{"reference": urn(ids["questionnaire"])}]
    careplan["supportingInfo"] = supporting

    entries = [careplan]
    for s, rid in zip(d["sessions"], ids["sessions"]):
        entries.append(_medication_request(plan, d, s, rid, patient_ref, urn(ids["careplan"])))
    for f, rid in zip(d["findings"], ids["issues"]):
        entries.append(_detected_issue(f, rid, patient_ref, gen["at"], urn(ids["careplan"])))
    entries.append(_questionnaire(d, ids["questionnaire"], gen["at"]))
    return {
        "resourceType": "Bundle",
        "id": _uuid(digest, "Bundle"),
        "identifier": {"system": f"{SYSTEM}:plan-digest", "value": digest},
        "type": "collection",
        "timestamp": gen["at"],
        "entry": [{"fullUrl": urn(r["id"]), "resource": r} for r in entries],
    }


def _given(plan: Plan) -> str:
    """For `course`: how many sessions of the series were given before the drafted ones."""
    course = getattr(plan, "course", None)
    if course is None:
        return ""
    return f", continuing a series of which {course.continued_from} session(s) were given"


def _medication_request(plan: Plan, d: dict, s: dict, rid: str, patient_ref: dict, careplan: str) -> dict:
    from ketaplan.units import fmt_kg, fmt_mg, fmt_minutes, fmt_ml_per_h

    dosing = plan.dosing
    session = next(x for x in plan.sessions if x.number == s["number"])
    parts = [f"Session {s['number']} ({s['phase']}) on {s['date']}"]
    if session.dose_mg is not None:
        parts.append(f"{fmt_mg(session.dose_mg)} {plan.protocol.drug} over {fmt_minutes(session.duration_min)}")
    else:
        parts.append(f"no dose drafted ({session.not_drafted_because or 'see the findings'})")
    if dosing is not None and dosing.dosing_weight_kg is not None:
        parts.append(f"dosing weight {fmt_kg(dosing.dosing_weight_kg)} ({dosing.weight_basis} body weight)")
    elif dosing is not None:
        parts.append(f"no dosing weight ({dosing.weight_basis} body weight could not be used)")
    if session.pump_ml_per_h is not None:
        parts.append(f"pump rate {fmt_ml_per_h(session.pump_ml_per_h)}")
    parts.append("DRAFT: to be checked and signed by a clinician")
    dosage: dict[str, Any] = {
        "sequence": s["number"],
        "text": "; ".join(parts) + ".",
        "timing": {"event": [s["date"]]},
    }
    if plan.protocol.route:
        dosage["route"] = {"text": plan.protocol.route}
    dose_rate: dict[str, Any] = {}
    if s["dose_mg"] is not None:
        dose_rate["doseQuantity"] = {"value": s["dose_mg"], "unit": "mg", "system": UCUM, "code": "mg"}
    if s["pump_ml_per_h"] is not None:
        dose_rate["rateQuantity"] = {"value": s["pump_ml_per_h"], "unit": "mL/h", "system": UCUM, "code": "mL/h"}
    if dose_rate:
        dosage["doseAndRate"] = [dose_rate]
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "identifier": [{"system": f"{SYSTEM}:session", "value": str(s["number"])}],
        "status": "draft",
        "intent": "plan",
        "medicationCodeableConcept": {"text": plan.protocol.drug},
        "subject": patient_ref,
        "authoredOn": d["generated"]["at"],
        "basedOn": [{"reference": careplan}],
        "dosageInstruction": [dosage],
    }


def _detected_issue(f: dict, rid: str, patient_ref: dict, at: str, careplan: str) -> dict:
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": rid,
        "status": "preliminary",
        "code": {"coding": [{"system": f"{SYSTEM}:rule", "code": f["rule"]}], "text": f["rule"]},
        "severity": SEVERITY.get(f["effect"], "low"),
        "patient": patient_ref,
        "identifiedDateTime": at,
        "implicated": [{"reference": careplan}],
        "detail": f["message"],
    }
    evidence = list(f["evidence"])
    if f["source"]:
        evidence.append(f"source: {f['source']}")
    if f["unknown"]:
        evidence.append("could not be decided from the patient file (unknown)")
    evidence.append(f"effect on this plan: {f['effect']}")
    issue["evidence"] = [{"detail": [{"display": e} for e in evidence]}]
    return issue


def _questionnaire(d: dict, rid: str, at: str) -> dict:
    groups = []
    for stage, title in (
        ("pre", "Before each session"),
        ("during", "During each session"),
        ("after", "After each session"),
    ):
        items = d["checklist"][stage]
        if items:
            groups.append(
                {
                    "linkId": stage,
                    "text": title,
                    "type": "group",
                    "item": [
                        {"linkId": f"{stage}-{i + 1}", "text": text, "type": "boolean", "required": True}
                        for i, text in enumerate(items)
                    ],
                }
            )
    if d["signoff"]["acknowledge"]:
        groups.append(
            {
                "linkId": "acknowledge",
                "text": "Findings to acknowledge with a reason before signing",
                "type": "group",
                "item": [
                    {"linkId": f"acknowledge-{i + 1}", "text": rule, "type": "string", "required": True}
                    for i, rule in enumerate(d["signoff"]["acknowledge"])
                ],
            }
        )
    q: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": rid,
        "status": "draft",
        "title": f"Checklists: {d['protocol']['title']}",
        "date": at,
        "subjectType": ["Patient"],
    }
    if groups:
        q["item"] = groups
    return q


def check_r4(bundle: dict) -> None:
    """Every resource parses with the FHIR R4 models (fhir.resources R4B), or nothing is written."""
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)


def plan_fhir_text(plan: Plan) -> str:
    from ketaplan.render.json import dumps

    bundle = plan_fhir_dict(plan)
    check_r4(bundle)
    return dumps(bundle)
