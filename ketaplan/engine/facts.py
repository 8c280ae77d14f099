"""What the patient file says, matched once against the vocabulary, for every rule to ask."""

from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple

from ketaplan.model.patient import Condition, Medication, Patient


def _suspect(named) -> bool:
    """The name mixes scripts or hides an invisible character: a person must look at it, and it is
    never taken as matched."""
    return named.mixed_script or named.hidden


class NamedCondition(NamedTuple):
    """A name from the patient file, as the vocabulary matched it."""

    condition: Condition
    match: Any  # ConditionMatch
    mixed_script: bool
    hidden: bool = False  # an invisible character (zero-width, direction mark) in the name
    suspect = property(_suspect)

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
    suspect = property(_suspect)

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
    suspect = property(_suspect)

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


def gather(patient: Patient, start: date, vocabulary) -> Facts:
    from ketaplan.vocabulary import mixes_scripts
    from ketaplan.vocabulary.matcher import hides_characters

    def suspicion(name: str) -> tuple[bool, bool]:
        return mixes_scripts(name), hides_characters(name)

    conditions = None
    if patient.conditions is not None:
        conditions = tuple(
            NamedCondition(
                c,
                vocabulary.match_condition(c.name, c.code)
                if c.snomed is None
                else vocabulary.match_condition(c.name, c.code, c.snomed),
                *suspicion(c.name),
            )
            for c in patient.conditions
        )
    medications = None
    if patient.medications is not None:
        medications = tuple(_medication(m, vocabulary, *suspicion(m.text)) for m in patient.medications)
    allergies = None
    if patient.allergies is not None:
        allergies = tuple(NamedAllergy(a, vocabulary.match_allergy(a), *suspicion(a)) for a in patient.allergies)
    return Facts(patient, start, vocabulary, conditions, medications, allergies)


def _medication(m: Medication, vocabulary, mixed_script: bool, hidden: bool) -> NamedMedication:
    match, others = vocabulary.match_medication_parts(m.text)
    return NamedMedication(m, match, mixed_script, hidden, others)
