"""`ketaplan import fhir` and `check` of FHIR bundles, on the two Synthea R4 sample bundles and on
small bundles written here. Expected values are read by hand from the JSON files, not recomputed."""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from pathlib import Path

import pytest

from tests.builders import run_cli as run

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests/data/fhir"
BUSTER = DATA / "synthea-ad2e3fc5.json"
CLEMENTE = DATA / "synthea-1484a42d.json"
INDUCTION = str(ROOT / "examples/protocols/trd-iv-induction.toml")

# Strings from the bundles that must never reach a patient file: names, the mother's maiden name,
# social security and passport numbers, the birthplace.
NAMES = ["Buster", "Hoeger", "Faith Tremblay", "999-59-2277", "X66226025X", "Dedham",
         "Clemente", "Kreiger", "Kami Strosin", "999-48-8934", "Macau"]  # fmt: skip


def import_to(capsys, tmp_path, bundle, *extra) -> tuple[int, str, str, Path]:
    out = tmp_path / "patient.toml"
    code, stdout, err = run(capsys, "import", "fhir", str(bundle), "--output", str(out), *extra)
    return code, stdout, err, out


def test_the_first_synthea_bundle_imports_the_values_the_bundle_holds(capsys, tmp_path):
    code, _, err, out = import_to(capsys, tmp_path, BUSTER, "--as-of", "2019-12-20")
    assert code == 0, err
    text = out.read_text("utf-8")
    doc = tomllib.loads(text)
    # Hand-read from synthea-ad2e3fc5.json: Patient, and the Observations of 2019-12-18.
    assert doc["id"] == "e4531916-b162-4f4b-90c2-ce37e132b8d4"
    assert doc["date_of_birth"].isoformat() == "1988-03-16"
    assert doc["sex"] == "male"
    assert doc["height"] == "185.8289545670521 cm"
    assert doc["weight"] == "85.00274638024895 kg"
    assert doc["weighed_on"].isoformat() == "2019-12-18"
    assert doc["blood_pressure"] == "124/75"  # 123.7373447247063 / 75.29115048493013, half up
    assert doc["conditions"] == [
        {"name": "Chronic sinusitis (disorder)", "snomed": "40055000", "status": "active"},
        {"name": "Viral sinusitis (disorder)", "snomed": "444814009", "status": "history"},
    ]
    # Absent stays absent: no heart rate, SpO2, allergies, current medicines or PHQ-9 in the bundle.
    for key in ("heart_rate", "spo2", "allergies", "medications", "scores", "pregnant", "age"):
        assert key not in doc
    # The comment block: the bundle's SHA-256 (not its file name), the as-of date, what was left out.
    sha = hashlib.sha256(BUSTER.read_bytes()).hexdigest()
    assert f"# bundle sha256: {sha}\n" in text
    assert "# as of: 2019-12-20\n" in text
    assert "synthea-ad2e3fc5" not in text
    assert "MedicationRequest/b94a6157-a3b4-40b0-8d98-abadf7227a0a (RxNorm 562251" in text
    assert "status 'stopped'" in text
    assert (
        "Observation/37663719-c702-4588-964e-27d987ab94ed (LOINC 55284-4 Blood Pressure, 2013-12-11): superseded"
        in text
    )
    # The same report on stderr.
    comments = [line[2:] for line in text.splitlines() if line.startswith("# ")]
    for line in err.strip().splitlines():
        assert line in comments
    assert f"bundle sha256: {sha}" in err
    for name in NAMES:
        assert name not in text and name not in err


