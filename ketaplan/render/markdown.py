"""The plan as GitHub-flavoured Markdown, to print, file in the record and sign; all text inert."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ketaplan.units import (
    fmt_cm,
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
    from ketaplan.model.plan import Plan

RATE_MODE = "mg_per_kg_per_hour"
SHORT_STATURE = "IDEAL-WEIGHT-SHORT-STATURE"
NOT_DRAFTED = "not drafted"
NOT_RECORDED = "not recorded"
# A line to write on when the plan is printed (dots: no Markdown meaning, print on any renderer).
WRITE_HERE = "." * 60

_BASIS_WORDS = {
    "actual": "actual body weight",
    "ideal": "ideal body weight",
    "adjusted": "adjusted body weight",
    "lean": "lean body weight",
}
_CAP_WORDS = {
    "dose.max_mg": "the protocol's `dose.max_mg`",
    "dose.max_mg_per_hour": "the protocol's `dose.max_mg_per_hour`",
}
_VERDICT_TITLE = {"eligible": "Eligible", "needs-review": "Needs review", "excluded": "Excluded"}
_STAGES = (
    ("pre", "Before each session"),
    ("during", "During each infusion"),
    ("after", "After each session"),
)


# --------------------------------------------------------------------------- inert text


def _visible_controls() -> dict[int, str]:
    # A file's text must not drive a terminal that shows the .md (ESC, CSI), rewrite a line (CR,
    # backspace) or reorder what is read (bidirectional overrides): such characters are written as
    # visible escapes, as the terminal view does, so what was in the file can still be read.
    # A line break would end a table row or start a new block: it becomes a space.
    table = {c: f"\\x{c:02x}" for c in range(0x20)}
    table.update({c: " " for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D)})
    table.update({c: f"\\x{c:02x}" for c in range(0x7F, 0xA0)})
    table[0x85] = " "  # NEL: a line break to some readers
    table.update({c: " " for c in (0x2028, 0x2029)})
    bidi = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    table.update({c: f"\\u{c:04x}" for c in bidi})
    return table


_CONTROLS = _visible_controls()
_SPACES = re.compile(" {2,}")
# GitHub and pandoc turn a bare "http://..." or "www...." into a link: a backslash before the ":"
# or "." (which still shows as itself) stops that, so a file cannot put a link in a plan.
_BARE_LINK = re.compile(r"(?<=[A-Za-z])(?=://)|(?<=\bwww)(?=\.)", re.I)
# Every character that can start Markdown or HTML inline syntax, written so it shows as itself:
# emphasis (* _ ~), code (`), links and images ([ ]), tables (|), headings (#), math ($, GitHub),
# superscript (^, pandoc), citations and e-mail autolinks (@), raw HTML and entities (< > &).
_MARKDOWN = {
    ord("\\"): "\\\\",
    ord("`"): "\\`",
    ord("*"): "\\*",
    ord("_"): "\\_",
    ord("~"): "\\~",
    ord("["): "\\[",
    ord("]"): "\\]",
    ord("|"): "\\|",
    ord("#"): "\\#",
    ord("$"): "\\$",
    ord("^"): "\\^",
    ord("@"): "\\@",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord("&"): "&amp;",
}


def inert(value: object) -> str:
    """Text from a patient or protocol file as Markdown that shows it and does nothing else:
    one line, no table break, no HTML, no link, no emphasis."""
    text = "" if value is None else str(value)
    text = _SPACES.sub(" ", text.translate(_CONTROLS).translate(_MARKDOWN)).strip()
    return _BARE_LINK.sub("\\\\", text)


def _code(value: object) -> str:
    """A digest or version in a code span, when it can hold nothing but such characters."""
    text = "" if value is None else str(value)
    if text and all(c.isascii() and (c.isalnum() or c in ":.-+") for c in text):
        return f"`{text}`"
    return inert(text)


# --------------------------------------------------------------------------- numbers


def _dec(x: Any) -> Decimal | None:
    """A JSON number as an exact Decimal (the dict's numbers are already rounded for display)."""
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, Decimal):
        return x
    if isinstance(x, int):
        return Decimal(x)
    if isinstance(x, float):
        return Decimal(str(x))  # the shortest text that reads back as this float: its decimal
    return None


