"""`ketaplan protocol check`: load a protocol, then warn about likely mistakes that are not load errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from itertools import combinations

from ketaplan.model.protocol import WEEKDAYS, Clause, Phase, Protocol, When

#: Every warning code, with what it means. Codes are stable: scripts and docs refer to them.
CODES = {
    "W-NO-AGE-FLOOR": "no exclude or review rule fires for every patient under 18",
    "W-NO-PREGNANCY-RULE": "no exclude, review or check rule tests `pregnant`",
    "W-NO-ALLERGY-RULE": "no rule tests `allergy`: only the built-in ALLERGY-TO-PROTOCOL-DRUG looks at allergies",
    "W-REVIEW-DUE-PASSED": "the protocol's review_due date has passed",
    "W-RULE-CANNOT-FIRE": "a rule's conditions contradict each other or a plausibility limit, so they can never all be true",
    "W-RULE-ALWAYS-FIRES": "a rule's threshold is at the lowest plausible value, so it holds for every patient",
    "W-SAME-WHEN": "two rules have the same `when`",
    "W-ADJUST-OVERLAP": "two adjust rules can apply to one patient and set the same field",
    "W-HOLD-MATCHES-NO-DRUG": "a hold rule names a class that holds no medicine in the vocabulary",
    "W-PHASE-CANNOT-FIT": "a phase's sessions cannot fit within_days even in the best week",
    "W-TITRATE-ALWAYS": "a titrate rule has no `when`: it changes every session's dose for every patient",
}

#: The age below which a patient is a minor, for W-NO-AGE-FLOOR (a check on the protocol, not a dose).
ADULT_AGE = 18


@dataclass(frozen=True, slots=True)
class LintWarning:
    """One warning, with where in the protocol file it points."""

    code: str
    message: str
    path: tuple
    line: int | None = None
    column: int | None = None
    excerpt: str | None = None

    def render(self, file: str) -> str:
        where = file if self.line is None else f"{file}:{self.line}:{self.column}"
        text = f"{where}: warning: {self.code}: {self.message}"
        if self.excerpt:
            text += "\n" + self.excerpt
        return text


def run_protocol_check(path: str, strict: bool = False) -> int:
    """Every load error it can find (up to 20) to stderr, exit 2; else warnings to stderr, exit 1 on
    warnings with --strict."""
    from ketaplan.authoring import printable
    from ketaplan.load.protocol import MAX_ERRORS, check_protocol_file

    loaded, errors = check_protocol_file(path)
    if errors:
        for error in errors:
            print(printable(error.render()), file=sys.stderr)
        more = " (the first " + str(MAX_ERRORS) + "; there may be more)" if len(errors) >= MAX_ERRORS else ""
        if len(errors) > 1:
            print(printable(f"{_count(len(errors), 'error')}{more}: {path} cannot be used"), file=sys.stderr)
        return 2
    assert loaded is not None
    warnings = lint(loaded.protocol, loaded.text, date.today())
    for warning in warnings:
        print(printable(warning.render(loaded.name)), file=sys.stderr)
    p = loaded.protocol
    counts = (
        f"{p.id} {p.version}: {_count(len(p.rules), 'rule')}, {_count(len(p.schedule.phases), 'phase')}, "
        f"{_count(len(p.tests), 'test')}"
    )
    print(printable(f"{_count(len(warnings), 'warning')}: {counts}" if warnings else f"ok: {counts}"))
    return 1 if strict and warnings else 0


def lint(protocol: Protocol, text: str, today: date) -> list[LintWarning]:
    """Every warning for a loaded protocol, in file order. Pure: `today` is an argument."""
    found: list[tuple[str, str, tuple]] = []
    found += _missing_rules(protocol)
    found += _review_due(protocol, today)
    found += _rules_that_cannot_fire(protocol)
    found += _rules_that_always_fire(protocol)
    found += _same_when(protocol)
    found += _adjust_overlaps(protocol)
    found += _holds_without_drugs(protocol)
    found += _phases_that_cannot_fit(protocol)
    found += _titrate_always(protocol)
    placed = [_place(text, code, message, path) for code, message, path in found]
    return sorted(placed, key=lambda w: (w.line or 0, w.column or 0, w.code))


# ----------------------------------------------------------------------------- the checks


def _missing_rules(protocol: Protocol) -> Iterator[tuple[str, str, tuple]]:
    rules = protocol.rules
    minors = range(ADULT_AGE)
    if not any(r.effect in ("exclude", "review") and all(_holds_at_age(r.when, a) for a in minors) for r in rules):
        yield (
            "W-NO-AGE-FLOOR",
            f"no exclude or review rule fires for every patient under {ADULT_AGE}: a minor's plan would carry "
            f"no age finding (add e.g. a review rule with when = {{ age_below = {ADULT_AGE} }})",
            ("protocol",),
        )
    if not any(r.effect in ("exclude", "review", "check") and _mentions(r.when, "pregnant") for r in rules):
        yield (
            "W-NO-PREGNANCY-RULE",
            "no exclude, review or check rule tests `pregnant`: pregnancy would pass unremarked "
            "(e.g. when = { pregnant = true })",
            ("protocol",),
        )
    if not any(_mentions(r.when, "allergy") for r in rules):
        yield (
            "W-NO-ALLERGY-RULE",
            "no rule tests `allergy`: only the built-in ALLERGY-TO-PROTOCOL-DRUG looks at allergies "
            f"(to {protocol.drug.name} and its class); add rules for any other allergy the clinic's policy names",
            ("protocol",),
        )


def _review_due(protocol: Protocol, today: date) -> Iterator[tuple[str, str, tuple]]:
    due = protocol.review_due
    if due is not None and due < today:
        yield (
            "W-REVIEW-DUE-PASSED",
            f"review_due {due.isoformat()} has passed (today is {today.isoformat()}): every plan gets "
            "PROTOCOL-REVIEW-OVERDUE until the protocol is reviewed and given a new date",
            ("protocol", "review_due"),
        )


def _rules_that_cannot_fire(protocol: Protocol) -> Iterator[tuple[str, str, tuple]]:
    for i, rule in enumerate(protocol.rules):
        if rule.when is None:
            continue
        reason = contradiction(rule.when.clauses)
        if reason is None:
            continue
        if contradiction(rule.when.clauses, fire=True) is not None or rule.effect == "note":
            outcome = "so this rule never fires"
        else:
            outcome = "so this rule only ever fires as \"could not be checked\", when a value is not recorded"
        yield "W-RULE-CANNOT-FIRE", f"{rule.id}: {reason}, {outcome}", ("rule", i, "when")


def _rules_that_always_fire(protocol: Protocol) -> Iterator[tuple[str, str, tuple]]:
    for i, rule in enumerate(protocol.rules):
        if rule.when is None:
            continue  # a rule without `when` applies to everyone by design
        reason = universal(rule.when)
        if reason is None:
            continue
        text, recordable = reason
        whom = "every patient" if recordable else "every patient in whom it is recorded (and as \"could not be checked\" for the others)"
        yield "W-RULE-ALWAYS-FIRES", f"{rule.id}: {text}, so this rule fires for {whom}", ("rule", i, "when")


def _same_when(protocol: Protocol) -> Iterator[tuple[str, str, tuple]]:
    first: dict[frozenset, int] = {}
    for i, rule in enumerate(protocol.rules):
        if rule.when is None:  # several unconditional rules (a note, a check) are normal
            continue
        key = canonical_when(rule.when, protocol.vocabulary)
        if key in first:
            earlier = protocol.rules[first[key]]
            yield (
                "W-SAME-WHEN",
                f"{rule.id} has the same `when` as {earlier.id}: merge them, or make one more specific",
                ("rule", i, "when"),
            )
        else:
            first[key] = i


def _adjust_overlaps(protocol: Protocol) -> Iterator[tuple[str, str, tuple]]:
    from ketaplan.units import fmt_number

    adjust = [(i, r) for i, r in enumerate(protocol.rules) if r.effect == "adjust"]
    for (_, a), (j, b) in combinations(adjust, 2):
        if contradiction(_clauses(a.when) + _clauses(b.when), fire=True) is not None:
            continue
        both = f"{a.id} and {b.id} can both apply to one patient and both set"
        if a.dose_factor is not None and b.dose_factor is not None:
            product = a.dose_factor * b.dose_factor
            yield (
                "W-ADJUST-OVERLAP",
                f"{both} dose_factor: the factors multiply ({_num(a.dose_factor)} x {_num(b.dose_factor)} = "
                f"{fmt_number(product, 6, group=False)}); if one should replace the other, make their `when` exclusive",
                ("rule", j, "dose_factor"),
            )
        if a.max_mg is not None and b.max_mg is not None and a.max_mg != b.max_mg:
            low = a if a.max_mg < b.max_mg else b
            yield (
                "W-ADJUST-OVERLAP",
                f"{both} max_mg: the lower cap wins ({_num(low.max_mg)} mg, {low.id})",
                ("rule", j, "max_mg"),
            )
        if a.weight_basis is not None and b.weight_basis is not None and a.weight_basis != b.weight_basis:
            yield (
                "W-ADJUST-OVERLAP",
                f"{both} weight_basis ({a.weight_basis}, {b.weight_basis}): the one giving the lower dosing "
                "weight is used",
                ("rule", j, "weight_basis"),
            )


def _titrate_always(protocol: Protocol) -> Iterator[tuple[str, str, tuple]]:
    """A titrate rule with no `when` replaces the phase's dose for every patient from the first session."""
    for i, rule in enumerate(protocol.rules):
        if rule.effect == "titrate" and rule.when is None:
            yield (
                "W-TITRATE-ALWAYS",
                f"{rule.id}: a titrate rule without `when` changes every session's dose for every patient; "
                "give the dose in [dose] or the phase instead, or add the condition that calls for it "
                "(e.g. when = { series_sessions_at_least = 3, response_below = { madrs = 50 } })",
                ("rule", i, "effect"),
            )


