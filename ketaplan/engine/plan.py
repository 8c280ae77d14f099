"""build_plan: one pure function from (patient, protocol, start date, now) to a frozen Plan."""

from datetime import date, datetime
from fractions import Fraction
from typing import Any, NamedTuple

from ketaplan import __version__
from ketaplan.engine import findings as F
from ketaplan.engine.course import SeriesNotContinuable, build_course, course_facts
from ketaplan.engine.dosing import LazyWeights, body_weights, container, session_dose
from ketaplan.engine.facts import Facts, gather
from ketaplan.engine.logic import Result, evaluate
from ketaplan.engine.schedule import HolidayProvider, session_dates
from ketaplan.engine.truth import compiled
from ketaplan.model.patient import Patient
from ketaplan.model.plan import Dosing, Factor, Finding, Hold, PatientSummary, Plan, ProtocolRef, Provenance, Session
from ketaplan.model.protocol import Protocol, Rule
from ketaplan.units import (
    fmt_cm,
    fmt_kg,
    fmt_mg,
    fmt_mg_per_h,
    fmt_mg_per_kg,
    fmt_mg_per_kg_per_h,
    fmt_mg_per_ml,
    fmt_ml,
)

WEIGH_AGAIN = "Weigh again and re-draft before this session"
CONFIRM_TOLERATED = "Confirm the previous dose was tolerated"
BASIS_WORDS = {"actual": "actual body weight", "ideal": "ideal body weight", "adjusted": "adjusted body weight", "lean": "lean body weight"}


class Inputs(NamedTuple):
    """Provenance of one drafting: what the plan was computed from."""

    start: date
    now: datetime  # UTC: the plan's time stamp
    today: date | None = None  # the clinic's local date (START-IN-PAST); default: now's date
    patient_sha256: str = ""
    protocol_sha256: str = ""
    holidays: HolidayProvider | None = None
    holidays_version: str | None = None
    patient_file: str | None = None
    protocol_file: str | None = None


class _Draft:
    """Findings gathered while deciding, keyed so that each rule gives exactly one. A built-in
    finding's evidence may be given as a function: its words are then built only by `explain()`."""

    def __init__(self) -> None:
        self.builtin: dict[str, tuple] = {}  # id -> (effect, message, evidence or a function of none, unknown, source)

    def add(self, rule_id: str, effect: str, message: str, evidence, *, unknown: bool = False, source=None) -> None:
        self.builtin[rule_id] = (effect, message, evidence, unknown, source)

    def finding(self, rule_id: str) -> Finding:
        effect, message, evidence, unknown, source = self.builtin[rule_id]
        words = evidence() if callable(evidence) else evidence
        return Finding(rule_id, effect, effect, unknown, message, tuple(words), source)


class _Place(NamedTuple):
    """A session as decided before its dose: its place in the schedule, per-kg amount and checks. Its
    dose is its amount's (Decision.doses); the Session record is built by `_sessions()`."""

    number: int
    phase: str
    date: date
    amount: Fraction
    checks: tuple[str, ...]
    titrated_by: str | None
    titration_not_used: tuple[str, ...]


class Decision:
    """What `decide()` found: the verdict, the findings' ids and the first dose, with what `explain()`
    needs to put the words and the Plan record around them. Truth values only; no evidence words."""

    __slots__ = (
        "patient", "protocol", "inputs", "continuing", "facts", "cf", "fired", "excluded", "draft", "weights",
        "checks", "dosing", "places", "doses", "verdict", "findings", "unchecked", "first_dose_mg",
    )  # fmt: skip

    facts: Facts
    cf: Any  # engine.course.CourseFacts
    fired: tuple[tuple[Rule, str, bool], ...]  # (rule, its effect on this plan, unknown), in the protocol's order
    excluded: bool
    draft: _Draft
    weights: LazyWeights
    checks: dict[str, tuple[str, ...]]  # the check rules' items, by stage
    dosing: Dosing | None
    places: tuple[_Place, ...]
    # (amount, (SessionDose, drafted: above 0 mg, the drawn volume does not fit in the bag)) of each
    # distinct per-kg amount of the places; empty where no dose is drafted (no dosing weight)
    doses: tuple[tuple[Fraction, tuple], ...]
    verdict: str
    findings: tuple[str, ...]  # every finding's id, in the plan's order
    unchecked: tuple[str, ...]  # the findings whose rule could not be checked
    first_dose_mg: Fraction | None

    def __init__(self, patient: Patient, protocol: Protocol, inputs: Inputs, continuing: bool) -> None:
        self.patient = patient
        self.protocol = protocol
        self.inputs = inputs
        self.continuing = continuing


