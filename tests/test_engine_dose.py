"""The dose arithmetic against hand-computed values (clinical-facts.md §5 and spec/protocol.md)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.engine.dosing import body_weights
from ketaplan.units import round_half_up
from tests.builders import finding, load_patient, load_protocol, plan_for, protocol_text


def two_dp(x: Fraction) -> Fraction:
    return round_half_up(x, 2)


@pytest.mark.parametrize(
    "sex, height, weight, ibw, abw, bmi, lbw",
    [
        ("male", "177.8 cm", "100 kg", "73.00", "83.80", "31.63", "68.60"),
        ("female", "165 cm", "90 kg", "56.91", "70.15", "33.06", "49.52"),
        ("male", "178 cm", "110 kg", "73.18", "87.91", "34.72", "71.92"),
    ],
)
def test_worked_weights_of_clinical_facts_section_5(sex, height, weight, ibw, abw, bmi, lbw):
    w = body_weights(load_patient(sex=sex, height=height, weight=weight).patient)
    assert (two_dp(w.ideal), two_dp(w.adjusted), two_dp(w.bmi), two_dp(w.lean)) == tuple(
        Fraction(v) for v in (ibw, abw, bmi, lbw)
    )


def test_half_a_mg_per_kg_of_82_5_kg_is_41_mg_not_42():
    plan = plan_for()
    s = plan.sessions[0]
    assert (s.raw_dose_mg, s.dose_mg) == (Fraction("41.25"), 41)
    assert (s.draw_ml, s.concentration_mg_per_ml, s.volume_ml, s.pump_ml_per_h) == (
        Fraction("4.1"),
        Fraction("0.41"),
        100,
        150,
    )


def test_exact_half_rounds_down_the_lower_dose_wins():
    plan = plan_for(load_patient(weight="73 kg"))
    assert plan.sessions[0].raw_dose_mg == Fraction("36.5")
    assert plan.sessions[0].dose_mg == 36


def test_the_mg_per_kg_given_is_the_dose_over_the_dosing_weight_exactly():
    # 36 mg of 73 kg is 0.49 mg/kg, not the protocol's 0.5 (issue 11).
    s = plan_for(load_patient(weight="73 kg")).sessions[0]
    assert s.given_per_kg == Fraction(36, 73)


def test_a_capped_dose_gives_less_than_the_prescribed_mg_per_kg():
    # A capped 60 mg of 128 kg is 0.47 mg/kg.
    s = plan_for(load_patient(weight="128 kg", height="190 cm")).sessions[0]
    assert (s.dose_mg, s.capped_by, s.given_per_kg) == (60, "dose.max_mg", Fraction(60, 128))


def test_200_lb_is_dosed_on_90_718474_kg():
    plan = plan_for(load_patient(weight="200 lb", height="6 ft"))
    assert plan.patient.weight_kg == Fraction("90.718474")
    assert plan.sessions[0].raw_dose_mg == Fraction("45.359237")
    assert plan.sessions[0].dose_mg == 45


def test_cap_lowers_a_heavy_patients_dose_and_says_so():
    plan = plan_for(load_patient(weight="130 kg", height="180 cm"))
    assert plan.sessions[0].dose_mg == 60
    assert plan.sessions[0].capped_by == "dose.max_mg"
    capped = finding(plan, "DOSE-CAPPED")
    assert capped.effect == "note"
    assert capped.evidence[0] == "session 1: 65 mg capped to 60 mg by dose.max_mg"


def test_ideal_weight_basis_uses_devine_never_above_actual():
    protocol = load_protocol(dose='mg_per_kg = 0.5\nduration = "40 min"\nmax_mg = 60\nweight_basis = "ideal"')
    plan = plan_for(load_patient(sex="male", height="177.8 cm", weight="100 kg"), protocol)
    assert plan.dosing.dosing_weight_kg == 73
    assert plan.sessions[0].dose_mg == 36  # 0.5 x 73 = 36.5, an exact half: down


def test_short_stature_on_ideal_basis_drafts_no_dose_and_asks_the_clinician():
    protocol = load_protocol(dose='mg_per_kg = 0.5\nduration = "40 min"\nmax_mg = 60\nweight_basis = "ideal"')
    plan = plan_for(load_patient(height="150 cm", weight="60 kg"), protocol)
    assert plan.verdict == "needs-review"
    assert all(s.dose_mg is None and s.draw_ml is None for s in plan.sessions)
    assert finding(plan, "IDEAL-WEIGHT-SHORT-STATURE").effect == "review"


def test_adjust_rules_multiply_factors_and_the_lowest_cap_wins():
    rules = """
