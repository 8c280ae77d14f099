"""`ketaplan protocol schema`: the JSON Schema of the protocol format, built from ketaplan/formats.py, the
keys, ranges and patterns the loader validates with. The loader stays the only validator: the schema is for
editors, and tests/test_formats.py fails where the two disagree on something a schema can express."""

from __future__ import annotations

import json
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# The schema uses only keywords that mean the same in draft 7 and in 2020-12: editors such as
# Even Better TOML (Taplo) validate with draft 7 whatever `$schema` says. TOML dates reach a
# JSON Schema validator as ISO strings, hence {"type": "string", "format": "date"}.


def schema() -> dict[str, Any]:
    """The schema as a dict. Every table's properties are exactly the format's key tuple (ketaplan/formats.py)."""
    from ketaplan import formats as L
    from ketaplan.formats import EFFECTS, SCORE_RANGES, STAGES, WEEKDAYS, WEIGHT_BASES
    from ketaplan.model.plan import BUILTIN_IDS, VERDICTS

    text = _text
    date = {"type": "string", "format": "date", "description": "A date with no quotes, e.g. 2026-12-01."}
    texts = {"type": "array", "items": _nonblank()}
    weekdays = {"type": "array", "minItems": 1, "items": {"enum": list(WEEKDAYS)}}
    rule_id = {"type": "string", "pattern": L.anchored(L.RULE_ID)}

    def number(description: str, *, gt=None, le=None, ge=None) -> dict:
        out: dict[str, Any] = {"type": "number", "description": description}
        if gt is not None:
            out["exclusiveMinimum"] = gt
        if ge is not None:
            out["minimum"] = ge
        # A number with no limit of its own is still refused beyond LARGEST_NUMBER (and so is 1e400).
        out["maximum"] = L.LARGEST_NUMBER if le is None else le
        return out

    def integer(description: str, lo=None, hi=None) -> dict:
        out: dict[str, Any] = {"type": "integer", "description": description}
        if lo is not None:
            out["minimum"] = lo
        if hi is not None:
            out["maximum"] = hi
        return out

    def per_session(description: str, upper: int) -> dict:
        one = {"type": "number", "exclusiveMinimum": 0, "maximum": upper}
        return {"description": description, "anyOf": [one, {"type": "array", "minItems": 1, "items": one}]}

    protocol = _object(
        "protocol",
        L.PROTOCOL_KEYS,
        {
            "id": text("Required. The protocol's id: lowercase letters, digits and -.", pattern=L.anchored(L.PROTOCOL_ID)),
            "title": text("Required. The protocol's title, for people."),
            "version": text("Required. The version the medical lead approved, e.g. \"2026.11\"."),
            "indication": text("Free text, for people."),
            "indications": dict(
                texts,
                description="Vocabulary names: a patient with none of them active gets INDICATION-NOT-RECORDED "
                "(needs-review).",
            ),
            "approved_by": text("Who approved this version."),
            "review_due": dict(
                date,
                description="A plan with a session after this date gets PROTOCOL-REVIEW-OVERDUE (needs-review).",
            ),
            "sources": dict(texts, description="The published sources and local policy the numbers come from."),
        },
        required=("id", "title", "version"),
        description="Who wrote the protocol, which version, and where its numbers come from.",
    )
    concentration = L.quantity_schema_pattern(L.quantity_pattern(L.CONCENTRATION_UNITS))
    duration = L.quantity_schema_pattern(L.duration_pattern())
    drug = _object(
        "drug",
        L.DRUG_KEYS,
        {
            "name": text("Required. A vocabulary name, e.g. \"ketamine\"."),
            "route": text("e.g. \"IV\"."),
            "stock": text(
                "Stock concentration, e.g. \"10 mg/mL\": volume to draw = dose / stock.", pattern=concentration
            ),
            "bag": text(
                "The bag's final volume, e.g. \"100 mL\": pump rate = bag / duration. At most one of bag and "
                "final_concentration.",
                pattern=L.quantity_schema_pattern(L.quantity_pattern(L.VOLUME_UNITS)),
            ),
            "final_concentration": text(
                "A fixed concentration, e.g. \"1 mg/mL\": pump rate = (mg/h) / concentration. At most one of bag "
                "and final_concentration.",
                pattern=concentration,
            ),
        },
        required=("name",),
        description="The drug, its stock and how it is diluted.",
        extra={"not": {"required": ["bag", "final_concentration"]}},
    )
    dose = _object(
        "dose",
        L.DOSE_KEYS,
        {
            "mg_per_kg": number(f"Total per session, mg/kg, above 0 and at most {L.DOSE_UPPER['mg_per_kg']}. Exactly "
                                "one of mg_per_kg and mg_per_kg_per_hour.", gt=0, le=L.DOSE_UPPER["mg_per_kg"]),  # fmt: skip
            "mg_per_kg_per_hour": number(
                f"An hourly rate, mg/kg/h, above 0 and at most {L.DOSE_UPPER['mg_per_kg_per_hour']} (a rate protocol).",
                gt=0,
                le=L.DOSE_UPPER["mg_per_kg_per_hour"],
            ),
            "duration": text("Whole minutes: \"40 min\", \"4 h\", \"1 h 30 min\".", pattern=duration),
            "weight_basis": {
                "enum": list(WEIGHT_BASES),
                "description": "The weight the dose is computed on: actual, ideal (Devine), adjusted or lean "
                "(Janmahasatian). Default actual.",
            },
            "max_mg": number("Required. The hard cap for one session, mg; a multiple of round_to.", gt=0),
            "max_mg_per_hour": number(
                "Required for rate protocols (an error otherwise): the cap on the hourly rate, mg/h.", gt=0
            ),
            "round_to": number("Doses are rounded to the nearest multiple of this, mg; an exact half rounds down. "
                               "Default 1.", gt=0),  # fmt: skip
            "weight_valid_days": integer(
                "How old (days) a weight may be at session 1; older, or no weighed_on, gives WEIGHT-OUT-OF-DATE.",
                *L.INT_RANGES["dose.weight_valid_days"],
            ),
        },
        required=("duration", "max_mg"),
        description="How the dose is computed: amount, duration, weight basis, rounding and caps.",
        extra={"allOf": _dose_mode_rules()},
    )
    phase = _object(
        "schedule.phase",
        L.PHASE_KEYS,
        {
            "name": text("Required. The phase's name, e.g. \"induction\"; unique."),
            "sessions": integer("Required. The number of sessions in the phase.", *L.INT_RANGES["phase.sessions"]),
            "min_gap_days": integer(
                "Required. Days after the previous session (also across phases, and after the patient's last "
                "recorded infusion).",
                *L.INT_RANGES["phase.min_gap_days"],
            ),
            "within_days": integer(
                "The phase's last date minus its first may be at most this; else SCHEDULE-OVERRUN (needs-review).",
                *L.INT_RANGES["phase.within_days"],
            ),
            "mg_per_kg": per_session(
                "Optional: one number, or one per session, for a mg_per_kg protocol; else the [dose] value.",
                L.DOSE_UPPER["mg_per_kg"],
            ),
            "mg_per_kg_per_hour": per_session(
                "Optional: one number, or one per session, for a rate protocol; else the [dose] value.",
                L.DOSE_UPPER["mg_per_kg_per_hour"],
            ),
            "days": dict(weekdays, description="Weekdays this phase's sessions may fall on (else the schedule's)."),
        },
        required=("name", "sessions", "min_gap_days"),
        description="One phase of the series, e.g. induction.",
    )
    schedule = _object(
        "schedule",
        L.SCHEDULE_KEYS,
        {
            "days": dict(weekdays, description="Weekdays sessions may fall on: mon tue wed thu fri sat sun. Default "
                         "mon to fri."),  # fmt: skip
            "holidays": text("A region whose public holidays are closed, e.g. \"GB-ENG\".", pattern=L.anchored(L.REGION)),
            "closed": {"type": "array", "items": date, "description": "The clinic's own closed dates."},
            "timezone": dict(
                text("The clinic's IANA time zone, for calendar files (default \"Europe/London\").",
                     pattern=L.anchored(L.TIMEZONE)),
                maxLength=L.LONGEST_TIMEZONE,
            ),  # fmt: skip
            "observation": text(
                "Observation after each session, whole minutes: \"60 min\" (calendar events include it).", pattern=duration
            ),
            "phase": {
                "type": "array",
                "minItems": 1,
                "items": phase,
                "description": "[[schedule.phase]]: at least one.",
            },
        },
        required=("phase",),
        description="When sessions may fall: weekdays, holidays, closed dates and phases.",
    )
    checklist = _object(
        "checklist",
        L.CHECKLIST_KEYS,
        {
            "pre": dict(texts, description="Checks before each session."),
            "during": dict(texts, description="Checks during each session."),
            "after": dict(texts, description="Checks after each session."),
        },
        description="Items printed on every plan's checklists.",
    )

    names = {"type": "array", "minItems": 1, "items": _nonblank()}
    ref = {"$ref": "#/$defs/when"}
    when_props: dict[str, Any] = {}
    int_words = {
        "age_at_least": "Age in whole years is at least this.",
        "age_below": "Age in whole years is below this.",
        "systolic_at_least": "Baseline systolic blood pressure (mmHg) is at least this.",
        "diastolic_at_least": "Baseline diastolic blood pressure (mmHg) is at least this.",
        "heart_rate_at_least": "Baseline heart rate (per minute) is at least this.",
        "heart_rate_below": "Baseline heart rate (per minute) is below this.",
        "spo2_below": "Baseline SpO2 (%) is below this.",
        "sessions_given_at_least": "At least this many [[infusions]] are recorded.",
        "days_since_last_infusion_below": "The last recorded infusion was fewer than this many days before the start.",
    }
    for key, (lo, hi) in L.WHEN_INT_KEYS.items():
        when_props[key] = integer(int_words[key], lo, hi)
    number_words = {
        "weight_kg_at_least": "Actual weight (kg) is at least this.",
        "weight_kg_below": "Actual weight (kg) is below this.",
        "bmi_at_least": "BMI is at least this.",
        "bmi_below": "BMI is below this.",
    }
    for key, (lo, hi) in L.WHEN_NUMBER_KEYS.items():
        when_props[key] = number(number_words[key], ge=lo, le=hi)
    name_words = {
        "condition": "Any listed name or group matches a condition (active or history).",
        "active_condition": "Any listed name or group matches an active condition.",
        "medication": "Any listed drug or class matches a medication.",
        "allergy": "Any listed name or class matches an allergy.",
    }
    for key in L.WHEN_NAME_KEYS:
        words = name_words[key] + " Names come from the vocabulary (`ketaplan vocab`)."
        when_props[key] = dict(names, description=words)
    scores = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            k: {"type": "integer", "minimum": lo, "maximum": hi, "description": f"The {k} score ({lo} to {hi})."}
            for k, (lo, hi) in SCORE_RANGES.items()
        },
    }
    state = {"enum": [True, False, "unknown"]}
    blood_pressure = L.quantity_schema_pattern(L.BLOOD_PRESSURE)
    when_props.update(
        {
            "sex": {"enum": list(L.SEXES), "description": "The sex recorded at birth."},
            "blood_pressure_at_least": text(
                "\"S/D\": systolic at least S or diastolic at least D (no unit: mmHg).", pattern=blood_pressure
            ),
            "pregnant": dict(state, description="true, false or \"unknown\" (not recorded). A test of true or false "
                             "on an unrecorded state is unknown."),  # fmt: skip
            "breastfeeding": dict(state, description="true, false or \"unknown\" (not recorded)."),
            "score_at_least": dict(scores, description="e.g. { phq9 = 20 }: every score listed is at least that."),
            "score_below": dict(scores, description="e.g. { phq9 = 10 }: every score listed is below its number."),
            "missing": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": list(L.MISSING_FIELDS)},
                "description": "Any listed field is absent from the patient file.",
            },
            "any": {"type": "array", "minItems": 1, "items": ref, "description": "At least one of these tables holds."},
            "not": ref,
        }
    )
    when_props.update(_course_when(integer, number, text, blood_pressure))
    when = _object(
        "when",
        L.WHEN_KEYS,
        when_props,
        description="The conditions of a rule: all keys given must hold. Missing data fails closed: a test on an "
        "absent value is unknown, not false.",
        extra={"minProperties": 1},  # an empty `when` would hold for every patient: a rule left half-written
    )

    rule_props = {
        "id": dict(
            rule_id,
            description="Required, unique: capital letters, digits and -, e.g. EXCL-PSYCHOSIS. The ids of the "
            "findings ketaplan adds itself are reserved.",
            **{"not": {"enum": list(BUILTIN_IDS)}},
        ),
        "effect": {
            "enum": list(EFFECTS),
            "description": "exclude | review | adjust | hold | check | note | titrate. Unknown conditions act toward the "
            "safe side: exclude and review give a needs-review finding, adjust applies where lower, hold lists "
            "\"to confirm\", check adds its item, note does nothing.",
        },
        "when": {"$ref": "#/$defs/when"},
        "message": text("Required. What the finding says."),
        "source": text("The citation for this rule."),
        "dose_factor": number(
            f"adjust: multiplies the dose, above 0 and at most {L.DOSE_FACTOR_MAX}.", gt=0, le=L.DOSE_FACTOR_MAX
        ),
        "weight_basis": {"enum": list(WEIGHT_BASES), "description": "adjust: replaces the protocol's weight basis."},
        "max_mg": number("adjust: a lower cap for one session, mg.", gt=0),
        "hold": text("hold: what to do with the matched medicines."),
        "stage": {"enum": list(STAGES), "description": "check: the checklist the item goes on."},
        "item": text("check: the checklist item."),
        "mg_per_kg": number(
            "titrate: the per-session mg/kg the sessions still to be given use instead of the phase's (a mg_per_kg "
            "protocol). Unknown: applied only where it lowers the dose; of several, the lowest wins; caps still apply.",
            gt=0,
            le=2,
        ),
        "mg_per_kg_per_hour": number("titrate: the same, for a rate protocol (mg/kg/h).", gt=0, le=7),
    }
    effect_rules = [
        {"if": _effect_is("adjust"), "then": {"anyOf": [{"required": [k]} for k in L.EFFECT_FIELDS["adjust"]]}},
        {
            "if": _effect_is("hold"),
            "then": {"required": ["hold", "when"], "properties": {"when": {"$ref": "#/$defs/names_medication"}}},
        },
        {"if": _effect_is("check"), "then": {"required": ["stage", "item"]}},
        {"if": _effect_is("titrate"), "then": {"oneOf": [{"required": [k]} for k in L.EFFECT_FIELDS["titrate"]]}},
    ]
    for effect, fields in L.EFFECT_FIELDS.items():
        others = {"not": {"anyOf": [{"required": [k]} for k in fields]}}
        effect_rules.append({"if": {"not": _effect_is(effect)}, "then": others})
    rule = _object(
        "rule",
        L.RULE_KEYS,
        rule_props,
        required=("id", "effect", "message"),
        description="One rule of the clinic's policy.",
        extra={"allOf": effect_rules},
    )

    vocabulary = _object(
        "vocabulary",
        L.VOCABULARY_KEYS,
        {
            "conditions": {
                "type": "object",
                "additionalProperties": texts,
                "description": "Condition group (existing or new) = names to add to it.",
            },
            "drugs": {
                "type": "object",
                "additionalProperties": texts,
                "description": "Drug class (existing or new) = names to add to it.",
            },
        },
        description="Names added to the built-in vocabulary.",
    )

    patient = _patient_schema(L, SCORE_RANGES, text, date, texts)
    expect = _object(
        "test.expect",
        L.EXPECT_KEYS,
        {
            "verdict": {"enum": list(VERDICTS), "description": "The expected verdict."},
            "findings": dict(texts, items=rule_id, description="Finding ids the plan must include."),
            "findings_exact": dict(texts, items=rule_id, description="Exactly these finding ids, no others."),
            "first_dose_mg": {
                "anyOf": [{"type": "number", "minimum": 0, "maximum": L.LARGEST_NUMBER}, {"const": "none"}],
                "description": "The first session's dose in mg, or \"none\" when no dose is drafted.",
            },
            "dates": {"type": "array", "items": date, "description": "Every session date, in order."},
            "doses_mg": {
                "type": "array",
                "items": {"anyOf": [{"type": "number", "minimum": 0, "maximum": L.LARGEST_NUMBER}, {"const": "none"}]},
                "description": "Every drafted session's dose in mg, in order (\"none\" where no dose is drafted).",
            },
            "numbers": {
                "type": "array",
                "items": {
                    "type": "integer",
                    "minimum": L.INT_RANGES["expect.numbers"][0],
                    "maximum": L.INT_RANGES["expect.numbers"][1],
                },
                "description": "Every drafted session's number, in order (a continued series goes on from the record).",
            },
        },
        description="What the plan must show.",
    )
    test = _object(
        "test",
        L.TEST_KEYS,
        {
            "name": text("Required. What the case shows."),
            "start": dict(date, description="Required. The plan's start date."),
            "patient": patient,
            "expect": expect,
            "course": {
                "type": "boolean",
                "description": "true: continue the patient's current series, as `ketaplan course` does.",
            },
        },
        required=("name", "start", "patient", "expect"),
        description="One of the clinic's own examples, run by `ketaplan protocol test`.",
    )

    top = _object(
        "protocol file",
        L.TOP_KEYS,
        {
            "protocol": protocol,
            "drug": drug,
            "dose": dose,
            "schedule": schedule,
            "checklist": checklist,
            "rule": {"type": "array", "items": rule, "description": "[[rule]]: the clinic's rules, in order."},
            "vocabulary": vocabulary,
            "test": {"type": "array", "items": test, "description": "[[test]]: cases run by `ketaplan protocol test`."},
            "course": _course_table(integer, number),
        },
        required=("protocol", "drug", "dose", "schedule"),
        description="A ketaplan protocol (format v1): the clinic's policy in one reviewed, versioned file. "
        "Nothing in it is ever evaluated as code.",
    )
    return {
        "$schema": DRAFT,
        "title": "ketaplan protocol, format v1",
        **top,
        "$defs": {"when": when, "names_medication": _names_medication()},
    }


