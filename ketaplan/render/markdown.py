"""The plan as GitHub-flavoured Markdown, to print, file in the record and sign: a layout of the
PlanView (ketaplan.render.view); it computes nothing, and all text from the files is inert."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ketaplan.render.view import (
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
    from ketaplan.model.plan import Plan

# A line to write on when the plan is printed (dots: no Markdown meaning, print on any renderer).
WRITE_HERE = "." * 60
#: A schedule of more columns than this has short headers (a printed A4 page keeps every value whole).
WIDE_TABLE = 6

# --------------------------------------------------------------------------- inert text

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


def _inert(value: object) -> str:
    text = "" if value is None else str(value)
    text = one_line(text.replace("\t", " ").replace("\n", " ")).translate(_MARKDOWN)
    return _BARE_LINK.sub("\\\\", _SPACES.sub(" ", text))


def inert(value: object) -> str:
    """Text from a patient or protocol file as Markdown that shows it and does nothing else:
    one line (controls made visible by `printable`, a line break or tab a space), no table break,
    no HTML, no link, no emphasis."""
    return _inert(value).strip()


def _code(value: object) -> str:
    """A digest, version or key in a code span, when it can hold nothing but such characters."""
    text = "" if value is None else str(value)
    if text.strip() == text and text and all(c.isascii() and (c.isalnum() or c in ":.-+_ ") for c in text):
        return f"`{text}`"
    return inert(text)


def _inline(inline: Inline) -> str:
    out = []
    for span in inline:
        text = _inert(span.text)
        if not text.strip():
            out.append(text)
        elif span.style in ("strong", "warn"):
            out.append(f"**{text.strip()}**")
        elif span.style == "code":
            out.append(_code(span.text))
        else:
            out.append(text)
    return _SPACES.sub(" ", "".join(out)).strip()


# --------------------------------------------------------------------------- blocks


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell if cell else " " for cell in cells) + " |"


def _table(block: Table) -> list[str]:
    out = []
    common = block.common()
    if common:
        out.append("Every session: " + "; ".join(f"{inert(c.header)} {inert(v)}" for c, v in common) + ".")
    shown = block.varying()
    # A wide table takes the short headers, said in full under it: a browser printing the page then
    # has no reason to break a date or a dose to fit the headers on A4.
    short = len(shown.columns) > WIDE_TABLE
    headers = [c.short if short and c.key != "number" else c.header for c in shown.columns]
    lines = [_row([inert(h) for h in headers])]
    lines.append("|" + "|".join("--:" if c.right else ":--" for c in shown.columns) + "|")
    # A no-break space between number and unit (as the SI brochure asks): a printed cell never
    # shows "160" on one line and "mg" on the next.
    lines.extend(_row([inert(cell).replace(" ", "\u00a0") for cell in row]) for row in shown.rows)
    out.append("\n".join(lines))
    if short:
        named = [f"{inert(h)}: {inert(c.header.lower())}" for h, c in zip(headers, shown.columns) if h != c.header]
        if named:
            out.append("Columns: " + "; ".join(named) + ".")
    out.extend(inert(note) for note in block.legend)
    return out


def _findings(block: Findings) -> list[str]:
    items = []
    for f in block.items:
        head = f"- **{inert(f.effect)}** · **{inert(f.rule)}**: "
        if f.unchecked:
            head += f"{inert(f.unchecked)}: "
        head += inert(f.message)
        subs = [f"  - {inert(e)}" for e in f.evidence]
        if f.source:
            subs.append(f"  - Source: {inert(f.source)}")
        items.append("\n".join([head, *subs]))
    return [f"{inert(block.summary[:1].upper() + block.summary[1:])}, most serious first:", "\n".join(items)]


def _items(block: Items, level: int) -> list[str]:
    out = []
    if block.title:
        out.append(f"{'#' * level} {inert(block.title)}")
    if not block.items:
        out.append("None in the protocol.")
        return out
    # "*", not "-": a list right after a list of facts stays a list of its own.
    marker = "- [ ] " if block.tasks else "* "
    out.append(
        "\n".join(
            (f"{n}. " if block.ordered else marker) + _inline(item) for n, item in enumerate(block.items, start=1)
        )
    )
    return out


def _signoff(block: SignOff) -> list[str]:
    out = [inert(block.intro)]
    items = []
    for n, (rule, message, reason) in enumerate(block.items, start=1):
        marker = f"{n}. "  # the reason is indented under its item, however many digits
        written = WRITE_HERE if reason is None else inert(reason) or "none recorded"
        items.append(f"{marker}**{inert(rule)}**: {inert(message)}\n\n{' ' * len(marker)}Reason: {written}")
    if items:
        out.append("\n\n".join(items))
    for label, value in block.lines:
        shown = WRITE_HERE if value is None else (_code(value) if label.startswith("Digest") else inert(value))
        out.append(f"{inert(label)}: {shown}")
    out.extend(_inline(note) for note in block.notes)
    return out


def _block(block, level: int) -> list[str]:
    if isinstance(block, Para):
        return [_inline(block.text)]
    if isinstance(block, Facts):
        return ["\n".join(f"- **{inert(label)}**: {_inline(value)}" for label, value in block.items)]
    if isinstance(block, Items):
        return _items(block, level)
    if isinstance(block, Findings):
        return _findings(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, SignOff):
        return _signoff(block)
    raise TypeError(f"the Markdown view cannot lay out a {type(block).__name__}")


def _section(section: Section) -> list[str]:
    out = [f"## {inert(section.title)}"]
    for block in section.blocks:
        out += _block(block, 3)
    return out


# --------------------------------------------------------------------------- the document


def render_markdown(view: PlanView) -> str:
    """The Markdown of a PlanView."""
    v = view.verdict
    verdict = f"**{inert(v.headline)}** — {inert(v.asks)}."
    blocks = [f"# {inert(view.title)}", _inline(view.about), _inline(view.status_line)]
    if view.warnings:
        blocks += [
            "## WARNING: this signed plan does not verify",
            "\n".join(f"- {inert(p)}" for p in view.warnings),
        ]
    blocks += ["## Verdict", verdict]
    for section in view.sections:
        blocks += _section(section)
    f = view.footer
    holidays = f"holidays data {_code(f.holidays)}" if f.holidays else "no public holidays used"
    footer = [
        f"- Drafted by {inert(f.by)} at {inert(f.at)} (UTC)",
        f"- Vocabulary {_code(f.vocabulary)}; {holidays}",
        f"- Start date: {inert(f.start)}",
        f"- Patient file SHA-256: {_code(f.patient_sha256)}",
        f"- Protocol file SHA-256: {_code(f.protocol_sha256)}",
    ]
    if f.digest:
        footer.append(f"- Plan digest: {_code(f.digest)}")
    blocks += ["---", "\n".join(footer), verdict]
    return "\n\n".join(blocks) + "\n"


def render_plan_dict(plan: dict) -> str:
    """The Markdown of a draft plan given as its spec JSON (`plan_to_dict`, or a JSON file)."""
    from ketaplan.render.json import plan_from_dict

    return render_markdown(build_view(plan_from_dict(plan), digest=plan.get("digest")))


def render_signed(signed: dict) -> str:
    """The Markdown of a signed plan: the same document with the sign-off filled in and the digest
    shown; a signed file that no longer verifies says so at the top."""
    from ketaplan.render.signed import signed_view

    return render_markdown(signed_view(signed))


class MarkdownRenderer:
    """`--format markdown`."""

    def render(self, plan: Plan) -> str:
        from ketaplan.render.json import plan_digest

        return render_markdown(build_view(plan, digest=plan_digest(plan)))
