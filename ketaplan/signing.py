"""Digest a drafted plan, record a clinician's sign-off over it, and check that neither changed.

What the digest is, and what it is not
--------------------------------------
Every draft carries ``digest``: SHA-256 over the RFC 8785 canonical JSON of the
plan without ``generated.at`` (the only part that differs between two runs on the
same inputs) and without ``digest`` itself. A signed plan carries a second digest
over the plan *and* the sign-off, and a map of per-part digests so that
``verify`` can say which part (a session, a finding, the clinician's name...)
no longer matches.

These digests detect any change made to the file after drafting or signing, by
accident or by an edit. They are **not** a cryptographic signature: there is no
secret key, so someone who edits a dose and recomputes the digests with this
module produces a file that verifies. Keep the signed file where it cannot be
edited unseen (the record system, a write-once store), or add a real signature
(e.g. an institutional key) on top.

All functions here are pure: no files, no clock (``now`` is an argument).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ketaplan.digest import sha256
from ketaplan.errors import RefusedError

SIGNED_FORMAT = "ketaplan-signed/1"
PLAN_FORMAT = "ketaplan-plan/1"
_PREFIX = "sha256:"


class _NotJSON(ValueError):
    """A value that has no JSON meaning (so no canonical form to digest)."""


# --------------------------------------------------------------------------- digests


def _jsonable(value: Any) -> Any:
    """The value as RFC 8785 sees it. RFC 8785 defines every number as an IEEE
    double, so a Decimal read with parse_float=Decimal digests exactly as the same
    number read as a float: a plan digests the same however the file was parsed."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _NotJSON(f"{value} is not a JSON number")
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotJSON(f"object key {key!r} is not a string")
            out[key] = _jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    raise _NotJSON(f"a {type(value).__name__} is not a JSON value")


def _sha256_of(value: Any) -> str:
    import rfc8785  # lazily: only sign/verify/JSON output need it

    try:
        canonical = rfc8785.dumps(_jsonable(value))
    except rfc8785.CanonicalizationError as exc:
        raise _NotJSON(str(exc)) from exc
    return _PREFIX + sha256(canonical).hexdigest()


def _content(plan_dict: dict) -> dict:
    """The plan as its own digest covers it: without generated.at and without digest."""
    content = {key: value for key, value in plan_dict.items() if key != "digest"}
    generated = content.get("generated")
    if isinstance(generated, dict):
        content["generated"] = {k: v for k, v in generated.items() if k != "at"}
    return content


def digest_of(plan_dict: dict) -> str:
    """``sha256:<hex>`` over the RFC 8785 canonical JSON of the plan without
    ``generated.at`` and ``digest``: the same inputs give the same digest."""
    return _sha256_of(_content(plan_dict))


def with_digest(plan_dict: dict) -> dict:
    """A copy of the plan with its ``digest`` set (every draft carries one)."""
    out = {key: value for key, value in plan_dict.items() if key != "digest"}
    out["digest"] = digest_of(plan_dict)
    return out


def _parts(signed_body: dict) -> dict[str, str]:
    """Digests of each part of the plan and sign-off, so that a change can be named.

    Parts: every top-level key of the plan and of the sign-off, and one level
    below it (each session, each finding, each patient field, each acknowledgement).
    """
    parts: dict[str, str] = {}
    for section in ("plan", "signoff"):
        body = signed_body.get(section)
        if not isinstance(body, dict):
            continue
        parts[section] = _sha256_of(body)
        for key, value in body.items():
            name = f"{section}.{key}"
            parts[name] = _sha256_of(value)
            if isinstance(value, dict):
                for sub, item in value.items():
                    parts[f"{name}.{sub}"] = _sha256_of(item)
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    parts[f"{name}[{index}]"] = _sha256_of(item)
    return parts


# --------------------------------------------------------------------------- sign


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def _ids(ids: list[str]) -> str:
    return ", ".join(ids)


def _refuse(problems: list[str]) -> RefusedError:
    if len(problems) == 1:
        error = RefusedError(f"cannot sign this plan: {problems[0]}")
    else:
        error = RefusedError("cannot sign this plan:\n" + "\n".join(f"  - {p}" for p in problems))
    error.problems = list(problems)
    return error


