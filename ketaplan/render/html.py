"""The plan as one self-contained HTML page made for A4 (`--format html`): a layout of the PlanView
(ketaplan.render.view). No script, nothing fetched; a print stylesheet a clinic can swap (`--css`);
a running header with patient, protocol and DRAFT/SIGNED on every printed page. It computes nothing."""

from __future__ import annotations

from html import escape
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

#: The default print stylesheet; `--css FILE` replaces it (the running header is kept).
DEFAULT_CSS = """\
@page { size: A4 portrait; margin: 16mm 12mm 14mm 12mm; }
@page { @bottom-right { content: "page " counter(page) " of " counter(pages); font: 8pt sans-serif; color: #444; } }
html { font: 10pt/1.35 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #000; background: #fff; }
body { margin: 0; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
h2 { font-size: 12pt; margin: 5mm 0 2mm; border-bottom: 0.4pt solid #888; break-after: avoid; }
h3 { font-size: 10.5pt; margin: 3mm 0 1mm; break-after: avoid; }
p, ul, ol { margin: 1mm 0 2mm; }
.running { font-size: 8pt; color: #444; border-bottom: 0.4pt solid #888; margin-bottom: 3mm; }
.verdict { border: 1.2pt solid #000; padding: 2mm 3mm; margin: 3mm 0; break-inside: avoid; }
.verdict-excluded { border-color: #a00; }
.verdict-needs-review { border-color: #a60; }
.findings li { margin-bottom: 1.5mm; break-inside: avoid; }
.effect { font-weight: bold; text-transform: uppercase; font-size: 8.5pt; }
.effect-exclude { color: #a00; } .effect-review, .effect-hold { color: #850; }
.unchecked { font-weight: bold; }
.facts { margin: 1mm 0 2mm; padding: 0; list-style: none; }
table.schedule { border-collapse: collapse; width: 100%; font-size: 8pt; margin: 2mm 0; break-inside: avoid; }
table.schedule th, table.schedule td { border: 0.4pt solid #777; padding: 0.6mm 1mm; }
table.schedule th { background: #eee; text-align: center; vertical-align: bottom; font-size: 7.5pt; }
table.schedule td { white-space: nowrap; text-align: right; }
table.schedule td.left { text-align: left; }
table.schedule tr { break-inside: avoid; }
table.schedule thead { display: table-header-group; }
.legend { font-size: 8.5pt; }
.tasks { list-style: none; padding-left: 1mm; }
.tasks li { margin: 1mm 0; break-inside: avoid; }
.tasks li::before { content: "\\2610\\00a0\\00a0"; font-size: 11pt; }
.page-break { break-before: page; }
#patient, #dose, #holds { break-inside: avoid; }
.signoff .line { display: inline-block; min-width: 95mm; border-bottom: 0.6pt solid #000; }
.signoff p { margin: 3mm 0; break-inside: avoid; }
.footer { font-size: 8pt; color: #333; border-top: 0.4pt solid #888; margin-top: 5mm; word-break: break-all; }
.warning { border: 1.5pt solid #a00; padding: 2mm; color: #a00; }
@media screen { body { padding: 8mm; } .page-break { border-top: 1pt dashed #999; margin-top: 8mm; } }
@media print { .running { display: none; } }
"""


def _t(value: object) -> str:
    """File text as HTML text: controls visible (printable), HTML specials as entities."""
    return escape(one_line(value), quote=True)


def _inline(inline: Inline) -> str:
    out = []
    for span in inline:
        text = _t(span.text)
        if span.style in ("strong", "warn"):
            out.append(f"<strong>{text}</strong>")
        elif span.style == "code":
            out.append(f"<code>{text}</code>")
        else:
            out.append(text)
    return "".join(out)


