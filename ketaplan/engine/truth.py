"""A protocol's rules compiled once into truth-only closures: true, false or unknown (None), no evidence.

`decide()` (engine/plan.py) asks these for every rule of every patient; the evidence words are built
by `logic.evaluate` only for the rules that fire or are unknown. Each closure computes the same value
as `logic.evaluate(when, facts).value`, key by key (tests/test_decide.py proves it over random
protocols and patients); a key without a closure here falls back to `logic._clause(...).value`, the
evaluator itself. Compiling is per protocol and per run: the vocabulary keys of the protocol's terms
are worked out here once, not for every patient and rule.
"""

from __future__ import annotations

from typing import Callable

from ketaplan.engine.facts import Facts
from ketaplan.model.protocol import Protocol, When

Truth = Callable[[Facts], "bool | None"]


def _always(facts: Facts) -> bool:
    return True


def compile_when(when: When | None, vocabulary) -> Truth:
    """The truth value of a `when` (logic.evaluate(...).value), as one closure."""
    if when is None:
        return _always
    parts = [_compile_clause(c.key, c.value, vocabulary) for c in when.clauses]
    if len(parts) == 1:
        return parts[0]
    parts_t = tuple(parts)

    def all_of(facts: Facts):
        # logic._all: false if any part is false; else unknown if any is unknown; else true.
        unknown = False
        for part in parts_t:
            v = part(facts)
            if v is False:
                return False
            if v is None:
                unknown = True
        return None if unknown else True

    return all_of


def _keys(terms, vocabulary) -> tuple[frozenset, tuple[str, ...]]:
    """The vocabulary keys of a list test's terms, and one term per key (the last written, as
    logic._list_result's `{facts.key(t): t for t in terms}` keeps)."""
    by_key = {vocabulary.term_key(t): t for t in terms}
    return frozenset(by_key), tuple(by_key.values())


def _compile_clause(key: str, value, vocabulary) -> Truth:  # noqa: C901 - one branch per `when` key
    if key == "any":
        subs = tuple(compile_when(w, vocabulary) for w in value)

        def any_of(facts: Facts):
            # logic._any: true if any part is true; else unknown if any is unknown; else false.
            unknown = False
            for sub in subs:
                v = sub(facts)
                if v is True:
                    return True
                if v is None:
                    unknown = True
            return None if unknown else False

        return any_of
    if key == "not":
        sub = compile_when(value, vocabulary)

        def not_(facts: Facts):
            v = sub(facts)
            return None if v is None else not v

        return not_
    if key == "age_at_least":
        return lambda facts: facts.patient.age >= value
    if key == "age_below":
        return lambda facts: facts.patient.age < value
    if key == "sex":
        return lambda facts: facts.patient.sex == value
    if key == "weight_kg_at_least":
        return lambda facts: facts.patient.weight_kg >= value
    if key == "weight_kg_below":
        return lambda facts: not facts.patient.weight_kg >= value
    if key == "bmi_at_least":
        return lambda facts: facts.patient.bmi >= value
    if key == "bmi_below":
        return lambda facts: not facts.patient.bmi >= value
    if key in ("condition", "active_condition"):
        keys, _ = _keys(value, vocabulary)
        active_only = key == "active_condition"

        def conditions(facts: Facts):
            items = facts.conditions
            if items is None:
                return None
            unsure = False
            for c in items:
                if active_only and c.condition.status != "active":
                    continue
                m = c.match
                if c.suspect or not m.name_terms:
                    # Known by its code only (or not at all): the code can make the test true, never false.
                    if m.code_terms and not keys.isdisjoint(m.code_terms):
                        return True
                    unsure = True
                elif not keys.isdisjoint(m.terms):
                    return True
            return None if unsure else False

        return conditions
    if key == "medication":
        keys, representatives = _keys(value, vocabulary)
        from ketaplan.engine.logic import may_cover

        def medications(facts: Facts):
            items = facts.medications
            if items is None:
                return None
            unsure = False
            for m in items:
                if m.suspect or m.match is None:
                    unsure = True
                elif not keys.isdisjoint(m.match.terms):
                    return True
                elif m.others and not unsure:
                    vocab = facts.vocabulary
                    if any(may_cover(vocab, t, o) for t in representatives for o in m.others):
                        unsure = True
            return None if unsure else False

        return medications
    if key == "allergy":
        keys, _ = _keys(value, vocabulary)

        def allergies(facts: Facts):
            items = facts.allergies
            if items is None:
                return None
            unsure = False
            for a in items:
                if a.suspect or a.match is None:
                    unsure = True
                elif not keys.isdisjoint(a.match.terms):
                    return True
            return None if unsure else False

        return allergies
    if key == "blood_pressure_at_least":
        ls, ld = value

        def blood_pressure(facts: Facts):
            bp = facts.patient.blood_pressure
            if bp is None:
                return None
            return bp[0] >= ls or bp[1] >= ld

        return blood_pressure
    if key in ("pregnant", "breastfeeding"):
        field = key
        if value == "unknown":
            return lambda facts: getattr(facts.patient, field) is None

        def state(facts: Facts):
            s = getattr(facts.patient, field)
            return None if s is None else s == value

        return state
    if key == "missing":
        from ketaplan.engine.logic import _is_missing

        names = tuple(value)
        return lambda facts: any(_is_missing(name, facts) for name in names)
    # Every other key (vitals, scores, infusions, the course): the evaluator's own value.
    from ketaplan.engine.logic import _clause

    return lambda facts: _clause(key, value, facts).value


class Compiled:
    """One protocol's per-run work: its rules' truth closures and the age bounds they test."""

    __slots__ = ("protocol", "truths", "age_bounds", "runs")

    def __init__(self, protocol: Protocol) -> None:
        from ketaplan.engine.findings import _age_clauses

        vocabulary = protocol.vocabulary
        self.protocol = protocol  # held, so that the id the cache is keyed by stays this protocol's
        self.truths: tuple[Truth, ...] = tuple(compile_when(r.when, vocabulary) for r in protocol.rules)
        # (rule index, the age tests of its `when`), for AGE-CHANGES-DURING-PLAN
        self.age_bounds = tuple((i, _age_clauses(r.when)) for i, r in enumerate(protocol.rules))
        self.runs: dict = {}  # per-run memos (session dates by start date and last infusion, ...)


_COMPILED: dict[int, Compiled] = {}


def compiled(protocol: Protocol) -> Compiled:
    """The protocol's compiled rules, built on first use and kept for the run (a few protocols at most)."""
    found = _COMPILED.get(id(protocol))
    if found is not None and found.protocol is protocol:
        return found
    if len(_COMPILED) >= 32:
        _COMPILED.clear()
    found = _COMPILED[id(protocol)] = Compiled(protocol)
    return found
