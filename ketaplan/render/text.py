"""The plan as a terminal view (`--format text`): the verdict first, every number via ketaplan.units."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ketaplan.model.plan import Dosing, Finding, Plan, Session
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
    truncate,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

DEFAULT_WIDTH = 100
RATE_MODE = "mg_per_kg_per_hour"
HOURLY_CAP = "dose.max_mg_per_hour"
SHORT_STATURE = "IDEAL-WEIGHT-SHORT-STATURE"
SHA_PREFIX = 12
NOT_DRAFTED = "not drafted"
NONE_SHOWN = "—"

VERDICT_STYLE = {"eligible": "bold green", "needs-review": "bold yellow", "excluded": "bold red"}
EFFECT_STYLE = {"exclude": "bold red", "review": "yellow"}


def _escape_table() -> dict[int, str]:
    # A patient or protocol file must not be able to drive the terminal (ESC, CSI), rewrite the line
    # (CR, backspace) or reorder what is read (bidirectional overrides): such characters are shown
    # as visible escapes instead. Nothing is removed, so what was written can still be read.
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
    table = {c: named.get(c, f"\\x{c:02x}") for c in range(0x20)}
    table.update({c: f"\\x{c:02x}" for c in range(0x7F, 0xA0)})
    bidi_and_breaks = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    table.update({c: f"\\u{c:04x}" for c in bidi_and_breaks})
    return table


_ESCAPES = _escape_table()


def inert(value: object) -> str:
    """`value` as text a terminal displays and never acts on (control characters made visible)."""
    return str(value).translate(_ESCAPES)


class _LineBreak:
    """A line break of the view's own layout (a newline inside a file's text is shown as \\n)."""


BREAK = _LineBreak()


def _text(*parts: str | tuple[str, str] | _LineBreak) -> Text:
    """A rich Text from plain strings, (string, style) pairs and BREAKs; never parsed as markup."""
    from rich.text import Text

    out = Text()
    for part in parts:
        if isinstance(part, _LineBreak):
            out.append("\n")
        elif isinstance(part, tuple):
            out.append(inert(part[0]), style=part[1])
        else:
            out.append(inert(part))
    return out


def _indent(renderable: Any, level: int = 1) -> Any:
    from rich.padding import Padding

    return Padding(renderable, (0, 0, 0, 2 * level), expand=False)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _weight_words(basis: str) -> str:
    return f"{basis} weight"


# ------------------------------------------------------------------ title, verdict, findings


def _title(plan: Plan) -> Text:
    p = plan.protocol
    return _text((f"{plan.status.upper()} — {plan.patient.id} — {p.id} {p.version}", "bold"))


def _verdict(plan: Plan) -> Text:
    headline = f"VERDICT: {plan.verdict.replace('-', ' ').upper()}"
    count = len(plan.acknowledge)
    if plan.verdict == "excluded":
        tail = "no plan is drafted"
        if count:
            tail += f"; {_plural(count, 'other finding needs', 'other findings need')} review"
    elif count:
        tail = f"{_plural(count, 'finding', 'findings')} to acknowledge at sign-off"
    else:
        tail = "no findings to acknowledge"
    return _text((headline, VERDICT_STYLE.get(plan.verdict, "bold")), f" — {tail}")


def _effect_cell(f: Finding) -> Text:
    parts: list[Any] = [(f.effect, EFFECT_STYLE.get(f.effect, ""))]
    if f.unknown:
        parts += [BREAK, "could not be checked"]
    if f.rule_effect != f.effect:
        parts += [BREAK, f"(an {f.rule_effect} rule)"]
    return _text(*parts)


def _findings(plan: Plan) -> Any:
    from rich import box
    from rich.table import Table

    if not plan.findings:
        return _text("No findings.")
    table = Table(box=box.SQUARE, show_lines=True, header_style="bold", expand=False)
    table.add_column(_text("Rule"), no_wrap=True, overflow="fold")
    table.add_column(_text("Effect"), overflow="fold")
    table.add_column(_text("Message"), overflow="fold", ratio=1)
    table.add_column(_text("Evidence"), overflow="fold", ratio=1)
    for f in plan.findings:
        message: list[Any] = [f.message]
        if f.source:
            message += [BREAK, (f"Source: {f.source}", "dim")]
        bullet = "• " if len(f.evidence) > 1 else ""
        evidence: list[Any] = []
        for item in f.evidence:
            evidence += [BREAK, bullet + item] if evidence else [bullet + item]
        table.add_row(_text(f.rule), _effect_cell(f), _text(*message), _text(*evidence))
    return table


# ------------------------------------------------------------------ patient


def _patient(plan: Plan) -> list[Any]:
    p = plan.patient
    weighed = f"weighed on {p.weighed_on.isoformat()}" if p.weighed_on else "date of weighing not recorded"

    def weight(name: str, kg: Any) -> str:
        # Devine (and so the adjusted weight) is not defined below 152.4 cm: the model gives None.
        return f"{name} {fmt_kg(kg)}" if kg is not None else f"{name} not defined at this height"

    # Weight and BMI are cut, never rounded: a shown value must not read as crossing a rule's threshold.
    body = f"{p.age} years, {p.sex}, height {fmt_cm(p.height_cm)}, weight {fmt_kg(truncate(p.weight_kg, 1))} ({weighed})"
    sizes = (
        f"BMI {fmt_number(truncate(p.bmi, 1), places=1)}; {weight('ideal weight', p.ideal_weight_kg)}, "
        f"{weight('adjusted weight', p.adjusted_weight_kg)}, lean weight {fmt_kg(p.lean_weight_kg)}"
    )
    return [_text(("Patient ", "bold"), (p.id, "bold")), _indent(_text(body)), _indent(_text(sizes))]


def _protocol(plan: Plan) -> list[Any]:
    r = plan.protocol
    drug = r.drug + (f", {r.route}" if r.route else "")
    approved = f"; approved by {r.approved_by}" if r.approved_by else ""
    return [
        _text(("Protocol ", "bold"), (f"{r.id} {r.version}", "bold")),
        _indent(_text(f"{r.title} ({drug}{approved})")),
    ]


# ------------------------------------------------------------------ dose calculation


def _where(rule: str | None, default: str) -> str:
    return rule if rule else f"protocol {default}"


def _rounding(d: Dosing, unit: Any = fmt_mg) -> str:
    # protocol.md: an exact half rounds down, because the lower dose wins.
    return f"nearest {unit(d.round_to_mg)}, an exact half rounds down"


def _product(s: Session, d: Dosing, per_kg: Any) -> str:
    """"0.5 mg/kg × 82.5 kg (actual weight) × 0.75 (ADJ-AGE-65)": what the raw dose multiplies."""
    weight = fmt_kg(d.dosing_weight_kg) if d.dosing_weight_kg is not None else "the dosing weight"
    factors = "".join(f" × {fmt_number(f.factor, places=4)} ({f.rule})" for f in d.factors)
    return f"{per_kg(s.amount)} × {weight} ({_weight_words(d.weight_basis)}){factors}"


def _preparation(plan: Plan) -> str | None:
    """Where the volume to draw comes from and what it goes into, for the double check."""
    p = plan.protocol
    parts = []
    if p.stock_mg_per_ml is not None:
        parts.append(f"draw from the {fmt_mg_per_ml(p.stock_mg_per_ml)} stock")
    if p.bag_ml is not None:
        parts.append(f"into the {fmt_ml(p.bag_ml)} bag (the same volume of diluent removed first)")
    elif p.final_mg_per_ml is not None:
        parts.append(f"diluted to {fmt_mg_per_ml(p.final_mg_per_ml)}")
    return ", ".join(parts) if parts else None


def _steps_per_kg(s: Session, d: Dosing) -> str:
    """One session's dose, step by step: 0.5 mg/kg × 82.5 kg (actual weight) = 41.25 mg → …"""
    text = _product(s, d, fmt_mg_per_kg)
    if s.raw_dose_mg is not None:
        text += f" = {fmt_mg(s.raw_dose_mg)}"
    if s.rounded_mg is not None:
        text += f" → rounded to {fmt_mg(s.rounded_mg)} ({_rounding(d)})"
    if s.capped_by:
        text += f" → capped at {fmt_mg(s.dose_mg)} ({s.capped_by})"
    else:
        text += f" → cap {fmt_mg(d.cap_mg)} not reached"
    if s.effective_mg_per_kg_actual is not None:
        text += f"; {fmt_mg(s.dose_mg)} is {fmt_mg_per_kg(s.effective_mg_per_kg_actual)} of actual weight"
    return text