def _holds_without_drugs(protocol: Protocol) -> Iterator[tuple[str, str, tuple]]:
    vocabulary = protocol.vocabulary
    for i, rule in enumerate(protocol.rules):
        if rule.effect != "hold" or rule.when is None:
            continue
        for path, names in _name_lists(rule.when, "medication", ("rule", i, "when")):
            for k, name in enumerate(names):
                if not vocabulary.drug_members(name):
                    yield (
                        "W-HOLD-MATCHES-NO-DRUG",
                        f"{rule.id}: {name!r} holds no medicine in the vocabulary, so this hold can never list one "
                        "(add its drugs under [vocabulary.drugs])",
                        path + (k,),
                    )


def _phases_that_cannot_fit(protocol: Protocol) -> Iterator[tuple[str, str, tuple]]:
    for i, phase in enumerate(protocol.schedule.phases):
        if phase.within_days is None:
            continue
        weekdays = phase.days or protocol.schedule.days
        span, first = shortest_span(phase, weekdays)
        if span > phase.within_days:
            days = ", ".join(WEEKDAYS[d] for d in sorted(weekdays))
            yield (
                "W-PHASE-CANNOT-FIT",
                f"phase {phase.name!r}: {phase.sessions} sessions at least {phase.min_gap_days} days apart on "
                f"{days} span at least {span} days (starting on a {WEEKDAYS[first]}, with no holidays), more "
                f"than within_days = {phase.within_days}: every plan would get SCHEDULE-OVERRUN",
                ("schedule", "phase", i, "within_days"),
            )


