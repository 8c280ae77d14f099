"""Reading protocol files (TOML, format v1) into validated Protocol values; rules stay data."""

import re
from fractions import Fraction
from typing import Any, NamedTuple

from ketaplan.errors import ProtocolError

# The format's keys, ranges and patterns: ketaplan/formats.py (the schema reads them there too).
from ketaplan.formats import (  # noqa: E402,F401 - re-exported: the schema, lint and tests read them here
    CHECKLIST_KEYS,
    DOSE_FACTOR_MAX,
    DOSE_KEYS,
    DOSE_UPPER,
    DRUG_KEYS,
    EFFECT_FIELDS,
    EXPECT_KEYS,
    INT_RANGES,
    LIMITS,
    MAX_WHEN_DEPTH,
    MISSING_FIELDS,
    PHASE_KEYS,
    PROTOCOL_ID,
    PROTOCOL_KEYS,
    REGION,
    RULE_ID,
    RULE_KEYS,
    SCHEDULE_KEYS,
    SCORE_RANGES,
    SEXES,
    TEST_KEYS,
    TOP_KEYS,
    VOCABULARY_KEYS,
    WHEN_INT_KEYS,
    WHEN_KEYS,
    WHEN_NAME_KEYS,
    WHEN_NUMBER_KEYS,
)
from ketaplan.load.course_protocol import COURSE_WHEN_KEYS
from ketaplan.load.reader import (
    Source,
    Table,
    check_int,
    check_number,
    decode,
    parse_toml,
    read_input_file,
    sha256_hex,
    type_name,
)
from ketaplan.model.plan import BUILTIN_IDS, VERDICTS
from ketaplan.model.protocol import (
    EFFECTS,
    STAGES,
    WEEKDAYS,
    WEIGHT_BASES,
    Clause,
    Dose,
    Drug,
    Phase,
    Protocol,
    Rule,
    Schedule,
    TestCase,
    When,
)


class LoadedProtocol(NamedTuple):
    protocol: Protocol
    sha256: str
    name: str
    text: str


#: `protocol check` reports at most this many load errors from one file.
MAX_ERRORS = 20


def load_protocol_file(path: str) -> LoadedProtocol:
    return read_protocol_bytes(read_input_file(path, ProtocolError, "protocol"), path)


def read_protocol_bytes(data: bytes, name: str) -> LoadedProtocol:
    text = decode(data, name, ProtocolError)
    document = parse_toml(text, name, ProtocolError)
    protocol = protocol_from_table(document, Source(name, text, ProtocolError))
    if protocol is None:  # only when collecting errors (src.errors), which this source does not
        raise ProtocolError("is not a valid protocol", file=name)
    return LoadedProtocol(protocol, sha256_hex(data), name, text)


def check_protocol_file(path: str) -> tuple[LoadedProtocol | None, list[ProtocolError]]:
    """For `protocol check`: the loaded protocol, or every load error found (up to MAX_ERRORS), in file order.

    The same loader as load_protocol_file, asked to go on after an error: each part of the file (a
    top-level table, each [[rule]], [[schedule.phase]] and [[test]]) is checked on its own. A file that
    cannot be read or parsed as TOML gives its one error."""
    try:
        data = read_input_file(path, ProtocolError, "protocol")
    except ProtocolError as exc:
        return None, [exc]
    return check_protocol_bytes(data, path)


def check_protocol_bytes(data: bytes, name: str) -> tuple[LoadedProtocol | None, list[ProtocolError]]:
    try:
        text = decode(data, name, ProtocolError)
        document = parse_toml(text, name, ProtocolError)
    except ProtocolError as exc:
        return None, [exc]
    errors: list = []
    protocol = protocol_from_table(document, Source(name, text, ProtocolError, errors=errors))
    if errors:
        found = errors[:MAX_ERRORS]
        return None, sorted(found, key=lambda e: (e.line is None, e.line or 0, e.column or 0))
    assert protocol is not None
    return LoadedProtocol(protocol, sha256_hex(data), name, text), []


class _Failed:
    def __repr__(self) -> str:
        return "FAILED"


#: What a part of the file that failed gives in place of its value (when errors are collected).
FAILED: Any = _Failed()


class _TooMany(Exception):
    pass


