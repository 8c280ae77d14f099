"""Reading patient files (TOML, format v1) into validated Patient values."""

from datetime import date
from fractions import Fraction
from typing import Any, NamedTuple

from ketaplan.errors import PatientError
from ketaplan.load.course import INFUSION_KEYS  # noqa: F401 - the schema reads it here (spec/course.md)
from ketaplan.load.reader import Source, Table, decode, parse_toml, read_input_file, sha256_hex, type_name
from ketaplan.model.patient import SCORE_RANGES, Condition, Medication, Patient, whole_years

PATIENT_KEYS = (
    "id", "date_of_birth", "age", "sex", "height", "weight", "weighed_on", "pregnant", "breastfeeding",
    "blood_pressure", "heart_rate", "spo2", "allergies", "conditions", "medications", "scores", "infusions",
    "assessments",
)  # fmt: skip
CONDITION_KEYS = ("name", "code", "status", "snomed")
MEDICATION_KEYS = ("name", "dose", "schedule", "as_needed")
ID_PATTERN = r"(?=.*[A-Za-z0-9])[A-Za-z0-9._-]{1,64}"
ID_HINT = "use 1 to 64 letters, digits, '.', '_' or '-' (a pseudonymous id, never a path or a name)"


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


def read_patient_bytes(data: bytes, name: str, start: date) -> LoadedPatient:
    """A patient file's bytes, validated. An error carries `patient_id` when the file's id is usable,
    so that a batch can name the patient whose file it could not use."""
    import re

    text = decode(data, name, PatientError)
    document = parse_toml(text, name, PatientError)
    try:
        patient = patient_from_table(document, Source(name, text, PatientError), start)
    except PatientError as exc:
        pid = document.get("id")
        exc.patient_id = pid if isinstance(pid, str) and re.fullmatch(ID_PATTERN, pid) else None
        raise
    return LoadedPatient(patient, sha256_hex(data), name)


def patient_from_table(data: Any, src: Source, start: date) -> Patient:
    """Validate a parsed patient table; every mistake raises PatientError naming its field."""
    from ketaplan import units

    t = Table(src, (), data, PATIENT_KEYS, what="patient table")
    patient_id = t.text("id", required=True, pattern=ID_PATTERN, hint=ID_HINT)
    if patient_id in {".", ".."} or set(patient_id) <= {"."}:
        t.fail("id", f"{patient_id!r} is not allowed here: {ID_HINT}")
    sex = t.choice("sex", ("female", "male"), required=True)

    if ("age" in t) == ("date_of_birth" in t):
        t.fail("age" if "age" in t else "date_of_birth", "give exactly one of 'age' and 'date_of_birth'")
    born = t.day("date_of_birth")
    if born is not None:
        if born > start:
            t.fail("date_of_birth", f"{born} is after the plan's start date {start}")
        age = whole_years(born, start)
        if age > 120:
            t.fail("date_of_birth", f"gives an age of {age} on {start}, outside 0..120")
    else:
        age = t.integer("age", 0, 120)

    def quantity(key: str, parse) -> Fraction:
        value = t.require(key)
        try:
            return parse(value)
        except units.QuantityError as exc:
            t.fail(key, str(exc))

    height = quantity("height", units.parse_height)
    weight = quantity("weight", units.parse_weight)
    if not 40 <= height <= 250:
        t.fail("height", f"{units.fmt_cm(height)} is outside 40..250 cm (was it written in the wrong unit?)")
    if not 2 <= weight <= 400:
        t.fail("weight", f"{units.fmt_kg(weight)} is outside 2..400 kg (was it written in the wrong unit?)")
    bmi = weight / (height / 100) ** 2
    if not 10 <= bmi <= 100:
        t.fail(
            "height",
            f"height {units.fmt_cm(height)} and weight {units.fmt_kg(weight)} give a BMI of "
            f"{units.fmt_number(bmi, 2)}, outside 10..100: check the units of both",
        )
    weighed_on = t.day("weighed_on")
    if weighed_on is not None and weighed_on > start:
        t.fail("weighed_on", f"{weighed_on} is after the plan's start date {start}")

    pregnant = t.boolean("pregnant")
    breastfeeding = t.boolean("breastfeeding")
    if sex == "male":
        for key, value in (("pregnant", pregnant), ("breastfeeding", breastfeeding)):
            if value:
                t.fail(key, "is true for a patient recorded as male: check sex and this field")
        pregnant = breastfeeding = False

    blood_pressure = None
    if "blood_pressure" in t:
        value = t.data["blood_pressure"]
        try:
            systolic, diastolic = units.parse_blood_pressure(value)
        except units.QuantityError as exc:
            t.fail("blood_pressure", str(exc))
        if not 50 <= systolic <= 300:
            t.fail("blood_pressure", f"systolic {systolic} mmHg is outside 50..300")
        if not 20 <= diastolic <= 200:
            t.fail("blood_pressure", f"diastolic {diastolic} mmHg is outside 20..200")
        if diastolic >= systolic:
            t.fail("blood_pressure", f"diastolic {diastolic} must be below systolic {systolic}")
        blood_pressure = (systolic, diastolic)

    allergies = t.texts("allergies")
    conditions = None if "conditions" not in t else _conditions(t)
    medications = None if "medications" not in t else _medications(t)

    scores: list[tuple[str, int]] = []
    score_table = t.table("scores", (*SCORE_RANGES, "scored_on"))
    if score_table is not None:
        for key, (lo, hi) in SCORE_RANGES.items():
            value = score_table.integer(key, lo, hi)
            if value is not None:
                scores.append((key, value))

    from ketaplan.load import course

    infusions = course.infusions(t, start)
    baseline_on = course.scored_on(score_table, start)
    assessments = course.assessments(t, start, baseline_on)

    return Patient(
        id=patient_id,
        sex=sex,
        age=age,
        height_cm=height,
        weight_kg=weight,
        date_of_birth=born,
        weighed_on=weighed_on,
        pregnant=pregnant,
        breastfeeding=breastfeeding,
        blood_pressure=blood_pressure,
        heart_rate=t.integer("heart_rate", 20, 250),
        spo2=t.integer("spo2", 50, 100),
        allergies=allergies,
        conditions=conditions,
        medications=medications,
        scores=tuple(scores),
        infusions=tuple(infusions),
        present=frozenset(data),
        assessments=assessments,
        scored_on=baseline_on,
    )