def build_plan(patient: Patient, protocol: Protocol, inputs: Inputs) -> Plan:
    """Draft a new series (`ketaplan plan`): the words and the record around `decide()`'s decision."""
    return explain(decide(patient, protocol, inputs))


def continue_series(patient: Patient, protocol: Protocol, inputs: Inputs) -> Plan:
    """Draft the rest of the current series (`ketaplan course`, spec/course.md "Continuing a series"):
    the same rules and dose arithmetic as build_plan, with the sessions already given counted.
    The Plan carries `course`. Raises SeriesNotContinuable when there is no current series."""
    return explain(decide(patient, protocol, inputs, continuing=True))


def decide(patient: Patient, protocol: Protocol, inputs: Inputs, continuing: bool = False) -> Decision:
    """The decision core of every plan: the verdict, the findings' ids (in the plan's order) and the
    first dose. Rules are asked for their truth value only (engine/truth.py, compiled once per
    protocol); `explain()` builds the evidence, the messages, the sessions and the Plan record.
    `ketaplan check` stops here; `plan` and `course` go on to `explain()`, so they cannot disagree."""
    if protocol.schedule.holidays and inputs.holidays is None:
        # Without the calendar, sessions would fall on the region's public holidays unannounced.
        raise ValueError(f"the protocol closes on {protocol.schedule.holidays} public holidays: pass inputs.holidays")
    work = compiled(protocol)
    cf = course_facts(patient, protocol, inputs.start, with_response=continuing or work.uses_course)
    if continuing and not cf.series:
        raise SeriesNotContinuable.explain(patient, protocol, inputs.start)
    facts = gather(patient, inputs.start, protocol.vocabulary, cf)
    d = Decision(patient, protocol, inputs, continuing)
    d.facts, d.cf = facts, cf
    draft = d.draft = _Draft()
    lists, true, unknown, lists_added = work.values(facts)  # the rules that are not false
    d.fired, ids, unchecked, excluded, review, d.checks, adjust, titration = _rules(work, true, unknown)

    F.patient_findings(draft, facts, protocol, lists_added)
    if continuing:
        # The series being continued is not a restart (spec/course.md).
        draft.builtin.pop("PRIOR-INFUSIONS-SAME-PROTOCOL", None)
    if cf.untagged and (continuing or work.uses_course):
        n = len(cf.untagged)
        draft.add(
            "INFUSION-WITHOUT-PROTOCOL",
            "note",
            "Infusions recorded without a protocol id never count towards a series.",
            [f"{n} infusion{'s' if n != 1 else ''} without a protocol id, the last on {cf.untagged[-1].date.isoformat()}"],
        )
    allergy = draft.builtin.get("ALLERGY-TO-PROTOCOL-DRUG")
    excluded = excluded or (allergy is not None and allergy[0] == "exclude")

    weights = d.weights = LazyWeights(patient)
    d.dosing, d.places, d.doses = None, (), ()
    if not excluded:
        given = cf.series if continuing else ()
        d.dosing, d.places, d.doses = _decide_sessions(patient, protocol, inputs, weights, adjust, draft, titration, given, work)
        if d.places:
            F.age_changes(draft, facts, protocol, d.places[-1].date, work, lists)
        if continuing and not d.places:
            total = sum(p.sessions for p in protocol.schedule.phases)
            draft.add(
                "SERIES-COMPLETE",
                "note",
                "Every session of the protocol's schedule has been given: no session is left to draft.",
                [f"{len(given)} sessions given under {protocol.id}; its schedule has {total}"],
            )
    today = inputs.today or inputs.now.date()
    if inputs.start < today:
        draft.add("START-IN-PAST", "note", "The start date is before today.", [f"start {inputs.start.isoformat()}, today {today.isoformat()}"])

    d.excluded = excluded
    added = draft.builtin
    if added:
        builtin = [i for i in added if i in F.RANK]
        if len(builtin) > 1:
            builtin.sort(key=F.RANK.__getitem__)  # in F.ORDER
        ids += tuple(builtin)
        # The findings whose rule could not be checked (Finding.unknown), in the same order.
        unchecked += tuple(i for i in builtin if added[i][3])
        review = review or any(added[i][0] == "review" for i in builtin)
    d.findings, d.unchecked = ids, unchecked
    d.verdict = "excluded" if excluded else "needs-review" if review else "eligible"
    first = _dose_of(d.doses, d.places[0].amount) if d.places and d.doses else None
    d.first_dose_mg = first[0].dose_mg if first is not None and first[1] else None
    return d


