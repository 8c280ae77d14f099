"""The one presentation model of a plan: sections, rows and quantities already written the ISMP way.

`build_view(plan)` turns the engine's Plan into a PlanView. The terminal, Markdown and HTML views
only lay a PlanView out: they compute nothing, round nothing and digest nothing. Every string in a
PlanView is plain text (file text raw, as the file gave it); each view makes it inert for its own
medium, through `ketaplan.errors.printable`, the one table of characters file text may not carry raw.

Later views reuse it: a course view adds sections with `PlanView.with_section(section, after=key)`
(keys: SECTION_KEYS), an export reads `PlanView.schedule_table()` or the Plan itself. A new kind of
block (a chart, say) is a NamedTuple here and a case in each layout: a layout given a block it does
not know raises TypeError rather than leave a gap on the page. A new mark in the schedule (titration)
is a string in MARKS, set by `_mark`, explained by a line of the table's legend.
"""

from __future__ import annotations

from datetime import UTC
from fractions import Fraction
from typing import NamedTuple

from ketaplan.errors import printable
from ketaplan.model.plan import Dosing, Finding, Plan, Session
from ketaplan.units import (
    floor_to,
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
    round_half_up,
)

RATE_MODE = "mg_per_kg_per_hour"
HOURLY_CAP = "dose.max_mg_per_hour"
SHORT_STATURE = "IDEAL-WEIGHT-SHORT-STATURE"
NOT_DRAFTED = "not drafted"
NONE_SHOWN = "—"
CAP_MARK = "†"  # a cap set this dose; its meaning is given under the table
TITRATION_MARK = "‡"  # a titrate rule set this session's mg/kg (spec/course.md)
#: Every mark a schedule cell may end with (" †"); a cap, which sets the final dose, wins over a titration.
MARKS = (CAP_MARK, TITRATION_MARK)

#: The sections of a plan view, in order. A later view inserts its own before, after or between.
SECTION_KEYS = ("findings", "patient", "dose", "schedule", "holds", "checklists", "signoff")

#: Most serious first: what stops the plan, what a clinician must review, then the rest.
_SEVERITY = {"exclude": 0, "review": 2, "hold": 3, "check": 4, "adjust": 5, "titrate": 5, "note": 6}


def one_line(text: object) -> str:
    """File text for one line of any view: the characters of `printable` made visible, and a tab or
    line break (which would start a new line or cell) shown as \\t or \\n."""
    return printable(str(text)).replace("\t", "\\t").replace("\n", "\\n")


# ------------------------------------------------------------------ the model


class Span(NamedTuple):
    """A run of text and how it is meant: "" plain, "strong", "code" (an id, a key), "dim", "warn"."""

    text: str
    style: str = ""


Inline = tuple[Span, ...]


def spans(*parts: str | tuple[str, str]) -> Inline:
    return tuple(Span(p) if isinstance(p, str) else Span(*p) for p in parts if p)


class Para(NamedTuple):
    text: Inline


class Facts(NamedTuple):
    """Labelled values, one a line: "Dosing weight: 128 kg, actual weight (...)"."""

    items: tuple[tuple[str, Inline], ...]


class Items(NamedTuple):
    """A list. `ordered`: numbered steps; `tasks`: boxes to tick on paper."""

    items: tuple[Inline, ...]
    title: str | None = None
    ordered: bool = False
    tasks: bool = False


class FindingItem(NamedTuple):
    effect: str
    rule: str
    unchecked: str | None  # "could not be checked (an exclude rule)": said in the first words
    message: str
    evidence: tuple[str, ...]
    source: str | None
    foldable: bool  # a note: the terminal may fold it to one line


class Findings(NamedTuple):
    items: tuple[FindingItem, ...]  # most serious first
    summary: str  # "2 need review, 3 notes"


class Column(NamedTuple):
    key: str
    header: str  # for paper
    short: str  # for 80 columns
    right: bool = True
    keep: bool = False  # stays in the table even when every row has the same value


