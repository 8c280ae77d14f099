"""Look-alike letters and invisible characters in names: never matched silently, in patients and in protocols.

Decisions (spec/patient.md "Names are matched ... after Unicode NFKC normalisation"):

- Full-width and other compatibility forms (ｌｏｒａｚｅｐａｍ, the ﬂ ligature) are the same letters
  after NFKC: they MATCH. A clinic's record system may export them; they cannot mean another drug.
- A name mixing scripts (a Cyrillic о or a Greek ο among Latin letters) is never matched: in a
  patient it is UNRECOGNISED-* (needs review) with evidence saying it mixes scripts, and every
  rule asking about that list becomes unknown; in a protocol it is a load error.
- An invisible formatting character (zero-width space, joiner or non-joiner, word joiner, a
  byte-order mark, a direction mark or override) anywhere in a name is never stripped to make a
  match: stripping would let hidden text ride along with a known name. The name is unrecognised
  (needs review) in a patient and a load error in a protocol. The soft hyphen stays what the
  matcher already takes it for: a hyphen.
"""

from __future__ import annotations

import pytest

from ketaplan.errors import ProtocolError
from tests.builders import finding, load_patient, load_protocol, plan_for, protocol_text

CYRILLIC_O = "\u043e"
GREEK_OMICRON = "\u03bf"
CYRILLIC_IE = "\u0435"
FULL_WIDTH_LORAZEPAM = "\uff4c\uff4f\uff52\uff41\uff5a\uff45\uff50\uff41\uff4d"

HOLD_BENZO = (
    '[[rule]]\nid = "HOLD-BENZO"\neffect = "hold"\nwhen = { medication = ["benzodiazepine"] }\n'
    'hold = "Omit before each session"\nmessage = "Benzodiazepine."\n'
)
EXCL_PSYCHOSIS = (
    '[[rule]]\nid = "EXCL-PSYCHOSIS"\neffect = "exclude"\nwhen = { condition = ["psychotic disorder"] }\n'
    'message = "Psychosis."\n'
)


def patient_with(*, medications="[]", conditions='["treatment-resistant depression"]', allergies="[]"):
    rest = f"allergies = {allergies}\nconditions = {conditions}\nmedications = {medications}\n"
    rest += 'blood_pressure = "120/80"\n'
    return load_patient(rest=rest)


def toml_list(*names: str) -> str:
    import json

    return "[" + ", ".join(json.dumps(n) for n in names) + "]"


# ------------------------------------------------------------------------------ NFKC: the same letters match


def test_full_width_letters_in_a_medication_match_after_nfkc():
    plan = plan_for(patient_with(medications=toml_list(FULL_WIDTH_LORAZEPAM + " 1 mg")), load_protocol(rest=HOLD_BENZO))
    assert (plan.holds[0].medications, finding(plan, "UNRECOGNISED-MEDICATION")) == (("lorazepam",), None)


def test_full_width_letters_in_a_protocol_rule_name_load_and_match():
    rule = HOLD_BENZO.replace('"benzodiazepine"', f'"{FULL_WIDTH_LORAZEPAM}"')
    plan = plan_for(patient_with(medications='["Ativan 1 mg"]'), load_protocol(rest=rule))
    assert plan.holds[0].medications == ("lorazepam",)


def test_a_ligature_in_a_condition_matches_after_nfkc():
    patient = patient_with(conditions=toml_list("schizophrenia", "\ufb01bromyalgia"))  # the fi ligature
    plan = plan_for(patient, load_protocol(rest=EXCL_PSYCHOSIS))
    assert (plan.verdict, finding(plan, "UNRECOGNISED-CONDITION")) == ("excluded", None)


# ------------------------------------------------------------------------------ mixed scripts: review, never a match


@pytest.mark.parametrize("letter", [CYRILLIC_O, GREEK_OMICRON], ids=["cyrillic-o", "greek-omicron"])
def test_a_look_alike_letter_in_a_medication_is_flagged_for_review_never_matched(letter):
    name = f"l{letter}razepam 1 mg"
    plan = plan_for(patient_with(medications=toml_list(name)), load_protocol(rest=HOLD_BENZO))
    flagged = finding(plan, "UNRECOGNISED-MEDICATION")
    assert flagged.effect == "review"
    assert flagged.evidence == (
        f"medication {name!r} mixes letters from different scripts (a look-alike character?) and is not matched",
    )
    # The hold rule could not be decided: it is listed "to confirm", never silently dropped.
    hold = finding(plan, "HOLD-BENZO")
    assert (hold.effect, plan.holds[0].to_confirm, plan.verdict) == ("review", True, "needs-review")


def test_a_look_alike_letter_in_a_condition_cannot_slip_past_an_exclusion():
    name = f"schiz{CYRILLIC_O}phrenia"
    plan = plan_for(patient_with(conditions=toml_list(name)), load_protocol(rest=EXCL_PSYCHOSIS))
    assert plan.verdict == "needs-review"
    assert finding(plan, "EXCL-PSYCHOSIS").evidence == (
        f"could not be checked: condition {name!r} is not recognised (it mixes letters from different scripts)",
    )
    assert "mixes letters from different scripts" in finding(plan, "UNRECOGNISED-CONDITION").evidence[0]


