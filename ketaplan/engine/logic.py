"""Three-valued evaluation of a rule's `when`: true, false or unknown, with the facts that decided it.

Missing data fails closed: a test on an absent value is unknown, never false (spec/protocol.md).
"""

from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from ketaplan.engine.facts import Facts
from ketaplan.model.protocol import When
from ketaplan.units import decisive_places, fmt_number, truncate

TRUE, FALSE, UNKNOWN = True, False, None


class Evidence(NamedTuple):
    text: str
    unknown: bool = False  # this fact could not be checked

    def words(self) -> str:
        return f"could not be checked: {self.text}" if self.unknown else self.text


class Result(NamedTuple):
    value: bool | None
    evidence: tuple[Evidence, ...]


ALWAYS = Result(TRUE, (Evidence("the rule has no condition: it applies to every patient"),))


def evaluate(when: When | None, facts: Facts) -> Result:
    if when is None:
        return ALWAYS
    if len(when.clauses) == 1:  # most rules: the clause's own result, nothing to combine
        clause = when.clauses[0]
        return _clause(clause.key, clause.value, facts)
    return _all([_clause(c.key, c.value, facts) for c in when.clauses])


def _all(parts: list[Result]) -> Result:
    if any(p.value is FALSE for p in parts):
        return Result(FALSE, _join(p for p in parts if p.value is FALSE))
    if any(p.value is UNKNOWN for p in parts):
        # The unknown parts first: they are why the rule could not be decided.
        ordered = [p for p in parts if p.value is UNKNOWN] + [p for p in parts if p.value is TRUE]
        return Result(UNKNOWN, _join(ordered))
    return Result(TRUE, _join(parts))


def _any(parts: list[Result]) -> Result:
    if any(p.value is TRUE for p in parts):
        return Result(TRUE, _join(p for p in parts if p.value is TRUE))
    if any(p.value is UNKNOWN for p in parts):
        return Result(UNKNOWN, _join(p for p in parts if p.value is UNKNOWN))
    return Result(FALSE, _join(parts))


def _not(part: Result) -> Result:
    value = UNKNOWN if part.value is UNKNOWN else not part.value
    return Result(value, part.evidence)


def _join(parts) -> tuple[Evidence, ...]:
    seen: dict[Evidence, None] = {}
    for p in parts:
        for e in p.evidence:
            seen.setdefault(e, None)
    return tuple(seen)


def _fact(value: bool, text: str) -> Result:
    return Result(value, (Evidence(text),))


def _unknown(text: str) -> Result:
    return Result(UNKNOWN, (Evidence(text, unknown=True),))


def _n(x, places: int = 2) -> str:
    return fmt_number(Fraction(x), places)


def _measured(x: Fraction, threshold) -> str:
    """A measured value beside the threshold it was compared with: cut (never rounded) to the digits
    that decide, so that BMI 34.9965 reads "34.99 is below 35", never "35 is below 35"."""
    places = decisive_places(threshold, 2)
    return fmt_number(truncate(x, places), places)