def _rules(work, true: int, unknown: int) -> tuple:
    """What the rules that fire decide, from the rules' values (`Compiled.values`: bit 1 << i of rule i
    set in `true` or `unknown`, the others false): (the fired rules (rule, its effect on this plan,
    unknown), their ids and those of the ones that could not be checked, in the protocol's order,
    excluded, review, the check rules' items by stage, (the true adjust rules, the unknown ones), the
    same of the titrate rules). A function of the values alone: remembered for the run by them (the
    10,000 patients of a batch give a thousand)."""
    key = (true, unknown)
    memo = work.decided
    found = memo.get(key)
    if found is not None:
        return found
    checks: dict[str, list[str]] = {"pre": [], "during": [], "after": []}
    adjust_true: list[Rule] = []
    adjust_unknown: list[Rule] = []
    titrate_true: list[Rule] = []
    titrate_unknown: list[Rule] = []
    excluded = review = False
    fired: list[tuple[Rule, str, bool]] = []
    ids: list[str] = []
    unchecked: list[str] = []
    effects = work.effects
    fires = true | unknown
    while fires:  # the set bits, lowest first: the rules that fire, in the protocol's order
        bit = fires & -fires
        fires ^= bit
        rule, if_true, if_unknown, kind = effects[bit.bit_length() - 1]
        is_unknown = bool(unknown & bit)
        if is_unknown:
            if if_unknown is None:  # an unknown note says nothing
                continue
            fired_as = if_unknown
            unchecked.append(rule.id)
        else:
            fired_as = if_true
        if kind is not None:
            if kind == "exclude":
                excluded = excluded or not is_unknown
            elif kind == "adjust":
                (adjust_unknown if is_unknown else adjust_true).append(rule)
            elif kind == "check":
                stage, item = rule.stage, rule.item
                if stage is None or item is None:  # the loader requires both of a check rule
                    raise ValueError(f"{rule.id}: a check rule names its stage and its item")
                checks[stage].append(item)
            else:  # titrate
                (titrate_unknown if is_unknown else titrate_true).append(rule)
        review = review or fired_as[1] == "review"
        fired.append(fired_as)
        ids.append(rule.id)
    if len(memo) >= 4096:
        memo.clear()
    found = memo[key] = (
        tuple(fired), tuple(ids), tuple(unchecked), excluded, review, {stage: tuple(items) for stage, items in checks.items()},
        (tuple(adjust_true), tuple(adjust_unknown)), (tuple(titrate_true), tuple(titrate_unknown)),
    )  # fmt: skip
    return found


def explain(d: Decision) -> Plan:
    """The Plan record of a decision: each rule's evidence (only for the rules that fired or are
    unknown), the messages, the holds, the sessions' arithmetic and the provenance."""
    patient, protocol, inputs, facts = d.patient, d.protocol, d.inputs, d.facts
    holds: list[Hold] = []
    rule_findings: list[Finding] = []
    for rule, effect, unknown in d.fired:
        result = evaluate(rule.when, facts)
        evidence = tuple(e.words() for e in result.evidence)
        if rule.effect == "hold":
            holds.append(_hold(rule, result, facts, unknown))
        elif rule.effect == "titrate" and unknown:
            evidence += (UNKNOWN_TITRATION,)
        rule_findings.append(Finding(rule.id, effect, rule.effect, unknown, rule.message, evidence, rule.source))
    findings = tuple(rule_findings) + tuple(d.draft.finding(i) for i in d.findings[len(rule_findings) :])
    weights = body_weights(patient)
    sessions = _sessions(patient, protocol, d.dosing, d.places, d.doses)
    course = None
    if d.continuing:
        weight = d.dosing.dosing_weight_kg if d.dosing is not None else weights.of(protocol.dose.weight_basis)
        course = build_course(d.cf, protocol, weight)
    checks = d.checks
    return Plan(
        course=course,
        verdict=d.verdict,
        patient=PatientSummary(
            id=patient.id,
            age=patient.age,
            sex=patient.sex,
            height_cm=patient.height_cm,
            weight_kg=patient.weight_kg,
            bmi=weights.bmi,
            ideal_weight_kg=weights.ideal,
            adjusted_weight_kg=weights.adjusted,
            lean_weight_kg=weights.lean,
            weighed_on=patient.weighed_on,
        ),
        protocol=ProtocolRef(
            id=protocol.id,
            title=protocol.title,
            version=protocol.version,
            sha256=inputs.protocol_sha256,
            drug=protocol.drug.name,
            route=protocol.drug.route,
            approved_by=protocol.approved_by,
            sources=protocol.sources,
            stock_mg_per_ml=protocol.drug.stock_mg_per_ml,
            bag_ml=protocol.drug.bag_ml,
            final_mg_per_ml=protocol.drug.final_mg_per_ml,
            timezone=protocol.schedule.timezone,
            observation_min=protocol.schedule.observation_min,
        ),
        dosing=d.dosing,
        sessions=sessions,
        findings=findings,
        holds=tuple(holds),
        checklist_pre=protocol.checklist_pre + tuple(checks["pre"]),
        checklist_during=protocol.checklist_during + tuple(checks["during"]),
        checklist_after=protocol.checklist_after + tuple(checks["after"]),
        acknowledge=tuple(f.rule for f in findings if f.effect == "review"),
        generated=Provenance(
            at=inputs.now,
            by=f"ketaplan {__version__}",
            vocabulary=protocol.vocabulary.version,
            holidays=inputs.holidays_version if protocol.schedule.holidays else None,
            patient_sha256=inputs.patient_sha256,
            protocol_sha256=inputs.protocol_sha256,
            start=inputs.start,
            patient_file=inputs.patient_file,
            protocol_file=inputs.protocol_file,
        ),
    )


