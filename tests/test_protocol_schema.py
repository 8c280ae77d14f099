"""`ketaplan protocol schema`: a JSON Schema that every example passes, a misspelt key fails, and that the loader's keys define."""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from ketaplan.authoring.schema import schema
from ketaplan.cli import main
from ketaplan.load import patient as P
from ketaplan.load import protocol as L
from ketaplan.model.patient import SCORE_RANGES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "protocols").glob("*.toml"))
STARTER = ROOT / "ketaplan" / "starter" / "protocol.toml"


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


def _document(path: Path) -> dict:
    return _json(tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal))


def _errors(document: dict, validator=jsonschema.Draft202012Validator) -> list[str]:
    checker = validator(schema(), format_checker=validator.FORMAT_CHECKER)
    return sorted("/".join(map(str, e.absolute_path)) + ": " + e.message for e in checker.iter_errors(document))


@pytest.fixture
def trd() -> dict:
    return _document(ROOT / "examples" / "protocols" / "trd-iv-induction.toml")


def test_the_command_prints_a_valid_draft_2020_12_schema(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["protocol", "schema"])
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert (exit.value.code, err) == (0, "")
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == schema()


def test_the_schema_is_also_a_valid_draft_7_schema_for_editors_that_use_draft_7():
    jsonschema.Draft7Validator.check_schema(schema())


@pytest.mark.parametrize("example", EXAMPLES + [STARTER], ids=lambda p: p.parent.name + "/" + p.stem)
def test_every_example_and_the_starter_validate(example):
    document = _document(example)
    assert _errors(document) == []
    assert _errors(document, jsonschema.Draft7Validator) == []


def test_a_misspelt_dose_key_fails(trd):
    trd["dose"]["max_mgs"] = trd["dose"].pop("max_mg")
    assert _errors(trd) == [
        "dose: 'max_mg' is a required property",
        "dose: Additional properties are not allowed ('max_mgs' was unexpected)",
    ]


def test_a_misspelt_key_deep_in_a_nested_when_fails(trd):
    trd["rule"][0]["when"] = {"any": [{"not": {"agee_below": 18}}]}
    assert _errors(trd) == ["rule/0/when/any/0/not: Additional properties are not allowed ('agee_below' was unexpected)"]


def test_mg_per_kg_above_2_fails(trd):
    trd["dose"]["mg_per_kg"] = 2.5
    assert _errors(trd) == ["dose/mg_per_kg: 2.5 is greater than the maximum of 2"]


def test_a_dose_factor_of_0_fails(trd):
    trd["rule"].append({"id": "ADJ-X", "effect": "adjust", "dose_factor": 0, "message": "x"})
    assert _errors(trd) == [f"rule/{len(trd['rule']) - 1}/dose_factor: 0 is less than or equal to the minimum of 0"]


def test_an_unknown_weight_basis_fails(trd):
    trd["dose"]["weight_basis"] = "lean body"
    assert _errors(trd) == ["dose/weight_basis: 'lean body' is not one of ['actual', 'ideal', 'adjusted', 'lean']"]


def test_a_hold_rule_without_its_hold_fails(trd):
    hold = next(r for r in trd["rule"] if r["effect"] == "hold")
    del hold["hold"]
    assert any("'hold' is a required property" in e for e in _errors(trd))


def test_a_field_of_another_effect_fails(trd):
    trd["rule"][0]["item"] = "A check item on an exclude rule"
    (error,) = _errors(trd)
    assert error.startswith("rule/0: ") and "should not be valid under" in error


def test_a_rate_protocol_needs_max_mg_per_hour():
    crps = _document(ROOT / "examples" / "protocols" / "crps-iv-rate.toml")
    del crps["dose"]["max_mg_per_hour"]
    assert _errors(crps) == ["dose: 'max_mg_per_hour' is a required property"]


def test_both_bag_and_final_concentration_fail(trd):
    trd["drug"]["final_concentration"] = "1 mg/mL"
    (error,) = _errors(trd)
    assert error.startswith("drug: ") and "should not be valid under {'required': ['bag', 'final_concentration']}" in error


def _properties(node: dict) -> tuple[str, ...]:
    return tuple(node["properties"])