def _list(t: Table, key: str) -> list:
    value = t.data[key]
    if not isinstance(value, list):
        t.fail(key, f"expected a list (use [] for none), found {type_name(value)}")
    return value


def _conditions(t: Table) -> tuple[Condition, ...]:
    from ketaplan.vocabulary import normalise_icd10

    out = []
    for i, item in enumerate(_list(t, "conditions")):
        if isinstance(item, str):
            if not item.strip():
                t.fail(("conditions", i), "must not be empty")
            out.append(Condition(item))
            continue
        c = Table(t.src, t.path + ("conditions", i), item, CONDITION_KEYS, what="condition name or table")
        name = c.text("name", required=True)
        code = c.text("code")
        if code is not None:
            normal = normalise_icd10(code)
            if normal is None:
                c.fail("code", f"{code!r} does not look like an ICD-10 code (e.g. \"F33.2\", \"I10\")")
            code = normal
        status = c.choice("status", ("active", "history")) or "active"
        snomed = c.text("snomed")
        if snomed is not None:
            from ketaplan.vocabulary import normalise_snomed

            if normalise_snomed(snomed) is None:
                c.fail("snomed", f"{snomed!r} does not look like a SNOMED CT concept id (digits only, e.g. \"370143000\")")
            snomed = normalise_snomed(snomed)
        out.append(Condition(name, code, status, snomed))
    return tuple(out)


def _medications(t: Table) -> tuple[Medication, ...]:
    out = []
    for i, item in enumerate(_list(t, "medications")):
        if isinstance(item, str):
            if not item.strip():
                t.fail(("medications", i), "must not be empty")
            out.append(Medication(item))
            continue
        m = Table(t.src, t.path + ("medications", i), item, MEDICATION_KEYS, what="medication text or table")
        out.append(
            Medication(m.text("name", required=True), m.text("dose"), m.text("schedule"), bool(m.boolean("as_needed")))
        )
    return tuple(out)