class Table(NamedTuple):
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    legend: tuple[str, ...] = ()  # what a mark in a cell means

    def common(self) -> tuple[tuple[Column, str], ...]:
        """Columns with the same value in every row (other than those kept), and that value."""
        if not self.rows:
            return ()
        return tuple(
            (c, self.rows[0][i])
            for i, c in enumerate(self.columns)
            if not c.keep and all(row[i] == self.rows[0][i] for row in self.rows)
        )

    def varying(self) -> Table:
        """The table without the columns `common` states once."""
        drop = {c.key for c, _ in self.common()}
        keep = [i for i, c in enumerate(self.columns) if c.key not in drop]
        return Table(tuple(self.columns[i] for i in keep), tuple(tuple(r[i] for i in keep) for r in self.rows), self.legend)


class SignOff(NamedTuple):
    intro: str
    items: tuple[tuple[str, str, str | None], ...]  # (rule, message, reason or None: a line to write on)
    lines: tuple[tuple[str, str | None], ...]  # (label, value or None: a line to write on)
    notes: tuple[Inline, ...] = ()


Block = Para | Facts | Items | Findings | Table | SignOff


class Section(NamedTuple):
    key: str
    title: str
    blocks: tuple[Block, ...]
    page_break: bool = False  # on paper, start it on a new page


class Verdict(NamedTuple):
    verdict: str  # eligible | needs-review | excluded
    headline: str  # "VERDICT: NEEDS REVIEW"
    asks: str  # what it asks of the clinician


class Footer(NamedTuple):
    by: str
    at: str
    vocabulary: str
    holidays: str | None
    start: str
    patient_sha256: str
    protocol_sha256: str
    digest: str | None = None  # the plan's digest, when the caller gave it


class PlanView(NamedTuple):
    status: str  # DRAFT | SIGNED
    patient_id: str
    protocol: str  # "trd-iv-induction 2026.11"
    title: str
    about: Inline  # the protocol, its version and title
    status_line: Inline  # DRAFT and what that means, or who signed it and when
    verdict: Verdict
    warnings: tuple[str, ...]  # a signed file that no longer verifies
    sections: tuple[Section, ...]
    footer: Footer

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def with_section(self, section: Section, *, after: str | None = None, before: str | None = None) -> PlanView:
        """A copy with `section` inserted after (or before) the section of that key; at the end
        when that section is absent or neither is given. A section of the same key is replaced."""
        sections = [s for s in self.sections if s.key != section.key]
        keys = [s.key for s in sections]
        if after in keys:
            at = keys.index(after) + 1
        elif before in keys:
            at = keys.index(before)
        else:
            at = len(sections)
        sections.insert(at, section)
        return self._replace(sections=tuple(sections))

    def schedule_table(self) -> Table | None:
        s = self.section("schedule")
        return next((b for b in s.blocks if isinstance(b, Table)), None) if s else None


class SignedBy(NamedTuple):
    """The sign-off of a signed plan, as recorded (ketaplan.signing): text only."""

    clinician: str
    registration: str
    signed_at: str
    reasons: dict
    digest: str
    problems: tuple[str, ...] = ()  # what `verify` found; () when intact


# ------------------------------------------------------------------ numbers


def truncated(x: Fraction, places: int = 1) -> str:
    """A value shown so that it never reads as crossing a threshold it does not cross: BMI 34.9965
    is 34.9, never 35."""
    return fmt_number(floor_to(x, Fraction(1, 10**places)), places)


def given_text(given: Fraction, prescribed: Fraction, rate: bool) -> str:
    """The mg/kg given, to 2 decimals (36 mg of 73 kg: 0.49 mg/kg); more where 2 would show the
    prescribed amount for a dose that is not it."""
    places = 2
    while places < 4 and given != prescribed and round_half_up(given, places) == prescribed:
        places += 1
    unit = "mg/kg/h" if rate else "mg/kg"
    return f"{fmt_number(given, places)} {unit}"