def _shown(fmt, x: Any, missing: str = NOT_DRAFTED) -> str:
    value = _dec(x)
    return missing if value is None else fmt(value)


def _factor(x: Any) -> str:
    value = _dec(x)
    return "?" if value is None else fmt_number(value, 4)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------- sections


def _title(plan: dict, signed: dict | None) -> list[str]:
    patient = _dict(plan.get("patient"))
    protocol = _dict(plan.get("protocol"))
    pid = inert(patient.get("id"))
    about = (
        f"Protocol **{inert(protocol.get('id'))}**, version {inert(protocol.get('version'))}"
        + (f": {inert(protocol['title'])}" if protocol.get("title") else "")
        + "."
    )
    if signed is None:
        return [
            f"# DRAFT treatment plan for patient {pid}",
            about,
            "Status: **DRAFT**. This is not a prescription: a clinician checks every dose "
            "and signs below before it is used.",
        ]
    signoff = _dict(signed.get("signoff"))
    return [
        f"# SIGNED treatment plan for patient {pid}",
        about,
        f"Status: **SIGNED** by {inert(signoff.get('clinician'))} "
        f"(registration {inert(signoff.get('registration'))}) "
        f"at {inert(signoff.get('signed_at'))} (UTC).",
    ]


def _verdict(plan: dict, signed: bool) -> list[str]:
    verdict = plan.get("verdict")
    findings = [f for f in _list(plan.get("findings")) if isinstance(f, dict)]
    to_ack = [inert(r) for r in _list(_dict(plan.get("signoff")).get("acknowledge"))]
    lines = ["## Verdict"]
    if verdict == "excluded":
        rules = [inert(f.get("rule")) for f in findings if f.get("effect") == "exclude"]
        because = f" ({', '.join(rules)})" if rules else ""
        lines.append(
            f"**Excluded.** The protocol excludes this patient{because}. "
            "No sessions or doses are drafted."
        )
    elif verdict == "needs-review":
        if signed:
            lines.append(
                f"**Needs review.** Findings that needed a clinician's review: {', '.join(to_ack)}. "
                "The sign-off below records the reason for each."
            )
        else:
            count = "1 finding needs" if len(to_ack) == 1 else f"{len(to_ack)} findings need"
            lines.append(
                f"**Needs review.** {count} a clinician's review, and a reason recorded at "
                f"sign-off, before this plan is used: {', '.join(to_ack)}."
            )
    elif verdict == "eligible":
        lines.append(
            "**Eligible.** No finding needs review."
            + ("" if signed else " A clinician still checks the plan and signs it.")
        )
    else:
        lines.append(f"**Unknown verdict {inert(verdict)}.** Do not use this plan.")
    return lines


def _effect_words(finding: dict) -> str:
    effect = inert(finding.get("effect"))
    if not finding.get("unknown"):
        return effect
    rule_effect = finding.get("rule_effect")
    if rule_effect and rule_effect != finding.get("effect"):
        # An exclude rule that could not be checked is reviewed instead: say which it was.
        return f"{effect} ({inert(rule_effect)} rule, could not be checked)"
    return f"{effect} (could not be checked)"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell if cell else " " for cell in cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [_row(header), "|" + "|".join("---" for _ in header) + "|"]
    lines.extend(_row(row) for row in rows)
    return ["\n".join(lines)]


def _findings(plan: dict) -> list[str]:
    findings = [f for f in _list(plan.get("findings")) if isinstance(f, dict)]
    lines = ["## Findings"]
    if not findings:
        return [*lines, "No rule of the protocol applied, and ketaplan added no finding."]
    rows = []
    for f in findings:
        message = inert(f.get("message"))
        if f.get("source"):
            message += f" Source: {inert(f['source'])}."
        evidence = "; ".join(inert(e) for e in _list(f.get("evidence")))
        rows.append([f"**{inert(f.get('rule'))}**", _effect_words(f), message, evidence])
    return [*lines, *_table(["Rule", "Effect", "Message", "Evidence"], rows)]