def _steps_rate(s: Session, d: Dosing) -> str:
    """A rate session: the hourly rate step by step, then the session total."""
    text = _product(s, d, fmt_mg_per_kg_per_h)
    if s.raw_rate_mg_per_h is not None:
        text += f" = {fmt_mg_per_h(s.raw_rate_mg_per_h)}"
    if s.rounded_rate_mg_per_h is not None:
        text += f" → rounded to {fmt_mg_per_h(s.rounded_rate_mg_per_h)} ({_rounding(d, fmt_mg_per_h)})"
    hourly_cap = s.capped_by == HOURLY_CAP
    if hourly_cap and s.rate_mg_per_h is not None:
        text += f" → capped at {fmt_mg_per_h(s.rate_mg_per_h)} ({s.capped_by})"
    elif d.max_mg_per_hour is not None:
        text += f" → cap {fmt_mg_per_h(d.max_mg_per_hour)} not reached"
    duration = fmt_minutes(s.duration_min)
    if s.capped_by and not hourly_cap and s.rounded_rate_mg_per_h is not None and s.rate_mg_per_h is not None:
        # The whole session would pass a per-session cap: the rate is lowered to stay within it.
        text += (
            f" → {fmt_mg_per_h(s.rounded_rate_mg_per_h)} × {duration} would pass the cap of {fmt_mg(d.cap_mg)}"
            f" ({s.capped_by}): rate lowered to {fmt_mg_per_h(s.rate_mg_per_h)}"
        )
    if s.rate_mg_per_h is not None:
        text += f" → {fmt_mg_per_h(s.rate_mg_per_h)} × {duration} = {fmt_mg(s.dose_mg)} per session"
    else:
        text += f" → {fmt_mg(s.dose_mg)} per session"
    if not s.capped_by or hourly_cap:
        text += f" → cap {fmt_mg(d.cap_mg)} not reached"
    if s.effective_mg_per_kg_per_hour_actual is not None and s.rate_mg_per_h is not None:
        rate_per_kg = fmt_mg_per_kg_per_h(s.effective_mg_per_kg_per_hour_actual)
        text += f"; {fmt_mg_per_h(s.rate_mg_per_h)} is {rate_per_kg} of actual weight"
    return text