def _per_kg(x: Fraction, rate: bool) -> str:
    return fmt_mg_per_kg_per_h(x) if rate else fmt_mg_per_kg(x)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# ------------------------------------------------------------------ verdict and title


def _verdict(plan: Plan, signed: SignedBy | None) -> Verdict:
    headline = f"VERDICT: {plan.verdict.replace('-', ' ').upper()}"
    ack = plan.acknowledge
    if plan.verdict == "excluded":
        rules = [f.rule for f in plan.findings if f.effect == "exclude"]
        asks = f"the protocol excludes this patient ({', '.join(rules)}): no sessions or doses are drafted"
        if ack:
            asks += f"; {_plural(len(ack), 'other finding needs', 'other findings need')} review"
    elif signed is not None:
        asks = f"signed by {signed.clinician} at {signed.signed_at} (UTC)"
        if ack:
            asks += f" after reviewing {', '.join(ack)}"
    elif ack:
        asks = f"acknowledge {_plural(len(ack), 'finding', 'findings')} with a reason at sign-off: {', '.join(ack)}"
    else:
        asks = "nothing to acknowledge; a clinician checks and signs it"
    return Verdict(plan.verdict, headline, asks)


# ------------------------------------------------------------------ findings


def _rank(f: Finding) -> int:
    if f.effect == "review" and f.rule_effect == "exclude":
        return 1  # an exclusion that could not be checked
    return _SEVERITY.get(f.effect, 7)


def _finding(f: Finding) -> FindingItem:
    unchecked = None
    if f.unknown:
        unchecked = "could not be checked" + (f" (an {f.rule_effect} rule)" if f.rule_effect != f.effect else "")
    return FindingItem(
        f.effect, f.rule, unchecked, f.message, f.evidence, f.source, foldable=f.effect == "note" and not f.unknown
    )


def _findings(plan: Plan) -> Section:
    if not plan.findings:
        return Section("findings", "Findings", (Para(spans("No rule of the protocol applied, and ketaplan added no finding.")),))
    ordered = sorted(plan.findings, key=_rank)  # stable: plan order within a rank
    counts: dict[str, int] = {}
    for f in ordered:
        counts[f.effect] = counts.get(f.effect, 0) + 1
    words = {
        "exclude": ("exclusion", "exclusions"),
        "review": ("needs review", "need review"),
        "adjust": ("adjustment", "adjustments"),
        "titrate": ("titration", "titrations"),
    }
    summary = ", ".join(_plural(n, *words.get(e, (e, e + "s"))) for e, n in counts.items())
    return Section("findings", "Findings", (Findings(tuple(_finding(f) for f in ordered), summary),))


# ------------------------------------------------------------------ patient and protocol


def _patient(plan: Plan) -> Section:
    p, r = plan.patient, plan.protocol
    weighed = f"weighed on {p.weighed_on.isoformat()}" if p.weighed_on else "date of weighing not recorded"

    def weight(name: str, kg: Fraction | None) -> str:
        # Devine (and so the adjusted weight) is not defined below 152.4 cm.
        return f"{name} {fmt_kg(kg)}" if kg is not None else f"{name} not defined at this height"

    drug = r.drug + (f", {r.route}" if r.route else "")
    approved = f"; approved by {r.approved_by}" if r.approved_by else ""
    items = (
        ("Patient", spans((p.id, "strong"), f", {p.age} years, {p.sex}, {fmt_cm(p.height_cm)}, {fmt_kg(p.weight_kg)} ({weighed})")),
        (
            "Body size",
            spans(
                f"BMI {truncated(p.bmi)} · {weight('ideal', p.ideal_weight_kg)} · "
                f"{weight('adjusted', p.adjusted_weight_kg)} · lean {fmt_kg(p.lean_weight_kg)}"
            ),
        ),
        ("Protocol", spans((f"{r.id} {r.version}", "strong"), f", {r.title} ({drug}{approved})")),
    )
    return Section("patient", "Patient and protocol", (Facts(items),))


# ------------------------------------------------------------------ dose calculation


