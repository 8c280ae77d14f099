"""`ketaplan vocab [TERM]`: what a name matches; close matches for a miss; a look-alike letter named; the overview table."""

from __future__ import annotations

from ketaplan.authoring import vocab as vocab_module
from ketaplan.vocabulary import Vocabulary
from tests.builders import run_cli as _run

VERSION = Vocabulary.builtin().version
BENZODIAZEPINES = len(Vocabulary.builtin().drug_members("benzodiazepine"))


def test_a_brand_name_shows_its_drug_its_brands_and_its_class(capsys):
    assert _run(capsys, "vocab", "Ativan") == (
        0,
        "lorazepam: drug\n"
        "  you asked for:  'Ativan', a UK and US brand name of lorazepam\n"
        "  brands (UK):    Ativan\n"
        "  brands (US):    Ativan\n"
        "  classes:        benzodiazepine\n"
        '  use in `when`:  medication = ["lorazepam"], allergy = ["lorazepam"]\n',
        "",
    )


def test_a_condition_group_shows_its_members_icd10_range_and_source(capsys):
    code, out, _ = _run(capsys, "vocab", "psychosis")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "psychotic disorder: condition group"
    assert lines[1] == "  you asked for:  'psychosis', another name for psychotic disorder"
    assert "  ICD-10:         F20-F29" in lines
    assert any(line.startswith("  members:        brief psychotic disorder, ") and "schizophrenia" in line for line in lines)
    assert any(line.startswith("  source:         ICD-10 F20-F29") for line in lines)


def test_a_class_counts_every_drug_below_it(capsys):
    code, out, _ = _run(capsys, "vocab", "benzodiazepine")
    assert code == 0
    assert f"  drugs in all:   {BENZODIAZEPINES} (every drug below this class, transitively)" in out.splitlines()


def test_an_unknown_term_exits_1_with_close_matches(capsys):
    code, out, err = _run(capsys, "vocab", "benzodiazepin")
    assert (code, out) == (1, "")
    assert err.startswith(
        f"'benzodiazepin' is not in the vocabulary (ketaplan vocabulary {VERSION}). Close matches: benzodiazepine, "
        "benzodiazepines,"
    )


def test_a_term_with_a_cyrillic_letter_says_which_letter(capsys):
    code, out, err = _run(capsys, "vocab", "l\u043erazepam")
    assert (code, out) == (1, "")
    assert err == (
        "'l\u043erazepam' mixes letters from different scripts, so it never matches anything: "
        "'\u043e' (CYRILLIC SMALL LETTER O) looks like a Latin letter but is not. Retype it.\n"
    )


def test_the_overview_lists_groups_and_classes_with_member_counts(capsys):
    code, out, err = _run(capsys, "vocab")
    assert (code, err) == (0, "")
    assert out.startswith(f"ketaplan vocabulary {VERSION}")
    members = len(Vocabulary.builtin().describe("benzodiazepine")["members"])
    assert any("benzodiazepine" in line and "drug class" in line and f" {members} " in line for line in out.splitlines())
    assert any("psychotic disorder" in line and "condition group" in line for line in out.splitlines())


def test_the_overview_prints_names_literally_never_as_markup(capsys, monkeypatch):
    odd = Vocabulary.builtin().extend({}, {"[bold]odd[/bold] class": ["lorazepam"]})
    monkeypatch.setattr(Vocabulary, "builtin", classmethod(lambda cls: odd))
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _run(capsys, "vocab")
    assert code == 0
    assert "[bold]odd[/bold] class" in out


def test_every_name_is_found_through_the_public_lookups():
    names = vocab_module.all_names(Vocabulary.builtin())
    assert {"Ativan", "lorazepam", "benzo", "psychotic disorder", "latex", "Spravato"} <= names
