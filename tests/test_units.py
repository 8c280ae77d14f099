"""Tests for ketaplan.units: exact quantities, rounding toward the lower dose, and ISMP-safe number text."""

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaplan.units import (
    QuantityError,
    find_forbidden,
    floor_to,
    fmt_cm,
    fmt_kg,
    fmt_mg,
    fmt_mg_per_h,
    fmt_mg_per_kg,
    fmt_mg_per_kg_per_h,
    fmt_mg_per_ml,
    fmt_minutes,
    fmt_ml,
    fmt_ml_per_h,
    fmt_number,
    forbidden_forms,
    json_number,
    parse_blood_pressure,
    parse_concentration,
    parse_duration_min,
    parse_height,
    parse_mass_mg,
    parse_volume_ml,
    parse_weight,
    round_half_down,
    round_half_up,
    to_fraction,
)

# ---------------------------------------------------------------------------
# Weight


def test_kilograms_are_read_exactly():
    assert parse_weight("82.5 kg") == Fraction(165, 2)


def test_pounds_convert_exactly_to_kilograms():
    assert parse_weight("200 lb") == Fraction("90.718474")


def test_lbs_is_the_same_unit_as_lb():
    assert parse_weight("182 lbs") == parse_weight("182 lb") == 182 * Fraction("0.45359237")


def test_weight_units_ignore_case_and_the_space_is_optional():
    assert parse_weight("82.5KG") == parse_weight(" 82.5 Kg ") == Fraction(165, 2)


@pytest.mark.parametrize(
    "spelling",
    [
        "82,5 kg",  # decimal comma
        "82.5",  # no unit: kg or lb?
        "82.5 stone",
        "-5 kg",
        "0 kg",
        "0.0 kg",
        "NaN kg",
        "inf kg",
        "1e2 kg",
        ".5 kg",
        "82. kg",
        "+82.5 kg",
        "82.5  kg",  # two spaces
        "1,000 lb",
        "82.5 kg.",
        "82.5 \u212ag",  # Kelvin sign, folds to "k" under Unicode case rules
        "\u0668\u0662 kg",  # Arabic-Indic digits
        "",
    ],
)
def test_a_bad_weight_spelling_is_refused_with_the_accepted_units(spelling):
    with pytest.raises(QuantityError, match="units: kg, lb"):
        parse_weight(spelling)


def test_a_decimal_comma_gets_the_message_clinicians_are_shown():
    with pytest.raises(QuantityError) as error:
        parse_weight("82,5 kg")
    assert str(error.value) == (
        "'82,5 kg' is not a weight: write a number and a unit, "
        'e.g. "82.5 kg" or "182 lb" (units: kg, lb, lbs)'
    )


def test_a_missing_leading_zero_is_refused_and_the_message_shows_it_written_safely():
    with pytest.raises(QuantityError, match='write a leading zero: "0.5 kg"'):
        parse_weight(".5 kg")


def test_a_negative_weight_says_it_must_be_above_zero():
    with pytest.raises(QuantityError, match="more than zero"):
        parse_weight("-5 kg")


@pytest.mark.parametrize("number", [82.5, Decimal("82.5"), 82, True])
def test_a_weight_written_as_a_bare_toml_number_asks_for_quotes_and_a_unit(number):
    with pytest.raises(QuantityError, match=r'expected a quantity in quotes, e\.g\. "82\.5 kg" \(units: kg, lb, lbs\)'):
        parse_weight(number)


def test_a_long_rejected_value_is_cut_and_its_control_characters_escaped():
    with pytest.raises(QuantityError) as error:
        parse_weight("\x1b[31m" + "9" * 100)
    message = str(error.value)
    assert "\x1b" not in message and "\\x1b" in message and "9" * 50 not in message


def test_a_quantity_error_is_a_value_error():
    assert issubclass(QuantityError, ValueError)


# ---------------------------------------------------------------------------
# Height


