"""The dose arithmetic, in exact fractions: body weights, then each session's dose, rounding and caps."""

from fractions import Fraction
from typing import NamedTuple

from ketaplan.model.patient import Patient
from ketaplan.model.protocol import Dose, Drug
from ketaplan.units import floor_to, round_half_down, to_fraction

INCH_CM = Fraction(254, 100)
#: Devine is not defined below 60 in: no ideal or adjusted weight is drafted there.
DEVINE_MIN_CM = 60 * INCH_CM


class BodyWeights(NamedTuple):
    actual: Fraction
    ideal: Fraction | None  # None below 152.4 cm
    adjusted: Fraction | None
    lean: Fraction
    bmi: Fraction

    def of(self, basis: str) -> Fraction | None:
        return getattr(self, basis)


def body_weights(p: Patient) -> BodyWeights:
    bmi = p.bmi
    ideal = _ideal(p)
    adjusted = None if ideal is None else _adjusted(p, ideal)
    return BodyWeights(p.weight_kg, ideal, adjusted, _lean(p, bmi), bmi)


def _ideal(p: Patient) -> Fraction | None:
    if p.height_cm < DEVINE_MIN_CM:
        return None  # Devine is not defined below 60 in
    inches_over_60 = p.height_cm / INCH_CM - 60
    devine = (50 if p.sex == "male" else Fraction(455, 10)) + Fraction(23, 10) * inches_over_60
    # Never above the actual weight: an ideal weight is meant to lower an obese patient's dose.
    return min(devine, p.weight_kg)


def _adjusted(p: Patient, ideal: Fraction) -> Fraction:
    abw = ideal + Fraction(4, 10) * (p.weight_kg - ideal)
    return min(abw, p.weight_kg)


def _lean(p: Patient, bmi: Fraction) -> Fraction:
    if p.sex == "male":
        lean = 9270 * p.weight_kg / (6680 + 216 * bmi)
    else:
        lean = 9270 * p.weight_kg / (8780 + 244 * bmi)
    # Never above the actual weight: below BMI 12 the male formula exceeds the body itself,
    # and a lean basis is meant to lower a dose, never to raise it.
    return min(lean, p.weight_kg)


class LazyWeights:
    """The body weights a decision asks for, each worked out (by the functions body_weights uses)
    only when asked: most plans dose on the actual weight and need none of the others."""

    __slots__ = ("patient", "_done")

    def __init__(self, p: Patient) -> None:
        self.patient = p
        self._done: dict[str, Fraction | None] = {}

    def of(self, basis: str) -> Fraction | None:
        p = self.patient
        if basis == "actual":
            return p.weight_kg
        done = self._done
        if basis not in done:
            if basis == "ideal":
                done[basis] = _ideal(p)
            elif basis == "adjusted":
                ideal = self.of("ideal")
                done[basis] = None if ideal is None else _adjusted(p, ideal)
            elif basis == "lean":
                done[basis] = _lean(p, p.bmi)
            else:
                done[basis] = body_weights(p).of(basis)  # anything else: as BodyWeights.of answers
        return done[basis]


class SessionDose(NamedTuple):
    raw_dose_mg: Fraction
    rounded_mg: Fraction
    dose_mg: Fraction
    capped_by: str | None
    raw_rate_mg_per_h: Fraction | None = None
    rate_mg_per_h: Fraction | None = None


def session_dose(
    amount: Fraction,
    dosing_weight: Fraction,
    factor: Fraction,
    dose: Dose,
    cap_mg: Fraction,
    cap_by: str,
) -> SessionDose:
    """One session's dose by spec steps 3-6. `factor` is the product of every applied dose_factor."""
    # In integers, the same exact numbers: the raw dose (mg, or mg/h for a rate) is num / den; the
    # step is step_n / step_d. (A Fraction operation costs a microsecond or more: a plan's dose is
    # worked out once per distinct dosing weight, a few thousand times in a batch.)
    num = amount.numerator * dosing_weight.numerator * factor.numerator
    den = amount.denominator * dosing_weight.denominator * factor.denominator
    step = to_fraction(dose.round_to)
    step_n, step_d = step.numerator, step.denominator
    if step_n <= 0:
        round_half_down(Fraction(num, den), step)  # refuses the step, as it always has
    # An exact half rounds down: when the arithmetic is undecided, the lower dose wins
    # (units.round_half_down: n multiples of the step, n the floor of raw / step, plus one
    # when what is left is over a half step).
    n, rest = divmod(num * step_d, den * step_n)
    if 2 * rest > den * step_n:
        n += 1
    raw, rounded = Fraction(num, den), Fraction(n * step_n, step_d)
    if dose.mode == "mg_per_kg":
        if n * step_n * cap_mg.denominator > cap_mg.numerator * step_d:  # rounded > cap_mg
            return SessionDose(raw, rounded, cap_mg, cap_by)
        return SessionDose(raw, rounded, rounded, None)
    hours = Fraction(dose.duration_min, 60)
    rate, capped_by = rounded, None
    max_rate = dose.max_mg_per_hour
    if max_rate is None:  # the loader requires it of a rate protocol
        raise ValueError("a protocol dosing by mg_per_kg_per_hour gives dose.max_mg_per_hour")
    if rate > max_rate:
        rate, capped_by = max_rate, "dose.max_mg_per_hour"
    total = rate * hours
    if total > cap_mg:
        # Lower the rate, never the time: the session total then stays within the cap.
        rate, capped_by = floor_to(cap_mg / hours, dose.round_to), cap_by
        total = rate * hours
    return SessionDose(raw * hours, rounded, total, capped_by, raw, rate)


class Container(NamedTuple):
    draw_ml: Fraction | None
    concentration_mg_per_ml: Fraction | None
    volume_ml: Fraction | None
    pump_ml_per_h: Fraction | None


def container(drug: Drug, dose_mg: Fraction, duration_min: int) -> Container:
    hours = Fraction(duration_min, 60)
    draw = dose_mg / drug.stock_mg_per_ml if drug.stock_mg_per_ml else None
    if drug.bag_ml is not None:
        return Container(draw, dose_mg / drug.bag_ml, drug.bag_ml, drug.bag_ml / hours)
    if drug.final_mg_per_ml is not None:
        conc = drug.final_mg_per_ml
        return Container(draw, conc, dose_mg / conc, dose_mg / hours / conc)
    return Container(draw, None, None, None)