def _typed_text_problems(clinician: Any, registration: Any, acks: dict[str, str], to_ack: list[str]) -> list[str]:
    """What a clinician typed must read as it is recorded: no control, direction or zero-width
    character that would hide or reorder text, and a reason that says something in letters."""
    import unicodedata

    from ketaplan.errors import hidden_characters

    problems = []
    named = [("the clinician's name", clinician), ("the registration number", registration)]
    named += [(f"the reason given for {rule}", acks[rule]) for rule in to_ack if rule in acks]
    for what, text in named:
        if not isinstance(text, str):
            continue
        hidden = hidden_characters(text)
        if hidden:
            problems.append(
                f"{what} holds characters that hide or reorder text ({', '.join(hidden)}): type it again"
            )
    for rule in to_ack:
        reason = acks.get(rule)
        letters = isinstance(reason, str) and any(unicodedata.category(ch).startswith("L") for ch in reason)
        if isinstance(reason, str) and not _blank(reason) and not letters:
            problems.append(f"the reason given for {rule} has no letters: say why the plan may go ahead")
    return problems


def _utc_stamp(now: datetime) -> str:
    if now.tzinfo is None or now.utcoffset() is None:
        # A sign-off time without a zone cannot be placed on the record's timeline.
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(
    plan_dict: dict,
    *,
    clinician: str,
    registration: str,
    acks: dict[str, str],
    now: datetime,
) -> dict:
    """Record a clinician's sign-off over a drafted plan, or refuse, naming every problem.

    Refuses (``RefusedError``, with ``.problems``) a plan edited after drafting or
    without a digest, one that is not a draft, an excluded plan, a needs-review
    finding without an acknowledgement or with a blank reason, an acknowledgement
    of a finding that is not to be acknowledged, and a blank clinician or
    registration number.
    """
    signed_at = _utc_stamp(now)
    if not isinstance(plan_dict, dict):
        raise _refuse(["the file does not hold a plan (a JSON object) to sign"])
    if plan_dict.get("format") == SIGNED_FORMAT:
        raise _refuse(["this plan is already signed; sign the draft plan instead"])

    problems: list[str] = []
    if plan_dict.get("format") != PLAN_FORMAT:
        problems.append(f"this is not a ketaplan draft plan (format {plan_dict.get('format')!r})")
    recorded = plan_dict.get("digest")
    if recorded is None:
        problems.append(
            "the plan has no digest, so it cannot be shown to be the plan ketaplan drafted; "
            "draft it again with `ketaplan plan --format json`"
        )
    else:
        try:
            actual = digest_of(plan_dict)
        except _NotJSON as exc:
            actual = f"(none: {exc})"
        if actual != recorded:
            problems.append(
                "the plan was changed after it was drafted: its content no longer matches "
                f"its digest {recorded}; draft it again from the patient and protocol files"
            )
    status = plan_dict.get("status")
    if status != "draft":
        problems.append(f"only a draft can be signed; this plan's status is {status!r}")
    if plan_dict.get("verdict") == "excluded":
        problems.append("the plan is excluded: no sessions or doses were drafted, so there is nothing to sign")

    signoff = plan_dict.get("signoff")
    to_ack = signoff.get("acknowledge") if isinstance(signoff, dict) else None
    if not isinstance(to_ack, list) or not all(isinstance(rule, str) for rule in to_ack):
        problems.append("the plan has no list of findings to acknowledge (signoff.acknowledge)")
        to_ack = []
    acks = dict(acks or {})
    missing = [rule for rule in to_ack if rule not in acks]
    if missing:
        problems.append(
            f"these needs-review findings are not acknowledged: {_ids(missing)}; "
            "acknowledge each with a reason"
        )
    empty = [rule for rule in to_ack if rule in acks and _blank(acks[rule])]
    if empty:
        problems.append(f"the acknowledgement of {_ids(empty)} has an empty reason")

    findings = plan_dict.get("findings")
    effects = {
        f.get("rule"): f.get("effect")
        for f in (findings if isinstance(findings, list) else [])
        if isinstance(f, dict)
    }
    for rule in acks:
        if rule in to_ack:
            continue
        if rule in effects:
            problems.append(
                f"{rule} is a finding of this plan but needs no acknowledgement "
                f"(its effect is {effects[rule]!r}, not 'review')"
            )
        else:
            problems.append(f"{rule} is not a finding of this plan, so it cannot be acknowledged")

    if _blank(clinician):
        problems.append("the clinician's name is blank")
    if _blank(registration):
        problems.append("the clinician's registration number is blank")
    problems.extend(_typed_text_problems(clinician, registration, acks, to_ack))
    if problems:
        raise _refuse(problems)

    body = {
        "plan": copy.deepcopy(plan_dict),
        "signoff": {
            "clinician": clinician.strip(),
            "registration": registration.strip(),
            "signed_at": signed_at,
            # In plan order, so the record reads in the order the findings were raised.
            "acknowledgements": [{"rule": rule, "reason": acks[rule].strip()} for rule in to_ack],
        },
    }
    return {
        "format": SIGNED_FORMAT,
        "plan": body["plan"],
        "signoff": body["signoff"],
        "parts": _parts(body),
        "digest": _sha256_of(body),
    }