def _where(rule: str | None, default: str) -> str:
    return rule if rule else f"protocol {default}"


def _product(s: Session, d: Dosing, rate: bool) -> str:
    weight = fmt_kg(d.dosing_weight_kg) if d.dosing_weight_kg is not None else "the dosing weight"
    factors = "".join(f" × {fmt_number(f.factor, places=4)} ({f.rule})" for f in d.factors)
    by = f" ({s.titrated_by})" if s.titrated_by else ""
    return f"{_per_kg(s.amount, rate)}{by} × {weight}{factors}"


def _given_words(s: Session, d: Dosing, rate: bool) -> str:
    if s.given_per_kg is None:
        return ""
    text = f": {given_text(s.given_per_kg, s.amount, rate)} given"
    actual = s.effective_mg_per_kg_per_hour_actual if rate else s.effective_mg_per_kg_actual
    if d.weight_basis != "actual" and actual is not None:
        text += f" ({given_text(actual, s.amount, rate)} of actual weight)"
    return text


def _steps_per_kg(s: Session, d: Dosing, dose: Fraction) -> str:
    text = _product(s, d, False)
    if s.raw_dose_mg is not None:
        text += f" = {fmt_mg(s.raw_dose_mg)}"
    if s.rounded_mg is not None and s.rounded_mg != s.raw_dose_mg:
        text += f" → rounded to {fmt_mg(s.rounded_mg)}"
    if s.capped_by:
        text += f" → capped at {fmt_mg(dose)} ({s.capped_by})"
    else:
        text += f" → cap {fmt_mg(d.cap_mg)} not reached"
    return text + _given_words(s, d, False)


def _steps_rate(s: Session, d: Dosing, dose: Fraction) -> str:
    text = _product(s, d, True)
    if s.raw_rate_mg_per_h is not None:
        text += f" = {fmt_mg_per_h(s.raw_rate_mg_per_h)}"
    if s.rounded_rate_mg_per_h is not None and s.rounded_rate_mg_per_h != s.raw_rate_mg_per_h:
        text += f" → rounded to {fmt_mg_per_h(s.rounded_rate_mg_per_h)}"
    hourly_cap = s.capped_by == HOURLY_CAP
    if hourly_cap and s.rate_mg_per_h is not None:
        text += f" → capped at {fmt_mg_per_h(s.rate_mg_per_h)} ({s.capped_by})"
    elif d.max_mg_per_hour is not None:
        text += f" → cap {fmt_mg_per_h(d.max_mg_per_hour)} not reached"
    duration = fmt_minutes(s.duration_min)
    if s.capped_by and not hourly_cap and s.rounded_rate_mg_per_h is not None and s.rate_mg_per_h is not None:
        text += (
            f" → {fmt_mg_per_h(s.rounded_rate_mg_per_h)} × {duration} would pass the cap of {fmt_mg(d.cap_mg)}"
            f" ({s.capped_by}): rate lowered to {fmt_mg_per_h(s.rate_mg_per_h)}"
        )
    if s.rate_mg_per_h is not None:
        text += f" → {fmt_mg_per_h(s.rate_mg_per_h)} × {duration} = {fmt_mg(dose)} per session"
    else:
        text += f" → {fmt_mg(dose)} per session"
    if not s.capped_by or hourly_cap:
        text += f" → cap {fmt_mg(d.cap_mg)} not reached"
    return text + _given_words(s, d, True)


def _no_dose_reason(plan: Plan, d: Dosing) -> str:
    if d.dosing_weight_kg is None:
        why = f"No dose is drafted: there is no {d.weight_basis} weight to dose on for this patient."
        short = [f for f in plan.findings if f.rule == SHORT_STATURE]
        if short:
            return f"{why} {SHORT_STATURE}: {short[0].message}"
        return f"{why} The prescriber sets the dosing weight and the dose."
    reviews = ", ".join(f.rule for f in plan.findings if f.effect == "review")
    return "No dose is drafted for some sessions" + (f": see {reviews}." if reviews else ".")