def test_the_second_synthea_bundle_and_its_old_blood_pressure(capsys, tmp_path):
    code, _, err, out = import_to(capsys, tmp_path, CLEMENTE, "--as-of", "2019-12-20")
    assert code == 0, err
    doc = tomllib.loads(out.read_text("utf-8"))
    assert doc["id"] == "d78af07c-9cb9-4f31-9b11-c45a28f2eec8"
    assert doc["date_of_birth"].isoformat() == "1984-07-02"
    assert doc["height"] == "168.80253764416227 cm"
    assert doc["weight"] == "86.83489335670869 kg"
    assert doc["weighed_on"].isoformat() == "2018-09-17"
    assert doc["conditions"] == [
        {"name": "Body mass index 30+ - obesity (finding)", "snomed": "162864005", "status": "active"}
    ]
    # The latest blood pressure is of 2018-09-17: more than 30 days before --as-of, so not imported.
    assert "blood_pressure" not in doc
    assert "(LOINC 55284-4 Blood Pressure, 2018-09-17): too old: more than 30 days before --as-of" in err
    # Within the window it is: 122.45876888709122 / 86.929055068346.
    code, _, err, out2 = import_to(capsys, tmp_path / "..", CLEMENTE, "--as-of", "2018-10-01", "--force")
    assert code == 0, err
    assert tomllib.loads(out2.read_text("utf-8"))["blood_pressure"] == "122/87"


@pytest.mark.parametrize("bundle", [BUSTER, CLEMENTE], ids=["ad2e3fc5", "1484a42d"])
def test_each_imported_file_is_drafted_by_plan_as_it_is(capsys, tmp_path, bundle):
    code, _, err, out = import_to(capsys, tmp_path, bundle)  # --as-of today
    assert code == 0, err
    code, stdout, err = run(capsys, "plan", str(out), "--protocol", INDUCTION, "--format", "json")
    assert code == 0, err
    plan = json.loads(stdout)
    # Medicines and allergies are not recorded, so the plan needs review rather than being eligible.
    assert plan["verdict"] == "needs-review"
    assert plan["patient"]["sex"] == "male"
    ids = {f["rule"] for f in plan["findings"]}
    assert {"UNRECOGNISED-CONDITION", "INDICATION-NOT-RECORDED", "WEIGHT-OUT-OF-DATE"} <= ids


def test_output_to_stdout_and_an_existing_file_needs_force(capsys, tmp_path):
    code, stdout, err = run(capsys, "import", "fhir", str(BUSTER), "--as-of", "2019-12-20")
    assert code == 0 and stdout.startswith("# A patient file imported") and 'id = "e4531916' in stdout
    out = tmp_path / "p.toml"
    out.write_text("keep")
    code, _, err = run(capsys, "import", "fhir", str(BUSTER), "--output", str(out))
    assert code == 2 and "exists already" in err and out.read_text() == "keep"


# ------------------------------------------------------------------------------ small bundles


def bundle(*resources, patient: dict | None = None) -> dict:
    pat = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-05-06",
           "name": [{"family": "Secretname", "given": ["Ann"]}]}  # fmt: skip
    pat.update(patient or {})
    entries = [{"fullUrl": "urn:uuid:p1", "resource": pat}]
    for i, r in enumerate(resources):
        owner = {} if r["resourceType"] == "AllergyIntolerance" else {"subject": {"reference": "urn:uuid:p1"}}
        r = {"id": f"r{i}", **owner, **r}
        entries.append({"fullUrl": f"urn:uuid:r{i}", "resource": r})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def obs(code: str, day: str, **value) -> dict:
    return {"resourceType": "Observation", "status": "final", "effectiveDateTime": f"{day}T10:00:00Z",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, **value}  # fmt: skip


def qty(value, code: str) -> dict:
    return {"valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": code, "unit": code}}


def condition(text: str, status: str, *codings) -> dict:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        },
        "code": {"text": text, "coding": [{"system": s, "code": c} for s, c in codings]},
    }


SCT = "http://snomed.info/sct"
BASICS = [obs("8302-2", "2026-11-20", **qty(1.65, "m")), obs("29463-7", "2026-11-20", **qty(160, "[lb_av]"))]


