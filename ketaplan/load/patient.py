"""Reading patient files (TOML, format v1) into validated Patient values."""

import re
from datetime import date
from typing import Any, NamedTuple

from ketaplan import units
from ketaplan.errors import PatientError

# The format's keys, ranges and patterns: ketaplan/formats.py (the schema and the CSV columns read them there too).
from ketaplan.formats import (  # noqa: F401
    CONDITION_KEYS,
    CONDITION_STATUSES,
    INFUSION_KEYS,
    LIMITS,
    MEDICATION_KEYS,
    PATIENT_KEYS,
    SCORE_RANGES,
    SCORES_KEYS,
    SEXES,
)
from ketaplan.formats import PATIENT_ID as ID_PATTERN
from ketaplan.formats import PATIENT_ID_HINT as ID_HINT
from ketaplan.load import course
from ketaplan.load.reader import Source, Table, decode, integers, parse_toml, read_input_file, sha256_hex, type_name
from ketaplan.model.patient import Condition, Medication, Patient, whole_years

# Made once, not per file: the id's pattern compiled, and the key sets a Table checks keys against.
_ID = re.compile(ID_PATTERN)
_PATIENT_KEYS = frozenset(PATIENT_KEYS)
_SCORES_KEYS = frozenset(SCORES_KEYS)
_ABSENT = object()  # what data.get gives for a key the file does not have (None could be a value)
_NOT_MALE = "is true for a patient recorded as male: check sex and this field"
# A condition or medication written as text: Condition(text) / Medication(text), made as a NamedTuple's
# own __new__ makes it (tuple.__new__ with every field) without the Python-level call, half the cost;
# and made once per text: a batch repeats the same few hundred texts thousands of times, and the
# values are immutable, so every patient whose list has the text shares it. (Each memo is emptied
# when it holds _TEXTS_KEPT texts, far more than a run's usual lists have.)
_TEXT_CONDITIONS: dict[str, Condition] = {}
_TEXT_MEDICATIONS: dict[str, Medication] = {}
_TEXTS_KEPT = 4096
_new_tuple = tuple.__new__
_CONDITION_DEFAULTS = tuple(Condition._field_defaults.values())
_MEDICATION_DEFAULTS = tuple(Medication._field_defaults.values())
assert len(_CONDITION_DEFAULTS) == len(Condition._fields) - 1 and len(_MEDICATION_DEFAULTS) == len(Medication._fields) - 1


class LoadedPatient(NamedTuple):
    patient: Patient
    sha256: str
    name: str


def load_patient_file(path: str, start: date) -> LoadedPatient:
    """Read one patient TOML file; `-` reads standard input."""
    import sys

    if path == "-":
        data, name = sys.stdin.buffer.read(), "<stdin>"
    else:
        data, name = read_input_file(path, PatientError, "patient"), path
    return read_patient_bytes(data, name, start)


def read_patient_bytes(data: bytes, name: str, start: date, *, digest: bool = True) -> LoadedPatient:
    """A patient file's bytes, validated. An error carries `patient_id` when the file's id is usable,
    so that a batch can name the patient whose file it could not use. `digest=False` leaves the
    SHA-256 out (sha256 ""): for `check`, which writes no plan and so no patient_sha256."""
    text = decode(data, name, PatientError)
    document = parse_toml(text, name, PatientError)
    try:
        patient = patient_from_table(document, Source(name, text, PatientError), start)
    except PatientError as exc:
        pid = document.get("id")
        exc.patient_id = pid if isinstance(pid, str) and _ID.fullmatch(pid) else None
        raise
    return LoadedPatient(patient, sha256_hex(data) if digest else "", name)


