"""Session dates: the first allowed clinic day on or after each minimum gap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from ketaplan.errors import ProtocolError
from ketaplan.model.protocol import WEEKDAYS, Schedule

#: Searching further than this for an open day means the protocol's calendar has none.
SEARCH_DAYS = 366

HolidayProvider = Callable[[int], frozenset[date]]


def first_allowed(
    earliest: date, weekdays: frozenset[int], schedule: Schedule, holidays: HolidayProvider | None, what: str
) -> date:
    day = earliest
    for _ in range(SEARCH_DAYS + 1):
        if (
            day.weekday() in weekdays
            and day not in schedule.closed
            and not (schedule.holidays and holidays is not None and day in holidays(day.year))
        ):
            return day
        day += timedelta(days=1)
    names = ", ".join(WEEKDAYS[d] for d in sorted(weekdays))
    raise ProtocolError(
        f"no allowed date within {SEARCH_DAYS} days of {earliest.isoformat()} for {what} "
        f"(days {names}, minus holidays and closed dates)",
        field="schedule",
    )


def session_dates(
    schedule: Schedule, start: date, last_infusion: date | None, holidays: HolidayProvider | None, skip: int = 0
) -> list[tuple[int, date]]:
    """(phase index, date) for every session, in order; `skip` sessions already given (a continued
    series: the first drafted one follows `last_infusion` by its phase's min_gap_days)."""
    out: list[tuple[int, date]] = []
    previous = None
    position = 0
    for index, phase in enumerate(schedule.phases):
        weekdays = phase.days or schedule.days
        for n in range(phase.sessions):
            position += 1
            if position <= skip:
                continue
            if previous is None:
                earliest = start
                if last_infusion is not None:
                    earliest = max(start, last_infusion + timedelta(days=phase.min_gap_days))
            else:
                earliest = previous + timedelta(days=phase.min_gap_days)
            previous = first_allowed(earliest, weekdays, schedule, holidays, f"phase {phase.name!r} session {n + 1}")
            out.append((index, previous))
    return out
