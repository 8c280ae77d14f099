"""The session sheet: the monitoring record of one session, to print and fill in by hand.

`build_sheet` picks one session of a drafted plan (`--sheet N` or `--sheet next`) and gathers what the
sheet shows; the views in `ketaplan.render.sheet` lay it out. Nothing is computed here or there: every
number on the sheet is the plan's own value, formatted as the plan's views format it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, NamedTuple

from ketaplan.errors import UsageError
from ketaplan.model.protocol import CourseSettings
from ketaplan.vocabulary.adverse_events import ADVERSE_EVENTS, OTHER

if TYPE_CHECKING:
    from fractions import Fraction

    from ketaplan.model.plan import Plan, Session

#: course.md: the minutes at which the grid asks for BP, heart rate and SpO2, unless the protocol's
#: `[course] vitals_at_minutes` lists others (the default lives with the protocol model).
DEFAULT_VITALS_AT_MINUTES: tuple[int, ...] = CourseSettings._field_defaults["vitals_at_minutes"]


class GivenSession(NamedTuple):
    """A session of the current series already given (from the record), for the sheet's refusal
    messages and its "session N of the series" line."""

    number: int
    date: date


class Sheet(NamedTuple):
    """Everything one session's sheet shows. `session` is the plan's Session, unchanged."""

    plan: Plan
    session: Session
    vitals_at_minutes: tuple[int, ...]
    adverse_events: tuple[str, ...]
    given: tuple[GivenSession, ...] = ()
    patient_file: str | None = None

    @property
    def dose_mg(self) -> Fraction:
        """The session's dose: `build_sheet` makes a sheet only for a drafted dose."""
        if self.session.dose_mg is None:
            raise ValueError(f"session {self.session.number} has no drafted dose, so it has no sheet")
        return self.session.dose_mg


def adverse_event_names() -> tuple[str, ...]:
    """The vocabulary's closed list of adverse events, "other" (with its line to write on) last."""
    return tuple(n for n in ADVERSE_EVENTS if n != OTHER) + (OTHER,)


def vitals_minutes_of(protocol) -> tuple[int, ...]:
    """The protocol's `[course] vitals_at_minutes`, or course.md's default."""
    course = getattr(protocol, "course", None)
    minutes = getattr(course, "vitals_at_minutes", None) if course is not None else None
    return tuple(minutes) if minutes else DEFAULT_VITALS_AT_MINUTES


def parse_sheet_choice(value: str) -> int | str:
    """`--sheet`'s value: a session number, or "next"."""
    text = value.strip().lower()
    if text == "next":
        return "next"
    if re.fullmatch(r"[0-9]{1,4}", text, re.A) and int(text) > 0:
        return int(text)
    raise UsageError(f"--sheet: {value!r} is neither a session number (1, 2, ...) nor 'next'")


def build_sheet(
    plan: Plan,
    choice: int | str,
    *,
    vitals_at_minutes: tuple[int, ...] = DEFAULT_VITALS_AT_MINUTES,
    adverse_events: tuple[str, ...] | None = None,
    given: tuple[GivenSession, ...] = (),
    patient_file: str | None = None,
) -> Sheet:
    """The sheet for session `choice` of `plan` (its number as the plan numbers it, or "next": the
    first session still to be given). Raises UsageError naming --sheet when there is no such sheet."""
    label = f"--sheet {choice}"
    if plan.verdict == "excluded":
        raise UsageError(f"{label}: the plan excludes this patient: no session is drafted, so there is no sheet")
    if not plan.sessions:
        raise UsageError(f"{label}: the plan drafts no session, so there is no sheet")
    if choice == "next":
        session = plan.sessions[0]
    else:
        for done in given:
            if done.number == choice:
                raise UsageError(
                    f"{label}: session {choice} was given on {done.date} (it is in the record); a sheet is printed "
                    f"for a session still to come: the next is session {plan.sessions[0].number}"
                )
        matches = [s for s in plan.sessions if s.number == choice]
        if not matches:
            first, last = plan.sessions[0].number, plan.sessions[-1].number
            raise UsageError(f"{label}: the plan has no session {choice}; it drafts sessions {first} to {last}")
        session = matches[0]
    if session.dose_mg is None:
        why = f" ({session.not_drafted_because})" if session.not_drafted_because else ""
        raise UsageError(
            f"{label}: no dose is drafted for session {session.number}{why}; a sheet is printed only for a "
            "drafted dose: see the plan's findings"
        )
    return Sheet(
        plan=plan,
        session=session,
        vitals_at_minutes=tuple(vitals_at_minutes),
        adverse_events=tuple(adverse_events) if adverse_events is not None else adverse_event_names(),
        given=tuple(given),
        patient_file=patient_file,
    )


def sheet_document(
    plan: Plan,
    protocol,
    choice: str,
    fmt: str,
    *,
    given: tuple[GivenSession, ...] = (),
    patient_file: str | None = None,
) -> str:
    """`course --sheet CHOICE --format FMT`: the sheet as HTML (`html`) or Markdown (`markdown`, and
    `text`, since a sheet is for paper). `protocol` is the loaded Protocol (for its vitals minutes)."""
    if fmt == "json":
        raise UsageError("--sheet: a sheet is for paper: use --format html (to print on A4) or markdown")
    sheet = build_sheet(
        plan,
        parse_sheet_choice(choice),
        vitals_at_minutes=vitals_minutes_of(protocol),
        given=given,
        patient_file=patient_file,
    )
    from ketaplan.render.sheet import sheet_html, sheet_markdown

    return sheet_html(sheet) if fmt == "html" else sheet_markdown(sheet)