def patient_from_table(data: Any, src: Source, start: date) -> Patient:
    """Validate a parsed patient table; every mistake raises PatientError naming its field."""
    t = Table(src, (), data, _PATIENT_KEYS, "patient table")  # `what` (not by keyword: a dict per call)
    # For speed, a field whose value is the usual one (the type the format asks for, in range) is taken
    # as read here, without a call; anything else, and an absent key, goes to the Table reader, which
    # gives the value (an absent one as None) or names the mistake. The fields are read in this order,
    # so a file's first mistake is the one reported.
    get = data.get
    patient_id = get("id")
    if type(patient_id) is not str or _ID.fullmatch(patient_id) is None:  # (the pattern needs a letter or digit)
        patient_id = t.text("id", required=True, pattern=_ID, hint=ID_HINT)
    sex = get("sex")
    if sex not in SEXES:
        sex = t.choice("sex", SEXES, required=True)

    if ("age" in data) == ("date_of_birth" in data):
        t.fail("age" if "age" in data else "date_of_birth", "give exactly one of 'age' and 'date_of_birth'")
    lo, hi = LIMITS["age"]
    born = get("date_of_birth")
    if born is not None or "date_of_birth" in data:
        if type(born) is not date:
            born = t.day("date_of_birth", required=True)
        if born > start:
            t.fail("date_of_birth", f"{born} is after the plan's start date {start}")
        age = whole_years(born, start)
        if not lo <= age <= hi:
            t.fail("date_of_birth", f"gives an age of {age} on {start}, outside {_range('age')}")
    else:
        age = data["age"]  # present: exactly one of age, date_of_birth
        if type(age) is not int or not lo <= age <= hi:
            age = t.integer("age", lo, hi, required=True)

    # (Written out for each, not through a helper: a call less per quantity. A missing key is
    # t.require's to report; it is called only when get gives nothing.)
    try:
        height = units.parse_height(get("height") or t.require("height"))
    except units.QuantityError as exc:
        t.fail("height", str(exc))
    try:
        weight = units.parse_weight(get("weight") or t.require("weight"))
    except units.QuantityError as exc:
        t.fail("weight", str(exc))
    # The limits compared exactly, in integers (the limits are whole; a denominator is above 0):
    # lo <= n / d <= hi, and lo <= BMI = w_n x 10000 x h_d^2 / (w_d x h_n^2) <= hi without building it.
    h_n, h_d = height.as_integer_ratio()
    w_n, w_d = weight.as_integer_ratio()
    lo, hi = LIMITS["height_cm"]
    if not lo * h_d <= h_n <= hi * h_d:
        t.fail("height", f"{units.fmt_cm(height)} is outside {_range('height_cm')} cm (was it written in the wrong unit?)")
    lo, hi = LIMITS["weight_kg"]
    if not lo * w_d <= w_n <= hi * w_d:
        t.fail("weight", f"{units.fmt_kg(weight)} is outside {_range('weight_kg')} kg (was it written in the wrong unit?)")
    lo, hi = LIMITS["bmi"]
    below = w_d * h_n * h_n
    if not lo * below <= w_n * 10000 * h_d * h_d <= hi * below:
        bmi = weight / (height / 100) ** 2
        t.fail(
            "height",
            f"height {units.fmt_cm(height)} and weight {units.fmt_kg(weight)} give a BMI of "
            f"{units.fmt_number(bmi, 2)}, outside {_range('bmi')}: check the units of both",
        )
    weighed_on = get("weighed_on", _ABSENT)
    if type(weighed_on) is not date:
        weighed_on = None if weighed_on is _ABSENT else t.day("weighed_on")
    if weighed_on is not None and weighed_on > start:
        t.fail("weighed_on", f"{weighed_on} is after the plan's start date {start}")

    pregnant = get("pregnant", _ABSENT)
    if type(pregnant) is not bool:
        pregnant = None if pregnant is _ABSENT else t.boolean("pregnant")
    breastfeeding = get("breastfeeding", _ABSENT)
    if type(breastfeeding) is not bool:
        breastfeeding = None if breastfeeding is _ABSENT else t.boolean("breastfeeding")
    if sex == "male":
        if pregnant:
            t.fail("pregnant", _NOT_MALE)
        if breastfeeding:
            t.fail("breastfeeding", _NOT_MALE)
        pregnant = breastfeeding = False

    blood_pressure = course.blood_pressure(t, "blood_pressure") if "blood_pressure" in data else None

    allergies = get("allergies", _ABSENT)
    allergies = None if allergies is _ABSENT else _texts(t, "allergies", allergies)
    conditions = get("conditions", _ABSENT)
    conditions = None if conditions is _ABSENT else _conditions(t, conditions)
    medications = get("medications", _ABSENT)
    medications = None if medications is _ABSENT else _medications(t, medications)

    score_data = get("scores", _ABSENT)
    if score_data is _ABSENT:
        scores: tuple[tuple[str, int], ...] = ()
    else:
        # No Table made for the usual [scores] (a dict of known keys): one is made only to name a
        # mistake here (a dict subclass passes it), or below for scored_on.
        if type(score_data) is not dict or not _SCORES_KEYS.issuperset(score_data):
            Table(src, ("scores",), score_data, _SCORES_KEYS)
        scores = integers(src, ("scores",), score_data, SCORE_RANGES)

    infusions = () if "infusions" not in data else course.infusions(t, start)
    baseline_on = None
    if score_data is not _ABSENT and "scored_on" in score_data:
        baseline_on = course.scored_on(Table(src, ("scores",), score_data, _SCORES_KEYS), start)
    assessments = () if "assessments" not in data else course.assessments(t, start, baseline_on)
    lo, hi = LIMITS["heart_rate"]
    heart_rate = get("heart_rate", _ABSENT)
    if type(heart_rate) is not int or not lo <= heart_rate <= hi:
        heart_rate = None if heart_rate is _ABSENT else t.integer("heart_rate", lo, hi)
    lo, hi = LIMITS["spo2"]
    spo2 = get("spo2", _ABSENT)
    if type(spo2) is not int or not lo <= spo2 <= hi:
        spo2 = None if spo2 is _ABSENT else t.integer("spo2", lo, hi)

    # In Patient's field order, made as NamedTuple's own __new__ makes it (tuple.__new__ with every
    # field): twenty keywords, or a Python-level call, would cost more than the rest of the call.
    # (tests/test_patient_loader_paths.py pins the value against the keyword-built Patient.)
    return _new_tuple(Patient, (
        patient_id,  # id
        sex,
        age,
        height,  # height_cm
        weight,  # weight_kg
        born,  # date_of_birth
        weighed_on,
        pregnant,
        breastfeeding,
        blood_pressure,
        heart_rate,
        spo2,
        allergies,
        conditions,
        medications,
        scores,
        infusions,
        frozenset(data),  # present
        assessments,
        baseline_on,  # scored_on
    ))