def _no_dose_reason(plan: Plan, d: Dosing) -> str:
    if d.dosing_weight_kg is None:
        why = f"No dose is drafted: there is no {_weight_words(d.weight_basis)} to dose on for this patient."
        short = [f for f in plan.findings if f.rule == SHORT_STATURE]
        if short:
            return f"{why} {SHORT_STATURE}: {short[0].message}"
        return f"{why} The prescriber sets the dosing weight and the dose."
    reviews = ", ".join(f.rule for f in plan.findings if f.effect == "review")
    return "No dose is drafted for some sessions" + (f": see {reviews}." if reviews else ".")


def _session_label(first: Session, last: Session) -> str:
    if first is last:
        return f"Session {first.number}"
    return f"Sessions {first.number}–{last.number}"


def _dose_calculation(plan: Plan) -> list[Any]:
    d = plan.dosing
    if d is None:
        return [_text(("Dose calculation", "bold")), _indent(_text("No dose is drafted."))]
    rate = d.mode == RATE_MODE
    if d.dosing_weight_kg is not None:
        basis = f"{fmt_kg(d.dosing_weight_kg)} — {_weight_words(d.weight_basis)}"
    else:
        basis = f"not set — {_weight_words(d.weight_basis)} basis"
    lines: list[Any] = [
        _text(("Dose calculation", "bold")),
        _indent(_text(f"Dosing weight: {basis} ({_where(d.basis_rule, '[dose] weight_basis')})")),
    ]
    if d.factors:
        for f in d.factors:
            lines.append(_indent(_text(f"Factor: × {fmt_number(f.factor, places=4)} ({f.rule})")))
    else:
        lines.append(_indent(_text("Factors: none")))
    if rate and d.max_mg_per_hour is not None:
        lines.append(_indent(_text(f"Hourly cap: {fmt_mg_per_h(d.max_mg_per_hour)} (protocol dose.max_mg_per_hour)")))
    lines.append(_indent(_text(f"Cap per session: {fmt_mg(d.cap_mg)} ({_where(d.cap_rule, 'dose.max_mg')})")))
    preparation = _preparation(plan)
    if preparation:
        lines.append(_indent(_text(f"Preparation: {preparation}")))

    # Consecutive sessions with the same arithmetic are shown once, under their number range.
    groups: list[tuple[Session, Session, str]] = []
    for s in plan.sessions:
        if s.dose_mg is None:
            step = f"{(fmt_mg_per_kg_per_h if rate else fmt_mg_per_kg)(s.amount)}: no dose is drafted"
        else:
            step = _steps_rate(s, d) if rate else _steps_per_kg(s, d)
        if groups and groups[-1][2] == step and groups[-1][1].number + 1 == s.number:
            groups[-1] = (groups[-1][0], s, step)
        else:
            groups.append((s, s, step))
    for first, last, step in groups:
        lines.append(_indent(_text((_session_label(first, last), "bold"), f": {step}")))
    if any(s.dose_mg is None for s in plan.sessions):
        lines.append(_indent(_text((_no_dose_reason(plan, d), "bold"))))
    return lines


