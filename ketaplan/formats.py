"""The input formats' keys, ranges and patterns, in one place (docs/spec/patient.md, protocol.md, course.md).

Three readers, one source:
- the loader (`ketaplan/load/`) validates with them; it stays the only validator and `tomllib` the only parser;
- `ketaplan protocol schema` (`ketaplan/authoring/schema.py`) describes them to editors;
- the CSV columns (`ketaplan/load/csv_patients.py`) are named and typed from them.

A key, a range or a pattern changes here, and in `docs/spec/`; `tests/test_formats.py` feeds every hostile
protocol to the schema and to the loader and fails where they disagree. Plain tuples, dicts and strings only:
this module is imported on every start (no dataclasses, no compiled patterns at import).

Patterns are written in the common subset of Python `re` and ECMA-262 (what JSON Schema validators use):
ASCII classes (`[0-9]`, never `\\d`), no inline flags (case-insensitive units are spelt `[kK][gG]`). What the
schema is given has no lookaround either (Taplo, the editors' TOML checker, does not support it): a rule
that needs two conditions is given as two patterns, both of which must match. The loader matches a pattern
with `re.fullmatch`, after stripping the value where it strips it; the schema anchors it (`anchored`,
`stripped`, `quantity_schema_pattern`).
"""

# ---------------------------------------------------------------------------------------------------
# Ranges, inclusive (lo, hi)

#: Rating scales: whole numbers within the scale (spec/patient.md [scores]).
SCORE_RANGES: dict[str, tuple[int, int]] = {
    "phq9": (0, 27),
    "madrs": (0, 60),
    "gad7": (0, 21),
    "pain_nrs": (0, 10),
}

#: The patient format's plausibility limits (spec/patient.md), inclusive. A protocol's `when`
#: thresholds are held to the same limits (spec/protocol.md): a threshold outside them is a typo.
LIMITS: dict[str, tuple[int, int]] = {
    "age": (0, 120),
    "weight_kg": (2, 400),
    "height_cm": (40, 250),
    "bmi": (10, 100),
    "systolic": (50, 300),
    "diastolic": (20, 200),
    "heart_rate": (20, 250),
    "spo2": (50, 100),
}

#: MOAA/S 0..5 (5 = awake); CADSS total 0..92 (23 items x 0..4): clinical-facts.md section 9.
SEDATION_RANGE = (0, 5)
DISSOCIATION_RANGE = (0, 92)
#: A reading more than a day after the start of the infusion is not a reading of that session.
MAX_MINUTE = 1440

#: Whole numbers of the protocol format, by "table.key" (spec/protocol.md, course.md).
INT_RANGES: dict[str, tuple[int, int]] = {
    "dose.weight_valid_days": (1, 3650),
    "phase.sessions": (1, 200),
    "phase.min_gap_days": (1, 366),
    "phase.within_days": (1, 3660),
    "course.restart_after_days": (1, 3650),
    "course.vitals_at_minutes": (0, MAX_MINUTE),
    "expect.numbers": (1, 1000),
}

#: The upper bound of a per-kg dose, by the protocol's dose mode: mg/kg (0, 2], mg/kg/h (0, 7].
DOSE_UPPER: dict[str, int] = {"mg_per_kg": 2, "mg_per_kg_per_hour": 7}

#: An adjust rule's dose_factor is in (0, DOSE_FACTOR_MAX]: it lowers a dose, never raises it.
DOSE_FACTOR_MAX = 1
#: The course's response and partial-response thresholds are % reductions in (0, PERCENT_MAX].
PERCENT_MAX = 100

#: No number in a protocol is beyond this in size (the loader refuses it as "far outside any plausible
#: value"; the schema gives it as the `maximum` of the numbers with no upper limit of their own).
LARGEST_NUMBER = 10**12

# ---------------------------------------------------------------------------------------------------
# Keys: every table's keys in the order the spec lists them. A key not listed is an error where it stands.

