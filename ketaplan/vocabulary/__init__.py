"""The built-in vocabulary (vocabulary.toml) and the matcher that recognises names against it."""

from ketaplan.vocabulary.matcher import (
    AllergyMatch,
    ConditionMatch,
    DrugMatch,
    Vocabulary,
    VocabularyError,
    mixes_scripts,
    normalise,
    normalise_icd10,
    normalise_snomed,
)

__all__ = [
    "AllergyMatch",
    "ConditionMatch",
    "DrugMatch",
    "Vocabulary",
    "VocabularyError",
    "mixes_scripts",
    "normalise",
    "normalise_icd10",
    "normalise_snomed",
]
