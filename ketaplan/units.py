"""Quantities read from input files, exact rounding, and the one place numbers become text (ISMP)."""

import re
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from ketaplan import formats as _formats

__all__ = [
    "QuantityError",
    "parse_weight",
    "parse_height",
    "parse_mass_mg",
    "parse_volume_ml",
    "parse_concentration",
    "parse_duration_min",
    "parse_blood_pressure",
    "to_fraction",
    "round_half_down",
    "round_half_up",
    "truncate",
    "decisive_places",
    "floor_to",
    "fmt_number",
    "fmt_mg",
    "fmt_mg_per_kg",
    "fmt_mg_per_kg_per_h",
    "fmt_mg_per_h",
    "fmt_kg",
    "fmt_cm",
    "fmt_ml",
    "fmt_ml_per_h",
    "fmt_mg_per_ml",
    "fmt_minutes",
    "json_number",
    "forbidden_forms",
    "find_forbidden",
]


class QuantityError(ValueError):
    """A quantity that cannot be read. str(e) is a full sentence for a clinician that
    shows the accepted spellings, e.g.
    "'82,5 kg' is not a weight: write a number and a unit, e.g. \"82.5 kg\" or \"182 lb\" (units: kg, lb, lbs)"."""


# ---------------------------------------------------------------------------
# Exact numbers