def test_property_names_are_the_loaders_key_tuples():
    s = schema()
    top = s["properties"]
    rule = top["rule"]["items"]
    test = top["test"]["items"]
    patient = test["properties"]["patient"]
    assert _properties(s) == L.TOP_KEYS
    assert _properties(top["protocol"]) == L.PROTOCOL_KEYS
    assert _properties(top["drug"]) == L.DRUG_KEYS
    assert _properties(top["dose"]) == L.DOSE_KEYS
    assert _properties(top["schedule"]) == L.SCHEDULE_KEYS
    assert _properties(top["schedule"]["properties"]["phase"]["items"]) == L.PHASE_KEYS
    assert _properties(top["checklist"]) == L.CHECKLIST_KEYS
    assert _properties(rule) == L.RULE_KEYS
    assert _properties(s["$defs"]["when"]) == L.WHEN_KEYS
    assert _properties(top["vocabulary"]) == L.VOCABULARY_KEYS
    assert _properties(test) == L.TEST_KEYS
    assert _properties(test["properties"]["expect"]) == L.EXPECT_KEYS
    assert _properties(patient) == P.PATIENT_KEYS
    assert _properties(patient["properties"]["conditions"]["items"]["anyOf"][1]) == P.CONDITION_KEYS
    assert _properties(patient["properties"]["medications"]["items"]["anyOf"][1]) == P.MEDICATION_KEYS
    assert _properties(patient["properties"]["infusions"]["items"]) == P.INFUSION_KEYS
    assert _properties(patient["properties"]["scores"]) == (*SCORE_RANGES, "scored_on")


def test_every_table_refuses_keys_it_does_not_list():
    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    tables = list(walk(schema()))
    assert tables and all(t["additionalProperties"] is False for t in tables)


def test_when_is_recursive_through_any_and_not():
    when = schema()["$defs"]["when"]["properties"]
    assert when["not"] == {"$ref": "#/$defs/when"}
    assert when["any"]["items"] == {"$ref": "#/$defs/when"}


def test_when_integer_ranges_are_the_loaders():
    when = schema()["$defs"]["when"]["properties"]
    assert {k: (when[k]["minimum"], when[k]["maximum"]) for k in L.WHEN_INT_KEYS} == L.WHEN_INT_KEYS


def test_every_property_has_a_description_for_editor_hover():
    def missing(node, path=""):
        if isinstance(node, dict):
            tables = node.get("properties", {}) if node.get("type") == "object" else {}
            for key, value in tables.items():
                if "description" not in value and "$ref" not in value:
                    yield f"{path}/{key}"
            for key, value in node.items():
                yield from missing(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from missing(value, f"{path}/{i}")

    assert sorted(set(missing(schema()))) == []


def _error_count(document: dict, validator) -> int:
    """Every error a validator finds, the errors inside a failed oneOf/anyOf included (as an editor lists them)."""

    def count(error) -> int:
        return 1 + sum(count(e) for e in error.context)

    checker = validator(schema(), format_checker=validator.FORMAT_CHECKER)
    return sum(count(e) for e in checker.iter_errors(document))


DOSE_CASES = [
    (path, key)
    for path in (ROOT / "examples/protocols/trd-iv-induction.toml", ROOT / "examples/protocols/crps-iv-rate.toml")
    for key in tomllib.loads(path.read_text(encoding="utf-8"))["dose"]
]


@pytest.mark.parametrize("validator", [jsonschema.Draft7Validator, jsonschema.Draft202012Validator], ids=["7", "2020-12"])
@pytest.mark.parametrize("path,key", DOSE_CASES, ids=[f"{p.stem}:{k}" for p, k in DOSE_CASES])
def test_one_misspelt_dose_key_gives_one_or_two_errors(path, key, validator):
    document = _document(path)
    document["dose"][key + "x"] = document["dose"].pop(key)
    assert 1 <= _error_count(document, validator) <= 2, _errors(document, validator)


def test_a_misspelt_amount_names_the_key_that_is_missing():
    trd = _document(ROOT / "examples/protocols/trd-iv-induction.toml")
    trd["dose"]["mg_per_kgg"] = trd["dose"].pop("mg_per_kg")
    assert "dose: 'mg_per_kg' is a required property" in _errors(trd)
    crps = _document(ROOT / "examples/protocols/crps-iv-rate.toml")
    crps["dose"]["mg_per_kg_per_hr"] = crps["dose"].pop("mg_per_kg_per_hour")
    assert "dose: 'mg_per_kg_per_hour' is a required property" in _errors(crps)


def test_the_dose_mode_rules_still_hold(trd):
    both = dict(trd["dose"], mg_per_kg_per_hour=0.1, max_mg_per_hour=20)
    assert _error_count(dict(trd, dose=both), jsonschema.Draft7Validator) == 1
    rate_cap_on_a_per_session_dose = dict(trd["dose"], max_mg_per_hour=20)
    assert _error_count(dict(trd, dose=rate_cap_on_a_per_session_dose), jsonschema.Draft7Validator) == 1
    neither = {k: v for k, v in trd["dose"].items() if k != "mg_per_kg"}
    assert _errors(dict(trd, dose=neither)) == ["dose: 'mg_per_kg' is a required property"]