def _clause(key: str, value, facts: Facts) -> Result:
    p = facts.patient
    if key == "any":
        return _any([evaluate(w, facts) for w in value])
    if key == "not":
        return _not(evaluate(value, facts))
    if key == "age_at_least":
        return _fact(p.age >= value, f"age {p.age} is {'at least' if p.age >= value else 'below'} {value}")
    if key == "age_below":
        return _fact(p.age < value, f"age {p.age} is {'below' if p.age < value else 'at least'} {value}")
    if key == "sex":
        return _fact(p.sex == value, f"sex is {p.sex}")
    if key in ("weight_kg_at_least", "weight_kg_below"):
        at_least = p.weight_kg >= value
        holds = at_least if key.endswith("at_least") else not at_least
        word = "at least" if at_least else "below"
        return _fact(holds, f"weight {_measured(p.weight_kg, value)} kg is {word} {_n(value, decisive_places(value, 2))} kg")
    if key in ("bmi_at_least", "bmi_below"):
        at_least = p.bmi >= value
        holds = at_least if key.endswith("at_least") else not at_least
        word = "at least" if at_least else "below"
        return _fact(holds, f"BMI {_measured(p.bmi, value)} is {word} {_n(value, decisive_places(value, 2))}")
    if key in ("condition", "active_condition"):
        return _conditions(value, facts, active_only=key == "active_condition")
    if key == "medication":
        return _medications(value, facts)
    if key == "allergy":
        return _allergies(value, facts)
    if key == "blood_pressure_at_least":
        if p.blood_pressure is None:
            return _unknown("blood_pressure is missing")
        (s, d), (ls, ld) = p.blood_pressure, value
        holds = s >= ls or d >= ld
        word = "at or above" if holds else "below"
        return _fact(holds, f"blood pressure {s}/{d} mmHg is {word} {ls}/{ld}")
    if key in _VITALS:
        field, label, unit, at_least = _VITALS[key]
        if field in ("systolic", "diastolic"):
            if p.blood_pressure is None:
                return _unknown("blood_pressure is missing")
            reading = p.blood_pressure[0 if field == "systolic" else 1]
        else:
            reading = getattr(p, field)
            if reading is None:
                return _unknown(f"{field} is missing")
        holds = reading >= value if at_least else reading < value
        word = "at least" if reading >= value else "below"
        return _fact(holds, f"{label} {reading}{unit} is {word} {value}{unit}")
    if key in ("pregnant", "breastfeeding"):
        state = getattr(p, key)
        if value == "unknown":
            return _fact(state is None, f"{key} is {'not recorded' if state is None else str(state).lower()}")
        if state is None:
            return _unknown(f"{key} is not recorded")
        return _fact(state == value, f"{key} is {str(state).lower()}")
    if key in ("score_at_least", "score_below"):
        from ketaplan.engine.course import most_recent_score

        parts = []
        for name, bound in value:
            # The most recent score of the scale, baseline or assessment (spec/course.md).
            recent = most_recent_score(p, name)
            if recent is None:
                parts.append(_unknown(f"score {name} is missing"))
                continue
            score, on, baseline = recent
            at_least = score >= bound
            holds = at_least if key == "score_at_least" else not at_least
            when = "" if not p.assessments else f" ({'baseline' if baseline else 'assessment'}{' of ' + on.isoformat() if on else ''})"
            parts.append(_fact(holds, f"{name} {score}{when} is {'at least' if at_least else 'below'} {bound}"))
        return _all(parts)
    if key == "missing":
        absent = [name for name in value if _is_missing(name, facts)]
        if absent:
            return _fact(TRUE, "not recorded: " + ", ".join(absent))
        return _fact(FALSE, "recorded: " + ", ".join(value))
    if key == "sessions_given_at_least":
        given = len(p.infusions)
        return _fact(given >= value, f"{given} earlier infusion{'s' if given != 1 else ''} recorded")
    if key == "days_since_last_infusion_below":
        if not p.infusions:
            return _fact(FALSE, "no earlier infusion recorded")
        last = p.infusions[-1].date
        days = (facts.start - last).days
        word = "below" if days < value else "at least"
        return _fact(days < value, f"last infusion on {last.isoformat()}, {days} days before the start, is {word} {value} days")
    from ketaplan.engine.course import COURSE_KEYS

    if key in COURSE_KEYS:
        from ketaplan.engine.course_rules import course_clause

        return course_clause(key, value, facts)
    raise AssertionError(f"unhandled when key {key!r}")  # the loader admits only the keys above


_VITALS = {
    "systolic_at_least": ("systolic", "systolic", " mmHg", True),
    "diastolic_at_least": ("diastolic", "diastolic", " mmHg", True),
    "heart_rate_at_least": ("heart_rate", "heart rate", " bpm", True),
    "heart_rate_below": ("heart_rate", "heart rate", " bpm", False),
    "spo2_below": ("spo2", "SpO2", "%", False),
}


def _is_missing(name: str, facts: Facts) -> bool:
    p = facts.patient
    if name.startswith("scores."):
        return p.score(name.split(".", 1)[1]) is None
    if name == "scores":
        return not p.scores
    if name == "infusions":
        return not p.infusions
    return name not in p.present


def _group_words(names) -> str:
    return " or ".join(names)