def _label(first: Session, last: Session) -> str:
    return f"Session {first.number}" if first is last else f"Sessions {first.number}–{last.number}"


def _preparation(plan: Plan) -> str | None:
    p = plan.protocol
    parts = []
    if p.stock_mg_per_ml is not None:
        parts.append(f"{fmt_mg_per_ml(p.stock_mg_per_ml)} stock")
    if p.bag_ml is not None:
        parts.append(f"into the {fmt_ml(p.bag_ml)} bag (remove as much diluent first)")
    elif p.final_mg_per_ml is not None:
        parts.append(f"diluted to {fmt_mg_per_ml(p.final_mg_per_ml)}")
    return " ".join(parts) if parts else None


def _dose(plan: Plan) -> Section:
    d = plan.dosing
    assert d is not None
    rate = d.mode == RATE_MODE
    if d.dosing_weight_kg is not None:
        basis = f"{fmt_kg(d.dosing_weight_kg)}, {d.weight_basis} weight"
    else:
        basis = f"not set, {d.weight_basis} weight"
    factors = ", ".join(f"× {fmt_number(f.factor, places=4)} ({f.rule})" for f in d.factors) or "none"
    caps = f"{fmt_mg(d.cap_mg)}{' per session' if rate else ''} ({_where(d.cap_rule, 'dose.max_mg')})"
    if rate and d.max_mg_per_hour is not None:
        caps = f"{fmt_mg_per_h(d.max_mg_per_hour)} (protocol {HOURLY_CAP}); " + caps
    what = "hourly rate to the " if rate else ""
    weight = f"{basis} ({_where(d.basis_rule, 'dose.weight_basis')})"
    facts: list[tuple[str, Inline]] = [("Dosing weight", spans(weight + ("; no factors" if not d.factors else "")))]
    if d.factors:
        facts.append(("Factors", spans(factors)))
    facts.append(("Rounding", spans(f"{what}nearest {fmt_mg(d.round_to_mg)}, an exact half down; cap {caps}")))
    preparation = _preparation(plan)
    if preparation:
        facts.append(("Preparation", spans(preparation)))
    # Consecutive sessions with the same arithmetic are shown once, under their number range.
    groups: list[tuple[Session, Session, str]] = []
    for s in plan.sessions:
        if s.dose_mg is None:
            step = f"{_per_kg(s.amount, rate)}: no dose is drafted"
        else:
            step = _steps_rate(s, d, s.dose_mg) if rate else _steps_per_kg(s, d, s.dose_mg)
        if groups and groups[-1][2] == step and groups[-1][1].number + 1 == s.number:
            groups[-1] = (groups[-1][0], s, step)
        else:
            groups.append((s, s, step))
    blocks: list[Block] = [Facts(tuple(facts))]
    if groups:
        blocks.append(Items(tuple(spans((_label(a, b), "strong"), f": {step}") for a, b, step in groups)))
    if any(s.dose_mg is None for s in plan.sessions):
        blocks.append(Para(spans((_no_dose_reason(plan, d), "strong"))))
    return Section("dose", "Dose calculation", tuple(blocks))


# ------------------------------------------------------------------ schedule


def _mark(s: Session) -> str | None:
    """What set this session's dose other than the phase's amount: a cap, else a titrate rule."""
    if s.capped_by:
        return CAP_MARK
    return TITRATION_MARK if s.titrated_by else None