def _css_string(text: str) -> str:
    """Text as a CSS string: quotes, backslashes and line ends escaped; `<` escaped so that the
    style element cannot be closed."""
    out = []
    for c in one_line(text):
        if c in '"\\<>' or ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\{ord(c):x} ")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _table(block: Table) -> str:
    head = "".join(f"<th>{_t(c.header)}</th>" for c in block.columns)
    rows = []
    for row in block.rows:
        cells = []
        for c, value in zip(block.columns, row):
            cls = ' class="left"' if not c.right else ""
            cells.append(f'<td{cls} data-col="{escape(c.key)}">{_t(value)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    legend = "".join(f'<p class="legend">{_t(note)}</p>' for note in block.legend)
    return f'<table class="schedule"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{legend}'


def _findings(block: Findings) -> str:
    items = []
    for f in block.items:
        text = f'<span class="effect effect-{escape(f.effect)}">{_t(f.effect)}</span> <strong>{_t(f.rule)}</strong>: '
        if f.unchecked:
            text += f'<span class="unchecked">{_t(f.unchecked)}:</span> '
        text += _t(f.message)
        subs = [f"<li>{_t(e)}</li>" for e in f.evidence]
        if f.source:
            subs.append(f"<li>Source: {_t(f.source)}</li>")
        if subs:
            text += "<ul>" + "".join(subs) + "</ul>"
        items.append(f'<li class="finding">{text}</li>')
    summary = block.summary[:1].upper() + block.summary[1:]
    return f"<p>{_t(summary)}, most serious first:</p><ol class=\"findings\">{''.join(items)}</ol>"


def _items(block: Items) -> str:
    out = f"<h3>{_t(block.title)}</h3>" if block.title else ""
    if not block.items:
        return out + "<p>None in the protocol.</p>"
    tag = "ol" if block.ordered else "ul"
    cls = ' class="tasks"' if block.tasks else ""
    return out + f"<{tag}{cls}>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + f"</{tag}>"


def _signoff(block: SignOff) -> str:
    out = [f"<p>{_t(block.intro)}</p>"]
    if block.items:
        items = []
        for rule, message, reason in block.items:
            written = '<span class="line"></span>' if reason is None else _t(reason)
            items.append(f"<li><strong>{_t(rule)}</strong>: {_t(message)}<p>Reason: {written}</p></li>")
        out.append("<ol>" + "".join(items) + "</ol>")
    for label, value in block.lines:
        shown = '<span class="line"></span>' if value is None else _t(value)
        out.append(f"<p>{_t(label)}: {shown}</p>")
    out += [f'<p class="legend">{_inline(n)}</p>' for n in block.notes]
    return '<div class="signoff">' + "".join(out) + "</div>"


def _block(block) -> str:
    if isinstance(block, Para):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Facts):
        return '<ul class="facts">' + "".join(
            f"<li><strong>{_t(label)}</strong>: {_inline(value)}</li>" for label, value in block.items
        ) + "</ul>"
    if isinstance(block, Items):
        return _items(block)
    if isinstance(block, Findings):
        return _findings(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, SignOff):
        return _signoff(block)
    raise TypeError(f"the HTML view cannot lay out a {type(block).__name__}")


def _section(section: Section) -> str:
    cls = ' class="page-break"' if section.page_break else ""
    body = "".join(_block(b) for b in section.blocks)
    return f'<section id="{escape(section.key)}"{cls}><h2>{_t(section.title)}</h2>{body}</section>'


def render_html(view: PlanView, css: str | None = None) -> str:
    """The HTML page of a PlanView; `css` replaces the default stylesheet."""
    running = f"{view.status} · patient {view.patient_id} · {view.protocol}"
    v = view.verdict
    verdict = (
        f'<div class="verdict verdict-{escape(v.verdict)}"><strong>{_t(v.headline)}</strong> — {_t(v.asks)}.</div>'
    )
    f = view.footer
    footer = [
        f"Drafted by {_t(f.by)} at {_t(f.at)} (UTC)",
        f"Vocabulary {_t(f.vocabulary)}; " + (f"holidays data {_t(f.holidays)}" if f.holidays else "no public holidays used"),
        f"Start date: {_t(f.start)}",
        f"Patient file SHA-256: <code>{_t(f.patient_sha256)}</code>",
        f"Protocol file SHA-256: <code>{_t(f.protocol_sha256)}</code>",
    ]
    if f.digest:
        footer.append(f"Plan digest: <code>{_t(f.digest)}</code>")
    warnings = ""
    if view.warnings:
        warnings = (
            '<div class="warning"><h2>WARNING: this signed plan does not verify</h2><ul>'
            + "".join(f"<li>{_t(w)}</li>" for w in view.warnings)
            + "</ul></div>"
        )
    stylesheet = (css if css is not None else DEFAULT_CSS).replace("</", "<\\/")
    # The running header: in the page margin of every printed page (CSS paged media), kept apart
    # from the stylesheet so that a clinic's own stylesheet keeps it.
    header_css = f"@page {{ @top-left {{ content: {_css_string(running)}; font: 8pt sans-serif; color: #444; }} }}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        f"<title>{_t(view.title)} ({_t(view.protocol)})</title>\n"
        f'<style id="ketaplan-css">\n{stylesheet}</style>\n'
        f'<style id="ketaplan-running-header">{header_css}</style>\n'
        "</head>\n<body>\n"
        f'<div class="running">{_t(running)}</div>\n'
        f"<h1>{_t(view.title)}</h1>\n<p>{_inline(view.about)}</p>\n<p>{_inline(view.status_line)}</p>\n"
        f"{warnings}{verdict}\n"
        + "\n".join(_section(s) for s in view.sections)
        + f'\n<div class="footer"><ul class="facts">{"".join(f"<li>{x}</li>" for x in footer)}</ul></div>\n'
        f"{verdict}\n</body>\n</html>\n"
    )


class HtmlRenderer:
    """`--format html`."""

    def __init__(self, css: str | None = None) -> None:
        self.css = css

    def render(self, plan: Plan) -> str:
        from ketaplan.render.json import plan_digest

        return render_html(build_view(plan, digest=plan_digest(plan)), self.css)