class _Parts:
    """Runs each part of the file: without a list of errors, the first error raises (plan); with one
    (src.errors), a part's error is recorded and the next part is checked. A part that needs the value
    of one that failed is skipped, so that no error is only a consequence of another."""

    def __init__(self, src: Source) -> None:
        self.errors = src.errors

    def run(self, check, *args):
        if self.errors is None:
            return check(*args)
        if any(a is FAILED for a in args):
            return FAILED
        try:
            return check(*args)
        except ProtocolError as exc:
            self.errors.append(exc)
            if len(self.errors) >= MAX_ERRORS:
                raise _TooMany from None
            return FAILED


def protocol_from_table(data: Any, src: Source) -> Protocol | None:
    """A validated Protocol. The first error raises; with src.errors (a list) every error found is
    added to it instead, and None is returned if there are any (see check_protocol_file)."""
    parts = _Parts(src)
    try:
        protocol = _protocol(data, src, parts)
    except _TooMany:
        return None
    return None if src.errors else protocol


def _protocol(data: Any, src: Source, parts: _Parts) -> Protocol | None:
    if src.errors is not None:
        # Every unknown top-level key is an error of its own; the known tables are still checked.
        parts.run(Table, src, (), data, TOP_KEYS, "protocol")
        data = {k: v for k, v in data.items() if k in TOP_KEYS}
    top = Table(src, (), data, TOP_KEYS, what="protocol")

    head = parts.run(_head, top)
    vocabulary = parts.run(_vocabulary, top, src)
    indications = parts.run(_indications, head, vocabulary)
    drug = parts.run(_drug, top, vocabulary)
    dose = parts.run(_dose, top)
    schedule = _schedule(top, dose, src, parts)
    lists = parts.run(_checklist, top)
    rules = _rules(top, vocabulary, dose, parts)
    tests = _tests(top, src, parts)
    course = parts.run(_course, top)
    if src.errors:
        return None
    protocol_id, title, version, indication, approved_by, review_due, sources = head[1:]
    protocol = Protocol(
        id=protocol_id,
        title=title,
        version=version,
        drug=drug,
        dose=dose,
        schedule=schedule,
        rules=tuple(rules),
        checklist_pre=lists["pre"],
        checklist_during=lists["during"],
        checklist_after=lists["after"],
        indication=indication,
        indications=tuple(indications),
        approved_by=approved_by,
        review_due=review_due,
        sources=sources,
        vocabulary=vocabulary,
    )
    if tests:
        protocol = protocol._replace(tests=tests)
    if course is not None:
        protocol = protocol._replace(course=course)
    return protocol


def _course(top: Table):
    """The [course] table (spec/course.md); None when absent (the defaults)."""
    if "course" not in top:
        return None
    from ketaplan.load.course_protocol import course_settings

    return course_settings(top)


def _head(top: Table) -> tuple:
    head = top.table("protocol", PROTOCOL_KEYS, required=True)
    protocol_id = head.text("id", required=True, pattern=PROTOCOL_ID, hint="lowercase letters, digits and -")
    title = head.text("title", required=True)
    version = head.text("version", required=True)
    indication = head.text("indication")
    approved_by = head.text("approved_by")
    review_due = head.day("review_due")
    sources = head.texts("sources") or ()
    return head, protocol_id, title, version, indication, approved_by, review_due, sources


def _vocabulary(top: Table, src: Source):
    from ketaplan.vocabulary import Vocabulary, VocabularyError

    # The protocol's own vocabulary first: its names may be used by everything below.
    vocabulary = Vocabulary.builtin()
    extra = top.table("vocabulary", VOCABULARY_KEYS)
    if extra is not None:
        added: dict[str, dict[str, tuple[str, ...]]] = {"conditions": {}, "drugs": {}}
        for kind in VOCABULARY_KEYS:
            raw = extra.data.get(kind)
            if raw is None:
                continue
            names = Table(src, extra.path + (kind,), raw, tuple(raw) if isinstance(raw, dict) else (), "table")
            added[kind] = {key: names.texts(key, required=True) for key in raw}
        try:
            vocabulary = vocabulary.extend(added["conditions"], added["drugs"])
        except VocabularyError as exc:
            key = getattr(exc, "key", None)
            kind = "drugs" if key in added["drugs"] else "conditions"
            extra.fail((kind, key) if key else (kind,), exc.message)
    return vocabulary


