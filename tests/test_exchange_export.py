"""`plan --format fhir` and `--format ics`: every example plan parses back with the FHIR R4 (R4B)
models and with icalendar, and says what the plan's JSON says."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.builders import run_cli as run
from tests.test_examples import PATIENTS, PROTOCOLS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
INDUCTION = str(EXAMPLES / "protocols/trd-iv-induction.toml")
ELIGIBLE = str(EXAMPLES / "patients/eligible-trd.toml")
# Every example patient under every example protocol: eligible, needs-review and excluded plans,
# mg/kg and rate protocols.
PAIRS = [(p.stem, q.stem) for p in PATIENTS for q in PROTOCOLS]


def cli(capsys, patient: str, protocol: str, fmt: str, *extra: str) -> str:
    code, out, err = run(
        capsys, "plan", str(EXAMPLES / f"patients/{patient}.toml"), "--protocol", str(EXAMPLES / f"protocols/{protocol}.toml"),
        "--start", "2026-12-01", "--format", fmt, *extra,
    )  # fmt: skip
    assert code == 0, err
    return out


@pytest.mark.parametrize("patient, protocol", PAIRS, ids=[f"{p}@{q}" for p, q in PAIRS])
def test_the_fhir_bundle_of_every_example_plan_parses_with_the_r4_models(capsys, patient, protocol):
    from fhir.resources.R4B.bundle import Bundle

    plan = json.loads(cli(capsys, patient, protocol, "json"))
    text = cli(capsys, patient, protocol, "fhir")
    bundle = Bundle.model_validate_json(text)
    assert bundle.type == "collection"
    by_type: dict[str, list] = {}
    for entry in bundle.entry:
        by_type.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    (careplan,) = by_type["CarePlan"]
    assert (careplan.status, careplan.intent) == ("draft", "plan")
    assert careplan.subject.identifier.value == plan["patient"]["id"]
    identifiers = {i.system: i.value for i in careplan.identifier}
    assert identifiers["urn:ketaplan:plan-digest"] == plan["digest"]
    assert identifiers["urn:ketaplan:patient-file-sha256"] == "sha256:" + plan["generated"]["patient_sha256"]
    assert identifiers["urn:ketaplan:protocol-file-sha256"] == "sha256:" + plan["generated"]["protocol_sha256"]
    assert plan["digest"] in careplan.note[0].text and plan["generated"]["protocol_sha256"] in careplan.note[0].text

    requests = by_type.get("MedicationRequest", [])
    assert len(requests) == len(plan["sessions"]) == len(careplan.activity or [])
    urls = {e.fullUrl: e.resource for e in bundle.entry}
    for activity, request, session in zip(careplan.activity or [], requests, plan["sessions"]):
        assert urls[activity.reference.reference] is request
        assert (request.status, request.intent) == ("draft", "plan")
        dosage = request.dosageInstruction[0]
        assert [str(d) for d in dosage.timing.event] == [session["date"]]
        dose_rate = (dosage.doseAndRate or [None])[0]
        if session["dose_mg"] is None:
            assert dose_rate is None or dose_rate.doseQuantity is None
        else:
            assert float(dose_rate.doseQuantity.value) == session["dose_mg"] and dose_rate.doseQuantity.code == "mg"
        if session["pump_ml_per_h"] is not None:
            assert (
                float(dose_rate.rateQuantity.value) == session["pump_ml_per_h"]
                and dose_rate.rateQuantity.code == "mL/h"
            )
        if plan["dosing"] and plan["dosing"]["dosing_weight_kg"] is not None:
            assert f"({plan['dosing']['weight_basis']} body weight)" in dosage.text

    issues = by_type.get("DetectedIssue", [])
    assert len(issues) == len(plan["findings"])
    severity = {"exclude": "high", "review": "moderate", "note": "low"}
    for issue, finding in zip(issues, plan["findings"]):
        assert issue.code.text == finding["rule"] and issue.detail == finding["message"]
        assert issue.severity == severity.get(finding["effect"], "low")
        shown = [d.display for d in issue.evidence[0].detail]
        assert shown[: len(finding["evidence"])] == finding["evidence"]

    (questionnaire,) = by_type["Questionnaire"]
    texts = {g.linkId: [i.text for i in g.item] for g in questionnaire.item or []}
    for stage in ("pre", "during", "after"):
        assert texts.get(stage, []) == plan["checklist"][stage]
    assert texts.get("acknowledge", []) == plan["signoff"]["acknowledge"]


def test_the_fhir_bundle_never_holds_a_name_and_is_written_whole(capsys, tmp_path):
    out = tmp_path / "plan.fhir.json"
    code, _, err = run(
        capsys,
        "plan",
        ELIGIBLE,
        "--protocol",
        INDUCTION,
        "--start",
        "2026-12-01",
        "--format",
        "fhir",
        "--output",
        str(out),
    )
    assert code == 0, err
    doc = json.loads(out.read_text("utf-8"))
    assert doc["resourceType"] == "Bundle" and '"name"' not in out.read_text("utf-8")


def ics_events(text: str):
    import icalendar

    cal = icalendar.Calendar.from_ical(text)
    return cal, [c for c in cal.walk("VEVENT")]


@pytest.mark.parametrize("patient, protocol", PAIRS, ids=[f"{p}@{q}" for p, q in PAIRS])
def test_the_calendar_of_every_example_plan_has_one_event_per_session_at_the_right_local_time(
    capsys, patient, protocol
):
    from zoneinfo import ZoneInfo

    plan = json.loads(cli(capsys, patient, protocol, "json"))
    cal, events = ics_events(cli(capsys, patient, protocol, "ics", "--time", "13:30"))
    assert len(events) == len(plan["sessions"])
    zones = [tz for tz in cal.walk("VTIMEZONE")]
    if events:
        assert [str(z["TZID"]) for z in zones] == ["Europe/London"]
    london = ZoneInfo("Europe/London")
    for event, session in zip(events, plan["sessions"]):
        start = event.decoded("DTSTART")
        assert start.date().isoformat() == session["date"]
        assert (start.hour, start.minute) == (13, 30)
        assert (
            event["DTSTART"].params["TZID"] == "Europe/London"
            and start.utcoffset() == start.astimezone(london).utcoffset()
        )
        # The example protocols observe for 60 minutes after the infusion.
        assert event.decoded("DURATION") == timedelta(minutes=session["duration_min"] + 60)
        assert str(event["SUMMARY"]).startswith(f"Ketamine session {session['number']} (")
        assert plan["patient"]["id"] in str(event["SUMMARY"])
        assert (
            str(event["UID"])
            == f"{plan['patient']['id']}.{protocol}.{plan['sessions'][0]['date']}.{session['number']}@ketaplan"
        )


def test_the_default_time_is_nine_and_the_summer_offset_is_british_summer_time(capsys, tmp_path):
    _, events = ics_events(cli(capsys, "eligible-trd", "trd-iv-induction", "ics"))
    assert events[0].decoded("DTSTART").strftime("%H:%M %z") == "09:00 +0000"
    assert str(events[0]["SUMMARY"]) == "Ketamine session 1 (36 mg) - patient EX-001"
    code, out, err = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2027-06-01", "--format", "ics")
    assert code == 0, err
    _, summer = ics_events(out)
    assert summer[0].decoded("DTSTART").strftime("%Y-%m-%d %H:%M %z") == "2027-06-01 09:00 +0100"


def test_uids_are_stable_across_redrafts_and_dtstamp_is_the_plans_time(capsys):
    from datetime import time

    from ketaplan.api import draft_files
    from ketaplan.exchange.ics import plan_ics_text

    first = draft_files(ELIGIBLE, INDUCTION, date(2026, 12, 1), now=datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    again = draft_files(ELIGIBLE, INDUCTION, date(2026, 12, 1), now=datetime(2026, 11, 29, 16, 5, tzinfo=UTC))
    _, a = ics_events(plan_ics_text(first, time(9)))
    _, b = ics_events(plan_ics_text(again, time(9)))
    assert [str(e["UID"]) for e in a] == [str(e["UID"]) for e in b]
    assert len({str(e["UID"]) for e in a}) == len(a) == 6
    assert a[0].decoded("DTSTAMP") == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert b[0].decoded("DTSTAMP") == datetime(2026, 11, 29, 16, 5, tzinfo=UTC)


def test_a_bad_time_and_a_time_the_clocks_skip_are_usage_errors(capsys):
    code, _, err = run(
        capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "ics", "--time", "9am"
    )
    assert code == 2 and "--time: '9am' is not a time" in err
    code, _, err = run(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--time", "10:00")
    assert code == 2 and "--time is for --format ics" in err


def test_a_skipped_local_time_is_refused(tmp_path, capsys):
    protocol = tmp_path / "p.toml"
    text = Path(INDUCTION).read_text("utf-8").replace('days = ["tue", "fri"]', 'days = ["sun"]', 1)
    protocol.write_text(text)
    code, _, err = run(
        capsys,
        "plan",
        ELIGIBLE,
        "--protocol",
        str(protocol),
        "--start",
        "2027-03-28",
        "--format",
        "ics",
        "--time",
        "01:30",
    )
    assert code == 2 and "does not exist once on 2027-03-28 in Europe/London" in err


@pytest.mark.parametrize("zone, ok", [("America/New_York", True), ("Mars/Olympus", False), ("../etc/passwd", False)])
def test_the_protocols_time_zone_is_validated_and_used(tmp_path, capsys, zone, ok):
    protocol = tmp_path / "p.toml"
    text = Path(INDUCTION).read_text("utf-8").replace('timezone = "Europe/London"', f'timezone = "{zone}"', 1)
    protocol.write_text(text)
    code, out, err = run(
        capsys, "plan", ELIGIBLE, "--protocol", str(protocol), "--start", "2026-12-01", "--format", "ics"
    )
    if ok:
        assert code == 0, err
        cal, events = ics_events(out)
        assert events[0]["DTSTART"].params["TZID"] == zone
        assert events[0].decoded("DTSTART").strftime("%H:%M %z") == "09:00 -0500"
    else:
        assert code == 2 and "timezone" in err and "time zone" in err and str(protocol) in err


def test_plan_json_imports_neither_fhir_nor_icalendar_nor_pydantic():
    """The drafting path stays light: the FHIR models take over a second to import."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['ketaplan', 'plan', {ELIGIBLE!r}, '--protocol', {INDUCTION!r}, '--start', '2026-12-01', '--format', 'json']\n"
        "try:\n    runpy.run_module('ketaplan', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('fhir', 'fhir_core', 'icalendar', 'pydantic', 'pydantic_core', 'ketaplan.exchange'))\n"
        "heavy += sorted(m for m in sys.modules if m.startswith('ketaplan.exchange'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "HEAVY []" in done.stderr, done.stderr
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ketaplan", "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert timed.returncode == 0, timed.stderr
    imported = [
        line.rsplit("|", 1)[-1].strip() for line in timed.stderr.splitlines() if line.startswith("import time:")
    ]
    assert "ketaplan.render.json" in imported
    assert not [
        m
        for m in imported
        if m.split(".")[0] in ("fhir", "fhir_core", "icalendar", "pydantic", "pydantic_core", "tomli_w")
    ]


