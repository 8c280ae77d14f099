"""Property-based fuzzing: random patient and protocol documents, valid and deliberately broken.

Documents are built as dicts and written with tomli_w, then read by the real loaders and drafted
by the real engine. Two promises are checked on every example:

- nothing escapes but the project's own `KetaplanError` (a mistake reported with its file, line
  and field; never an internal error, never a traceback);
- every plan keeps the safety invariants of tests/test_invariants.py (doses within every cap and
  traceable, no schedule for an excluded patient, evidence for every finding, a verdict that
  follows the findings, sign-off acknowledging every review, sessions only on allowed days).

Profiles: HYPOTHESIS_PROFILE=ci (the default; 1,080 examples in all, under a minute) or
HYPOTHESIS_PROFILE=long (20 times as many, for a night run).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketaplan.engine.plan import Inputs, build_plan
from ketaplan.errors import KetaplanError
from ketaplan.load.patient import read_patient_bytes
from ketaplan.load.protocol import read_protocol_bytes
from ketaplan.render.json import plan_json_text
from tests.test_invariants import assert_plan_invariants

# ci: the same examples on every run (a failure in CI reproduces on any machine); long: random ones.
settings.register_profile("ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
pytestmark = pytest.mark.slow  # the fast loop, `pytest -m "not slow"`, leaves the fuzzers to the full run
SCALE = 20 if PROFILE == "long" else 1


def examples(n: int) -> settings:
    # Applied per test, not loaded globally: the other test files keep their own settings.
    return settings(settings.get_profile(PROFILE), max_examples=n * SCALE)


#: Examples per test in the ci profile; the module docstring states their sum.
VALID_PLANS, BROKEN_PATIENTS, BROKEN_PROTOCOLS, RANDOM_TEXT, RULE_TREES = 300, 250, 250, 80, 200

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PROTOCOL_ID = "fuzz-protocol"

# ------------------------------------------------------------------------------ names

CONDITION_TERMS = (
    "depressive disorder", "psychotic disorder", "schizophrenia", "mania", "hypertension",
    "substance use disorder", "cardiovascular disease", "liver disease", "glaucoma", "pre-eclampsia",
)  # fmt: skip
DRUG_TERMS = (
    "benzodiazepine", "lorazepam", "z-drug", "monoamine oxidase inhibitor", "stimulant", "xanthine",
    "opioid antagonist", "naltrexone", "lamotrigine", "ssri", "thyroid hormone", "cyp3a4 inhibitor",
)  # fmt: skip
ALLERGY_TERMS = ("penicillin", "ketamine", "latex", "opioid", "nsaid")

# Patient names: recognised, misspelt, and look-alikes (Cyrillic о, Greek ο, zero-width space).
PATIENT_CONDITIONS = (
    "treatment-resistant depression", "major depressive disorder", "schizophrenia", "essential hypertension",
    "bipolar depression", "alcohol use disorder", "mania", "glaucoma", "PTSD", "schizofrenia",
    "schiz\u043ephrenia", "hyper\u200btension", "\uff50\uff54\uff53\uff44",
)  # fmt: skip
PATIENT_MEDICATIONS = (
    "lorazepam 1 mg at night", "Ativan 0.5 mg", "sertraline 100 mg once daily", "theophylline 200 mg",
    "phenelzine 15 mg", "naltrexone 50 mg", "levothyroxine 100 micrograms", "lamotrigine 100 mg",
    "methylphenidate 10 mg", "zopiclone 7.5 mg", "l\u043erazepam 1 mg", "l\u03bfrazepam", "loraz\u200bepam",
    "unknownium 5 mg", "lorazepam and diazepam",
)  # fmt: skip
PATIENT_ALLERGIES = (
    "penicillin", "latex", "peanut", "egg", "codeine", "ibuprofen", "Ketalar", "ketamine", "k\u0435tamine",
    "unknown allergen",
)  # fmt: skip

# ------------------------------------------------------------------------------ patients

START_DATES = st.dates(date(2026, 1, 1), date(2028, 12, 31))


def _decimal(lo: str, hi: str, places: int = 1):
    return st.decimals(Decimal(lo), Decimal(hi), places=places, allow_nan=False, allow_infinity=False)


@st.composite
def height_and_weight(draw):
    """A height and weight written in any accepted unit, with a BMI inside the plausible range."""
    height_cm = draw(_decimal("130", "210"))
    bmi = draw(_decimal("10.5", "90"))
    weight_kg = (bmi * height_cm * height_cm / 10000).quantize(Decimal("0.1"))
    if not Decimal(2) <= weight_kg <= Decimal(400):
        weight_kg = Decimal(70)
    height = draw(
        st.sampled_from(
            [
                f"{height_cm} cm",
                f"{(height_cm / 100).quantize(Decimal('0.0001'))} m",
                f"{(height_cm / Decimal('2.54')).quantize(Decimal('0.1'))} in",
            ]
        )
    )
    if draw(st.booleans()):
        weight = f"{weight_kg} kg"
    else:
        pounds = (weight_kg / Decimal("0.45359237")).quantize(Decimal("0.1"))
        weight = f"{pounds} {draw(st.sampled_from(['lb', 'lbs', 'LB']))}"
    return height, weight


def _maybe(draw, strategy, p: bool | None = None):
    return draw(strategy) if (draw(st.booleans()) if p is None else p) else None


@st.composite
def patient_documents(draw, start: date):
    """A valid patient document (a dict) for the given start date."""
    sex = draw(st.sampled_from(["female", "male"]))
    height, weight = draw(height_and_weight())
    patient_id = draw(st.from_regex(r"[A-Z]{1,3}-[0-9]{1,5}", fullmatch=True))
    doc = {"id": patient_id, "sex": sex, "height": height, "weight": weight}
    if draw(st.booleans()):
        doc["age"] = draw(st.integers(0, 120))
    else:
        doc["date_of_birth"] = start - timedelta(days=draw(st.integers(0, 120 * 365)))
    optional = {
        "weighed_on": st.integers(0, 400).map(lambda n: start - timedelta(days=n)),
        "pregnant": st.booleans() if sex == "female" else st.just(False),
        "breastfeeding": st.booleans() if sex == "female" else st.just(False),
        "blood_pressure": st.integers(60, 290).flatmap(
            lambda s: st.integers(30, min(s - 1, 190)).map(lambda d: f"{s}/{d}")
        ),
        "heart_rate": st.integers(20, 250),
        "spo2": st.integers(50, 100),
        "allergies": st.lists(st.sampled_from(PATIENT_ALLERGIES), max_size=3, unique=True),
        "conditions": st.lists(
            st.one_of(
                st.sampled_from(PATIENT_CONDITIONS),
                st.fixed_dictionaries(
                    {"name": st.sampled_from(PATIENT_CONDITIONS)},
                    optional={
                        "status": st.sampled_from(["active", "history"]),
                        "code": st.sampled_from(["F33.2", "I10", "F20", "F10.2"]),
                    },
                ),
            ),
            max_size=3,
        ),
        "medications": st.lists(st.sampled_from(PATIENT_MEDICATIONS), max_size=3, unique=True),
        "scores": st.fixed_dictionaries(
            {}, optional={"phq9": st.integers(0, 27), "madrs": st.integers(0, 60), "gad7": st.integers(0, 21)}
        ),
        "infusions": st.lists(
            st.fixed_dictionaries(
                {
                    "date": st.integers(0, 200).map(lambda n: start - timedelta(days=n)),
                    "dose": st.integers(1, 100).map(lambda n: f"{n} mg"),
                },
                optional={"protocol": st.sampled_from([PROTOCOL_ID, "other-protocol"])},
            ),
            max_size=3,
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    return doc


# ------------------------------------------------------------------------------ protocols

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MISSING_FIELDS = [
    "date_of_birth", "weighed_on", "blood_pressure", "heart_rate", "spo2", "allergies", "conditions", "medications",
    "scores", "infusions", "scores.phq9",
]  # fmt: skip

LEAF_CLAUSES = {
    "age_at_least": st.integers(0, 100),
    "age_below": st.integers(1, 100),
    "sex": st.sampled_from(["female", "male"]),
    "weight_kg_at_least": _decimal("20", "200"),
    "weight_kg_below": _decimal("20", "200"),
    "bmi_at_least": _decimal("15", "60"),
    "bmi_below": _decimal("15", "60"),
    "condition": st.lists(st.sampled_from(CONDITION_TERMS), min_size=1, max_size=2, unique=True),
    "active_condition": st.lists(st.sampled_from(CONDITION_TERMS), min_size=1, max_size=2, unique=True),
    "medication": st.lists(st.sampled_from(DRUG_TERMS), min_size=1, max_size=2, unique=True),
    "allergy": st.lists(st.sampled_from(ALLERGY_TERMS), min_size=1, max_size=2, unique=True),
    "blood_pressure_at_least": st.sampled_from(["140/90", "160/100", "180/110"]),
    "systolic_at_least": st.integers(90, 200),
    "diastolic_at_least": st.integers(50, 120),
    "heart_rate_at_least": st.integers(40, 150),
    "heart_rate_below": st.integers(40, 150),
    "spo2_below": st.integers(85, 100),
    "pregnant": st.sampled_from([True, False, "unknown"]),
    "breastfeeding": st.sampled_from([True, False, "unknown"]),
    "score_at_least": st.fixed_dictionaries({"phq9": st.integers(0, 27)}),
    "score_below": st.fixed_dictionaries({"madrs": st.integers(0, 60)}),
    "missing": st.lists(st.sampled_from(MISSING_FIELDS), min_size=1, max_size=2, unique=True),
    "sessions_given_at_least": st.integers(0, 4),
    "days_since_last_infusion_below": st.integers(1, 60),
    # The course (spec/course.md): the fuzz patients record no vitals, adverse events or assessments,
    # so these are mostly unknown, the case that must never raise a dose.
    "series_sessions_at_least": st.integers(0, 3),
    "response_below": st.fixed_dictionaries({"madrs": st.integers(0, 100)}),
    "peak_blood_pressure_at_least": st.sampled_from(["160/100", "180/110"]),
    "adverse_event": st.lists(st.sampled_from(["nausea", "hypertension"]), min_size=1, max_size=2, unique=True),
    "stopped_early": st.booleans(),
}


LEAF_KEYS = st.lists(st.sampled_from(sorted(LEAF_CLAUSES)), min_size=1, max_size=3, unique=True)


@st.composite
def when_tables(draw, depth: int = 3):
    """Random `when` trees: leaf tests joined by the implicit and, `any` lists and `not` tables."""
    shape = draw(st.sampled_from(["leaves", "leaves", "leaves+any", "leaves+not", "any", "not"])) if depth else "leaves"
    table = {}
    if shape.startswith("leaves"):
        table = {key: draw(LEAF_CLAUSES[key]) for key in draw(LEAF_KEYS)}
    if shape.endswith("any"):
        table["any"] = [draw(when_tables(depth - 1)) for _ in range(draw(st.integers(1, 3)))]
    elif shape.endswith("not"):
        table["not"] = draw(when_tables(depth - 1))
    return table


@st.composite
def rule_tables(draw, index: int, round_to: Decimal, mode: str | None = None):
    # Adjust rules, where the dose arithmetic is, come up most; an exclusion always has a condition.
    # With the dose mode known, titrate rules too (spec/course.md).
    effects = ["exclude", "review", "adjust", "adjust", "adjust", "hold", "check", "note"]
    effect = draw(st.sampled_from(effects + (["titrate", "titrate"] if mode else [])))
    rule = {"id": f"R-{index}", "effect": effect, "message": f"Rule {index}."}
    when = draw(when_tables()) if effect == "exclude" or draw(st.integers(0, 3)) else None
    if effect == "hold":
        when = {**(when or {}), "medication": draw(LEAF_CLAUSES["medication"])}
        rule["hold"] = "Omit before each session"
    elif effect == "adjust":
        fields = draw(st.sets(st.sampled_from(["dose_factor", "weight_basis", "max_mg"]), min_size=1))
        if "dose_factor" in fields:
            rule["dose_factor"] = draw(_decimal("0.05", "1", places=2).filter(lambda x: x > 0))
        if "weight_basis" in fields:
            rule["weight_basis"] = draw(st.sampled_from(["actual", "ideal", "adjusted", "lean"]))
        if "max_mg" in fields:
            rule["max_mg"] = round_to * draw(st.integers(1, 40))
    elif effect == "check":
        rule["stage"] = draw(st.sampled_from(["pre", "during", "after"]))
        rule["item"] = f"Check {index}"
    elif effect == "titrate":
        rule[mode] = draw(_decimal("0.05", "2" if mode == "mg_per_kg" else "7", places=2).filter(lambda x: x > 0))
    if when is not None:
        rule["when"] = when
    return rule


@st.composite
def protocol_documents(draw, start: date):
    """A valid protocol document (a dict)."""
    rate = draw(st.booleans())
    round_to = draw(st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("2.5"), Decimal(5), Decimal("0.1")]))
    dose = {
        "duration": draw(st.sampled_from(["40 min", "1 h", "1 h 30 min", "4 h", "45 min", "7 min"])),
        "weight_basis": draw(st.sampled_from(["actual", "ideal", "adjusted", "lean"])),
        "max_mg": round_to * draw(st.integers(1, 60)),
        "round_to": round_to,
    }
    key, upper = ("mg_per_kg_per_hour", "7") if rate else ("mg_per_kg", "2")
    dose[key] = draw(_decimal("0.01", upper, places=2).filter(lambda x: x > 0))
    if rate:
        dose["max_mg_per_hour"] = round_to * draw(st.integers(1, 60))
    if draw(st.booleans()):
        dose["weight_valid_days"] = draw(st.integers(1, 90))
    drug = {
        "name": draw(st.sampled_from(["ketamine", "esketamine"])),
        "stock": draw(st.sampled_from(["10 mg/mL", "50 mg/mL", "1 mg/mL"])),
    }
    container = draw(st.sampled_from(["bag", "final", None]))
    if container == "bag":
        drug["bag"] = draw(st.sampled_from(["100 mL", "50 mL", "250 mL"]))
    elif container == "final":
        # A final concentration is diluted from the stock, so never stronger than it.
        finals = ["0.5 mg/mL", "1 mg/mL"] + (["2 mg/mL"] if drug["stock"] != "1 mg/mL" else [])
        drug["final_concentration"] = draw(st.sampled_from(finals))
    schedule = {}
    if draw(st.booleans()):
        schedule["days"] = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=5, unique=True))
    if draw(st.booleans()):
        schedule["holidays"] = "GB-ENG"
    if draw(st.booleans()):
        closed = st.integers(0, 60).map(lambda n: start + timedelta(days=n))
        schedule["closed"] = draw(st.lists(closed, max_size=6, unique=True))
    phases = []
    for n in range(draw(st.integers(1, 3))):
        sessions = draw(st.integers(1, 8))
        phase = {"name": f"phase-{n}", "sessions": sessions, "min_gap_days": draw(st.integers(1, 30))}
        if draw(st.booleans()):
            phase["within_days"] = draw(st.integers(1, 90))
        choice = draw(st.sampled_from(["none", "one", "list"]))
        if choice == "one":
            phase[key] = draw(_decimal("0.01", upper, places=2).filter(lambda x: x > 0))
        elif choice == "list":
            amount = _decimal("0.01", upper, places=2).filter(lambda x: x > 0)
            phase[key] = draw(st.lists(amount, min_size=sessions, max_size=sessions))
        if draw(st.booleans()):
            phase["days"] = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True))
        phases.append(phase)
    schedule["phase"] = phases
    head = {"id": PROTOCOL_ID, "title": "Fuzz", "version": "1"}
    if draw(st.booleans()):
        head["review_due"] = start + timedelta(days=draw(st.integers(-30, 120)))
    if draw(st.booleans()):
        head["indications"] = ["depressive disorder"]
    rules = [draw(rule_tables(i, round_to, key)) for i in range(draw(st.integers(0, 6)))]
    doc = {"protocol": head, "drug": drug, "dose": dose, "schedule": schedule}
    if rules:
        doc["rule"] = rules
    return doc


# ------------------------------------------------------------------------------ breaking them

WRONG_VALUES = st.one_of(
    st.integers(-(10**25), 10**25),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.sampled_from(
        ["", " ", "82", "82 kgs", "82,5 kg", "-5 kg", "0 kg", "NaN kg", ".5 mg", "1e3 kg", "\uff15 cm", "160/", "x/y"]
    ),
    st.dates(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(value, prefix=()):
    """Every path to a value inside a document (tables and lists both)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, prefix + (i,)))
    return out


