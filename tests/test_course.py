"""The course of treatment (spec/course.md, issue 12): session records, response per scale, the
course `when` keys, titration and continuing a series. Every figure is worked out by hand."""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from ketaplan.engine.course import SeriesNotContinuable, change_pct, current_series, status
from ketaplan.engine.plan import Inputs, continue_series
from ketaplan.errors import PatientError, ProtocolError
from ketaplan.model.course import fmt_change_pct
from ketaplan.model.protocol import CourseSettings
from tests.builders import (
    NOW,
    RECORDED,
    START,
    finding,
    ids,
    load_patient,
    load_protocol,
    plan_for,
    protocol_text,
    run_cli,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PATIENT = str(ROOT / "examples/patients/course-part-way.toml")
EXAMPLE_PROTOCOL = str(ROOT / "examples/protocols/trd-iv-course.toml")
PHASES_MON_FRI = '[[schedule.phase]]\nname = "induction"\nsessions = 6\nmin_gap_days = 2'


def rule(rule_id: str, effect: str, when: str | None, extra: str = "") -> str:
    when_line = f"when = {when}\n" if when else ""
    return f'[[rule]]\nid = "{rule_id}"\neffect = "{effect}"\n{when_line}message = "{rule_id} message."\n{extra}\n'


def infusion(day: str, dose: str = "36 mg", protocol: str | None = "test-protocol", **fields: str) -> str:
    lines = ["[[infusions]]", f"date = {day}", f'dose = "{dose}"']
    if protocol:
        lines.append(f'protocol = "{protocol}"')
    lines += [f"{k} = {v}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


TOLERATED = {"vitals": '[{ minute = 0, blood_pressure = "130/82" }, { minute = 40, blood_pressure = "152/94" }]', "adverse_events": "[]"}
THREE = "".join(infusion(d, **TOLERATED) for d in ("2026-11-23", "2026-11-25", "2026-11-27"))
BASELINE = "[scores]\nmadrs = 32\nphq9 = 19\nscored_on = 2026-11-16\n"


def patient(rest: str = "", *, weight: str = "73 kg", scores: str = BASELINE, infusions: str = THREE):
    # [scores] is a table: everything after it in TOML belongs to it, so it goes last but for arrays.
    return load_patient(weight=weight, rest=RECORDED + rest + "\n" + scores + "\n" + infusions)


def assessment(day: str, **scores: int) -> str:
    return "[[assessments]]\n" + f"date = {day}\n" + "".join(f"{k} = {v}\n" for k, v in scores.items())


def course_plan(pat, proto, start: date = START):
    inputs = Inputs(start=start, now=NOW)
    return continue_series(pat.patient, proto.protocol, inputs)


# ------------------------------------------------------------------ response, exactly


def test_change_pct_is_exact_and_shown_truncated():
    # (32 - 21) / 32 x 100 = 1100 / 32 = 34.375 %, shown 34.3 % (truncated, never rounded up)
    assert change_pct(32, 21) == Fraction(275, 8) == Fraction("34.375")
    assert fmt_change_pct(change_pct(32, 21)) == "34.3 %"
    # (19 - 12) / 19 x 100 = 700 / 19 = 36.842... %
    assert change_pct(19, 12) == Fraction(700, 19)
    assert fmt_change_pct(Fraction(700, 19)) == "36.8 %"
    # a shown 50.0 % is never an exact 49.96 %
    assert fmt_change_pct(Fraction("49.96")) == "49.9 %"
    assert fmt_change_pct(change_pct(32, 16)) == "50.0 %"
    # worse: (32 - 35) / 32 = -9.375 %
    assert change_pct(32, 35) == Fraction("-9.375")
    assert fmt_change_pct(change_pct(32, 35)) == "-9.3 %"
    assert fmt_change_pct(None) == "unknown"


def test_change_pct_is_unknown_never_zero():
    assert change_pct(None, 10) is None
    assert change_pct(0, 0) is None  # baseline 0: no fall can be measured
    assert change_pct(32, None) is None


@pytest.mark.parametrize(
    "baseline, latest, below, expected",
    [
        (32, 8, 10, "remission"),  # 75 %, and 8 is below 10
        (32, 16, 10, "response"),  # exactly 50 %
        (32, 17, 10, "partial"),  # 46.875 %
        (32, 24, 10, "partial"),  # exactly 25 %
        (32, 25, 10, "no response"),  # 21.875 %
        (32, 32, 10, "no response"),  # 0 %
        (32, 35, 10, "worse"),
        (4, 6, 5, "worse"),  # worse is always shown, even below the remission threshold
        (19, 4, None, "response"),  # no remission threshold for this scale: by response only
        (0, 0, 5, "unknown"),
    ],
)
def test_status_per_scale(baseline, latest, below, expected):
    assert status(change_pct(baseline, latest), latest, below, CourseSettings()) == expected


def test_response_per_scale_counts_only_assessments_since_the_series_began():
    before = assessment("2026-11-20", madrs=20)  # before session 1 (23 Nov): not a response
    p = patient(before + assessment("2026-11-30", phq9=12))
    plan = course_plan(p, load_protocol(phases=PHASES_MON_FRI))
    madrs, phq9 = plan.course.scale("madrs"), plan.course.scale("phq9")
    assert (madrs.baseline, madrs.latest, madrs.change_pct, madrs.status) == (32, None, None, "unknown")
    assert [(pt.date, pt.score, pt.baseline) for pt in madrs.points] == [
        (date(2026, 11, 16), 32, True),
        (date(2026, 11, 20), 20, False),
    ]
    assert (phq9.latest, phq9.latest_on, phq9.change_pct, phq9.status) == (12, date(2026, 11, 30), Fraction(700, 19), "partial")


# ------------------------------------------------------------------ the series


def test_series_counts_back_until_a_gap_longer_than_restart_after_days():
    rest = "".join(infusion(d) for d in ("2026-08-03", "2026-08-05", "2026-10-05", "2026-10-07", "2026-11-30"))
    p = patient(infusions=rest).patient
    # 5 Oct -> 30 Nov is 56 days: not longer than 56, so the same series; 5 Aug -> 5 Oct is 61 days
    assert [i.date for i in current_series(p, "test-protocol", 56, START)] == [
        date(2026, 10, 5), date(2026, 10, 7), date(2026, 11, 30)
    ]
    assert len(current_series(p, "test-protocol", 70, START)) == 5
    assert current_series(p, "other-protocol", 56, START) == ()


def test_a_series_too_old_cannot_be_continued_and_course_exits_1(capsys, tmp_path):
    old = "".join(infusion(d) for d in ("2026-09-01", "2026-09-03"))
    p = patient(infusions=old)  # 3 Sep -> 1 Dec is 89 days
    with pytest.raises(SeriesNotContinuable, match="89 days before 2026-12-01"):
        course_plan(p, load_protocol(phases=PHASES_MON_FRI))
    files = _files(tmp_path, p_text=_patient_text(infusions=old))
    code, out, err = run_cli(capsys, "course", files[0], "--protocol", files[1], "--start", "2026-12-01")
    assert code == 1 and out == ""
    assert "cannot be continued" in err and "ketaplan plan" in err


def test_infusions_without_a_protocol_id_never_count():
    untagged = infusion("2026-11-27", protocol=None)
    proto = load_protocol(rest=rule("R-SERIES", "review", "{ series_sessions_at_least = 1 }"))
    plan = plan_for(patient(infusions=untagged), proto)
    assert finding(plan, "R-SERIES") is None
    assert finding(plan, "INFUSION-WITHOUT-PROTOCOL").effect == "note"
    # A protocol with no course rule drafts exactly as before: no new finding.
    assert "INFUSION-WITHOUT-PROTOCOL" not in ids(plan_for(patient(infusions=untagged), load_protocol()))


# ------------------------------------------------------------------ the course `when` keys


def fired(when: str, pat) -> str | None:
    plan = plan_for(pat, load_protocol(rest=rule("R-X", "review", when)))
    f = finding(plan, "R-X")
    return None if f is None else ("unknown" if f.unknown else "true")


NO_VITALS = "".join(infusion(d, adverse_events="[]") for d in ("2026-11-23", "2026-11-25"))
HIGH = infusion("2026-11-27", vitals='[{ minute = 40, blood_pressure = "184/104" }]', adverse_events='["hypertension"]')


@pytest.mark.parametrize(
    "when, infusions, rest, expected",
    [
        ("{ series_sessions_at_least = 3 }", THREE, "", "true"),
        ("{ series_sessions_at_least = 4 }", THREE, "", None),
        ("{ series_sessions_at_least = 1 }", "", "", None),  # none recorded = 0, never unknown
        ("{ response_below = { madrs = 50 } }", THREE, assessment("2026-11-30", madrs=21), "true"),  # 34.375 %
        ("{ response_below = { madrs = 34.375 } }", THREE, assessment("2026-11-30", madrs=21), None),  # exact
        ("{ response_at_least = { madrs = 34.375 } }", THREE, assessment("2026-11-30", madrs=21), "true"),
        ("{ response_below = { madrs = 50 } }", THREE, "", "unknown"),  # no assessment since: never 0 %
        ("{ response_below = { madrs = 50, phq9 = 50 } }", THREE, assessment("2026-11-30", madrs=21), "unknown"),
        ("{ score_below = { madrs = 25 } }", THREE, assessment("2026-11-30", madrs=21), "true"),  # most recent: 21
        ("{ score_at_least = { madrs = 30 } }", THREE, assessment("2026-11-30", madrs=21), None),
        ('{ peak_blood_pressure_at_least = "180/110" }', THREE, "", None),
        ('{ peak_blood_pressure_at_least = "180/110" }', THREE + HIGH, "", "true"),
        ('{ peak_blood_pressure_at_least = "180/110" }', NO_VITALS, "", "unknown"),
        ('{ peak_blood_pressure_at_least = "180/110" }', NO_VITALS + HIGH, "", "true"),  # true beats unknown
        ('{ peak_blood_pressure_at_least = "150/95" }', THREE, "", "true"),  # systolic 152 alone
        ('{ peak_blood_pressure_at_least = "180/110" }', "", "", None),  # no series: nothing to show
        ('{ adverse_event = ["hypertension"] }', THREE + HIGH, "", "true"),
        ('{ adverse_event = ["nausea"] }', THREE, "", None),
        ('{ adverse_event = ["nausea"] }', THREE + infusion("2026-11-30"), "", "unknown"),  # not recorded
        ("{ stopped_early = true }", THREE, "", None),
        ("{ stopped_early = false }", THREE, "", "true"),
        ("{ stopped_early = true }", THREE + infusion("2026-11-30", completed="false", stopped_because='"BP 182/104 at 30 min"'), "", "true"),
        ("{ dissociation_at_least = 20 }", infusion("2026-11-27", dissociation="24"), "", "true"),
        ("{ dissociation_at_least = 20 }", infusion("2026-11-27", dissociation="18"), "", None),
        ("{ dissociation_at_least = 20 }", infusion("2026-11-25", dissociation="18") + infusion("2026-11-27"), "", "unknown"),
        ("{ sedation_at_most = 3 }", infusion("2026-11-27", sedation="3"), "", "true"),
        ("{ sedation_at_most = 3 }", infusion("2026-11-27", sedation="4"), "", None),
        ("{ sedation_at_most = 3 }", infusion("2026-11-27"), "", "unknown"),
    ],
)
def test_course_keys_are_three_valued(when, infusions, rest, expected):
    assert fired(when, patient(rest, infusions=infusions)) == expected


# ------------------------------------------------------------------ titration

TITRATE = rule(
    "TITRATE-UP",
    "titrate",
    "{ series_sessions_at_least = 3, response_below = { madrs = 50 } }",
    "mg_per_kg = 0.75",
)


def test_titration_continues_the_series_with_the_hand_worked_dose():
    # 4 Dec is a Friday; sessions 4 to 6 follow 27 Nov by at least 2 days, Mon to Fri.
    proto = load_protocol(phases=PHASES_MON_FRI, rest=TITRATE)
    plan = course_plan(patient(assessment("2026-11-30", madrs=21)), proto)
    # 0.75 mg/kg x 73 kg = 54.75 mg -> 55 mg, within the 60 mg cap
    assert [(s.number, s.amount, s.raw_dose_mg, s.dose_mg, s.titrated_by) for s in plan.sessions] == [
        (n, Fraction(3, 4), Fraction("54.75"), 55, "TITRATE-UP") for n in (4, 5, 6)
    ]
    assert [s.date for s in plan.sessions] == [date(2026, 12, 1), date(2026, 12, 3), date(2026, 12, 7)]
    assert finding(plan, "TITRATE-UP").effect == "titrate"
    escalation = finding(plan, "DOSE-ESCALATION")
    assert escalation.evidence == ("session 4: 0.75 mg/kg by TITRATE-UP instead of the phase's 0.5 mg/kg",)
    assert "Confirm the previous dose was tolerated" in plan.sessions[0].checks
    # The given sessions: 36 mg / 73 kg = 0.49315... mg/kg each
    course = plan.course
    assert course.continued_from == 3
    assert [g.mg_per_kg for g in course.series] == [Fraction(36, 73)] * 3
    assert [g.bp_before for g in course.series] == [(130, 82)] * 3
    assert [g.bp_peak for g in course.series] == [(152, 94)] * 3
    assert "PRIOR-INFUSIONS-SAME-PROTOCOL" not in ids(plan)


def test_before_titration_the_dose_is_the_phase_dose():
    # 0.5 mg/kg x 73 kg = 36.5 mg, an exact half, rounds down to 36 mg
    plan = plan_for(patient(infusions=""), load_protocol(phases=PHASES_MON_FRI, rest=TITRATE))
    assert [s.dose_mg for s in plan.sessions] == [36] * 6
    assert finding(plan, "TITRATE-UP") is None


def test_an_unknown_escalation_is_never_applied():
    proto = load_protocol(phases=PHASES_MON_FRI, rest=TITRATE)
    plan = course_plan(patient(), proto)  # no assessment since the series began: response unknown
    assert [s.dose_mg for s in plan.sessions] == [36, 36, 36]
    f = finding(plan, "TITRATE-UP")
    assert (f.effect, f.unknown) == ("review", True)
    assert any(e.startswith("could not be checked: MADRS response is unknown") for e in f.evidence)
    assert plan.verdict == "needs-review"
    assert plan.sessions[0].titrated_by is None
    assert plan.sessions[0].titration_not_used == (
        "TITRATE-UP: 0.75 mg/kg not applied (could not be checked; it would raise the dose)",
    )


def test_an_unknown_de_escalation_is_applied_and_needs_review():
    down = rule("TITRATE-DOWN", "titrate", '{ peak_blood_pressure_at_least = "180/110" }', "mg_per_kg = 0.4")
    plan = course_plan(patient(infusions=NO_VITALS), load_protocol(phases=PHASES_MON_FRI, rest=down))
    # 0.4 x 73 = 29.2 -> 29 mg
    assert [s.dose_mg for s in plan.sessions] == [29] * 4
    assert finding(plan, "TITRATE-DOWN").effect == "review"
    assert plan.verdict == "needs-review"


def test_the_lowest_titrated_dose_wins_and_the_others_are_named():
    rules = TITRATE + rule("TITRATE-LOWER", "titrate", "{ series_sessions_at_least = 2 }", "mg_per_kg = 0.6")
    plan = course_plan(patient(assessment("2026-11-30", madrs=21)), load_protocol(phases=PHASES_MON_FRI, rest=rules))
    # 0.6 x 73 = 43.8 -> 44 mg
    s = plan.sessions[0]
    assert (s.amount, s.dose_mg, s.titrated_by) == (Fraction(3, 5), 44, "TITRATE-LOWER")
    assert s.titration_not_used == ("TITRATE-UP: 0.75 mg/kg not used (a lower dose wins)",)
    assert finding(plan, "TITRATION-CHOSEN").evidence == (
        "TITRATE-LOWER 0.6 mg/kg; TITRATE-UP 0.75 mg/kg: used TITRATE-LOWER 0.6 mg/kg",
    )


def test_caps_and_factors_still_apply_after_titration():
    # 0.75 x 90 kg = 67.5 -> 67 mg (exact half down), capped at 60 mg
    plan = course_plan(patient(assessment("2026-11-30", madrs=21), weight="90 kg"), load_protocol(phases=PHASES_MON_FRI, rest=TITRATE))
    assert [(s.rounded_mg, s.dose_mg, s.capped_by) for s in plan.sessions] == [(67, 60, "dose.max_mg")] * 3
    # an adjust factor 0.8: 0.75 x 73 x 0.8 = 43.8 -> 44 mg
    factor = rule("ADJ-80", "adjust", None, "dose_factor = 0.8")
    plan = course_plan(patient(assessment("2026-11-30", madrs=21)), load_protocol(phases=PHASES_MON_FRI, rest=TITRATE + factor))
    assert [s.dose_mg for s in plan.sessions] == [44] * 3


def test_a_rate_protocol_titrates_per_hour_within_max_mg_per_hour():
    dose = 'mg_per_kg_per_hour = 0.35\nduration = "4 h"\nmax_mg_per_hour = 35\nmax_mg = 140'
    up = rule("TITRATE-RATE", "titrate", "{ series_sessions_at_least = 1 }", "mg_per_kg_per_hour = 0.5")
    plan = course_plan(patient(infusions=infusion("2026-11-27", "96 mg")), load_protocol(dose=dose, phases=PHASES_MON_FRI, rest=up))
    # 0.5 x 73 = 36.5 mg/h -> 36 mg/h (exact half down), above 35 mg/h: 35 mg/h x 4 h = 140 mg
    s = plan.sessions[0]
    assert (s.rounded_rate_mg_per_h, s.rate_mg_per_h, s.dose_mg, s.capped_by) == (36, 35, 140, "dose.max_mg_per_hour")


# ------------------------------------------------------------------ continuing


def test_continuing_counts_within_days_from_the_series_first_session():
    phases = '[[schedule.phase]]\nname = "induction"\nsessions = 4\nmin_gap_days = 2\nwithin_days = 14'
    given = "".join(infusion(d) for d in ("2026-11-16", "2026-11-18"))
    plan = course_plan(patient(infusions=given), load_protocol(phases=phases), start=date(2026, 11, 30))
    # sessions 3 and 4 on 30 Nov and 2 Dec: 16 Nov -> 2 Dec is 16 days, over 14
    assert [(s.number, s.date) for s in plan.sessions] == [(3, date(2026, 11, 30)), (4, date(2026, 12, 2))]
    assert finding(plan, "SCHEDULE-OVERRUN").evidence == ("induction: 2026-11-16 to 2026-12-02 is 16 days",)


def test_a_complete_series_drafts_no_session():
    six = "".join(infusion(d) for d in ("2026-11-16", "2026-11-18", "2026-11-20", "2026-11-23", "2026-11-25", "2026-11-27"))
    plan = course_plan(patient(infusions=six), load_protocol(phases=PHASES_MON_FRI))
    assert plan.sessions == ()
    assert finding(plan, "SERIES-COMPLETE").effect == "note"
    assert plan.course.continued_from == 6


def test_continuing_then_next_phase():
    phases = PHASES_MON_FRI.replace("sessions = 6", "sessions = 2") + '\n[[schedule.phase]]\nname = "boosters"\nsessions = 2\nmin_gap_days = 14'
    plan = course_plan(patient(infusions=infusion("2026-11-27")), load_protocol(phases=phases))
    assert [(s.number, s.phase, s.date) for s in plan.sessions] == [
        (2, "induction", date(2026, 12, 1)),
        (3, "boosters", date(2026, 12, 15)),
        (4, "boosters", date(2026, 12, 29)),
    ]


# ------------------------------------------------------------------ patient file


def _patient_text(rest: str = "", infusions: str = THREE) -> str:
    from tests.builders import patient_text

    return patient_text(weight="73 kg", rest=RECORDED + rest + "\n" + BASELINE + "\n" + infusions)


def _files(tmp_path, p_text: str, proto_text: str | None = None) -> tuple[str, str]:
    p = tmp_path / "patient.toml"
    p.write_text(p_text)
    q = tmp_path / "protocol.toml"
    q.write_text(proto_text or protocol_text(phases=PHASES_MON_FRI))
    return str(p), str(q)


@pytest.mark.parametrize(
    "infusions, field, words",
    [
        (infusion("2026-11-27", adverse_events='["nausia"]'), "infusions[1].adverse_events[1]", "did you mean 'nausea'?"),
        (infusion("2026-11-27", adverse_events='["other"]'), "infusions[1].adverse_events[1]", "adverse_event_detail"),
        (infusion("2026-11-27", adverse_events='["nausea"]', adverse_event_detail='"x"'), "infusions[1].adverse_event_detail", "only for"),
        (infusion("2026-11-27", completed="false"), "infusions[1].completed", "stopped_because"),
        (infusion("2026-11-27", stopped_because='"BP"'), "infusions[1].stopped_because", "completed = false"),
        (infusion("2026-11-27", sedation="6"), "infusions[1].sedation", "outside 0..5"),
        (infusion("2026-11-27", dissociation="93"), "infusions[1].dissociation", "outside 0..92"),
        (infusion("2026-11-27", duration='"40"'), "infusions[1].duration", ""),
        (infusion("2026-11-27", vitals='[{ minute = 40, blood_pressure = "84/132" }]'), "infusions[1].vitals[1].blood_pressure", "below systolic"),
        (infusion("2026-11-27", vitals='[{ minute = 40 }]'), "infusions[1].vitals[1].minute", "at least one of"),
        (infusion("2026-12-02"), "infusions[1].date", "after the plan's start date"),
        (infusion("2026-11-27", sedation="4") + infusion("2026-11-25"), "infusions[2].date", "oldest first"),
    ],
)
def test_session_records_are_validated_with_their_place(infusions, field, words):
    with pytest.raises(PatientError) as info:
        patient(infusions=infusions)
    assert info.value.field == field
    assert words in info.value.message
    assert info.value.line is not None and info.value.column is not None


def test_a_bad_adverse_event_exits_2_with_file_line_column_and_caret(capsys, tmp_path):
    files = _files(tmp_path, _patient_text(infusions=infusion("2026-11-27", adverse_events='["nausia"]')))
    code, _, err = run_cli(capsys, "plan", files[0], "--protocol", files[1], "--start", "2026-12-01")
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith(f"{files[0]}:") and "infusions[1].adverse_events[1]: 'nausia' is not an adverse event" in first
    assert "^" in err


@pytest.mark.parametrize("written, minutes", [('"40 min"', 40), ('"1.5 h"', 90), ('"1 h 35 min"', 95), ('"0.75 h"', 45)])
def test_session_durations_in_minutes_or_hours(written, minutes):
    p = patient(infusions=infusion("2026-11-27", duration=written, observed=written)).patient
    assert (p.infusions[0].duration_min, p.infusions[0].observed_min) == (minutes, minutes)


def test_assessments_are_validated():
    with pytest.raises(PatientError, match="before the baseline scores"):
        patient(assessment("2026-11-10", madrs=20))
    with pytest.raises(PatientError, match="needs at least one score"):
        patient("[[assessments]]\ndate = 2026-11-30\n")
    with pytest.raises(PatientError, match="outside 0..60"):
        patient(assessment("2026-11-30", madrs=61))
    with pytest.raises(PatientError, match="oldest first"):
        patient(assessment("2026-11-30", madrs=20) + assessment("2026-11-29", madrs=21))


def test_a_v1_file_with_infusions_out_of_order_is_still_valid_and_sorted():
    v1 = infusion("2026-11-27") + infusion("2026-11-20")
    p = load_patient(rest=RECORDED + v1).patient
    assert [i.date for i in p.infusions] == [date(2026, 11, 20), date(2026, 11, 27)]


# ------------------------------------------------------------------ protocol file


@pytest.mark.parametrize(
    "rest, words",
    [
        (rule("T", "titrate", None), "needs mg_per_kg"),
        (rule("T", "titrate", None, "mg_per_kg_per_hour = 0.5"), "doses by mg_per_kg"),
        (rule("T", "titrate", None, "mg_per_kg = 2.5"), "out of range"),
        (rule("T", "review", None, "mg_per_kg = 0.5"), "only for titrate rules"),
        (rule("T", "review", '{ adverse_event = ["nausia"] }'), "did you mean 'nausea'?"),
        (rule("T", "review", '{ response_below = { hamd = 50 } }'), "unknown key 'hamd'"),
        (rule("T", "review", "{ stopped_early = 1 }"), "true or false"),
        ("[course]\npartial_at_least = 60\n", "must be below response_at_least"),
        ("[course]\nvitals_at_minutes = [0, 40, 30]\n", "increasing order"),
        ("[course]\nrestart_after_days = 0\n", "outside 1..3650"),
    ],
)
def test_protocol_course_additions_are_validated(rest, words):
    with pytest.raises(ProtocolError) as info:
        load_protocol(rest=rest)
    assert words in info.value.message


def test_course_defaults_and_values():
    assert load_protocol().protocol.course == CourseSettings()
    c = load_protocol(rest="[course]\nrestart_after_days = 42\nremission_below = { madrs = 11 }\n").protocol.course
    assert (c.restart_after_days, c.remission_below, c.response_at_least) == (42, (("madrs", 11),), 50)


# ------------------------------------------------------------------ the command and the example


def test_course_json_is_the_plan_contract_plus_course(capsys):
    code, out, _ = run_cli(capsys, "course", EXAMPLE_PATIENT, "--protocol", EXAMPLE_PROTOCOL, "--start", "2026-12-01", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["format"] == "ketaplan-plan/1" and d["verdict"] == "eligible"
    assert [(s["number"], s["date"], s["mg_per_kg"], s["raw_dose_mg"], s["dose_mg"], s["titrated_by"]) for s in d["sessions"]] == [
        (4, "2026-12-01", 0.75, 54.75, 55, "TITRATE-0-75-AFTER-3"),
        (5, "2026-12-04", 0.75, 54.75, 55, "TITRATE-0-75-AFTER-3"),
        (6, "2026-12-08", 0.75, 54.75, 55, "TITRATE-0-75-AFTER-3"),
    ]
    course = d["course"]
    assert course["continued_from"] == 3
    assert [(g["number"], g["date"], g["dose_mg"], g["mg_per_kg"]) for g in course["series"]] == [
        (1, "2026-11-20", 36, 0.4932), (2, "2026-11-24", 36, 0.4932), (3, "2026-11-27", 36, 0.4932)
    ]
    assert course["series"][0]["bp_peak"] == "152/94" and course["series"][0]["adverse_events"] == ["nausea"]
    madrs = course["response"]["madrs"]
    assert (madrs["baseline"], madrs["latest"], madrs["latest_on"], madrs["change_pct"], madrs["status"]) == (
        32, 21, "2026-11-30", 34.375, "partial"
    )
    # (12 - 9) / 12 = 25 % exactly: partial
    assert (course["response"]["gad7"]["change_pct"], course["response"]["gad7"]["status"]) == (25, "partial")
    # 700 / 19 has no finite decimal: 4 places
    assert course["response"]["phq9"]["change_pct"] == 36.8421


def test_course_text_shows_verdict_given_response_and_next(capsys):
    code, out, _ = run_cli(capsys, "course", EXAMPLE_PATIENT, "--protocol", EXAMPLE_PROTOCOL, "--start", "2026-12-01")
    assert code == 0
    # The course view (render/course.py): verdict first, Given, Response with a chart per scale, Next.
    assert out.startswith("DRAFT COURSE — EX-022 — trd-iv-course 2026.12\nVERDICT: ELIGIBLE")
    assert "  1  2026-11-20  36 mg  0.49 mg/kg  130/82 → 152/94   completed  nausea\n" in out
    assert "  MADRS        32      21  2026-11-30  34.3 % lower  partial\n" in out
    assert "Sessions 4–6: 0.75 mg/kg, set by titration rule TITRATE-0-75-AFTER-3" in out
    assert "  4  2026-12-01  Tue  55 mg  ‡  0.753 mg/kg\n" in out


def test_the_plan_json_of_a_v1_plan_has_no_course_keys(capsys):
    code, out, _ = run_cli(
        capsys, "plan", str(ROOT / "examples/patients/eligible-trd.toml"),
        "--protocol", str(ROOT / "examples/protocols/trd-iv-induction.toml"), "--start", "2026-12-01", "--format", "json",
    )  # fmt: skip
    d = json.loads(out)
    assert "course" not in d and "titrated_by" not in d["sessions"][0]


def test_check_lists_patients_due_a_course_review(capsys, tmp_path):
    folder = tmp_path / "patients"
    folder.mkdir()
    (folder / "part-way.toml").write_text(Path(EXAMPLE_PATIENT).read_text())
    bp = Path(EXAMPLE_PATIENT).read_text().replace('{ minute = 40, blood_pressure = "148/92", heart_rate = 84 }', '{ minute = 40, blood_pressure = "184/104" }')
    (folder / "bp.toml").write_text(bp.replace('id = "EX-022"', 'id = "EX-023"'))
    code, out, _ = run_cli(capsys, "check", str(folder), "--protocol", EXAMPLE_PROTOCOL, "--start", "2026-12-01", "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    due = {r["id"]: r for r in rows}
    assert "REV-BP-180-110-DURING" in json.dumps(due["EX-023"])
    assert "REV-BP-180-110-DURING" not in json.dumps(due["EX-022"])


def test_the_example_protocol_passes_its_own_tests_and_strict_lint(capsys):
    code, out, _ = run_cli(capsys, "protocol", "test", EXAMPLE_PROTOCOL)
    assert code == 0 and out.endswith("11 passed, 0 failed\n")
    code, out, _ = run_cli(capsys, "protocol", "check", "--strict", EXAMPLE_PROTOCOL)
    assert code == 0, out


def test_an_old_weight_is_named_at_the_first_session_drafted():
    plan = course_plan(patient(infusions=THREE), load_protocol(dose='mg_per_kg = 0.5\nduration = "40 min"\nmax_mg = 60\nweight_valid_days = 7', phases=PHASES_MON_FRI))
    f = finding(plan, "WEIGHT-OUT-OF-DATE")  # no weighed_on in this patient
    assert f.evidence == ("weighed_on is missing",)
    p = patient("weighed_on = 2026-11-16\n")
    plan = course_plan(p, load_protocol(dose='mg_per_kg = 0.5\nduration = "40 min"\nmax_mg = 60\nweight_valid_days = 7', phases=PHASES_MON_FRI))
    # 16 Nov -> 1 Dec is 15 days
    assert finding(plan, "WEIGHT-OUT-OF-DATE").evidence == ("weighed on 2026-11-16, 15 days before session 4 on 2026-12-01",)


def test_an_excluded_patient_still_gets_the_course_of_the_series():
    excl = rule("EXCL-ALL", "exclude", "{ series_sessions_at_least = 3 }")
    plan = course_plan(patient(assessment("2026-11-30", madrs=21)), load_protocol(phases=PHASES_MON_FRI, rest=excl))
    assert plan.verdict == "excluded" and plan.sessions == ()
    assert plan.course.continued_from == 3 and plan.course.scale("madrs").status == "partial"


def test_a_later_infusion_under_another_protocol_still_holds_the_gap():
    # The series' last session is 23 Nov; an infusion under another protocol on 30 Nov: with
    # min_gap_days 2, the next session is 2 Dec, not 1 Dec.
    rest = infusion("2026-11-20") + infusion("2026-11-23") + infusion("2026-11-30", protocol="other-protocol")
    plan = course_plan(patient(infusions=rest), load_protocol(phases=PHASES_MON_FRI))
    assert (plan.sessions[0].number, plan.sessions[0].date) == (3, date(2026, 12, 2))


def test_a_continued_series_whose_next_dose_is_higher_than_the_last_given_asks_to_confirm_it(capsys, tmp_path):
    # Found by the issue 14 speed work: this raised AttributeError (an insert into a tuple), so
    # `ketaplan course` stopped with "internal error" instead of drafting the rest of the series.
    low = "".join(infusion(d, dose="20 mg", **TOLERATED) for d in ("2026-11-23", "2026-11-25", "2026-11-27"))
    plan = course_plan(patient(infusions=low), load_protocol(phases=PHASES_MON_FRI))
    # 73 kg x 0.5 mg/kg = 36.5 mg, rounded down to 36 mg: above the 20 mg given on 27 Nov.
    assert [(s.number, s.dose_mg) for s in plan.sessions][:2] == [(4, 36), (5, 36)]
    assert finding(plan, "DOSE-ESCALATION").evidence == ("session 4: 36 mg after 20 mg given on 2026-11-27",)
    assert "Confirm the previous dose was tolerated" in plan.sessions[0].checks
    assert "Confirm the previous dose was tolerated" not in plan.sessions[1].checks
    text = Path(EXAMPLE_PATIENT).read_text().replace('dose = "36 mg"', 'dose = "20 mg"')
    text = text.replace('protocol = "trd-iv-course"', 'protocol = "trd-iv-induction"')
    path = tmp_path / "p.toml"
    path.write_text(text)
    induction = str(ROOT / "examples/protocols/trd-iv-induction.toml")
    code, out, err = run_cli(capsys, "course", str(path), "--protocol", induction, "--start", "2026-12-01", "--format", "json")
    assert code == 0, err
    found = {f["rule"]: f["evidence"] for f in json.loads(out)["findings"]}
    assert found["DOSE-ESCALATION"] == ["session 4: 36 mg after 20 mg given on 2026-11-27"]
