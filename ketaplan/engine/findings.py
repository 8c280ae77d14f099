"""The findings ketaplan adds itself (spec/protocol.md "Findings ketaplan adds itself"): their words live here."""

from __future__ import annotations

from datetime import date

from ketaplan.engine.facts import Facts
from ketaplan.model.plan import BUILTIN_IDS
from ketaplan.model.patient import whole_years

#: Built-in findings follow the protocol's own, in the order of the spec's table.
ORDER = BUILTIN_IDS


def patient_findings(draft, facts: Facts, protocol) -> None:
    _allergy_to_drug(draft, facts, protocol)
    _unrecognised(draft, "UNRECOGNISED-CONDITION", "condition", facts.conditions, lambda c: c.match.recognised)
    _unrecognised(draft, "UNRECOGNISED-MEDICATION", "medication", facts.medications, lambda m: m.match is not None)
    _unrecognised(draft, "UNRECOGNISED-ALLERGY", "allergy", facts.allergies, lambda a: a.match is not None)
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
    prior = [i for i in facts.patient.infusions if i.protocol == protocol.id]
    if prior:
        draft.add(
            "PRIOR-INFUSIONS-SAME-PROTOCOL",
            "review",
            f"The patient has had infusions under {protocol.id}: this plan restarts the series.",
            [f"{len(prior)} infusion{'s' if len(prior) != 1 else ''} under {protocol.id}, the last on {prior[-1].date.isoformat()}"],
        )


def _allergy_to_drug(draft, facts: Facts, protocol) -> None:
    vocab = facts.vocabulary
    drug = vocab.match_medication(protocol.drug.name)
    drug_terms = drug.terms if drug is not None else frozenset({vocab.term_key(protocol.drug.name)})
    message = f"Allergy to {protocol.drug.name} or its class."
    if facts.allergies is None:
        draft.add("ALLERGY-TO-PROTOCOL-DRUG", "review", message, ["could not be checked: allergies are not recorded"], unknown=True)
        return
    # The drug's own classes (ketamine class), not their ancestors: an allergy to esketamine
    # excludes ketamine, an allergy to memantine (another NMDA antagonist) does not.
    described = vocab.describe(protocol.drug.name) or {}
    own_classes = {vocab.term_key(c) for c in described.get("classes", ())}
    hits = []
    for a in facts.allergies:
        if a.match is None or a.suspect:
            continue
        if vocab.term_key(a.match.name) in drug_terms:
            hits.append(f"{a.describe()} is {a.match.name}, which covers {protocol.drug.name}")
        elif own_classes & a.match.terms:
            shared = ", ".join(sorted(own_classes & a.match.terms))
            hits.append(f"{a.describe()} is {a.match.name}, in {shared} with {protocol.drug.name}")
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
            else f"{i.describe()} is not recognised"
            for i in bad
        ],
    )


def _indication(draft, facts: Facts, protocol) -> None:
    if not protocol.indications:
        return
    wanted = ", ".join(protocol.indications)
    message = f"None of the protocol's indications ({wanted}) is recorded as an active condition."
    if facts.conditions is None:
        draft.add("INDICATION-NOT-RECORDED", "review", message, ["could not be checked: conditions are not recorded"], unknown=True)
        return
    keys = {facts.key(t) for t in protocol.indications}
    for c in facts.conditions:
        if c.condition.status == "active" and not c.suspect and c.match.recognised and keys & c.match.terms:
            return
    draft.add("INDICATION-NOT-RECORDED", "review", message, [f"active conditions recorded: {_names(facts)}"])


def _names(facts: Facts) -> str:
    names = [repr(c.condition.name) for c in facts.conditions if c.condition.status == "active"]
    return ", ".join(names) if names else "none"


def schedule_findings(draft, facts: Facts, protocol, sessions, inputs, given_dates=()) -> None:
    """`given_dates`: (phase name, date) of the sessions already given in a continued series, so that
    `within_days` counts from the series' first session."""
    if not sessions:
        return
    p = facts.patient
    first, last = sessions[0], sessions[-1]
    valid = protocol.dose.weight_valid_days
    if valid is not None:
        if p.weighed_on is None:
            draft.add(
                "WEIGHT-OUT-OF-DATE",
                "review",
                f"The protocol accepts a weight up to {valid} days old; this one has no date.",
                ["weighed_on is missing"],
            )
        elif (first.date - p.weighed_on).days > valid:
            age = (first.date - p.weighed_on).days
            draft.add(
                "WEIGHT-OUT-OF-DATE",
                "review",
                f"The weight is older than the {valid} days the protocol accepts at session {first.number}.",
                [f"weighed on {p.weighed_on.isoformat()}, {age} days before session {first.number} on {first.date.isoformat()}"],
            )
    _age_changes(draft, facts, protocol, last.date)
    for index, phase in enumerate(protocol.schedule.phases):
        if phase.within_days is None:
            continue
        in_phase = [d for name, d in given_dates if name == phase.name]
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


def _age_bounds(when) -> set[int]:
    out: set[int] = set()
    if when is None:
        return out
    for clause in when.clauses:
        if clause.key in ("age_at_least", "age_below"):
            out.add(clause.value)
        elif clause.key == "any":
            for w in clause.value:
                out |= _age_bounds(w)
        elif clause.key == "not":
            out |= _age_bounds(clause.value)
    return out


def _age_changes(draft, facts: Facts, protocol, last: date) -> None:
    """Rules were decided on the age at the start date; a bound crossed before the last session matters."""
    bounds: set[int] = set()
    for rule in protocol.rules:
        bounds |= _age_bounds(rule.when)
    if not bounds:
        return
    p = facts.patient
    start = facts.start
    if p.date_of_birth is not None:
        age_at_last = whole_years(p.date_of_birth, last)
        crossed = sorted(b for b in bounds if p.age < b <= age_at_last)
        evidence = []
        for b in crossed:
            birthday = _birthday(p.date_of_birth, b)
            evidence.append(f"turns {b} on {birthday.isoformat()}, before the last session on {last.isoformat()}")
    else:
        # Only the age on the start date is known: the next birthday may fall at any time in the plan.
        most = p.age + 1 + (last - start).days // 366
        crossed = sorted(b for b in bounds if p.age < b <= most)
        evidence = [
            f"could not be checked: date_of_birth is missing; aged {p.age} on {start.isoformat()}, "
            f"the patient may turn {b} before the last session on {last.isoformat()}"
            for b in crossed
        ]
    if crossed:
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