def test_five_foot_ten_is_exactly_177_8_cm():
    assert parse_height("5 ft 10 in") == Fraction("177.8")


def test_seventy_inches_is_exactly_177_8_cm():
    assert parse_height("70 in") == Fraction("177.8")


def test_metres_convert_to_centimetres():
    assert parse_height("1.65 m") == 165


def test_centimetres_are_read_as_given():
    assert parse_height("165 cm") == 165


def test_whole_feet_alone_are_a_height():
    assert parse_height("5 ft") == 5 * 12 * Fraction("2.54")


def test_inches_after_feet_may_be_decimal():
    assert parse_height("5 ft 10.5 in") == Fraction("179.07")


def test_feet_and_inches_may_be_written_without_spaces():
    assert parse_height("5ft10in") == Fraction("177.8")


@pytest.mark.parametrize("spelling", ["5 ft 12 in", "5.5 ft", "5'10\"", "165", "65 inches", "0 ft", "1,65 m"])
def test_a_bad_height_spelling_is_refused_with_the_accepted_units(spelling):
    with pytest.raises(QuantityError, match=r"units: cm, m, in, ft with in"):
        parse_height(spelling)


def test_twelve_inches_after_feet_are_refused_as_such():
    with pytest.raises(QuantityError, match="inches after feet must be below 12"):
        parse_height("5 ft 12 in")


def test_decimal_feet_are_refused_as_such():
    with pytest.raises(QuantityError, match="feet must be whole"):
        parse_height("5.5 ft")


# ---------------------------------------------------------------------------
# Dose, volume, concentration


def test_an_infusion_dose_is_read_in_mg():
    assert parse_mass_mg("41 mg") == 41


@pytest.mark.parametrize("spelling", ["41", "0.041 g", "41000 micrograms", "0 mg"])
def test_a_dose_in_any_unit_but_mg_is_refused(spelling):
    with pytest.raises(QuantityError, match=r"units: mg\)"):
        parse_mass_mg(spelling)


def test_a_bag_volume_is_read_in_ml_whatever_the_case():
    assert parse_volume_ml("100 mL") == parse_volume_ml("100 ml") == 100


@pytest.mark.parametrize("spelling", ["100", "0.1 L", "100 cc"])
def test_a_volume_in_another_unit_is_refused(spelling):
    with pytest.raises(QuantityError, match=r'e\.g\. "100 mL" \(units: mL\)'):
        parse_volume_ml(spelling)


def test_a_stock_concentration_is_read_in_mg_per_ml():
    assert parse_concentration("10 mg/mL") == 10


def test_a_final_concentration_may_be_written_lower_case():
    assert parse_concentration("1 mg/ml") == 1


@pytest.mark.parametrize("spelling", ["10 mg", "10 mg / mL", "10 mg/L", "10"])
def test_a_concentration_without_mg_per_ml_is_refused(spelling):
    with pytest.raises(QuantityError, match=r"units: mg/mL"):
        parse_concentration(spelling)


# ---------------------------------------------------------------------------
# Duration


@pytest.mark.parametrize(
    ("spelling", "minutes"),
    [("40 min", 40), ("4 h", 240), ("1 h 30 min", 90), ("90 min", 90), ("1h30min", 90), ("40 MIN", 40)],
)
def test_a_duration_is_read_in_whole_minutes(spelling, minutes):
    assert parse_duration_min(spelling) == minutes


def test_a_duration_is_an_int():
    assert type(parse_duration_min("40 min")) is int


def test_decimal_hours_are_refused_and_the_message_gives_hours_and_minutes():
    with pytest.raises(QuantityError, match='durations are whole minutes: write "1 h 30 min"'):
        parse_duration_min("1.5 h")


@pytest.mark.parametrize("spelling", ["40", "40.5 min", "0 min", "0 h", "1 h 60 min", "40 minutes", "-40 min", ""])
def test_a_bad_duration_is_refused_with_the_accepted_units(spelling):
    with pytest.raises(QuantityError, match=r"units: min, h"):
        parse_duration_min(spelling)