def _range(limit: str) -> str:
    return "{}..{}".format(*LIMITS[limit])


def _list(t: Table, key: str, value: Any) -> list:
    if not isinstance(value, list):
        t.fail(key, f"expected a list (use [] for none), found {type_name(value)}")
    return value


def _texts(t: Table, key: str, items: Any) -> tuple[str, ...]:
    """t.texts(key) of the list `items` the table holds there: the usual list, of plain texts, read
    here without t.texts' lookups and enumerate; any other by t.texts, which names its mistake."""
    if type(items) is list:
        for item in items:
            if type(item) is not str or not item.strip():
                break
        else:
            return tuple(items)
    return t.texts(key, required=True)


def _conditions(t: Table, items: Any) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for item in items if type(items) is list else _list(t, "conditions", items):
        # The usual item, a name met before: its Condition, shared; any other by _condition, given the
        # item's index (one condition was added for each item above it: no enumerate needed).
        known = _TEXT_CONDITIONS.get(item) if type(item) is str else None
        out.append(_condition(t, len(out), item) if known is None else known)
    return tuple(out)


def _condition(t: Table, i: int, item: Any) -> Condition:
    if isinstance(item, str):
        if not item.strip():
            t.fail(("conditions", i), "must not be empty")
        condition = _new_tuple(Condition, (item,) + _CONDITION_DEFAULTS)
        if type(item) is str:  # (a str subclass's is not shared: the plain text's Condition holds a str)
            if len(_TEXT_CONDITIONS) >= _TEXTS_KEPT:
                _TEXT_CONDITIONS.clear()
            _TEXT_CONDITIONS[item] = condition
        return condition
    # Imported here, by the tables only: a `from` import of a package costs a call each time.
    from ketaplan.vocabulary import normalise_icd10

    c = Table(t.src, t.path + ("conditions", i), item, CONDITION_KEYS, what="condition name or table")
    name = c.text("name", required=True)
    code = c.text("code")
    if code is not None:
        normal = normalise_icd10(code)
        if normal is None:
            c.fail("code", f"{code!r} does not look like an ICD-10 code (e.g. \"F33.2\", \"I10\")")
        code = normal
    status = c.choice("status", CONDITION_STATUSES) or "active"
    snomed = c.text("snomed")
    if snomed is not None:
        from ketaplan.vocabulary import normalise_snomed

        if normalise_snomed(snomed) is None:
            c.fail("snomed", f"{snomed!r} does not look like a SNOMED CT concept id (digits only, e.g. \"370143000\")")
        snomed = normalise_snomed(snomed)
    return Condition(name, code, status, snomed)


def _medications(t: Table, items: Any) -> tuple[Medication, ...]:
    out: list[Medication] = []
    for item in items if type(items) is list else _list(t, "medications", items):
        known = _TEXT_MEDICATIONS.get(item) if type(item) is str else None  # as in _conditions
        out.append(_medication(t, len(out), item) if known is None else known)
    return tuple(out)


def _medication(t: Table, i: int, item: Any) -> Medication:
    if isinstance(item, str):
        if not item.strip():
            t.fail(("medications", i), "must not be empty")
        medication = _new_tuple(Medication, (item,) + _MEDICATION_DEFAULTS)
        if type(item) is str:  # as in _condition
            if len(_TEXT_MEDICATIONS) >= _TEXTS_KEPT:
                _TEXT_MEDICATIONS.clear()
            _TEXT_MEDICATIONS[item] = medication
        return medication
    m = Table(t.src, t.path + ("medications", i), item, MEDICATION_KEYS, what="medication text or table")
    return Medication(m.text("name", required=True), m.text("dose"), m.text("schedule"), bool(m.boolean("as_needed")))