def _indications(head: tuple, vocabulary) -> tuple[str, ...]:
    table: Table = head[0]  # _head's [protocol] table
    indications = table.texts("indications") or ()
    for i, name in enumerate(indications):
        if not vocabulary.is_condition_term(name):
            table.fail(("indications", i), _unknown_name(name, "condition", vocabulary))
    return indications


def _drug(top: Table, vocabulary) -> Drug:
    from ketaplan import units

    drug_t = top.table("drug", DRUG_KEYS, required=True)
    drug_name = drug_t.text("name", required=True)
    if not vocabulary.is_drug_term(drug_name):
        drug_t.fail("name", _unknown_name(drug_name, "drug", vocabulary))
    if "bag" in drug_t and "final_concentration" in drug_t:
        drug_t.fail("final_concentration", "give at most one of 'bag' and 'final_concentration'")
    drug = Drug(
        name=drug_name,
        route=drug_t.text("route"),
        stock_mg_per_ml=_quantity(drug_t, "stock", units.parse_concentration, units),
        bag_ml=_quantity(drug_t, "bag", units.parse_volume_ml, units),
        final_mg_per_ml=_quantity(drug_t, "final_concentration", units.parse_concentration, units),
    )
    if drug.final_mg_per_ml is not None and drug.stock_mg_per_ml is not None and drug.final_mg_per_ml > drug.stock_mg_per_ml:
        drug_t.fail("final_concentration", "is stronger than the stock it is diluted from: check both")
    return drug


def _dose(top: Table) -> Dose:
    from ketaplan import units

    dose_t = top.table("dose", DOSE_KEYS, required=True)
    if ("mg_per_kg" in dose_t) == ("mg_per_kg_per_hour" in dose_t):
        dose_t.fail(
            "mg_per_kg_per_hour" if "mg_per_kg_per_hour" in dose_t else "mg_per_kg",
            "give exactly one of 'mg_per_kg' (per session) and 'mg_per_kg_per_hour' (an hourly rate)",
        )
    mode = "mg_per_kg" if "mg_per_kg" in dose_t else "mg_per_kg_per_hour"
    amount = dose_t.number(mode, gt=0, le=DOSE_UPPER[mode], required=True)  # present: exactly one is
    duration = _quantity(dose_t, "duration", units.parse_duration_min, units, required=True)
    round_to = dose_t.number("round_to", gt=0) or Fraction(1)
    max_mg = dose_t.number("max_mg", gt=0, required=True)
    _multiple_of(dose_t, "max_mg", max_mg, round_to)
    max_mg_per_hour = None
    if mode == "mg_per_kg_per_hour":
        max_mg_per_hour = dose_t.number("max_mg_per_hour", gt=0, required=True)
        _multiple_of(dose_t, "max_mg_per_hour", max_mg_per_hour, round_to)
    elif "max_mg_per_hour" in dose_t:
        dose_t.fail("max_mg_per_hour", "is only for rate protocols (mg_per_kg_per_hour)")
    dose = Dose(
        mode=mode,
        amount=amount,
        duration_min=duration,
        weight_basis=dose_t.choice("weight_basis", WEIGHT_BASES) or "actual",
        max_mg=max_mg,
        max_mg_per_hour=max_mg_per_hour,
        round_to=round_to,
        weight_valid_days=dose_t.integer("weight_valid_days", *INT_RANGES["dose.weight_valid_days"]),
    )
    return dose


def _checklist(top: Table) -> dict[str, tuple[str, ...]]:
    checklist = top.table("checklist", CHECKLIST_KEYS)
    return {stage: (checklist.texts(stage) or ()) if checklist else () for stage in STAGES}


def _listed(items) -> list:
    return [] if items is FAILED else items


def _items(top: Table, key: str) -> list:
    """The items of an array of tables ([[key]]), each to be checked as a part of its own."""
    value = top.data.get(key, [])
    if not isinstance(value, list):
        top.fail(key, f"expected [[{key}]] tables, found {type_name(value)}")
    return value