def to_fraction(x: int | Decimal | Fraction) -> Fraction:
    """The exact value of x. Binary floats are refused: 0.1 is not one tenth."""
    if isinstance(x, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise ValueError(f"{x} is not a finite number")
        return Fraction(x)
    raise TypeError(f"expected int, Decimal or Fraction, not {type(x).__name__}")


def _positive_step(step: int | Decimal | Fraction) -> Fraction:
    step = to_fraction(step)
    if step <= 0:
        raise ValueError(f"a rounding step must be above zero, not {step}")
    return step


def _places(places: int) -> int:
    if isinstance(places, bool) or not isinstance(places, int):
        raise TypeError("places must be a whole number")
    if places < 0:
        raise ValueError("places must not be negative")
    return places


def round_half_down(x: Fraction, step: Fraction) -> Fraction:
    """The nearest multiple of step; an exact half goes down, because the lower dose wins."""
    x, step = to_fraction(x), _positive_step(step)
    # In integers, the same numbers: x / step = num / den, n = floor(num / den), and the part
    # above n is over a half exactly when 2 x (num - n x den) > den.
    num, den = x.numerator * step.denominator, x.denominator * step.numerator
    n, rest = divmod(num, den)
    if 2 * rest > den:
        n += 1
    return n * step


def round_half_up(x: int | Decimal | Fraction, places: int) -> Fraction:
    """x to `places` decimals, an exact half away from zero (a negative shows the digits of its size)."""
    x, scale = to_fraction(x), 10 ** _places(places)
    # In integers, the same numbers: |x| x scale = num / den; n its floor; a half or more rounds up.
    num, den = abs(x.numerator) * scale, x.denominator
    n, rest = divmod(num, den)
    if 2 * rest >= den:
        n += 1
    return Fraction(-n if x < 0 else n, scale)


def truncate(x: int | Decimal | Fraction, places: int) -> Fraction:
    """x cut to `places` decimals, toward zero. A measured value shown this way never reads as
    crossing a threshold of at most `places` decimals that the exact value does not cross: BMI
    34.9965 shows as 34.9, never 35 (spec/plan.md)."""
    x, scale = to_fraction(x), 10 ** _places(places)
    size = abs(x) * scale
    n = size.numerator // size.denominator
    return Fraction(-n if x < 0 else n, scale)


def decisive_places(threshold: int | Decimal | Fraction, places: int) -> int:
    """`places`, or more when the threshold has more decimals: the digits that decide a comparison."""
    exact = _exact_places(to_fraction(threshold))
    return places if exact is None else max(places, exact)


def floor_to(x: Fraction, step: Fraction) -> Fraction:
    """The largest multiple of step at or below x (a lowered rate never rounds back over its cap)."""
    x, step = to_fraction(x), _positive_step(step)
    q = x / step
    return (q.numerator // q.denominator) * step


def _exact_places(x: Fraction) -> int | None:
    """How many decimals write x exactly, or None when its decimal expansion never ends."""
    d, twos, fives = x.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    return max(twos, fives) if d == 1 else None


# ---------------------------------------------------------------------------
# Numbers as text

def fmt_number(x: int | Decimal | Fraction, places: int = 2, group: bool = True) -> str:
    """x rounded half up to `places` and written the ISMP way: "41" not "41.0", "0.5" not ".5",
    no exponent, and "1,000" (a comma between thousands) when group is true."""
    value = round_half_up(x, places)
    scaled = abs(value) * 10 ** places  # a whole number after rounding
    digits = str(scaled.numerator).rjust(places + 1, "0")
    whole = int(digits[: len(digits) - places])
    fraction = digits[len(digits) - places:].rstrip("0")
    text = f"{whole:,}" if group else str(whole)
    if fraction:
        text += "." + fraction
    return "-" + text if value < 0 else text


def _visible_places(x: Fraction, places: int) -> int:
    """`places`, or more when they would round a non-zero amount to 0: a "0 mL" draw or "0 mg/mL"
    must never be printed for something that is there. Then four significant digits are shown."""
    if x == 0 or round_half_up(x, places) != 0:
        return places
    first = 1  # the decimal place of x's first significant digit
    while abs(x) * 10 ** first < 1:
        first += 1
    return first + 3


def _amount(x: int | Decimal | Fraction, places: int, unit: str) -> str:
    x = to_fraction(x)
    return f"{fmt_number(x, _visible_places(x, places))} {unit}"


def _at_least_as_given(x: int | Decimal | Fraction, places: int, unit: str) -> str:
    # A mg/kg written in a protocol is shown with every digit it was given (0.12345 stays 0.12345);
    # only a value with no finite decimal form (1/3) is rounded, to `places`.
    x = to_fraction(x)
    exact = _exact_places(x)
    return _amount(x, places if exact is None else max(places, exact), unit)


def fmt_mg(x: int | Decimal | Fraction, places: int = 2) -> str:
    """A dose: "41 mg"."""
    return _amount(x, places, "mg")


def fmt_mg_per_kg(x: int | Decimal | Fraction) -> str:
    """A weight-based dose: "0.5 mg/kg"; at least 4 decimals ("0.3333 mg/kg") and never fewer than given."""
    return _at_least_as_given(x, 4, "mg/kg")


def fmt_mg_per_kg_per_h(x: int | Decimal | Fraction) -> str:
    """A weight-based rate: "0.5 mg/kg/h"; digits as for fmt_mg_per_kg."""
    return _at_least_as_given(x, 4, "mg/kg/h")


def fmt_mg_per_h(x: int | Decimal | Fraction, places: int = 2) -> str:
    """An hourly dose: "35 mg/h"."""
    return _amount(x, places, "mg/h")


def fmt_kg(x: int | Decimal | Fraction, places: int = 1) -> str:
    """A weight: "82.5 kg"."""
    return _amount(x, places, "kg")


def fmt_cm(x: int | Decimal | Fraction, places: int = 1) -> str:
    """A height: "165 cm"."""
    return _amount(x, places, "cm")


def fmt_ml(x: int | Decimal | Fraction) -> str:
    """A volume to 0.01 mL, halves up: "4.1 mL", "100 mL"."""
    return _amount(x, 2, "mL")


def fmt_ml_per_h(x: int | Decimal | Fraction) -> str:
    """A pump rate to 0.1 mL/h, halves up: "150 mL/h"."""
    return _amount(x, 1, "mL/h")


def fmt_mg_per_ml(x: int | Decimal | Fraction) -> str:
    """A concentration: "0.41 mg/mL". Two decimals, but a value that has up to four ("0.125 mg/mL",
    a protocol's final concentration) is shown exactly, and a non-zero value never as 0."""
    x = to_fraction(x)
    exact = _exact_places(x)
    places = exact if exact is not None and 2 < exact <= 4 else 2
    return _amount(x, places, "mg/mL")


def fmt_minutes(n: int) -> str:
    """A duration in whole minutes: "40 min", "4 h", "1 h 30 min" (parse_duration_min reads it back)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("a duration is a whole number of minutes")
    if n < 0:
        raise ValueError(f"a duration cannot be negative ({n} min)")
    hours, minutes = divmod(n, 60)
    if hours == 0:
        return f"{minutes} min"
    if minutes == 0:
        return f"{hours} h"
    return f"{hours} h {minutes} min"


def json_number(x: int | Decimal | Fraction, places: int | None = None) -> int | float:
    """A JSON number: rounded half up to `places` (None: exact, which must then be a finite decimal);
    an int when whole (150, not 150.0), else the float that prints back as the same decimal."""
    x = to_fraction(x) if places is None else round_half_up(x, places)
    exact = _exact_places(x)
    if exact is None:
        raise ValueError(f"{x} has no finite decimal form: give json_number a number of places")
    if x.denominator == 1:
        return x.numerator
    text = fmt_number(x, exact, group=False)
    if len(text.lstrip("-").replace(".", "").lstrip("0")) > 15:
        raise ValueError(f"{text} has more than 15 significant digits: a JSON float would not keep it")
    return float(text)


# ---------------------------------------------------------------------------
# Forms that must never appear in a plan (ISMP error-prone abbreviations and dose designations)

_UNIT = (
    r"(?:mg|mcg|micrograms?|g|kg|lbs?|ml|l|cm|mm|mmhg|h|hrs?|hours?|min|mins|minutes?"
    r"|units?|iu|u|cc)"
)

_FORBIDDEN_SOURCES: tuple[tuple[str, int], ...] = (
    # "41.0 mg", "4.10 mL": the point can be missed and the dose read ten times too large.
    (r"(?<![A-Za-z0-9_.])[0-9]+\.[0-9]*0(?![0-9]) ?(?:" + _UNIT + r"|%)(?![A-Za-z])", re.I),
    # ".5 mg": without its leading zero the point is missed and 0.5 is read as 5.
    (r"(?<![A-Za-z0-9_.])\.[0-9]+(?: ?[A-Za-z/%]+)?", 0),
    # "41mg": the "m" glued to the number can be read as extra zeros.
    (r"(?<![A-Za-z0-9_.])[0-9]+(?:\.[0-9]+)?" + _UNIT + r"(?![A-Za-z0-9])", re.I),
    # "cc" is read as "u" (units) or "00": write "mL".
    (r"(?<![A-Za-z0-9])cc(?![A-Za-z0-9])", re.I),
    # "10 U", "10 IU": "U" is read as 0 or 4, "IU" as IV or 10: write "units".
    (r"(?<![A-Za-z0-9_.])[0-9]+(?:\.[0-9]+)? (?:u|iu)(?![A-Za-z0-9])", re.I),
    # "QD", "QOD" (and q.d., q.o.d.) are misread for each other and for QID: write "daily",
    # "every other day". "QDS" (UK: four times daily) is a different word and does not match.
    (r"(?<![A-Za-z.])q\.?(?:o\.?)?d\.?(?![A-Za-z.])", re.I),
    # "µg" is read as "mg" (a thousand-fold overdose); BNF style spells out "micrograms".
    (r"(?<![A-Za-z])(?:mcg|[\u00b5\u03bc]g)(?![A-Za-z])", re.I),
    (r"(?<![A-Za-z0-9_.])[0-9]+(?:\.[0-9]+)? ?ug(?![A-Za-z])", re.I),
)




@lru_cache(maxsize=1)
def forbidden_forms() -> tuple[re.Pattern, ...]:
    """The compiled FORBIDDEN forms (compiled on first use: a plan does not need them to start)."""
    return tuple(re.compile(pattern, flags) for pattern, flags in _FORBIDDEN_SOURCES)


def find_forbidden(text: str) -> list[str]:
    """The snippets of text written in a form forbidden_forms() rules out, in the order they appear."""
    hits = [(m.start(), m.group(0)) for pattern in forbidden_forms() for m in pattern.finditer(text)]
    return [snippet for _, snippet in sorted(hits)]


# ---------------------------------------------------------------------------
# Reading quantities

class _Kind:
    """What a quantity is, in the words its error message uses."""

    def __init__(self, noun: str, write: str, examples: str, accepted: str) -> None:
        self.noun, self.write, self.examples, self.accepted = noun, write, examples, accepted

    def first_example(self) -> str:
        return self.examples.split('"')[1]


_WEIGHT = _Kind("a weight", "a number and a unit", '"82.5 kg" or "182 lb"', "units: kg, lb, lbs")
_HEIGHT = _Kind(
    "a height", "a number and a unit", '"165 cm", "1.65 m", "65 in" or "5 ft 5 in"', "units: cm, m, in, ft with in"
)
_DOSE = _Kind("a dose", "a number and a unit", '"41 mg"', "units: mg")
_VOLUME = _Kind("a volume", "a number and a unit", '"100 mL"', "units: mL")
_CONCENTRATION = _Kind("a concentration", "a number and a unit", '"10 mg/mL"', "units: mg/mL")
_DURATION = _Kind(
    "a duration", "whole minutes or hours", '"40 min", "4 h" or "1 h 30 min"', "units: min, h"
)
_BLOOD_PRESSURE = _Kind("a blood pressure", "systolic/diastolic in whole mmHg", '"138/86"', "no unit written")

# The forms, units and the longest quantity are ketaplan/formats.py's (the schema reads them there too).
_LONGEST_QUANTITY = _formats.LONGEST_QUANTITY  # also keeps huge numbers out of the arithmetic
_NUMBER = _formats.NUMBER
# ASCII only: a Kelvin sign that folds to "k", or Arabic-Indic digits, are not a weight.
_SIMPLE = re.compile(rf"(?P<number>{_NUMBER}) ?(?P<unit>[a-z]+(?:/[a-z]+)?)", re.A | re.I)
_FEET_INCHES = re.compile(rf"(?P<feet>[0-9]+) ?ft(?: ?(?P<inches>{_NUMBER}) ?in)?", re.A | re.I)
_HOURS_MINUTES = re.compile(r"(?:(?P<hours>[0-9]+) ?h)?(?: ?(?P<minutes>[0-9]+) ?min)?", re.A | re.I)
_DECIMAL_DURATION = re.compile(rf"(?P<number>{_NUMBER}) ?(?P<unit>h|min)", re.A | re.I)
_BLOOD_PRESSURE_FORM = re.compile(_formats.BLOOD_PRESSURE, re.A)
_FEET_NOT_WHOLE = re.compile(rf"{_NUMBER} ?ft.*", re.A | re.I)  # tried on every height not in feet

_INCH = Fraction("2.54")
_POUND = Fraction("0.45359237")  # kg, exact by the international yard and pound agreement (1959)
_WEIGHT_UNITS = {"kg": Fraction(1), "lb": _POUND, "lbs": _POUND}
_HEIGHT_UNITS = {"cm": Fraction(1), "m": Fraction(100), "in": _INCH}
assert tuple(_WEIGHT_UNITS) == _formats.WEIGHT_UNITS and tuple(_HEIGHT_UNITS) == _formats.HEIGHT_UNITS


def _shown(value: object) -> str:
    """The rejected value as the message quotes it: inert (repr escapes control characters) and short."""
    if isinstance(value, str):
        cut = value if len(value) <= _LONGEST_QUANTITY else value[:_LONGEST_QUANTITY] + "…"
        return repr(cut)
    if isinstance(value, bool):
        return "true" if value else "false"  # as TOML writes it
    if isinstance(value, (int, Decimal, Fraction, float)):
        return str(value)
    return f"a {type(value).__name__}"


def _error(value: object, kind: _Kind, hint: str | None = None) -> QuantityError:
    message = f"{_shown(value)} is not {kind.noun}: write {kind.write}, e.g. {kind.examples} ({kind.accepted})"
    return QuantityError(message + (f"; {hint}" if hint else ""))


def _text(value: object, kind: _Kind) -> str:
    if not isinstance(value, str):
        # A bare TOML number has no unit, and kg read as lb doubles a dose.
        raise QuantityError(
            f"{_shown(value)} is not {kind.noun}: expected a quantity in quotes, "
            f'e.g. "{kind.first_example()}" ({kind.accepted})'
        )
    text = value.strip()
    if len(text) > _LONGEST_QUANTITY:
        raise _error(value, kind)
    return text


def _hint(text: str) -> str | None:
    if text.startswith("-"):
        return "the value must be more than zero"
    if re.match(r"\.[0-9]", text):
        return f'write a leading zero: "0{text}", not "{text}"'
    return None


def _ratio(number: str) -> tuple[int, int]:
    """A number matched by _NUMBER ("67.9"), exactly, as integers (numerator, denominator): (679, 10).
    A quantity is worked out in integers and made a Fraction once (each Fraction operation costs)."""
    whole, point, part = number.partition(".")
    if not (whole.isascii() and whole.isdigit() and (not point or (part.isascii() and part.isdigit()))):
        return Fraction(number).as_integer_ratio()  # a form _NUMBER may admit one day: the Fraction parser reads it
    if not point:
        return int(whole), 1
    return int(whole + part), 10 ** len(part)


def _simple(value: object, kind: _Kind, units: dict[str, Fraction]) -> Fraction:
    text = _text(value, kind)
    match = _SIMPLE.fullmatch(text)
    if match is None or (unit := match["unit"].lower()) not in units:
        raise _error(value, kind, _hint(text))
    # number x unit = (n / d) x (u_n / u_d), the denominators above 0: positive exactly when n x u_n is.
    n, d = _ratio(match["number"])
    u_n, u_d = units[unit].as_integer_ratio()
    if n * u_n <= 0:
        raise _error(value, kind, "the value must be more than zero")
    return Fraction(n * u_n, d * u_d)


def _remembered(parse):
    """The same parser, its answers remembered by the text (a batch repeats "170 cm" and "5 ft 10 in"
    thousands of times). Only text is remembered; anything else, and every refusal, is parsed again."""
    cached = lru_cache(maxsize=4096)(parse)

    def read(text):
        return cached(text) if type(text) is str else parse(text)

    # mypy does not model attributes set on a function object (functools.wraps would also copy more).
    read.__doc__, read.__name__, read.__wrapped__ = parse.__doc__, parse.__name__, parse  # type: ignore[attr-defined]  # see above
    return read


@_remembered
def parse_weight(text: str) -> Fraction:
    """A weight in kg, exactly: "82.5 kg", "182 lb" (1 lb = 0.45359237 kg)."""
    return _simple(text, _WEIGHT, _WEIGHT_UNITS)


@_remembered
def parse_height(text: str) -> Fraction:
    """A height in cm, exactly: "165 cm", "1.65 m", "65 in", "5 ft 10 in", "5 ft" (1 in = 2.54 cm)."""
    stripped = _text(text, _HEIGHT)
    compound = _FEET_INCHES.fullmatch(stripped)
    if compound is None:
        if _FEET_NOT_WHOLE.fullmatch(stripped):
            raise _error(text, _HEIGHT, 'feet must be whole, e.g. "5 ft 6 in"')
        return _simple(text, _HEIGHT, _HEIGHT_UNITS)
    # In integers, as _simple: the inches after the feet are i_n / i_d, the height h_n / i_d inches.
    i_n, i_d = _ratio(compound["inches"]) if compound["inches"] else (0, 1)
    if i_n >= 12 * i_d:
        raise _error(text, _HEIGHT, "inches after feet must be below 12")
    h_n = int(compound["feet"]) * 12 * i_d + i_n
    if h_n <= 0:
        raise _error(text, _HEIGHT, "the value must be more than zero")
    cm_n, cm_d = _INCH.as_integer_ratio()
    return Fraction(h_n * cm_n, i_d * cm_d)


def parse_mass_mg(text: str) -> Fraction:
    """A dose in mg: "41 mg"."""
    return _simple(text, _DOSE, {_formats.MASS_UNITS[0]: Fraction(1)})


def parse_volume_ml(text: str) -> Fraction:
    """A volume in mL: "100 mL"."""
    return _simple(text, _VOLUME, {_formats.VOLUME_UNITS[0]: Fraction(1)})


def parse_concentration(text: str) -> Fraction:
    """A concentration in mg/mL: "10 mg/mL"."""
    return _simple(text, _CONCENTRATION, {_formats.CONCENTRATION_UNITS[0]: Fraction(1)})


def parse_duration_min(text: str) -> int:
    """A duration in whole minutes: "40 min", "4 h", "1 h 30 min", "90 min"."""
    stripped = _text(text, _DURATION)
    match = _HOURS_MINUTES.fullmatch(stripped)
    if match is None or not stripped:
        # ".5 h" is read as "0.5 h" only to say what to write instead.
        decimal = _DECIMAL_DURATION.fullmatch("0" + stripped if stripped.startswith(".") else stripped)
        if decimal is not None:
            written = Fraction(decimal["number"]) * (60 if decimal["unit"].lower() == "h" else 1)
            if written.denominator == 1 and written > 0:
                hint = f'durations are whole minutes: write "{fmt_minutes(int(written))}"'
            else:
                hint = "durations are whole minutes"
            raise _error(text, _DURATION, hint)
        raise _error(text, _DURATION, _hint(stripped))
    hours, minutes = int(match["hours"] or 0), int(match["minutes"] or 0)
    if match["hours"] is not None and minutes >= 60:
        raise _error(text, _DURATION, "minutes after hours must be below 60")
    total = hours * 60 + minutes
    if total <= 0:
        raise _error(text, _DURATION, "the value must be more than zero")
    return total


@_remembered
def parse_blood_pressure(text: str) -> tuple[int, int]:
    """A blood pressure "138/86" (mmHg) as (systolic, diastolic); the form only, not the ranges."""
    stripped = _text(text, _BLOOD_PRESSURE)
    match = _BLOOD_PRESSURE_FORM.fullmatch(stripped)
    if match is None:
        # "138/86 mmHg": the spec's form is "S/D" with no unit (docs/spec/decisions.md, issue 14).
        unit = re.fullmatch(_formats.BLOOD_PRESSURE + " *mmhg", stripped, re.A | re.I)
        raise _error(text, _BLOOD_PRESSURE, f'leave out the unit: "{unit[1]}/{unit[2]}"' if unit else None)
    return int(match[1]), int(match[2])