# ------------------------------------------------------------------ schedule

# The schedule's columns: header, right-aligned. A rate protocol adds its hourly rate.
_LEAD_COLUMNS = [("#", False), ("Date", False), ("Day", False), ("Dose", True)]
_TAIL_COLUMNS = [("Duration", True), ("Draw", True), ("Concentration", True), ("Volume", True), ("Pump rate", True)]
_GAP = 2  # spaces between two columns


def _schedule_row(s: Session, rate: bool) -> list[str]:
    dosed = s.dose_mg is not None

    def shown(value: Any, fmt: Any) -> str:
        return fmt(value) if dosed and value is not None else NONE_SHOWN

    row = [str(s.number), s.date.isoformat(), s.weekday, fmt_mg(s.dose_mg) if dosed else NOT_DRAFTED]
    if rate:
        row += [fmt_mg_per_kg_per_h(s.amount), shown(s.rate_mg_per_h, fmt_mg_per_h)]
    else:
        row.append(fmt_mg_per_kg(s.amount))
    row += [
        fmt_minutes(s.duration_min),
        shown(s.draw_ml, fmt_ml),
        shown(s.concentration_mg_per_ml, fmt_mg_per_ml),
        shown(s.volume_ml, fmt_ml),
        shown(s.pump_ml_per_h, fmt_ml_per_h),
    ]
    return [inert(cell) for cell in row]


def _phases(sessions: tuple[Session, ...]) -> list[list[Session]]:
    """Runs of consecutive sessions in the same phase."""
    runs: list[list[Session]] = []
    for s in sessions:
        if runs and runs[-1][-1].phase == s.phase:
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


def _column_widths(headers: list[str], rows: list[list[str]], room: int) -> list[int] | None:
    """Widths at which every value fits on one line, headers whole if there is room, else wrapped
    at their spaces; None when even that is wider than `room`."""
    from rich.cells import cell_len

    values = [max(cell_len(row[i]) for row in rows) for i in range(len(headers))]
    whole = [max(v, cell_len(h)) for v, h in zip(values, headers)]
    wrapped = [max(v, *(cell_len(w) for w in h.split())) for v, h in zip(values, headers)]
    for widths in (whole, wrapped):
        if sum(widths) + _GAP * (len(widths) - 1) <= room:
            return widths
    return None


def _schedule(plan: Plan, console: Console) -> list[Any]:
    from rich import box
    from rich.table import Table

    rate = plan.dosing is not None and plan.dosing.mode == RATE_MODE
    columns = _LEAD_COLUMNS + ([("mg/kg/h", True), ("Rate", True)] if rate else [("mg/kg", True)]) + _TAIL_COLUMNS
    headers = [h for h, _ in columns]
    out: list[Any] = [] if plan.sessions else [_text(("Schedule", "bold")), _indent(_text("No sessions."))]
    room = console.width
    widths = _column_widths(headers, [_schedule_row(s, rate) for s in plan.sessions], room)
    for run in _phases(plan.sessions):
        label = _session_label(run[0], run[-1]).lower()
        out.append(_text(("Schedule: ", "bold"), (run[0].phase, "bold"), f", {label}"))
        rows = [_schedule_row(s, rate) for s in run]
        if widths is None:
            # Too narrow for a table: one session per block, each value under its name. A dose,
            # volume or rate is never split across lines nor cut short.
            for row in rows:
                out.append(_indent(_text((f"Session {row[0]}", "bold"), f": {row[2]} {row[1]}")))
                for header, value in zip(headers[3:], row[3:]):
                    out.append(_indent(_text(f"{header}: {value}"), 2))
            continue
        table = Table(
            box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, header_style="bold"
        )
        for (header, right), width in zip(columns, widths):
            table.add_column(_text(header), width=width, justify="right" if right else "left", overflow="fold")
        for row in rows:
            table.add_row(*(_text(cell) for cell in row))
        out.append(table)
    return out