def _hold(rule: Rule, result: Result, facts: Facts, unknown: bool) -> Hold:
    """The held medicines are the patient's ones that the rule's medication names match."""
    names: list[str] = []
    terms = _medication_terms(rule.when)
    keys = {facts.key(t) for t in terms}
    for m in facts.medications or ():
        if m.match is not None and not m.suspect and keys & m.match.terms and m.match.drug not in names:
            names.append(m.match.drug)
    because = tuple(e.text for e in result.evidence if e.unknown)
    if rule.hold is None:  # the loader requires the instruction of a hold rule
        raise ValueError(f"{rule.id}: a hold rule gives its instruction (hold)")
    return Hold(rule.id, tuple(names), rule.hold, unknown, because)


def _medication_terms(when) -> list[str]:
    out: list[str] = []
    if when is None:
        return out
    for clause in when.clauses:
        if clause.key == "medication":
            out.extend(clause.value)
        elif clause.key == "any":
            for w in clause.value:
                out.extend(_medication_terms(w))
    return out


def _decide_sessions(patient, protocol, inputs, weights, adjust, draft, titration, given, work):
    """The Dosing record and each session's place, per-kg amount and dose (one per distinct amount),
    with the dose findings and the findings about the sessions' dates (AGE-CHANGES-DURING-PLAN aside);
    the Session records themselves are built by `_sessions()`."""
    dose = protocol.dose
    adjust_true, adjust_unknown = adjust

    # Weight basis: a true adjust rule's basis replaces the protocol's; of several, the lowest weight.
    basis, basis_rule = dose.weight_basis, None
    candidates = [(r.weight_basis, r.id) for r in adjust_true if r.weight_basis] if adjust_true else None
    if candidates:
        basis, basis_rule = min(candidates, key=lambda c: _weight_order(weights.of(c[0])))
        distinct = {b for b, _ in candidates}
        if len(distinct) > 1:
            chosen = basis, basis_rule
            draft.add(
                "WEIGHT-BASIS-CHOSEN",
                "note",
                "Several rules set the weight basis: the one giving the lowest dosing weight is used.",
                lambda: [f"{rid}: {BASIS_WORDS[b]} {_kg(weights.of(b))}" for b, rid in candidates]
                + [f"used: {BASIS_WORDS[chosen[0]]} ({chosen[1]})"],
            )
    # An unknown adjust rule's basis is applied only where that gives the lower dose.
    for r in adjust_unknown:
        if r.weight_basis and _weight_order(weights.of(r.weight_basis)) < _weight_order(weights.of(basis)):
            basis, basis_rule = r.weight_basis, r.id

    applied = adjust_true + adjust_unknown
    factors: tuple[Factor, ...] = ()
    cap_mg, cap_rule = dose.max_mg, None
    if applied:  # (most plans have no adjust rule: nothing to build then)
        factors = tuple(Factor(r.id, r.dose_factor) for r in applied if r.dose_factor is not None)
        for r in applied:
            if r.max_mg is not None and r.max_mg < cap_mg:
                cap_mg, cap_rule = r.max_mg, r.id
    dosing_weight = weights.of(basis)
    if dosing_weight is None:
        draft.add(
            "IDEAL-WEIGHT-SHORT-STATURE",
            "review",
            "Height is below 152.4 cm (60 in), where the Devine ideal body weight is not defined: "
            "no dose is drafted; the clinician sets the dosing weight.",
            [f"height {fmt_cm(patient.height_cm)} is below 152.4 cm; weight basis {basis}"],
        )

    # The gap runs from the last infusion recorded under any protocol (a continued series' last
    # session is among them).
    last = patient.infusions[-1].date if patient.infusions else None
    dates = _session_dates(protocol, inputs, last, len(given), work)
    weighed = _weighed(protocol, work, (basis, basis_rule, dosing_weight, factors, cap_mg, cap_rule))
    has_titration = bool(titration[0] or titration[1])
    # Each session's place, amount and checks (`_places`), then its dose. Without titration or sessions
    # already given, the places depend only on the dates and the weighing date: remembered for the run.
    if not has_titration and not given:
        key = ("places", id(dates), patient.weighed_on)
        memo = work.runs
        found = memo.get(key)
        if found is None or found[0] is not dates:
            if len(memo) >= 4096:
                memo.clear()
            found = memo[key] = (dates, _places(protocol, dates, patient.weighed_on, given, titration, False))
        # (only read: no sessions given, no titration)
        places, amounts, escalations, chosen_words, dated = found[1]
    else:
        places, amounts, escalations, chosen_words, dated = _places(protocol, dates, patient.weighed_on, given, titration, has_titration)
    if dated:
        draft.builtin.update(dated)
    dosing = weighed[0]
    doses, unusual = ((), False) if dosing_weight is None else _doses(protocol, weighed, amounts)
    if given and doses:
        first = places[0]  # the first session of the continued series
        sd = _dose_of(doses, first.amount)[0]
        if sd.dose_mg > given[-1].dose_mg and CONFIRM_TOLERATED not in first.checks:
            # It is compared with the last one given, in mg. (The first session has no escalation of
            # its own here: this one goes first.)
            # (A new tuple, never a change to the one _places gave: that one may be remembered.)
            escalations = (
                f"session {first.number}: {fmt_mg(sd.dose_mg)} after {fmt_mg(given[-1].dose_mg)} given on {given[-1].date.isoformat()}",
                *escalations,
            )
            places = (first._replace(checks=first.checks + (CONFIRM_TOLERATED,)), *places[1:])
    if unusual:  # (most plans' doses are all drafted, not capped and fit: nothing to walk then)
        _dose_findings(draft, protocol, places, doses)
    if chosen_words:
        draft.add(
            "TITRATION-CHOSEN",
            "note",
            "Several titrate rules apply: the lowest dose is used; the others are not used.",
            list(chosen_words),
        )
    if escalations:
        draft.add("DOSE-ESCALATION", "note", "The dose per kg rises between sessions; confirm each previous dose was tolerated.", escalations)
    return dosing, places, doses


