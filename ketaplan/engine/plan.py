"""build_plan: one pure function from (patient, protocol, start date, now) to a frozen Plan."""

from datetime import date, datetime
from fractions import Fraction
from math import prod
from typing import NamedTuple

from ketaplan import __version__
from ketaplan.engine import findings as F
from ketaplan.engine.dosing import body_weights, container, session_dose
from ketaplan.engine.course import SeriesNotContinuable, build_course, course_facts
from ketaplan.engine.facts import Facts, gather
from ketaplan.engine.logic import Result, evaluate
from ketaplan.engine.schedule import HolidayProvider, session_dates
from ketaplan.model.patient import Patient
from ketaplan.model.plan import Dosing, Factor, Finding, Hold, PatientSummary, Plan, ProtocolRef, Provenance, Session
from ketaplan.model.protocol import Protocol, Rule
from ketaplan.units import fmt_cm, fmt_kg, fmt_mg, fmt_mg_per_h, fmt_mg_per_kg, fmt_mg_per_kg_per_h, fmt_mg_per_ml, fmt_ml

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
    """Findings gathered while drafting, keyed so that each rule gives exactly one."""

    def __init__(self) -> None:
        self.rule_findings: list[Finding] = []
        self.builtin: dict[str, Finding] = {}

    def add(self, rule_id: str, effect: str, message: str, evidence, *, unknown: bool = False, source=None) -> None:
        self.builtin[rule_id] = Finding(rule_id, effect, effect, unknown, message, tuple(evidence), source)


def build_plan(patient: Patient, protocol: Protocol, inputs: Inputs) -> Plan:
    """Draft a new series (`ketaplan plan`)."""
    return _build(patient, protocol, inputs, continuing=False)


def continue_series(patient: Patient, protocol: Protocol, inputs: Inputs) -> Plan:
    """Draft the rest of the current series (`ketaplan course`, spec/course.md "Continuing a series"):
    the same rules and dose arithmetic as build_plan, with the sessions already given counted.
    The Plan carries `course`. Raises SeriesNotContinuable when there is no current series."""
    return _build(patient, protocol, inputs, continuing=True)


