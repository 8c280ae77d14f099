"""`protocol check` reports every load error it can (up to 20), each with its caret; `plan` stops at the first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ketaplan.errors import ProtocolError
from ketaplan.load.protocol import MAX_ERRORS, check_protocol_file, load_protocol_file
from tests.builders import run_cli as run

ROOT = Path(__file__).resolve().parent.parent
TRD = (ROOT / "examples/protocols/trd-iv-induction.toml").read_text(encoding="utf-8")
PATIENT = str(ROOT / "examples/patients/eligible-trd.toml")


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "protocol.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _replace(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


#: Three mistakes in three parts of the file: [dose], a [[schedule.phase]] and a [[rule]].
THREE = _replace(
    TRD,
    ('duration = "40 min"', 'duraton = "40 min"'),
    ("min_gap_days = 3 ", "min_gap_day = 3 "),
    ("when = { age_below = 18 }", 'when = { age_below = "18" }'),
)


def _headers(err: str) -> list[str]:
    return [line for line in err.splitlines() if re.match(r"^\S+:\d+:\d+: error: ", line)]


def test_three_mistakes_give_three_errors_in_one_run_each_with_its_caret(capsys, tmp_path):
    path = _write(tmp_path, THREE)
    code, out, err = run(capsys, "protocol", "check", path)
    assert (code, out) == (2, "")
    headers = _headers(err)
    assert [h.split(": error: ")[1].split(":")[0] for h in headers] == [
        "dose.duraton",
        "schedule.phase[1].min_gap_day",
        "rule[11].when.age_below",
    ]
    assert headers[0].startswith(f"{path}:65:1: ")  # file order, each with line and column
    carets = [line for line in err.splitlines() if re.match(r"^\s+\| *\^+$", line)]
    assert len(carets) == 3
    assert err.endswith(f"3 errors: {path} cannot be used\n")


def test_plan_still_stops_at_the_first_error(capsys, tmp_path):
    path = _write(tmp_path, THREE)
    code, _, err = run(capsys, "plan", PATIENT, "--protocol", path)
    assert code == 2
    assert len(_headers(err)) == 1 and "dose.duraton" in err
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(path)
    assert info.value.field == "dose.duraton"


def test_one_error_prints_as_before_without_a_count(capsys, tmp_path):
    path = _write(tmp_path, _replace(TRD, ('duration = "40 min"', 'duraton = "40 min"')))
    code, _, err = run(capsys, "protocol", "check", path)
    assert code == 2 and len(_headers(err)) == 1 and "cannot be used" not in err


def test_every_unknown_key_of_one_table_is_reported(tmp_path):
    text = _replace(TRD, ('duration = "40 min"', 'duraton = "40 min"'), ("round_to = 1\n", "round_too = 1\n"))
    text = _replace(text, ('[drug]\nname = "ketamine"', '[drug]\nname = "ketamine"\nrout = "IV"'))
    loaded, errors = check_protocol_file(_write(tmp_path, text))
    assert loaded is None
    assert [e.field for e in errors] == ["drug.rout", "dose.duraton", "dose.round_too"]


def test_unknown_top_level_tables_are_each_reported_and_the_rest_still_checked(tmp_path):
    text = TRD + '\n[clinic]\nname = "x"\n\n[extras]\nx = 1\n'
    text = _replace(text, ("when = { age_below = 18 }", 'when = { age_below = "18" }'))
    _, errors = check_protocol_file(_write(tmp_path, text))
    assert [e.field for e in errors] == ["rule[11].when.age_below", "clinic", "extras"]


def test_no_error_that_is_only_a_consequence_of_another(tmp_path):
    # [dose] gives neither amount: the phases' amounts cannot be judged, and are not.
    text = _replace(TRD, ("mg_per_kg = 0.5 ", "mg_per_kgg = 0.5 "))
    text = _replace(text, ("sessions = 6 ", "sessions = 6\nmg_per_kg = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]\n"))
    _, errors = check_protocol_file(_write(tmp_path, text))
    assert [e.field for e in errors] == ["dose.mg_per_kgg"]


def test_a_duplicate_rule_id_is_reported_with_the_other_errors(tmp_path):
    text = _replace(TRD, ('id = "REV-AGE-65"', 'id = "REV-AGE-UNDER-18"'), ('duration = "40 min"', 'duraton = "40 min"'))
    _, errors = check_protocol_file(_write(tmp_path, text))
    assert [e.field for e in errors] == ["dose.duraton", "rule[12].id"]
    assert "is used by rule 11 already" in errors[1].message


def test_errors_in_test_cases_are_each_reported(tmp_path):
    text = TRD.replace('start = 2026-12-01\n[test.patient]\nid = "T-PSYCHOSIS"', 'start = "2026-12-01"\n[test.patient]\nid = "T-PSYCHOSIS"')
    text = text.replace('id = "T-NO-BP"\nage = 52', 'id = "T-NO-BP"\nage = 520')
    _, errors = check_protocol_file(_write(tmp_path, text))
    assert [e.field for e in errors] == ["test[2].start", "test[4].patient.age"]


def test_at_most_20_errors_are_reported(capsys, tmp_path):
    bad = "".join(f'\n[[rule]]\nid = "NOTE-{i}"\neffect = "notes"\nmessage = "x"\n' for i in range(25))
    path = _write(tmp_path, TRD + bad)
    _, errors = check_protocol_file(path)
    assert len(errors) == MAX_ERRORS == 20
    code, _, err = run(capsys, "protocol", "check", path)
    assert code == 2 and len(_headers(err)) == 20
    assert err.endswith(f"20 errors (the first 20; there may be more): {path} cannot be used\n")


def test_a_toml_syntax_error_is_the_one_error(capsys, tmp_path):
    path = _write(tmp_path, TRD.replace('duration = "40 min"', 'duration = "40 min'))
    code, _, err = run(capsys, "protocol", "check", path)
    assert code == 2 and len(_headers(err)) == 1 and "not valid TOML" in err


def test_a_correct_protocol_loads_the_same_either_way():
    path = str(ROOT / "examples/protocols/trd-iv-induction.toml")
    loaded, errors = check_protocol_file(path)
    assert errors == [] and loaded == load_protocol_file(path)


# ------------------------------------------------------------------ random broken protocols

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ketaplan.load.protocol import check_protocol_bytes, read_protocol_bytes  # noqa: E402
from tests.test_fuzz import START_DATES, broken, dumps, examples, protocol_documents  # noqa: E402


@examples(150)
@given(st.data())
def test_going_on_after_an_error_finds_what_plan_finds_and_nothing_escapes(data):
    """On random broken protocols: collecting never raises; it finds no errors exactly when the
    protocol loads (and then loads the same protocol); the error `plan` stops at is among those found."""
    start = data.draw(START_DATES)
    raw = dumps(data.draw(broken(broken(broken(protocol_documents(start))))))  # up to three mistakes
    loaded, errors = check_protocol_bytes(raw, "p.toml")
    try:
        expected = read_protocol_bytes(raw, "p.toml")
    except ProtocolError as exc:
        assert loaded is None and errors
        assert all(isinstance(e, ProtocolError) and e.render().strip() for e in errors)
        if len(errors) < MAX_ERRORS:
            assert (exc.field, exc.message, exc.line) in [(e.field, e.message, e.line) for e in errors]
        return
    assert errors == [] and loaded == expected