# ---------------------------------------------------------------------------
# Blood pressure


@pytest.mark.parametrize("spelling", ["138/86", "138 / 86", " 138/86 "])
def test_blood_pressure_is_systolic_then_diastolic(spelling):
    assert parse_blood_pressure(spelling) == (138, 86)


@pytest.mark.parametrize("spelling", ["138-86", "138/86.5", "138", "138/86/70", "-138/86", "138/86 kPa", "138/86 mmHg"])
def test_a_blood_pressure_in_another_form_is_refused(spelling):
    with pytest.raises(QuantityError, match=r'e\.g\. "138/86"'):
        parse_blood_pressure(spelling)


def test_a_blood_pressure_as_a_bare_number_asks_for_quotes():
    with pytest.raises(QuantityError, match="expected a quantity in quotes"):
        parse_blood_pressure(138)


# ---------------------------------------------------------------------------
# Exact numbers and rounding


def test_a_toml_decimal_becomes_its_exact_fraction():
    assert to_fraction(Decimal("0.1")) == Fraction(1, 10)


@pytest.mark.parametrize("value", [0.5, True])
def test_floats_and_booleans_are_not_numbers_here(value):
    with pytest.raises(TypeError):
        to_fraction(value)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_nan_and_infinity_are_refused(value):
    with pytest.raises(ValueError):
        to_fraction(value)


def test_an_exact_half_mg_rounds_down_because_the_lower_dose_wins():
    assert round_half_down(Fraction("41.5"), 1) == 41


def test_just_over_half_a_mg_rounds_up():
    assert round_half_down(Fraction("41.51"), 1) == 42


def test_doses_round_to_the_nearest_2_5_mg_with_the_half_down():
    assert round_half_down(Fraction("41.25"), Fraction("2.5")) == 40
    assert round_half_down(Fraction("41.26"), Fraction("2.5")) == Fraction("42.5")


def test_a_rounding_step_of_zero_is_refused():
    with pytest.raises(ValueError):
        round_half_down(Fraction(41), 0)


def test_an_exact_half_of_a_display_digit_rounds_up():
    assert round_half_up(Fraction("4.125"), 2) == Fraction("4.13")


def test_a_negative_half_rounds_to_the_same_digits_as_its_size():
    assert round_half_up(Fraction("-4.125"), 2) == Fraction("-4.13")


def test_a_lowered_rate_is_floored_to_the_step_never_rounded_up():
    assert floor_to(Fraction(179, 2), Fraction(1)) == 89


# ---------------------------------------------------------------------------
# Numbers as text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(41), "41"),  # not 41.0
        (Decimal("41.0"), "41"),
        (Fraction(1, 2), "0.5"),  # not .5
        (Fraction("4.10"), "4.1"),  # not 4.10
        (Fraction(1000), "1,000"),
        (Fraction(1234567), "1,234,567"),
        (Fraction("999.995"), "1,000"),
        (Fraction(-1, 2), "-0.5"),
        (Fraction(-1, 1000), "0"),  # never "-0"
        (Fraction(10**20), "100,000,000,000,000,000,000"),  # never an exponent
    ],
)
def test_numbers_are_written_the_ismp_way(value, text):
    assert fmt_number(value) == text


def test_thousands_grouping_can_be_turned_off():
    assert fmt_number(Fraction(1000), group=False) == "1000"


def test_a_binary_float_cannot_be_formatted():
    with pytest.raises(TypeError):
        fmt_number(0.1)