def _dose_findings(draft, protocol, places: tuple, doses: tuple) -> None:
    """DOSE-NOT-DRAFTED, DRAW-EXCEEDS-BAG and DOSE-CAPPED: the places whose dose is not drafted, does
    not fit in the bag or is capped, for a plan with any such dose."""
    capped, not_drafted, too_much = [], [], []
    for s in places:
        sd, drafted, overflow = _dose_of(doses, s.amount)
        if not drafted:
            # A dose of 0 mg or less is never drafted: the clinician decides.
            not_drafted.append(f"session {s.number}: the arithmetic gives {fmt_mg(sd.dose_mg)}")
            continue
        if sd.capped_by:
            capped.append((s.number, sd))
        if overflow:
            too_much.append((s.number, sd))
    if not_drafted:
        draft.add("DOSE-NOT-DRAFTED", "review", "The arithmetic gives no dose above 0 mg: none is drafted.", not_drafted)
    if too_much:
        # The bag's final volume cannot hold the drawn volume: the stock is too dilute for this dose.
        bag_ml, stock = protocol.drug.bag_ml, protocol.drug.stock_mg_per_ml
        draft.add(
            "DRAW-EXCEEDS-BAG",
            "review",
            "The volume to draw does not fit in the bag: check the protocol's stock and bag.",
            lambda: [
                f"session {number}: {fmt_mg(sd.dose_mg)} at {fmt_mg_per_ml(stock)} "
                f"is {fmt_ml(sd.dose_mg / stock)} to draw, not less than the {fmt_ml(bag_ml)} bag"
                for number, sd in too_much
            ],
        )
    if capped:
        mode = protocol.dose.mode
        draft.add(
            "DOSE-CAPPED",
            "note",
            "A cap lowered the dose: the lower dose wins.",
            lambda: [_capped_words(number, sd, mode) for number, sd in capped],
        )