def _patient(plan: dict) -> list[str]:
    p = _dict(plan.get("patient"))

    def weight(key: str) -> str:
        return _shown(fmt_kg, p.get(key), "not defined for this height")

    bmi = _dec(p.get("bmi"))
    return [
        "## Patient",
        "\n".join(
            [
                f"- Patient id: {inert(p.get('id'))}",
                f"- Age: {inert(p.get('age'))} years; sex: {inert(p.get('sex'))}",
                f"- Height: {_shown(fmt_cm, p.get('height_cm'), NOT_RECORDED)}",
                f"- Weight: {_shown(fmt_kg, p.get('weight_kg'), NOT_RECORDED)}, weighed on "
                f"{inert(p.get('weighed_on')) if p.get('weighed_on') else 'a date not recorded'}",
                f"- Body mass index: {NOT_RECORDED if bmi is None else fmt_number(bmi, 1)}",
                f"- Ideal body weight: {weight('ideal_weight_kg')}",
                f"- Adjusted body weight: {weight('adjusted_weight_kg')}",
                f"- Lean body weight: {weight('lean_weight_kg')}",
            ]
        ),
    ]


def _cap_words(rule: Any) -> str:
    if not rule:
        return _CAP_WORDS["dose.max_mg"]
    return _CAP_WORDS.get(rule, f"rule {inert(rule)}")


def _per_session_amount(session: dict, rate: bool) -> str:
    if rate:
        return _shown(fmt_mg_per_kg_per_h, session.get("mg_per_kg_per_hour"), "?")
    return _shown(fmt_mg_per_kg, session.get("mg_per_kg"), "?")


def _calculation(session: dict, dosing: dict, rate: bool) -> str:
    """How one session's dose was reached, in the order the engine reached it."""
    basis = _BASIS_WORDS.get(dosing.get("weight_basis"), inert(dosing.get("weight_basis")))
    weight = _shown(fmt_kg, dosing.get("dosing_weight_kg"))
    parts = [f"{_per_session_amount(session, rate)} of {basis}, {weight}"]
    for factor in _list(dosing.get("factors")):
        factor = _dict(factor)
        parts.append(f"× {_factor(factor.get('factor'))} ({inert(factor.get('rule'))})")
    text = " ".join(parts)
    capped_by = session.get("capped_by")
    unit = fmt_mg_per_h if rate else fmt_mg
    raw = session.get("raw_rate_mg_per_h") if rate else session.get("raw_dose_mg")
    if raw is not None:
        text += f" = {_shown(unit, raw)}"
    result = _shown(unit, session.get("rate_mg_per_h") if rate else session.get("dose_mg"))
    if not rate:
        result = f"**{result}**"
    if capped_by:
        rounded = session.get("rounded_rate_mg_per_h") if rate else session.get("rounded_mg")
        if rounded is not None:
            text += f"; rounded: {_shown(unit, rounded)}; lowered to {result}"
        else:
            text += f"; after rounding, lowered to {result}"
        text += f" by the cap of {_cap_words(capped_by)}"
    else:
        text += f"; rounded: {result}; no cap lowers it"
    if rate:
        text += (
            f"; {_shown(fmt_mg_per_h, session.get('rate_mg_per_h'))} for {_duration(session)} "
            f"= **{_shown(fmt_mg, session.get('dose_mg'))}** in the session"
        )
    effective = session.get("effective_mg_per_kg_per_hour_actual" if rate else "effective_mg_per_kg_actual")
    if effective is not None:
        per_kg = fmt_mg_per_kg_per_h if rate else fmt_mg_per_kg
        text += f"; that is {_shown(per_kg, effective)} of actual body weight"
    return text + "."


def _duration(session: dict) -> str:
    minutes = session.get("duration_min")
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        return "?"
    return fmt_minutes(minutes)