def _rules(top: Table, vocabulary, dose, parts: _Parts) -> list[Rule]:
    # With a failed [dose], rules are still checked (dose None), less what needs the dose.
    dose = None if dose is FAILED else dose
    rules = []
    seen: dict[str, int] = {}
    for i, item in enumerate(_listed(parts.run(_items, top, "rule"))):
        rule = parts.run(_one_rule, top, i, item, vocabulary, dose, seen)
        if rule is not FAILED:
            rules.append(rule)
    return rules


def _one_rule(top: Table, i: int, item: Any, vocabulary, dose: Dose | None, seen: dict[str, int]) -> Rule:
    rt = Table(top.src, ("rule", i), item, RULE_KEYS)
    rule = _rule(rt, vocabulary, dose)
    if rule.id in seen:
        rt.fail("id", f"{rule.id!r} is used by rule {seen[rule.id] + 1} already: rule ids must be unique")
    seen[rule.id] = i
    return rule


def _tests(top: Table, src: Source, parts: _Parts) -> tuple[TestCase, ...]:
    tests = []
    for i, item in enumerate(_listed(parts.run(_items, top, "test"))):
        case = parts.run(_one_test, top, i, item, src)
        if case is not FAILED:
            tests.append(case)
    return tuple(tests)


def _one_test(top: Table, i: int, item: Any, src: Source) -> TestCase:
    return _test(Table(src, ("test", i), item, TEST_KEYS), i, src)


def _unknown_name(name: str, kind: str, vocabulary) -> str:
    from ketaplan.vocabulary import mixes_scripts

    if mixes_scripts(name):
        return f"{name!r} mixes letters from different scripts (a look-alike character?): retype it"
    from ketaplan.vocabulary.matcher import hides_characters

    if hides_characters(name):
        return f"{name!r} contains an invisible character (zero-width or direction mark): retype it"
    return (
        f"{name!r} is not a {kind} name or group in the vocabulary "
        f"(see `ketaplan vocab`, or add it under [vocabulary])"
    )


def _quantity(t: Table, key: str, parse, units, *, required: bool = False):
    if key not in t:
        if required:
            t.require(key)
        return None
    try:
        return parse(t.data[key])
    except units.QuantityError as exc:
        t.fail(key, str(exc))


def _multiple_of(t: Table, key: str, value: Fraction, step: Fraction) -> None:
    if value % step:
        from ketaplan.units import fmt_number

        t.fail(key, f"{fmt_number(value, 6)} is not a multiple of round_to ({fmt_number(step, 6)} mg)")


def _weekdays(t: Table, key: str) -> frozenset[int] | None:
    names = t.texts(key)
    if names is None:
        return None
    if not names:
        t.fail(key, "is empty: give at least one weekday, e.g. [\"tue\", \"fri\"]")
    days = set()
    for i, name in enumerate(names):
        if name.lower() not in WEEKDAYS:
            t.fail((key, i), f"{name!r} is not a weekday: use {', '.join(WEEKDAYS)}")
        days.add(WEEKDAYS.index(name.lower()))
    return frozenset(days)


def _schedule(top: Table, dose, src: Source, parts: _Parts) -> Schedule:
    """The schedule table and each [[schedule.phase]], checked as parts of their own."""
    # With a failed [dose], its mode as written (when it is clear) still checks the phases' amounts.
    mode = _mode_as_written(top) if dose is FAILED else dose.mode
    base = parts.run(_schedule_table, top, src)
    phases = []
    names: set[str] = set()
    for i, item in enumerate(base[1] if base is not FAILED else ()):
        phase = parts.run(_phase, base[0], i, item, mode, names, src)
        if phase is not FAILED:
            phases.append(phase)
    if base is FAILED:
        return FAILED
    st, _, days, region, closed, timezone, observation = base
    return Schedule(
        days=days,
        holidays=region,
        closed=frozenset(closed),
        phases=tuple(phases),
        timezone=timezone or DEFAULT_TIMEZONE,
        observation_min=observation,
    )


def _mode_as_written(top: Table) -> str | None:
    raw = top.data.get("dose")
    if not isinstance(raw, dict) or ("mg_per_kg" in raw) == ("mg_per_kg_per_hour" in raw):
        return None
    return "mg_per_kg" if "mg_per_kg" in raw else "mg_per_kg_per_hour"


