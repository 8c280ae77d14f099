"""The Python API behind the command line: load files, draft plans. Usable on its own."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ketaplan.engine.plan import Inputs, explain
from ketaplan.engine.plan import decide as decide_plan
from ketaplan.errors import InputError
from ketaplan.load.patient import LoadedPatient, load_patient_file
from ketaplan.load.protocol import LoadedProtocol, load_protocol_file
from ketaplan.model.plan import Plan


def holiday_provider(loaded: LoadedProtocol):
    """The holiday calendar of the protocol's region, or None when it names none. One provider per
    region for the run, so that the engine can remember the session dates it gave (engine/plan.py)."""
    region = loaded.protocol.schedule.holidays
    if region is None:
        return None, None
    found = _PROVIDERS.get(region)
    if found is None:
        from ketaplan import calendar

        found = _PROVIDERS[region] = ((lambda year: calendar.holiday_dates(region, year)), calendar.holidays_version())
    return found


_PROVIDERS: dict[str, tuple] = {}


def _inputs(loaded_patient: LoadedPatient, loaded_protocol: LoadedProtocol, start: date, now, today) -> Inputs:
    provider, version = holiday_provider(loaded_protocol)
    # By position, in Inputs' field order (start, now, today, patient_sha256, protocol_sha256,
    # holidays, holidays_version, patient_file, protocol_file): a batch makes one per patient.
    return _make_inputs((
        start,
        now or datetime.now(UTC).replace(microsecond=0),
        today or date.today(),
        loaded_patient.sha256,
        loaded_protocol.sha256,
        provider,
        version,
        loaded_patient.name,
        loaded_protocol.name,
    ))  # fmt: skip


_make_inputs = Inputs._make


def draft(
    loaded_patient: LoadedPatient,
    loaded_protocol: LoadedProtocol,
    start: date,
    now: datetime | None = None,
    today: date | None = None,
    continuing: bool = False,
    *,
    decision_only: bool = False,
):
    """Draft one plan from already-loaded files. `now` (the plan's time stamp) defaults to the
    current UTC time, `today` (for START-IN-PAST) to the local date, the date --start defaults to.
    `continuing`: continue the current series (`ketaplan course`; the Plan then carries `course`).
    `decision_only`: return the engine's Decision (verdict, findings' ids, first dose) without
    building the plan's words and record around it, as `ketaplan check` needs."""
    decision = decide(loaded_patient, loaded_protocol, start, now, today, continuing)
    return decision if decision_only else explain(decision)


def decide(
    loaded_patient: LoadedPatient,
    loaded_protocol: LoadedProtocol,
    start: date,
    now: datetime | None = None,
    today: date | None = None,
    continuing: bool = False,
):
    """What `draft` decides, without the plan's words and record: the verdict, the findings' ids and
    the first dose (engine/plan.py `decide`). `ketaplan check` needs no more."""
    inputs = _inputs(loaded_patient, loaded_protocol, start, now, today)
    try:
        return decide_plan(loaded_patient.patient, loaded_protocol.protocol, inputs, continuing)
    except InputError as exc:
        # A calendar with no open day is the protocol's fault: name its file and the [schedule] line.
        if exc.file is None:
            exc.file = loaded_protocol.name
            if exc.line is None:
                from ketaplan.load.positions import caret_block, locate

                pos = locate(loaded_protocol.text, ("schedule", "days"))
                if pos is not None:
                    exc.line, exc.column, exc.excerpt = pos.line, pos.column, caret_block(pos)
        raise


def draft_files(patient_path: str, protocol_path: str, start: date, now: datetime | None = None) -> Plan:
    return draft(load_patient_file(patient_path, start), load_protocol_file(protocol_path), start, now)
