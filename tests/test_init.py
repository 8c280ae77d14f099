"""`ketaplan init [DIR]`: both starter files or neither, never an overwrite; the starter loads, tests and plans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ketaplan.authoring.init import starter_text
from tests.builders import run_cli as _run

ROOT = Path(__file__).resolve().parent.parent
TRD = ROOT / "examples" / "protocols" / "trd-iv-induction.toml"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_writes_both_starter_files_into_a_new_folder(capsys, in_tmp):
    code, out, err = _run(capsys, "init", "clinic/ketamine")
    assert (code, out) == (0, "")
    assert err.startswith("wrote clinic/ketamine/protocol.toml and clinic/ketamine/patient.toml\n")
    assert (in_tmp / "clinic/ketamine/protocol.toml").read_text(encoding="utf-8") == starter_text("protocol.toml")
    assert (in_tmp / "clinic/ketamine/patient.toml").read_text(encoding="utf-8") == starter_text("patient.toml")


def test_init_without_a_folder_writes_into_the_current_one(capsys, in_tmp):
    assert _run(capsys, "init")[0] == 0
    assert sorted(p.name for p in in_tmp.iterdir()) == ["patient.toml", "protocol.toml"]


def test_an_existing_protocol_is_never_overwritten_and_no_patient_is_written(capsys, in_tmp):
    (in_tmp / "protocol.toml").write_text("# the clinic's own\n", encoding="utf-8")
    code, out, err = _run(capsys, "init", ".")
    assert (code, out) == (2, "")
    assert err == (
        "error: ./protocol.toml: exists already; nothing was written (init never overwrites: move it away or "
        "choose another folder)\n"
    )
    assert (in_tmp / "protocol.toml").read_text(encoding="utf-8") == "# the clinic's own\n"
    assert not (in_tmp / "patient.toml").exists()


def test_an_existing_patient_file_stops_the_protocol_being_written_too(capsys, in_tmp):
    (in_tmp / "patient.toml").write_text("# a real file\n", encoding="utf-8")
    code, _, err = _run(capsys, "init", ".")
    assert code == 2
    assert "./patient.toml: exists already" in err
    assert not (in_tmp / "protocol.toml").exists()


def test_a_file_in_place_of_the_folder_is_refused(capsys, in_tmp):
    (in_tmp / "clinic").write_text("", encoding="utf-8")
    assert _run(capsys, "init", "clinic") == (2, "", "error: clinic: is a file, not a folder; nothing was written\n")


def test_the_starter_protocol_passes_its_own_linter_strictly(capsys, in_tmp):
    _run(capsys, "init", ".")
    code, out, err = _run(capsys, "protocol", "check", "--strict", "protocol.toml")
    assert (code, out, err) == (0, "ok: starter-trd-iv draft-1: 9 rules, 1 phase, 4 tests\n", "")


def test_the_starter_protocols_own_cases_pass(capsys, in_tmp):
    _run(capsys, "init", ".")
    code, out, _ = _run(capsys, "protocol", "test", "protocol.toml")
    assert (code, out.splitlines()[-1]) == (0, "4 passed, 0 failed")


def test_the_starter_patient_gets_a_plan_from_the_starter_protocol(capsys, in_tmp):
    _run(capsys, "init", ".")
    code, out, err = _run(
        capsys, "plan", "patient.toml", "--protocol", "protocol.toml", "--start", "2026-12-01", "--format", "json"
    )
    assert (code, err) == (0, "")
    assert '"verdict": "eligible"' in out


def test_the_starter_says_at_the_top_that_it_is_a_template_not_advice():
    head = starter_text("protocol.toml").splitlines()[0]
    assert head == "# A STARTER PROTOCOL: A TEMPLATE TO ADAPT AND HAVE APPROVED. NOT CLINICAL ADVICE."


def test_the_starter_sources_say_they_must_be_replaced_by_the_clinics_policy():
    import tomllib

    sources = tomllib.loads(starter_text("protocol.toml"))["protocol"]["sources"]
    assert sources[0].startswith("REPLACE THIS: the clinic's approved ketamine policy")


def _numbers(text: str) -> set[str]:
    text = re.sub(r"\d{4}-\d\d-\d\d", " ", text)  # dates are not clinical numbers
    return set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text))


def test_every_number_in_the_starter_protocol_is_also_in_the_sourced_example():
    assert sorted(_numbers(starter_text("protocol.toml")) - _numbers(TRD.read_text(encoding="utf-8"))) == []