@st.composite
def broken(draw, documents):
    """A valid document with one thing broken: a key dropped, a value of the wrong type, a misspelt key."""
    doc = draw(documents)
    paths = _paths(doc)
    parent_of = dict.fromkeys(p[:-1] for p in paths)
    leaves = [p for p in paths if p not in parent_of]
    # Mostly a value (a number, a unit, a name), sometimes a whole table or list.
    # (Hypothesis draws small numbers most: counted from the end, they fall on the deepest values.)
    pool = paths if draw(st.integers(0, 4)) == 4 else leaves
    path = pool[-1 - draw(st.integers(0, len(pool) - 1))]
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    how = draw(st.sampled_from(["wrong", "drop", "misspell"]))
    if how == "drop" or (how == "misspell" and isinstance(parent, list)):
        del parent[last]
    elif how == "wrong":
        parent[last] = draw(WRONG_VALUES)
    else:
        parent[str(last) + draw(st.sampled_from(["x", "_", "s"]))] = parent.pop(last)
    return doc


def dumps(doc: dict) -> bytes:
    return tomli_w.dumps(doc).encode("utf-8")


def fake_holidays(year: int) -> frozenset[date]:
    # A stand-in calendar (the holidays package is exercised by the date tests).
    return frozenset({date(year, 1, 1), date(year, 5, 4), date(year, 12, 25), date(year, 12, 28)})


