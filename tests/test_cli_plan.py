"""`ketaplan plan`, `sign` and `verify` through the command line: outputs, messages and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import run_cli as run

ROOT = Path(__file__).resolve().parent.parent
INDUCTION = str(ROOT / "examples/protocols/trd-iv-induction.toml")
ELIGIBLE = str(ROOT / "examples/patients/eligible-trd.toml")
BP_MISSING = str(ROOT / "examples/patients/review-bp-not-recorded.toml")
EXCLUDED = str(ROOT / "examples/patients/excluded-psychosis-history.toml")


def plan_json(capsys, patient: str = ELIGIBLE, *extra: str) -> dict:
    code, out, err = run(capsys, "plan", patient, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_eligible_plan_as_json_exits_0_with_the_drafted_doses(capsys):
    plan = plan_json(capsys)
    assert plan["verdict"] == "eligible"
    assert [s["dose_mg"] for s in plan["sessions"]] == [36] * 6
    assert plan["sessions"][0]["date"] == "2026-12-01"
    assert plan["digest"].startswith("sha256:")


def test_same_inputs_give_the_same_json_but_for_the_time_stamp(capsys):
    first, second = plan_json(capsys), plan_json(capsys)
    first["generated"].pop("at")
    second["generated"].pop("at")
    assert first == second


def test_text_view_piped_has_no_colour_codes_and_leads_with_the_verdict(capsys):
    code, out, _ = run(capsys, "plan", BP_MISSING, "--protocol", INDUCTION, "--start", "2026-12-01")
    assert code == 0
    assert "\x1b[" not in out
    assert out.splitlines()[1].startswith("VERDICT: NEEDS REVIEW")


def test_markdown_view_is_available(capsys):
    code, out, _ = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "markdown")
    assert code == 0
    assert out.startswith("# DRAFT treatment plan for patient EX-001")


def test_excluded_patient_exits_0_with_no_sessions(capsys):
    plan = plan_json(capsys, EXCLUDED)
    assert (plan["verdict"], plan["sessions"], plan["dosing"]) == ("excluded", [], None)


def test_patient_weight_without_a_unit_exits_2_naming_file_line_and_field(capsys, tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('id = "P-1"\nage = 40\nsex = "male"\nheight = "180 cm"\nweight = 82.5\n', encoding="utf-8")
    code, out, err = run(capsys, "plan", str(bad), "--protocol", INDUCTION, "--start", "2026-12-01")
    assert code == 2
    assert out == ""
    assert f"{bad}:5:1: error: weight: 82.5 is not a weight" in err
    assert "Traceback" not in err


def test_protocol_error_exits_2(capsys, tmp_path):
    bad = tmp_path / "proto.toml"
    bad.write_text(Path(INDUCTION).read_text(encoding="utf-8").replace("max_mg = 60", "max_mgs = 60"), encoding="utf-8")
    code, out, err = run(capsys, "plan", ELIGIBLE, "--protocol", str(bad), "--start", "2026-12-01")
    assert code == 2 and out == ""
    assert "dose.max_mgs: unknown key 'max_mgs' (did you mean 'max_mg'?)" in err


def test_missing_file_and_bad_start_date_exit_2(capsys):
    code, _, err = run(capsys, "plan", "nowhere.toml", "--protocol", INDUCTION, "--start", "2026-12-01")
    assert code == 2 and "nowhere.toml: error: no such file" in err
    code, _, err = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "01/12/2026")
    assert code == 2 and "--start: '01/12/2026' is not a date" in err


def test_unknown_option_is_a_usage_error(capsys):
    code, _, _ = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--strat", "2026-12-01")
    assert code == 2


def test_output_file_is_written_whole_and_never_overwritten_without_force(capsys, tmp_path):
    target = tmp_path / "plan.json"
    code, out, _ = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "json", "--output", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["verdict"] == "eligible"
    target.write_text("keep me", encoding="utf-8")
    code, _, err = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--output", str(target))
    assert code == 2 and "exists already; nothing was written" in err
    assert target.read_text(encoding="utf-8") == "keep me"
    code, _, _ = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--output", str(target), "--force")
    assert code == 0 and target.read_text(encoding="utf-8").startswith("DRAFT")
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"], "no temporary file is left behind"


def test_a_failed_draft_leaves_no_output_file(capsys, tmp_path):
    target = tmp_path / "plan.json"
    code, _, _ = run(capsys, "plan", "nowhere.toml", "--protocol", INDUCTION, "--output", str(target))
    assert code == 2 and not target.exists()


@pytest.mark.slow
def test_debug_shows_a_traceback_and_without_it_there_is_none(tmp_path):
    env = dict(os.environ, KETAPLAN_CACHE_DIR=str(tmp_path))
    base = [sys.executable, "-m", "ketaplan", "plan", "nowhere.toml", "--protocol", INDUCTION]
    plain = subprocess.run(base, capture_output=True, text=True, env=env)
    debug = subprocess.run(base + ["--debug"], capture_output=True, text=True, env=env)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr


def _draft_file(capsys, tmp_path, patient: str) -> Path:
    target = tmp_path / "plan.json"
    code, _, err = run(capsys, "plan", patient, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "json", "--output", str(target))
    assert code == 0, err
    return target


def test_sign_refuses_an_unacknowledged_finding_then_signs_and_verifies(capsys, tmp_path):
    draft = _draft_file(capsys, tmp_path, BP_MISSING)
    sign = ["sign", str(draft), "--clinician", "Dr A Smith", "--registration", "GMC1234567"]
    code, _, err = run(capsys, *sign)
    assert code == 1 and "EXCL-BP-180-100" in err and "REV-BP-140-90" in err
    assert not (tmp_path / "plan.signed.json").exists()
    code, _, err = run(capsys, *sign, "--ack", "EXCL-BP-180-100=BP 128/80 at rest today", "--ack", "REV-BP-140-90=BP 128/80 at rest today")
    assert code == 0, err
    signed = tmp_path / "plan.signed.json"
    assert signed.exists() and (tmp_path / "plan.signed.md").exists()
    assert run(capsys, "verify", str(signed))[0] == 0
    # A signed plan is never overwritten.
    code, _, err = run(capsys, *sign, "--ack", "EXCL-BP-180-100=x", "--ack", "REV-BP-140-90=x")
    assert code == 2 and "never overwritten" in err


def test_verify_exits_1_when_a_dose_was_changed_after_signing(capsys, tmp_path):
    draft = _draft_file(capsys, tmp_path, ELIGIBLE)
    assert run(capsys, "sign", str(draft), "--clinician", "Dr A Smith", "--registration", "GMC1234567")[0] == 0
    signed = tmp_path / "plan.signed.json"
    data = json.loads(signed.read_text(encoding="utf-8"))
    data["plan"]["sessions"][2]["dose_mg"] = 63
    signed.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run(capsys, "verify", str(signed))
    assert code == 1 and "session 3" in err


def test_sign_refuses_an_excluded_plan(capsys, tmp_path):
    draft = _draft_file(capsys, tmp_path, EXCLUDED)
    code, _, err = run(capsys, "sign", str(draft), "--clinician", "Dr A Smith", "--registration", "GMC1234567")
    assert code == 1 and "excluded" in err


@pytest.mark.parametrize("command", ["plan", "check", "sign", "verify", "vocab", "init", "protocol check", "protocol test", "protocol schema"])
def test_every_command_has_help_with_an_example(capsys, command):
    code, out, _ = run(capsys, *command.split(), "--help")
    assert code == 0
    assert "Example:" in out and "ketaplan " in out


def test_the_dose_calculation_names_the_stock_and_bag_for_the_double_check(capsys):
    code, out, _ = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "markdown")
    assert code == 0
    assert "- **Preparation**: 10 mg/mL stock into the 100 mL bag (remove as much diluent first)\n" in out
    code, out, _ = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01")
    assert "Preparation: 10 mg/mL stock into the 100 mL bag (remove as much diluent first)" in out