def _sessions_label(numbers: list[Any]) -> str:
    if len(numbers) == 1:
        return f"Session {inert(numbers[0])}"
    return f"Sessions {inert(numbers[0])} to {inert(numbers[-1])}"


_CALCULATION_KEYS = (
    "mg_per_kg", "mg_per_kg_per_hour", "raw_dose_mg", "rounded_mg", "raw_rate_mg_per_h", "rounded_rate_mg_per_h",
    "rate_mg_per_h", "dose_mg", "capped_by", "effective_mg_per_kg_actual", "effective_mg_per_kg_per_hour_actual",
    "duration_min",
)


def _dose(plan: dict) -> list[str]:
    dosing = _dict(plan.get("dosing"))
    sessions = [s for s in _list(plan.get("sessions")) if isinstance(s, dict)]
    rate = dosing.get("mode") == RATE_MODE
    basis = _BASIS_WORDS.get(dosing.get("weight_basis"), inert(dosing.get("weight_basis")))
    set_by = (
        f"set by rule {inert(dosing['basis_rule'])}"
        if dosing.get("basis_rule")
        else "the protocol's `dose.weight_basis`"
    )
    weight = dosing.get("dosing_weight_kg")
    steps = []
    if weight is None:
        steps.append(f"Dosing weight: {basis} ({set_by}): cannot be set for this patient.")
    else:
        steps.append(f"Dosing weight: {basis}, {_shown(fmt_kg, weight)} ({set_by}).")
    factors = [_dict(f) for f in _list(dosing.get("factors"))]
    if factors:
        listed = ", ".join(f"× {_factor(f.get('factor'))} ({inert(f.get('rule'))})" for f in factors)
        steps.append(f"Dose factors, which multiply: {listed}.")
    else:
        steps.append("Dose factors: none apply.")
    what = "the hourly rate" if rate else "the dose"
    steps.append(
        f"Rounding: {what} to the nearest {_shown(fmt_mg, dosing.get('round_to_mg'), '?')}; "
        "an exact half rounds down (the lower dose wins)."
    )
    cap = f"{_shown(fmt_mg, dosing.get('cap_mg'), '?')} per session ({_cap_words(dosing.get('cap_rule'))})"
    if rate:
        hourly = _shown(fmt_mg_per_h, dosing.get("max_mg_per_hour"), "?")
        steps.append(f"Caps: {hourly} ({_CAP_WORDS['dose.max_mg_per_hour']}) and {cap}.")
    else:
        steps.append(f"Cap: {cap}.")
    drug = _dict(_dict(plan.get("protocol")).get("drug"))
    preparation = []
    if drug.get("stock_mg_per_ml") is not None:
        preparation.append(f"draw from the {_shown(fmt_mg_per_ml, drug['stock_mg_per_ml'])} stock")
    if drug.get("bag_ml") is not None:
        preparation.append(f"into the {_shown(fmt_ml, drug['bag_ml'])} bag (the same volume of diluent removed first)")
    elif drug.get("final_concentration_mg_per_ml") is not None:
        preparation.append(f"diluted to {_shown(fmt_mg_per_ml, drug['final_concentration_mg_per_ml'])}")
    if preparation:
        steps.append("Preparation: " + ", ".join(preparation) + ".")
    lines = ["## Dose calculation", "\n".join(f"{n}. {s}" for n, s in enumerate(steps, start=1))]

    drafted: list[list[dict]] = []
    not_drafted = []
    for s in sessions:
        if s.get("dose_mg") is None:
            not_drafted.append(s.get("number"))
            continue
        key = tuple(repr(s.get(k)) for k in _CALCULATION_KEYS)
        if drafted and tuple(repr(drafted[-1][0].get(k)) for k in _CALCULATION_KEYS) == key:
            drafted[-1].append(s)
        else:
            drafted.append([s])
    if drafted:
        lines.append(
            "\n".join(
                f"- {_sessions_label([s.get('number') for s in group])}: "
                f"{_calculation(group[0], dosing, rate)}"
                for group in drafted
            )
        )
    if not_drafted:
        lines.append(_why_not_drafted(plan, not_drafted, sessions))
    return lines


