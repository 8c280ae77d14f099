"""Every example patient against every example protocol: verdicts, findings, doses and dates a clinic expects."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from ketaplan.api import draft
from ketaplan.load.patient import load_patient_file
from ketaplan.load.protocol import load_protocol_file
from tests.builders import NOW

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROTOCOLS = sorted((EXAMPLES / "protocols").glob("*.toml"))
PATIENTS = sorted((EXAMPLES / "patients").glob("*.toml"))
START = date(2026, 12, 1)

INDUCTION_DATES = ["2026-12-01", "2026-12-04", "2026-12-08", "2026-12-11", "2026-12-15", "2026-12-18"]

# patient, protocol, verdict, findings that must be present, first dose (mg), dates (or None)
EXPECTED = [
    ("eligible-trd", "trd-iv-induction", "eligible", [], 36, INDUCTION_DATES),
    ("eligible-dose-capped", "trd-iv-induction", "eligible", ["DOSE-CAPPED"], 60, None),
    ("imperial-units", "trd-iv-induction", "eligible", [], 40, None),
    ("excluded-psychosis-history", "trd-iv-induction", "excluded", ["EXCL-PSYCHOSIS"], None, []),
    ("excluded-pregnancy", "trd-iv-induction", "excluded", ["EXCL-PREGNANCY"], None, []),
    ("excluded-xanthine", "trd-iv-induction", "excluded", ["EXCL-XANTHINE"], None, []),
    ("excluded-ketamine-allergy", "trd-iv-induction", "excluded", ["ALLERGY-TO-PROTOCOL-DRUG"], None, []),
    ("excluded-ketamine-allergy", "crps-iv-rate", "excluded", ["ALLERGY-TO-PROTOCOL-DRUG"], None, []),
    ("review-bp-not-recorded", "trd-iv-induction", "needs-review", ["EXCL-BP-180-100", "REV-BP-140-90"], 44, None),
    ("review-bp-150-95", "trd-iv-induction", "needs-review", ["REV-BP-140-90", "REV-HYPERTENSION"], 47, None),
    ("review-unrecognised-condition", "trd-iv-induction", "needs-review", ["UNRECOGNISED-CONDITION", "EXCL-PSYCHOSIS"], 30, None),
    ("review-unrecognised-medication", "trd-iv-induction", "needs-review", ["UNRECOGNISED-MEDICATION", "EXCL-XANTHINE"], 45, None),
    ("review-medications-not-recorded", "trd-iv-induction", "needs-review", ["EXCL-XANTHINE"], 35, None),
    ("review-naltrexone", "trd-iv-induction", "needs-review", ["REV-OPIOID-ANTAGONIST"], 29, None),
    ("review-maoi", "trd-iv-induction", "needs-review", ["REV-MAOI"], 39, None),
    ("review-weight-out-of-date", "trd-iv-induction", "needs-review", ["WEIGHT-OUT-OF-DATE"], 38, None),
    ("review-prior-infusions-restart", "trd-iv-induction", "needs-review", ["PRIOR-INFUSIONS-SAME-PROTOCOL"], 43, INDUCTION_DATES),
    ("review-under-18-date-of-birth", "trd-iv-induction", "needs-review", ["REV-AGE-UNDER-18", "AGE-CHANGES-DURING-PLAN"], 29, None),
    ("review-age-65-date-of-birth", "trd-iv-induction", "needs-review", ["REV-AGE-65"], 37, None),
    ("crps-eligible", "crps-iv-rate", "eligible", [], 96, ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11", "2026-12-14"]),
    ("crps-bmi-over-35-adjusted", "crps-iv-rate", "eligible", ["ADJ-BMI-35-ADJUSTED"], 108, None),
    ("maintenance-after-induction", "trd-maintenance", "eligible", [], 34, ["2026-12-04", "2027-01-05", "2027-02-02", "2027-03-02"]),
    # The course (issue 12): no series, so the course rules stay silent; a patient part-way through
    # a series drafted anew restarts it, titrated: 0.75 mg/kg x 73 kg = 54.75 -> 55 mg.
    ("eligible-trd", "trd-iv-course", "eligible", [], 36, INDUCTION_DATES),
    ("course-part-way", "trd-iv-course", "needs-review", ["PRIOR-INFUSIONS-SAME-PROTOCOL", "TITRATE-0-75-AFTER-3"], 55, INDUCTION_DATES),
    ("course-part-way", "trd-iv-induction", "eligible", [], 36, INDUCTION_DATES),
]


def test_the_part_way_example_continues_its_series():
    from ketaplan.api import draft as draft_plan

    loaded_protocol = load_protocol_file(str(EXAMPLES / "protocols" / "trd-iv-course.toml"))
    loaded_patient = load_patient_file(str(EXAMPLES / "patients" / "course-part-way.toml"), START)
    plan = draft_plan(loaded_patient, loaded_protocol, START, NOW, continuing=True)
    assert [(s.number, s.date.isoformat(), s.dose_mg) for s in plan.sessions] == [
        (4, "2026-12-01", 55), (5, "2026-12-04", 55), (6, "2026-12-08", 55)
    ]
    assert plan.course.continued_from == 3 and plan.verdict == "eligible"


def _draft(patient: str, protocol: str):
    from ketaplan.calendar import holiday_dates  # noqa: F401 - the real GB-ENG calendar

    loaded_protocol = load_protocol_file(str(EXAMPLES / "protocols" / f"{protocol}.toml"))
    loaded_patient = load_patient_file(str(EXAMPLES / "patients" / f"{patient}.toml"), START)
    return draft(loaded_patient, loaded_protocol, START, NOW)


@pytest.mark.parametrize("patient, protocol, verdict, must_have, first_dose, dates", EXPECTED, ids=lambda v: str(v))
def test_example_patient_gets_the_expected_plan(patient, protocol, verdict, must_have, first_dose, dates):
    plan = _draft(patient, protocol)
    found = [f.rule for f in plan.findings]
    assert plan.verdict == verdict, [(f.rule, f.effect, f.evidence) for f in plan.findings if f.effect in ("review", "exclude")]
    for rule_id in must_have:
        assert rule_id in found
    assert plan.first_dose_mg == (None if first_dose is None else Fraction(first_dose))
    if dates is not None:
        assert [s.date.isoformat() for s in plan.sessions] == dates


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.stem)
@pytest.mark.parametrize("patient", PATIENTS, ids=lambda p: p.stem)
def test_every_example_pair_drafts_a_consistent_plan(patient, protocol):
    plan = _draft(patient.stem, protocol.stem)
    assert plan.verdict in ("eligible", "needs-review", "excluded")
    assert plan.acknowledge == tuple(f.rule for f in plan.findings if f.effect == "review")
    assert all(f.evidence for f in plan.findings), "every finding shows the facts that decided it"
    if plan.verdict == "excluded":
        assert plan.sessions == () and plan.dosing is None
    else:
        assert plan.sessions
        cap = plan.dosing.cap_mg
        for s in plan.sessions:
            assert s.dose_mg is None or 0 < s.dose_mg <= cap


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.stem)
def test_example_protocols_cite_sources_and_say_they_are_not_advice(protocol):
    text = protocol.read_text(encoding="utf-8")
    assert "not clinical advice" in text.lower()
    loaded = load_protocol_file(str(protocol)).protocol
    assert loaded.sources
    assert loaded.tests, "each example protocol carries its own [[test]] cases"
