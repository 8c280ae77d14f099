"""ketaplan/formats.py is the one place the input formats' keys, ranges and patterns are declared: the loader
validates with them, the JSON Schema describes them, the CSV columns are named from them. These tests hold
the schema and the loader to the same answer on every hostile protocol (tests/hostile/protocols/), and the
schema's quantity patterns to the same answer as the quantity parsers on a corpus of spellings.

The loader stays the only validator: where the schema cannot express a rule (INHERENT below, each with its
reason), the schema lets the file through and the loader refuses it. A new disagreement fails here; so does
an inherent one that the schema has learnt to express (take it off the list)."""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from ketaplan import formats, units
from ketaplan.authoring.schema import schema
from ketaplan.errors import ProtocolError
from ketaplan.load.protocol import read_protocol_bytes

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = sorted((ROOT / "tests/hostile/protocols").glob("*.toml"))

CROSS_FIELD = "a rule across keys that a schema cannot compare"
VOCABULARY = "a vocabulary name: the built-in vocabulary plus the file's own [vocabulary], which a schema cannot read"

#: Files the schema lets through and the loader refuses, because a JSON Schema cannot express the rule.
INHERENT: dict[str, str] = {
    "adjust-cap-not-multiple.toml": f"{CROSS_FIELD}: a rule's max_mg is a multiple of [dose].round_to",
    "cap-not-multiple-of-round-to.toml": f"{CROSS_FIELD}: max_mg is a multiple of round_to (multipleOf takes a constant)",
    "phase-list-wrong-length.toml": f"{CROSS_FIELD}: a phase's per-session list has `sessions` items",
    "rule-id-duplicate.toml": f"{CROSS_FIELD}: rule ids are unique across [[rule]] (uniqueItems compares whole items)",
    "vocabulary-cycle.toml": f"{CROSS_FIELD}: a vocabulary group may not contain itself, through any path",
    "closed-not-a-date.toml": "a TOML date and a string in quotes reach a JSON Schema validator as the same ISO text",
    "mg-per-kg-nan.toml": "NaN is no JSON value: every comparison with it is false, so no keyword refuses it",
    "when-50-deep.toml": "a depth limit (MAX_WHEN_DEPTH): `when` is one recursive definition, which cannot count",
    "drug-cyrillic.toml": VOCABULARY,
    "eval-in-when-name.toml": VOCABULARY,
    "indication-unknown.toml": VOCABULARY,
    "vocabulary-cyrillic.toml": f"{VOCABULARY} (mixed scripts need Unicode script classes, not in JSON Schema regexes)",
    "when-cyrillic-medication.toml": VOCABULARY,
    "when-greek-condition.toml": VOCABULARY,
    "when-unknown-condition.toml": VOCABULARY,
    "when-zero-width-medication.toml": VOCABULARY,
}
#: Files that are not TOML (or not UTF-8): no JSON reaches the schema; the editor's TOML parser refuses them,
#: as tomllib does for the loader.
NOT_TOML = {"duplicate-key.toml", "not-utf8-latin1.toml", "review-due-30-february.toml"}


def _json(value):
    """A parsed protocol as an editor's JSON Schema validator sees it: numbers as numbers, dates as text."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)  # only for the validator: ketaplan itself never reads a float
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return value


_VALIDATOR = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _field(path) -> str:
    """A schema error's path written as the loader names a field: rule/0/when -> rule[1].when."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else ("." if out else "") + part
    return out


def _schema_fields(document: dict) -> list[str] | None:
    """Where the schema finds fault (None: valid). A missing or unknown key is named under its table."""
    errors = list(_VALIDATOR.iter_errors(document))
    if not errors:
        return None
    fields = []
    for e in errors:
        at = _field(e.absolute_path)
        fields.append(at)
        if e.validator in ("required", "additionalProperties"):
            named = re.findall(r"'([^']+)'", e.message if e.validator == "required" else e.message.split("(")[-1])
            fields += [f"{at}.{key}" if at else key for key in named]
    return fields


def _loader_field(data: bytes, name: str) -> str | None:
    """The field the loader refuses the file at (None: loaded)."""
    try:
        read_protocol_bytes(data, name)
    except ProtocolError as exc:
        return exc.field or "-"
    return None