# The patient file (spec/patient.md, course.md)
PATIENT_KEYS = (
    "id", "date_of_birth", "age", "sex", "height", "weight", "weighed_on", "pregnant", "breastfeeding",
    "blood_pressure", "heart_rate", "spo2", "allergies", "conditions", "medications", "scores", "infusions",
    "assessments",
)  # fmt: skip
CONDITION_KEYS = ("name", "code", "status", "snomed")
MEDICATION_KEYS = ("name", "dose", "schedule", "as_needed")
SCORES_KEYS = (*SCORE_RANGES, "scored_on")
INFUSION_KEYS = (
    "date", "dose", "protocol", "duration", "completed", "stopped_because", "vitals", "sedation", "dissociation",
    "observed", "adverse_events", "adverse_event_detail",
)  # fmt: skip
#: The [[infusions]] keys of the first v1 files (a file with only these is sorted, not checked for order).
V1_INFUSION_KEYS = ("date", "dose", "protocol")
VITAL_KEYS = ("minute", "blood_pressure", "heart_rate", "spo2")
ASSESSMENT_KEYS = ("date", *SCORE_RANGES)
SEXES = ("female", "male")
CONDITION_STATUSES = ("active", "history")

#: The CSV columns (spec/patient.md "Many patients at once"), in the order the spec lists them, with the
#: kind of value a cell holds; every column is a patient key, or a score (under [scores] in TOML).
CSV_COLUMNS: dict[str, str] = {
    "id": "text", "age": "integer", "date_of_birth": "date", "sex": "text", "height": "text", "weight": "text",
    "weighed_on": "date", "pregnant": "boolean", "breastfeeding": "boolean", "blood_pressure": "text",
    "heart_rate": "integer", "spo2": "integer", **{scale: "integer" for scale in SCORE_RANGES},
    "allergies": "list", "conditions": "list", "medications": "list", "infusions": "infusions",
}  # fmt: skip
#: Columns without which no row could ever be a usable patient: missing one fails the whole file.
CSV_REQUIRED = ("id", "sex", "height", "weight")

# The protocol file (spec/protocol.md, course.md)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EFFECTS = ("exclude", "review", "adjust", "hold", "check", "note", "titrate")
WEIGHT_BASES = ("actual", "ideal", "adjusted", "lean")
STAGES = ("pre", "during", "after")

TOP_KEYS = ("protocol", "drug", "dose", "schedule", "checklist", "rule", "vocabulary", "test", "course")
PROTOCOL_KEYS = ("id", "title", "version", "indication", "indications", "approved_by", "review_due", "sources")
DRUG_KEYS = ("name", "route", "stock", "bag", "final_concentration")
DOSE_KEYS = (
    "mg_per_kg", "mg_per_kg_per_hour", "duration", "weight_basis", "max_mg", "max_mg_per_hour", "round_to",
    "weight_valid_days",
)  # fmt: skip
SCHEDULE_KEYS = ("days", "holidays", "closed", "phase", "timezone", "observation")
PHASE_KEYS = ("name", "sessions", "min_gap_days", "within_days", "mg_per_kg", "mg_per_kg_per_hour", "days")
CHECKLIST_KEYS = STAGES
TITRATE_KEYS = ("mg_per_kg", "mg_per_kg_per_hour")
RULE_KEYS = (
    "id", "effect", "when", "message", "source", "dose_factor", "weight_basis", "max_mg", "hold", "stage", "item",
    *TITRATE_KEYS,
)  # fmt: skip
VOCABULARY_KEYS = ("conditions", "drugs")
TEST_KEYS = ("name", "start", "patient", "expect", "course")
EXPECT_KEYS = ("verdict", "findings", "findings_exact", "first_dose_mg", "dates", "doses_mg", "numbers")
COURSE_TABLE_KEYS = ("restart_after_days", "response_at_least", "partial_at_least", "remission_below", "vitals_at_minutes")

#: Effect-specific fields of a rule, so that a field given to the wrong effect is an error, not ignored.
EFFECT_FIELDS = {
    "adjust": ("dose_factor", "weight_basis", "max_mg"),
    "hold": ("hold",),
    "check": ("stage", "item"),
    "titrate": TITRATE_KEYS,
}