def shortest_span(phase: Phase, weekdays: frozenset[int]) -> tuple[int, int]:
    """The fewest days from a phase's first session to its last, over every starting weekday,
    ignoring holidays and closed dates (the best case); and the weekday that gives it."""
    best: tuple[int, int] | None = None
    for first in sorted(weekdays):
        day = first  # days counted from a Monday: the weekday is day % 7
        for _ in range(phase.sessions - 1):
            day += phase.min_gap_days
            while day % 7 not in weekdays:
                day += 1
        if best is None or day - first < best[0]:
            best = (day - first, first)
    assert best is not None  # the loader refuses an empty `days`
    return best


# ------------------------------------------------------------------- reasoning about `when`

#: Clauses that put a bound on one number: (the number, "lo" for at least, "hi" for below).
_BOUNDS = {
    "age_at_least": ("age", "lo"),
    "age_below": ("age", "hi"),
    "weight_kg_at_least": ("weight", "lo"),
    "weight_kg_below": ("weight", "hi"),
    "bmi_at_least": ("bmi", "lo"),
    "bmi_below": ("bmi", "hi"),
    "systolic_at_least": ("systolic", "lo"),
    "diastolic_at_least": ("diastolic", "lo"),
    "heart_rate_at_least": ("heart_rate", "lo"),
    "heart_rate_below": ("heart_rate", "hi"),
    "spo2_below": ("spo2", "hi"),
    "sessions_given_at_least": ("sessions_given", "lo"),
}
#: Numbers a patient file may leave out: a test on them is then unknown, and an unknown rule still acts.
_MAY_BE_UNRECORDED = {"systolic", "diastolic", "heart_rate", "spo2"}  # and every score


