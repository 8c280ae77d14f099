"""Session dates: clinic weekdays, minimum gaps, UK bank holidays and closed dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.calendar import holiday_dates
from ketaplan.engine.schedule import session_dates
from ketaplan.errors import ProtocolError
from ketaplan.model.protocol import Phase, Schedule
from tests.builders import RECORDED, finding, load_patient, load_protocol, plan_for, protocol_text


def england(year: int):
    return holiday_dates("GB-ENG", year)


def dates_of(plan) -> list[str]:
    return [s.date.isoformat() for s in plan.sessions]


def test_christmas_and_boxing_day_substitute_are_skipped():
    protocol = load_protocol(schedule='holidays = "GB-ENG"')
    plan = plan_for(protocol=protocol, start=date(2026, 12, 23), holidays=england)
    # Fri 25 Dec is Christmas Day and Mon 28 Dec the Boxing Day substitute holiday
    assert dates_of(plan) == ["2026-12-23", "2026-12-29", "2026-12-31", "2027-01-04", "2027-01-06", "2027-01-08"]


def test_clinic_closed_dates_are_skipped():
    protocol = load_protocol(schedule='holidays = "GB-ENG"\nclosed = [2026-12-31]')
    plan = plan_for(protocol=protocol, start=date(2026, 12, 23), holidays=england)
    assert dates_of(plan)[:3] == ["2026-12-23", "2026-12-29", "2027-01-04"]  # 1 Jan is New Year's Day


def test_easter_2027_good_friday_and_easter_monday_are_skipped():
    protocol = load_protocol(schedule='days = ["mon", "fri"]\nholidays = "GB-ENG"')
    plan = plan_for(protocol=protocol, start=date(2027, 3, 22), holidays=england)
    assert dates_of(plan)[:3] == ["2027-03-22", "2027-04-02", "2027-04-05"]


def test_twice_weekly_tuesday_friday_series():
    protocol = load_protocol(schedule='days = ["tue", "fri"]', phases='[[schedule.phase]]\nname = "induction"\nsessions = 6\nmin_gap_days = 3')
    plan = plan_for(protocol=protocol)
    assert dates_of(plan) == ["2026-12-01", "2026-12-04", "2026-12-08", "2026-12-11", "2026-12-15", "2026-12-18"]
    assert [s.weekday for s in plan.sessions] == ["Tue", "Fri"] * 3


def test_first_session_waits_the_gap_after_the_last_recorded_infusion():
    rest = RECORDED + '[[infusions]]\ndate = 2026-11-30\ndose = "41 mg"\n'
    plan = plan_for(load_patient(rest=rest))
    assert plan.sessions[0].date == date(2026, 12, 2)


def test_gap_runs_across_phases_and_phase_days_override():
    phases = (
        '[[schedule.phase]]\nname = "induction"\nsessions = 2\nmin_gap_days = 2\n'
        '[[schedule.phase]]\nname = "maintenance"\nsessions = 2\nmin_gap_days = 28\ndays = ["wed"]'
    )
    plan = plan_for(protocol=load_protocol(phases=phases))
    assert dates_of(plan) == ["2026-12-01", "2026-12-03", "2027-01-06", "2027-02-03"]  # 31 Dec is a Thursday
    assert [s.phase for s in plan.sessions] == ["induction", "induction", "maintenance", "maintenance"]


def test_schedule_overrun_needs_review():
    phases = '[[schedule.phase]]\nname = "induction"\nsessions = 6\nmin_gap_days = 3\nwithin_days = 14'
    plan = plan_for(protocol=load_protocol(schedule='days = ["tue", "fri"]', phases=phases))
    f = finding(plan, "SCHEDULE-OVERRUN")
    assert f.evidence == ("induction: 2026-12-01 to 2026-12-18 is 17 days",)


def test_review_overdue_when_a_session_falls_after_review_due():
    from tests.builders import protocol_text

    text = protocol_text().replace('version = "1"', 'version = "1"\nreview_due = 2026-12-05')
    plan = plan_for(protocol=load_protocol(text))
    assert finding(plan, "PROTOCOL-REVIEW-OVERDUE").effect == "review"


def test_weight_older_than_valid_days_adds_weigh_again_checks():
    dose = 'mg_per_kg = 0.5\nduration = "40 min"\nmax_mg = 60\nweight_valid_days = 7'
    plan = plan_for(load_patient(rest=RECORDED + "weighed_on = 2026-11-27"), load_protocol(dose=dose))
    # weighed 27 Nov: 4 days before session 1 on 1 Dec; sessions after 4 Dec are more than 7 days on
    assert [("Weigh again and re-draft before this session" in s.checks) for s in plan.sessions] == [
        False, False, True, True, True, True
    ]
    assert finding(plan, "WEIGHT-OUT-OF-DATE") is None


def test_no_allowed_date_within_a_year_is_a_protocol_error():
    closed = ", ".join((date(2026, 12, 1) + timedelta(days=7 * i)).isoformat() for i in range(60))
    protocol = load_protocol(schedule=f'days = ["tue"]\nclosed = [{closed}]')
    with pytest.raises(ProtocolError, match="no allowed date within 366 days"):
        plan_for(protocol=protocol)


@settings(max_examples=80, deadline=None)
@given(
    weekdays=st.sets(st.integers(0, 6), min_size=1),
    gaps=st.lists(st.integers(1, 30), min_size=1, max_size=3),
    closed=st.sets(st.dates(date(2026, 12, 1), date(2027, 6, 30)), max_size=40),
    holidays=st.sets(st.dates(date(2026, 12, 1), date(2027, 6, 30)), max_size=20),
    start=st.dates(date(2026, 12, 1), date(2027, 1, 31)),
)
def test_no_session_on_a_closed_day_a_holiday_or_an_unlisted_weekday(weekdays, gaps, closed, holidays, start):
    phases = tuple(Phase(name=f"p{i}", sessions=3, min_gap_days=g) for i, g in enumerate(gaps))
    schedule = Schedule(days=frozenset(weekdays), holidays="XX", closed=frozenset(closed), phases=phases)
    out = session_dates(schedule, start, None, lambda year: frozenset(holidays))
    days = [d for _, d in out]
    assert days[0] >= start
    for d in days:
        assert d.weekday() in weekdays and d not in closed and d not in holidays
    flat_gaps = [g for g in gaps for _ in range(3)][1:]
    for before, after, gap in zip(days, days[1:], flat_gaps):
        assert (after - before).days >= gap


def test_no_open_day_names_the_protocol_file_and_line(tmp_path, capsys):
    from pathlib import Path

    from ketaplan.cli import main

    closed = ", ".join((date(2026, 12, 1) + timedelta(days=7 * i)).isoformat() for i in range(60))
    protocol = tmp_path / "closed.toml"
    protocol.write_text(protocol_text(schedule=f'days = ["tue"]\nclosed = [{closed}]'), encoding="utf-8")
    patient = Path(__file__).resolve().parent.parent / "examples/patients/eligible-trd.toml"
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(patient), "--protocol", str(protocol), "--start", "2026-12-01"])
    err = capsys.readouterr().err
    line = protocol.read_text(encoding="utf-8").splitlines().index('days = ["tue"]') + 1
    assert exit_info.value.code == 2
    assert f"{protocol}:{line}:1: error: schedule: no allowed date within 366 days" in err