def _build(patient: Patient, protocol: Protocol, inputs: Inputs, continuing: bool) -> Plan:
    if protocol.schedule.holidays and inputs.holidays is None:
        # Without the calendar, sessions would fall on the region's public holidays unannounced.
        raise ValueError(f"the protocol closes on {protocol.schedule.holidays} public holidays: pass inputs.holidays")
    cf = course_facts(patient, protocol, inputs.start)
    if continuing and not cf.series:
        raise SeriesNotContinuable.explain(patient, protocol, inputs.start)
    facts = gather(patient, inputs.start, protocol.vocabulary)._replace(course=cf)
    draft = _Draft()
    holds: list[Hold] = []
    checks: dict[str, list[str]] = {"pre": [], "during": [], "after": []}
    adjust_true: list[Rule] = []
    adjust_unknown: list[Rule] = []
    titrate_true: list[Rule] = []
    titrate_unknown: list[Rule] = []
    excluded = False

    for rule in protocol.rules:
        result = evaluate(rule.when, facts)
        if result.value is False or (result.value is None and rule.effect == "note"):
            continue
        unknown = result.value is None
        evidence = tuple(e.words() for e in result.evidence)
        effect = rule.effect
        if rule.effect == "exclude":
            effect = "review" if unknown else "exclude"
            excluded = excluded or not unknown
        elif rule.effect == "adjust":
            (adjust_unknown if unknown else adjust_true).append(rule)
            effect = "review" if unknown else "adjust"
        elif rule.effect == "hold":
            holds.append(_hold(rule, result, facts, unknown))
            effect = "review" if unknown else "hold"
        elif rule.effect == "check":
            checks[rule.stage].append(rule.item)
        elif rule.effect == "titrate":
            (titrate_unknown if unknown else titrate_true).append(rule)
            effect = "review" if unknown else "titrate"
            if unknown:
                evidence += (UNKNOWN_TITRATION,)
        draft.rule_findings.append(Finding(rule.id, effect, rule.effect, unknown, rule.message, evidence, rule.source))

    F.patient_findings(draft, facts, protocol)
    if continuing:
        # The series being continued is not a restart (spec/course.md).
        draft.builtin.pop("PRIOR-INFUSIONS-SAME-PROTOCOL", None)
    if cf.untagged and (continuing or uses_course(protocol)):
        n = len(cf.untagged)
        draft.add(
            "INFUSION-WITHOUT-PROTOCOL",
            "note",
            "Infusions recorded without a protocol id never count towards a series.",
            [f"{n} infusion{'s' if n != 1 else ''} without a protocol id, the last on {cf.untagged[-1].date.isoformat()}"],
        )
    allergy = draft.builtin.get("ALLERGY-TO-PROTOCOL-DRUG")
    excluded = excluded or (allergy is not None and allergy.effect == "exclude")

    weights = body_weights(patient)
    dosing = None
    sessions: tuple[Session, ...] = ()
    if not excluded:
        given = cf.series if continuing else ()
        titration = (titrate_true, titrate_unknown)
        dosing, sessions = _draft_sessions(
            patient, protocol, inputs, facts, weights, adjust_true, adjust_unknown, draft, titration, given
        )
        F.schedule_findings(draft, facts, protocol, sessions, inputs, given_dates=_given_dates(protocol, given))
        if continuing and not sessions:
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

    builtin = tuple(draft.builtin[i] for i in F.ORDER if i in draft.builtin)
    findings = tuple(draft.rule_findings) + builtin
    if excluded:
        verdict = "excluded"
    elif any(f.effect == "review" for f in findings):
        verdict = "needs-review"
    else:
        verdict = "eligible"

    course = None
    if continuing:
        weight = dosing.dosing_weight_kg if dosing is not None else weights.of(protocol.dose.weight_basis)
        course = build_course(cf, protocol, weight)
    return Plan(
        course=course,
        verdict=verdict,
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
        dosing=dosing,
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


def _draft_sessions(
    patient, protocol, inputs, facts, weights, adjust_true, adjust_unknown, draft, titration=((), ()), given=()
):
    dose = protocol.dose

    # Weight basis: a true adjust rule's basis replaces the protocol's; of several, the lowest weight.
    basis, basis_rule = dose.weight_basis, None
    candidates = [(r.weight_basis, r.id) for r in adjust_true if r.weight_basis]
    if candidates:
        basis, basis_rule = min(candidates, key=lambda c: _weight_order(weights.of(c[0])))
        distinct = {b for b, _ in candidates}
        if len(distinct) > 1:
            draft.add(
                "WEIGHT-BASIS-CHOSEN",
                "note",
                "Several rules set the weight basis: the one giving the lowest dosing weight is used.",
                [f"{rid}: {BASIS_WORDS[b]} {_kg(weights.of(b))}" for b, rid in candidates]
                + [f"used: {BASIS_WORDS[basis]} ({basis_rule})"],
            )
    # An unknown adjust rule's basis is applied only where that gives the lower dose.
    for r in adjust_unknown:
        if r.weight_basis and _weight_order(weights.of(r.weight_basis)) < _weight_order(weights.of(basis)):
            basis, basis_rule = r.weight_basis, r.id

    applied = adjust_true + adjust_unknown
    factors = tuple(Factor(r.id, r.dose_factor) for r in applied if r.dose_factor is not None)
    cap_mg, cap_rule = dose.max_mg, None
    for r in applied:
        if r.max_mg is not None and r.max_mg < cap_mg:
            cap_mg, cap_rule = r.max_mg, r.id
    dosing_weight = weights.of(basis)
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
    dates = session_dates(protocol.schedule, inputs.start, last, inputs.holidays, skip=len(given))
    factor = prod((f.factor for f in factors), start=Fraction(1))
    cap_by = cap_rule or "dose.max_mg"
    sessions = []
    capped, escalations, not_drafted, too_much = [], [], [], []
    per_amount: dict = {}
    previous_amount = None
    counter = _given_per_phase(protocol, len(given))
    chosen_words: dict[str, None] = {}
    for number, (phase_index, day) in enumerate(dates, start=len(given) + 1):
        phase = protocol.schedule.phases[phase_index]
        i = counter.get(phase_index, 0)
        counter[phase_index] = i + 1
        base = phase.amounts[i] if phase.amounts else dose.amount
        amount, titrated_by, not_used, several = choose_titration(base, *titration, dose.mode)
        if several:
            chosen_words.setdefault(several, None)
        session_checks = []
        if dose.weight_valid_days is not None and (
            patient.weighed_on is None or (day - patient.weighed_on).days > dose.weight_valid_days
        ):
            session_checks.append(WEIGH_AGAIN)
        if previous_amount is not None and amount > previous_amount:
            session_checks.append(CONFIRM_TOLERATED)
            escalations.append(f"session {number}: {_amount(dose.mode, amount)} after {_amount(dose.mode, previous_amount)}")
        elif titrated_by is not None and amount > base and previous_amount != amount:
            # A titration up from the phase's dose is an escalation (spec/course.md).
            session_checks.append(CONFIRM_TOLERATED)
            escalations.append(
                f"session {number}: {_amount(dose.mode, amount)} by {titrated_by} instead of the phase's {_amount(dose.mode, base)}"
            )
        previous_amount = amount
        common = dict(
            number=number,
            phase=phase.name,
            date=day,
            amount=amount,
            duration_min=dose.duration_min,
            checks=tuple(session_checks),
            titrated_by=titrated_by,
            titration_not_used=not_used,
        )
        s = Session(**common, not_drafted_because="IDEAL-WEIGHT-SHORT-STATURE" if dosing_weight is None else None)
        if dosing_weight is not None:
            # Sessions with the same mg/kg have the same dose: work it out once.
            if amount not in per_amount:
                d = session_dose(amount, dosing_weight, factor, dose, cap_mg, cap_by)
                per_amount[amount] = (d, container(protocol.drug, d.dose_mg, dose.duration_min))
            d, c = per_amount[amount]
            first_continued = given and number == len(given) + 1
            if first_continued and d.dose_mg > given[-1].dose_mg and CONFIRM_TOLERATED not in session_checks:
                # The first session of a continued series is compared with the last one given, in mg.
                escalations.append(
                    f"session {number}: {fmt_mg(d.dose_mg)} after {fmt_mg(given[-1].dose_mg)} given on {given[-1].date.isoformat()}"
                )
                common["checks"] = tuple(session_checks) + (CONFIRM_TOLERATED,)
            if d.dose_mg <= 0:
                # A dose of 0 mg or less is never drafted: the clinician decides.
                not_drafted.append(f"session {number}: the arithmetic gives {fmt_mg(d.dose_mg)}")
                s = Session(**common, not_drafted_because="DOSE-NOT-DRAFTED")
            else:
                rate = dose.mode != "mg_per_kg"

                if d.capped_by:
                    capped.append(_capped_words(number, d, dose.mode))
                if c.draw_ml is not None and protocol.drug.bag_ml is not None and c.draw_ml >= protocol.drug.bag_ml:
                    too_much.append(
                        f"session {number}: {fmt_mg(d.dose_mg)} at {fmt_mg_per_ml(protocol.drug.stock_mg_per_ml)} "
                        f"is {fmt_ml(c.draw_ml)} to draw, not less than the {fmt_ml(protocol.drug.bag_ml)} bag"
                    )
                s = Session(
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
        sessions.append(s)

    if not_drafted:
        draft.add("DOSE-NOT-DRAFTED", "review", "The arithmetic gives no dose above 0 mg: none is drafted.", not_drafted)
    if too_much:
        # The bag's final volume cannot hold the drawn volume: the stock is too dilute for this dose.
        draft.add(
            "DRAW-EXCEEDS-BAG",
            "review",
            "The volume to draw does not fit in the bag: check the protocol's stock and bag.",
            too_much,
        )
    if capped:
        draft.add("DOSE-CAPPED", "note", "A cap lowered the dose: the lower dose wins.", capped)
    if chosen_words:
        draft.add(
            "TITRATION-CHOSEN",
            "note",
            "Several titrate rules apply: the lowest dose is used; the others are not used.",
            list(chosen_words),
        )
    if escalations:
        draft.add("DOSE-ESCALATION", "note", "The dose per kg rises between sessions; confirm each previous dose was tolerated.", escalations)
    return dosing, tuple(sessions)


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
