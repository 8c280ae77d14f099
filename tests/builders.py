"""Small inline protocols and patients for tests, written as TOML text the way a clinic would."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ketaplan.engine.plan import Inputs, build_plan
from ketaplan.load.patient import read_patient_bytes
from ketaplan.load.protocol import read_protocol_bytes

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
START = date(2026, 12, 1)  # a Tuesday

BASE_PROTOCOL = """
[protocol]
id = "test-protocol"
title = "Test protocol"
version = "1"

[drug]
name = "ketamine"
stock = "10 mg/mL"
bag = "100 mL"

[dose]
{dose}

[schedule]
{schedule}

{phases}

{rest}
"""

DEFAULT_DOSE = 'mg_per_kg = 0.5\nduration = "40 min"\nmax_mg = 60'
DEFAULT_PHASES = '[[schedule.phase]]\nname = "induction"\nsessions = 6\nmin_gap_days = 2'

BASE_PATIENT = """
id = "T-1"
age = {age}
sex = "{sex}"
height = "{height}"
weight = "{weight}"
{rest}
"""

RECORDED = 'allergies = []\nconditions = ["treatment-resistant depression"]\nmedications = []\nblood_pressure = "120/80"\n'


def protocol_text(*, dose: str = DEFAULT_DOSE, schedule: str = "", phases: str = DEFAULT_PHASES, rest: str = "") -> str:
    return BASE_PROTOCOL.format(dose=dose, schedule=schedule, phases=phases, rest=rest)


def load_protocol(text: str | None = None, **parts):
    return read_protocol_bytes((text or protocol_text(**parts)).encode(), "protocol.toml")


def patient_text(*, age: int = 45, sex: str = "female", height: str = "165 cm", weight: str = "82.5 kg", rest: str = RECORDED) -> str:
    return BASE_PATIENT.format(age=age, sex=sex, height=height, weight=weight, rest=rest)


def load_patient(text: str | None = None, start: date = START, **parts):
    return read_patient_bytes((text or patient_text(**parts)).encode(), "patient.toml", start)


def plan_for(patient=None, protocol=None, *, start: date = START, now: datetime = NOW, holidays=None):
    """Draft a plan from loaded (or default) patient and protocol."""
    patient = patient or load_patient(start=start)
    protocol = protocol or load_protocol()
    inputs = Inputs(start=start, now=now, patient_sha256=patient.sha256, protocol_sha256=protocol.sha256, holidays=holidays)
    return build_plan(patient.patient, protocol.protocol, inputs)


def finding(plan, rule_id):
    matches = [f for f in plan.findings if f.rule == rule_id]
    assert len(matches) <= 1, f"{rule_id} appears {len(matches)} times"
    return matches[0] if matches else None


def ids(plan) -> list[str]:
    return [f.rule for f in plan.findings]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `ketaplan ARGS...` in-process: (exit code, stdout, stderr)."""
    import pytest

    from ketaplan.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err
