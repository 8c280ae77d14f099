"""decide() is the full pass: proven by properties over random protocols and patients.

`decide()` (engine/plan.py) asks each rule for its truth value only, through the closures that
engine/truth.py compiles once per protocol, and `explain()` builds evidence only for the rules that
fire or are unknown. These properties hold that to the full pass, which evaluates every rule with
its evidence (`logic.evaluate`, as drafting did before the split):

- every compiled rule gives exactly `evaluate(rule.when, facts).value`, for the patient and for the
  same patient a year younger or older (the ages AGE-CHANGES-DURING-PLAN asks about);
- the rules that fire (found through the per-protocol index of list tests, `Compiled.values`), their
  effects and unknowns are those the full pass finds, and each finding's evidence is the full pass's
  evidence for that rule;
- `check` (the decision) and `plan` (the Plan record) agree on the verdict, every finding id in
  order, and the first dose; `ketaplan check`'s line is built from the same decision.

The strategies are the fuzzers' own (tests/test_fuzz.py), so random rule trees, look-alike names,
missing fields and the course keys are all covered.
"""

from __future__ import annotations

from datetime import UTC, date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaplan.engine.facts import gather
from ketaplan.engine.logic import evaluate
from ketaplan.engine.plan import Inputs, decide, explain
from ketaplan.engine.truth import Lists, compiled
from ketaplan.errors import KetaplanError
from ketaplan.load.patient import read_patient_bytes
from ketaplan.load.protocol import read_protocol_bytes
from tests.test_fuzz import (
    NOW,
    PATIENT_ALLERGIES,
    PATIENT_CONDITIONS,
    PATIENT_MEDICATIONS,
    START_DATES,
    dumps,
    examples,
    fake_holidays,
    patient_documents,
    protocol_documents,
    rule_tables,
)

pytestmark = pytest.mark.slow

TRUTH_EXAMPLES, DECISION_EXAMPLES = 300, 300

#: Entries naming a second medicine after the first (the first matched, the rest read as unknown by
#: a rule on anything they may cover), added to the fuzzers' medication names.
SEVERAL = (
    "sertraline 50 mg plus lorazepam prn", "sertraline 100 mg and benzodiazepine", "lamotrigine and zopiclone",
    "naltrexone 50 mg with methylphenidate", "sertraline plus theophylline",
)  # fmt: skip


def _loaded(data, start: date, rules: int | None = None):
    protocol_doc = data.draw(protocol_documents(start))
    if rules is not None:
        mode = "mg_per_kg" if "mg_per_kg" in protocol_doc["dose"] else "mg_per_kg_per_hour"
        protocol_doc["rule"] = [data.draw(rule_tables(i, protocol_doc["dose"]["round_to"], mode)) for i in range(rules)]
    patient_doc = data.draw(patient_documents(start))
    if data.draw(st.booleans()):
        patient_doc["medications"] = data.draw(st.lists(st.sampled_from(SEVERAL + PATIENT_MEDICATIONS), max_size=3, unique=True))
    protocol = read_protocol_bytes(dumps(protocol_doc), "protocol.toml").protocol
    patient = read_patient_bytes(dumps(patient_doc), "patient.toml", start).patient
    return protocol, patient


def full_pass(patient, protocol, start: date):
    """Every rule evaluated with its evidence, and what fires, as drafting did before decide():
    [(rule id, effect on the plan, unknown, evidence words)]."""
    from ketaplan.engine.course import course_facts

    facts = gather(patient, start, protocol.vocabulary)._replace(course=course_facts(patient, protocol, start))
    out = []
    for rule in protocol.rules:
        result = evaluate(rule.when, facts)
        if result.value is False or (result.value is None and rule.effect == "note"):
            continue
        unknown = result.value is None
        effect = rule.effect
        if effect in ("exclude", "adjust", "hold", "titrate"):
            effect = "review" if unknown else effect
        evidence = tuple(e.words() for e in result.evidence)
        out.append((rule.id, effect, unknown, evidence))
    return out