def _schedule(plan: Plan) -> Section:
    d = plan.dosing
    rate = d is not None and d.mode == RATE_MODE
    if not plan.sessions:
        return Section("schedule", "Schedule", (Para(spans("No sessions.")),))
    columns = [
        Column("number", "Session", "#", keep=True),
        Column("date", "Date", "Date", right=False, keep=True),
        Column("weekday", "Day", "Day", right=False, keep=True),
        Column("phase", "Phase", "Phase", right=False),
        Column("dose", "Dose", "Dose", keep=True),
        Column("given", "mg/kg/h given" if rate else "mg/kg given", "mg/kg/h" if rate else "mg/kg", keep=True),
    ]
    if rate:
        columns.append(Column("rate", "Hourly rate", "Rate"))
    columns += [
        Column("duration", "Duration", "Time"),
        Column("draw", "Volume to draw", "Draw"),
        Column("concentration", "Concentration", "Conc."),
        Column("volume", "Volume to infuse", "Volume"),
        Column("pump", "Pump rate", "Pump"),
    ]
    rows = []
    marks: set[str] = set()
    titrations: set[str] = set()
    for s in plan.sessions:
        dosed = s.dose_mg is not None

        def shown(value, fmt, dosed: bool = dosed) -> str:
            return fmt(value) if dosed and value is not None else NONE_SHOWN

        mark = _mark(s) if dosed else None
        if mark == CAP_MARK and s.capped_by:  # a cap mark: capped_by is set
            marks.add(s.capped_by)
        elif mark == TITRATION_MARK and s.titrated_by:  # a titration mark: titrated_by is set
            titrations.add(s.titrated_by)
        dose = (fmt_mg(s.dose_mg) + (f" {mark}" if mark else "")) if s.dose_mg is not None else NOT_DRAFTED
        given = given_text(s.given_per_kg, s.amount, rate) if dosed and s.given_per_kg is not None else NONE_SHOWN
        row = [str(s.number), s.date.isoformat(), s.weekday, s.phase, dose, given]
        if rate:
            row.append(shown(s.rate_mg_per_h, fmt_mg_per_h))
        row += [
            fmt_minutes(s.duration_min),
            shown(s.draw_ml, fmt_ml),
            shown(s.concentration_mg_per_ml, fmt_mg_per_ml),
            shown(s.volume_ml, fmt_ml),
            shown(s.pump_ml_per_h, fmt_ml_per_h),
        ]
        rows.append(tuple(row))
    legend = []
    if marks and d is not None:
        by = ", ".join(sorted(m for m in marks if m))
        cap = fmt_mg_per_h(d.max_mg_per_hour) if marks == {HOURLY_CAP} and d.max_mg_per_hour else fmt_mg(d.cap_mg)
        legend.append(f"{CAP_MARK} capped: lowered to the {cap} cap ({by})")
    if titrations:
        legend.append(f"{TITRATION_MARK} titrated: the mg/kg set by {', '.join(sorted(titrations))}, not the phase's")
    return Section("schedule", "Schedule", (Table(tuple(columns), tuple(rows), tuple(legend)),))


# ------------------------------------------------------------------ holds, checklists, sign-off


def _holds(plan: Plan) -> Section:
    if not plan.holds:
        return Section("holds", "Medication holds", (Para(spans("None.")),))
    items = []
    for h in plan.holds:
        meds = ", ".join(h.medications) if h.medications else "medications not named"
        parts: list = [(h.rule, "strong"), f" ({meds})"]
        if h.to_confirm:
            parts += [", ", ("TO CONFIRM", "warn")]
            if h.unknown_because:
                parts.append(f" ({'; '.join(h.unknown_because)})")
        parts.append(f": {h.instruction}")
        items.append(spans(*parts))
    return Section("holds", "Medication holds", (Items(tuple(items)),))


def _checklists(plan: Plan) -> Section:
    blocks: list[Block] = []
    for title, items in (
        ("Before each session", plan.checklist_pre),
        ("During each session", plan.checklist_during),
        ("After each session", plan.checklist_after),
    ):
        if items:
            blocks.append(Items(tuple(spans(i) for i in items), title=title, tasks=True))
        else:
            blocks.append(Items((), title=title, tasks=True))
    checks = [(s, c) for s in plan.sessions for c in s.checks]
    if checks:
        blocks.append(
            Items(
                tuple(spans(f"Session {s.number}, {s.weekday} {s.date.isoformat()}: {c}") for s, c in checks),
                title="For particular sessions",
                tasks=True,
            )
        )
    return Section("checklists", "Checklists", tuple(blocks), page_break=True)


