"""The plan as a terminal view (`--format text`): a layout of the PlanView (ketaplan.render.view),
verdict first and last, one row per session at 80 columns; it computes nothing."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ketaplan.render.view import (
    MARKS,
    Column,
    Facts,
    Findings,
    Inline,
    Items,
    Para,
    PlanView,
    Section,
    SignOff,
    Table,
    build_view,
    one_line,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ketaplan.model.plan import Plan

DEFAULT_WIDTH = 100
SHA_PREFIX = 12
_GAP = 2  # spaces between two table columns

VERDICT_STYLE = {"eligible": "bold green", "needs-review": "bold yellow", "excluded": "bold red"}
EFFECT_STYLE = {"exclude": "bold red", "review": "yellow", "hold": "yellow"}
SPAN_STYLE = {"strong": "bold", "code": "", "dim": "dim", "warn": "bold yellow"}


def inert(value: object) -> str:
    """`value` as text a terminal displays and never acts on (control characters made visible)."""
    return one_line(value)


def _text(*parts: str | tuple[str, str]) -> Text:
    """A rich Text from plain strings and (string, style) pairs; never parsed as markup."""
    from rich.text import Text

    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            out.append(inert(part[0]), style=part[1])
        else:
            out.append(inert(part))
    return out


def _inline(inline: Inline) -> Text:
    return _text(*((s.text, SPAN_STYLE.get(s.style, "")) for s in inline))


def _split_mark(cell: str) -> tuple[str, str]:
    """"160 mg †" as ("160 mg", "†"); a cell without a mark as (cell, "")."""
    mark = next((m for m in MARKS if cell.endswith(" " + m)), "")
    return (cell[: -len(mark) - 1], mark) if mark else (cell, "")


class _Layout:
    """Lays a PlanView out on a rich console of a given width."""

    def __init__(self, console: Console, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose
        self.width = console.width

    # -------------------------------------------------------------- primitives

    def line(self, text: Text) -> None:
        self.console.print(text, no_wrap=True, overflow="ellipsis", crop=True)

    def wrapped(self, text: Text, indent: int = 0, hang: int = 0, first: Text | None = None) -> None:
        """`text` wrapped to the width, each line indented; `first` (if given) starts the first line
        and later lines hang under the text."""
        from rich.text import Text as RichText

        lead = first.cell_len if first is not None else 0
        room = max(20, self.width - indent - lead)
        lines = text.wrap(self.console, room)
        for i, part in enumerate(lines):
            out = RichText(" " * (indent if i == 0 or first is None else indent + lead))
            if i == 0 and first is not None:
                out.append_text(first)
            elif i > 0 and first is None:
                out = RichText(" " * (indent + hang))
            out.append_text(part)
            self.console.print(out, no_wrap=True, crop=True)
        if not lines:
            self.console.print(RichText(" " * indent).append_text(first or RichText()))

    def folded(self, text: Text, indent: int) -> None:
        """One line, cut with an ellipsis where it does not fit (the whole is in --verbose)."""
        from rich.text import Text as RichText

        if self.verbose:
            self.wrapped(text, indent, hang=4)
            return
        out = RichText(" " * indent).append_text(text)
        out.truncate(self.width, overflow="ellipsis")
        self.console.print(out, no_wrap=True, crop=True)

    def heading(self, title: str, tail: str = "") -> None:
        self.wrapped(_text((title, "bold"), tail))

    # -------------------------------------------------------------- blocks

    def block(self, block: Any, indent: int = 2) -> None:
        if isinstance(block, Para):
            self.wrapped(_inline(block.text), indent)
        elif isinstance(block, Facts):
            for label, value in block.items:
                self.wrapped(_inline(value), indent, first=_text((f"{label}: ", "bold")))
        elif isinstance(block, Items):
            self.items(block, indent)
        elif isinstance(block, Findings):
            self.findings(block, indent)
        elif isinstance(block, Table):
            self.table(block, indent)
        elif isinstance(block, SignOff):
            self.signoff(block, indent)
        else:
            raise TypeError(f"the terminal view cannot lay out a {type(block).__name__}")

    def items(self, block: Items, indent: int) -> None:
        inner = indent
        if block.title:
            tail = ""
            if block.tasks:
                tail = f" ({len(block.items)})" + ("" if self.verbose else ", one line each (--verbose: whole)")
            self.line(_text(" " * indent, (block.title, "bold"), tail))
            inner = indent + 2
        if not block.items:
            self.line(_text(" " * inner, "none in the protocol"))
        for n, item in enumerate(block.items, start=1):
            marker = "[ ] " if block.tasks else (f"{n}. " if block.ordered else "• ")
            text = _inline(item)
            if block.tasks:
                # Protocol boilerplate: one line each in the terminal, whole with --verbose.
                self.folded(_text(marker).append_text(text), inner)
            else:
                self.wrapped(text, inner, first=_text(marker))

    def findings(self, block: Findings, indent: int) -> None:
        effect_w = max(len(f.effect) for f in block.items)
        rule_w = max(len(one_line(f.rule)) for f in block.items)
        for f in block.items:
            lead = _text(
                " " * indent,
                (f.effect.ljust(effect_w), EFFECT_STYLE.get(f.effect, "")),
                "  ",
                (one_line(f.rule).ljust(rule_w), "bold"),
                "  ",
            )
            body = _text(((f.unchecked + ": "), "bold")) if f.unchecked else _text()
            body.append_text(_text(f.message))
            room = self.width - lead.cell_len
            folded = f.foldable and not self.verbose
            if room < (20 if folded else 50):
                # A long rule id: the message goes under it, never squeezed into a narrow column
                # (a folded note keeps its one line while 20 columns are left for its start).
                self.line(lead)
                lead = _text(" " * (indent + 4))
                room = self.width - lead.cell_len
            if folded:
                one = lead.copy()
                body.truncate(room, overflow="ellipsis")
                one.append_text(body)
                self.console.print(one, no_wrap=True, crop=True)
                continue
            self.wrapped(body, 0, first=lead)
            hang = lead.cell_len
            for item in f.evidence:
                self.wrapped(_text(item), hang, first=_text("· "))
            if f.source:
                self.wrapped(_text((f"Source: {f.source}", "dim")), hang, first=_text(""))

    def table(self, block: Table, indent: int) -> None:
        from rich import box
        from rich.cells import cell_len
        from rich.padding import Padding
        from rich.table import Table as RichTable

        varying = block.varying()
        shown = varying
        marked = [i for i in range(len(shown.columns)) if any(r[i].endswith(MARKS) for r in shown.rows)]
        for i in reversed(marked):
            # A mark gets a narrow column of its own: the values keep their digits in line.
            columns = list(shown.columns)
            columns.insert(i + 1, Column(columns[i].key + "-mark", "", "", right=False))
            rows = tuple(r[:i] + _split_mark(r[i]) + r[i + 1 :] for r in shown.rows)
            shown = shown._replace(columns=tuple(columns), rows=rows)
        headers = [c.short for c in shown.columns]
        values = [max(cell_len(one_line(r[i])) for r in shown.rows) for i in range(len(headers))]
        widths = [max(v, cell_len(h)) for v, h in zip(values, headers)]
        need = sum(widths) + _GAP * (len(widths) - 1)
        if need > self.width - indent and need <= self.width:
            indent = 0  # flush left rather than a row on two lines
        if need > self.width - indent:
            # Too narrow for a table: one session per block, each value under its name. A dose,
            # volume or rate is never split across lines nor cut short.
            keys = [c.key for c in varying.columns]
            head = ("number", "weekday", "date")
            for row in varying.rows:
                cells = dict(zip(keys, row))
                when = " ".join(cells[k] for k in head[1:] if k in cells)
                self.line(_text(" " * indent, (f"Session {cells.get('number', '')}", "bold"), f": {when}"))
                for column, value in zip(varying.columns, row):
                    if column.key not in head:
                        self.wrapped(_text(f"{column.header}: {value}"), indent + 2)
        else:
            table = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, header_style="bold")
            for column, width in zip(shown.columns, widths):
                table.add_column(_text(column.short), width=width, justify="right" if column.right else "left", no_wrap=True)
            for row in shown.rows:
                table.add_row(*(_text(cell) for cell in row))
            self.console.print(Padding(table, (0, 0, 0, indent), expand=False))
        for note in block.legend:
            self.wrapped(_text((note, "dim")), indent)

    def signoff(self, block: SignOff, indent: int) -> None:
        self.wrapped(_text(block.intro), indent)
        for rule, _message, reason in block.items:
            if reason is None:
                lead = _text(" " * (indent + 2), "[ ] ", (rule, "bold"), "  reason: ")
                self.line(lead.append("_" * max(10, min(40, self.width - lead.cell_len))))
            else:
                self.wrapped(_text(f"reason: {reason}"), indent + 2, first=_text("[x] ", (rule, "bold"), "  "))
        for label, value in block.lines:
            if value is not None:
                self.wrapped(_text(value), indent, first=_text((f"{label}: ", "bold")))
        for note in block.notes:
            self.wrapped(_inline(note), indent)

    # -------------------------------------------------------------- the view

    def section(self, section: Section) -> None:
        blocks = section.blocks
        if section.key == "findings" and blocks and isinstance(blocks[0], Findings):
            folded = not self.verbose and any(f.foldable for f in blocks[0].items)
            self.heading("Findings", f": {blocks[0].summary}, most serious first" + ("; notes folded (--verbose)" if folded else ""))
        elif section.key == "patient" and len(blocks) == 1 and isinstance(blocks[0], Facts):
            self.block(blocks[0], indent=0)
            return
        elif section.key == "holds" and len(blocks) == 1 and isinstance(blocks[0], Para):
            self.wrapped(_inline(blocks[0].text), 0, first=_text((f"{section.title}: ", "bold")))
            return
        elif section.key == "schedule":
            table = next((b for b in blocks if isinstance(b, Table)), None)
            common = table.common() if table else ()
            said = "; every session: " + " · ".join(f"{c.short} {v}" for c, v in common) if common else ""
            given = next((c.short for c in table.columns if c.key == "given"), "mg/kg") if table else ""
            self.heading("Schedule", f": {len(table.rows)} sessions ({given} given){said}" if table else "")
        elif section.key == "checklists":
            for block in blocks:
                self.block(block, indent=0)
            return
        elif section.key == "signoff" and len(blocks) == 1 and isinstance(blocks[0], SignOff) and not blocks[0].items:
            self.wrapped(_text(blocks[0].intro), 0, first=_text((f"{section.title}: ", "bold")))
            return
        else:
            self.heading(section.title)
        for block in blocks:
            self.block(block)

    @staticmethod
    def _nothing_to_sign(section: Section) -> bool:
        return all(isinstance(b, SignOff) and not b.items and all(v is None for _, v in b.lines) for b in section.blocks)

    def verdict(self, view: PlanView) -> None:
        v = view.verdict
        self.wrapped(_text((v.headline, VERDICT_STYLE.get(v.verdict, "bold")), f" — {v.asks}"))

    def view(self, view: PlanView) -> None:
        self.line(_text((f"{view.status} — {view.patient_id} — {view.protocol}", "bold")))
        self.verdict(view)
        for warning in view.warnings:
            self.wrapped(_text(("WARNING: ", "bold red"), warning))
        for section in view.sections:
            if section.key == "signoff" and self._nothing_to_sign(section):
                continue  # the closing verdict says it: nothing to acknowledge, a clinician signs
            self.console.print()
            self.section(section)
        f = view.footer
        self.wrapped(
            _text(
                (
                    f"{f.by} · vocabulary {f.vocabulary} · holidays {f.holidays or 'none'} · start {f.start} · "
                    f"sha256 patient {f.patient_sha256[:SHA_PREFIX]}, protocol {f.protocol_sha256[:SHA_PREFIX]}",
                    "dim",
                )
            )
        )
        self.verdict(view)


def render_view(view: PlanView, *, color: bool = False, width: int | None = None, verbose: bool = False) -> str:
    """The terminal text of a PlanView (without colour: not one escape sequence)."""
    return lay_out(_Layout, view, color=color, width=width, verbose=verbose)


def lay_out(layout: type[_Layout], view: PlanView, *, color: bool, width: int | None, verbose: bool) -> str:
    """`view` laid out by `layout` (the plan's, or a view's subclass of it) on one console setup."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        # Explicit, so that neither TERM nor NO_COLOR nor FORCE_COLOR changes the output.
        color_system="standard" if color else None,
        width=width or DEFAULT_WIDTH,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
    )
    layout(console, verbose).view(view)
    lines = buffer.getvalue().split("\n")
    if lines[-1] == "":
        lines.pop()
    return "".join(line.rstrip(" ") + "\n" for line in lines)


class TextRenderer:
    """`--format text`: a rich view for a terminal, returned as a string."""

    def __init__(self, color: bool = False, width: int | None = None, verbose: bool = False) -> None:
        self.color = color
        self.width = width
        self.verbose = verbose

    def render(self, plan: Plan) -> str:
        return render_view(build_view(plan), color=self.color, width=self.width, verbose=self.verbose)
