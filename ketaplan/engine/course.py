"""The course of treatment (spec/course.md): the current series, response per scale, and the
three-valued `when` keys over them. Pure: no I/O, no clock."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import NamedTuple

from ketaplan.errors import RefusedError
from ketaplan.model.course import Course, GivenSession, ScaleResponse, ScorePoint
from ketaplan.model.patient import SCORE_RANGES, Infusion, Patient
from ketaplan.model.protocol import CourseSettings, Protocol

#: The `when` keys that ask about the course (evaluated by `clause` below).
COURSE_KEYS = (
    "series_sessions_at_least",
    "response_below",
    "response_at_least",
    "peak_blood_pressure_at_least",
    "adverse_event",
    "stopped_early",
    "dissociation_at_least",
    "sedation_at_most",
)


class CourseFacts(NamedTuple):
    """What the course rules ask, worked out once per drafting."""

    protocol: str
    series: tuple[Infusion, ...]  # the current series under the protocol, oldest first
    response: tuple[ScaleResponse, ...]
    untagged: tuple[Infusion, ...]  # infusions with no protocol id: never counted
    settings: CourseSettings


def current_series(patient: Patient, protocol_id: str, restart_after_days: int, start: date) -> tuple[Infusion, ...]:
    """The run of infusions under `protocol_id`, counted back from the most recent one until a gap
    longer than `restart_after_days`. Empty when the most recent one is itself more than
    `restart_after_days` before `start`: that series is over, a new one would start."""
    mine = [i for i in patient.infusions if i.protocol == protocol_id]
    if not mine or (start - mine[-1].date).days > restart_after_days:
        return ()
    run = [mine[-1]]
    for earlier in reversed(mine[:-1]):
        if (run[0].date - earlier.date).days > restart_after_days:
            break
        run.insert(0, earlier)
    return tuple(run)


def last_series(patient: Patient, protocol_id: str, restart_after_days: int) -> tuple[Infusion, ...]:
    """The most recent run under `protocol_id`, however old (for saying why it cannot be continued)."""
    mine = [i for i in patient.infusions if i.protocol == protocol_id]
    if not mine:
        return ()
    return current_series(patient, protocol_id, restart_after_days, mine[-1].date)


def change_pct(baseline: int | None, latest: int | None) -> Fraction | None:
    """(baseline - latest) / baseline x 100, exact; None (unknown, never 0 %) without both or at baseline 0."""
    if baseline is None or latest is None or baseline == 0:
        return None
    return Fraction(baseline - latest, baseline) * 100


def status(change: Fraction | None, latest: int | None, remission_below: int | None, settings: CourseSettings) -> str:
    """remission > response > partial > no response; "worse" for any rise; "unknown" without a change."""
    if change is None:
        return "unknown"
    if change < 0:
        return "worse"
    if remission_below is not None and latest is not None and latest < remission_below:
        return "remission"
    if change >= settings.response_at_least:
        return "response"
    if change >= settings.partial_at_least:
        return "partial"
    return "no response"


def responses(patient: Patient, series: tuple[Infusion, ...], settings: CourseSettings) -> tuple[ScaleResponse, ...]:
    """Per scale with any score: baseline is [scores]; latest the most recent assessment holding the
    scale dated on or after the series' first session (before treatment began is not a response)."""
    began = series[0].date if series else None
    thresholds = dict(settings.remission_below)
    out = []
    for scale in SCORE_RANGES:
        baseline = patient.score(scale)
        taken = [(a.date, score) for a in patient.assessments if (score := a.score(scale)) is not None]
        if baseline is None and not taken:
            continue
        points = [ScorePoint(d, s) for d, s in taken]
        if baseline is not None:
            points.insert(0, ScorePoint(patient.scored_on, baseline, True))
        since = [(d, s) for d, s in taken if began is not None and d >= began]
        latest_on, latest = since[-1] if since else (None, None)
        change = change_pct(baseline, latest)
        below = thresholds.get(scale)
        out.append(
            ScaleResponse(
                scale=scale,
                baseline=baseline,
                baseline_on=patient.scored_on,
                latest=latest,
                latest_on=latest_on,
                change_pct=change,
                status=status(change, latest, below, settings),
                remission_below=below,
                points=tuple(points),
            )
        )
    return tuple(out)


