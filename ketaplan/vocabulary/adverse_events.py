"""The closed list of adverse events a session record may name (spec/course.md).

A closed list, not free text: a rule `adverse_event = ["hypertension"]` must find every session that
recorded it, so a misspelt event is a load error with close matches, never silently unmatched.
"""

from __future__ import annotations

ADVERSE_EVENTS: tuple[str, ...] = (
    "nausea",
    "vomiting",
    "headache",
    "dizziness",
    "hypertension",
    "tachycardia",
    "bradycardia",
    "desaturation",
    "agitation",
    "anxiety",
    "emergence reaction",
    "hallucinations",
    "excessive sedation",
    "dissociation distress",
    "urinary symptoms",
    "suicidal thoughts",
    "other",
)

#: `other` needs `adverse_event_detail = "..."` beside it.
OTHER = "other"


def close_matches(name: str) -> str:
    """" (did you mean 'nausea'?)" or "", for an error message."""
    import difflib

    key = " ".join(name.lower().replace("_", " ").replace("-", " ").split())
    if key in ADVERSE_EVENTS:
        return f" (did you mean {key!r}?)"
    close = difflib.get_close_matches(key, ADVERSE_EVENTS, n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