def draft(patient_bytes: bytes, protocol_bytes: bytes, start: date):
    protocol = read_protocol_bytes(protocol_bytes, "protocol.toml")
    patient = read_patient_bytes(patient_bytes, "patient.toml", start)
    inputs = Inputs(start=start, now=NOW, holidays=fake_holidays)
    return build_plan(patient.patient, protocol.protocol, inputs), patient, protocol


# ------------------------------------------------------------------------------ the properties


@examples(VALID_PLANS)
@given(st.data())
def test_every_valid_random_plan_keeps_the_safety_invariants(data):
    start = data.draw(START_DATES)
    patient_doc = data.draw(patient_documents(start))
    protocol_doc = data.draw(protocol_documents(start))
    try:
        plan, patient, protocol = draft(dumps(patient_doc), dumps(protocol_doc), start)
    except KetaplanError as exc:
        # The only valid-by-construction document that may fail: a calendar with no open day.
        assert "no allowed date" in str(exc), exc
        return
    assert_plan_invariants(plan, protocol.protocol, patient.patient, start, fake_holidays)
    plan_json_text(plan)  # every plan can be written out


@examples(BROKEN_PATIENTS)
@given(st.data())
def test_a_broken_patient_document_is_only_ever_a_ketaplan_error(data):
    start = data.draw(START_DATES)
    text = dumps(data.draw(broken(patient_documents(start))))
    protocol = dumps(data.draw(protocol_documents(start)))
    try:
        plan, patient, loaded = draft(text, protocol, start)
    except KetaplanError as exc:
        assert exc.render().strip()
        return
    assert_plan_invariants(plan, loaded.protocol, patient.patient, start, fake_holidays)