#: `when` thresholds, with their ranges. Every threshold is held to the patient format's plausibility
#: limits (LIMITS): "180/1000" or `bmi_at_least = 500` is a typo that would make a rule never (or always)
#: fire, silently.
WHEN_NUMBER_KEYS = {
    "weight_kg_at_least": LIMITS["weight_kg"],
    "weight_kg_below": LIMITS["weight_kg"],
    "bmi_at_least": LIMITS["bmi"],
    "bmi_below": LIMITS["bmi"],
}
WHEN_INT_KEYS = {
    "age_at_least": LIMITS["age"],
    "age_below": LIMITS["age"],
    "systolic_at_least": LIMITS["systolic"],
    "diastolic_at_least": LIMITS["diastolic"],
    "heart_rate_at_least": LIMITS["heart_rate"],
    "heart_rate_below": LIMITS["heart_rate"],
    "spo2_below": LIMITS["spo2"],
    "sessions_given_at_least": (0, 1000),
    "days_since_last_infusion_below": (1, 100000),
}
WHEN_NAME_KEYS = ("condition", "active_condition", "medication", "allergy")
#: `when` keys over the course (evaluated by engine.course_rules); the whole-number ones with their ranges.
COURSE_INT_KEYS = {
    "series_sessions_at_least": (0, 1000),
    "dissociation_at_least": DISSOCIATION_RANGE,
    "sedation_at_most": SEDATION_RANGE,
}
COURSE_WHEN_KEYS = (
    *COURSE_INT_KEYS, "response_below", "response_at_least", "peak_blood_pressure_at_least", "adverse_event",
    "stopped_early",
)  # fmt: skip
#: A course `response_*` threshold: % reduction from baseline.
RESPONSE_RANGE = (-100, 100)
WHEN_KEYS = (
    *WHEN_INT_KEYS, *WHEN_NUMBER_KEYS, *WHEN_NAME_KEYS, "sex", "blood_pressure_at_least", "pregnant",
    "breastfeeding", "score_at_least", "score_below", "missing", "any", "not", *COURSE_WHEN_KEYS,
)  # fmt: skip
#: Fields a `missing` test may name. Not pregnant/breastfeeding: their absence already means
#: "unknown", which `pregnant = "unknown"` tests directly; not the required fields.
MISSING_FIELDS = (
    "date_of_birth", "weighed_on", "blood_pressure", "heart_rate", "spo2", "allergies", "conditions",
    "medications", "scores", "infusions", *(f"scores.{s}" for s in SCORE_RANGES),
)  # fmt: skip
#: Deeper `when` nesting than this is refused: no clinic rule needs it, and it guards the loader.
MAX_WHEN_DEPTH = 8

# ---------------------------------------------------------------------------------------------------
# Patterns (see the module's note on their dialect)

#: Text: not empty and not only white space (the loader's "must not be empty").
NOT_BLANK = r"\S"
#: A patient id: 1 to 64 of these characters, at least one of them a letter or digit (never ".", "..").
PATIENT_ID_CHARS = r"[A-Za-z0-9._-]{1,64}"
PATIENT_ID_ALNUM = r"[A-Za-z0-9]"
PATIENT_ID = rf"(?=.*{PATIENT_ID_ALNUM}){PATIENT_ID_CHARS}"  # the loader's one pattern (Python; lookahead)
PATIENT_ID_HINT = "use 1 to 64 letters, digits, '.', '_' or '-' (a pseudonymous id, never a path or a name)"
PROTOCOL_ID = r"[a-z0-9]+(-[a-z0-9]+)*"
#: The protocol id an infusion was given under (an older, looser form than PROTOCOL_ID, kept valid).
INFUSION_PROTOCOL = r"[a-z0-9-]{1,64}"
RULE_ID = r"[A-Z0-9]+(-[A-Z0-9]+)*"
#: A SNOMED CT concept id: 6 to 18 digits, the partition identifier (the 2nd and 3rd from last) 00 or 10.
SNOMED = r"[1-9][0-9]{2,14}[01]0[0-9]"
#: An ICD-10 code (matched upper-cased and stripped): "F33.2", "I10".
ICD10 = r"[A-Z][0-9]{2}(?:\.?[A-Z0-9]{1,4})?"
#: An IANA time zone name: a relative path of plain segments, nothing that could climb out of the zone folder.
TIMEZONE = r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9][A-Za-z0-9_+-]*)*"
LONGEST_TIMEZONE = 64
#: A public holidays region: a country code, optionally with a subdivision ("GB-ENG", "US-NY").
REGION = r"[A-Z]{2}(-[A-Z0-9]{1,4})?"

