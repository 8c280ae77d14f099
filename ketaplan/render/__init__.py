"""One interface for every view of a plan; the views render it and compute nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ketaplan.errors import UsageError

if TYPE_CHECKING:
    from ketaplan.model.plan import Plan

FORMATS = ("text", "markdown", "json", "html")


class Renderer(Protocol):
    """Turns a plan into the text of one view."""

    def render(self, plan: Plan) -> str: ...


def renderer_for(
    fmt: str, *, color: bool = False, width: int | None = None, verbose: bool = False, css: str | None = None
) -> Renderer:
    """The renderer for `fmt` ("text", "markdown", "json" or "html"); `color`, `width` and `verbose`
    affect text only, `css` (a stylesheet's text) html only."""
    # Each view is imported only when asked for: the command line starts fast.
    if fmt == "json":
        from ketaplan.render.json import JsonRenderer

        return JsonRenderer()
    if fmt == "text":
        from ketaplan.render.text import TextRenderer

        return TextRenderer(color=color, width=width, verbose=verbose)
    if fmt == "markdown":
        from ketaplan.render.markdown import MarkdownRenderer

        return MarkdownRenderer()
    if fmt == "html":
        from ketaplan.render.html import HtmlRenderer

        return HtmlRenderer(css=css)
    raise UsageError(f"unknown output format {fmt!r}: use one of {', '.join(FORMATS)}")
