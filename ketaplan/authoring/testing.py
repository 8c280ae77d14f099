"""`ketaplan protocol test`: run a protocol's own [[test]] cases through the engine, expected against actual."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, time
from fractions import Fraction

from ketaplan.errors import InputError
from ketaplan.load.protocol import LoadedProtocol
from ketaplan.model.plan import Plan
from ketaplan.model.protocol import TestCase

LABELS = {
    "verdict": "verdict",
    "findings": "findings",
    "findings_exact": "exactly",
    "first_dose_mg": "first dose",
    "dates": "dates",
    "doses_mg": "doses",
    "numbers": "numbers",
}


@dataclass(frozen=True, slots=True)
class Check:
    """One aspect of a case: what the protocol's author expected and what the engine drafted."""

    aspect: str
    expected: str  # "" when the case does not check this aspect
    actual: str
    ok: bool


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: TestCase
    checks: tuple[Check, ...] = ()
    error: str | None = None  # the plan could not be drafted

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.ok for c in self.checks)


def run_protocol_test(path: str) -> int:
    """Exit 0 when every case passes (or there are none), 1 when any fails; the last line is "N passed, N failed"."""
    from ketaplan.load.protocol import load_protocol_file

    loaded = load_protocol_file(path)
    results = run_cases(loaded)
    if not results:
        print(
            f"note: {loaded.name} has no [[test]] cases: add some, so that every change to the rules is "
            "checked against the clinic's own examples (the starter from `ketaplan init` ends with some)",
            file=sys.stderr,
        )
    from ketaplan.authoring import printable

    sys.stdout.write(printable(report(results, loaded)))
    return 1 if any(not r.passed for r in results) else 0


def run_cases(loaded: LoadedProtocol) -> list[CaseResult]:
    from ketaplan.api import holiday_provider

    provider, version = holiday_provider(loaded)
    return [run_case(case, loaded, provider, version) for case in loaded.protocol.tests]


def run_case(case: TestCase, loaded: LoadedProtocol, holidays=None, holidays_version=None) -> CaseResult:
    """Draft the case's plan and compare it with what the case expects."""
    from ketaplan.engine.course import SeriesNotContinuable
    from ketaplan.engine.plan import Inputs, build_plan, continue_series

    # "Now" is the case's own start date, so a case gives the same result whenever it is run
    # (no START-IN-PAST note appears as the calendar moves on).
    inputs = Inputs(
        start=case.start,
        now=datetime.combine(case.start, time(0), tzinfo=UTC),
        protocol_sha256=loaded.sha256,
        holidays=holidays,
        holidays_version=holidays_version,
        protocol_file=loaded.name,
    )
    try:
        # `course = true`: continue the patient's current series, as `ketaplan course` does.
        engine = continue_series if case.expect.get("course") else build_plan
        plan = engine(case.patient, loaded.protocol, inputs)
    except InputError as exc:
        return CaseResult(case, error=f"{exc.field}: {exc.message}" if exc.field else exc.message)
    except SeriesNotContinuable as exc:
        return CaseResult(case, error=str(exc))
    return CaseResult(case, compare(case.expect, plan))


def compare(expect: dict, plan: Plan) -> tuple[Check, ...]:
    """Every aspect, expected against actual; an aspect the case does not give always passes."""
    from ketaplan.units import fmt_mg

    ids = [f.rule for f in plan.findings]
    wanted_verdict = expect.get("verdict", plan.verdict)
    checks = [Check("verdict", expect.get("verdict", ""), plan.verdict, wanted_verdict == plan.verdict)]

    found = ", ".join(f"{f.rule} [{f.effect}]" for f in plan.findings) or "none"
    if "findings" in expect:
        missing = [i for i in expect["findings"] if i not in ids]
        actual = found + (f"  (missing: {', '.join(missing)})" if missing else "")
        checks.append(Check("findings", "include " + ", ".join(expect["findings"]), actual, not missing))
    else:
        checks.append(Check("findings", "", found, True))
    if "findings_exact" in expect:
        wanted = list(expect["findings_exact"])
        missing = [i for i in wanted if i not in ids]
        extra = [i for i in ids if i not in wanted]
        notes = [f"missing: {', '.join(missing)}"] * bool(missing) + [f"not expected: {', '.join(extra)}"] * bool(extra)
        actual = (", ".join(ids) or "none") + (f"  ({'; '.join(notes)})" if notes else "")
        ok = sorted(wanted) == sorted(ids)
        checks.append(Check("findings_exact", ", ".join(wanted) or "none", actual, ok))

    first = plan.first_dose_mg
    if first is None:
        why = plan.sessions[0].not_drafted_because if plan.sessions else "excluded"
        shown = f"none (no dose drafted{': ' + why if why else ''})"
    else:
        shown = fmt_mg(first)
    if "first_dose_mg" in expect:
        wanted = expect["first_dose_mg"]
        expected = "none" if wanted is None else fmt_mg(wanted)
        ok = first is None if wanted is None else (first is not None and Fraction(first) == Fraction(wanted))
        checks.append(Check("first_dose_mg", expected, shown, ok))
    else:
        checks.append(Check("first_dose_mg", "", shown, True))

    if "doses_mg" in expect:
        wanted = list(expect["doses_mg"])
        doses = [s.dose_mg for s in plan.sessions]
        show = lambda xs: ", ".join("none" if x is None else fmt_mg(x) for x in xs) or "none"  # noqa: E731
        checks.append(Check("doses_mg", show(wanted), show(doses), wanted == doses))
    if "numbers" in expect:
        wanted = list(expect["numbers"])
        numbers = [s.number for s in plan.sessions]
        show = lambda xs: ", ".join(str(x) for x in xs) or "none"  # noqa: E731
        checks.append(Check("numbers", show(wanted), show(numbers), wanted == numbers))

    dates = [s.date for s in plan.sessions]
    shown_dates = ", ".join(d.isoformat() for d in dates) or "none"
    if "dates" in expect:
        wanted_dates = list(expect["dates"])
        expected = ", ".join(d.isoformat() for d in wanted_dates) or "none"
        checks.append(Check("dates", expected, shown_dates, wanted_dates == dates))
    else:
        checks.append(Check("dates", "", shown_dates, True))
    return tuple(checks)


def report(results: list[CaseResult], loaded: LoadedProtocol) -> str:
    """One line per case; for a failing case, every aspect expected against actual; then "N passed, N failed"."""
    from ketaplan.load.positions import locate

    lines = []
    total = len(results)
    for number, result in enumerate(results, start=1):
        case = result.case
        if result.passed:
            lines.append(f"ok    {number}/{total} {case.name}")
            continue
        pos = locate(loaded.text, ("test", case.index))
        where = f"{loaded.name}:{pos.line}" if pos is not None else loaded.name
        lines.append(f"FAIL  {number}/{total} {case.name}  ({where})")
        if result.error is not None:
            lines.append(f"      the plan could not be drafted: {result.error}")
            continue
        for check in result.checks:
            mark = "x" if not check.ok else " "
            label = LABELS[check.aspect]
            lines.append(f"    {mark} {label:<11} expected: {check.expected or '(not checked)'}")
            lines.append(f"      {'':<11} actual:   {check.actual}")
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} passed, {total - passed} failed")
    return "\n".join(lines) + "\n"