@examples(TRUTH_EXAMPLES)
@given(st.data())
def test_every_compiled_rule_gives_the_value_of_the_full_evaluation(data):
    start = data.draw(START_DATES)
    protocol, patient = _loaded(data, start, rules=12)
    from ketaplan.engine.course import course_facts

    facts = gather(patient, start, protocol.vocabulary)._replace(course=course_facts(patient, protocol, start))
    work = compiled(protocol)
    lists = Lists(facts)
    for age in (patient.age, max(patient.age - 1, 0), patient.age + 1):
        at_age = facts._replace(patient=patient._replace(age=age))
        for rule, truth in zip(protocol.rules, work.truths):
            assert truth(at_age, lists) is evaluate(rule.when, at_age).value, (rule, age)


@examples(DECISION_EXAMPLES)
@given(st.data())
def test_decide_and_explain_are_the_full_pass_and_check_agrees_with_plan(data):
    start = data.draw(START_DATES)
    protocol, patient = _loaded(data, start, rules=data.draw(st.sampled_from([None, 12])))
    inputs = Inputs(start=start, now=NOW, holidays=fake_holidays)
    try:
        decision = decide(patient, protocol, inputs)
    except KetaplanError as exc:
        assert "no allowed date" in str(exc), exc
        return
    plan = explain(decision)

    # The rules that fire, with the full pass's effects, unknowns and evidence.
    expected = full_pass(patient, protocol, start)
    rule_ids = {r.id for r in protocol.rules}
    fired = [f for f in plan.findings if f.rule in rule_ids]
    titration = "an unknown titration is applied only to sessions where it lowers the dose: it never raises one"
    assert [(f.rule, f.effect, f.unknown) for f in fired] == [(i, e, u) for i, e, u, _ in expected]
    for f, (_, _, unknown, evidence) in zip(fired, expected):
        extra = (titration,) if f.rule_effect == "titrate" and unknown else ()
        assert f.evidence == evidence + extra, f.rule

    # check and plan cannot disagree: one decision under both.
    assert decision.verdict == plan.verdict
    assert decision.findings == tuple(f.rule for f in plan.findings)
    assert decision.unchecked == tuple(f.rule for f in plan.findings if f.unknown)
    assert decision.first_dose_mg == plan.first_dose_mg


def test_check_lines_are_the_plans_decisions(tmp_path):
    """`ketaplan check` writes the decision of each patient; `ketaplan plan` the Plan around the same."""
    from datetime import datetime

    from ketaplan import api
    from ketaplan.batch import _Work, check_one
    from ketaplan.load.patient import load_patient_file
    from ketaplan.load.protocol import load_protocol_file
    from tests.test_invariants import ROOT

    loaded_protocol = load_protocol_file(str(ROOT / "examples" / "protocols" / "trd-iv-induction.toml"))
    start, now = date(2026, 12, 1), datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    patients = sorted((ROOT / "examples" / "patients").glob("*.toml"))
    assert patients
    for path in patients:
        result = check_one(_Work(str(path), str(path)), loaded_protocol, start, now)
        if result.verdict == "invalid":
            continue
        plan = api.draft(load_patient_file(str(path), start), loaded_protocol, start, now)
        assert (result.id, result.verdict, result.findings, result.first_dose_mg, result.unchecked) == (
            plan.patient.id,
            plan.verdict,
            tuple(f.rule for f in plan.findings),
            plan.first_dose_mg,
            tuple(f.rule for f in plan.findings if f.unknown),
        ), path


@examples(100)
@given(st.data())
def test_what_a_run_remembers_gives_what_a_fresh_run_gives(data):
    """decide() remembers for the run, under the protocol's compiled rules (engine/truth.py), what a
    patient's lists give (their part of Lists, the list rules' values, their built-in findings), what
    the rules' values decide, and the sessions' places, doses and date findings: a patient decided
    after others, some with the same lists, weight and dates, is decided and explained exactly as
    with nothing remembered."""
    start = data.draw(START_DATES)
    protocol, _ = _loaded(data, start, rules=data.draw(st.sampled_from([None, 12])))
    docs = data.draw(st.lists(patient_documents(start), min_size=2, max_size=6))
    for doc in docs[1:]:
        # Lists, a height and weight and a weighing date met before in the run, in any mix.
        for keys in (("allergies",), ("conditions",), ("medications",), ("height", "weight"), ("weighed_on",)):
            if data.draw(st.booleans()):
                for key in keys:
                    if key in docs[0]:
                        doc[key] = docs[0][key]
                    else:
                        doc.pop(key, None)
    patients = [read_patient_bytes(dumps(doc), "patient.toml", start).patient for doc in docs]
    remembered, fresh = _remembered_and_fresh(protocol, patients + patients, start)
    assert remembered == fresh


