"""What the patient file says, matched once against the vocabulary, for every rule to ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ketaplan.model.patient import Condition, Medication, Patient


@dataclass(frozen=True, slots=True)
class NamedCondition:
    condition: Condition
    match: Any  # ConditionMatch
    mixed_script: bool

    def describe(self) -> str:
        status = " (history)" if self.condition.status == "history" else ""
        code = f" [{self.condition.code}]" if self.condition.code else ""
        return f"condition {self.condition.name!r}{code}{status}"


@dataclass(frozen=True, slots=True)
class NamedMedication:
    medication: Medication
    match: Any  # DrugMatch | None
    mixed_script: bool

    def describe(self) -> str:
        return f"medication {medication_text(self.medication)!r}"


@dataclass(frozen=True, slots=True)
class NamedAllergy:
    name: str
    match: Any  # AllergyMatch | None
    mixed_script: bool

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

    conditions = None
    if patient.conditions is not None:
        conditions = tuple(
            NamedCondition(c, vocabulary.match_condition(c.name, c.code), mixes_scripts(c.name))
            for c in patient.conditions
        )
    medications = None
    if patient.medications is not None:
        medications = tuple(
            NamedMedication(m, vocabulary.match_medication(m.text), mixes_scripts(m.text)) for m in patient.medications
        )
    allergies = None
    if patient.allergies is not None:
        allergies = tuple(NamedAllergy(a, vocabulary.match_allergy(a), mixes_scripts(a)) for a in patient.allergies)
    return Facts(patient, start, vocabulary, conditions, medications, allergies)
