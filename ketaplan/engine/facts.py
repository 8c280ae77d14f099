"""What the patient file says, matched once against the vocabulary, for every rule to ask."""

from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple

from ketaplan.model.patient import Condition, Medication, Patient


class NamedCondition(NamedTuple):
    """A name from the patient file, as the vocabulary matched it."""

    condition: Condition
    match: Any  # ConditionMatch
    mixed_script: bool
    hidden: bool = False  # an invisible character (zero-width, direction mark) in the name

    @property
    def suspect(self) -> bool:
        """The name mixes scripts or hides an invisible character: a person must look at it, and it is
        never taken as matched."""
        return self.mixed_script or self.hidden

    def describe(self) -> str:
        status = " (history)" if self.condition.status == "history" else ""
        code = f" [{self.condition.code}]" if self.condition.code else ""
        if self.condition.snomed:
            code += f" [SNOMED CT {self.condition.snomed}]"
        return f"condition {self.condition.name!r}{code}{status}"


class NamedMedication(NamedTuple):
    """A name from the patient file, as the vocabulary matched it."""

    medication: Medication
    match: Any  # DrugMatch | None
    mixed_script: bool
    hidden: bool = False
    # Other drugs and classes the entry's free text names ("sertraline 50 mg plus benzodiazepine prn":
    # benzodiazepine). `match` is then the first drug only; rules on the others read it as unknown.
    others: tuple[str, ...] = ()

    @property
    def suspect(self) -> bool:
        """The name mixes scripts or hides an invisible character: a person must look at it, and it is
        never taken as matched."""
        return self.mixed_script or self.hidden

    def describe(self) -> str:
        return f"medication {medication_text(self.medication)!r}"

    def names(self) -> str:
        """The drug and the other names, for an entry naming more than one medicine."""
        return ", ".join((self.match.drug, *self.others))


class NamedAllergy(NamedTuple):
    """A name from the patient file, as the vocabulary matched it."""

    name: str
    match: Any  # AllergyMatch | None
    mixed_script: bool
    hidden: bool = False

    @property
    def suspect(self) -> bool:
        """The name mixes scripts or hides an invisible character: a person must look at it, and it is
        never taken as matched."""
        return self.mixed_script or self.hidden

    def describe(self) -> str:
        return f"allergy {self.name!r}"


def medication_text(m: Medication) -> str:
    parts = [m.text, m.dose, m.schedule, "as needed" if m.as_needed else None]
    return " ".join(p for p in parts if p)


class Facts(NamedTuple):
    patient: Patient
    start: date
    vocabulary: Any
    conditions: tuple[NamedCondition, ...] | None
    medications: tuple[NamedMedication, ...] | None
    allergies: tuple[NamedAllergy, ...] | None
    course: Any = None  # engine.course.CourseFacts: the current series and response (spec/course.md)

    def key(self, term: str) -> str:
        """The vocabulary key a protocol's name matches under (validated when the protocol loaded)."""
        return _term_key(self.vocabulary, term)


@lru_cache(maxsize=8192)
def _term_key(vocabulary, term: str) -> str:
    # A batch asks for the same protocol names for every patient: work each out once per run.
    return vocabulary.term_key(term)


def gather(patient: Patient, start: date, vocabulary, course: Any = None) -> Facts:
    # (tuple.__new__: a NamedTuple's own __new__ is a Python function, twice the time)
    return tuple.__new__(
        Facts,
        (
            patient,
            start,
            vocabulary,
            None if patient.conditions is None else _entries(vocabulary, "c", patient.conditions),
            None if patient.medications is None else _entries(vocabulary, "m", patient.medications),
            None if patient.allergies is None else _entries(vocabulary, "a", patient.allergies),
            course,
        ),
    )


#: The named entries already matched in this run, by vocabulary and entry: a batch repeats the same
#: conditions, medications and allergies thousands of times. The records are immutable.
_NAMED: dict[tuple, Any] = {}
#: The same for a patient's whole list (a tuple of entries, compared by value like each entry):
#: a batch repeats the same lists of conditions and allergies too. The tuples are immutable, and a
#: list given again is the same tuple object, so that what is worked out from it (truth.Lists) can
#: be remembered by it.
_LISTS: dict[tuple, tuple] = {}


def _entries(vocabulary, kind: str, items) -> tuple:
    if type(items) is not tuple:  # (a list, from a caller that built its Patient itself: not remembered)
        return tuple([_named(vocabulary, kind, item) for item in items])
    key = (vocabulary, kind, items)
    found = _LISTS.get(key)
    if found is None:
        if len(_LISTS) >= 10_000:
            _LISTS.clear()
        found = _LISTS[key] = tuple([_named(vocabulary, kind, item) for item in items])
    return found


def _named(vocabulary, kind: str, item):
    key = (vocabulary, kind, item)
    found = _NAMED.get(key)
    if found is None:
        if len(_NAMED) >= 10_000:
            _NAMED.clear()
        found = _NAMED[key] = _match(vocabulary, kind, item)
    return found


def _match(vocabulary, kind: str, item):
    """One entry of the patient file as the vocabulary matches it, with what makes its name suspect."""
    from ketaplan.vocabulary import mixes_scripts
    from ketaplan.vocabulary.matcher import hides_characters

    def suspicion(name: str) -> tuple[bool, bool]:
        return mixes_scripts(name), hides_characters(name)

    if kind == "c":
        c = item
        match = (
            vocabulary.match_condition(c.name, c.code)
            if c.snomed is None
            else vocabulary.match_condition(c.name, c.code, c.snomed)
        )
        return NamedCondition(c, match, *suspicion(c.name))
    if kind == "m":
        return _medication(item, vocabulary, *suspicion(item.text))
    return NamedAllergy(item, vocabulary.match_allergy(item), *suspicion(item))


def _medication(m: Medication, vocabulary, mixed_script: bool, hidden: bool) -> NamedMedication:
    match, others = vocabulary.match_medication_parts(m.text)
    return NamedMedication(m, match, mixed_script, hidden, others)
