"""The course of treatment as the engine computed it (spec/course.md): immutable, for views to render.

A `Course` rides on the Plan that `continue_series` drafts (`Plan.course`); `build_plan` leaves it None.
Views render it and never recompute it: every figure below is exact (Fractions), with its unit in
its name.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import NamedTuple

from ketaplan.model.patient import Infusion

#: Response statuses, best first (spec/course.md "Response, from the scores").
STATUSES = ("remission", "response", "partial", "no response", "worse", "unknown")


class GivenSession(NamedTuple):
    """One session of the current series, as recorded, with what ketaplan computed from it."""

    number: int  # 1 for the series' first session
    phase: str | None  # the protocol phase this position of the schedule falls in; None beyond it
    infusion: Infusion  # as recorded: date, dose_mg, vitals, sedation, dissociation, adverse events ...
    mg_per_kg: Fraction | None  # dose_mg / the plan's current dosing weight; None when none is drafted
    bp_before: tuple[int, int] | None  # the minute-0 reading; None when not recorded
    bp_peak: tuple[int, int] | None  # the highest systolic reading (ties: highest diastolic)

    @property
    def date(self) -> date:
        return self.infusion.date

    @property
    def dose_mg(self) -> Fraction:
        return self.infusion.dose_mg

    @property
    def completed(self) -> bool:
        return self.infusion.completed


class ScorePoint(NamedTuple):
    """One score of a scale over time: the baseline (`baseline` True; its date may be unknown) or an assessment."""

    date: date | None
    score: int
    baseline: bool = False


class ScaleResponse(NamedTuple):
    """Response on one scale: baseline -> latest since the series began, exactly."""

    scale: str  # "phq9" | "madrs" | "gad7" | "pain_nrs"
    baseline: int | None
    baseline_on: date | None  # [scores] scored_on
    latest: int | None  # the most recent assessment on or after the series' first session
    latest_on: date | None
    change_pct: Fraction | None  # (baseline - latest) / baseline x 100; None = unknown (never 0)
    status: str  # one of STATUSES
    remission_below: int | None  # the protocol's threshold for this scale, if any
    points: tuple[ScorePoint, ...]  # every score of this scale, oldest first (for the chart)


class Course(NamedTuple):
    """The series under one protocol, the response per scale, and where the plan continues."""

    protocol: str  # the protocol id the series is counted under
    series: tuple[GivenSession, ...]  # oldest first
    response: tuple[ScaleResponse, ...]  # in the order of SCORE_RANGES
    continued_from: int  # sessions already given: the plan's next session is continued_from + 1
    restart_after_days: int
    response_at_least: Fraction
    partial_at_least: Fraction

    @property
    def next_number(self) -> int:
        """The number of the next session to give (the plan's first session, if any)."""
        return self.continued_from + 1

    @property
    def first_session(self) -> date | None:
        return self.series[0].date if self.series else None

    @property
    def last_session(self) -> date | None:
        return self.series[-1].date if self.series else None

    def scale(self, name: str) -> ScaleResponse | None:
        for r in self.response:
            if r.scale == name:
                return r
        return None


def fmt_change_pct(x: Fraction | None) -> str:
    """A change % for display: one decimal, truncated toward zero, so that a shown 50.0 % is never an
    exact 49.96 %; "unknown" for None. (32 - 21) / 32 = 34.375 % shows "34.3 %"."""
    if x is None:
        return "unknown"
    tenths = int(x * 10)  # int() truncates toward zero
    sign = "-" if x < 0 else ""
    whole, tenth = divmod(abs(tenths), 10)
    return f"{sign}{whole}.{tenth} %"
