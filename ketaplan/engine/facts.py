"""What the patient file says, matched once against the vocabulary, for every rule to ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ketaplan.model.patient import Condition, Medication, Patient


class _Named:
    """A name from the patient file as matched; `suspect` names are never taken as matched."""

    __slots__ = ()

    @property
    def suspect(self) -> bool:
        """The name mixes scripts or hides an invisible character: a person must look at it."""
        return self.mixed_script or self.hidden


@dataclass(frozen=True, slots=True)
class NamedCondition(_Named):
    condition: Condition
    match: Any  # ConditionMatch
    mixed_script: bool
    hidden: bool = False  # an invisible character (zero-width, direction mark) in the name

    def describe(self) -> str:
        status = " (history)" if self.condition.status == "history" else ""
        code = f" [{self.condition.code}]" if self.condition.code else ""
        return f"condition {self.condition.name!r}{code}{status}"


@dataclass(frozen=True, slots=True)
class NamedMedication(_Named):
    medication: Medication
    match: Any  # DrugMatch | None
    mixed_script: bool
    hidden: bool = False

    def describe(self) -> str:
        return f"medication {medication_text(self.medication)!r}"


@dataclass(frozen=True, slots=True)
class NamedAllergy(_Named):
    name: str
    match: Any  # AllergyMatch | None
    mixed_script: bool
    hidden: bool = False

    def describe(self) -> str:
        return f"allergy {self.name!r}"


def medication_text(m: Medication) -> str:
    parts = [m.text, m.dose, m.schedule, "as needed" if m.as_needed else None]
    return " ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Facts:
    patient: Patient
    start: date
    vocabulary: Any
    conditions: tuple[NamedCondition, ...] | None
    medications: tuple[NamedMedication, ...] | None
    allergies: tuple[NamedAllergy, ...] | None

    def key(self, term: str) -> str:
        """The vocabulary key a protocol's name matches under (validated when the protocol loaded)."""
        return self.vocabulary.term_key(term)


def gather(patient: Patient, start: date, vocabulary) -> Facts:
    from ketaplan.vocabulary import mixes_scripts
    from ketaplan.vocabulary.matcher import hides_characters

    def suspicion(name: str) -> tuple[bool, bool]:
        return mixes_scripts(name), hides_characters(name)

    conditions = None
    if patient.conditions is not None:
        conditions = tuple(
            NamedCondition(c, vocabulary.match_condition(c.name, c.code), *suspicion(c.name))
            for c in patient.conditions
        )
    medications = None
    if patient.medications is not None:
        medications = tuple(
            NamedMedication(m, vocabulary.match_medication(m.text), *suspicion(m.text)) for m in patient.medications
        )
    allergies = None
    if patient.allergies is not None:
        allergies = tuple(NamedAllergy(a, vocabulary.match_allergy(a), *suspicion(a)) for a in patient.allergies)
    return Facts(patient, start, vocabulary, conditions, medications, allergies)
