"""Hostile inputs through the real command line: each bad file is refused cleanly, each odd-but-valid one loads.

The corpus is tests/hostile/ (its README lists every file, what it tries and what must happen;
the table is read here, so every row is tested). A bad file must give exit 2, a message naming
the file, the line and the field, nothing on stdout, no traceback and no internal error; a
valid-but-odd file must draft a plan (exit 0), with a needs-review finding where a name was
not recognised. Most run in-process through `ketaplan.cli.main`; a handful run as a real
subprocess, to prove that no traceback reaches a terminal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ketaplan.errors import PatientError, ProtocolError
from ketaplan.load.patient import read_patient_bytes
from tests.builders import START as BUILDER_START
from tests.builders import load_protocol
from tests.builders import run_cli as run

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests/hostile"
INDUCTION = str(ROOT / "examples/protocols/trd-iv-induction.toml")
ELIGIBLE = str(ROOT / "examples/patients/eligible-trd.toml")
START = "2026-12-01"


def corpus_rows() -> list[tuple[str, str, str, str]]:
    """(path, what it tries, expected exit, field or outcome) for every row of the README table."""
    rows = []
    for line in (CORPUS / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\| `([^`]+)` \| (.*) \| ([012]) \| `([^`]+)` \|", line)
        if m:
            rows.append(m.groups())
    return rows


ROWS = corpus_rows()


def command(path: str) -> list[str]:
    full = str(CORPUS / path)
    if path.startswith("patients/"):
        return ["plan", full, "--protocol", INDUCTION, "--start", START, "--format", "json"]
    if path.startswith("protocols/"):
        return ["plan", ELIGIBLE, "--protocol", full, "--start", START, "--format", "json"]
    return ["check", full, "--protocol", INDUCTION, "--start", START, "--format", "jsonl"]


def assert_refused_cleanly(path: str, field: str, code: int, out: str, err: str) -> None:
    full = str(CORPUS / path)
    assert (code, out) == (2, ""), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert re.search(re.escape(full) + r":\d+", err), f"no {full}:LINE in {err!r}"
    if field != "-":
        assert field in err, f"field {field!r} not named in {err!r}"


def test_the_corpus_readme_lists_every_file_and_states_the_count():
    listed = {path for path, *_ in ROWS}
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md"}
    assert listed == on_disk
    stated = re.search(r"\*\*(\d+) files\*\*", (CORPUS / "README.md").read_text(encoding="utf-8"))
    assert int(stated.group(1)) == len(on_disk) >= 60


REFUSED = [(p, f) for p, _, e, f in ROWS if e == "2"]


@pytest.mark.parametrize(("path", "field"), REFUSED, ids=str)
def test_a_hostile_file_is_refused_with_exit_2_naming_file_line_and_field(capsys, path, field):
    code, out, err = run(capsys, *command(path))
    if path.startswith("csv/"):
        # A whole-file CSV fault stops the run before any result: the header is row 1.
        assert (code, out) == (2, ""), err
        assert f"{CORPUS / path}:1" in err and "Traceback" not in err
        if field != "-":
            assert field in err
        return
    assert_refused_cleanly(path, field, code, out, err)


@pytest.mark.parametrize(("path", "column"), [(p, f) for p, _, e, f in ROWS if e == "1"], ids=str)
def test_a_bad_csv_row_is_reported_invalid_with_its_row_and_column_and_exit_1(capsys, path, column):
    code, out, err = run(capsys, *command(path))
    results = [json.loads(line) for line in out.splitlines()]
    invalid = [r for r in results if r["verdict"] == "invalid"]
    assert code == 1 and len(invalid) == 1 and "Traceback" not in err
    assert re.match(re.escape(str(CORPUS / path)) + r":\d+: ", invalid[0]["error"]), invalid[0]["error"]
    if column != "-":
        assert f": {column}" in invalid[0]["error"], invalid[0]["error"]
    # One bad row does not stop the others.
    assert all(r["error"] is None for r in results if r is not invalid[0])


@pytest.mark.parametrize(("path", "outcome"), [(p, f) for p, _, e, f in ROWS if e == "0"], ids=str)
def test_an_odd_but_valid_file_loads_and_drafts_a_plan(capsys, path, outcome):
    code, out, err = run(capsys, *command(path))
    assert code == 0, err
    if path.startswith("csv/"):
        [result] = [json.loads(line) for line in out.splitlines()]
        verdict, findings = result["verdict"], result["findings"]
    else:
        plan = json.loads(out)
        verdict, findings = plan["verdict"], [f["rule"] for f in plan["findings"]]
    if outcome in ("eligible", "needs-review", "excluded"):
        assert verdict == outcome, findings
    else:
        assert outcome.startswith("UNRECOGNISED-") and outcome in findings and verdict == "needs-review", findings


def test_a_10_megabyte_patient_file_is_refused_before_it_is_parsed(tmp_path, capsys):
    path = tmp_path / "ten-megabytes.toml"
    text = 'id = "H-1"\n' + "# padding\n" * (1024 * 1024)
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size >= 10 * 1024 * 1024
    code, out, err = run(capsys, *["plan", str(path), "--protocol", INDUCTION, "--start", START, "--format", "json"])
    assert (code, out) == (2, "")
    assert err.startswith(f"{path}: error: the file is 10,485,771 bytes; input files are limited to")


# ------------------------------------------------------------------------------ a real terminal, a real process

SUBPROCESS_CASES = [
    "patients/nested-1000-deep.toml",
    "patients/id-raw-escape.toml",
    "patients/not-utf8-latin1.toml",
    "protocols/when-50-deep.toml",
    "protocols/odd-eval-looking-message.toml",
]


@pytest.mark.slow
@pytest.mark.parametrize("path", SUBPROCESS_CASES)
def test_python_m_ketaplan_never_shows_a_traceback(tmp_path, path):
    env = {**os.environ, "KETAPLAN_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    env.pop("KETAPLAN_DEBUG", None)
    argv = [sys.executable, "-m", "ketaplan", *command(path)]
    done = subprocess.run(argv, capture_output=True, env=env, cwd=tmp_path)
    expect = {p: e for p, _, e, _ in ROWS}[path]
    assert done.returncode == int(expect), done.stderr
    assert b"Traceback" not in done.stderr and b"internal error" not in done.stderr
    assert b"\x1b" not in done.stderr  # nothing from the file drives the terminal
    if expect == "2":
        assert done.stdout == b""


def test_nothing_in_a_protocol_is_ever_run_as_code(tmp_path, capsys):
    marker = tmp_path / "ran"
    path = tmp_path / "protocol.toml"
    text = (CORPUS / "protocols/odd-eval-looking-message.toml").read_text(encoding="utf-8")
    path.write_text(text.replace("system('id')", f"system('touch {marker}')"), encoding="utf-8")
    code, out, _ = run(capsys, "plan", ELIGIBLE, "--protocol", str(path), "--start", START, "--format", "json")
    [note] = [f for f in json.loads(out)["findings"] if f["rule"] == "REV-X"]
    assert (code, marker.exists()) == (0, False)
    assert note["message"] == f"{{__import__('os').system('touch {marker}')}} ${{HOME}} {{{{7*7}}}} `id`"


def test_markup_in_a_patient_file_stays_inert_in_the_markdown_plan(capsys):
    path = str(CORPUS / "patients/odd-markup-in-text.toml")
    code, out, _ = run(capsys, "plan", path, "--protocol", INDUCTION, "--start", START, "--format", "markdown")
    assert code == 0
    assert "<script>" not in out and "\x1b" not in out
    assert "&lt;script&gt;" in out


def test_an_empty_when_table_is_a_load_error_not_a_rule_that_always_fires():
    with pytest.raises(ProtocolError) as info:
        load_protocol(rest='[[rule]]\nid = "EXCL-X"\neffect = "exclude"\nmessage = "x"\nwhen = {}\n')
    assert (info.value.field, info.value.line) == ("rule[1].when", 29)


# ------------------------------------------------------------------------------ fixes to messages


def _patient_error(text: str | bytes):
    data = text.encode("utf-8") if isinstance(text, str) else text
    with pytest.raises(PatientError) as info:
        read_patient_bytes(data, "p.toml", BUILDER_START)
    return info.value


GOOD = 'id = "H-1"\nage = 45\nsex = "female"\nheight = "165 cm"\n'


def test_a_duplicate_key_on_the_last_line_names_its_line_and_field():
    # No line ending after the last line: tomllib says "at end of document", not a line.
    error = _patient_error(GOOD + 'weight = "82 kg"\nweight = "83 kg"')
    assert (error.line, error.field) == (6, "weight")


def test_an_invalid_date_names_its_line_and_field():
    error = _patient_error(GOOD + 'weight = "82 kg"\nweighed_on = 2026-02-30\n')
    assert (error.line, error.field, error.message) == (6, "weighed_on", "not valid TOML: invalid date or datetime")


def test_a_bad_item_of_a_list_written_over_several_lines_names_the_list():
    error = _patient_error(GOOD + 'weight = "82 kg"\nmedications = [\n  "sertraline",\n  "lorazepam\x01",\n]\n')
    assert (error.line, error.field) == (8, "medications")


def test_a_patient_table_nested_1000_deep_names_its_line_and_field():
    error = _patient_error(GOOD + 'weight = "82 kg"\nscores = ' + "{ a = " * 1000 + "1" + " }" * 1000 + "\n")
    assert (error.line, error.field, error.message) == (6, "scores", "not valid TOML: nested too deeply")


def test_bytes_that_are_not_utf8_name_their_line_and_field():
    error = _patient_error(GOOD.encode() + b'weight = "82 kg"\nconditions = ["d\xe9pression"]\n')
    assert (error.line, error.field) == (6, "conditions")


def test_a_nul_character_names_its_line_and_field():
    error = _patient_error(GOOD + 'weight = "82 kg" # \x00\n')
    assert (error.line, error.field) == (5, "weight")


def test_a_line_separator_inside_a_string_does_not_shift_the_excerpt_of_a_later_error():
    # U+2028 is a line break to str.splitlines() but not to TOML: the excerpt must show line 6 itself.
    error = _patient_error(GOOD + 'weight = "82 kg"\nconditions = ["a\u2028b"]\nweighed_on = 2026-02-30\n')
    assert (error.line, error.excerpt.splitlines()[0]) == (7, "   7 | weighed_on = 2026-02-30")


def test_an_escape_sequence_in_a_bad_patient_file_reaches_stderr_inert(tmp_path, capsys):
    # A raw ESC is not valid TOML, so the error's excerpt quotes the line: it must not drive the terminal.
    path = tmp_path / "escape.toml"
    path.write_text(GOOD + 'weight = "82 kg"\nmedications = ["\x1b]0;owned\x07\x1b[31mred"]\n', encoding="utf-8")
    code, out, err = run(capsys, "plan", str(path), "--protocol", INDUCTION, "--start", "2026-12-01")
    assert (code, out) == (2, "")
    assert f"{path}:6:" in err and "medications" in err
    assert "\x1b" not in err and "\x07" not in err
    assert '\\x1b]0;owned\\x07\\x1b[31mred' in err


def test_a_bidi_override_in_a_bad_value_is_shown_not_obeyed(tmp_path, capsys):
    path = tmp_path / "bidi.toml"
    path.write_text(GOOD + 'weight = "82 \u202egk" # \u009b2J\n', encoding="utf-8")
    code, out, err = run(capsys, "plan", str(path), "--protocol", INDUCTION, "--start", "2026-12-01")
    assert (code, out) == (2, "")
    assert "\u202e" not in err and "\u009b" not in err and "\\u202e" in err


def test_a_write_that_fails_half_way_leaves_no_file_and_says_why(tmp_path, capsys, monkeypatch):
    # A full disk while the plan is being written: no partial plan may be left behind, and the
    # message must say what happened (it is not a defect of ketaplan).
    import errno

    def full(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "plan.json"
    args = ("plan", ELIGIBLE, "--protocol", INDUCTION, "--start", START, "--format", "json", "--output", str(target))
    code, out, err = run(capsys, *args)
    assert (code, out, sorted(p.name for p in tmp_path.iterdir())) == (2, "", [])
    assert err == f"error: {target}: cannot be written: No space left on device; nothing was written\n"


def test_a_deeply_nested_file_full_of_comments_is_refused_quickly():
    import time

    # Just under the 2 MB limit. Finding the line once took 9 s here (a copy of the rest of the
    # file for every comment); it takes about 0.1 s.
    comments = "# a comment line\n" * 120_000
    began = time.perf_counter()
    error = _patient_error(GOOD + comments + 'weight = "82 kg"\nscores = ' + "[" * 2000 + "]" * 2000 + "\n")
    assert (error.line, error.field) == (120_006, "scores")
    assert time.perf_counter() - began < 2