@dataclass(frozen=True, slots=True)
class _Atom:
    """One simple fact a clause (or a `not` of one clause) demands."""

    kind: str  # "bound" | "sex" | "state"
    subject: str  # the number, "sex", "pregnant" or "breastfeeding"
    value: tuple[str, Fraction] | frozenset  # bound: (side, Fraction); sex and state: the values that satisfy it
    text: str  # as written, for the message
    recordable: bool = True  # False: the value may be unrecorded (then the test is unknown)


def _bound(atom: _Atom) -> tuple[str, Fraction]:
    """A "bound" atom's (side, limit)."""
    if not isinstance(atom.value, tuple):
        raise TypeError(f"a {atom.kind} atom has no bound")
    return atom.value


def _values(atom: _Atom) -> frozenset:
    """A "sex" or "state" atom's set of values that satisfy it."""
    if not isinstance(atom.value, frozenset):
        raise TypeError(f"a {atom.kind} atom has no set of values")
    return atom.value


def contradiction(clauses: tuple[Clause, ...] | list[Clause], *, fire: bool = False) -> str | None:
    """Why one AND of clauses can never be true, or None if some patient could make it true.

    With `fire`, "true" widens to "true or unknown": a test on an unrecorded value makes its rule
    act all the same (adjust: applied where lower), so only facts every patient file holds
    (age, sex, weight, BMI, earlier infusions) can rule a rule out.
    """
    if any(c.key == "not" and not c.value.clauses for c in clauses):
        return "not = {} is never true"
    atoms = [a for c in clauses for a in _atoms(c, fire)]
    atoms += _limit_atoms(atoms, fire)  # last: a clause's own words win a tie
    reason = _atom_conflict(atoms)
    if reason is not None:
        return reason
    plain = [c for c in clauses if c.key != "any"]
    for c in clauses:
        if c.key != "any":
            continue
        reasons = [contradiction(plain + list(branch.clauses), fire=fire) for branch in c.value]
        found = [r for r in reasons if r is not None]
        if len(found) == len(reasons):
            if len(found) == 1:
                return found[0]
            return "no branch of `any` can be true (" + "; ".join(found) + ")"
    return None