@pytest.mark.parametrize(
    ("formatted", "text"),
    [
        (fmt_mg(41), "41 mg"),
        (fmt_mg(1000), "1,000 mg"),
        (fmt_mg(Fraction("41.25")), "41.25 mg"),
        (fmt_mg_per_kg(Fraction(1, 2)), "0.5 mg/kg"),
        (fmt_mg_per_kg(Fraction(1, 3)), "0.3333 mg/kg"),
        (fmt_mg_per_kg_per_h(Decimal("0.50")), "0.5 mg/kg/h"),
        (fmt_mg_per_h(35), "35 mg/h"),
        (fmt_kg(Fraction("82.5")), "82.5 kg"),
        (fmt_kg(Fraction("90.718474")), "90.7 kg"),
        (fmt_cm(165), "165 cm"),
        (fmt_cm(Fraction("177.8")), "177.8 cm"),
        (fmt_ml(Fraction("4.1")), "4.1 mL"),
        (fmt_ml(100), "100 mL"),
        (fmt_ml(Fraction("4.125")), "4.13 mL"),
        (fmt_ml_per_h(150), "150 mL/h"),
        (fmt_ml_per_h(Fraction("61.25")), "61.3 mL/h"),
        (fmt_mg_per_ml(Fraction("0.41")), "0.41 mg/mL"),
        (fmt_mg_per_ml(10), "10 mg/mL"),
        (fmt_mg_per_ml(Fraction(41, 30)), "1.37 mg/mL"),
    ],
)
def test_quantities_are_written_with_a_space_and_their_unit(formatted, text):
    assert formatted == text


def test_a_mg_per_kg_given_with_five_decimals_is_shown_with_all_five():
    assert fmt_mg_per_kg(Decimal("0.12345")) == "0.12345 mg/kg"


def test_a_final_concentration_with_three_decimals_is_shown_exactly():
    assert fmt_mg_per_ml(Fraction("0.125")) == "0.125 mg/mL"


def test_a_tiny_concentration_is_never_shown_as_zero():
    assert fmt_mg_per_ml(Fraction(1, 3000)) == "0.0003333 mg/mL"


def test_a_tiny_draw_volume_is_never_shown_as_zero_ml():
    assert fmt_ml(Fraction(1, 1000)) == "0.001 mL"


@pytest.mark.parametrize(("minutes", "text"), [(40, "40 min"), (240, "4 h"), (90, "1 h 30 min"), (60, "1 h")])
def test_durations_are_written_in_hours_and_minutes(minutes, text):
    assert fmt_minutes(minutes) == text


def test_a_negative_duration_cannot_be_written():
    with pytest.raises(ValueError):
        fmt_minutes(-1)


# ---------------------------------------------------------------------------
# JSON numbers


def test_a_whole_json_number_is_an_int():
    value = json_number(Fraction(150))
    assert type(value) is int and value == 150


def test_a_decimal_json_number_prints_as_its_decimal():
    value = json_number(Fraction(41, 4))
    assert value == 10.25 and repr(value) == "10.25"


def test_a_json_number_rounds_half_up_to_the_places_asked():
    assert json_number(Fraction("4.125"), 2) == 4.13


def test_a_json_volume_rounded_to_whole_is_an_int():
    assert type(json_number(Fraction("99.996"), 2)) is int


def test_a_repeating_decimal_needs_places_for_json():
    with pytest.raises(ValueError):
        json_number(Fraction(1, 3))


def test_a_json_number_float_cannot_keep_is_refused():
    with pytest.raises(ValueError):
        json_number(Fraction("0.12345678901234567"))


# ---------------------------------------------------------------------------
# Forbidden forms in rendered plans


@pytest.mark.parametrize(
    ("text", "snippet"),
    [
        ("Dose 41.0 mg", "41.0 mg"),
        ("Draw 4.10 mL", "4.10 mL"),
        ("0.50 mg/kg", "0.50 mg"),
        ("Give .5 mg", ".5 mg"),
        ("Give 41mg", "41mg"),
        ("Give 0.5mg/kg", "0.5mg"),
        ("Draw 4 cc", "cc"),
        ("Insulin 10 U", "10 U"),
        ("Vitamin D 1000 IU", "1000 IU"),
        ("Take QD", "QD"),
        ("take q.d.", "q.d."),
        ("every QOD", "QOD"),
        ("5 mcg", "mcg"),
        ("5 \u00b5g", "\u00b5g"),
        ("5 ug", "5 ug"),
    ],
)
def test_an_error_prone_form_is_found(text, snippet):
    assert snippet in find_forbidden(text)


