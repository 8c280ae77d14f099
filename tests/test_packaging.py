"""What `pip install -e '.[test]'` (CI's install) must bring: every package the tests need."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def test_the_test_extra_holds_linkify_for_the_gfm_like_markdown_parser():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    test = _names(project["optional-dependencies"]["test"])
    assert {"markdown-it-py", "linkify-it-py", "jsonschema"} <= test
    # The parser the Markdown tests use: without linkify-it-py it fails at the first parse.
    from markdown_it import MarkdownIt

    html = MarkdownIt("gfm-like").render("see https://example.org/x")
    assert '<a href="https://example.org/x">' in html
