"""A protocol's rules compiled once into truth-only closures: true, false or unknown (None), no evidence.

`decide()` (engine/plan.py) asks these for every rule of every patient; the evidence words are built
by `logic.evaluate` only for the rules that fire or are unknown. Each closure computes the same value
as `logic.evaluate(when, facts).value`, key by key (tests/test_decide.py proves it over random
protocols and patients); a key without a closure here falls back to `logic._clause(...).value`, the
evaluator itself. Compiling is per protocol and per run: the vocabulary keys of the protocol's terms
are worked out here once, not for every patient and rule.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from ketaplan.engine.facts import Facts
from ketaplan.engine.findings import _age_clauses, entry_notes, list_findings
from ketaplan.model.protocol import Protocol, When

Truth = Callable[[Facts, "Lists"], "bool | None"]

_EMPTY: frozenset = frozenset()


class Lists:
    """One patient's list entries as the list tests read them, gathered once per patient rather than
    once per rule: the vocabulary terms the recognised entries are in, and whether any entry is not
    recognised (which makes a test that finds nothing unknown rather than false)."""

    __slots__ = ("conditions", "conditions_unsure", "active", "active_unsure", "medications", "medications_unsure",
                 "several", "allergies", "allergies_unsure")  # fmt: skip

    def __init__(self, facts: Facts, parts: tuple | None = None) -> None:
        # `parts`: each list's part (`_list_part`), as `Compiled.values` remembers them for the run.
        conditions, medications, allergies = parts or (
            _list_part(_CONDITIONS, facts.conditions),
            _list_part(_MEDICATIONS, facts.medications),
            _list_part(_ALLERGIES, facts.allergies),
        )
        self.conditions, self.conditions_unsure, self.active, self.active_unsure = conditions
        self.medications, self.medications_unsure, self.several = medications
        self.allergies, self.allergies_unsure = allergies


_CONDITIONS, _MEDICATIONS, _ALLERGIES = 0, 1, 2  # the lists' kinds, as Compiled.values numbers them


def _list_part(kind: int, entries: tuple | None, read: list | None = None) -> tuple:
    """What the list tests read of one list of gathered entries (a Lists' attributes for that list).
    `read`: for each entry, its `_entry_part` or a record that begins with it (Compiled._entry's),
    where it is already worked out."""
    if entries is None:
        return (_EMPTY, False, _EMPTY, False) if kind == _CONDITIONS else (_EMPTY, False, ()) if kind == _MEDICATIONS else (_EMPTY, False)
    if read is None:
        read = [_entry_part(kind, e) for e in entries]
    found: set = set()
    unsure = False
    if kind == _CONDITIONS:
        # (the terms of the conditions, unsure, the terms of the active ones, unsure)
        active: set = set()
        active_unsure = False
        for r in read:
            terms, on = r[0], r[2]
            found |= terms
            if on:
                active |= terms
            if r[1]:
                unsure = True
                active_unsure = active_unsure or on
        return frozenset(found), unsure, frozenset(active), active_unsure
    several = []
    for entry, r in zip(entries, read):
        found |= r[0]
        if r[1]:
            unsure = True
        elif r[2]:
            several.append(entry)
    if kind == _MEDICATIONS:
        # (the terms of the medications, unsure, the recognised entries naming a second medicine)
        return frozenset(found), unsure, tuple(several)
    return frozenset(found), unsure  # (the terms of the allergies, unsure)


def _entry_part(kind: int, entry) -> tuple[frozenset, bool, bool]:
    """What the list tests read of one entry: (its terms, unsure: it is not recognised, which makes a
    test that finds nothing unknown rather than false, and of a condition: its status is active; of
    a medication: recognised, it names a second medicine; of an allergy: False)."""
    if kind == _CONDITIONS:
        m = entry.match
        on = entry.condition.status == "active"
        if entry.suspect or not m.name_terms:
            # A name the vocabulary does not know is never dropped because its code is known:
            # the code can make a test true, never false (logic._conditions).
            return m.code_terms, True, on
        return m.name_terms | m.code_terms, False, on  # (m.terms)
    if entry.suspect or entry.match is None:
        return _EMPTY, True, False
    return entry.match.terms, False, kind == _MEDICATIONS and bool(entry.others)


def _always(facts: Facts, lists: Lists) -> bool:
    return True


def compile_when(when: When | None, vocabulary) -> Truth:
    """The truth value of a `when` (logic.evaluate(...).value), as one closure of (facts, lists)."""
    if when is None:
        return _always
    parts = [_compile_clause(c.key, c.value, vocabulary) for c in when.clauses]
    if len(parts) == 1:
        return parts[0]
    parts_t = tuple(parts)

    def all_of(facts: Facts, lists: Lists):
        # logic._all: false if any part is false; else unknown if any is unknown; else true.
        unknown = False
        for part in parts_t:
            v = part(facts, lists)
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

        def any_of(facts: Facts, lists: Lists):
            # logic._any: true if any part is true; else unknown if any is unknown; else false.
            unknown = False
            for sub in subs:
                v = sub(facts, lists)
                if v is True:
                    return True
                if v is None:
                    unknown = True
            return None if unknown else False

        return any_of
    if key == "not":
        sub = compile_when(value, vocabulary)

        def not_(facts: Facts, lists: Lists):
            v = sub(facts, lists)
            return None if v is None else not v

        return not_
    if key == "age_at_least":
        return lambda facts, lists: facts.patient.age >= value
    if key == "age_below":
        return lambda facts, lists: facts.patient.age < value
    if key == "sex":
        return lambda facts, lists: facts.patient.sex == value
    if key == "weight_kg_at_least":
        return lambda facts, lists: facts.patient.weight_kg >= value
    if key == "weight_kg_below":
        return lambda facts, lists: not facts.patient.weight_kg >= value
    if key in ("bmi_at_least", "bmi_below"):
        # BMI = weight / (height / 100)^2 at least value = vn / vd, in integers: 10000 wn hd^2 vd >=
        # vn wd hn^2 (the height above 0, as the loader requires). Patient.bmi's three Fraction
        # operations and its comparison cost ~2.7 us a patient. (Fraction(value): exact, as the
        # loader's value already is.)
        exact = Fraction(value)
        vn, vd, at_least = exact.numerator, exact.denominator, key == "bmi_at_least"

        def bmi(facts: Facts, lists: Lists):
            p = facts.patient
            w, h = p.weight_kg, p.height_cm
            hn, hd = h.numerator, h.denominator
            return (10000 * w.numerator * hd * hd * vd >= vn * w.denominator * hn * hn) == at_least

        return bmi
    if key == "condition":
        keys, _ = _keys(value, vocabulary)

        def conditions(facts: Facts, lists: Lists):
            # True if a recognised entry is in a term; else unknown if an entry is not recognised.
            if facts.conditions is None:
                return None
            if not keys.isdisjoint(lists.conditions):
                return True
            return None if lists.conditions_unsure else False

        return conditions
    if key == "active_condition":
        keys, _ = _keys(value, vocabulary)

        def active_conditions(facts: Facts, lists: Lists):
            if facts.conditions is None:
                return None
            if not keys.isdisjoint(lists.active):
                return True
            return None if lists.active_unsure else False

        return active_conditions
    if key == "medication":
        keys, representatives = _keys(value, vocabulary)
        from ketaplan.engine.logic import may_cover

        def medications(facts: Facts, lists: Lists):
            if facts.medications is None:
                return None
            if not keys.isdisjoint(lists.medications):
                return True
            if lists.medications_unsure:
                return None
            # "sertraline plus benzodiazepine": unknown for a rule on anything the other names may cover.
            vocab = facts.vocabulary
            for m in lists.several:
                if any(may_cover(vocab, t, o) for t in representatives for o in m.others):
                    return None
            return False

        return medications
    if key == "allergy":
        keys, _ = _keys(value, vocabulary)

        def allergies(facts: Facts, lists: Lists):
            if facts.allergies is None:
                return None
            if not keys.isdisjoint(lists.allergies):
                return True
            return None if lists.allergies_unsure else False

        return allergies
    if key == "blood_pressure_at_least":
        ls, ld = value

        def blood_pressure(facts: Facts, lists: Lists):
            bp = facts.patient.blood_pressure
            if bp is None:
                return None
            return bp[0] >= ls or bp[1] >= ld

        return blood_pressure
    if key in ("pregnant", "breastfeeding"):
        field = key
        if value == "unknown":
            return lambda facts, lists: getattr(facts.patient, field) is None

        def state(facts: Facts, lists: Lists):
            s = getattr(facts.patient, field)
            return None if s is None else s == value

        return state
    if key == "missing":
        from ketaplan.engine.logic import _is_missing

        names = tuple(value)
        if not any(n == "scores" or n == "infusions" or n.startswith("scores.") for n in names):
            # Top-level keys only: _is_missing's `name not in p.present` for each, as one subset test.
            keys = frozenset(names)
            return lambda facts, lists: not keys <= facts.patient.present
        return lambda facts, lists: any(_is_missing(name, facts) for name in names)
    from ketaplan.engine.logic import _clause

    if key in _SERIES_KEYS:
        # Most patients have no current series under the protocol: where it is empty, the value
        # course_rules.course_clause gives then, worked out here as it does; otherwise its own.
        if key == "series_sessions_at_least":
            empty = 0 >= value  # its n >= value, n = 0
        elif key == "stopped_early":
            stopped: list = []  # no session of an empty series stopped early
            empty = bool(stopped) == value
        else:
            empty = False  # "no sessions in the current series"

        def series_test(facts: Facts, lists: Lists):
            cf = facts.course
            if cf is None or not cf.series:
                return empty
            return _clause(key, value, facts).value

        return series_test
    # Every other key (vitals, scores, infusions, the response to the course): the evaluator's own value.

    return lambda facts, lists: _clause(key, value, facts).value


class Compiled:
    """One protocol's per-run work: its rules' truth closures and the age bounds they test."""

    __slots__ = ("protocol", "truths", "effects", "others", "groups", "age_bounds", "ages", "uses_course", "runs",
                 "weighed", "by_list", "by_entry", "decided")  # fmt: skip

    def __init__(self, protocol: Protocol) -> None:
        vocabulary = protocol.vocabulary
        self.protocol = protocol  # held, so that the id the cache is keyed by stays this protocol's
        self.truths: tuple[Truth, ...] = tuple(compile_when(r.when, vocabulary) for r in protocol.rules)
        self.effects = tuple(_effects(r) for r in protocol.rules)
        # The rules whose whole `when` is one list test, by list: each is true exactly when one of
        # its terms' keys is among the patient's entries' terms (Lists), so that a list's terms find
        # the rules they make true through an index, and the other rules of that list are false, or
        # unknown when an entry is not recognised. `values()` asks the closures of the rest.
        groups: dict[str, tuple[dict, list]] = {}
        others = []
        for i, r in enumerate(protocol.rules):
            clause = r.when.clauses[0] if r.when is not None and len(r.when.clauses) == 1 else None
            if clause is None or clause.key not in _LIST_KEYS:
                others.append(i)
                continue
            index, members = groups.setdefault(clause.key, ({}, []))
            members.append(i)
            for key in _keys(clause.value, vocabulary)[0]:
                index.setdefault(key, []).append(i)
        # A rule's value is kept as its bit (1 << its index) in one of two integers, the true rules
        # and the unknown ones: a patient's values are a few integer operations, and a key by value.
        self.others = tuple((1 << i, self.truths[i]) for i in others)
        # Per list kind (_CONDITIONS, ...): (key, {term key: the bits of the rules it makes true},
        # the index's keys, the group's rules, their bits) of each of its groups.
        self.groups = tuple(
            tuple(
                (key, {k: _bits(v) for k, v in index.items()}, frozenset(index), tuple(members), _bits(members))
                for key, (index, members) in groups.items()
                if _KIND[key] == kind
            )
            for kind in (_CONDITIONS, _MEDICATIONS, _ALLERGIES)
        )
        # (rule index, the age tests of its `when`) of the rules with any, for AGE-CHANGES-DURING-PLAN
        self.age_bounds = tuple((i, ages) for i, r in enumerate(protocol.rules) if (ages := _age_clauses(r.when)))
        self.ages = tuple(sorted({bound for _, ages in self.age_bounds for _, bound in ages}))  # every bound, ascending
        from ketaplan.engine.plan import uses_course

        self.uses_course = uses_course(protocol)  # a titrate rule, or a rule asking about the course
        self.runs: dict = {}  # per-run memos (session dates by start date and last infusion, ...)
        self.weighed: dict = {}  # per-run memo of engine/plan.py `_weighed`, by the dosing weight and cap
        self.by_list: tuple[dict[int, tuple], ...] = ({}, {}, {})  # per kind: `_list`'s records, by id(entries)
        self.by_entry: tuple[dict[int, tuple], ...] = ({}, {}, {})  # per kind: `_entry`'s records, by id(entry)
        self.decided: dict = {}  # per-run memo of engine/plan.py `_rules`, by the rules' values

    def values(self, facts: Facts) -> tuple[Lists, int, int, tuple]:
        """(the patient's Lists, the rules that are true, the rules that are unknown (None), the built-in
        findings of the patient's allergies, medications and conditions, one dict each). The rules as
        bits (1 << rule index); every other rule is false. Each value is the rule's closure's
        (tests/test_decide.py holds them to the full evaluation)."""
        conditions = self._list(_CONDITIONS, facts.conditions, facts)
        medications = self._list(_MEDICATIONS, facts.medications, facts)
        allergies = self._list(_ALLERGIES, facts.allergies, facts)
        lists = Lists(facts, (conditions[1], medications[1], allergies[1]))
        true = conditions[2] | medications[2] | allergies[2]
        unknown = conditions[3] | medications[3] | allergies[3]
        for bit, truth in self.others:
            value = truth(facts, lists)
            if value is None:
                unknown |= bit
            elif value is not False:
                true |= bit
        return lists, true, unknown, (allergies[4], medications[4], conditions[4])

    def _list(self, kind: int, entries: tuple | None, facts: Facts) -> tuple:
        """(entries, their part of a Lists, the rules of the list's groups that are true, those that are
        unknown, the list's built-in findings) of one list of gathered entries (None: not recorded).
        Each is a function of the list alone under this protocol: a batch gives the same entries (the
        same tuple: engine/facts.py `_entries`) again and again, so the record is worked out once per
        run and remembered by the tuple's id, the tuple kept so that its id is not reused meanwhile.
        (One memo per kind: one tuple, the empty one, can be any list.) A new list is mostly made of
        entries met before: each entry's share is its record (`_entry`), which the list's combines."""
        memo = self.by_list[kind]
        found = memo.get(id(entries))
        if found is not None and found[0] is entries:
            return found
        if entries is None:  # not recorded: every test on the list is unknown
            unknown = 0
            for _, _, _, _, bits in self.groups[kind]:
                unknown |= bits
            part = _list_part(kind, None)
            true, added = 0, list_findings(kind, None, [], self.protocol)
        else:
            known = self.by_entry[kind]
            records = []
            true = unknown = 0
            for entry in entries:
                record = known.get(id(entry))
                if record is None or record[5] is not entry:
                    record = self._entry(kind, entry, facts)
                records.append(record)
                true |= record[3]
                unknown |= record[4]
            unknown &= ~true  # (a rule another entry makes true is true)
            part = _list_part(kind, entries, records)
            if kind == _MEDICATIONS and part[2] and not part[1]:
                # An entry naming a second medicine: the closure says for which rules that is unknown.
                lists = Lists(facts)
                for _, _, _, members, _ in self.groups[kind]:
                    for i in members:
                        if not true >> i & 1 and self.truths[i](facts, lists) is None:
                            unknown |= 1 << i
            added = list_findings(kind, entries, [r[6] for r in records], self.protocol)
        if len(memo) >= 10_000:
            memo.clear()
        found = memo[id(entries)] = (entries, part, true, unknown, added)
        return found

    def _entry(self, kind: int, entry, facts: Facts) -> tuple:
        """(its `_entry_part`'s three values, the rules of the list's groups that its terms make true,
        those that its being unsure makes unknown unless another entry makes them true, the entry, its
        `findings.entry_notes`): what one entry gives its list, remembered for the run by the entry's
        id (engine/facts.py gives one record per distinct entry), the entry kept so that its id is not
        reused meanwhile. (The part first: `_list_part` reads the records as the parts.)"""
        terms, unsure, on = _entry_part(kind, entry)
        true = unknown = 0
        for key, index, keys, _, bits in self.groups[kind]:
            if key == "active_condition" and not on:
                continue
            for term in keys & terms:
                true |= index[term]
            if unsure:
                unknown |= bits
        memo = self.by_entry[kind]
        if len(memo) >= 10_000:
            memo.clear()
        found = memo[id(entry)] = (terms, unsure, on, true, unknown, entry, entry_notes(kind, entry, facts, self.protocol))
        return found


def _effects(rule) -> tuple:
    """For decide()'s rules that fire: (rule, what it fires as when true: (rule, its effect on the plan,
    unknown), the same when unknown (None: an unknown note says nothing), what else decide() does for
    it, if anything). (Made once per run: every plan the rule fires in shares them.)"""
    if_unknown = _IF_UNKNOWN.get(rule.effect, rule.effect)
    return (
        rule,
        (rule, rule.effect, False),
        None if if_unknown is None else (rule, if_unknown, True),
        rule.effect if rule.effect in _DECIDED else None,
    )


def _bits(indices) -> int:
    """The bits of the rules of these indices."""
    out = 0
    for i in indices:
        out |= 1 << i
    return out


_LIST_KEYS = ("condition", "active_condition", "medication", "allergy")
_KIND = {"condition": _CONDITIONS, "active_condition": _CONDITIONS, "medication": _MEDICATIONS, "allergy": _ALLERGIES}
#: The course keys whose value course_rules.course_clause fixes when the current series is empty.
_SERIES_KEYS = ("series_sessions_at_least", "stopped_early", "peak_blood_pressure_at_least", "adverse_event",
                "dissociation_at_least", "sedation_at_most")  # fmt: skip
#: A rule's effect on the plan when it could not be checked: an exclusion, an adjustment, a hold or a
#: titration needs review instead; an unknown note is dropped; the others stand as written.
_IF_UNKNOWN = {"exclude": "review", "adjust": "review", "hold": "review", "titrate": "review", "note": None}
#: The effects whose rules decide() does more with than list (engine/plan.py).
_DECIDED = ("exclude", "adjust", "check", "titrate")
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