# ------------------------------------------------------------------ holds, checklists, sign-off, footer


def _holds(plan: Plan) -> list[Any]:
    out: list[Any] = [_text(("Medication holds", "bold"))]
    if not plan.holds:
        out.append(_indent(_text("None.")))
        return out
    for h in plan.holds:
        meds = ", ".join(h.medications) if h.medications else "medications not named"
        head: list[Any] = [(h.rule, "bold"), f": {meds}"]
        if h.to_confirm:
            head += [" — ", ("TO CONFIRM", "bold yellow")]
        out.append(_indent(_text(*head)))
        out.append(_indent(_text(h.instruction), 2))
        if h.to_confirm and h.unknown_because:
            out.append(_indent(_text(f"to confirm because: {'; '.join(h.unknown_because)}"), 2))
    return out


def _checklists(plan: Plan) -> list[Any]:
    out: list[Any] = [_text(("Checklist", "bold"))]
    for title, items in (
        ("Before each session", plan.checklist_pre),
        ("During each session", plan.checklist_during),
        ("After each session", plan.checklist_after),
    ):
        out.append(_indent(_text(title)))
        out.extend(_indent(_text(f"[ ] {item}"), 2) for item in items)
        if not items:
            out.append(_indent(_text("none in the protocol"), 2))
    checks = [(s, c) for s in plan.sessions for c in s.checks]
    if checks:
        out.append(_indent(_text("For particular sessions")))
        out.extend(
            _indent(_text(f"[ ] Session {s.number} ({s.weekday} {s.date.isoformat()}): {c}"), 2) for s, c in checks
        )
    return out


def _signoff(plan: Plan) -> list[Any]:
    out: list[Any] = [_text(("Sign-off needed", "bold"))]
    if plan.acknowledge:
        out.append(_indent(_text("Acknowledge each of these findings, with a reason, before signing:")))
        out.extend(_indent(_text(f"[ ] {rule}"), 2) for rule in plan.acknowledge)
    else:
        out.append(_indent(_text("No finding needs acknowledging; a clinician checks and signs the plan before use.")))
    return out


def _footer(plan: Plan) -> list[Text]:
    g = plan.generated
    versions = f"{g.by} · vocabulary {g.vocabulary} · holidays {g.holidays or 'none'} · start {g.start.isoformat()}"
    hashes = f"patient sha256 {g.patient_sha256[:SHA_PREFIX]} · protocol sha256 {g.protocol_sha256[:SHA_PREFIX]}"
    return [_text((versions, "dim")), _text((hashes, "dim"))]


# ------------------------------------------------------------------ the view


def _sections(plan: Plan, console: Console) -> list[list[Any]]:
    head = [_title(plan), _verdict(plan)]
    if plan.verdict == "excluded":
        return [
            head,
            [_findings(plan)],
            [_text(("No sessions or doses are drafted for an excluded patient.", "bold"))],
            _footer(plan),
        ]
    return [
        head,
        [_findings(plan)],
        _patient(plan) + _protocol(plan),
        _dose_calculation(plan),
        _schedule(plan, console),
        _holds(plan),
        _checklists(plan),
        _signoff(plan),
        _footer(plan),
    ]


class TextRenderer:
    """`--format text`: a rich view for a terminal, returned as a string."""

    def __init__(self, color: bool = False, width: int | None = None) -> None:
        self.color = color
        self.width = width

    def render(self, plan: Plan) -> str:
        from rich.console import Console

        buffer = io.StringIO()
        console = Console(
            file=buffer,
            force_terminal=self.color,
            no_color=not self.color,
            # Explicit, so that neither TERM nor NO_COLOR nor FORCE_COLOR changes the output:
            # without colour not one escape sequence is written.
            color_system="standard" if self.color else None,
            width=self.width or DEFAULT_WIDTH,
            highlight=False,
            emoji=False,
            markup=False,
            legacy_windows=False,
        )
        for i, section in enumerate(_sections(plan, console)):
            if i > 0:
                console.print()
            for block in section:
                console.print(block)
        lines = buffer.getvalue().split("\n")
        if lines[-1] == "":
            lines.pop()
        return "".join(line.rstrip(" ") + "\n" for line in lines)