def _lowest() -> dict[str, tuple[int, str]]:
    """The lowest plausible value of each number a bound can be put on, and its words."""
    from ketaplan.model.patient import LIMITS, SCORE_RANGES

    out = {
        subject: (LIMITS[field][0], f"the lowest plausible {words} ({LIMITS[field][0]}{unit})")
        for subject, field, words, unit in (
            ("age", "age", "age", ""),
            ("weight", "weight_kg", "weight", " kg"),
            ("bmi", "bmi", "BMI", ""),
            ("systolic", "systolic", "systolic", " mmHg"),
            ("diastolic", "diastolic", "diastolic", " mmHg"),
            ("heart_rate", "heart_rate", "heart rate", " bpm"),
            ("spo2", "spo2", "SpO2", "%"),
        )
    }
    out["sessions_given"] = (0, "no earlier infusion (0)")
    for name, (lo, _) in SCORE_RANGES.items():
        out[f"score {name}"] = (lo, f"the lowest {name} score ({lo})")
    return out


def _limit_atoms(atoms: list[_Atom], fire: bool) -> list[_Atom]:
    """The patient format's lower limit on each number the atoms bound: `age_below = 0` or
    `spo2_below = 50` can never be true of a plausible patient."""
    lowest = _lowest()
    subjects = dict.fromkeys(a.subject for a in atoms if a.kind == "bound" and a.subject in lowest)
    limits = [
        _Atom("bound", subject, ("lo", Fraction(lowest[subject][0])), lowest[subject][1],
              subject not in _MAY_BE_UNRECORDED and not subject.startswith("score "))
        for subject in subjects
    ]  # fmt: skip
    return _keep(limits, fire)


def universal(when: When) -> tuple[str, bool] | None:
    """Why a `when` holds for every patient whose values are recorded, and whether every patient has
    them (False: a value it tests may be unrecorded, and the rule is then "could not be checked");
    None when some patient could make it false."""
    reasons = [_universal_clause(c) for c in when.clauses]
    if any(r is None for r in reasons):
        return None
    texts = [r[0] for r in reasons if r is not None]
    return "; ".join(texts), all(r[1] for r in reasons if r is not None)


def _universal_clause(clause: Clause) -> tuple[str, bool] | None:
    lowest = _lowest()
    text = clause_text(clause)
    if clause.key in _BOUNDS:
        subject, side = _BOUNDS[clause.key]
        lo = lowest[subject][0]
        if side == "lo" and clause.value <= lo:
            return f"{text} holds for every patient (at {lowest[subject][1]})", subject not in _MAY_BE_UNRECORDED
        return None
    if clause.key == "score_at_least":
        if all(bound <= lowest[f"score {name}"][0] for name, bound in clause.value):
            return f"{text} holds for every recorded score (the lowest of the scale)", False
        return None
    if clause.key == "blood_pressure_at_least":
        systolic, diastolic = clause.value
        if systolic <= lowest["systolic"][0] or diastolic <= lowest["diastolic"][0]:
            return (
                f"{text} holds for every recorded blood pressure (at {lowest['systolic'][1]} or "
                f"{lowest['diastolic'][1]})",
                False,
            )
        return None
    if clause.key == "any":
        for branch in clause.value:
            found = universal(branch)
            if found is not None:
                return found
        return None
    if clause.key == "not":
        reason = contradiction(clause.value.clauses)
        if reason is not None:
            return f"not = {{ ... }}: {reason}", True
        return None
    return None