# --------------------------------------------------------------------------- verify

_PLAN_WORDS = {
    "format": "the plan's format",
    "status": "the plan's status",
    "verdict": "the verdict",
    "patient": "the patient summary",
    "protocol": "the protocol reference",
    "dosing": "the dose calculation",
    "sessions": "the schedule",
    "findings": "the findings",
    "holds": "the medication holds",
    "checklist": "the checklists",
    "signoff": "the list of findings to acknowledge",
    "generated": "the provenance (versions, start date, input files)",
    "digest": "the plan's own digest",
}
_SIGNOFF_WORDS = {
    "clinician": "the clinician's name",
    "registration": "the registration number",
    "signed_at": "the time of signing",
    "acknowledgements": "the acknowledgements",
}


def _words(part: str, signed: dict, *, whole: bool = False) -> str:
    """A part's name in a clinician's words, e.g. 'session 2 (its date, dose, ...)';
    ``whole``: the part was added or removed, so only its name, not what in it changed."""
    plan = signed.get("plan")
    if not isinstance(plan, dict):
        plan = {}
    if part == "plan":
        return "the plan"
    if part == "signoff":
        return "the sign-off"
    section, _, rest = part.partition(".")
    key, index = rest, None
    if "[" in rest and rest.endswith("]"):
        key, _, number = rest[:-1].partition("[")
        index = int(number) if number.isdigit() else None
    key, _, sub = key.partition(".")
    if section == "signoff":
        if key == "acknowledgements" and index is not None:
            return f"acknowledgement {index + 1}" + ("" if whole else " and its reason")
        return _SIGNOFF_WORDS.get(key, f"sign-off field {key!r}")
    if index is not None:
        items = plan.get(key)
        item = items[index] if isinstance(items, list) and index < len(items) else None
        item = item if isinstance(item, dict) else {}
        if key == "sessions":
            what = "" if whole else " (its date, dose, volumes, rate or checks)"
            return f"session {index + 1}{what}"
        if key == "findings":
            rule = f", {item['rule']}" if isinstance(item.get("rule"), str) else ""
            what = "" if whole else " (its effect, message or evidence)"
            return f"finding {index + 1}{rule}{what}"
        if key == "holds":
            return f"medication hold {index + 1}"
        return f"item {index + 1} of {_PLAN_WORDS.get(key, key)}"
    if sub:
        if (key, sub) == ("generated", "at"):
            return "the time the plan was drafted"
        return f"{_PLAN_WORDS.get(key, key)}: {sub}"
    return _PLAN_WORDS.get(key, f"plan field {key!r}")


def _most_specific(names: set[str]) -> list[str]:
    """Drop a part when a part inside it is also named: 'session 2', not also 'the schedule'."""
    keep = [
        name
        for name in names
        if not any(other != name and other.startswith((name + ".", name + "[")) for other in names)
    ]
    return sorted(keep, key=_part_order)


def _part_order(name: str) -> tuple:
    # Plan parts before sign-off parts; list items in their own order (2 before 10).
    out: list = []
    for piece in name.replace("]", "").replace("[", ".").split("."):
        out.append((0, int(piece), "") if piece.isdigit() else (1, 0, piece))
    return (0 if name.startswith("plan") else 1, out)


def parse_json(text: str) -> tuple[Any, list[str]]:
    """A plan or signed plan's JSON text, numbers as Decimals (so that they digest exactly as
    written), and every key that appears twice in one object: readers disagree on which of the two
    counts (Python keeps the last, others the first), so such a file is never taken as intact.
    Raises ValueError when the text is not JSON."""
    import json

    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(f"{key!r} ({_shown(out[key])}, then {_shown(value)})")
            out[key] = value
        return out

    return json.loads(text, parse_float=Decimal, object_pairs_hook=pairs), duplicates


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return repr(value) if isinstance(value, str) else str(value)