def test_a_look_alike_letter_in_an_allergy_to_ketamine_is_never_read_as_no_allergy():
    name = f"k{CYRILLIC_IE}tamine"
    plan = plan_for(patient_with(allergies=toml_list(name)), load_protocol())
    effects = (finding(plan, "UNRECOGNISED-ALLERGY").effect, finding(plan, "ALLERGY-TO-PROTOCOL-DRUG").effect)
    assert effects == ("review", "review")
    assert "mixes letters from different scripts" in finding(plan, "UNRECOGNISED-ALLERGY").evidence[0]


@pytest.mark.parametrize(
    ("where", "name", "field"),
    [
        ("medication", f"l{CYRILLIC_O}razepam", "rule[1].when.medication[1]"),
        ("condition", f"psych{GREEK_OMICRON}tic disorder", "rule[1].when.condition[1]"),
        ("allergy", f"k{CYRILLIC_IE}tamine", "rule[1].when.allergy[1]"),
    ],
)
def test_a_look_alike_letter_in_a_protocol_rule_name_is_a_load_error(where, name, field):
    rule = f'[[rule]]\nid = "REV-X"\neffect = "review"\nwhen = {{ {where} = ["{name}"] }}\nmessage = "x"\n'
    with pytest.raises(ProtocolError) as info:
        load_protocol(rest=rule)
    assert (info.value.field, info.value.line) == (field, 28)
    assert "mixes letters from different scripts" in info.value.message


def test_a_look_alike_letter_in_the_protocol_drug_name_is_a_load_error():
    text = protocol_text().replace('name = "ketamine"', f'name = "k{CYRILLIC_IE}tamine"')
    with pytest.raises(ProtocolError) as info:
        load_protocol(text)
    assert (info.value.field, "mixes letters" in info.value.message) == ("drug.name", True)


def test_a_look_alike_letter_added_to_the_protocol_vocabulary_is_a_load_error():
    extra = f'[vocabulary.drugs]\n"benzodiazepine" = ["etiz{CYRILLIC_O}lam"]\n'
    with pytest.raises(ProtocolError) as info:
        load_protocol(rest=extra)
    assert info.value.field.startswith("vocabulary.drugs")


# ------------------------------------------------------------------------------ invisible characters: never stripped

INVISIBLE = {
    "zero-width-space": "\u200b",
    "zero-width-non-joiner": "\u200c",
    "zero-width-joiner": "\u200d",
    "word-joiner": "\u2060",
    "byte-order-mark": "\ufeff",
    "right-to-left-override": "\u202e",
}


@pytest.mark.parametrize("mark", list(INVISIBLE.values()), ids=list(INVISIBLE))
def test_an_invisible_character_inside_a_medication_name_is_unrecognised(mark):
    name = f"loraz{mark}epam 1 mg"
    plan = plan_for(patient_with(medications=toml_list(name)), load_protocol(rest=HOLD_BENZO))
    assert finding(plan, "UNRECOGNISED-MEDICATION").evidence == (
        f"medication {name!r} contains an invisible character (zero-width or direction mark) and is not matched",
    )
    assert plan.holds[0].to_confirm


@pytest.mark.parametrize("mark", list(INVISIBLE.values()), ids=list(INVISIBLE))
def test_an_invisible_character_after_a_medication_name_is_not_stripped_to_make_a_match(mark):
    # "lorazepam" + a hidden character + more text: what is hidden must be seen by a person.
    name = f"lorazepam{mark} 1 mg"
    plan = plan_for(patient_with(medications=toml_list(name)), load_protocol(rest=HOLD_BENZO))
    assert finding(plan, "UNRECOGNISED-MEDICATION") is not None
    assert (plan.verdict, plan.holds[0].to_confirm) == ("needs-review", True)


def test_an_invisible_character_in_a_condition_keeps_the_exclusion_unknown():
    name = "schizo\u200bphrenia"
    plan = plan_for(patient_with(conditions=toml_list(name)), load_protocol(rest=EXCL_PSYCHOSIS))
    assert (plan.verdict, finding(plan, "EXCL-PSYCHOSIS").effect) == ("needs-review", "review")
    assert "invisible character" in finding(plan, "UNRECOGNISED-CONDITION").evidence[0]


def test_an_invisible_character_in_an_allergy_keeps_the_ketamine_allergy_check_open():
    plan = plan_for(patient_with(allergies=toml_list("ketamine\u200b")), load_protocol())
    assert (finding(plan, "ALLERGY-TO-PROTOCOL-DRUG").effect, plan.verdict) == ("review", "needs-review")
    assert "invisible character" in finding(plan, "UNRECOGNISED-ALLERGY").evidence[0]


def test_an_invisible_character_in_a_protocol_rule_name_is_a_load_error_that_says_so():
    rule = HOLD_BENZO.replace('"benzodiazepine"', '"loraz\u200bepam"')
    with pytest.raises(ProtocolError) as info:
        load_protocol(rest=rule)
    assert info.value.field == "rule[1].when.medication[1]"
    assert "invisible character" in info.value.message and "\\u200b" in info.value.message


def test_a_soft_hyphen_is_still_read_as_a_hyphen():
    plan = plan_for(patient_with(medications=toml_list("co\u00adamoxiclav 625 mg")), load_protocol())
    assert finding(plan, "UNRECOGNISED-MEDICATION") is None