def write(tmp_path, doc: dict, name: str = "b.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def imported(capsys, tmp_path, doc, *extra) -> tuple[int, dict | None, str]:
    code, _, err, out = import_to(capsys, tmp_path, write(tmp_path, doc), "--as-of", "2026-12-01", *extra)
    return code, (tomllib.loads(out.read_text("utf-8")) if code == 0 else None), err


def test_units_vitals_pregnancy_scores_allergies_and_medicines(capsys, tmp_path):
    code, doc, err = imported(
        capsys,
        tmp_path,
        bundle(
            *BASICS,
            obs(
                "85354-9",
                "2026-11-25",
                component=[
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, **qty(141.5, "mm[Hg]")},
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, **qty(88.49, "mm[Hg]")},
                ],
            ),  # fmt: skip
            obs("8867-4", "2026-11-25", **qty(71, "/min")),
            obs("59408-5", "2026-11-25", **qty(97, "%")),
            obs(
                "82810-3",
                "2026-11-28",
                valueCodeableConcept={"coding": [{"system": "http://loinc.org", "code": "LA26683-5"}]},
            ),
            obs("44261-6", "2026-11-20", **qty(19, "{score}")),
            obs("44261-6", "2026-10-20", **qty(23, "{score}")),
            obs("70274-6", "2026-11-20", valueInteger=12),
            {
                "resourceType": "AllergyIntolerance",
                "patient": {"reference": "Patient/p1"},
                "code": {"text": "penicillin"},
                "clinicalStatus": {"coding": [{"code": "active"}]},
            },  # fmt: skip
            {
                "resourceType": "MedicationStatement",
                "status": "active",
                "medicationCodeableConcept": {"text": "sertraline 100 mg", "coding": [{"system": SCT, "code": "123"}]},
            },  # fmt: skip
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": "1",
                            "display": "lorazepam 1 MG",
                        }
                    ]
                },
            },  # fmt: skip
            {
                "resourceType": "MedicationStatement",
                "status": "completed",
                "medicationCodeableConcept": {"text": "aminophylline"},
            },
        ),
    )
    assert code == 0, err
    assert (doc["height"], doc["weight"], doc["weighed_on"].isoformat()) == ("1.65 m", "160 lb", "2026-11-20")
    assert (doc["blood_pressure"], doc["heart_rate"], doc["spo2"], doc["pregnant"]) == ("142/88", 71, 97, False)
    assert doc["scores"] == {"phq9": 19, "gad7": 12}
    assert doc["allergies"] == ["penicillin"]
    assert doc["medications"] == ["sertraline 100 mg", "lorazepam 1 MG"]
    assert "status 'completed'" in err and "codes kept here only, not matched: SNOMED CT 123" in err
    assert "Secretname" not in err


def test_grams_and_inches_convert_exactly_and_no_known_allergy_gives_an_empty_list(capsys, tmp_path):
    nka = {"resourceType": "AllergyIntolerance", "patient": {"reference": "urn:uuid:p1"},
           "code": {"coding": [{"system": SCT, "code": "716186003", "display": "No known allergy"}]}}  # fmt: skip
    doc = bundle(obs("8302-2", "2026-11-01", **qty(65, "[in_i]")), obs("29463-7", "2026-11-01", **qty(72550, "g")), nka)
    code, out, err = imported(capsys, tmp_path, doc)
    assert code == 0, err
    assert (out["height"], out["weight"], out["allergies"]) == ("65 in", "72.55 kg", [])


def test_a_snomed_only_depression_is_recognised_and_a_snomed_only_psychosis_excludes(capsys, tmp_path):
    depression = condition("Major depression, single episode (disorder)", "active", (SCT, "36923009"))
    code, doc, err = imported(capsys, tmp_path, bundle(*BASICS, depression))
    assert code == 0, err
    assert doc["conditions"] == [
        {"name": "Major depression, single episode (disorder)", "snomed": "36923009", "status": "active"}
    ]
    path = tmp_path / "patient.toml"
    code, stdout, err = run(
        capsys, "plan", str(path), "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "json"
    )
    assert code == 0, err
    assert "INDICATION-NOT-RECORDED" not in {f["rule"] for f in json.loads(stdout)["findings"]}

    psychosis = condition("Schizophrenia (disorder)", "resolved", (SCT, "58214004"))
    code, doc, err = imported(capsys, tmp_path, bundle(*BASICS, depression, psychosis), "--force")
    assert code == 0, err
    assert doc["conditions"][1] == {"name": "Schizophrenia (disorder)", "snomed": "58214004", "status": "history"}
    code, stdout, err = run(
        capsys, "plan", str(path), "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "json"
    )
    plan = json.loads(stdout)
    assert plan["verdict"] == "excluded"
    assert "EXCL-PSYCHOSIS" in {f["rule"] for f in plan["findings"]}


