"""`ketaplan vocab [TERM]`: what a name matches in the vocabulary, or the groups and classes it holds."""

from __future__ import annotations

import sys

KIND_WORDS = {
    "drug": "drug",
    "class": "drug class",
    "condition": "condition",
    "group": "condition group",
    "allergen": "allergen",
}


def run_vocab(term: str | None) -> int:
    """Exit 0 when the term is found (or none is given); 1 when it is not in the vocabulary."""
    from ketaplan.vocabulary import Vocabulary

    vocabulary = Vocabulary.builtin()
    if term is None:
        _print_overview(vocabulary)
        return 0
    info = vocabulary.describe(term)
    if info is None:
        print(not_found(vocabulary, term), file=sys.stderr)
        return 1
    sys.stdout.write(describe_text(vocabulary, term, info))
    return 0


def describe_text(vocabulary, term: str, info: dict) -> str:
    """A term's entry as plain text: literal, never markup, for a terminal or a script."""
    from ketaplan.vocabulary import normalise

    lines = [f"{info['name']}: {KIND_WORDS.get(info['kind'], info['kind'])}"]

    def row(label: str, values) -> None:
        if values:
            text = values if isinstance(values, str) else ", ".join(values)
            lines.append(f"  {label + ':':<16}{text}")

    if normalise(term) != normalise(info["name"]):
        row("you asked for", f"{term!r}, {_how_named(term, info)} {info['name']}")
    row("aliases", info.get("aliases"))
    row("brands (UK)", info.get("brands_uk"))
    row("brands (US)", info.get("brands_us"))
    row("brands (other)", info.get("brands_other"))
    row("classes", info.get("classes"))
    row("contains", info.get("contains"))
    row("in products", info.get("combinations"))
    row("groups", info.get("groups"))
    row("within", info.get("within"))
    members = info.get("members")
    if members is not None:
        row("members", members or ["none"])
    if info["kind"] == "class":
        row("drugs in all", f"{len(vocabulary.drug_members(info['name']))} (every drug below this class, transitively)")
    row("ICD-10", info.get("icd10"))
    row("SNOMED CT", info.get("snomed"))
    row("source", info.get("source") or "")
    keys = [k for k, test in _RULE_KEYS if getattr(vocabulary, test)(term)]
    row("use in `when`", [f'{k} = ["{info["name"]}"]' for k in keys])
    return "\n".join(lines) + "\n"


_RULE_KEYS = (
    ("condition", "is_condition_term"),
    ("active_condition", "is_condition_term"),
    ("medication", "is_drug_term"),
    ("allergy", "is_allergy_term"),
)


def _how_named(term: str, info: dict) -> str:
    from ketaplan.vocabulary import normalise

    wanted = normalise(term)

    def has(field: str) -> bool:
        return any(normalise(n) == wanted for n in info.get(field) or ())

    markets = [m for m, field in (("UK", "brands_uk"), ("US", "brands_us")) if has(field)]
    if markets:
        return f"a {' and '.join(markets)} brand name of"
    if has("brands_other"):
        return "a brand name of"
    if has("aliases"):
        return "another name for"
    return "which the vocabulary reads as"


def not_found(vocabulary, term: str) -> str:
    """Why a term is not found: a look-alike character, or a near miss, with the closest names."""
    import difflib
    import unicodedata

    from ketaplan.vocabulary import mixes_scripts, normalise

    if mixes_scripts(term):
        odd = [
            f"{ch!r} ({unicodedata.name(ch, 'unnamed')})"
            for ch in term
            if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN")
        ]
        return (
            f"{term!r} mixes letters from different scripts, so it never matches anything: "
            f"{', '.join(odd)} looks like a Latin letter but is not. Retype it."
        )
    names = all_names(vocabulary)
    by_form: dict[str, str] = {}
    for name in sorted(names):
        by_form.setdefault(normalise(name), name)
    close = difflib.get_close_matches(normalise(term), list(by_form), n=5, cutoff=0.6)
    text = f"{term!r} is not in the vocabulary (ketaplan vocabulary {vocabulary.version})."
    if close:
        text += " Close matches: " + ", ".join(by_form[c] for c in close) + "."
    text += " A protocol may add names under [vocabulary]; `ketaplan vocab` lists the groups and classes."
    return text


def all_names(vocabulary) -> set[str]:
    """Every name the vocabulary knows (canonical names, aliases, brands), through its public lookups."""
    names: set[str] = set()
    todo: list[str] = []
    for row in vocabulary.overview():
        names.add(row["name"])
        names.update(row["aliases"])
        todo.extend(row["members"])
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        info = vocabulary.describe(name)
        if info is None:
            continue
        names.add(info["name"])
        for field in ("aliases", "brands_uk", "brands_us", "brands_other"):
            names.update(info.get(field) or ())
        todo.extend(info.get("members") or ())
        todo.extend(info.get("combinations") or ())
    return names


def _print_overview(vocabulary) -> None:
    # rich only here: every other command starts without it.
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"ketaplan vocabulary {vocabulary.version}"), title_justify="left")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("members", justify="right")
    table.add_column("source", overflow="fold")
    for row in vocabulary.overview():
        # Text(), never a plain string: names and sources are shown as written, never read as markup.
        table.add_row(
            Text(row["name"]),
            Text(KIND_WORDS.get(row["kind"], row["kind"])),
            Text(str(len(row["members"]))),
            Text(row["source"] or ""),
        )
    console = Console(file=sys.stdout, highlight=False)
    console.print(table)
    console.print(Text("`ketaplan vocab NAME` shows one entry: its members, names, brands and ICD-10 ranges."))
