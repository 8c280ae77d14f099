"""`ketaplan import fhir`: a patient file (format v1) from a FHIR R4 Bundle. Nothing is invented.

A value the bundle does not hold stays absent (the rules read it as unknown); every resource that is
not imported is reported with its reason, in the file's comment block and on standard error; names
are never copied. The written file is validated by the patient reader before it is returned.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeGuard

from ketaplan import formats as _formats
from ketaplan.errors import PatientError, printable

#: A record export may be larger than a hand-written patient file; still refused before parsing.
MAX_BUNDLE_BYTES = 32 * 1024 * 1024

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10_SYSTEMS = (
    "http://hl7.org/fhir/sid/icd-10",
    "http://hl7.org/fhir/sid/icd-10-uk",
    "http://hl7.org/fhir/sid/icd-10-cm",
)
CODE_LABELS = {
    LOINC: "LOINC",
    SNOMED: "SNOMED CT",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "https://dmd.nhs.uk": "dm+d",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-uk": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
}

HEIGHT = ("8302-2",)
WEIGHT = ("29463-7", "3141-9")
BP_PANEL = ("85354-9", "55284-4")
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
HEART_RATE = ("8867-4",)
SPO2 = ("59408-5", "2708-6")
PREGNANCY = ("82810-3",)
PREGNANCY_ANSWERS = {"LA15173-0": True, "LA26683-5": False}  # LA4489-6 "unknown": left absent
SCORES = {"44261-6": "phq9", "70274-6": "gad7"}
SCORE_RANGES = {scale: _formats.SCORE_RANGES[scale] for scale in SCORES.values()}  # the patient format's
NO_KNOWN_ALLERGY = {(SNOMED, "716186003")}

HEIGHT_UNITS = {"cm": "cm", "m": "m", "[in_i]": "in"}
WEIGHT_UNITS = {"kg": "kg", "g": "g", "[lb_av]": "lb"}
OBSERVATION_OK = ("final", "amended", "corrected")
CONDITION_ACTIVE = ("active", "recurrence", "relapse")
CONDITION_HISTORY = ("inactive", "remission", "resolved")
BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch", "document", "message")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _plain(text: object) -> str:
    """Text from the bundle made safe for one line of a TOML comment and of the terminal."""
    return printable(_CONTROL.sub(" ", str(text)))


class BundleError(PatientError):
    """A bundle that cannot be imported: names the file, the resource and the field at fault."""


@dataclass
class Imported:
    table: dict[str, Any]  # the patient file's keys, in format order
    notes: list[str]  # what was imported from where
    skipped: list[str]  # each resource not imported, with its reason
    absent: list[str]  # patient fields left absent
    sha256: str
    as_of: date
    patient_ref: str
    toml: str = ""

    def report(self) -> list[str]:
        lines = [
            f"bundle sha256: {self.sha256}",
            f"as of: {self.as_of.isoformat()}",
            f"patient: {self.patient_ref} (names are never copied)",
        ]
        lines += ["imported:"] + [f"  {n}" for n in self.notes]
        lines += ["left absent (not recorded: rules read them as unknown):"]
        lines += [f"  {a}" for a in self.absent] or ["  nothing"]
        lines += ["not imported:"] + ([f"  {s}" for s in self.skipped] or ["  nothing"])
        # Text from the bundle (names, displays) is one inert line each: never a new TOML line.
        return [_plain(line) for line in lines]


@dataclass
class _Reading:
    when: date
    ref: str
    value: Any
    what: str
    index: int


@dataclass
class _Collect:
    skipped: list[str] = field(default_factory=list)
    readings: dict[str, list[_Reading]] = field(default_factory=dict)

    def skip(self, ref: str, what: str, reason: str) -> None:
        self.skipped.append(f"{ref}{f' ({what})' if what else ''}: {reason}")

    def add(self, key: str, reading: _Reading) -> None:
        self.readings.setdefault(key, []).append(reading)


# --------------------------------------------------------------------------------------- reading


def read_bundle(data: bytes, name: str) -> dict:
    """The bundle's JSON (decimals exact), checked against the FHIR R4 (R4B) models."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MB: not a patient's bundle", file=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BundleError(f"is not UTF-8 (byte {exc.start + 1}): a FHIR JSON file is UTF-8", file=name) from None
    try:
        doc = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BundleError(f"is not JSON: {exc.msg}", file=name, line=exc.lineno, column=exc.colno) from None
    except ValueError as exc:
        raise BundleError(f"is not FHIR JSON: {exc}", file=name) from None
    if not isinstance(doc, dict) or "resourceType" not in doc:
        raise BundleError("is not a FHIR resource (no resourceType)", file=name, field="resourceType")
    if doc["resourceType"] != "Bundle":
        raise BundleError(
            f"is a {_plain(doc['resourceType'])!r}, not a Bundle: export the patient as a FHIR Bundle",
            file=name,
            field="resourceType",
        )
    if doc.get("type") not in BUNDLE_TYPES:
        raise BundleError(
            f"Bundle.type {_plain(doc.get('type'))!r} holds no patient record: use one of {', '.join(BUNDLE_TYPES)}",
            file=name,
            field="type",
        )
    _validate_r4(doc, name)
    return doc