def _atoms(clause: Clause, fire: bool) -> list[_Atom]:
    if clause.key == "not":
        inner = clause.value.clauses
        if len(inner) != 1:
            return []  # not (A and B) is an "or": no single fact it demands
        atoms = _atoms(inner[0], fire=False)
        if len(atoms) != 1:
            return []
        return _keep([_negate(atoms[0], f"not = {{ {atoms[0].text} }}", fire)], fire)
    text = clause_text(clause)
    if clause.key in _BOUNDS:
        subject, side = _BOUNDS[clause.key]
        recordable = subject not in _MAY_BE_UNRECORDED
        return _keep([_Atom("bound", subject, (side, Fraction(clause.value)), text, recordable)], fire)
    if clause.key in ("score_at_least", "score_below"):
        side = "lo" if clause.key == "score_at_least" else "hi"
        atoms = [_Atom("bound", f"score {name}", (side, Fraction(bound)), text, False) for name, bound in clause.value]
        return _keep(atoms, fire)
    if clause.key == "sex":
        return [_Atom("sex", "sex", frozenset({clause.value}), text)]
    if clause.key in ("pregnant", "breastfeeding"):
        if clause.value == "unknown":
            return [_Atom("state", clause.key, frozenset({None}), text)]
        states = {clause.value} | ({None} if fire else set())
        return [_Atom("state", clause.key, frozenset(states), text)]
    return []


def _keep(atoms: list[_Atom], fire: bool) -> list[_Atom]:
    # With `fire`, a bound on a value that may be unrecorded demands nothing: unrecorded, it acts anyway.
    return [a for a in atoms if a.recordable or not fire]


def _negate(atom: _Atom, text: str, fire: bool) -> _Atom:
    if atom.kind == "bound":
        side, value = _bound(atom)
        return _Atom("bound", atom.subject, ("hi" if side == "lo" else "lo", value), text, atom.recordable)
    if atom.kind == "sex":
        return _Atom("sex", "sex", frozenset({"female", "male"}) - _values(atom), text)
    # pregnant / breastfeeding: not(true) holds only on a recorded false; not("unknown") on any recorded value
    states = frozenset({True, False, None}) - _values(atom)
    if None not in _values(atom):
        states -= {None}
        if fire:
            states |= {None}  # an unrecorded state makes the inner test unknown, and so the `not`
    return _Atom("state", atom.subject, states, text)


def _atom_conflict(atoms: list[_Atom]) -> str | None:
    lows: dict[str, tuple[Fraction, str]] = {}
    highs: dict[str, tuple[Fraction, str]] = {}
    for a in atoms:
        if a.kind != "bound":
            continue
        side, value = _bound(a)
        if side == "lo" and (a.subject not in lows or value > lows[a.subject][0]):
            lows[a.subject] = (value, a.text)
        if side == "hi" and (a.subject not in highs or value < highs[a.subject][0]):
            highs[a.subject] = (value, a.text)
    for subject, (low, low_text) in lows.items():
        if subject in highs and low >= highs[subject][0]:
            return f"{low_text} and {highs[subject][1]} can never both be true"
    sets: dict[str, tuple[frozenset, list[str]]] = {}
    ordered = [a for a in atoms if a.kind == "sex"] + [a for a in atoms if a.kind == "state"]
    for a in ordered:
        if a.kind == "state" and a.subject not in sets and sets.get("sex", (None,))[0] == frozenset({"male"}):
            # The patient loader records a male patient as neither pregnant nor breastfeeding.
            sets[a.subject] = (frozenset({False}), sets["sex"][1])
        values, texts = sets.get(a.subject, (None, []))
        values = _values(a) if values is None else values & _values(a)
        texts = texts + [a.text]
        if not values:
            return " and ".join(texts) + (" can never both be true" if len(texts) == 2 else " can never all be true")
        sets[a.subject] = (values, texts)
    return None


def _holds_at_age(when: When | None, age: int) -> bool:
    """Whether `when` is surely true for a patient of this age, whatever else the file says."""
    return _value_at_age(when, age) is True


def _value_at_age(when: When | None, age: int) -> bool | None:
    if when is None:
        return True
    values = [_clause_at_age(c, age) for c in when.clauses]
    if False in values:
        return False
    return None if None in values else True