def _signoff(plan: Plan, signed: SignedBy | None) -> Section:
    messages = {f.rule: f.message for f in plan.findings}
    if signed is None:
        intro = (
            "Each finding below needs review. The clinician records why the plan may go ahead:"
            if plan.acknowledge
            else "No finding needs review; a clinician checks the plan and signs it."
        )
        items: tuple[tuple[str, str, str | None], ...] = tuple(
            (rule, messages.get(rule, ""), None) for rule in plan.acknowledge
        )
        lines: tuple = (("Clinician name", None), ("Registration number", None), ("Signature", None), ("Date and time", None))
        notes: tuple = ()
    else:
        intro = (
            "Each finding that needed review, and the reason the clinician recorded:"
            if plan.acknowledge
            else "No finding needed review."
        )
        items = tuple(
            (rule, messages.get(rule, ""), str(signed.reasons.get(rule) or "none recorded")) for rule in plan.acknowledge
        )
        lines = (
            ("Clinician name", signed.clinician),
            ("Registration number", signed.registration),
            ("Signature", "recorded with ketaplan sign"),
            ("Date and time", f"{signed.signed_at} (UTC)"),
            ("Digest of the plan and sign-off", signed.digest),
        )
        notes = (
            spans(
                "Check it with ",
                ("ketaplan verify", "code"),
                " on this Markdown file (it is rendered again from the signed JSON beside it, the same name ending ",
                (".json", "code"),
                ", and compared) or on that JSON file. The digest shows whether the signed file was changed; it is "
                "not a cryptographic signature: someone who edits the file and recomputes the digest is not detected.",
            ),
        )
    return Section("signoff", "Sign-off", (SignOff(intro, items, lines, notes),), page_break=True)


# ------------------------------------------------------------------ the whole


def _utc(plan: Plan) -> str:
    """"2026-11-27T09:00:00Z": the time the plan was drafted, UTC, whole seconds (as its JSON)."""

    at = plan.generated.at
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def build_view(plan: Plan, *, digest: str | None = None, signed: SignedBy | None = None) -> PlanView:
    """The presentation model of `plan`. `digest`: the draft's digest to show in the footer (the
    caller computes it: no view digests); `signed`: the sign-off of a signed plan."""
    r = plan.protocol
    status = "SIGNED" if signed is not None else plan.status.upper()
    if signed is None:
        status_line = spans(
            "Status: ",
            ("DRAFT", "strong"),
            ". This is not a prescription: a clinician checks every dose and signs below before it is used.",
        )
    else:
        status_line = spans(
            "Status: ",
            ("SIGNED", "strong"),
            f" by {signed.clinician} (registration {signed.registration}) at {signed.signed_at} (UTC).",
        )
    sections: list[Section] = [_findings(plan)]
    if plan.verdict == "excluded":
        sections.append(
            Section(
                "nothing-drafted",
                "No plan",
                (Para(spans(("No sessions or doses are drafted for this patient under this protocol, and this plan cannot be signed.", "strong"))),),
            )
        )
    else:
        sections += [_patient(plan), _dose(plan), _schedule(plan), _holds(plan), _checklists(plan), _signoff(plan, signed)]
    g = plan.generated
    footer = Footer(
        by=g.by,
        at=_utc(plan),
        vocabulary=g.vocabulary,
        holidays=g.holidays,
        start=g.start.isoformat(),
        patient_sha256=g.patient_sha256,
        protocol_sha256=g.protocol_sha256,
        digest=digest,
    )
    return PlanView(
        status=status,
        patient_id=plan.patient.id,
        protocol=f"{r.id} {r.version}",
        title=f"{status} treatment plan for patient {plan.patient.id}",
        about=spans("Protocol ", (r.id, "strong"), f", version {r.version}" + (f": {r.title}." if r.title else ".")),
        status_line=status_line,
        verdict=_verdict(plan, signed),
        warnings=signed.problems if signed is not None else (),
        sections=tuple(sections),
        footer=footer,
    )