def _schedule_table(top: Table, src: Source) -> tuple:
    st = top.table("schedule", SCHEDULE_KEYS, required=True)
    days = _weekdays(st, "days") or frozenset(range(5))
    region = st.text("holidays")
    if region is not None:
        from ketaplan.calendar import region_problem

        problem = region_problem(region)
        if problem:
            st.fail("holidays", problem)
    timezone = st.text("timezone")
    if timezone is not None:
        problem = timezone_problem(timezone)
        if problem:
            st.fail("timezone", problem)
    from ketaplan import units

    observation = _quantity(st, "observation", units.parse_duration_min, units)
    closed = set()
    if "closed" in st:
        value = st.data["closed"]
        if not isinstance(value, list):
            st.fail("closed", f"expected a list of dates, found {type_name(value)}")
        from ketaplan.load.reader import check_date

        for i, item in enumerate(value):
            closed.add(check_date(src, st.path + ("closed", i), item))
    if "phase" in st and not isinstance(st.data["phase"], list):
        st.fail("phase", f"expected [[phase]] tables, found {type_name(st.data['phase'])}")
    phase_items = st.data.get("phase") or []
    if not phase_items:
        st.fail("phase", "at least one [[schedule.phase]] is required")
    return st, phase_items, days, region, closed, timezone, observation


DEFAULT_TIMEZONE = "Europe/London"


