"""Safety invariants every drafted plan must keep, checked on the examples and on edge cases; the fuzz tests reuse them.

`assert_plan_invariants` recomputes what it can from the plan's own dosing block and the
protocol (spec/protocol.md "How the dose is computed", "How the dates are computed",
"Verdict"), so that a dose or a date in a plan can always be traced back to its rule.
The last test keeps docs/safety/hazard-log.md honest: every test it cites must exist.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from fractions import Fraction
from math import prod
from pathlib import Path

import pytest

from ketaplan.engine.plan import Inputs, build_plan
from ketaplan.load.patient import read_patient_bytes
from ketaplan.load.protocol import read_protocol_bytes
from ketaplan.units import floor_to, round_half_down
from tests.builders import NOW, START, finding, load_patient, load_protocol, plan_for

ROOT = Path(__file__).resolve().parent.parent
INCH_CM = Fraction(254, 100)


# ------------------------------------------------------------------------------ the invariants


def independent_weights(height_cm: Fraction, weight_kg: Fraction, sex: str) -> dict[str, Fraction | None]:
    """The four dosing weights by the formulas of spec/protocol.md, written again here on purpose."""
    bmi = weight_kg / (height_cm / 100) ** 2
    if height_cm < 60 * INCH_CM:
        ideal = adjusted = None
    else:
        base = Fraction(50) if sex == "male" else Fraction(455, 10)
        ideal = min(base + Fraction(23, 10) * (height_cm / INCH_CM - 60), weight_kg)
        adjusted = min(ideal + Fraction(2, 5) * (weight_kg - ideal), weight_kg)
    if sex == "male":
        lean = 9270 * weight_kg / (6680 + 216 * bmi)
    else:
        lean = 9270 * weight_kg / (8780 + 244 * bmi)
    # A lean (or any) dosing weight above the actual weight would raise the dose, never lower it.
    lean = min(lean, weight_kg)
    return {"actual": weight_kg, "ideal": ideal, "adjusted": adjusted, "lean": lean}


def expected_dose(amount, dosing_weight, factor, dose, cap_mg) -> tuple[Fraction, Fraction | None]:
    """(session total in mg, hourly rate or None), by spec steps 3-6."""
    if dose.mode == "mg_per_kg":
        return min(round_half_down(amount * dosing_weight * factor, dose.round_to), cap_mg), None
    hours = Fraction(dose.duration_min, 60)
    rate = min(round_half_down(amount * dosing_weight * factor, dose.round_to), dose.max_mg_per_hour)
    if rate * hours > cap_mg:
        rate = floor_to(cap_mg / hours, dose.round_to)
    return rate * hours, rate


def session_phases(protocol):
    for phase in protocol.schedule.phases:
        for i in range(phase.sessions):
            yield phase, i


def assert_plan_invariants(plan, protocol, patient, start: date, holidays=None) -> None:
    """Every safety property a plan must have, whatever the patient and the protocol."""
    findings = plan.findings
    effects = [f.effect for f in findings]
    ids = [f.rule for f in findings]

    # One finding per rule, each with words that say why.
    assert len(ids) == len(set(ids)), ids
    for f in findings:
        assert f.evidence, f"{f.rule} has no evidence"
        assert all(isinstance(e, str) and e.strip() for e in f.evidence), (f.rule, f.evidence)
        assert f.effect in ("exclude", "review", "note", "adjust", "hold", "check", "titrate"), f
        if f.rule_effect == "exclude" and f.unknown:
            assert f.effect == "review", f  # an exclusion that could not be checked is never a pass

    # The verdict follows the findings, and sign-off must acknowledge every review.
    assert (plan.verdict == "excluded") == ("exclude" in effects), (plan.verdict, effects)
    if plan.verdict != "excluded":
        assert (plan.verdict == "needs-review") == ("review" in effects), (plan.verdict, effects)
    assert plan.acknowledge == tuple(f.rule for f in findings if f.effect == "review")

    # An excluded patient gets no schedule and no dose.
    if plan.verdict == "excluded":
        assert plan.sessions == () and plan.dosing is None
        return
    assert len(plan.sessions) == sum(p.sessions for p in protocol.schedule.phases)

    # Dates: allowed weekdays, not closed, not a holiday, gaps kept, never before the start.
    schedule = protocol.schedule
    previous = patient.infusions[-1].date if patient.infusions else None
    for s, (phase, _) in zip(plan.sessions, session_phases(protocol)):
        assert s.phase == phase.name
        assert s.date >= start, (s.number, s.date, start)
        assert s.date.weekday() in (phase.days or schedule.days), (s.number, s.date)
        assert s.date not in schedule.closed, (s.number, s.date)
        if schedule.holidays and holidays is not None:
            assert s.date not in holidays(s.date.year), (s.number, s.date)
        if previous is not None:
            assert s.date >= previous + timedelta(days=phase.min_gap_days), (s.number, s.date, previous)
        previous = s.date
    assert [s.number for s in plan.sessions] == list(range(1, len(plan.sessions) + 1))

    # Dosing weight: the basis's weight, never above the actual weight.
    d = plan.dosing
    dose = protocol.dose
    weights = independent_weights(patient.height_cm, patient.weight_kg, patient.sex)
    assert d.dosing_weight_kg == weights[d.weight_basis], (d.weight_basis, d.dosing_weight_kg, weights)
    if d.dosing_weight_kg is not None:
        assert 0 < d.dosing_weight_kg <= patient.weight_kg

    # Caps and factors: exactly those of the protocol and the adjust rules that applied.
    by_id = {r.id: r for r in protocol.rules}
    applied = [by_id[f.rule] for f in findings if f.rule in by_id and f.rule_effect == "adjust"]
    assert d.cap_mg == min([dose.max_mg] + [r.max_mg for r in applied if r.max_mg is not None])
    assert sorted((x.rule, x.factor) for x in d.factors) == sorted(
        (r.id, r.dose_factor) for r in applied if r.dose_factor is not None
    )
    assert d.round_to_mg == dose.round_to
    factor = prod((x.factor for x in d.factors), start=Fraction(1))

    hours = Fraction(dose.duration_min, 60)
    for s, (phase, i) in zip(plan.sessions, session_phases(protocol)):
        amount = phase.amounts[i] if phase.amounts else dose.amount
        if s.titrated_by is not None:
            # Titration (spec/course.md): the lowest applying titrate dose; never raised on an unknown.
            titrated = by_id[s.titrated_by].titrate
            by_finding = {f.rule: f for f in findings}
            if by_finding[s.titrated_by].unknown:
                assert titrated <= amount, (s.number, s.titrated_by)
            true_amounts = [by_id[f.rule].titrate for f in findings if f.rule_effect == "titrate" and not f.unknown]
            assert all(titrated <= a for a in true_amounts), (s.number, s.titrated_by)
            amount = titrated
        assert s.amount == amount
        if s.dose_mg is None:
            assert s.not_drafted_because in ids, (s.number, s.not_drafted_because)
            continue
        # Within every cap, and traceable: recomputed from the plan's dosing block.
        assert 0 < s.dose_mg <= dose.max_mg and s.dose_mg <= d.cap_mg, (s.number, s.dose_mg)
        for r in applied:
            if r.max_mg is not None:
                assert s.dose_mg <= r.max_mg, (s.number, r.id)
        total, rate = expected_dose(amount, d.dosing_weight_kg, factor, dose, d.cap_mg)
        assert s.dose_mg == total, (s.number, s.dose_mg, total)
        if dose.mode == "mg_per_kg_per_hour":
            assert s.rate_mg_per_h == rate and s.rate_mg_per_h <= dose.max_mg_per_hour
            assert s.dose_mg == s.rate_mg_per_h * hours <= dose.max_mg_per_hour * hours
        else:
            assert s.rate_mg_per_h is None
        lowered = s.rate_mg_per_h < s.rounded_rate_mg_per_h if rate is not None else s.dose_mg < s.rounded_mg
        if lowered:
            assert "DOSE-CAPPED" in ids, s.number  # a cap that lowered a dose says so
        # Volumes follow from the dose and the container, never the other way round.
        drug = protocol.drug
        if drug.stock_mg_per_ml is not None:
            assert s.draw_ml * drug.stock_mg_per_ml == s.dose_mg
        if drug.bag_ml is not None:
            assert (s.volume_ml, s.concentration_mg_per_ml) == (drug.bag_ml, s.dose_mg / drug.bag_ml)
        if drug.final_mg_per_ml is not None:
            assert s.volume_ml * drug.final_mg_per_ml == s.dose_mg


# ------------------------------------------------------------------------------ the examples


def _example_pairs():
    for protocol in sorted((ROOT / "examples/protocols").glob("*.toml")):
        for patient in sorted((ROOT / "examples/patients").glob("*.toml")):
            yield pytest.param(patient, protocol, id=f"{patient.stem}@{protocol.stem}")


def _holidays(year: int) -> frozenset[date]:
    # A fixed stand-in calendar, so the date invariants are checked without the holidays package.
    return frozenset({date(year, 1, 1), date(year, 12, 25), date(year, 12, 26)})


@pytest.mark.parametrize(("patient_path", "protocol_path"), list(_example_pairs()))
def test_every_example_plan_keeps_the_safety_invariants(patient_path, protocol_path):
    loaded_protocol = read_protocol_bytes(protocol_path.read_bytes(), str(protocol_path))
    loaded_patient = read_patient_bytes(patient_path.read_bytes(), str(patient_path), START)
    inputs = Inputs(start=START, now=NOW, holidays=_holidays)
    plan = build_plan(loaded_patient.patient, loaded_protocol.protocol, inputs)
    assert_plan_invariants(plan, loaded_protocol.protocol, loaded_patient.patient, START, _holidays)


# ------------------------------------------------------------------------------ edge cases


def test_lean_weight_is_never_above_actual_weight():
    # A very thin man (BMI 10.2): Janmahasatian gives 34.4 kg of lean weight for 33 kg of body.
    protocol = load_protocol(dose='mg_per_kg = 1\nduration = "40 min"\nmax_mg = 200\nweight_basis = "lean"')
    patient = load_patient(sex="male", height="180 cm", weight="33 kg")
    plan = plan_for(patient, protocol)
    assert (plan.patient.lean_weight_kg, plan.dosing.dosing_weight_kg, plan.sessions[0].dose_mg) == (33, 33, 33)


def test_an_adjust_rule_naming_lean_weight_never_raises_the_dose_above_actual_weight():
    rule = '[[rule]]\nid = "ADJ-LEAN"\neffect = "adjust"\nweight_basis = "lean"\nmessage = "lean"\n'
    protocol = load_protocol(dose='mg_per_kg = 1\nduration = "40 min"\nmax_mg = 200', rest=rule)
    patient = load_patient(sex="male", height="180 cm", weight="33 kg")
    plan = plan_for(patient, protocol)
    assert plan.sessions[0].dose_mg == 33
    assert_plan_invariants(plan, protocol.protocol, patient.patient, START)


def test_caps_of_three_rules_combine_to_the_lowest():
    rules = "".join(
        f'[[rule]]\nid = "ADJ-{n}"\neffect = "adjust"\nmax_mg = {cap}\nmessage = "cap {cap}"\n{when}'
        for n, cap, when in (
            (1, 50, ""),
            (2, 30, 'when = { missing = ["heart_rate"] }\n'),
            (3, 40, "when = { age_at_least = 18 }\n"),
        )
    )
    protocol = load_protocol(rest=rules)
    patient = load_patient(weight="120 kg")
    plan = plan_for(patient, protocol)
    assert (plan.dosing.cap_mg, plan.dosing.cap_rule, plan.sessions[0].dose_mg) == (30, "ADJ-2", 30)
    assert_plan_invariants(plan, protocol.protocol, patient.patient, START)


def test_an_unknown_adjust_cap_still_applies_and_asks_for_review():
    rule = (
        '[[rule]]\nid = "ADJ-BP"\neffect = "adjust"\nmax_mg = 20\n'
        'when = { systolic_at_least = 150 }\nmessage = "cap"\n'
    )
    protocol = load_protocol(rest=rule)
    patient = load_patient(rest='allergies = []\nconditions = ["treatment-resistant depression"]\nmedications = []\n')
    plan = plan_for(patient, protocol)
    assert (plan.sessions[0].dose_mg, finding(plan, "ADJ-BP").effect, plan.verdict) == (20, "review", "needs-review")


def test_a_rate_protocol_keeps_rate_and_total_within_both_caps():
    dose = 'mg_per_kg_per_hour = 0.5\nduration = "4 h"\nmax_mg = 120\nmax_mg_per_hour = 35'
    protocol = load_protocol(dose=dose)
    patient = load_patient(weight="100 kg")
    plan = plan_for(patient, protocol)
    first = plan.sessions[0]
    assert (first.rate_mg_per_h, first.dose_mg) == (30, 120)
    assert_plan_invariants(plan, protocol.protocol, patient.patient, START)


LEAP_DAY_PATIENT = 'id = "T-LEAP"\ndate_of_birth = 2008-02-29\nsex = "female"\nheight = "165 cm"\nweight = "60 kg"\n'


def test_a_29_february_birthday_is_reached_on_1_march():
    ages = [load_patient(LEAP_DAY_PATIENT, start=day).patient.age for day in (date(2026, 2, 28), date(2026, 3, 1))]
    assert ages == [17, 18]


def test_an_age_bound_crossed_on_a_29_february_birthday_is_dated_1_march():
    rule = '[[rule]]\nid = "REV-UNDER-18"\neffect = "review"\nwhen = { age_below = 18 }\nmessage = "minor"\n'
    protocol = load_protocol(rest=rule)
    start = date(2026, 2, 24)
    plan = plan_for(load_patient(LEAP_DAY_PATIENT, start=start), protocol, start=start)
    assert finding(plan, "AGE-CHANGES-DURING-PLAN").evidence == (
        "REV-UNDER-18 (age_below = 18): turns 18 on 2026-03-01, before the last session on 2026-03-09",
    )


def test_an_excluded_patient_gets_no_schedule_even_with_every_other_rule_firing():
    rules = (
        '[[rule]]\nid = "EXCL-ALL"\neffect = "exclude"\nmessage = "everyone"\n'
        '[[rule]]\nid = "ADJ-HALF"\neffect = "adjust"\ndose_factor = 0.5\nmessage = "half"\n'
        '[[rule]]\nid = "CHECK-ECG"\neffect = "check"\nstage = "pre"\nitem = "ECG"\nmessage = "ECG"\n'
    )
    protocol = load_protocol(rest=rules)
    patient = load_patient()
    plan = plan_for(patient, protocol)
    assert (plan.verdict, plan.sessions, plan.dosing) == ("excluded", (), None)
    assert_plan_invariants(plan, protocol.protocol, patient.patient, START)


# ------------------------------------------------------------------------------ the hazard log

HAZARD_LOG = ROOT / "docs/safety/hazard-log.md"
CITED = re.compile(r"`?(tests/[A-Za-z0-9_/]+\.py)::([A-Za-z0-9_]+)`?")


def cited_tests(text: str) -> list[tuple[str, str]]:
    return sorted(set(CITED.findall(text)))


def test_hazard_log_cites_only_existing_tests():
    text = HAZARD_LOG.read_text(encoding="utf-8")
    cited = cited_tests(text)
    assert len(cited) >= 30, "the hazard log should prove its controls with tests"
    missing = []
    for path, name in cited:
        source = ROOT / path
        defined = source.is_file() and re.search(rf"^def {re.escape(name)}\(", source.read_text(encoding="utf-8"), re.M)
        if not defined:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_hazard_in_the_log_cites_at_least_one_test():
    rows = [line for line in HAZARD_LOG.read_text(encoding="utf-8").splitlines() if re.match(r"\| HAZ-\d\d ", line)]
    assert len(rows) >= 20
    assert [r.split("|")[1].strip() for r in rows if not CITED.search(r)] == []


def test_the_hazard_log_checker_notices_a_test_that_does_not_exist():
    text = "| HAZ-99 | x | `tests/test_invariants.py::test_that_was_never_written` |"
    [(path, name)] = cited_tests(text)
    assert not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)


def test_a_protocol_naming_a_holiday_region_is_never_drafted_without_its_calendar():
    # Drafting through the Python API without a holiday provider used to skip the holidays silently.
    protocol = load_protocol(schedule='holidays = "GB-ENG"')
    with pytest.raises(ValueError, match="GB-ENG"):
        plan_for(protocol=protocol, start=date(2026, 12, 23))
