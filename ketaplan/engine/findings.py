"""The findings ketaplan adds itself (spec/protocol.md "Findings ketaplan adds itself"): their words live here."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from functools import lru_cache

from ketaplan.engine.facts import Facts, NamedAllergy, NamedCondition, NamedMedication, _term_key
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


def list_findings(kind: int, entries: tuple | None, notes: list, protocol) -> dict[str, tuple]:
    """What the findings about one of the patient's lists (engine/truth.py's kinds: 0 conditions,
    1 medications, 2 allergies) add, as engine/plan.py's draft keeps them: a function of the protocol
    (its drug and indications), the vocabulary and that list alone. `entries`: the list (None: not
    recorded); `notes`: `entry_notes` of each of its entries, in the list's order (engine/truth.py's
    Compiled works them out once per distinct entry in a run)."""
    added = _Added()
    (_condition_findings, _medication_findings, _allergy_findings)[kind](added, entries, notes, protocol)
    return added.builtin


def entry_notes(kind: int, entry, facts: Facts, protocol) -> tuple | None:
    """What one entry of a list gives the findings about its list (`list_findings`), in words: a
    function of the entry, the vocabulary and the protocol alone. Each finding gathers the words of
    the list's entries in the list's order."""
    return (_condition_notes, _medication_notes, _allergy_notes)[kind](entry, facts, protocol)


def _allergy_notes(a: NamedAllergy, facts: Facts, protocol) -> tuple | None:
    """(how the allergy is to the protocol drug or its class, why that could not be checked, the words
    of UNRECOGNISED-ALLERGY); None for an allergy that gives none of them."""
    if a.match is None or a.suspect:
        return None, f"could not be checked: {a.describe()} is not recognised", _unrecognised_words(a)
    # The drug and its own chemical class only: an allergy to esketamine excludes ketamine; one to
    # memantine (another NMDA antagonist) or to sertraline (esketamine is also an antidepressant) does not.
    how = _same_drug(facts, protocol, a.match.name, a.match.terms)
    return None if how is None else (f"{a.describe()} is {how}", None, None)


def _allergy_findings(draft, allergies: tuple | None, notes: list, protocol) -> None:
    """ALLERGY-TO-PROTOCOL-DRUG and UNRECOGNISED-ALLERGY."""
    if allergies is not None and not any(notes):
        return  # (most lists: no entry gives any words)
    message = f"Allergy to {protocol.drug.name} or its class."
    noted = _protocol_drug_finding(draft, "ALLERGY-TO-PROTOCOL-DRUG", "exclude", message, allergies, "allergies", notes)
    if noted is not None:
        _unrecognised(draft, "UNRECOGNISED-ALLERGY", "allergy", [n[2] for n in noted if n[2] is not None])


def _protocol_drug_finding(draft, rule_id: str, effect: str, message: str, entries, what: str, notes: list) -> list | None:
    """`rule_id` about the list's entries that are the protocol drug or of its class: `effect` with
    their words; else review, unknown, with why an entry could not be checked; review, unknown, when
    the list is not recorded (None is returned then). Returns the entries' notes that are not None."""
    if entries is None:
        draft.add(rule_id, "review", message, [f"could not be checked: {what} are not recorded"], unknown=True)
        return None
    noted = [n for n in notes if n is not None]
    hits = [n[0] for n in noted if n[0] is not None]
    unknown = [n[1] for n in noted if n[1] is not None]
    if hits:
        draft.add(rule_id, effect, message, hits)
    elif unknown:
        draft.add(rule_id, "review", message, unknown, unknown=True)
    return noted


def _medication_notes(m: NamedMedication, facts: Facts, protocol) -> tuple | None:
    """(how the entry is the protocol drug or of its chemical class, why that could not be checked, the
    words of UNRECOGNISED-MEDICATION, of SEVERAL-MEDICINES-IN-ONE-ENTRY); None for an entry that gives
    none of them."""
    if m.match is None or m.suspect:
        return None, f"could not be checked: {m.describe()} is not recognised", _unrecognised_words(m), None
    taking = unknown = several = None
    how = _same_drug(facts, protocol, m.match.drug, m.match.terms)
    if how is not None:
        taking = f"{m.describe()} is {how}"
    elif m.others and any(may_cover(facts.vocabulary, t, o) for t in _own(facts, protocol) for o in m.others):
        unknown = f"could not be checked: {m.describe()} names more than one medicine ({m.names()})"
    if m.others:
        several = f"{m.describe()} names {m.names()}"
    return None if taking is None and unknown is None and several is None else (taking, unknown, None, several)