COURSE_PATIENT = str(EXAMPLES / "patients/course-part-way.toml")
COURSE_PROTOCOL = str(EXAMPLES / "protocols/trd-iv-course.toml")


def course(capsys, fmt: str, *extra: str) -> str:
    code, out, err = run(
        capsys,
        "course",
        COURSE_PATIENT,
        "--protocol",
        COURSE_PROTOCOL,
        "--start",
        "2026-12-01",
        "--format",
        fmt,
        *extra,
    )
    assert code == 0, err
    return out


def test_course_as_fhir_drafts_the_remaining_sessions_and_parses_with_the_r4_models(capsys):
    from fhir.resources.R4B.bundle import Bundle

    plan = json.loads(course(capsys, "json"))
    bundle = Bundle.model_validate_json(course(capsys, "fhir"))
    requests = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "MedicationRequest"]
    assert [int(r.identifier[0].value) for r in requests] == [s["number"] for s in plan["sessions"]]
    assert [str(r.dosageInstruction[0].timing.event[0]) for r in requests] == [s["date"] for s in plan["sessions"]]
    (careplan,) = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "CarePlan"]
    assert f"{plan['course']['continued_from']} session(s) were given" in careplan.description
    assert {i.system: i.value for i in careplan.identifier}["urn:ketaplan:plan-digest"] == plan["digest"]


def test_course_as_ics_keeps_the_series_first_date_and_numbering_in_its_uids(capsys):
    plan = json.loads(course(capsys, "json"))
    _, events = ics_events(course(capsys, "ics", "--time", "10:15"))
    first = plan["course"]["series"][0]["date"]
    assert len(events) == len(plan["sessions"]) > 0
    for event, session in zip(events, plan["sessions"]):
        start = event.decoded("DTSTART")
        assert (start.date().isoformat(), start.strftime("%H:%M")) == (session["date"], "10:15")
        assert str(event["UID"]) == f"{plan['patient']['id']}.trd-iv-course.{first}.{session['number']}@ketaplan"
        assert event.decoded("DURATION") == timedelta(minutes=session["duration_min"] + 60)