def _clause_at_age(clause: Clause, age: int) -> bool | None:
    if clause.key == "age_at_least":
        return age >= clause.value
    if clause.key == "age_below":
        return age < clause.value
    if clause.key == "any":
        values = [_value_at_age(w, age) for w in clause.value]
        return True if True in values else (None if None in values else False)
    if clause.key == "not":
        inner = _value_at_age(clause.value, age)
        return None if inner is None else not inner
    return None  # depends on more than age


def _mentions(when: When | None, key: str) -> bool:
    if when is None:
        return False
    for clause in when.clauses:
        if clause.key == key:
            return True
        if clause.key == "any" and any(_mentions(w, key) for w in clause.value):
            return True
        if clause.key == "not" and _mentions(clause.value, key):
            return True
    return False


def _name_lists(when: When, key: str, path: tuple) -> Iterator[tuple[tuple, tuple[str, ...]]]:
    """Each list of names under `key`, with its path in the file."""
    for clause in when.clauses:
        if clause.key == key:
            yield path + (key,), clause.value
        elif clause.key == "any":
            for n, branch in enumerate(clause.value):
                yield from _name_lists(branch, key, path + ("any", n))
        elif clause.key == "not":
            yield from _name_lists(clause.value, key, path + ("not",))


def _clauses(when: When | None) -> list[Clause]:
    return [] if when is None else list(when.clauses)


def canonical_when(when: When, vocabulary) -> frozenset:
    """A `when` in a form where order and spelling do not matter: {a, b} = {b, a}, "benzo" = "benzodiazepine"."""
    return frozenset(_canonical_clause(c, vocabulary) for c in when.clauses)


def _canonical_clause(clause: Clause, vocabulary) -> tuple:
    from ketaplan.vocabulary import normalise

    key, value = clause.key, clause.value
    if key in ("condition", "active_condition", "medication", "allergy"):
        return key, frozenset(vocabulary.term_key(n) or normalise(n) for n in value)
    if key in ("missing", "score_at_least", "score_below", "response_below", "response_at_least", "adverse_event"):
        return key, frozenset(value)
    if key == "any":
        return key, frozenset(canonical_when(w, vocabulary) for w in value)
    if key == "not":
        return key, canonical_when(value, vocabulary)
    if key in ("pregnant", "breastfeeding"):
        return key, (("bool", value) if isinstance(value, bool) else value)  # true must not equal 1
    return key, value


def clause_text(clause: Clause) -> str:
    """A clause as the protocol writes it, e.g. `age_at_least = 65`."""
    key, value = clause.key, clause.value
    if isinstance(value, bool):
        return f"{key} = {'true' if value else 'false'}"
    if isinstance(value, (int, Fraction)):
        return f"{key} = {_num(value)}"
    if isinstance(value, str):
        return f'{key} = "{value}"'
    if key in ("score_at_least", "score_below", "response_below", "response_at_least"):
        return f"{key} = {{ " + ", ".join(f"{n} = {_num(b)}" for n, b in value) + " }"
    if key in ("blood_pressure_at_least", "peak_blood_pressure_at_least"):
        return f'{key} = "{value[0]}/{value[1]}"'
    if key == "not":
        return "not = { " + ", ".join(clause_text(c) for c in value.clauses) + " }"
    if key == "any":
        return "any = [...]"
    return f"{key} = [" + ", ".join(f'"{n}"' for n in value) + "]"


# ----------------------------------------------------------------------------------- helpers


def _place(text: str, code: str, message: str, path: tuple) -> LintWarning:
    from ketaplan.load.positions import caret_block, locate, span_width

    pos = locate(text, path)
    if pos is None:
        return LintWarning(code, message, path)
    item = bool(path) and isinstance(path[-1], int)
    excerpt = caret_block(pos, span_width(pos.text, pos.column, value=item))
    return LintWarning(code, message, path, pos.line, pos.column, excerpt)


def _num(x) -> str:
    from ketaplan.units import fmt_number

    return fmt_number(Fraction(x), 6, group=False)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