def test_icd10_codes_are_kept_and_entered_in_error_is_skipped(capsys, tmp_path):
    c1 = condition("Recurrent depressive disorder", "active", ("http://hl7.org/fhir/sid/icd-10-uk", "F33.2"))
    c2 = condition("schizophrenia", "active", (SCT, "58214004"))
    c2["verificationStatus"] = {"coding": [{"code": "entered-in-error"}]}
    code, doc, err = imported(capsys, tmp_path, bundle(*BASICS, c1, c2))
    assert code == 0, err
    assert doc["conditions"] == [{"name": "Recurrent depressive disorder", "code": "F33.2", "status": "active"}]
    assert "verificationStatus entered-in-error" in err


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["entry"][0]["resource"].update(gender="unknown"), "Patient.gender is 'unknown'"),
        (lambda d: d["entry"][0]["resource"].update(birthDate="1980"), "not a full date"),
        (lambda d: d["entry"][0]["resource"].update(id="..."), "give one with --id"),
        (lambda d: d["entry"].append(copy.deepcopy(d["entry"][0])), "choose one with --patient"),
        (lambda d: d.update(resourceType="Patient"), "not a Bundle"),
        (lambda d: d["entry"][1]["resource"].update(valueQuantityy=1), "entry[2] Observation/r0, field valueQuantityy"),
        (
            lambda d: d["entry"].append(
                {
                    "resource": {
                        "resourceType": "MedicationRequest",
                        "status": "active",
                        "intent": "order",
                        "subject": {"reference": "urn:uuid:p1"},
                        "medication": {"concept": {"text": "x"}},
                    }
                }
            ),  # fmt: skip
            "R5 resources are refused",
        ),
        (lambda d: d["entry"].__delitem__(0), "holds no Patient"),
        (lambda d: d["entry"][0]["resource"].update(deceasedBoolean=True), "recorded as deceased"),
    ],
    ids=[
        "gender",
        "partial-birth-date",
        "bad-id",
        "two-patients",
        "not-a-bundle",
        "bad-field",
        "r5",
        "no-patient",
        "deceased",
    ],
)
def test_a_bundle_that_cannot_be_used_is_refused_with_exit_2_and_no_file(capsys, tmp_path, change, message):
    doc = bundle(*BASICS)
    change(doc)
    code, out, err = imported(capsys, tmp_path, doc)
    assert code == 2
    assert message in err and str(tmp_path / "b.json") in err
    assert "Traceback" not in err and not (tmp_path / "patient.toml").exists()


def test_not_json_names_the_line_and_an_id_can_be_given(capsys, tmp_path):
    path = tmp_path / "b.json"
    path.write_text('{"resourceType": "Bundle",\n  oops}')
    code, _, err = run(capsys, "import", "fhir", str(path))
    assert code == 2 and f"{path}:2:3: error: is not JSON" in err
    code, doc, err = imported(capsys, tmp_path, bundle(*BASICS, patient={"id": "..."}), "--id", "P-0042")
    assert code == 0 and doc["id"] == "P-0042"


def test_several_patients_need_patient_and_only_that_patients_resources_are_read(capsys, tmp_path):
    doc = bundle(*BASICS)
    other = copy.deepcopy(doc["entry"][0])
    other["fullUrl"], other["resource"]["id"] = "urn:uuid:p2", "p2"
    doc["entry"].append(other)
    doc["entry"].append({"fullUrl": "urn:uuid:w2", "resource": {**obs("29463-7", "2026-11-30", **qty(50, "kg")), "id": "w2",
                                                                 "subject": {"reference": "Patient/p2"}}})  # fmt: skip
    code, out, err = imported(capsys, tmp_path, doc, "--patient", "Patient/p1")
    assert code == 0, err
    assert out["weight"] == "160 lb" and "Observation/w2: not about this patient" in err