#: A quantity is at most this many characters once stripped: nobody writes a longer one.
LONGEST_QUANTITY = 40
#: A quantity's number: digits, at most one '.', no sign, no exponent, no comma (spec/patient.md).
NUMBER = r"[0-9]+(?:\.[0-9]+)?"
#: Accepted units by quantity, lowercase; matched ignoring case (spec/patient.md "Quantities").
WEIGHT_UNITS = ("kg", "lb", "lbs")
HEIGHT_UNITS = ("cm", "m", "in")
MASS_UNITS = ("mg",)
VOLUME_UNITS = ("ml",)
CONCENTRATION_UNITS = ("mg/ml",)
#: "138/86": systolic/diastolic in whole mmHg, with no unit written (spec/patient.md, protocol.md "S/D").
BLOOD_PRESSURE = r"([0-9]{1,4}) */ *([0-9]{1,4})"


def any_case(word: str) -> str:
    """`word` matched ignoring case, in a pattern without flags: "mg/ml" -> "[mM][gG]/[mM][lL]"."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


#: A NUMBER above zero: a digit 1-9 before the point, or after it.
POSITIVE_NUMBER = r"(?:[0-9]*[1-9][0-9]*(?:\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*)"


def quantity_pattern(units: tuple[str, ...]) -> str:
    """A positive number, an optional single space, one of `units` (any case): the form `units._simple` reads."""
    unit = "|".join(any_case(u) for u in sorted(units, key=len, reverse=True))
    return rf"{POSITIVE_NUMBER} ?(?:{unit})"


def height_pattern() -> str:
    """A height: a quantity in HEIGHT_UNITS, or whole feet with inches below 12 ("5 ft 10 in", "5 ft"), above 0."""
    ft, inch = any_case("ft"), any_case("in")
    inches = r"0*(?:1[01]|[0-9])(?:\.[0-9]+)?"
    some_inches = r"(?:0*(?:1[01]|[1-9])(?:\.[0-9]+)?|0+\.[0-9]*[1-9][0-9]*)"
    feet = rf"(?:[0-9]*[1-9][0-9]* ?{ft}(?: ?{inches} ?{inch})?|0+ ?{ft} ?{some_inches} ?{inch})"
    return rf"(?:{feet}|{quantity_pattern(HEIGHT_UNITS)})"


def duration_pattern() -> str:
    """Whole minutes above zero: "40 min", "4 h", "1 h 30 min" (minutes after hours below 60)."""
    h, m = any_case("h"), any_case("min")
    nonzero = "0*[1-9][0-9]*"
    under_60 = "0*[0-5]?[0-9]"
    nonzero_under_60 = "0*(?:[1-5][0-9]|[1-9])"
    return (
        rf"(?:{nonzero} ?{h}(?: ?{under_60} ?{m})?"
        rf"|0+ ?{h} ?{nonzero_under_60} ?{m}"
        rf"|{nonzero} ?{m})"
    )


#: A session's duration or observation may also be decimal hours that make whole minutes (spec/course.md).
DECIMAL_HOURS = r"([0-9]+\.[0-9]+)\s*h"


def decimal_hours_pattern() -> str:
    """DECIMAL_HOURS that make whole minutes above zero: a multiple of 0.05 h ("1.5 h" = 90 min, "0.25 h")."""
    return r"(?:[0-9]*[1-9][0-9]*\.(?:[0-9]|[0-9][05])|[0-9]+\.(?:[1-9]|[1-9][05]|05))0*\s*h"


def anchored(pattern: str) -> str:
    """`pattern` as a JSON Schema `pattern` for a value the loader matches as it stands (an id)."""
    return f"^(?:{pattern})$"


def stripped(pattern: str) -> str:
    """`pattern` as a JSON Schema `pattern` for a value the loader strips of white space first (a code)."""
    return rf"^\s*(?:{pattern})\s*$"


def quantity_schema_pattern(pattern: str) -> tuple[str, str]:
    """A quantity's patterns for the schema, both to match: its form, with the white space around it that
    `units` strips; and at most LONGEST_QUANTITY characters once stripped (a first and a last non-space
    character with at most LONGEST_QUANTITY - 2 between them)."""
    return stripped(pattern), rf"^\s*(?:\S|\S.{{0,{LONGEST_QUANTITY - 2}}}\S)\s*$"