def _no_constant(text: str):
    raise ValueError(f"{text} is not a JSON number")


def _validate_r4(doc: dict, name: str) -> None:
    """Every resource must parse with the FHIR R4 models (fhir.resources R4B): an R5 or malformed
    resource is refused, naming the entry and the field."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        Bundle.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first.get("loc", ()))
        where = "Bundle"
        if len(loc) >= 3 and loc[0] == "entry" and isinstance(loc[1], int) and loc[2] == "resource":
            entry = doc.get("entry", [])[loc[1]] if isinstance(doc.get("entry"), list) else {}
            resource = entry.get("resource", {}) if isinstance(entry, dict) else {}
            where = f"entry[{loc[1] + 1}] {_ref(resource)}"
            loc = loc[3:]
        path = ".".join(str(p) for p in loc if not str(p).startswith("function-after"))
        at = f", field {_plain(path)}" if path else ""
        raise BundleError(
            f"{where}{at}: {_plain(first.get('msg', 'invalid'))} (is this FHIR R4? R5 resources are refused)",
            file=name,
        ) from None


def _ref(resource: Any) -> str:
    if not isinstance(resource, dict):
        return "resource"
    kind = _plain(resource.get("resourceType", "resource"))
    rid = resource.get("id")
    return f"{kind}/{_plain(rid)}" if rid else kind


# ------------------------------------------------------------------------------------- importing


def import_bundle(
    data: bytes,
    name: str,
    *,
    as_of: date,
    max_age_days: int = 30,
    patient: str | None = None,
    patient_id: str | None = None,
) -> Imported:
    """The patient file that the bundle supports, with the report of what was left out."""
    from ketaplan.load.reader import sha256_hex

    doc = read_bundle(data, name)
    entries = [e for e in doc.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    resources = [(e.get("fullUrl"), e["resource"]) for e in entries]
    subject_url, pat = _choose_patient(resources, patient, name)
    pref = _ref(pat)
    keys = _patient_keys(subject_url, pat)

    c = _Collect()
    table: dict[str, Any] = {}
    notes: list[str] = []
    table["id"] = _patient_id(pat, patient_id, name)
    born, sex = _born_and_sex(pat, name)
    table["date_of_birth"] = born
    table["sex"] = sex
    conditions: list[tuple[dict, str]] = []
    medications: list[tuple[str, str]] = []
    allergies: list[tuple[str, str]] = []
    no_known_allergy: list[str] = []
    meds_by_url = {url: r for url, r in resources if r.get("resourceType") == "Medication" and url}
    meds_by_url.update({f"Medication/{r.get('id')}": r for _, r in resources if r.get("resourceType") == "Medication"})

    for index, (_url, r) in enumerate(resources):
        kind = r.get("resourceType")
        ref = _ref(r)
        if r is pat:
            continue
        if kind == "Patient":
            c.skip(ref, "", "another patient in the bundle")
            continue
        if kind == "Medication":
            continue  # read through the MedicationStatement or MedicationRequest naming it
        if kind not in ("Observation", "Condition", "MedicationStatement", "MedicationRequest", "AllergyIntolerance"):
            c.skip(ref, "", "resource type not used by ketaplan")
            continue
        owner = (r.get("patient") if kind == "AllergyIntolerance" else r.get("subject")) or {}
        owner_ref = owner.get("reference") if isinstance(owner, dict) else None
        if not _is_patient(owner_ref, keys):
            c.skip(ref, "", "not about this patient" if owner_ref else "names no patient (subject)")
            continue
        if kind == "Observation":
            _observation(r, ref, index, as_of, c)
        elif kind == "Condition":
            condition = _condition(r, ref, as_of, c)
            if condition is not None:
                conditions.append((condition, ref))
        elif kind in ("MedicationStatement", "MedicationRequest"):
            medication = _medication(r, ref, kind, as_of, meds_by_url, c)
            if medication is not None:
                medications.append((medication, ref))
        else:
            allergy = _allergy(r, ref, as_of, c)
            if allergy == "":
                no_known_allergy.append(ref)
            elif allergy is not None:
                allergies.append((allergy, ref))

    # Observations: the latest reading on or before --as-of; vitals only within --max-age-days.
    oldest_vital = as_of - timedelta(days=max_age_days)
    height = _latest(c, "height")
    if height is not None:
        table["height"] = height.value
        notes.append(f"height {height.value}: {height.ref} of {height.when.isoformat()}")
    weight = _latest(c, "weight")
    if weight is not None:
        table["weight"] = weight.value
        table["weighed_on"] = weight.when
        notes.append(f"weight {weight.value}, weighed_on {weight.when.isoformat()}: {weight.ref}")
    # Pregnancy status ages like a vital sign: an old "not pregnant" must not read as false today.
    for key in ("pregnant", "blood_pressure", "heart_rate", "spo2"):
        reading = _latest(c, key, oldest_vital, max_age_days)
        if reading is not None:
            table[key] = reading.value
            notes.append(f"{key} {_show(reading.value)}: {reading.ref} of {reading.when.isoformat()}")
    if allergies:
        table["allergies"] = _unique([a for a, _ in allergies], "allergy", allergies, c)
        notes += [f"allergy {a!r}: {ref}" for a, ref in allergies if a in table["allergies"]]
        for ref in no_known_allergy:
            c.skip(ref, "no known allergies", "the bundle also lists allergies: those were imported")
    elif no_known_allergy:
        table["allergies"] = []
        notes.append(f"allergies = [] (no known allergies): {', '.join(no_known_allergy)}")
    if conditions:
        seen: dict[tuple, str] = {}
        table["conditions"] = []
        for cond, ref in conditions:
            same = tuple(sorted(cond.items()))
            if same in seen:
                c.skip(ref, cond["name"], f"the same as {seen[same]}")
                continue
            seen[same] = ref
            table["conditions"].append(cond)
            notes.append(f"condition {cond['name']!r} ({cond['status']}): {ref}")
    if medications:
        table["medications"] = _unique([m for m, _ in medications], "medication", medications, c)
        notes += [f"medication {m!r}: {ref}" for m, ref in medications if m in table["medications"]]
    scores = {}
    for key in ("phq9", "gad7"):  # a score describes the patient now, like a vital sign
        reading = _latest(c, key, oldest_vital, max_age_days)
        if reading is not None:
            scores[key] = reading.value
            notes.append(f"scores.{key} {reading.value}: {reading.ref} of {reading.when.isoformat()}")
    if scores:
        table["scores"] = scores

    for key, codes in (("height", HEIGHT), ("weight", WEIGHT)):
        if key not in table:  # required by the patient format: no file without them
            why = [f"  {_plain(line)}" for line in c.skipped if any(f"LOINC {code}" in line for code in codes)]
            raise BundleError(
                f"no usable {key} (LOINC {' or '.join(codes)}) on or before --as-of {as_of.isoformat()}: dosing needs "
                f"one; record it, or write the patient file by hand" + (":\n" + "\n".join(why) if why else ""),
                file=name,
            )
    ordered = {k: table[k] for k in _ORDER if k in table}
    absent = [k for k in _ABSENT_REPORTED if k not in ordered and not (k == "pregnant" and sex == "male")]
    imported = Imported(ordered, notes, c.skipped, absent, sha256_hex(data), as_of, pref)
    imported.toml = _toml(imported)
    _check_loads(imported, name)
    return imported


_ORDER = (
    "id", "date_of_birth", "sex", "height", "weight", "weighed_on", "pregnant", "blood_pressure", "heart_rate",
    "spo2", "allergies", "conditions", "medications", "scores",
)  # fmt: skip
_ABSENT_REPORTED = (
    "height", "weight", "weighed_on", "pregnant", "blood_pressure", "heart_rate", "spo2", "allergies",
    "conditions", "medications", "scores",
)  # fmt: skip


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _unique(names: list[str], what: str, items: list[tuple[str, str]], c: _Collect) -> list[str]:
    out: list[str] = []
    first: dict[str, str] = {}
    for name, ref in items:
        if name in first:
            c.skip(ref, name, f"the same {what} as {first[name]}")
            continue
        first[name] = ref
        out.append(name)
    return out


def _choose_patient(resources: list, wanted: str | None, name: str) -> tuple[str | None, dict]:
    patients = [(url, r) for url, r in resources if r.get("resourceType") == "Patient"]
    if not patients:
        raise BundleError("holds no Patient resource: export the patient's record as one Bundle", file=name)
    if wanted is not None:
        for url, r in patients:
            rid = r.get("id")
            if wanted in (url, rid, f"Patient/{rid}"):
                return url, r
        raise BundleError(
            f"--patient {wanted!r} is not a Patient in the bundle; it holds {', '.join(_ref(r) for _, r in patients)}",
            file=name,
        )
    if len(patients) > 1:
        raise BundleError(
            f"holds {len(patients)} Patients ({', '.join(_ref(r) for _, r in patients)}): choose one with --patient REF",
            file=name,
        )
    return patients[0]


def _patient_keys(url: str | None, pat: dict) -> set[str]:
    """The references that point at this patient: its fullUrl, Patient/ID, or a URL ending in it."""
    keys = {f"Patient/{pat.get('id')}"} if pat.get("id") else set()
    if url:
        keys.add(url)
    return keys


def _is_patient(ref: str | None, keys: set[str]) -> bool:
    """Whether a reference points at the chosen patient: its fullUrl, Patient/ID, or an absolute URL
    ending in Patient/ID (a version, /_history/N, is ignored)."""
    if not isinstance(ref, str):
        return False
    ref = ref.split("/_history/", 1)[0]
    return ref in keys or any(k.startswith("Patient/") and ref.endswith("/" + k) for k in keys)


def _patient_id(pat: dict, given: str | None, name: str) -> str:
    from ketaplan.load.patient import ID_HINT, ID_PATTERN

    value = given if given is not None else pat.get("id")
    where = "--id" if given is not None else "Patient.id"
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value) or set(value) <= {"."}:
        shown = "absent" if value is None else repr(_plain(value))
        raise BundleError(f"{where} is {shown}: not usable as a patient id; {ID_HINT}: give one with --id", file=name)
    return value


def _born_and_sex(pat: dict, name: str) -> tuple[date, str]:
    born = pat.get("birthDate")
    if not isinstance(born, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", born):
        shown = "absent" if born is None else f"{_plain(born)!r}, not a full date"
        raise BundleError(
            f"Patient.birthDate is {shown}: write the patient file by hand with the age in whole years (age = N)",
            file=name,
            field="Patient.birthDate",
        )
    try:
        day = date.fromisoformat(born)
    except ValueError:
        raise BundleError(f"Patient.birthDate {born!r} is not a date", file=name, field="Patient.birthDate") from None
    if pat.get("deceasedBoolean") is True or pat.get("deceasedDateTime"):
        raise BundleError(
            "the Patient is recorded as deceased (Patient.deceased): is this the right record?",
            file=name,
            field="Patient.deceased",
        )
    gender = pat.get("gender")
    if gender not in ("female", "male"):
        shown = "absent" if gender is None else repr(_plain(gender))
        raise BundleError(
            f"Patient.gender is {shown}: dosing needs sex recorded at birth (female or male); "
            "set `sex` by hand in a patient file",
            file=name,
            field="Patient.gender",
        )
    return day, gender


# ---------------------------------------------------------------------------------- observations


def _codes(concept: Any) -> list[tuple[str, str, str]]:
    """(system, code, display) of each coding of a CodeableConcept."""
    if not isinstance(concept, dict):
        return []
    out = []
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            out.append((coding.get("system") or "", coding["code"], coding.get("display") or ""))
    return out


def _describe_codes(concept: Any) -> str:
    parts = []
    for system, code, display in _codes(concept):
        label = CODE_LABELS.get(system, system or "no system")
        parts.append(f"{label} {code}{f' {display}' if display else ''}")
    return _plain("; ".join(parts)) or "no code"


def _day_of(r: dict, *keys: str) -> date | None:
    """The date part of the first of `keys` that holds a full date (as written, in the record's offset)."""
    for key in keys:
        value = r.get(key)
        if isinstance(value, dict):
            value = value.get("start")
        if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                return None
    return None


def _is_number(value: Any) -> TypeGuard[Decimal | int]:
    return isinstance(value, (Decimal, int)) and not isinstance(value, bool)


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _quantity(q: Any, units: dict[str, str]) -> tuple[str | None, str]:
    """("82.5 kg", "") for a UCUM quantity in an accepted unit, else (None, why not)."""
    if not isinstance(q, dict) or not _is_number(q.get("value")):
        return None, "no value"
    if q.get("comparator"):
        return None, f"the value has a comparator ({_plain(q['comparator'])}): not an exact reading"
    code = q.get("code")
    if q.get("system") != UCUM or code not in units:
        shown = _plain(code or q.get("unit") or "none")
        return None, f"unit {shown!r} is not one of the UCUM units {', '.join(units)}"
    value = Decimal(q["value"])
    if not value.is_finite() or value <= 0:
        return None, f"value {value} is not a positive number"
    unit = units[code]
    if unit == "g":  # grams: exact conversion to kilograms
        value, unit = value / 1000, "kg"
    return f"{_decimal_text(value)} {unit}", ""


def _whole(q: Any, unit: str) -> tuple[int | None, str]:
    """A vital as a whole number (half up), in the one UCUM unit accepted for it."""
    if not isinstance(q, dict) or not _is_number(q.get("value")):
        return None, "no value"
    if q.get("comparator"):
        return None, f"the value has a comparator ({_plain(q['comparator'])}): not an exact reading"
    if q.get("code") != unit or q.get("system") not in (UCUM, None):
        return None, f"unit {_plain(q.get('code') or q.get('unit') or 'none')!r} is not UCUM {unit!r}"
    try:
        return int(Decimal(q["value"]).quantize(Decimal(1), rounding=ROUND_HALF_UP)), ""
    except (InvalidOperation, ValueError):
        return None, "the value is not a finite number"


def _observation(r: dict, ref: str, index: int, as_of: date, c: _Collect) -> None:
    loinc = [code for system, code, _ in _codes(r.get("code")) if system == LOINC]
    what = _describe_codes(r.get("code"))
    status = r.get("status")
    when = _day_of(r, "effectiveDateTime", "effectiveInstant", "effectivePeriod")
    known = [k for k in loinc if k in (*HEIGHT, *WEIGHT, *BP_PANEL, *HEART_RATE, *SPO2, *PREGNANCY, *SCORES)]
    if not known:
        c.skip(ref, what, "code not used by ketaplan")
        return
    if status not in OBSERVATION_OK:
        c.skip(ref, what, f"status {_plain(status)!r}: only final, amended or corrected readings are used")
        return
    if when is None:
        c.skip(ref, what, "no full date (effectiveDateTime)")
        return
    if when > as_of:
        c.skip(ref, what, f"dated {when.isoformat()}, after --as-of {as_of.isoformat()}")
        return
    code = known[0]
    what = f"{what}, {when.isoformat()}"
    value: str | int | bool | None
    if code in HEIGHT or code in WEIGHT:
        key = "height" if code in HEIGHT else "weight"
        value, why = _quantity(r.get("valueQuantity"), HEIGHT_UNITS if key == "height" else WEIGHT_UNITS)
    elif code in BP_PANEL:
        key = "blood_pressure"
        parts: dict[str, Any] = {}
        why = ""
        for comp in r.get("component") or []:
            codes = [k for s, k, _ in _codes(comp.get("code")) if s == LOINC]
            for wanted in (SYSTOLIC, DIASTOLIC):
                if wanted in codes:
                    number, problem = _whole(comp.get("valueQuantity"), "mm[Hg]")
                    if number is None:
                        why = why or f"component {wanted}: {problem}"
                    parts[wanted] = number
        value = None
        if not why:
            if parts.get(SYSTOLIC) is None or parts.get(DIASTOLIC) is None:
                why = "the panel lacks a systolic (8480-6) or diastolic (8462-4) component"
            else:
                value = f"{parts[SYSTOLIC]}/{parts[DIASTOLIC]}"
    elif code in HEART_RATE:
        key = "heart_rate"
        value, why = _whole(r.get("valueQuantity"), "/min")
    elif code in SPO2:
        key = "spo2"
        value, why = _whole(r.get("valueQuantity"), "%")
    elif code in PREGNANCY:
        key = "pregnant"
        answers = [k for s, k, _ in _codes(r.get("valueCodeableConcept")) if s == LOINC]
        value = next((PREGNANCY_ANSWERS[a] for a in answers if a in PREGNANCY_ANSWERS), None)
        why = "" if value is not None else "the answer is unknown or not a LOINC answer (LA15173-0 or LA26683-5)"
    else:
        key = SCORES[code]
        q = r.get("valueQuantity")
        raw = q.get("value") if isinstance(q, dict) else r.get("valueInteger")
        lo, hi = SCORE_RANGES[key]
        value, why = None, ""
        if not _is_number(raw) or not Decimal(raw).is_finite() or Decimal(raw) != int(raw):
            why = "the score is not a whole number"
        elif not lo <= int(raw) <= hi:
            why = f"the score {raw} is outside {lo}..{hi}"
        else:
            value = int(raw)
    if value is None:
        c.skip(ref, what, why)
        return
    c.add(key, _Reading(when, ref, value, what, index))


def _latest(c: _Collect, key: str, oldest: date | None = None, max_age: int = 0) -> _Reading | None:
    """The latest reading; readings that disagree on the latest day are all left out (reported)."""
    readings = c.readings.get(key) or []
    if not readings:
        return None
    newest = max(r.when for r in readings)
    latest = [r for r in readings if r.when == newest]
    first = latest[0]
    chosen: _Reading | None = first
    if len({repr(r.value) for r in latest}) > 1:
        for r in latest:
            c.skip(
                r.ref,
                r.what,
                f"readings of {newest.isoformat()} disagree ({', '.join(_show(x.value) for x in latest)})",
            )
        chosen = None
    elif oldest is not None and newest < oldest:
        c.skip(first.ref, first.what, f"too old: more than {max_age} days before --as-of (--max-age-days)")
        for r in latest[1:]:
            c.skip(r.ref, r.what, "the same reading, too old as well")
        chosen = None
    else:
        for r in latest[1:]:
            c.skip(r.ref, r.what, f"the same reading as {first.ref}")
    for r in readings:
        if r.when != newest:
            c.skip(r.ref, r.what, f"superseded by the reading of {newest.isoformat()}")
    return chosen


# ------------------------------------------------------------------- conditions, medicines, allergies


def _status(concept: Any) -> str | None:
    codes = _codes(concept)
    return codes[0][1] if codes else None


def _name(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for _system, _code, display in _codes(concept):
        if display.strip():
            return display.strip()
    return None


def _condition(r: dict, ref: str, as_of: date, c: _Collect) -> dict | None:
    from ketaplan.vocabulary import normalise_icd10, normalise_snomed

    what = _describe_codes(r.get("code"))
    verification = _status(r.get("verificationStatus"))
    if verification in ("entered-in-error", "refuted"):
        c.skip(ref, what, f"verificationStatus {verification}")
        return None
    recorded = _day_of(r, "recordedDate", "onsetDateTime", "onsetPeriod")
    if recorded is not None and recorded > as_of:
        c.skip(ref, what, f"recorded {recorded.isoformat()}, after --as-of {as_of.isoformat()}")
        return None
    clinical = _status(r.get("clinicalStatus"))
    if clinical in CONDITION_ACTIVE:
        status = "active"
    elif clinical in CONDITION_HISTORY:
        status = "history"
    elif clinical is None:
        status = "active"  # the safer reading: a rule on active conditions still sees it (reported)
        c.skipped.append(f"{ref} ({what}): imported as active, its clinicalStatus is absent: check it")
    else:
        c.skip(ref, what, f"clinicalStatus {_plain(clinical)!r} is not an R4 status")
        return None
    codes = _codes(r.get("code"))
    name = _name(r.get("code"))
    if name is None:
        if not codes:
            c.skip(ref, what, "no code, text or display: nothing to name it by")
            return None
        system, code, _ = codes[0]
        name = f"{CODE_LABELS.get(system, 'code')} {code}"  # the code as written, never a guessed name
    cond: dict[str, Any] = {"name": name}
    for system, code, _ in codes:
        if system in ICD10_SYSTEMS and "code" not in cond:
            normal = normalise_icd10(code)
            if normal is None:
                c.skipped.append(f"{ref} ({what}): its ICD-10 code {_plain(code)!r} is not a code; left out")
            else:
                cond["code"] = code.strip().upper()
        if system == SNOMED and "snomed" not in cond and normalise_snomed(code) is not None:
            cond["snomed"] = normalise_snomed(code)
    cond["status"] = status
    return cond


def _medication(r: dict, ref: str, kind: str, as_of: date, meds: dict, c: _Collect) -> str | None:
    concept = r.get("medicationCodeableConcept")
    med_ref = (r.get("medicationReference") or {}).get("reference")
    if concept is None and med_ref in meds:
        concept = meds[med_ref].get("code")
    what = _describe_codes(concept)
    status = r.get("status")
    allowed = ("active", "intended") if kind == "MedicationStatement" else ("active",)
    if status not in allowed:
        c.skip(ref, what, f"status {_plain(status)!r}: only {' or '.join(allowed)} medicines are current")
        return None
    started = _day_of(r, "authoredOn", "dateAsserted", "effectiveDateTime", "effectivePeriod")
    if started is not None and started > as_of:
        c.skip(ref, what, f"dated {started.isoformat()}, after --as-of {as_of.isoformat()}")
        return None
    name = _name(concept)
    if name is None:
        c.skip(ref, what, "no text or display to name the medicine by (codes are not matched)")
        return None
    if _codes(concept):
        c.skipped.append(f"{ref}: imported by its name {_plain(name)!r}; codes kept here only, not matched: {what}")
    return name


def _allergy(r: dict, ref: str, as_of: date, c: _Collect) -> str | None:
    what = _describe_codes(r.get("code"))
    verification = _status(r.get("verificationStatus"))
    if verification in ("entered-in-error", "refuted"):
        c.skip(ref, what, f"verificationStatus {verification}")
        return None
    clinical = _status(r.get("clinicalStatus"))
    if clinical not in ("active", None):
        c.skip(ref, what, f"clinicalStatus {_plain(clinical)!r}: only active allergies are imported")
        return None
    if any((s, k) in NO_KNOWN_ALLERGY for s, k, _ in _codes(r.get("code"))):
        return ""
    name = _name(r.get("code"))
    if name is None:
        c.skip(ref, what, "no text or display to name the allergy by")
        return None
    return name


# --------------------------------------------------------------------------------------- writing


def _toml(imported: Imported) -> str:
    import tomli_w

    header = [
        "A patient file imported by `ketaplan import fhir` from a FHIR R4 bundle: check it against",
        "the record before use. Nothing was invented: what the bundle does not hold is absent.",
        *imported.report(),
    ]
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header)
    body = tomli_w.dumps(imported.table)
    return comment + "\n" + body


def _check_loads(imported: Imported, name: str) -> None:
    """The file must load with `ketaplan plan` as it is: validate it with the patient reader."""
    from ketaplan.load.patient import read_patient_bytes

    try:
        read_patient_bytes(imported.toml.encode("utf-8"), name, imported.as_of)
    except PatientError as exc:
        raise BundleError(
            f"the imported values do not make a valid patient file: {exc.field or ''} {exc.message} "
            "(see the record; nothing was written)",
            file=name,
            field=exc.field,
        ) from None


def patient_from_bundle(data: bytes, name: str, start: date, today: date | None = None):
    """A LoadedPatient from a bundle, for `check`: values as of the earlier of today and --start."""
    from ketaplan.load.patient import read_patient_bytes

    as_of = min(today or date.today(), start)
    imported = import_bundle(data, name, as_of=as_of)
    loaded = read_patient_bytes(imported.toml.encode("utf-8"), name, start)
    return loaded._replace(sha256=imported.sha256)


def run_import(
    path: str,
    *,
    patient_id: str | None,
    as_of: date | None,
    max_age_days: int,
    patient: str | None,
    output: str | None,
    force: bool,
) -> int:
    """`ketaplan import fhir`: the patient file to --output (or stdout), the report to stderr."""
    import sys

    from ketaplan.output import write_text

    if path == "-":
        data, name = sys.stdin.buffer.read(), "<stdin>"
    else:
        data, name = read_bundle_file(path), path
    imported = import_bundle(
        data, name, as_of=as_of or date.today(), max_age_days=max_age_days, patient=patient, patient_id=patient_id
    )
    write_text(imported.toml, output, force=force)
    print("\n".join(imported.report()), file=sys.stderr)
    return 0


def read_bundle_file(path: str) -> bytes:
    import os

    from ketaplan.load.reader import read_input_file

    try:
        if os.path.getsize(path) > MAX_BUNDLE_BYTES:
            raise BundleError(
                f"is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MB: not a patient's bundle", file=path
            )
    except OSError:
        pass  # read_input_file names the problem
    return read_input_file(path, BundleError, "FHIR bundle")