def _within(field: str, at: str) -> bool:
    """The loader's field is the schema's location or inside it (the schema names a cross-key fault at its table)."""
    return not at or field == at or field.startswith((at + ".", at + "["))


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.name)
def test_the_schema_and_the_loader_agree_on_every_hostile_protocol(path):
    data = path.read_bytes()
    loader = _loader_field(data, str(path))
    if path.name in NOT_TOML:
        with pytest.raises((tomllib.TOMLDecodeError, UnicodeDecodeError)):
            tomllib.loads(data.decode("utf-8-sig"))
        assert loader is not None
        return
    schema_fields = _schema_fields(_json(tomllib.loads(data.decode("utf-8-sig"), parse_float=Decimal)))
    if path.name in INHERENT:
        assert (schema_fields, loader is not None) == (None, True), (
            f"{path.name} is listed as a disagreement the schema cannot express, but the schema now "
            f"{'refuses' if schema_fields else 'accepts'} it and the loader {'refuses' if loader else 'accepts'} it: "
            "take it off INHERENT"
        )
        return
    assert (schema_fields is None) == (loader is None), f"schema: {schema_fields}, loader: {loader}"
    if loader is not None:
        assert any(_within(loader, at) for at in schema_fields), (
            f"the loader refuses {path.name} at {loader}, the schema elsewhere: {schema_fields}"
        )


def test_the_agreement_figures():
    """63 hostile protocols reach the schema; 16 disagreements are inherent (30 of 62 before issue 14)."""
    parsed = [p for p in HOSTILE if p.name not in NOT_TOML]
    assert set(INHERENT) <= {p.name for p in parsed}
    assert NOT_TOML <= {p.name for p in HOSTILE}
    assert (len(parsed), len(INHERENT)) == (63, 16)


# ---------------------------------------------------------------------------------------------------
# The schema's quantity patterns read what the quantity parsers read

def _accepts(parse, text: str) -> bool:
    try:
        parse(text)
    except units.QuantityError:
        return False
    return True


def _session_minutes(text: str) -> bool:
    """A session's duration as load/course.py reads it: a duration, or decimal hours making whole minutes."""
    from fractions import Fraction

    match = re.fullmatch(rf"\s*{formats.DECIMAL_HOURS}\s*", text)
    if match and (m := Fraction(match[1]) * 60).denominator == 1 and m > 0:
        return True
    return _accepts(units.parse_duration_min, text)


SPELLINGS = {
    "weight": (
        units.parse_weight,
        formats.quantity_pattern(formats.WEIGHT_UNITS),
        ["73 kg", "73kg", "73.5 KG", "160 lb", "160 lbs", " 73 kg ", "0.5 kg", "73", "73 kgs", "73,5 kg", ".73 kg",
         "7.3e1 kg", "０７３ kg", "٧٣ kg", "-73 kg", "0 kg", "0.0 kg", "73  kg", "73 st", "inf kg", "nan kg",
         "99999999999999999999 kg", "9" * 40 + " kg", "73 kg\n", "73\tkg", ""],
    ),
    "height": (
        units.parse_height,
        formats.height_pattern(),
        ["165 cm", "1.65 m", "65 in", "5 ft 10 in", "5 ft", "5ft10in", "5 ft 11.5 in", "5 ft 12 in", "5.5 ft",
         "0 ft", "0 ft 0 in", "0 ft 5 in", "165", "165 CM", "5 FT 1 IN", "165 mm", "6 ft 011 in", "6 ft 012 in"],
    ),
    "dose": (units.parse_mass_mg, formats.quantity_pattern(formats.MASS_UNITS), ["41 mg", "41 MG", "41 mcg", "0 mg", "41"]),
    "volume": (units.parse_volume_ml, formats.quantity_pattern(formats.VOLUME_UNITS), ["100 mL", "100 l", "0.5 ml"]),
    "concentration": (
        units.parse_concentration,
        formats.quantity_pattern(formats.CONCENTRATION_UNITS),
        ["10 mg/mL", "10 MG/ML", "10 mg/L", "1 %", "10 mcg/mL", "10 mg /mL", "0 mg/mL"],
    ),
    "duration": (
        units.parse_duration_min,
        formats.duration_pattern(),
        ["40 min", "4 h", "1 h 30 min", "1h30min", "90 MIN", "0.5 h", "0 min", "0 h", "0 h 30 min", "1 h 60 min",
         "1 h 059 min", "40 minutes", "-40 min", "40", "", "00 h 01 min", "2 h 0 min"],
    ),
    "session minutes": (
        _session_minutes,
        f"{formats.duration_pattern()}|{formats.decimal_hours_pattern()}",
        ["1.5 h", "1.5h", "0.25 h", "1.55 h", "1.001 h", "0.0 h", "0.05 h", "1.5 H", "95 min", "1.50 h"],
    ),
    "blood pressure": (
        units.parse_blood_pressure,
        formats.BLOOD_PRESSURE,
        ["138/86", "138 / 86", " 138/86 ", "140/90 mmHg", "138-86", "138/86/70", "138/86.5", "12345/80", "١٣٨/٨٦"],
    ),
}


