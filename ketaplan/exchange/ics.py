"""`--format ics`: the drafted sessions as an iCalendar file (RFC 5545), one event per session.

Each event starts at --time in the clinic's time zone ([schedule] timezone, with its VTIMEZONE) and
lasts the drafted duration plus the protocol's observation time. Its UID comes from the patient id,
the protocol id, the series' first date and the session number (never the plan's digest), so that a
re-drafted plan updates the same events. The patient appears by id only, never by a name.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from ketaplan.errors import UsageError

if TYPE_CHECKING:
    from ketaplan.model.plan import Plan


def series_first_date(plan: Plan):
    """The series' first date: its first given session when `course` continues one, else the
    plan's first session."""
    course = getattr(plan, "course", None)
    if course is not None and course.series:
        return course.series[0].date
    return plan.sessions[0].date


def uid(plan: Plan, number: int) -> str:
    """Stable across re-drafts of the same series: patient id, protocol id, first date, session number."""
    first = series_first_date(plan).isoformat()
    return f"{plan.patient.id}.{plan.protocol.id}.{first}.{number}@ketaplan"


def plan_calendar(plan: Plan, at: time):
    from zoneinfo import ZoneInfo

    from icalendar import Calendar, Event

    from ketaplan import __version__
    from ketaplan.render.json import plan_to_dict
    from ketaplan.signing import with_digest
    from ketaplan.units import fmt_mg, fmt_minutes

    zone = ZoneInfo(plan.protocol.timezone)
    digest = with_digest(plan_to_dict(plan))["digest"]
    stamp = plan.generated.at
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", f"-//ketaplan//ketaplan {__version__}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-timezone", plan.protocol.timezone)
    observation = plan.protocol.observation_min
    for s in plan.sessions:
        start = datetime.combine(s.date, at, tzinfo=zone)
        # A wall-clock time that the clocks skip (or repeat) on that day is refused, never moved.
        back = start.astimezone(UTC).astimezone(zone)
        if (
            back.replace(tzinfo=None) != start.replace(tzinfo=None)
            or start.utcoffset() != start.replace(fold=1).utcoffset()
        ):
            raise UsageError(
                f"--time {at.strftime('%H:%M')} does not exist once on {s.date.isoformat()} in {plan.protocol.timezone} "
                "(the clocks change then): choose another time"
            )
        minutes = s.duration_min + (observation or 0)
        dose = fmt_mg(s.dose_mg) if s.dose_mg is not None else "dose not drafted"
        if observation is not None:
            timing = f"Infusion {fmt_minutes(s.duration_min)} + observation {fmt_minutes(observation)}."
        else:
            timing = (
                f"Infusion {fmt_minutes(s.duration_min)}; the protocol gives no observation time "
                "([schedule] observation): book it on top."
            )
        lines = [
            (
                f"Patient {plan.patient.id}. Protocol {plan.protocol.id} version {plan.protocol.version}, "
                f"{s.phase} phase, session {s.number}."
            ),
            timing,
            (
                f"DRAFT plan, verdict {plan.verdict}, digest {digest}: a clinician checks and signs the plan "
                "before any session is given."
            ),
        ]
        event = Event()
        event.add("uid", uid(plan, s.number))
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("duration", timedelta(minutes=minutes))
        event.add("summary", f"Ketamine session {s.number} ({dose}) - patient {plan.patient.id}")
        event.add("description", "\n".join(lines))
        event.add("status", "TENTATIVE")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    if plan.sessions:
        # The zone's rules for the years around the sessions (a whole year either side).
        first, last = plan.sessions[0].date, plan.sessions[-1].date
        cal.add_missing_timezones(
            first_date=first.replace(year=first.year - 1, day=1),
            last_date=last.replace(year=last.year + 2, month=1, day=1),
        )
    if not plan.sessions:
        # An excluded plan has no sessions: the calendar says so rather than being silently empty.
        cal.add("x-ketaplan-note", f"No sessions: the plan's verdict is {plan.verdict}.")
    return cal


def plan_ics_text(plan: Plan, at: time) -> str:
    data = plan_calendar(plan, at).to_ical()
    return data.decode("utf-8")