def _list_result(label: str, items, terms, facts: Facts, matched_terms, describe_match) -> Result:
    """A list test: true if a recognised entry matches; else unknown if an entry is unrecognised.

    matched_terms(item) gives the terms the entry is known to be in, and what of it is unsure:
    (None, True) for an entry not recognised at all; (terms, True) for one only partly recognised
    (a condition known by its code but not by its name), which makes the test true when those terms
    do, and unknown otherwise; (terms, unsure) with unsure(term) saying for which of the test's terms
    the rest of the entry leaves it unknown (a medication naming a second medicine)."""
    if items is None:
        return _unknown(f"{label} are not recorded")
    keys = {facts.key(t): t for t in terms}
    hits, unrecognised = [], []
    for item in items:
        found, unsure = matched_terms(item)
        shared = [keys[k] for k in keys if found is not None and k in found]
        if shared:
            hits.append(Evidence(describe_match(item, shared)))
        elif unsure is True or (callable(unsure) and any(unsure(t) for t in keys.values())):
            unrecognised.append(item)
    if hits:
        return Result(TRUE, tuple(hits))
    if unrecognised:
        return Result(
            UNKNOWN,
            tuple(Evidence(f"{_not_recognised(i)}{_script_note(i)}", unknown=True) for i in unrecognised),
        )
    return _fact(FALSE, f"no {label[:-1] if label.endswith('s') else label} in {_group_words(terms)}")


def _not_recognised(item) -> str:
    if getattr(item, "others", ()):  # a medication entry naming more than one medicine
        return f"{item.describe()} names more than one medicine ({item.names()})"
    code_terms = getattr(item.match, "code_terms", None)  # a condition's ICD-10 code
    if code_terms:
        # Known by its code only: the code did not make this test true, and the name may mean anything.
        return f"{item.describe()}: the name is not recognised (its code is in {_group_words(sorted(code_terms))})"
    return f"{item.describe()} is not recognised"


@lru_cache(maxsize=8192)
def may_cover(vocabulary, term: str, other: str) -> bool:
    """Whether a drug or class `term` and a drug or class `other` can name one medicine: the same
    entry, or classes (and drugs) sharing a drug."""
    if vocabulary.term_key(term) == vocabulary.term_key(other):
        return True
    return bool(vocabulary.drug_members(term) & vocabulary.drug_members(other))


def _script_note(item) -> str:
    if item.hidden:
        return " (it contains an invisible character)"
    return " (it mixes letters from different scripts)" if item.mixed_script else ""


def _conditions(terms, facts: Facts, active_only: bool) -> Result:
    items = facts.conditions
    if items is not None and active_only:
        items = tuple(c for c in items if c.condition.status == "active")

    def found(c):
        if c.suspect or not c.match.name_terms:
            # A name the vocabulary does not know is never dropped because its code is known: the
            # code can make a test true, never false (a misspelt "schizofrenia" coded F33.2).
            return (c.match.code_terms or None), True
        return c.match.terms, False

    def words(c, shared):
        if c.suspect or not c.match.name_terms:
            return f"{c.describe()} is in {_group_words(shared)} by its ICD-10 code (the name is not recognised)"
        return f"{c.describe()} is in {_group_words(shared)}"

    label = "active conditions" if active_only else "conditions"
    result = _list_result(label, items, terms, facts, found, words)
    if facts.conditions is None:
        return _unknown("conditions are not recorded")
    return result


def _medications(terms, facts: Facts) -> Result:
    def found(m):
        if m.suspect or m.match is None:
            return None, True
        if m.others:
            # "sertraline plus benzodiazepine": sertraline for sure; a rule on anything the other
            # names may cover reads the entry as unknown.
            return m.match.terms, lambda term: any(may_cover(facts.vocabulary, term, o) for o in m.others)
        return m.match.terms, False

    def words(m, shared):
        classes = [t for t in shared if facts.key(t) != facts.key(m.match.drug)]
        return f"{m.describe()} is {m.match.drug}" + (f", in {_group_words(classes)}" if classes else "")

    return _list_result("medications", facts.medications, terms, facts, found, words)


def _allergies(terms, facts: Facts) -> Result:
    def found(a):
        if a.suspect or a.match is None:
            return None, True
        return a.match.terms, False

    def words(a, shared):
        return f"{a.describe()} is in {_group_words(shared)}"

    return _list_result("allergies", facts.allergies, terms, facts, found, words)