def _why_not_drafted(plan: dict, numbers: list[Any], sessions: list[dict]) -> str:
    which = "any session" if len(numbers) == len(sessions) else _sessions_label(numbers).lower()
    because = {s.get("not_drafted_because") for s in sessions if s.get("dose_mg") is None} | {SHORT_STATURE}
    reasons = [
        f"{inert(f.get('message'))} ({inert(f.get('rule'))})"
        for f in _list(plan.get("findings"))
        if isinstance(f, dict) and f.get("rule") in because
    ]
    why = " ".join(reasons) if reasons else "see the findings that need review."
    return f"**No dose is drafted for {which}.** Why: {why}"


def _schedule(plan: dict) -> list[str]:
    sessions = [s for s in _list(plan.get("sessions")) if isinstance(s, dict)]
    rate = _dict(plan.get("dosing")).get("mode") == RATE_MODE
    header = ["Session", "Date", "Day", "Phase", "Dose"]
    if rate:
        header.append("Hourly rate")
    header += ["Duration", "Volume to draw", "Concentration", "Volume to infuse", "Pump rate"]
    rows = []
    for s in sessions:
        row = [
            inert(s.get("number")),
            inert(s.get("date")),
            inert(s.get("weekday")),
            inert(s.get("phase")),
            _shown(fmt_mg, s.get("dose_mg")),
        ]
        if rate:
            row.append(_shown(fmt_mg_per_h, s.get("rate_mg_per_h")))
        row += [
            _duration(s),
            _shown(fmt_ml, s.get("draw_ml")),
            _shown(fmt_mg_per_ml, s.get("concentration_mg_per_ml")),
            _shown(fmt_ml, s.get("volume_ml")),
            _shown(fmt_ml_per_h, s.get("pump_ml_per_h")),
        ]
        rows.append(row)
    return ["## Schedule", *_table(header, rows)]


def _holds(plan: dict) -> list[str]:
    holds = [h for h in _list(plan.get("holds")) if isinstance(h, dict)]
    lines = ["## Medication holds"]
    if not holds:
        return [*lines, "None."]
    items = []
    for h in holds:
        medicines = [inert(m) for m in _list(h.get("medications"))]
        head = f"**{inert(h.get('rule'))}**"
        if medicines:
            head += f" ({', '.join(medicines)})"
        if h.get("to_confirm"):
            # Whether the hold applies could not be decided from the file: a person must check.
            because = "; ".join(inert(b) for b in _list(h.get("unknown_because")))
            head += ", **to confirm**" + (f" ({because})" if because else "")
        items.append(f"- {head}: {inert(h.get('instruction'))}")
    return [*lines, "\n".join(items)]


def _tasks(items: list[str]) -> str:
    return "\n".join(f"- [ ] {item}" for item in items) if items else "None in the protocol."


def _checklists(plan: dict) -> list[str]:
    checklist = _dict(plan.get("checklist"))
    lines = ["## Checklists"]
    for key, heading in _STAGES:
        lines += [f"### {heading}", _tasks([inert(i) for i in _list(checklist.get(key))])]
    own = [
        f"Session {inert(s.get('number'))}, {inert(s.get('weekday'))} {inert(s.get('date'))}: {inert(check)}"
        for s in _list(plan.get("sessions"))
        if isinstance(s, dict)
        for check in _list(s.get("checks"))
    ]
    if own:
        lines += ["### For particular sessions", _tasks(own)]
    return lines