def _weighed(protocol: Protocol, work, doses_of: tuple) -> tuple:
    """(the Dosing record, the dosing weight, the product of the factors, the cap, what caps it, the
    doses so far) of `doses_of`: (weight basis, its rule, dosing weight, factors, cap in mg, its rule).
    Remembered for the run by `doses_of`'s value: a clinic's patients share a few hundred weights.
    The doses so far: what `_doses` gave for each tuple of amounts asked of it (it depends only on
    the amounts and these: the protocol's dose is the run's)."""
    basis, basis_rule, dosing_weight, factors, cap_mg, cap_rule = doses_of
    # (The exact fractions by numerator and denominator: hashing a Fraction costs more.)
    key = (
        basis, basis_rule, None if dosing_weight is None else dosing_weight.numerator,
        None if dosing_weight is None else dosing_weight.denominator, factors, cap_mg.numerator, cap_mg.denominator, cap_rule,
    )  # fmt: skip
    memo = work.weighed
    found = memo.get(key)
    if found is not None:
        return found
    dose = protocol.dose
    dosing = Dosing(
        mode=dose.mode,
        weight_basis=basis,
        basis_rule=basis_rule,
        dosing_weight_kg=dosing_weight,
        factors=factors,
        cap_mg=cap_mg,
        cap_rule=cap_rule,
        round_to_mg=dose.round_to,
        max_mg_per_hour=dose.max_mg_per_hour,
    )
    factor = _ONE
    for f in factors:
        factor *= f.factor
    if len(memo) >= 4096:
        memo.clear()
    found = memo[key] = (dosing, dosing_weight, factor, cap_mg, cap_rule or "dose.max_mg", [])
    return found


def _doses(protocol, weighed: tuple, amounts: tuple) -> tuple:
    """(doses, unusual) of the distinct per-kg amounts of a plan: doses is (amount, (SessionDose,
    drafted: above 0 mg, the drawn volume does not fit in the bag)) of each; unusual, whether any
    dose is not drafted, capped or does not fit. Kept in `_weighed`'s record by the amounts."""
    _, dosing_weight, factor, cap_mg, cap_by, known = weighed
    # (A list, not a dict: a weight meets few tuples of amounts, mostly the same objects, which a
    # tuple compares by identity first; hashing fractions costs more.)
    for amounts_known, found in known:
        if amounts_known == amounts:
            return found
    bag_ml, stock = protocol.drug.bag_ml, protocol.drug.stock_mg_per_ml
    doses = []
    unusual = False
    for amount in amounts:
        sd = session_dose(amount, dosing_weight, factor, protocol.dose, cap_mg, cap_by)
        mg = sd.dose_mg
        # The volume to draw (the container's draw_ml: mg / stock) not below the bag's volume,
        # in integers: mg x stock_d x bag_d >= bag_n x mg_d x stock_n (stock above 0).
        overflow = (
            bag_ml is not None
            and bool(stock)
            and mg.numerator * stock.denominator * bag_ml.denominator >= bag_ml.numerator * mg.denominator * stock.numerator
        )
        drafted = mg.numerator > 0
        unusual = unusual or not drafted or bool(sd.capped_by) or overflow
        doses.append((amount, (sd, drafted, overflow)))
    found = (tuple(doses), unusual)
    known.append((amounts, found))
    return found


def _dose_of(doses: tuple, amount: Fraction) -> tuple:
    """The (SessionDose, drafted, overflow) of `amount` among a decision's doses."""
    for known, found in doses:
        if known is amount or known == amount:
            return found
    raise KeyError(amount)  # (never: the doses are of every amount of the places)