@pytest.mark.parametrize("kind", SPELLINGS)
def test_the_schema_pattern_of_a_quantity_accepts_what_its_parser_accepts(kind):
    parse, pattern, spellings = SPELLINGS[kind]
    patterns = [re.compile(p) for p in formats.quantity_schema_pattern(pattern)]
    parsed = parse if kind == "session minutes" else (lambda text: _accepts(parse, text))
    disagree = {s: parsed(s) for s in spellings if parsed(s) != all(p.search(s) for p in patterns)}
    assert disagree == {}, f"the loader's answer where the schema's pattern says otherwise: {disagree}"


def test_a_blood_pressure_is_written_without_its_unit_in_the_spec_and_both_readers():
    """spec/patient.md and protocol.md write "138/86" and "S/D"; "140/90 mmHg" is refused by both (issue 14)."""
    with pytest.raises(units.QuantityError, match='leave out the unit: "140/90"'):
        units.parse_blood_pressure("140/90 mmHg")
    assert not re.search(formats.quantity_schema_pattern(formats.BLOOD_PRESSURE)[0], "140/90 mmHg")


def _patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern":
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def test_the_schema_patterns_use_only_what_every_editor_reads():
    """ECMA-262 and Python agree on them; no lookaround (Taplo, the editors' TOML checker, has none), no
    inline flags, no named groups, ASCII digits only."""
    found = set(_patterns(schema()))
    assert len(found) > 15
    for pattern in found:
        assert not re.search(r"\(\?[=!<PiaLmsux]|\\d|\\w", pattern), pattern
        assert pattern.startswith("^") and pattern.endswith("$") or pattern in (formats.NOT_BLANK, formats.PATIENT_ID_ALNUM), pattern


# ---------------------------------------------------------------------------------------------------
# One declaration, three readers

def test_the_csv_columns_are_patient_keys_or_scores_of_the_kind_the_patient_file_holds():
    keys = set(formats.PATIENT_KEYS) | set(formats.SCORE_RANGES)
    assert set(formats.CSV_COLUMNS) <= keys
    assert set(formats.CSV_REQUIRED) <= set(formats.CSV_COLUMNS)
    properties = schema()["properties"]["test"]["items"]["properties"]["patient"]["properties"]
    for column, kind in formats.CSV_COLUMNS.items():
        if column in formats.SCORE_RANGES:
            continue
        expected = {"integer": "integer", "boolean": "boolean", "date": "string", "text": "string", "list": "array",
                    "infusions": "array"}[kind]  # fmt: skip
        prop = properties[column]
        held = prop.get("type", "string" if "enum" in prop else None)  # sex is an enum of text
        assert held == expected, column


def test_the_loaders_read_their_keys_and_ranges_from_formats():
    from ketaplan.load import course, course_protocol, csv_patients, patient, protocol
    from ketaplan.model import patient as model

    assert protocol.WHEN_KEYS is formats.WHEN_KEYS and protocol.RULE_KEYS is formats.RULE_KEYS
    assert patient.PATIENT_KEYS is formats.PATIENT_KEYS and patient.ID_PATTERN is formats.PATIENT_ID
    assert course.INFUSION_KEYS is formats.INFUSION_KEYS and course_protocol.COURSE_WHEN_KEYS is formats.COURSE_WHEN_KEYS
    assert csv_patients.COLUMNS == tuple(formats.CSV_COLUMNS)
    assert model.LIMITS is formats.LIMITS and model.SCORE_RANGES is formats.SCORE_RANGES


def test_formats_imports_nothing():
    """It is read on every start: plain data, no imports (tests/test_cold_start.py measures the rest)."""
    source = (ROOT / "ketaplan/formats.py").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s", source, re.M)


# ---------------------------------------------------------------------------------------------------
# The patient of a [[test]] is described by the schema as a patient file: the hostile patients too

HOSTILE_PATIENTS = sorted((ROOT / "tests/hostile/patients").glob("*.toml"))
START = date(2026, 12, 1)  # the start date tests/hostile/README.md drafts with
AGAINST_START = "a date compared with the plan's start date, which is given on the command line, not in the file"
CONVERTED = "a range on the quantity in kg or cm, after its unit (kg or lb, cm, m, in or ft) is converted"
#: Hostile patient files the schema lets through and the loader refuses, because a JSON Schema cannot express it.
INHERENT_PATIENTS: dict[str, str] = {
    "bp-reversed.toml": "diastolic below systolic: two numbers compared inside one text",
    "height-inches-as-cm.toml": f"{CROSS_FIELD}: the BMI from height and weight, after unit conversion",
    "weight-500-kg.toml": CONVERTED,
    "weight-huge.toml": CONVERTED,
    "date-of-birth-after-start.toml": AGAINST_START,
    "infusion-in-future.toml": AGAINST_START,
    "weighed-on-as-text.toml": "a TOML date and a string in quotes reach a JSON Schema validator as the same ISO text",
}