[[rule]]
id = "ADJ-A"
effect = "adjust"
dose_factor = 0.75
message = "a"

[[rule]]
id = "ADJ-B"
effect = "adjust"
when = { age_at_least = 40 }
dose_factor = 0.8
max_mg = 30
message = "b"
"""
    plan = plan_for(load_patient(weight="100 kg", height="180 cm"), load_protocol(rest=rules))
    # 0.5 x 100 x 0.75 x 0.8 = 30 mg; cap 30 (ADJ-B) not exceeded
    assert plan.sessions[0].raw_dose_mg == 30
    assert plan.dosing.cap_mg == 30 and plan.dosing.cap_rule == "ADJ-B"
    assert [(f.rule, f.factor) for f in plan.dosing.factors] == [("ADJ-A", Fraction(3, 4)), ("ADJ-B", Fraction(4, 5))]


def test_unknown_adjust_rule_is_applied_and_needs_review():
    rules = """
[[rule]]
id = "ADJ-BP"
effect = "adjust"
when = { blood_pressure_at_least = "140/90" }
dose_factor = 0.5
message = "halve"
"""
    patient = load_patient(rest='allergies = []\nconditions = ["depression"]\nmedications = []\n')
    plan = plan_for(patient, load_protocol(rest=rules))
    assert plan.sessions[0].dose_mg == 21  # 41.25 x 0.5 = 20.625 -> 21
    f = finding(plan, "ADJ-BP")
    assert (f.effect, f.rule_effect, f.unknown) == ("review", "adjust", True)
    assert f.evidence == ("could not be checked: blood_pressure is missing",)


def test_rate_protocol_lowers_the_rate_when_the_total_exceeds_max_mg():
    dose = 'mg_per_kg_per_hour = 0.35\nduration = "4 h"\nmax_mg = 140\nmax_mg_per_hour = 40'
    plan = plan_for(load_patient(weight="110 kg", height="180 cm"), load_protocol(dose=dose))
    s = plan.sessions[0]
    # 0.35 x 110 = 38.5 mg/h -> 38 (half down); 38 x 4 h = 152 > 140 -> rate 35 mg/h, total 140 mg
    assert (s.raw_rate_mg_per_h, s.rounded_rate_mg_per_h, s.rate_mg_per_h, s.dose_mg) == (Fraction("38.5"), 38, 35, 140)
    assert s.capped_by == "dose.max_mg"


def test_rate_protocol_caps_the_hourly_rate():
    dose = 'mg_per_kg_per_hour = 0.5\nduration = "2 h"\nmax_mg = 200\nmax_mg_per_hour = 40'
    plan = plan_for(load_patient(weight="100 kg", height="180 cm"), load_protocol(dose=dose))
    s = plan.sessions[0]
    assert (s.rate_mg_per_h, s.dose_mg, s.capped_by) == (40, 80, "dose.max_mg_per_hour")


def test_final_concentration_gives_volume_and_pump_rate():
    text = protocol_text(dose='mg_per_kg_per_hour = 0.35\nduration = "4 h"\nmax_mg = 140\nmax_mg_per_hour = 40').replace(
        'bag = "100 mL"', 'final_concentration = "1 mg/mL"'
    )
    plan = plan_for(load_patient(weight="80 kg", height="175 cm"), load_protocol(text))
    s = plan.sessions[0]
    # 0.35 x 80 = 28 mg/h; 112 mg over 4 h; 112 mL at 28 mL/h
    assert (s.rate_mg_per_h, s.dose_mg, s.volume_ml, s.pump_ml_per_h, s.draw_ml) == (28, 112, 112, 28, Fraction("11.2"))


def test_escalating_phase_list_adds_a_tolerance_check():
    phases = '[[schedule.phase]]\nname = "induction"\nsessions = 3\nmin_gap_days = 2\nmg_per_kg = [0.5, 0.5, 0.75]'
    plan = plan_for(protocol=load_protocol(phases=phases))
    assert [s.dose_mg for s in plan.sessions] == [41, 41, 60]  # 61.875 -> 62, capped at 60
    assert plan.sessions[2].checks == ("Confirm the previous dose was tolerated",)
    assert finding(plan, "DOSE-ESCALATION").evidence == ("session 3: 0.75 mg/kg after 0.5 mg/kg",)


# --- properties -------------------------------------------------------------------------------

weights = st.decimals(min_value=Decimal("30"), max_value=Decimal("200"), places=1)
amounts = st.decimals(min_value=Decimal("0.05"), max_value=Decimal("2"), places=2)
caps = st.integers(min_value=1, max_value=200)


@settings(max_examples=60, deadline=None)
@given(weight=weights, amount=amounts, cap=caps)
def test_no_dose_is_ever_above_the_cap(weight, amount, cap):
    protocol = load_protocol(dose=f'mg_per_kg = {amount}\nduration = "40 min"\nmax_mg = {cap}')
    plan = plan_for(load_patient(weight=f"{weight} kg", height="170 cm"), protocol)
    for s in plan.sessions:
        assert s.dose_mg is None or 0 < s.dose_mg <= cap


@settings(max_examples=60, deadline=None)
@given(weight=weights, extra=st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=1), amount=amounts)
def test_more_weight_never_gives_less_dose(weight, extra, amount):
    protocol = load_protocol(dose=f'mg_per_kg = {amount}\nduration = "40 min"\nmax_mg = 200')
    light = plan_for(load_patient(weight=f"{weight} kg", height="170 cm"), protocol)
    heavy = plan_for(load_patient(weight=f"{weight + extra} kg", height="170 cm"), protocol)
    assert (heavy.sessions[0].dose_mg or 0) >= (light.sessions[0].dose_mg or 0)


def test_a_draw_that_does_not_fit_in_the_bag_needs_review():
    text = protocol_text().replace('stock = "10 mg/mL"', 'stock = "0.5 mg/mL"')
    plan = plan_for(protocol=load_protocol(text))
    # 41 mg at 0.5 mg/mL is 82 mL: it fits in 100 mL
    assert finding(plan, "DRAW-EXCEEDS-BAG") is None
    plan = plan_for(load_patient(weight="130 kg", height="180 cm"), load_protocol(text))
    # 60 mg (capped) at 0.5 mg/mL is 120 mL, more than the 100 mL bag
    f = finding(plan, "DRAW-EXCEEDS-BAG")
    assert f.effect == "review"
    assert f.evidence[0] == "session 1: 60 mg at 0.5 mg/mL is 120 mL to draw, not less than the 100 mL bag"


def test_a_final_concentration_stronger_than_the_stock_is_a_load_error():
    import pytest

    from ketaplan.errors import ProtocolError

    text = protocol_text().replace('bag = "100 mL"', 'final_concentration = "20 mg/mL"')
    with pytest.raises(ProtocolError, match="stronger than the stock"):
        load_protocol(text)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["mg_per_kg", "mg_per_kg_per_hour"]),
    st.fractions(min_value=Fraction(1, 100), max_value=3, max_denominator=1000),
    st.fractions(min_value=2, max_value=400, max_denominator=10**6),
    st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(3, 4), Fraction(9, 10)]),
    st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(5), Fraction(1, 10), Fraction(1, 4)]),
    st.fractions(min_value=1, max_value=200, max_denominator=10),
    st.fractions(min_value=1, max_value=500, max_denominator=10),
    st.integers(1, 600),
    st.one_of(st.none(), st.integers(0, 400)),
)
def test_the_dose_in_integers_is_the_spec_steps_in_fractions(mode, amount, weight, factor, step, max_rate, cap, minutes, half):
    """session_dose works the dose out in integers (engine/dosing.py): exactly the spec's steps 3-6 in
    Fractions (the raw dose, round_half_down, the caps), at an exact half step too (`half`: a weight
    whose raw dose is that many steps and a half)."""
    from ketaplan.engine.dosing import SessionDose, session_dose
    from ketaplan.model.protocol import Dose
    from ketaplan.units import floor_to, round_half_down

    if half is not None:
        weight = (half + Fraction(1, 2)) * step / (amount * factor)
    dose = Dose(mode, amount, minutes, "actual", cap, max_rate, step)
    raw = amount * weight * factor
    rounded = round_half_down(raw, step)
    if mode == "mg_per_kg":
        expected = SessionDose(raw, rounded, cap, "R-CAP") if rounded > cap else SessionDose(raw, rounded, rounded, None)
    else:
        hours = Fraction(minutes, 60)
        rate, capped_by = rounded, None
        if rate > max_rate:
            rate, capped_by = max_rate, "dose.max_mg_per_hour"
        if rate * hours > cap:
            rate, capped_by = floor_to(cap / hours, step), "R-CAP"
        expected = SessionDose(raw * hours, rounded, rate * hours, capped_by, raw, rate)
    assert session_dose(amount, weight, factor, dose, cap, "R-CAP") == expected