@examples(BROKEN_PROTOCOLS)
@given(st.data())
def test_a_broken_protocol_document_is_only_ever_a_ketaplan_error(data):
    start = data.draw(START_DATES)
    patient = dumps(data.draw(patient_documents(start)))
    text = dumps(data.draw(broken(protocol_documents(start))))
    try:
        plan, loaded_patient, protocol = draft(patient, text, start)
    except KetaplanError as exc:
        assert exc.render().strip()
        return
    assert_plan_invariants(plan, protocol.protocol, loaded_patient.patient, start, fake_holidays)


@examples(RANDOM_TEXT)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_are_only_ever_a_ketaplan_error(data):
    try:
        read_patient_bytes(data, "p.toml", date(2026, 12, 1))
    except KetaplanError:
        pass
    try:
        read_protocol_bytes(data, "q.toml")
    except KetaplanError:
        pass


@examples(RULE_TREES)
@given(st.data())
def test_random_rule_trees_fail_closed_and_keep_the_invariants(data):
    # Many rules, deep trees, a patient with much unrecorded: the three-valued logic at full stretch.
    start = date(2026, 12, 1)
    protocol_doc = data.draw(protocol_documents(start))
    mode = "mg_per_kg" if "mg_per_kg" in protocol_doc["dose"] else "mg_per_kg_per_hour"
    protocol_doc["rule"] = [data.draw(rule_tables(i, protocol_doc["dose"]["round_to"], mode)) for i in range(12)]
    patient_doc = data.draw(patient_documents(start))
    try:
        plan, patient, protocol = draft(dumps(patient_doc), dumps(protocol_doc), start)
    except KetaplanError as exc:
        assert "no allowed date" in str(exc), exc
        return
    assert_plan_invariants(plan, protocol.protocol, patient.patient, start, fake_holidays)
    for rule in protocol.protocol.rules:
        f = next((f for f in plan.findings if f.rule == rule.id), None)
        if f is not None and f.unknown and rule.effect in ("exclude", "review", "adjust", "hold"):
            assert f.effect == "review", f  # an unknown never passes silently