@pytest.mark.parametrize("path", HOSTILE_PATIENTS, ids=lambda p: p.name)
def test_the_schema_and_the_loader_agree_on_every_hostile_patient(path):
    from ketaplan.errors import PatientError
    from ketaplan.load.patient import read_patient_bytes

    data = path.read_bytes()
    try:
        document = _json(tomllib.loads(data.decode("utf-8-sig"), parse_float=Decimal))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        pytest.skip("not TOML: no JSON reaches the schema (the loader's refusal is tests/test_hostile_inputs.py's)")
    patient = schema()["properties"]["test"]["items"]["properties"]["patient"]
    validator = jsonschema.Draft202012Validator(patient, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    schema_refuses = any(True for _ in validator.iter_errors(document))
    try:
        read_patient_bytes(data, str(path), START)
        loader_refuses = False
    except PatientError:
        loader_refuses = True
    if path.name in INHERENT_PATIENTS:
        assert (schema_refuses, loader_refuses) == (False, True), f"{path.name}: take it off INHERENT_PATIENTS"
    else:
        assert schema_refuses == loader_refuses


# ---------------------------------------------------------------------------------------------------
# Every key, every kind of wrong value: beyond the hostile corpus

EVERY_KEY = ROOT / "tests/data/formats/every-key-protocol.toml"
#: Values put in place of each value of EVERY_KEY in turn: text, quantities, numbers, lists, tables, dates.
PALETTE = ["", " ", "x", "40 min", "10 mg/mL", "160/100", "140/90 mmHg", 0, -1, 1, Decimal("1.5"), Decimal("NaN"),
           10**13, True, [], ["x"], [""], {}, date(2026, 12, 1), "2026-12-01"]  # fmt: skip
#: Keys whose value must be a multiple of, below, or as long as another key's (the schema cannot compare keys).
CROSS_KEY = {
    "dose.max_mg": "a multiple of round_to",
    "dose.round_to": "the caps are multiples of it",
    "rule.N.max_mg": "a multiple of [dose].round_to",
    "course.response_at_least": "partial_at_least is below it",
    "schedule.phase.N.sessions": "the phase's per-session list has this many items",
}
NAME_KEYS = re.compile(r"drug\.name|protocol\.indications|rule\.N\.when(\.(any\.N|not))*\.(condition|active_condition|medication|allergy)")


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for i, item in enumerate(value):
            yield from _leaves(item, path + (i,))
    else:
        yield path, value


def _inherent_mutation(where: str, was, value) -> str | None:
    """Why the schema cannot refuse `value` at `where` (N for any index) though the loader does, or None."""
    if isinstance(value, Decimal) and value.is_nan():
        return INHERENT["mg-per-kg-nan.toml"]
    if isinstance(was, date) and isinstance(value, date):
        return AGAINST_START  # the [[test]]'s start, or a date of its patient compared with it
    if isinstance(was, date) != isinstance(value, date) and (isinstance(value, date) or value == "2026-12-01"):
        return INHERENT["closed-not-a-date.toml"]
    if NAME_KEYS.fullmatch(where):
        return VOCABULARY
    if where in CROSS_KEY:
        return f"{CROSS_FIELD}: {CROSS_KEY[where]}"
    if where == "schedule.timezone":
        return "a time zone name must be in the IANA time zone data on this machine"
    return None


@pytest.mark.slow
def test_the_schema_and_the_loader_agree_on_every_key_given_every_kind_of_wrong_value():
    import copy

    from ketaplan.load.protocol import protocol_from_table
    from ketaplan.load.reader import Source

    text = EVERY_KEY.read_text(encoding="utf-8")
    base = tomllib.loads(text, parse_float=Decimal)
    assert _VALIDATOR.is_valid(_json(base)) and protocol_from_table(base, Source(str(EVERY_KEY), text, ProtocolError))
    disagreements = []
    for path, was in _leaves(base):
        where = ".".join("N" if isinstance(p, int) else p for p in path)
        for value in PALETTE:
            document = copy.deepcopy(base)
            parent = document
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = value
            try:
                protocol_from_table(document, Source(str(EVERY_KEY), text, ProtocolError))
                loader_refuses = False
            except ProtocolError:
                loader_refuses = True
            schema_refuses = not _VALIDATOR.is_valid(_json(document))
            if schema_refuses != loader_refuses and not (loader_refuses and _inherent_mutation(where, was, value)):
                disagreements.append(f"{where} = {value!r}: {'schema' if schema_refuses else 'loader'} refuses")
    assert disagreements == []