def course_facts(patient: Patient, protocol: Protocol, start: date, with_response: bool = True) -> CourseFacts:
    """`with_response=False` leaves `response` empty: for a new series under a protocol whose rules
    never ask about the course (engine/plan.py `uses_course`), nothing reads it."""
    settings = protocol.course
    if not patient.infusions:
        series: tuple[Infusion, ...] = ()
        untagged: tuple[Infusion, ...] = ()
    else:
        series = current_series(patient, protocol.id, settings.restart_after_days, start)
        untagged = tuple(i for i in patient.infusions if i.protocol is None)
    response = responses(patient, series, settings) if with_response else ()
    # (tuple.__new__: a NamedTuple's own __new__ is a Python function, twice the time)
    return tuple.__new__(CourseFacts, (protocol.id, series, response, untagged, settings))


def most_recent_score(patient: Patient, scale: str) -> tuple[int, date | None, bool] | None:
    """(score, date, is_baseline) of the most recent score of `scale`, baseline or assessment,
    whatever its date. An assessment is taken as after a baseline with no `scored_on`; on the same
    day, the assessment is the more recent."""
    best = None
    baseline = patient.score(scale)
    if baseline is not None:
        best = (baseline, patient.scored_on, True)
    for a in patient.assessments:
        s = a.score(scale)
        if s is None:
            continue
        if best is None or best[1] is None or a.date >= best[1]:
            best = (s, a.date, False)
    return best


def bp_peak(infusion: Infusion) -> tuple[int, int] | None:
    readings = [v.blood_pressure for v in infusion.vitals or () if v.blood_pressure is not None]
    return max(readings) if readings else None


def bp_before(infusion: Infusion) -> tuple[int, int] | None:
    for v in infusion.vitals or ():
        if v.minute == 0 and v.blood_pressure is not None:
            return v.blood_pressure
    return None


def build_course(
    cf: CourseFacts, protocol: Protocol, dosing_weight_kg: Fraction | None
) -> Course:
    """The Course value beside a continued plan: the series with mg/kg of the current dosing weight."""
    positions = [p.name for p in protocol.schedule.phases for _ in range(p.sessions)]
    given = tuple(
        GivenSession(
            number=n,
            phase=positions[n - 1] if n <= len(positions) else None,
            infusion=inf,
            mg_per_kg=inf.dose_mg / dosing_weight_kg if dosing_weight_kg else None,
            bp_before=bp_before(inf),
            bp_peak=bp_peak(inf),
        )
        for n, inf in enumerate(cf.series, start=1)
    )
    s = cf.settings
    return Course(
        protocol=cf.protocol,
        series=given,
        response=cf.response,
        continued_from=len(given),
        restart_after_days=s.restart_after_days,
        response_at_least=s.response_at_least,
        partial_at_least=s.partial_at_least,
    )


class SeriesNotContinuable(RefusedError):
    """`ketaplan course` has no current series to continue (exit 1): `ketaplan plan` drafts a new one."""

    @classmethod
    def explain(cls, patient: Patient, protocol: Protocol, start: date) -> SeriesNotContinuable:
        days = protocol.course.restart_after_days
        last = last_series(patient, protocol.id, days)
        hint = f"draft a new series with `ketaplan plan --protocol ... --start {start.isoformat()}`"
        if not last:
            return cls(f"no infusion under {protocol.id} is recorded: there is no series to continue; {hint}")
        gap = (start - last[-1].date).days
        return cls(
            f"the last infusion under {protocol.id} was on {last[-1].date.isoformat()}, {gap} days before "
            f"{start.isoformat()}: more than the {days} days after which a series restarts "
            f"([course] restart_after_days), so it cannot be continued; {hint}"
        )