def _places(protocol: Protocol, dates: tuple, weighed_on, given, titration, has_titration: bool) -> tuple:
    """Each session's _Place, the distinct per-kg amounts among them (in order), the escalations' words,
    the TITRATION-CHOSEN words and the findings about the sessions' dates (findings.session_findings):
    what `_decide_sessions` decides before the dose, from the schedule, the titrate rules and the
    weighing date alone."""
    dose = protocol.dose
    phases = protocol.schedule.phases
    valid_days = dose.weight_valid_days
    counter = _given_per_phase(protocol, len(given))
    true_titrations, unknown_titrations = titration
    chosen_words: dict[str, None] = {}
    escalations: list[str] = []
    places = []
    amounts: list[Fraction] = []
    previous_amount = None
    for number, (phase_index, day) in enumerate(dates, start=len(given) + 1):
        phase = phases[phase_index]
        i = counter.get(phase_index, 0)
        counter[phase_index] = i + 1
        base = phase.amounts[i] if phase.amounts else dose.amount
        if has_titration:
            amount, titrated_by, not_used, several = choose_titration(base, true_titrations, unknown_titrations, dose.mode)
            if several:
                chosen_words.setdefault(several, None)
        else:
            amount, titrated_by, not_used = base, None, ()
        session_checks = []
        if valid_days is not None and (weighed_on is None or (day - weighed_on).days > valid_days):
            session_checks.append(WEIGH_AGAIN)
        # (The same amount object as the session before, as most schedules give: not a rise.)
        if previous_amount is not None and amount is not previous_amount and amount > previous_amount:
            session_checks.append(CONFIRM_TOLERATED)
            escalations.append(f"session {number}: {_amount(dose.mode, amount)} after {_amount(dose.mode, previous_amount)}")
        elif titrated_by is not None and amount > base and previous_amount != amount:
            # A titration up from the phase's dose is an escalation (spec/course.md).
            session_checks.append(CONFIRM_TOLERATED)
            escalations.append(
                f"session {number}: {_amount(dose.mode, amount)} by {titrated_by} instead of the phase's {_amount(dose.mode, base)}"
            )
        if amount is not previous_amount and all(a != amount for a in amounts):
            amounts.append(amount)
        previous_amount = amount
        places.append(_Place(number, phase.name, day, amount, tuple(session_checks), titrated_by, not_used))
    dated = F.session_findings(protocol, weighed_on, places, given_dates=_given_dates(protocol, given))
    return tuple(places), tuple(amounts), tuple(escalations), chosen_words, dated


def _session_dates(protocol: Protocol, inputs: Inputs, last: date | None, skip: int, work) -> tuple:
    """session_dates, remembered per protocol for the run: a batch's patients mostly share a start
    date, a calendar and (having no earlier infusion) the same dates."""
    if work is None:
        return tuple(session_dates(protocol.schedule, inputs.start, last, inputs.holidays, skip=skip))
    key = (inputs.start, last, skip, id(inputs.holidays))
    memo = work.runs
    found = memo.get(key)
    if found is not None and found[0] is inputs.holidays:
        return found[1]
    dates = tuple(session_dates(protocol.schedule, inputs.start, last, inputs.holidays, skip=skip))
    if len(memo) >= 4096:
        memo.clear()
    memo[key] = (inputs.holidays, dates)  # the provider is held, so that its id stays its own
    return dates


def _sessions(patient: Patient, protocol: Protocol, dosing: Dosing | None, places, doses) -> tuple[Session, ...]:
    """The Session records of the decided places and doses, with each dose's arithmetic written out."""
    if dosing is None:
        return ()
    dose = protocol.dose
    rate = dose.mode != "mg_per_kg"
    dosing_weight = dosing.dosing_weight_kg
    out = []
    containers: dict[int, tuple] = {}  # by the SessionDose: sessions of one amount share it
    for s in places:
        common = dict(
            number=s.number,
            phase=s.phase,
            date=s.date,
            amount=s.amount,
            duration_min=dose.duration_min,
            checks=s.checks,
            titrated_by=s.titrated_by,
            titration_not_used=s.titration_not_used,
        )
        if not doses:
            out.append(Session(**common, not_drafted_because="IDEAL-WEIGHT-SHORT-STATURE"))
            continue
        d, drafted, _ = _dose_of(doses, s.amount)
        if not drafted:
            out.append(Session(**common, not_drafted_because="DOSE-NOT-DRAFTED"))
            continue
        found = containers.get(id(d))
        if found is None:
            found = containers[id(d)] = (d, container(protocol.drug, d.dose_mg, dose.duration_min))
        c = found[1]
        out.append(
            Session(
                **common,
                raw_dose_mg=d.raw_dose_mg,
                rounded_mg=None if rate else d.rounded_mg,
                dose_mg=d.dose_mg,
                capped_by=d.capped_by,
                raw_rate_mg_per_h=d.raw_rate_mg_per_h,
                rounded_rate_mg_per_h=d.rounded_mg if rate else None,
                rate_mg_per_h=d.rate_mg_per_h,
                effective_mg_per_kg_actual=None if rate else d.dose_mg / patient.weight_kg,
                effective_mg_per_kg_per_hour_actual=d.rate_mg_per_h / patient.weight_kg if rate else None,
                given_per_kg=(d.rate_mg_per_h if rate else d.dose_mg) / dosing_weight,
                draw_ml=c.draw_ml,
                concentration_mg_per_ml=c.concentration_mg_per_ml,
                volume_ml=c.volume_ml,
                pump_ml_per_h=c.pump_ml_per_h,
            )
        )
    return tuple(out)


