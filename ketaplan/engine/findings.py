"""The findings ketaplan adds itself (spec/protocol.md "Findings ketaplan adds itself"): their words live here."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from functools import lru_cache

from ketaplan.engine.facts import Facts, NamedCondition, _term_key
from ketaplan.engine.logic import may_cover
from ketaplan.model.patient import whole_years
from ketaplan.model.plan import BUILTIN_IDS

#: Built-in findings follow the protocol's own, in the order of the spec's table.
ORDER = BUILTIN_IDS
RANK = {rule_id: n for n, rule_id in enumerate(ORDER)}


def patient_findings(draft, facts: Facts, protocol, lists_added: tuple) -> None:
    """`lists_added`: the findings about the patient's allergies, medications and conditions
    (`list_findings`, as engine/truth.py's Compiled.values remembers them per distinct list), given
    to the draft as they were added."""
    builtin = draft.builtin
    for added in lists_added:
        if added:
            builtin.update(added)
    if not facts.patient.infusions:
        return
    prior = [i for i in facts.patient.infusions if i.protocol == protocol.id]
    if prior:
        draft.add(
            "PRIOR-INFUSIONS-SAME-PROTOCOL",
            "review",
            f"The patient has had infusions under {protocol.id}: this plan restarts the series.",
            [f"{len(prior)} infusion{'s' if len(prior) != 1 else ''} under {protocol.id}, the last on {prior[-1].date.isoformat()}"],
        )


class _Added:
    """What the finding functions add (as engine/plan.py's draft keeps it), to be given to each draft
    they are remembered for (the same list, the same sessions)."""

    __slots__ = ("builtin",)

    def __init__(self) -> None:
        self.builtin: dict[str, tuple] = {}

    def add(self, rule_id: str, effect: str, message: str, evidence, *, unknown: bool = False, source=None) -> None:
        self.builtin[rule_id] = (effect, message, evidence, unknown, source)


def _allergy_findings(draft, facts: Facts, protocol) -> None:
    _allergy_to_drug(draft, facts, protocol)
    _unrecognised(draft, "UNRECOGNISED-ALLERGY", "allergy", facts.allergies, lambda a: a.match is not None)


def _medication_findings(draft, facts: Facts, protocol) -> None:
    _already_taking(draft, facts, protocol)
    _unrecognised(draft, "UNRECOGNISED-MEDICATION", "medication", facts.medications, lambda m: m.match is not None)
    several = [m for m in facts.medications or () if m.match is not None and not m.suspect and m.others]
    if several:
        draft.add(
            "SEVERAL-MEDICINES-IN-ONE-ENTRY",
            "review",
            "A medication entry names more than one medicine: give one medicine per entry "
            "(rules on the names after the first could not be checked).",
            [f"{m.describe()} names {m.names()}" for m in several],
        )


def _condition_findings(draft, facts: Facts, protocol) -> None:
    # A condition's name must be recognised itself: a known code never hides an unknown name.
    _unrecognised(draft, "UNRECOGNISED-CONDITION", "condition", facts.conditions, lambda c: bool(c.match.name_terms))
    mismatched = [c for c in facts.conditions or () if not c.suspect and c.match.code_mismatch]
    if mismatched:
        draft.add(
            "CONDITION-CODE-MISMATCH",
            "review",
            "A condition's name and its ICD-10 code point to different groups: confirm which is right "
            "(rules were checked against both).",
            [
                f"{c.describe()}: the name is in {', '.join(sorted(c.match.name_terms))}; "
                f"the code is in {', '.join(sorted(c.match.code_terms))}"
                for c in mismatched
            ],
        )
    _indication(draft, facts, protocol)


def list_findings(kind: int, facts: Facts, protocol) -> dict[str, tuple]:
    """What the findings about one of the patient's lists (engine/truth.py's kinds: 0 conditions,
    1 medications, 2 allergies) add, as engine/plan.py's draft keeps them: a function of the protocol
    (its drug and indications), the vocabulary and that list alone."""
    added = _Added()
    (_condition_findings, _medication_findings, _allergy_findings)[kind](added, facts, protocol)
    return added.builtin


#: The chemical classes a protocol drug may belong to (clinical-facts.md sections 1 and 3: ketamine,
#: esketamine and arketamine are one molecule's racemate and enantiomers). Only these carry an allergy
#: or a current prescription over to the protocol drug: a broad therapeutic class (antidepressant,
#: NMDA antagonist) says nothing about an allergy to ketamine.
CHEMICAL_CLASSES = ("ketamine class",)


def _protocol_drug(facts: Facts, protocol) -> tuple[str, frozenset[str]]:
    """The protocol drug's vocabulary key, and the keys of its own chemical classes."""
    return _drug_keys(facts.vocabulary, protocol.drug.name)


@lru_cache(maxsize=64)
def _drug_keys(vocab, name: str) -> tuple[str, frozenset[str]]:
    # The same for every patient of a run: worked out once.
    drug = vocab.term_key(name)
    match = vocab.match_medication(name)
    above = match.terms if match is not None else frozenset()
    return drug, frozenset(vocab.term_key(c) for c in CHEMICAL_CLASSES) & (above | {drug})


def _same_drug(facts: Facts, protocol, name: str, terms: frozenset[str]) -> str | None:
    """How an entry the vocabulary matched as `name` (in `terms`) is the protocol drug or of its
    chemical class, in words; None when it is neither."""
    return _same_drug_words(facts.vocabulary, protocol.drug.name, name, terms)


@lru_cache(maxsize=4096)
def _same_drug_words(vocab, drug_name: str, name: str, terms: frozenset[str]) -> str | None:
    # A function of the vocabulary, the protocol drug and the matched entry alone: a batch asks it
    # about the same few medicines and allergies thousands of times, so each is worked out once.
    drug, chemical = _drug_keys(vocab, drug_name)
    key = _term_key(vocab, name)
    if key == drug or key in chemical:
        return f"{name}, which covers {drug_name}"
    if drug in terms:
        return f"{name}, which contains {drug_name}"
    shared = chemical & terms
    if shared:
        return f"{name}, in {', '.join(sorted(shared))} with {drug_name}"
    return None


def _allergy_to_drug(draft, facts: Facts, protocol) -> None:
    message = f"Allergy to {protocol.drug.name} or its class."
    if facts.allergies is None:
        draft.add("ALLERGY-TO-PROTOCOL-DRUG", "review", message, ["could not be checked: allergies are not recorded"], unknown=True)
        return
    # The drug and its own chemical class only: an allergy to esketamine excludes ketamine; one to
    # memantine (another NMDA antagonist) or to sertraline (esketamine is also an antidepressant) does not.
    hits = []
    for a in facts.allergies:
        if a.match is None or a.suspect:
            continue
        how = _same_drug(facts, protocol, a.match.name, a.match.terms)
        if how is not None:
            hits.append(f"{a.describe()} is {how}")
    if hits:
        draft.add("ALLERGY-TO-PROTOCOL-DRUG", "exclude", message, hits)
        return
    unknown = [a for a in facts.allergies if a.match is None or a.suspect]
    if unknown:
        draft.add(
            "ALLERGY-TO-PROTOCOL-DRUG",
            "review",
            message,
            [f"could not be checked: {a.describe()} is not recognised" for a in unknown],
            unknown=True,
        )


def _already_taking(draft, facts: Facts, protocol) -> None:
    """A patient already on the protocol drug (Spravato, for a ketamine protocol) needs a person to look."""
    message = f"The patient already takes {protocol.drug.name} or a drug of its chemical class."
    if facts.medications is None:
        draft.add(
            "ALREADY-TAKING-PROTOCOL-DRUG", "review", message, ["could not be checked: medications are not recorded"], unknown=True
        )
        return
    hits, unknown = [], []
    for m in facts.medications:
        if m.match is None or m.suspect:
            unknown.append(f"could not be checked: {m.describe()} is not recognised")
            continue
        how = _same_drug(facts, protocol, m.match.drug, m.match.terms)
        if how is not None:
            hits.append(f"{m.describe()} is {how}")
        elif m.others and any(may_cover(facts.vocabulary, t, o) for t in _own(facts, protocol) for o in m.others):
            unknown.append(f"could not be checked: {m.describe()} names more than one medicine ({m.names()})")
    if hits:
        draft.add("ALREADY-TAKING-PROTOCOL-DRUG", "review", message, hits)
    elif unknown:
        draft.add("ALREADY-TAKING-PROTOCOL-DRUG", "review", message, unknown, unknown=True)


def _own(facts: Facts, protocol) -> list[str]:
    _, chemical = _protocol_drug(facts, protocol)
    return [protocol.drug.name, *(facts.vocabulary.canonical(c) for c in chemical)]


def _unrecognised(draft, rule_id: str, what: str, items, recognised) -> None:
    if not items:
        return
    bad = [i for i in items if i.suspect or not recognised(i)]
    if not bad:
        return
    draft.add(
        rule_id,
        "review",
        f"The vocabulary does not recognise this {what}: every rule that asks about {what}s could not be checked.",
        [
            f"{i.describe()} contains an invisible character (zero-width or direction mark) and is not matched"
            if i.hidden
            else f"{i.describe()} mixes letters from different scripts (a look-alike character?) and is not matched"
            if i.mixed_script
            else f"{i.describe()}: the name is not recognised; only its ICD-10 code is "
            f"(in {', '.join(sorted(i.match.code_terms))}), and rules were checked against the code"
            if getattr(i.match, "code_terms", None)
            else f"{i.describe()} is not recognised"
            for i in bad
        ],
    )


def _indication(draft, facts: Facts, protocol) -> None:
    if not protocol.indications:
        return
    wanted = ", ".join(protocol.indications)
    message = f"None of the protocol's indications ({wanted}) is recorded as an active condition."
    conditions = facts.conditions
    if conditions is None:
        draft.add("INDICATION-NOT-RECORDED", "review", message, ["could not be checked: conditions are not recorded"], unknown=True)
        return
    keys = _indication_keys(facts.vocabulary, tuple(protocol.indications))
    for c in conditions:
        m = c.match
        # (keys & m.terms, m.terms being name_terms | code_terms)
        if c.condition.status == "active" and not c.suspect and m.recognised and not (
            keys.isdisjoint(m.name_terms) and keys.isdisjoint(m.code_terms)
        ):
            return
    draft.add("INDICATION-NOT-RECORDED", "review", message, lambda: [f"active conditions recorded: {_names(conditions)}"])


@lru_cache(maxsize=64)
def _indication_keys(vocabulary, indications: tuple[str, ...]) -> frozenset:
    # The same for every patient of a run: worked out once (the keys facts.key gives).
    from ketaplan.engine.facts import _term_key

    return frozenset(_term_key(vocabulary, t) for t in indications)


def _names(conditions: tuple[NamedCondition, ...]) -> str:
    names = [repr(c.condition.name) for c in conditions if c.condition.status == "active"]
    return ", ".join(names) if names else "none"


def session_findings(protocol, weighed_on: date | None, sessions, given_dates=()) -> dict[str, tuple]:
    """What the findings about the sessions' dates add (as `list_findings`): a function of the protocol,
    the weighing date and the sessions alone (AGE-CHANGES-DURING-PLAN is `age_changes`). `given_dates`:
    (phase name, date) of the sessions already given in a continued series, so that `within_days`
    counts from the series' first session. `sessions`: anything with the number, phase and date of
    each session."""
    draft = _Added()
    if not sessions:
        return draft.builtin
    first, last = sessions[0], sessions[-1]
    valid = protocol.dose.weight_valid_days
    if valid is not None:
        if weighed_on is None:
            draft.add(
                "WEIGHT-OUT-OF-DATE",
                "review",
                f"The protocol accepts a weight up to {valid} days old; this one has no date.",
                ["weighed_on is missing"],
            )
        elif (first.date - weighed_on).days > valid:
            age = (first.date - weighed_on).days
            draft.add(
                "WEIGHT-OUT-OF-DATE",
                "review",
                f"The weight is older than the {valid} days the protocol accepts at session {first.number}.",
                [f"weighed on {weighed_on.isoformat()}, {age} days before session {first.number} on {first.date.isoformat()}"],
            )
    for phase in protocol.schedule.phases:
        if phase.within_days is None:
            continue
        in_phase = [d for name, d in given_dates if name == phase.name] if given_dates else []
        in_phase += [s.date for s in sessions if s.phase == phase.name]
        if not in_phase:
            continue
        span = (in_phase[-1] - in_phase[0]).days
        if span > phase.within_days:
            draft.add(
                "SCHEDULE-OVERRUN",
                "review",
                f"Phase {phase.name!r} does not fit within {phase.within_days} days.",
                [f"{phase.name}: {in_phase[0].isoformat()} to {in_phase[-1].isoformat()} is {span} days"],
            )
    due = protocol.review_due
    if due is not None and last.date > due:
        after = [s for s in sessions if s.date > due]
        draft.add(
            "PROTOCOL-REVIEW-OVERDUE",
            "review",
            f"The protocol was due for review on {due.isoformat()}; sessions fall after that date.",
            [f"{len(after)} session{'s' if len(after) != 1 else ''} after {due.isoformat()}, from session {after[0].number} on {after[0].date.isoformat()}"],
        )
    return draft.builtin


def _age_clauses(when) -> set[tuple[str, int]]:
    """The age tests of a `when`, nested ones too: ("age_at_least", 65)."""
    out: set[tuple[str, int]] = set()
    if when is None:
        return out
    for clause in when.clauses:
        if clause.key in ("age_at_least", "age_below"):
            out.add((clause.key, clause.value))
        elif clause.key == "any":
            for w in clause.value:
                out |= _age_clauses(w)
        elif clause.key == "not":
            out |= _age_clauses(clause.value)
    return out


def age_changes(draft, facts: Facts, protocol, last: date, work, lists) -> None:
    """Rules were decided on the age at the start date; a bound crossed before the last session matters
    when crossing it changes what that rule says for this patient (a female-only rule at 56 says nothing
    of a man turning 56). `work`, `lists`: the protocol's compiled rules and the patient's Lists
    (engine/truth.py)."""
    p = facts.patient
    start = facts.start
    # Most patients cross no bound of any rule: one bisection of the protocol's bounds says so.
    ages = work.ages
    crosses = bisect_right(ages, p.age)
    if crosses == len(ages):  # (no bound above the age: the age at the last session is not needed)
        return
    if p.date_of_birth is not None:
        oldest = whole_years(p.date_of_birth, last)
    else:
        # Only the age on the start date is known: the next birthday may fall at any time in the plan.
        oldest = p.age + 1 + (last - start).days // 366
    if ages[crosses] > oldest:
        return

    def at_age(age: int):
        return facts._replace(patient=p._replace(age=age))

    crossed: list[tuple[int, int, str, str]] = []  # (bound, rule index, rule id, the test as written)
    for index, tests in work.age_bounds:
        for key, bound in tests:
            if not p.age < bound <= oldest:
                continue
            # The truth value only (engine/truth.py computes logic.evaluate's value).
            truth = work.truths[index]
            if truth(at_age(bound - 1), lists) == truth(at_age(bound), lists):
                continue  # turning `bound` changes nothing this rule says of this patient
            crossed.append((bound, index, protocol.rules[index].id, f"{key} = {bound}"))
    if not crossed:
        return
    crossed.sort()
    evidence = []
    for bound, _, rule_id, test in crossed:
        if p.date_of_birth is not None:
            birthday = _birthday(p.date_of_birth, bound)
            evidence.append(f"{rule_id} ({test}): turns {bound} on {birthday.isoformat()}, before the last session on {last.isoformat()}")
        else:
            evidence.append(
                f"could not be checked: {rule_id} ({test}): date_of_birth is missing; aged {p.age} on "
                f"{start.isoformat()}, the patient may turn {bound} before the last session on {last.isoformat()}"
            )
    draft.add(
        "AGE-CHANGES-DURING-PLAN",
        "review",
        "An age bound of a rule is crossed during the plan; rules were checked at the age on the start date.",
        evidence,
        unknown=p.date_of_birth is None,
    )


def _birthday(born: date, years: int) -> date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February: reached on 1 March in other years
        return date(born.year + years, 3, 1)
