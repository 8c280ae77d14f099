"""Three-valued evaluation of the `when` keys over the course (spec/course.md, "Protocol: rules over
the course"). Missing data is unknown, never false: a session with nothing recorded cannot show that
a reading stayed below a threshold."""

from __future__ import annotations

from ketaplan.engine.facts import Facts
from ketaplan.engine.logic import FALSE, TRUE, UNKNOWN, Evidence, Result, _all, _fact, _unknown
from ketaplan.model.course import fmt_change_pct as pct
from ketaplan.units import fmt_number

SCALE_WORDS = {"phq9": "PHQ-9", "madrs": "MADRS", "gad7": "GAD-7", "pain_nrs": "pain NRS"}


def course_clause(key: str, value, facts: Facts) -> Result:
    cf = facts.course
    series = cf.series if cf is not None else ()
    n = len(series)
    counted = f"{n} session{'s' if n != 1 else ''} in the current series"
    if key == "series_sessions_at_least":
        return _fact(n >= value, f"{counted}, {'at least' if n >= value else 'below'} {value}")
    if key in ("response_below", "response_at_least"):
        by_scale = {r.scale: r for r in (cf.response if cf is not None else ())}
        parts = []
        for scale, bound in value:
            r = by_scale.get(scale)
            words = SCALE_WORDS.get(scale, scale)
            if r is None or r.change_pct is None:
                why = _why_unknown(r, series)
                parts.append(_unknown(f"{words} response is unknown: {why}"))
                continue
            at_least = r.change_pct >= bound
            holds = at_least if key == "response_at_least" else not at_least
            parts.append(
                _fact(
                    holds,
                    f"{words} {r.baseline} -> {r.latest} on {r.latest_on.isoformat()}: change {pct(r.change_pct)} "
                    f"is {'at least' if at_least else 'below'} {fmt_number(bound, 2)} %",
                )
            )
        return _all(parts)
    if key == "stopped_early":
        stopped = [i for i in series if not i.completed]
        words = (
            "; ".join(f"stopped early on {i.date.isoformat()}: {i.stopped_because or 'no reason recorded'}" for i in stopped)
            if stopped
            else f"no session stopped early ({counted})"
        )
        return _fact(bool(stopped) == value, words)
    if not series:
        return _fact(FALSE, "no sessions in the current series")
    if key == "peak_blood_pressure_at_least":
        ls, ld = value
        hits, missing = [], []
        for i in series:
            readings = [v for v in i.vitals or () if v.blood_pressure is not None]
            if not readings:
                missing.append(i)
            for v in readings:
                s, d = v.blood_pressure
                if s >= ls or d >= ld:
                    hits.append(f"{s}/{d} mmHg at minute {v.minute} on {i.date.isoformat()} is at or above {ls}/{ld}")
        return _any_session(hits, missing, "no blood pressure reading recorded", f"every reading below {ls}/{ld}")
    if key == "adverse_event":
        hits, missing = [], []
        for i in series:
            if i.adverse_events is None:
                missing.append(i)
                continue
            for e in i.adverse_events:
                if e in value:
                    detail = f" ({i.adverse_event_detail})" if e == "other" and i.adverse_event_detail else ""
                    hits.append(f"{e}{detail} recorded on {i.date.isoformat()}")
        return _any_session(hits, missing, "adverse events not recorded", "none of " + ", ".join(value) + " recorded")
    if key in ("dissociation_at_least", "sedation_at_most"):
        field = "dissociation" if key == "dissociation_at_least" else "sedation"
        label = "CADSS" if field == "dissociation" else "MOAA/S"
        hits, missing = [], []
        for i in series:
            x = getattr(i, field)
            if x is None:
                missing.append(i)
                continue
            hit = x >= value if field == "dissociation" else x <= value
            if hit:
                word = "at least" if field == "dissociation" else "at most"
                hits.append(f"{field} {label} {x} on {i.date.isoformat()} is {word} {value}")
        bound = f"below {value}" if field == "dissociation" else f"above {value}"
        return _any_session(hits, missing, f"{field} not recorded", f"every {field} score {bound}")
    raise AssertionError(f"unhandled course key {key!r}")


def _any_session(hits, missing, missing_words: str, none_words: str) -> Result:
    """True if any session shows it; else unknown if a session recorded nothing; else false."""
    if hits:
        return Result(TRUE, tuple(Evidence(h) for h in hits))
    if missing:
        return Result(
            UNKNOWN, tuple(Evidence(f"{missing_words} for the session of {i.date.isoformat()}", unknown=True) for i in missing)
        )
    return _fact(FALSE, none_words)


def _why_unknown(r, series) -> str:
    if not series:
        return "no session in the current series"
    if r is None or r.baseline is None:
        return "no baseline score"
    if r.baseline == 0:
        return "the baseline score is 0"
    return f"no assessment since the series began on {series[0].date.isoformat()}"