def test_a_value_outside_the_patient_format_is_refused_rather_than_written(capsys, tmp_path):
    code, _, err = imported(capsys, tmp_path, bundle(obs("8302-2", "2026-11-01", **qty(165, "cm")),
                                                     obs("29463-7", "2026-11-01", **qty(900, "kg"))))  # fmt: skip
    assert code == 2 and "weight" in err and "outside 2..400 kg" in err


def test_check_reads_fhir_bundles_in_a_folder(capsys, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.json").write_bytes(BUSTER.read_bytes())
    (folder / "b.json").write_text("not json")
    code, out, err = run(
        capsys, "check", str(folder), "--protocol", INDUCTION, "--format", "jsonl", "--start", "2026-12-01"
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["verdict"] for r in rows] == ["needs-review", "invalid"]
    assert rows[0]["id"] == "e4531916-b162-4f4b-90c2-ce37e132b8d4"
    assert "is not JSON" in json.dumps(rows[1])


def test_text_from_the_bundle_cannot_add_a_line_to_the_patient_file(capsys, tmp_path):
    hostile = condition('x\nweight = "1 kg"\n# \x1b[31m', "active")
    meds = {
        "resourceType": "MedicationStatement",
        "status": "stopped",
        "medicationCodeableConcept": {"text": 'y\r\nsex = "male"'},
    }
    code, doc, err = imported(capsys, tmp_path, bundle(*BASICS, hostile, hostile, meds))
    assert code == 0, err
    assert doc["weight"] == "160 lb" and doc["sex"] == "female"
    assert doc["conditions"] == [{"name": 'x\nweight = "1 kg"\n# \x1b[31m', "status": "active"}]
    text = (tmp_path / "patient.toml").read_text("utf-8")
    assert "\x1b" not in text and "\x1b" not in err
    for line in text.splitlines():
        assert line not in ('weight = "1 kg"', 'sex = "male"')


def test_an_old_pregnancy_status_or_score_is_not_imported(capsys, tmp_path):
    not_pregnant = {"coding": [{"system": "http://loinc.org", "code": "LA26683-5"}]}
    code, doc, err = imported(
        capsys,
        tmp_path,
        bundle(
            *BASICS,
            obs("82810-3", "2026-09-01", valueCodeableConcept=not_pregnant),
            obs("44261-6", "2026-09-01", valueInteger=4),
        ),
    )
    assert code == 0, err
    assert "pregnant" not in doc and "scores" not in doc
    assert err.count("too old: more than 30 days before --as-of") == 2


def test_the_import_command_is_listed_in_the_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "import" in out and "Read a patient from a record system's export." in out


def test_an_absolute_or_versioned_reference_to_the_patient_is_followed(capsys, tmp_path):
    doc = bundle(*BASICS)
    doc["entry"][1]["resource"]["subject"] = {"reference": "https://ehr.example/fhir/Patient/p1/_history/3"}
    doc["entry"][2]["resource"]["subject"] = {"reference": "https://ehr.example/fhir/Patient/p10"}
    doc["entry"].append(
        {"fullUrl": "urn:uuid:w", "resource": {**BASICS[1], "id": "w", "subject": {"reference": "Patient/p1"}}}
    )
    code, out, err = imported(capsys, tmp_path, doc)
    assert code == 0, err
    assert out["height"] == "1.65 m" and out["weight"] == "160 lb" and "Observation/r1: not about this patient" in err


def test_no_usable_weight_refuses_the_import_and_says_why(capsys, tmp_path):
    code, _, err = imported(capsys, tmp_path, bundle(BASICS[0], obs("29463-7", "2026-11-20", **qty(70, "kg_av"))))
    assert code == 2 and "no usable weight (LOINC 29463-7 or 3141-9)" in err
    assert "unit 'kg_av' is not one of the UCUM units kg, g, [lb_av]" in err