def timezone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone ("Europe/London"), or None when it is one."""
    import re

    hint = 'use an IANA time zone name such as "Europe/London" or "America/New_York"'
    # A key is a relative path of plain segments: nothing that could climb out of the zone folder.
    from ketaplan.formats import LONGEST_TIMEZONE, TIMEZONE

    if not re.fullmatch(TIMEZONE, name) or len(name) > LONGEST_TIMEZONE:
        return f"{name!r} is not a time zone name: {hint}"
    # A zone found once is remembered in the cache: zoneinfo is not imported on the drafting path.
    import sys

    from ketaplan.cache import read_json, write_json

    key = f"timezone-{name.replace('/', '~')}-py{sys.version_info[0]}.{sys.version_info[1]}.json"
    source = {"timezone": name, "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    if read_json(key, source) == name:
        return None
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"{name!r} is not a known time zone: {hint}"
    write_json(key, source, name)
    return None


def _phase(st: Table, index: int, item: Any, mode: str | None, names: set[str], src: Source) -> Phase:
    """One [[schedule.phase]]. `mode` is None when [dose] failed to say it: the amounts are then not checked."""
    pt = Table(src, st.path + ("phase", index), item, PHASE_KEYS)
    name = pt.text("name", required=True)
    if name in names:
        pt.fail("name", f"phase {name!r} is named twice")
    names.add(name)
    sessions = pt.integer("sessions", *INT_RANGES["phase.sessions"], required=True)
    other = "mg_per_kg_per_hour" if mode == "mg_per_kg" else "mg_per_kg"
    upper = DOSE_UPPER.get(mode) if mode is not None else None
    if mode is not None and other in pt:
        pt.fail(other, f"this protocol doses by {mode}: use that key")
    amounts = None
    if mode is not None and mode in pt:
        raw = pt.data[mode]
        if isinstance(raw, list):
            if len(raw) != sessions:
                pt.fail(mode, f"has {len(raw)} items; the phase has {sessions} sessions")
            amounts = tuple(
                check_number(src, pt.path + (mode, i), v, gt=0, le=upper) for i, v in enumerate(raw)
            )
        else:
            amounts = (pt.number(mode, gt=0, le=upper, required=True),) * sessions
    return Phase(
        name=name,
        sessions=sessions,
        min_gap_days=pt.integer("min_gap_days", *INT_RANGES["phase.min_gap_days"], required=True),
        within_days=pt.integer("within_days", *INT_RANGES["phase.within_days"]),
        amounts=amounts,
        days=_weekdays(pt, "days"),
    )


def _rule(rt: Table, vocabulary, dose: Dose | None) -> Rule:
    """One rule. `dose` is None when [dose] has an error (`protocol check` goes on): what needs it is skipped."""
    rule_id = rt.text("id", required=True, pattern=RULE_ID, hint="capital letters, digits and -, e.g. EXCL-PSYCHOSIS")
    if rule_id in BUILTIN_IDS:
        rt.fail("id", f"{rule_id!r} is reserved for a finding ketaplan adds itself")
    effect = rt.choice("effect", EFFECTS, required=True)
    message = rt.text("message", required=True)
    for other, fields in EFFECT_FIELDS.items():
        if other != effect:
            for key in fields:
                if key in rt:
                    rt.fail(key, f"is only for {other} rules; this rule's effect is {effect}")
    when = None
    if "when" in rt:
        when = _when(rt.src, rt.path + ("when",), rt.data["when"], vocabulary)
    dose_factor = weight_basis = max_mg = hold = stage = item = titrate = None
    if effect == "adjust":
        dose_factor = rt.number("dose_factor", gt=0, le=DOSE_FACTOR_MAX)
        weight_basis = rt.choice("weight_basis", WEIGHT_BASES)
        max_mg = rt.number("max_mg", gt=0)
        if max_mg is not None and dose is not None:
            _multiple_of(rt, "max_mg", max_mg, dose.round_to)
        if dose_factor is None and weight_basis is None and max_mg is None:
            rt.fail("effect", "an adjust rule needs at least one of dose_factor, weight_basis, max_mg")
    elif effect == "hold":
        hold = rt.text("hold", required=True)
        if when is None or not _names_key(when, "medication"):
            rt.fail("when" if when else "effect", "a hold rule's `when` must name medications (medication = [...])")
    elif effect == "check":
        stage = rt.choice("stage", STAGES, required=True)
        item = rt.text("item", required=True)
    elif effect == "titrate":
        from ketaplan.load.course_protocol import titrate_amount

        titrate = titrate_amount(rt, dose) if dose is not None else None
    return Rule(
        id=rule_id,
        effect=effect,
        when=when,
        message=message,
        source=rt.text("source"),
        dose_factor=dose_factor,
        weight_basis=weight_basis,
        max_mg=max_mg,
        hold=hold,
        stage=stage,
        item=item,
        titrate=titrate,
    )


def _names_key(when: When, key: str) -> bool:
    for clause in when.clauses:
        if clause.key == key:
            return True
        if clause.key == "any" and any(_names_key(w, key) for w in clause.value):
            return True
    return False


def _when(src: Source, path, data: Any, vocabulary, depth: int = 0) -> When:
    from ketaplan import units

    if depth > MAX_WHEN_DEPTH:
        src.fail(path, f"`when` is nested more than {MAX_WHEN_DEPTH} levels deep")
    t = Table(src, path, data, WHEN_KEYS, what="`when` table, e.g. { age_at_least = 65 }")
    if not data:
        # An empty table would hold for every patient with no evidence: a rule left half-written.
        src.fail(
            path, "an empty `when` tests nothing: give a condition, or leave `when` out for a rule that always applies"
        )
    clauses = []
    for key, value in data.items():
        p = path + (key,)
        if key in WHEN_INT_KEYS:
            lo, hi = WHEN_INT_KEYS[key]
            clauses.append(Clause(key, check_int(src, p, value, lo, hi)))
        elif key in WHEN_NUMBER_KEYS:
            lo, hi = WHEN_NUMBER_KEYS[key]
            clauses.append(Clause(key, check_number(src, p, value, ge=lo, le=hi)))
        elif key == "sex":
            clauses.append(Clause(key, t.choice(key, SEXES)))
        elif key in ("pregnant", "breastfeeding"):
            if value not in (True, False, "unknown") or not isinstance(value, (bool, str)):
                src.fail(p, f'expected true, false or "unknown", found {value!r}')
            clauses.append(Clause(key, value))
        elif key in WHEN_NAME_KEYS:
            names = t.texts(key)
            if not names:
                src.fail(p, "give at least one name")
            check = {
                "condition": (vocabulary.is_condition_term, "condition"),
                "active_condition": (vocabulary.is_condition_term, "condition"),
                "medication": (vocabulary.is_drug_term, "drug"),
                "allergy": (vocabulary.is_allergy_term, "allergy"),
            }[key]
            for i, name in enumerate(names):
                if not check[0](name):
                    src.fail(p + (i,), _unknown_name(name, check[1], vocabulary))
            clauses.append(Clause(key, names))
        elif key == "blood_pressure_at_least":
            try:
                systolic, diastolic = units.parse_blood_pressure(value)
            except units.QuantityError as exc:
                src.fail(p, str(exc))
            for name, reading in (("systolic", systolic), ("diastolic", diastolic)):
                lo, hi = LIMITS[name]
                if not lo <= reading <= hi:
                    src.fail(p, f"{name} {reading} mmHg is outside {lo}..{hi}, the limits of a patient's blood pressure")
            if diastolic >= systolic:
                src.fail(p, f"diastolic {diastolic} must be below systolic {systolic}")
            clauses.append(Clause(key, (systolic, diastolic)))
        elif key in ("score_at_least", "score_below"):
            st = Table(src, p, value, tuple(SCORE_RANGES), what="table of scores, e.g. { phq9 = 20 }")
            if not value:
                src.fail(p, "give at least one score, e.g. { phq9 = 20 }")
            bounds = tuple((name, st.integer(name, lo, hi)) for name, (lo, hi) in SCORE_RANGES.items() if name in st)
            clauses.append(Clause(key, bounds))
        elif key == "missing":
            names = t.texts(key)
            if not names:
                src.fail(p, "give at least one field name")
            for i, name in enumerate(names):
                if name not in MISSING_FIELDS:
                    hint = (
                        ' (test pregnancy with pregnant = "unknown")' if name in ("pregnant", "breastfeeding") else ""
                    )
                    src.fail(p + (i,), f"{name!r} cannot be tested with `missing`{hint}; use one of: {', '.join(MISSING_FIELDS)}")
            clauses.append(Clause(key, names))
        elif key == "any":
            if not isinstance(value, list):
                src.fail(p, f"expected a list of `when` tables, found {type_name(value)}")
            if not value:
                src.fail(p, "an empty `any` can never hold: give at least one `when` table")
            clauses.append(Clause(key, tuple(_when(src, p + (i,), v, vocabulary, depth + 1) for i, v in enumerate(value))))
        elif key == "not":
            clauses.append(Clause(key, _when(src, p, value, vocabulary, depth + 1)))
        elif key in COURSE_WHEN_KEYS:
            from ketaplan.load.course_protocol import course_clause

            clauses.append(Clause(*course_clause(src, path, key, value, t)))
    return When(tuple(clauses))


def _test(tt: Table, index: int, src: Source) -> TestCase:
    from ketaplan.load.patient import patient_from_table
    from ketaplan.load.reader import check_date

    name = tt.text("name", required=True)
    start = tt.day("start", required=True)
    raw_patient = tt.require("patient")
    patient = patient_from_table(raw_patient, Source(src.name, src.text, ProtocolError, prefix=tt.path + ("patient",)), start)
    et = tt.table("expect", EXPECT_KEYS, required=True)
    expect: dict[str, Any] = {}
    if "verdict" in et:
        expect["verdict"] = et.choice("verdict", VERDICTS)
    for key in ("findings", "findings_exact"):
        if key in et:
            ids = et.texts(key, required=True)
            for i, rid in enumerate(ids):


                if not re.fullmatch(RULE_ID, rid):
                    et.fail((key, i), f"{rid!r} is not a rule id")
            expect[key] = ids
    if "first_dose_mg" in et:
        value = et.data["first_dose_mg"]
        if value == "none":
            expect["first_dose_mg"] = None
        else:
            expect["first_dose_mg"] = et.number("first_dose_mg", ge=0)
    for key in ("doses_mg", "numbers"):
        if key in et:
            value = et.data[key]
            if not isinstance(value, list):
                et.fail(key, f"expected a list, found {type_name(value)}")
            if key == "numbers":
                lo, hi = INT_RANGES["expect.numbers"]
                expect[key] = tuple(check_int(src, et.path + (key, i), v, lo, hi) for i, v in enumerate(value))
            else:
                expect[key] = tuple(
                    None if v == "none" else check_number(src, et.path + (key, i), v, ge=0) for i, v in enumerate(value)
                )
    if "course" in tt:
        expect["course"] = bool(tt.boolean("course"))
    if "dates" in et:
        value = et.data["dates"]
        if not isinstance(value, list):
            et.fail("dates", f"expected a list of dates, found {type_name(value)}")
        expect["dates"] = tuple(check_date(src, et.path + ("dates", i), d) for i, d in enumerate(value))
    return TestCase(name=name, start=start, patient=patient, expect=expect, index=index)