def _envelope_problems(signed: dict) -> list[str]:
    """Every key of the signed file outside its contract (the envelope, the sign-off and each
    acknowledgement): an extra `override` beside the plan is covered by no digest, so it is refused."""
    from pydantic import BaseModel, ConfigDict, ValidationError  # lazily: verify is not on the start-up path

    class _Strict(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

    class Acknowledgement(_Strict):
        rule: str
        reason: str

    class Signoff(_Strict):
        clinician: str
        registration: str
        signed_at: str
        acknowledgements: list[Acknowledgement]

    class Signed(_Strict):
        format: str
        plan: dict[str, Any]
        signoff: Signoff
        parts: dict[str, str] | None = None  # without them, a change is detected but not named
        digest: str

    try:
        Signed.model_validate(signed)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            if error["type"] == "extra_forbidden":
                problems.append(f"the key {where!r} is not part of a signed plan")
            elif error["type"] == "missing":
                problems.append(f"the key {where!r} is missing")
            else:
                problems.append(f"{where!r} is not as `ketaplan sign` writes it ({error['msg']})")
        return problems
    return []


def verify(signed: Any, duplicates: list[str] | None = None) -> list[str]:
    """Every problem with a signed plan, in words a clinician understands; [] when intact.
    `duplicates`: the keys `parse_json` found twice in one object.

    Never raises: a malformed file is a list of problems too.
    """
    if not isinstance(signed, dict):
        return ["the file does not hold a signed plan (a JSON object)"]
    fmt = signed.get("format")
    if fmt == PLAN_FORMAT:
        return ["this is a draft plan, not a signed one: it has no sign-off"]
    problems: list[str] = [f"a key appears twice in one object: {d}" for d in duplicates or ()]
    if fmt != SIGNED_FORMAT:
        problems.append(f"this is not a ketaplan signed plan (format {fmt!r})")
    plan, signoff, digest = signed.get("plan"), signed.get("signoff"), signed.get("digest")
    if not isinstance(plan, dict):
        problems.append("the signed file has no plan")
    if not isinstance(signoff, dict):
        problems.append("the signed file has no sign-off")
    if not isinstance(digest, str):
        problems.append("the signed file has no digest")
    if problems or not isinstance(plan, dict) or not isinstance(signoff, dict):
        return problems
    problems.extend(_envelope_problems(signed))

    try:
        overall_ok = _sha256_of({"plan": plan, "signoff": signoff}) == digest
        current = _parts({"plan": plan, "signoff": signoff})
        own = plan.get("digest")
        own_ok = isinstance(own, str) and digest_of(plan) == own
    except _NotJSON as exc:
        return [f"the signed file holds a value that is not JSON ({exc}), so it cannot be checked"]

    if not overall_ok:
        problems.append("the signed digest does not match the plan and sign-off")
    if not own_ok:
        if own is None:
            problems.append("the plan has no digest of its own")
        else:
            problems.append(
                "the plan's own digest no longer matches its content (a dose, date or finding was changed)"
            )

    stored = signed.get("parts")
    if isinstance(stored, dict):
        changed = {n for n in current.keys() & stored.keys() if stored[n] != current[n]}
        added = set(current) - set(stored)
        removed = set(stored) - set(current)
        named = _most_specific(changed | added | removed)
        if named and overall_ok:
            # The content matches the signed digest: only the map of part digests was edited.
            problems.append(
                "the per-part digests were changed (" + ", ".join(named) + "); "
                "the plan and sign-off still match the signed digest"
            )
        else:
            for name in named:
                verb = "added" if name in added else "removed" if name in removed else "changed"
                words = _words(name, signed, whole=verb != "changed")
                problems.append(f"{verb} after signing: {words} [{name}]")
        if not overall_ok and not named:
            problems.append(
                "the signed digest itself was changed [digest]: the plan and sign-off still "
                "match their per-part digests"
            )
    elif not overall_ok:
        problems.append("the file keeps no per-part digests, so what changed cannot be named")

    problems.extend(_signoff_problems(plan, signoff))
    return problems


def _signoff_problems(plan: dict, signoff: dict) -> list[str]:
    """What sign() would have refused, found again in a file whose digests were recomputed."""
    problems: list[str] = []
    if plan.get("verdict") == "excluded":
        problems.append("the plan is excluded, yet it carries a sign-off")
    for key in ("clinician", "registration", "signed_at"):
        if _blank(signoff.get(key)):
            problems.append(f"the sign-off has no {_SIGNOFF_WORDS[key].removeprefix('the ')}")
    acks = signoff.get("acknowledgements")
    acked = {
        a.get("rule"): a.get("reason")
        for a in (acks if isinstance(acks, list) else [])
        if isinstance(a, dict)
    }
    plan_signoff = plan.get("signoff")
    to_ack = plan_signoff.get("acknowledge") if isinstance(plan_signoff, dict) else None
    to_ack = [r for r in to_ack if isinstance(r, str)] if isinstance(to_ack, list) else []
    missing = [rule for rule in to_ack if rule not in acked]
    if missing:
        problems.append(f"the sign-off does not acknowledge {_ids(missing)}")
    empty = [rule for rule in to_ack if rule in acked and _blank(acked[rule])]
    if empty:
        problems.append(f"the acknowledgement of {_ids(empty)} has an empty reason")
    extra = [str(rule) for rule in acked if rule not in to_ack]
    if extra:
        problems.append(f"the sign-off acknowledges {_ids(extra)}, which the plan does not ask for")
    return problems