def _remembered_and_fresh(protocol, patients, start: date) -> tuple[list, list]:
    """Each patient decided and explained in one run, one after the other, and each in a run of its own
    (a new Compiled: nothing remembered)."""
    from ketaplan.engine import truth

    inputs = Inputs(start=start, now=NOW, holidays=fake_holidays)

    def decided(patient):
        try:
            d = decide(patient, protocol, inputs)
        except KetaplanError as exc:
            return str(exc)
        return d.verdict, d.findings, d.unchecked, d.first_dose_mg, explain(d)

    remembered = [decided(p) for p in patients]
    fresh = []
    for p in patients:
        truth._COMPILED.clear()
        fresh.append(decided(p))
    return remembered, fresh


#: Condition entries as a patient file gives them: a name, or a table with a status and a code.
CONDITION_ENTRIES = st.one_of(
    st.sampled_from(PATIENT_CONDITIONS),
    st.fixed_dictionaries(
        {"name": st.sampled_from(PATIENT_CONDITIONS)},
        optional={"status": st.sampled_from(["active", "history"]), "code": st.sampled_from(["F33.2", "I10", "F20", "F10.2"])},
    ),
)


@examples(100)
@given(st.data())
def test_lists_made_of_entries_met_before_give_what_a_fresh_run_gives(data):
    """A list met for the first time in a run is worked out from what each of its entries gives, each
    distinct entry worked out once per run (truth.Compiled._entry): lists drawn from one pool of
    entries, in any order and mix, are decided and explained exactly as with nothing remembered."""
    start = data.draw(START_DATES)
    protocol, _ = _loaded(data, start, rules=data.draw(st.sampled_from([None, 12])))
    pools = {
        "allergies": data.draw(st.lists(st.sampled_from(PATIENT_ALLERGIES), min_size=1, max_size=5, unique=True)),
        "conditions": data.draw(st.lists(CONDITION_ENTRIES, min_size=1, max_size=5, unique_by=repr)),
        "medications": data.draw(st.lists(st.sampled_from(SEVERAL + PATIENT_MEDICATIONS), min_size=1, max_size=5, unique=True)),
    }
    docs = data.draw(st.lists(patient_documents(start), min_size=2, max_size=6))
    for doc in docs:
        for key, pool in pools.items():
            if data.draw(st.booleans()):
                doc[key] = data.draw(st.permutations(pool))[: data.draw(st.integers(0, len(pool)))]
    patients = [read_patient_bytes(dumps(doc), "patient.toml", start).patient for doc in docs]
    remembered, fresh = _remembered_and_fresh(protocol, patients, start)
    assert remembered == fresh


@examples(300)
@given(
    st.fractions(min_value=50, max_value=250, max_denominator=1000),
    st.fractions(min_value=2, max_value=400, max_denominator=1000),
    st.one_of(st.integers(10, 60), st.fractions(min_value=10, max_value=60, max_denominator=100)),
    st.booleans(),
)
def test_the_bmi_tests_in_integers_are_the_bmi_property(height_cm, weight_kg, value, exact):
    """The compiled bmi_at_least / bmi_below compare in integers: exactly Patient.bmi's comparison,
    at the bound itself too."""
    from fractions import Fraction

    from ketaplan.engine.truth import _compile_clause
    from ketaplan.model.patient import Patient

    patient = Patient("P-1", "female", 40, height_cm, weight_kg)
    if exact:  # a weight whose BMI is the value itself
        patient = patient._replace(weight_kg=Fraction(value) * (height_cm / 100) ** 2)
    facts = gather(patient, date(2026, 12, 1), None)
    at_least = _compile_clause("bmi_at_least", value, None)(facts, None)
    below = _compile_clause("bmi_below", value, None)(facts, None)
    assert (at_least, below) == (patient.bmi >= value, not patient.bmi >= value)