_ONE = Fraction(1)
UNKNOWN_TITRATION = "an unknown titration is applied only to sessions where it lowers the dose: it never raises one"


def uses_course(protocol: Protocol) -> bool:
    """The protocol has a titrate rule or a rule that asks about the course."""
    from ketaplan.engine.course import COURSE_KEYS

    def asks(when) -> bool:
        if when is None:
            return False
        for c in when.clauses:
            if c.key in COURSE_KEYS:
                return True
            if c.key == "any" and any(asks(w) for w in c.value):
                return True
            if c.key == "not" and asks(c.value):
                return True
        return False

    return any(r.effect == "titrate" or asks(r.when) for r in protocol.rules)


def choose_titration(base: Fraction, true_rules, unknown_rules, mode: str):
    """(amount, rule id or None, not used, several-words or "") for one session whose phase gives `base`.

    A true titrate rule applies; an unknown one only where it does not raise the dose (spec/course.md:
    an unknown escalation is never applied). Of those applying, the lowest dose wins."""
    applying = [(r.titrate, i, r.id) for i, r in enumerate(true_rules)]
    not_applied = []
    for i, r in enumerate(unknown_rules):
        if r.titrate <= base:
            applying.append((r.titrate, len(true_rules) + i, r.id))
        else:
            not_applied.append(f"{r.id}: {_amount(mode, r.titrate)} not applied (could not be checked; it would raise the dose)")
    if not applying:
        return base, None, tuple(not_applied), ""
    applying.sort()
    amount, _, rule_id = applying[0]
    others = [f"{rid}: {_amount(mode, a)} not used (a lower dose wins)" for a, _, rid in applying[1:]]
    several = ""
    if len(applying) > 1:
        several = "; ".join(f"{rid} {_amount(mode, a)}" for a, _, rid in applying) + f": used {rule_id} {_amount(mode, amount)}"
    return amount, rule_id, tuple(others + not_applied), several


def _given_per_phase(protocol: Protocol, given: int) -> dict[int, int]:
    """How many sessions of each phase the first `given` positions of the schedule took."""
    if not given:
        return {}
    out: dict[int, int] = {}
    left = given
    for index, phase in enumerate(protocol.schedule.phases):
        take = min(left, phase.sessions)
        if take:
            out[index] = take
        left -= take
    return out


def _given_dates(protocol: Protocol, given) -> tuple[tuple[str, date], ...]:
    """(phase name, date) of each given session, by its position in the schedule."""
    if not given:
        return ()
    names = [p.name for p in protocol.schedule.phases for _ in range(p.sessions)]
    return tuple((names[n], inf.date) for n, inf in enumerate(given) if n < len(names))


def _weight_order(w: Fraction | None) -> Fraction:
    # An undefined weight (short stature) sorts lowest: no dose is then drafted, the safe side.
    return Fraction(-1) if w is None else w


def _kg(w: Fraction | None) -> str:
    return "not defined" if w is None else fmt_kg(w)


def _amount(mode: str, x: Fraction) -> str:
    return fmt_mg_per_kg(x) if mode == "mg_per_kg" else fmt_mg_per_kg_per_h(x)


def _capped_words(number: int, d, mode: str) -> str:
    if mode == "mg_per_kg":
        return f"session {number}: {fmt_mg(d.rounded_mg)} capped to {fmt_mg(d.dose_mg)} by {d.capped_by}"
    return f"session {number}: rate {fmt_mg_per_h(d.rounded_mg)} lowered to {fmt_mg_per_h(d.rate_mg_per_h)} by {d.capped_by}"