@pytest.mark.parametrize(
    "text",
    [
        "Urine pregnancy test negative",
        "Paracetamol 1 g QDS",
        "Paracetamol 1 g q.d.s.",
        "0.5 mg/kg of ideal body weight, 56.9 kg; 41 mg in 100 mL at 150 mL/h",
        "Session 1 on 2026-12-01, 1 h 30 min, 10,000 units",
        "ketaplan 0.1.0, vocabulary 2026.10, holidays 0.109",
        "F33.2 recurrent depression; CYP3A4 inhibitor; SpO2 98%; ICD-10 I10",
        "Blood pressure 138/86 mmHg; PHQ-9 19; patients P-0042 and AQD-7",
        "sha256 4cc1e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855cc",
        "Units, IU codes? No: 5 units daily, every other day, 50 micrograms",
    ],
)
def test_ordinary_plan_text_is_not_flagged(text):
    assert find_forbidden(text) == []


def test_every_forbidden_form_is_a_compiled_pattern():
    assert forbidden_forms() and all(isinstance(p, re.Pattern) for p in forbidden_forms())


# ---------------------------------------------------------------------------
# Properties

_amounts = st.fractions(min_value=0, max_value=10**6, max_denominator=10**6)
_places = st.integers(min_value=0, max_value=6)
_steps = st.sampled_from([Fraction(1), Fraction(5), Fraction("2.5"), Fraction("0.5"), Fraction("0.1"), Fraction(1, 3)])


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("400"), places=2))
def test_a_formatted_kilogram_weight_reads_back_exactly(weight):
    assert parse_weight(fmt_number(weight, 2, group=False) + " kg") == Fraction(weight)


@given(_amounts, _steps)
def test_a_rounded_dose_is_a_multiple_of_the_step_within_half_a_step(dose, step):
    rounded = round_half_down(dose, step)
    assert (rounded / step).denominator == 1
    assert dose - step / 2 <= rounded < dose + step / 2


@given(_amounts, _steps)
def test_half_down_is_never_above_the_half_up_nearest(dose, step):
    q = dose / step
    half_up = (q + Fraction(1, 2)).__floor__() * step
    assert round_half_down(dose, step) <= half_up


@given(_amounts, _steps)
def test_floor_to_is_the_largest_multiple_not_above(value, step):
    floored = floor_to(value, step)
    assert (floored / step).denominator == 1 and floored <= value < floored + step


@given(st.fractions(min_value=-(10**9), max_value=10**9, max_denominator=10**7), _places)
def test_a_formatted_number_is_never_error_prone_before_mg(value, places):
    assert find_forbidden(fmt_number(value, places) + " mg") == []


@given(st.fractions(min_value=-(10**9), max_value=10**9, max_denominator=10**7), _places)
def test_a_formatted_number_has_the_safe_shape_and_reads_back_as_the_rounded_value(value, places):
    text = fmt_number(value, places)
    assert re.fullmatch(r"-?(0|[1-9][0-9]{0,2}(,[0-9]{3})*)(\.[0-9]*[1-9])?", text)
    assert Fraction(text.replace(",", "")) == round_half_up(value, places)


@given(st.integers(min_value=1, max_value=10**5))
def test_a_written_duration_reads_back_as_the_same_minutes(minutes):
    assert parse_duration_min(fmt_minutes(minutes)) == minutes


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=4))
def test_a_json_number_equals_its_exact_value(value):
    number = json_number(value)
    assert Fraction(str(number)) == Fraction(value)