def _signoff(plan: dict, signed: dict | None) -> list[str]:
    findings = {f.get("rule"): f for f in _list(plan.get("findings")) if isinstance(f, dict)}
    to_ack = _list(_dict(plan.get("signoff")).get("acknowledge"))
    lines = ["## Sign-off"]
    signoff = _dict(signed.get("signoff")) if signed is not None else {}
    reasons = {
        a.get("rule"): a.get("reason")
        for a in _list(signoff.get("acknowledgements"))
        if isinstance(a, dict)
    }
    if to_ack:
        lines.append(
            "Each finding below needs review. The clinician records why the plan may go ahead:"
            if signed is None
            else "Each finding that needed review, and the reason the clinician recorded:"
        )
        items = []
        for n, rule in enumerate(to_ack, start=1):
            message = inert(_dict(findings.get(rule)).get("message"))
            reason = WRITE_HERE if signed is None else inert(reasons.get(rule)) or "none recorded"
            marker = f"{n}. "  # the reason is indented under its item, however many digits
            items.append(f"{marker}**{inert(rule)}**: {message}\n\n{' ' * len(marker)}Reason: {reason}")
        lines.append("\n\n".join(items))
    else:
        lines.append("No finding needs review.")
    if signed is None:
        lines += [
            f"Clinician name: {WRITE_HERE}",
            f"Registration number: {WRITE_HERE}",
            f"Signature: {WRITE_HERE}",
            f"Date and time: {WRITE_HERE}",
        ]
    else:
        lines += [
            f"Clinician name: {inert(signoff.get('clinician'))}",
            f"Registration number: {inert(signoff.get('registration'))}",
            "Signature: recorded with `ketaplan sign`",
            f"Date and time: {inert(signoff.get('signed_at'))} (UTC)",
            f"Digest of the plan and sign-off: {_code(signed.get('digest'))}",
            "Check it with `ketaplan verify` on this Markdown file (it is rendered again from the signed "
            "JSON beside it, the same name ending `.json`, and compared) or on that JSON file. "
            "The digest shows whether the signed file was changed; "
            "it is not a cryptographic signature: someone who edits the file and recomputes the "
            "digest is not detected.",
        ]
    return lines


def _footer(plan: dict) -> list[str]:
    g = _dict(plan.get("generated"))
    digest = plan.get("digest")
    if digest is None:
        from ketaplan.signing import digest_of

        digest = digest_of(plan)
    holidays = f"holidays data {_code(g['holidays'])}" if g.get("holidays") else "no public holidays used"
    return [
        "---",
        "\n".join(
            [
                f"- Drafted by {inert(g.get('by'))} at {inert(g.get('at'))} (UTC)",
                f"- Vocabulary {_code(g.get('vocabulary'))}; {holidays}",
                f"- Start date: {inert(g.get('start'))}",
                f"- Patient file SHA-256: {_code(g.get('patient_sha256'))}",
                f"- Protocol file SHA-256: {_code(g.get('protocol_sha256'))}",
                f"- Plan digest: {_code(digest)}",
            ]
        ),
    ]


# --------------------------------------------------------------------------- documents


def _document(plan: dict, signed: dict | None) -> str:
    blocks = _title(plan, signed)
    if signed is not None:
        from ketaplan.signing import verify

        problems = verify(signed)
        if problems:
            blocks += [
                "## WARNING: this signed plan does not verify",
                "\n".join(f"- {inert(p)}" for p in problems),
            ]
    blocks += _verdict(plan, signed is not None) + _findings(plan)
    if plan.get("verdict") == "excluded":
        blocks.append(
            "No sessions or doses are drafted for this patient under this protocol, "
            "and this plan cannot be signed."
        )
    else:
        blocks += (
            _patient(plan)
            + _dose(plan)
            + _schedule(plan)
            + _holds(plan)
            + _checklists(plan)
            + _signoff(plan, signed)
        )
    blocks += _footer(plan)
    return "\n\n".join(blocks) + "\n"


def render_plan_dict(plan: dict) -> str:
    """The Markdown of a draft plan given as its spec JSON (`plan_to_dict`, or a JSON file)."""
    return _document(plan, None)


def render_signed(signed: dict) -> str:
    """The Markdown of a signed plan: the same document with the sign-off filled in and the digest
    shown; a signed file that no longer verifies says so at the top."""
    return _document(_dict(signed.get("plan")), signed)


class MarkdownRenderer:
    """`--format markdown`."""

    def render(self, plan: Plan) -> str:
        from ketaplan.render.json import plan_to_dict

        return render_plan_dict(plan_to_dict(plan))