def _medication_findings(draft, medications: tuple | None, notes: list, protocol) -> None:
    """ALREADY-TAKING-PROTOCOL-DRUG (a patient already on the protocol drug, Spravato for a ketamine
    protocol, needs a person to look), UNRECOGNISED-MEDICATION and SEVERAL-MEDICINES-IN-ONE-ENTRY."""
    if medications is not None and not any(notes):
        return  # (most lists: no entry gives any words)
    message = f"The patient already takes {protocol.drug.name} or a drug of its chemical class."
    noted = _protocol_drug_finding(draft, "ALREADY-TAKING-PROTOCOL-DRUG", "review", message, medications, "medications", notes)
    if noted is None:
        return
    _unrecognised(draft, "UNRECOGNISED-MEDICATION", "medication", [n[2] for n in noted if n[2] is not None])
    several = [n[3] for n in noted if n[3] is not None]
    if several:
        draft.add(
            "SEVERAL-MEDICINES-IN-ONE-ENTRY",
            "review",
            "A medication entry names more than one medicine: give one medicine per entry "
            "(rules on the names after the first could not be checked).",
            several,
        )


def _condition_notes(c: NamedCondition, facts: Facts, protocol) -> tuple[str | None, str | None, bool]:
    """(the words of UNRECOGNISED-CONDITION, of CONDITION-CODE-MISMATCH, whether the entry is an active
    condition in one of the protocol's indications)."""
    m = c.match
    # A condition's name must be recognised itself: a known code never hides an unknown name.
    unrecognised = _unrecognised_words(c) if c.suspect or not m.name_terms else None
    mismatch = None
    if not c.suspect and m.code_mismatch:
        mismatch = (
            f"{c.describe()}: the name is in {', '.join(sorted(m.name_terms))}; "
            f"the code is in {', '.join(sorted(m.code_terms))}"
        )
    indicated = False
    if protocol.indications and c.condition.status == "active" and not c.suspect and m.recognised:
        keys = _indication_keys(facts.vocabulary, tuple(protocol.indications))
        # (keys & m.terms, m.terms being name_terms | code_terms)
        indicated = not (keys.isdisjoint(m.name_terms) and keys.isdisjoint(m.code_terms))
    return unrecognised, mismatch, indicated


def _condition_findings(draft, conditions: tuple | None, notes: list, protocol) -> None:
    """UNRECOGNISED-CONDITION, CONDITION-CODE-MISMATCH and INDICATION-NOT-RECORDED."""
    _unrecognised(draft, "UNRECOGNISED-CONDITION", "condition", [n[0] for n in notes if n[0] is not None])
    mismatched = [n[1] for n in notes if n[1] is not None]
    if mismatched:
        draft.add(
            "CONDITION-CODE-MISMATCH",
            "review",
            "A condition's name and its ICD-10 code point to different groups: confirm which is right "
            "(rules were checked against both).",
            mismatched,
        )
    if not protocol.indications:
        return
    wanted = ", ".join(protocol.indications)
    message = f"None of the protocol's indications ({wanted}) is recorded as an active condition."
    if conditions is None:
        draft.add("INDICATION-NOT-RECORDED", "review", message, ["could not be checked: conditions are not recorded"], unknown=True)
        return
    if any(n[2] for n in notes):
        return
    draft.add("INDICATION-NOT-RECORDED", "review", message, lambda: [f"active conditions recorded: {_names(conditions)}"])


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


def _own(facts: Facts, protocol) -> list[str]:
    _, chemical = _protocol_drug(facts, protocol)
    return [protocol.drug.name, *(facts.vocabulary.canonical(c) for c in chemical)]


def _unrecognised(draft, rule_id: str, what: str, words: list[str]) -> None:
    """`words`: `_unrecognised_words` of each of the list's entries that is not recognised."""
    if words:
        draft.add(
            rule_id,
            "review",
            f"The vocabulary does not recognise this {what}: every rule that asks about {what}s could not be checked.",
            words,
        )


def _unrecognised_words(i) -> str:
    """Why an entry is not recognised, in words."""
    return (
        f"{i.describe()} contains an invisible character (zero-width or direction mark) and is not matched"
        if i.hidden
        else f"{i.describe()} mixes letters from different scripts (a look-alike character?) and is not matched"
        if i.mixed_script
        else f"{i.describe()}: the name is not recognised; only its ICD-10 code is "
        f"(in {', '.join(sorted(i.match.code_terms))}), and rules were checked against the code"
        if getattr(i.match, "code_terms", None)
        else f"{i.describe()} is not recognised"
    )


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