def schema_text() -> str:
    """The schema as JSON text, ending with a newline, for `ketaplan protocol schema`."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def _patient_schema(P, score_ranges, text, date, texts) -> dict:
    """The patient of a [[test]], as in a patient file (`P` is ketaplan.formats)."""

    def integer(description: str, lo: int, hi: int) -> dict:
        return {"type": "integer", "minimum": lo, "maximum": hi, "description": description}

    blood_pressure = P.quantity_schema_pattern(P.BLOOD_PRESSURE)
    icd10 = P.ICD10.replace("A-Z", "A-Za-z")  # matched upper-cased
    # A session's duration: a protocol's duration, or decimal hours that make whole minutes.
    session_minutes = P.quantity_schema_pattern(f"{P.duration_pattern()}|{P.decimal_hours_pattern()}")

    condition = _object(
        "condition",
        P.CONDITION_KEYS,
        {
            "name": text("Required. The condition's name."),
            "code": text("An ICD-10 code, e.g. \"F33.2\".", pattern=P.stripped(icd10)),
            "status": {"enum": list(P.CONDITION_STATUSES), "description": "Default active."},
            "snomed": text("A SNOMED CT concept id, e.g. \"370143000\" (digits only).",
                           pattern=P.stripped(P.SNOMED)),
        },
        required=("name",),
    )
    medication = _object(
        "medication",
        P.MEDICATION_KEYS,
        {
            "name": text("Required. The drug's name."),
            "dose": text("e.g. \"1 mg\"."),
            "schedule": text("e.g. \"at night\"."),
            "as_needed": {"type": "boolean", "description": "true for a medicine taken only when needed."},
        },
        required=("name",),
    )
    from ketaplan.vocabulary.adverse_events import ADVERSE_EVENTS

    C = P
    vital = _object(
        "vital",
        C.VITAL_KEYS,
        {
            "minute": integer("Required. Minutes from the start of the infusion; 0 = before it.", 0, C.MAX_MINUTE),
            "blood_pressure": text("mmHg, e.g. \"132/84\" (no unit).", pattern=blood_pressure),
            "heart_rate": integer("Beats per minute.", *P.LIMITS["heart_rate"]),
            "spo2": integer("Percent.", *P.LIMITS["spo2"]),
        },
        required=("minute",),
    )
    infusion = _object(
        "infusion",
        P.INFUSION_KEYS,
        {
            "date": dict(date, description="Required. The date of the infusion."),
            "dose": text("Required. e.g. \"41 mg\".", pattern=P.quantity_schema_pattern(P.quantity_pattern(P.MASS_UNITS))),
            "protocol": text("The protocol id it was given under (needed to count towards a series).",
                             pattern=P.anchored(P.INFUSION_PROTOCOL)),
            "duration": text("As given: \"40 min\", \"1 h\", \"1.5 h\".", pattern=session_minutes),
            "completed": {"type": "boolean", "description": "false = stopped early (then stopped_because). Absent = completed."},
            "stopped_because": text("Why the session was stopped early."),
            "vitals": {"type": "array", "items": vital, "description": "Readings during the session, in time order."},
            "sedation": integer("MOAA/S at its deepest, {} to {} (5 = awake).".format(*C.SEDATION_RANGE), *C.SEDATION_RANGE),
            "dissociation": integer("CADSS total at its peak, {} to {}.".format(*C.DISSOCIATION_RANGE), *C.DISSOCIATION_RANGE),
            "observed": text("Observation after the infusion ended: \"95 min\".", pattern=session_minutes),
            "adverse_events": {
                "type": "array",
                "uniqueItems": True,
                "items": {"enum": list(ADVERSE_EVENTS)},
                "description": "[] = none; absent = not recorded (rules then read it as unknown).",
            },
            "adverse_event_detail": text("Required with the event \"other\": what happened."),
        },
        required=("date", "dose"),
        # A session stopped early says why; stopped_because is only for a session stopped early.
        extra={
            "if": {"required": ["stopped_because"]},
            "then": {"required": ["completed"], "properties": {"completed": {"const": False}}},
            "else": {"properties": {"completed": {"const": True}}},
        },
    )
    assessment = _object(
        "assessment",
        C.ASSESSMENT_KEYS,
        {
            "date": dict(date, description="Required. The date the scores were taken."),
            **{k: integer(f"{k} score, {lo} to {hi}.", lo, hi) for k, (lo, hi) in score_ranges.items()},
        },
        required=("date",),
    )
    scores = _object(
        "scores",
        P.SCORES_KEYS,
        {
            **{k: integer(f"{k} score, {lo} to {hi}.", lo, hi) for k, (lo, hi) in score_ranges.items()},
            "scored_on": dict(date, description="The date of the baseline scores."),
        },
        description="Rating scales, whole numbers.",
    )
    return _object(
        "patient",
        P.PATIENT_KEYS,
        {
            "id": text("Required. A pseudonymous id: 1 to 64 letters, digits, '.', '_' or '-'.",
                       pattern=(P.anchored(P.PATIENT_ID_CHARS), P.PATIENT_ID_ALNUM)),
            "date_of_birth": dict(date, description="Exactly one of date_of_birth and age."),
            "age": integer("Whole years. Exactly one of age and date_of_birth.", *P.LIMITS["age"]),
            "sex": {"enum": list(P.SEXES), "description": "Required. Sex recorded at birth."},
            "height": text("Required. e.g. \"165 cm\", \"5 ft 10 in\" ({} to {} cm).".format(*P.LIMITS["height_cm"]),
                           pattern=P.quantity_schema_pattern(P.height_pattern())),
            "weight": text("Required. e.g. \"82.5 kg\", \"182 lb\" ({} to {} kg).".format(*P.LIMITS["weight_kg"]),
                           pattern=P.quantity_schema_pattern(P.quantity_pattern(P.WEIGHT_UNITS))),
            "weighed_on": dict(date, description="The date of that weight."),
            "pregnant": {"type": "boolean", "description": "Absent means unknown."},
            "breastfeeding": {"type": "boolean", "description": "Absent means unknown."},
            "blood_pressure": text("Baseline, mmHg, e.g. \"138/86\" (no unit).", pattern=blood_pressure),
            "heart_rate": integer("Beats per minute.", *P.LIMITS["heart_rate"]),
            "spo2": integer("Percent.", *P.LIMITS["spo2"]),
            "allergies": dict(texts, description="[] means none; absent means not recorded."),
            "conditions": {
                "type": "array",
                "items": {"anyOf": [_nonblank(), condition]},
                "description": "[] means none; absent means not recorded.",
            },
            "medications": {
                "type": "array",
                "items": {"anyOf": [_nonblank(), medication]},
                "description": "[] means none; absent means not recorded.",
            },
            "scores": scores,
            "infusions": {"type": "array", "items": infusion, "description": "Earlier ketamine sessions, oldest first."},
            "assessments": {"type": "array", "items": assessment, "description": "Scores taken after the baseline, oldest first."},
        },
        required=("id", "sex", "height", "weight"),
        description="The test patient, written as in a patient file.",
        extra={
            "oneOf": [{"required": ["age"]}, {"required": ["date_of_birth"]}],
            # A patient recorded as male is not pregnant or breastfeeding: true is an error, not ignored.
            "if": {"properties": {"sex": {"const": "male"}}, "required": ["sex"]},
            "then": {"properties": {"pregnant": {"const": False}, "breastfeeding": {"const": False}}},
        },
    )


def _course_when(integer, number, text, blood_pressure: tuple[str, str]) -> dict:
    """The `when` keys over the course (spec/course.md)."""
    from ketaplan import formats as K
    from ketaplan.formats import SCORE_RANGES
    from ketaplan.vocabulary.adverse_events import ADVERSE_EVENTS

    pct = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            k: {
                "type": "number",
                "minimum": K.RESPONSE_RANGE[0],
                "maximum": K.RESPONSE_RANGE[1],
                "description": f"The {k} % reduction from baseline.",
            }
            for k in SCORE_RANGES
        },
    }
    words = {
        "series_sessions_at_least": "Sessions in the current series are at least this (none recorded = 0).",
        "dissociation_at_least": "A session of the series recorded CADSS dissociation at least this.",
        "sedation_at_most": "A session of the series recorded MOAA/S sedation at most this.",
    }
    out: dict = {key: integer(words[key], lo, hi) for key, (lo, hi) in K.COURSE_INT_KEYS.items()}
    out.update(
        {
            "response_below": dict(pct, description="e.g. { madrs = 25 }: every listed scale's % reduction from "
                                   "baseline is below this; unknown when there is no assessment since the series began."),  # fmt: skip
            "response_at_least": dict(pct, description="e.g. { madrs = 50 }: every listed scale's % reduction is at least this."),
            "peak_blood_pressure_at_least": text(
                "\"S/D\": a reading during a session of the series had systolic at least S or diastolic at least D.",
                pattern=blood_pressure,
            ),
            "adverse_event": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": list(ADVERSE_EVENTS)},
                "description": "Any listed event was recorded in the series.",
            },
            "stopped_early": {"type": "boolean", "description": "A session of the series was stopped early."},
        }
    )
    return out


def _course_table(integer, number) -> dict:
    from ketaplan import formats as K
    from ketaplan.formats import SCORE_RANGES
    from ketaplan.model.protocol import CourseSettings

    default = CourseSettings()  # the spec's defaults, as the loader fills them in
    remission = ", ".join(f"{k} = {v}" for k, v in sorted(default.remission_below, key=lambda kv: kv[0]))

    return _object(
        "course",
        K.COURSE_TABLE_KEYS,
        {
            "restart_after_days": integer(
                f"A gap longer than this (days) ends a series. Default {default.restart_after_days}.",
                *K.INT_RANGES["course.restart_after_days"],
            ),
            "response_at_least": number(
                f"% reduction from baseline that is a response. Default {default.response_at_least}.", gt=0, le=K.PERCENT_MAX
            ),
            "partial_at_least": number(
                f"% reduction that is a partial response. Default {default.partial_at_least}.", gt=0, le=K.PERCENT_MAX
            ),
            "remission_below": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    k: {"type": "integer", "minimum": lo + 1, "maximum": hi + 1, "description": f"Remission: {k} below this."}
                    for k, (lo, hi) in SCORE_RANGES.items()
                },
                "description": f"The latest score below this is remission. Default {{ {remission} }}.",
            },
            "vitals_at_minutes": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "integer",
                    "minimum": K.INT_RANGES["course.vitals_at_minutes"][0],
                    "maximum": K.INT_RANGES["course.vitals_at_minutes"][1],
                },
                "description": "Minutes at which the session sheet asks for vitals. Default "
                f"[{', '.join(map(str, default.vitals_at_minutes))}].",
            },
        },
        description="The course of treatment: series, response thresholds, session sheet.",
    )


def _object(name: str, keys, properties: dict, *, required=(), description: str | None = None, extra=None) -> dict:
    """An object schema whose properties are exactly `keys` (the loader's tuple): a key added to the
    loader without a schema entry, or the other way round, fails here and in the tests."""
    keys = tuple(keys)
    if set(keys) != set(properties):
        raise AssertionError(
            f"the schema of {name} is out of step with the loader: {sorted(set(keys) ^ set(properties))}"
        )
    out: dict[str, Any] = {"type": "object"}
    if description:
        out["description"] = description
    out["properties"] = {k: properties[k] for k in keys}
    if required:
        out["required"] = list(required)
    out["additionalProperties"] = False
    out.update(extra or {})
    return out


def _text(description: str, *, pattern: str | tuple[str, ...] | None = None) -> dict:
    """Text; `pattern` one pattern, or several that must all match (a JSON Schema gives one per schema)."""
    from ketaplan.formats import NOT_BLANK

    # Every pattern of formats.py refuses blank text already; without one, NOT_BLANK says it.
    out = {"type": "string", "minLength": 1, "description": description}
    if isinstance(pattern, tuple):
        out["allOf"] = [{"pattern": p} for p in pattern]
    else:
        out["pattern"] = pattern or NOT_BLANK
    return out


def _nonblank() -> dict:
    """An item of a list of text: not empty, not only white space (the loader's "must not be empty")."""
    from ketaplan.formats import NOT_BLANK

    return {"type": "string", "minLength": 1, "pattern": NOT_BLANK}


def _dose_mode_rules() -> list[dict]:
    """Exactly one of mg_per_kg and mg_per_kg_per_hour, and max_mg_per_hour with the rate only, written so
    that one mistake gives one or two errors. (A `oneOf` here made an editor report a misspelt key as
    dozens of errors, one per branch and key.) Each `if` is tested on its own; only a failing `then` reports."""
    both = ["mg_per_kg", "mg_per_kg_per_hour"]
    neither = {"not": {"anyOf": [{"required": [k]} for k in both]}}
    return [
        {"not": {"required": both}},
        {"if": {"required": ["mg_per_kg_per_hour"]}, "then": {"required": ["max_mg_per_hour"]}},
        {
            "if": {"required": ["mg_per_kg"], "not": {"required": ["mg_per_kg_per_hour"]}},
            "then": {"not": {"required": ["max_mg_per_hour"]}},
        },
        # Neither amount: max_mg_per_hour shows a rate protocol whose rate is missing (or misspelt).
        {
            "if": neither,
            "then": {
                "if": {"required": ["max_mg_per_hour"]},
                "then": {"required": ["mg_per_kg_per_hour"]},
                "else": {"required": ["mg_per_kg"]},
            },
        },
    ]


def _names_medication() -> dict:
    """A `when` that names medications, at its top or inside an `any` (not under `not`): what a hold rule needs."""
    return {
        "anyOf": [
            {"required": ["medication"]},
            {"required": ["any"], "properties": {"any": {"contains": {"$ref": "#/$defs/names_medication"}}}},
        ]
    }


def _effect_is(effect: str) -> dict:
    return {"properties": {"effect": {"const": effect}}, "required": ["effect"]}
