"""The built-in vocabulary and its matcher: names a clinician writes are recognised exactly, and only so."""

from __future__ import annotations

import sys
import tomllib
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaplan.vocabulary import (
    AllergyMatch,
    DrugMatch,
    Vocabulary,
    VocabularyError,
    mixes_scripts,
    normalise,
    normalise_icd10,
)
from ketaplan.vocabulary.matcher import _DATA_FILE

CYRILLIC_O = "\u043e"


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.builtin()


@pytest.fixture(scope="module")
def data() -> dict:
    with open(_DATA_FILE, "rb") as f:
        return tomllib.load(f)


def drug_terms(vocab: Vocabulary, text: str) -> frozenset[str]:
    match = vocab.match_medication(text)
    assert match is not None, text
    return match.terms


def condition_terms(vocab: Vocabulary, name: str) -> frozenset[str]:
    match = vocab.match_condition(name)
    assert match.recognised, name
    return match.terms


# ------------------------------------------------------------------------------ normalise


def test_normalise_ignores_case_hyphens_and_repeated_spaces():
    assert normalise("  Treatment-Resistant  depression ") == "treatment resistant depression"


def test_normalise_folds_compatibility_characters():
    assert normalise("\uff2c\uff4f\uff52\uff41\uff5a\uff45\uff50\uff41\uff4d") == "lorazepam"  # full-width
    assert normalise("\ufb02uoxetine") == "fluoxetine"  # the fl ligature


DASHES = [c for c in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(c) == "Pd"] + ["\u2212", "\u00ad"]


@pytest.mark.parametrize("dash", DASHES)
def test_every_unicode_dash_separates_words_like_a_hyphen(dash):
    assert normalise(f"co{dash}amoxiclav") == "co amoxiclav"


def test_typographic_apostrophe_reads_as_a_straight_one():
    assert normalise("St John\u2019s Wort") == "st john's wort"


@given(st.text())
def test_normalise_is_idempotent(text):
    once = normalise(text)
    assert normalise(once) == once


_words = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10), min_size=1, max_size=4)


@given(
    words=_words,
    data=st.data(),
)
def test_case_hyphen_and_space_variants_normalise_equal(words, data):
    separators = st.sampled_from([" ", "  ", "-", " - ", "\u2013", "\t", "\u00a0"])
    text = data.draw(st.sampled_from(["", " ", "\t"]))
    for i, word in enumerate(words):
        if i:
            text += data.draw(separators)
        text += "".join(c.upper() if data.draw(st.booleans()) else c for c in word)
    text += data.draw(st.sampled_from(["", " ", "\n"]))
    assert normalise(text) == " ".join(words)


# ------------------------------------------------------------------------- scripts and codes


def test_cyrillic_o_inside_lorazepam_mixes_scripts():
    assert mixes_scripts(f"l{CYRILLIC_O}razepam") is True


def test_plain_latin_name_with_digits_and_symbols_does_not_mix_scripts():
    assert mixes_scripts("lorazepam 1 mg (½ tablet) at night") is False


def test_a_name_wholly_in_cyrillic_does_not_mix_scripts():
    assert mixes_scripts("лоразепам") is False


@pytest.mark.parametrize(
    ("code", "expected"),
    [("f33.2 ", "F332"), ("I10", "I10"), ("F33.21", "F3321"), ("F332", "F332"), ("s06.0x0a", "S060X0A")],
)
def test_icd10_codes_are_upper_cased_without_the_dot(code, expected):
    assert normalise_icd10(code) == expected


@pytest.mark.parametrize(
    "code", ["", "33.2", "F3", "F33.", "FF33", "F33.ABCDE", "F 33", "F\uff13\uff13", "schizophrenia"]
)
def test_text_that_is_not_an_icd10_code_is_refused(code):
    assert normalise_icd10(code) is None


# ------------------------------------------------------------------------------- medications


def test_ativan_is_lorazepam_a_benzodiazepine(vocab):
    match = vocab.match_medication("Ativan")
    terms = frozenset({"lorazepam", "benzodiazepine", "anxiolytic", "cns depressant"})
    assert match == DrugMatch("lorazepam", "Ativan", "", terms)


def test_spravato_is_esketamine_in_the_ketamine_class(vocab):
    match = vocab.match_medication("Spravato 56 mg nasal spray")
    assert (match.drug, match.matched, match.rest) == ("esketamine", "Spravato", "56 mg nasal spray")
    assert "ketamine class" in match.terms


def test_free_text_after_the_name_is_kept(vocab):
    match = vocab.match_medication("lorazepam 1 mg at night")
    assert (match.drug, match.matched, match.rest) == ("lorazepam", "lorazepam", "1 mg at night")


def test_the_name_is_reported_as_the_input_wrote_it(vocab):
    match = vocab.match_medication("Co-Amoxiclav 625 mg three times daily")
    assert (match.drug, match.matched, match.rest) == ("co-amoxiclav", "Co-Amoxiclav", "625 mg three times daily")


def test_medication_names_ignore_case_hyphens_and_spaces(vocab):
    match = vocab.match_medication("CO  AMOXICLAV 625mg")
    assert (match.drug, match.matched, match.rest) == ("co-amoxiclav", "CO  AMOXICLAV", "625mg")


def test_the_longest_name_at_the_start_wins(vocab):
    # "trimethoprim" alone is a drug too, but this is co-trimoxazole: a sulfonamide.
    match = vocab.match_medication("trimethoprim-sulfamethoxazole 960 mg twice daily")
    assert (match.drug, match.rest) == ("co-trimoxazole", "960 mg twice daily")
    assert "sulfonamide" in match.terms


def test_trimethoprim_alone_is_not_a_sulfonamide(vocab):
    assert "sulfonamide" not in drug_terms(vocab, "trimethoprim 200 mg twice daily")


def test_a_combination_product_carries_its_components_classes(vocab):
    terms = drug_terms(vocab, "buprenorphine with naloxone 8 mg/2 mg")
    assert {"buprenorphine", "naloxone", "opioid", "opioid antagonist"} <= terms


def test_a_name_must_end_on_a_word_boundary(vocab):
    assert vocab.match_medication("sertralinexyz 50 mg") is None


def test_a_class_name_is_not_a_medication(vocab):
    assert vocab.match_medication("benzodiazepine 1 mg at night") is None


def test_a_cyrillic_look_alike_in_lorazepam_is_never_matched(vocab):
    assert vocab.match_medication(f"l{CYRILLIC_O}razepam 1 mg") is None


def test_a_look_alike_letter_anywhere_in_the_entry_leaves_it_unrecognised(vocab):
    assert vocab.match_medication(f"lorazepam 1 mg at night, n{CYRILLIC_O}t daily") is None


def test_a_second_drug_in_the_free_text_leaves_the_entry_unrecognised(vocab):
    assert vocab.match_medication("lorazepam and diazepam as needed") is None


def test_the_same_drug_named_again_in_the_free_text_is_recognised(vocab):
    assert vocab.match_medication("sertraline 100 mg (Lustral) once daily").drug == "sertraline"


def test_a_combinations_components_may_be_named_in_its_free_text(vocab):
    assert vocab.match_medication("co-codamol 30/500 (codeine 30 mg, paracetamol 500 mg)").drug == "co-codamol"


def test_a_typographic_dash_in_a_drug_name_matches(vocab):
    assert vocab.match_medication("co\u2013amoxiclav 625 mg").drug == "co-amoxiclav"


# ------------------------------------------------------------------------------- conditions


def test_condition_names_ignore_case_hyphens_and_spaces(vocab):
    match = vocab.match_condition("Treatment-Resistant  depression")
    assert match.name == "treatment-resistant depression"
    assert match.name_terms == {"treatment resistant depression", "depressive disorder"}


@pytest.mark.parametrize("code", ["F20", "F20.0", "F25.1", "F29", "F29.9"])
def test_codes_at_both_ends_of_f20_f29_are_psychotic_disorders(vocab, code):
    assert "psychotic disorder" in vocab.match_condition("unlisted name", code).code_terms


@pytest.mark.parametrize("code", ["F19.9", "F30", "F30.0"])
def test_codes_just_outside_f20_f29_are_not_psychotic_disorders(vocab, code):
    assert "psychotic disorder" not in vocab.match_condition("unlisted name", code).code_terms


@pytest.mark.parametrize("code", ["F43.1", "F43.10", "f43.12"])
def test_a_listed_code_covers_itself_and_its_children(vocab, code):
    assert vocab.match_condition("unlisted name", code).code_terms == {"post traumatic stress disorder"}


@pytest.mark.parametrize("code", ["F43", "F43.2"])
def test_a_listed_code_does_not_cover_its_parent_or_siblings(vocab, code):
    assert "post traumatic stress disorder" not in vocab.match_condition("unlisted name", code).code_terms


def test_an_unrecognised_name_with_a_known_code_is_recognised_by_the_code(vocab):
    match = vocab.match_condition("psychosis not otherwise specified", "F29")
    assert (match.name, match.recognised, match.terms) == (None, True, frozenset({"psychotic disorder"}))


def test_hypertension_coded_as_schizophrenia_is_a_mismatch(vocab):
    match = vocab.match_condition("essential hypertension", "F20")
    assert match.code_mismatch is True
    assert match.terms == {"essential hypertension", "hypertension", "schizophrenia", "psychotic disorder"}


def test_hypertension_coded_i10_is_not_a_mismatch(vocab):
    assert vocab.match_condition("essential hypertension", "I10").code_mismatch is False


def test_unipolar_depression_coded_as_bipolar_is_a_mismatch(vocab):
    assert vocab.match_condition("major depressive disorder", "F31.4").code_mismatch is True


def test_a_less_specific_code_is_not_a_mismatch(vocab):
    assert vocab.match_condition("paranoid schizophrenia", "F20").code_mismatch is False


def test_treatment_resistant_depression_coded_f33_2_is_not_a_mismatch(vocab):
    assert vocab.match_condition("treatment-resistant depression", "F33.2").code_mismatch is False


def test_groups_contain_groups_transitively(vocab):
    terms = condition_terms(vocab, "postherpetic neuralgia")
    assert terms == {"postherpetic neuralgia", "neuropathic pain", "chronic pain"}


def test_chronic_pain_contains_crps(vocab):
    assert "chronic pain" in condition_terms(vocab, "CRPS")


def test_pre_eclampsia_covers_eclampsia(vocab):
    assert vocab.term_key("pre-eclampsia") in condition_terms(vocab, "eclampsia")


def test_a_cyrillic_look_alike_in_a_condition_is_not_recognised(vocab):
    assert vocab.match_condition(f"schiz{CYRILLIC_O}phrenia").recognised is False


def test_a_drug_name_is_not_a_condition(vocab):
    assert vocab.match_condition("lorazepam").recognised is False


def test_a_malformed_code_is_an_error_not_silence(vocab):
    with pytest.raises(ValueError):
        vocab.match_condition("schizophrenia", "F2O")


# -------------------------------------------------------------------------------- allergies


def test_an_allergy_to_augmentin_is_a_penicillin_allergy(vocab):
    assert "penicillin" in vocab.match_allergy("Augmentin").terms


def test_an_allergy_to_penicillins_names_the_class(vocab):
    terms = frozenset({"penicillin", "beta lactam antibiotic", "antibiotic"})
    assert vocab.match_allergy("Penicillins") == AllergyMatch("penicillin", terms)


def test_a_ketalar_allergy_is_to_ketamine_and_its_class(vocab):
    terms = frozenset({"ketamine", "ketamine class", "nmda antagonist"})
    assert vocab.match_allergy("Ketalar") == AllergyMatch("ketamine", terms)


def test_a_walnut_allergy_is_a_tree_nut_allergy(vocab):
    assert vocab.match_allergy("walnut") == AllergyMatch("walnut", frozenset({"walnut", "tree nut"}))


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("latex", "latex"),
        ("peanuts", "peanut"),
        ("soy", "soya"),
        ("contrast media", "iodinated contrast"),
        ("sulfa", "sulfonamide"),
        ("NSAIDs", "nsaid"),
    ],
)
def test_common_allergy_entries_are_recognised(vocab, name, canonical):
    assert vocab.match_allergy(name).name == canonical


def test_a_condition_is_not_an_allergy(vocab):
    assert vocab.match_allergy("asthma") is None


# ---------------------------------------------------------------------------------- lookups


def test_a_brand_and_its_generic_share_one_key(vocab):
    assert vocab.term_key("Ativan") == vocab.term_key("lorazepam") == "lorazepam"


def test_a_group_alias_keys_to_the_group(vocab):
    assert (vocab.term_key("Psychosis"), vocab.canonical("psychosis")) == ("psychotic disorder", "psychotic disorder")


@pytest.mark.parametrize(
    ("alias", "key"),
    [
        ("MAOI", "monoamine oxidase inhibitor"),
        ("selective serotonin reuptake inhibitor", "ssri"),
        ("PTSD", "post traumatic stress disorder"),
    ],
)
def test_class_and_group_aliases_key_to_their_entry(vocab, alias, key):
    assert vocab.term_key(alias) == key


def test_canonical_keeps_the_hyphen_the_key_does_not(vocab):
    assert (vocab.canonical("Z drugs"), vocab.term_key("Z drugs")) == ("z-drug", "z drug")


def test_an_unknown_term_has_no_key(vocab):
    assert (vocab.term_key("schizofrenia"), vocab.canonical("schizofrenia")) == (None, None)


@pytest.mark.parametrize(
    ("term", "condition", "drug", "allergy"),
    [
        ("psychosis", True, False, False),
        ("Ativan", False, True, True),
        ("benzos", False, True, True),
        ("latex", False, False, True),
    ],
)
def test_each_term_is_recognised_for_its_own_kind_only(vocab, term, condition, drug, allergy):
    kinds = (vocab.is_condition_term(term), vocab.is_drug_term(term), vocab.is_allergy_term(term))
    assert kinds == (condition, drug, allergy)


def test_drug_members_of_a_class_include_combination_products(vocab):
    assert vocab.drug_members("opioid antagonist") == {
        "naltrexone",
        "nalmefene",
        "naloxone",
        "naltrexone with bupropion",
        "oxycodone with naloxone",
        "buprenorphine with naloxone",
    }


def test_drug_members_of_a_drug_is_that_drug(vocab):
    assert vocab.drug_members("Ativan") == {"lorazepam"}


def test_drug_members_of_a_condition_is_empty(vocab):
    assert vocab.drug_members("psychosis") == frozenset()


def test_describe_a_brand_shows_its_drug(vocab):
    assert vocab.describe("Ativan") == {
        "name": "lorazepam",
        "kind": "drug",
        "aliases": [],
        "brands_uk": ["Ativan"],
        "brands_us": ["Ativan"],
        "brands_other": [],
        "classes": ["benzodiazepine"],
        "contains": [],
        "combinations": [],
        "source": None,
    }


def test_describe_a_group_shows_its_codes_members_and_source(vocab):
    info = vocab.describe("schizophrenia")
    assert (info["kind"], info["groups"], info["icd10"]) == ("group", ["psychotic disorder"], ["F20"])
    assert "paranoid schizophrenia" in info["members"]
    assert info["source"] == "ICD-10 F20 Schizophrenia; SNOMED CT 58214004 Schizophrenia (ICD-10 map: F20.9)"
    assert info["snomed"] == ["58214004"]


def test_overview_lists_every_class_and_group_with_its_source(vocab, data):
    rows = {(r["kind"], r["name"]): r["source"] for r in vocab.overview()}
    assert {name for kind, name in rows if kind == "class"} == set(data["classes"])
    assert {name for kind, name in rows if kind == "group"} == set(data["groups"])


# ----------------------------------------------------------------------------------- extend


def test_extend_adds_etizolam_to_the_benzodiazepines(vocab):
    extended = vocab.extend({}, {"benzodiazepine": ["etizolam"]})
    assert "benzodiazepine" in extended.match_medication("etizolam 0.5 mg at night").terms


def test_extend_leaves_the_builtin_vocabulary_unchanged(vocab):
    vocab.extend({}, {"benzodiazepine": ["etizolam"]})
    assert (vocab.is_drug_term("etizolam"), Vocabulary.builtin().match_medication("etizolam 0.5 mg")) == (False, None)


def test_extend_adds_a_condition_to_an_existing_group(vocab):
    extended = vocab.extend({"psychotic disorder": ["brief psychotic episode"]}, {})
    terms = extended.match_condition("Brief psychotic episode").name_terms
    assert terms == {"brief psychotic episode", "psychotic disorder"}


def test_extend_adds_an_existing_drug_to_a_new_class(vocab):
    extended = vocab.extend({}, {"qt-prolonging drug": ["citalopram", "methadone"]})
    assert extended.drug_members("qt prolonging drug") == {"citalopram", "methadone"}


def test_extend_putting_a_group_inside_its_own_member_is_a_cycle(vocab):
    with pytest.raises(VocabularyError, match="cycle") as caught:
        vocab.extend({"neuropathic pain": ["chronic pain"]}, {})
    assert caught.value.key == "neuropathic pain"  # the protocol's own key, for its line number


def test_extend_with_a_drug_as_a_condition_group_is_refused(vocab):
    with pytest.raises(VocabularyError, match="is a drug in the vocabulary") as caught:
        vocab.extend({"lorazepam": ["anything"]}, {})
    assert caught.value.key == "lorazepam"


def test_extend_adding_a_condition_to_a_drug_class_is_refused(vocab):
    with pytest.raises(VocabularyError, match="'schizophrenia' is a group"):
        vocab.extend({}, {"benzodiazepine": ["schizophrenia"]})


def test_extend_with_a_bare_string_instead_of_a_list_is_refused(vocab):
    with pytest.raises(VocabularyError, match="list of names"):
        vocab.extend({}, {"benzodiazepine": "etizolam"})


def test_extend_with_a_mixed_script_name_is_refused(vocab):
    with pytest.raises(VocabularyError, match="scripts") as caught:
        vocab.extend({}, {"benzodiazepine": [f"etiz{CYRILLIC_O}lam"]})
    assert caught.value.key == "benzodiazepine"


# ------------------------------------------------------------------------- the data file itself


def test_every_class_group_and_allergen_has_a_source(data):
    missing = [
        name
        for section in ("classes", "groups", "allergens")
        for name, t in data[section].items()
        if not str(t.get("source", "")).strip()
    ]
    assert missing == []


def test_every_drug_belongs_to_a_class(data):
    assert [name for name, t in data["drugs"].items() if not t.get("classes")] == []


def test_no_name_maps_to_two_different_entries(data):
    # Read the file directly rather than trust the loader's own check.
    owners: dict[str, set[tuple[str, str]]] = {}

    def claim(name, section, entry):
        owners.setdefault(normalise(name), set()).add((section, entry))

    for section, fields in (
        ("classes", ("aliases",)),
        ("drugs", ("synonyms", "brands_uk", "brands_us", "brands_other")),
        ("groups", ("aliases",)),
        ("conditions", ("aliases",)),
        ("allergens", ("aliases",)),
    ):
        for entry, t in data[section].items():
            claim(entry, section, entry)
            for field in fields:
                for name in t.get(field, []):
                    claim(name, section, entry)
    for section in ("groups", "allergens"):
        for t in data[section].values():
            for member in t.get("members", []):
                if normalise(member) not in owners:
                    claim(member, "conditions" if section == "groups" else section, member)
    # A group and a condition share the conditions' namespace; anything else is a second meaning.
    clashes = {
        n: sorted(o)
        for n, o in owners.items()
        if len({("conditions" if s == "groups" else s, normalise(e)) for s, e in o}) > 1
    }
    assert clashes == {}


def test_a_name_under_two_entries_is_refused_when_loading():
    text = 'version = "t"\n[classes.a]\nsource = "s"\n[drugs]\n'
    text += 'x = { classes = ["a"], brands_uk = ["Same"] }\ny = { classes = ["a"], brands_us = ["same"] }\n'
    with pytest.raises(VocabularyError, match="names two entries") as caught:
        Vocabulary.from_toml(text)
    assert caught.value.key == "same"


def test_a_drug_and_a_condition_with_one_name_are_refused_when_loading():
    text = 'version = "t"\n[classes.a]\nsource = "s"\n[drugs]\nlithium = { classes = ["a"] }\n'
    text += '[groups.g]\nsource = "s"\nmembers = ["lithium"]\n[conditions]\nlithium = {}\n'
    with pytest.raises(VocabularyError, match="names two entries"):
        Vocabulary.from_toml(text)


def test_a_group_cycle_in_the_data_is_refused_when_loading():
    text = 'version = "t"\n[groups.a]\nsource = "s"\nmembers = ["b"]\n[groups.b]\nsource = "s"\nmembers = ["a"]\n'
    with pytest.raises(VocabularyError, match="cycle"):
        Vocabulary.from_toml(text)


def test_a_non_ascii_look_alike_in_the_data_is_refused_when_loading():
    text = f'version = "t"\n[classes.a]\nsource = "s"\n[drugs]\n"l{CYRILLIC_O}razepam" = {{ classes = ["a"] }}\n'
    with pytest.raises(VocabularyError, match="ASCII"):
        Vocabulary.from_toml(text)


def test_a_misspelt_key_in_the_data_is_refused_when_loading():
    text = 'version = "t"\n[classes.a]\nsource = "s"\n[drugs]\nx = { classes = ["a"], synonym = ["y"] }\n'
    with pytest.raises(VocabularyError, match="unknown keys"):
        Vocabulary.from_toml(text)


def test_a_range_across_two_chapters_is_refused_when_loading():
    text = 'version = "t"\n[groups.a]\nsource = "s"\nicd10 = ["F20-G29"]\n'
    with pytest.raises(VocabularyError, match="range"):
        Vocabulary.from_toml(text)


# ------------------------------------------------------------ names the rest of ketaplan relies on

GROUPS = [
    "depressive disorder", "bipolar disorder", "post-traumatic stress disorder", "chronic pain",
    "psychotic disorder", "mania", "substance use disorder", "hypertension", "cardiovascular disease",
    "cerebrovascular disease", "aneurysm", "arteriovenous malformation", "intracerebral haemorrhage",
    "head injury", "raised intracranial pressure", "raised intraocular pressure", "hyperthyroidism",
    "liver disease", "porphyria", "seizure disorder", "dementia", "pre-eclampsia", "ketamine cystitis",
]  # fmt: skip


@pytest.mark.parametrize("name", GROUPS)
def test_each_condition_group_the_team_relies_on_exists(vocab, name):
    assert (vocab.canonical(name), vocab.describe(name)["kind"]) == (name, "group")


CONDITIONS_IN_GROUPS = [
    ("major depressive disorder", "depressive disorder"), ("treatment-resistant depression", "depressive disorder"),
    ("recurrent depression", "depressive disorder"), ("depression", "depressive disorder"),
    ("bipolar depression", "depressive disorder"), ("bipolar depression", "bipolar disorder"),
    ("bipolar affective disorder", "bipolar disorder"), ("PTSD", "post-traumatic stress disorder"),
    ("complex regional pain syndrome", "chronic pain"), ("crps", "chronic pain"), ("neuropathic pain", "chronic pain"),
    ("fibromyalgia", "chronic pain"), ("chronic low back pain", "chronic pain"),
    ("schizophrenia", "psychotic disorder"),
    ("alcohol use disorder", "substance use disorder"), ("opioid use disorder", "substance use disorder"),
    ("cannabis use disorder", "substance use disorder"), ("ketamine misuse", "substance use disorder"),
    ("stimulant use disorder", "substance use disorder"), ("essential hypertension", "hypertension"),
    ("uncontrolled hypertension", "hypertension"), ("ischaemic heart disease", "cardiovascular disease"),
    ("heart failure", "cardiovascular disease"), ("arrhythmia", "cardiovascular disease"),
    ("coronary artery disease", "cardiovascular disease"), ("myocardial infarction", "cardiovascular disease"),
    ("stroke", "cerebrovascular disease"), ("transient ischaemic attack", "cerebrovascular disease"),
    ("intracerebral haemorrhage", "cerebrovascular disease"), ("intracerebral hemorrhage", "intracerebral haemorrhage"),
    ("aortic aneurysm", "aneurysm"), ("intracranial aneurysm", "aneurysm"), ("traumatic brain injury", "head injury"),
    ("glaucoma", "raised intraocular pressure"), ("ocular hypertension", "raised intraocular pressure"),
    ("thyrotoxicosis", "hyperthyroidism"), ("graves disease", "hyperthyroidism"), ("cirrhosis", "liver disease"),
    ("hepatitis", "liver disease"), ("epilepsy", "seizure disorder"), ("eclampsia", "pre-eclampsia"),
    ("ketamine-induced uropathy", "ketamine cystitis"), ("ketamine bladder", "ketamine cystitis"),
    ("generalised anxiety disorder", "anxiety disorder"), ("ocd", "obsessive-compulsive disorder"),
    ("emotionally unstable personality disorder", "personality disorder"),
    ("adhd", "attention deficit hyperactivity disorder"), ("insomnia", "sleep disorder"),
    ("type 1 diabetes", "diabetes mellitus"), ("type 2 diabetes", "diabetes mellitus"), ("asthma", "asthma"),
    ("copd", "chronic obstructive pulmonary disease"), ("hypothyroidism", "hypothyroidism"), ("migraine", "migraine"),
    ("osteoarthritis", "osteoarthritis"), ("hypercholesterolaemia", "hyperlipidaemia"),
    ("gord", "gastro-oesophageal reflux disease"), ("obesity", "obesity"),
    ("chronic kidney disease", "chronic kidney disease"),
    ("irritable bowel syndrome", "irritable bowel syndrome"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "group"), CONDITIONS_IN_GROUPS)
def test_each_condition_the_team_relies_on_is_in_its_group(vocab, name, group):
    assert vocab.term_key(group) in condition_terms(vocab, name)


DRUGS_IN_CLASSES = [
    ("ketamine", "ketamine class"), ("Ketalar", "ketamine class"), ("esketamine", "ketamine class"),
    ("Ketanest", "ketamine class"), ("arketamine", "ketamine class"), ("esketamine", "nmda antagonist"),
    ("lorazepam", "benzodiazepine"), ("diazepam", "cns depressant"),
    ("zopiclone", "z-drug"), ("zolpidem", "z-drug"), ("zaleplon", "z-drug"), ("eszopiclone", "z-drug"),
    ("zopiclone", "cns depressant"),
    ("phenelzine", "maoi"), ("tranylcypromine", "maoi"), ("isocarboxazid", "maoi"),
    ("moclobemide", "maoi"), ("selegiline", "maoi"), ("rasagiline", "maoi"),
    ("methylphenidate", "stimulant"), ("lisdexamfetamine", "stimulant"), ("dexamfetamine", "stimulant"),
    ("dextroamphetamine", "stimulant"), ("amfetamine", "stimulant"), ("amphetamine", "stimulant"),
    ("modafinil", "stimulant"), ("armodafinil", "stimulant"), ("methylphenidate", "sympathomimetic"),
    ("pseudoephedrine", "sympathomimetic"), ("ephedrine", "sympathomimetic"), ("phenylephrine", "sympathomimetic"),
    ("morphine", "opioid"), ("oxycodone", "opioid"), ("codeine", "opioid"), ("tramadol", "opioid"),
    ("tapentadol", "opioid"),
    ("fentanyl", "opioid"), ("buprenorphine", "opioid"), ("methadone", "opioid"), ("hydromorphone", "opioid"),
    ("dihydrocodeine", "opioid"), ("hydrocodone", "opioid"), ("morphine", "cns depressant"),
    ("naltrexone", "opioid antagonist"), ("nalmefene", "opioid antagonist"), ("naloxone", "opioid antagonist"),
    ("clarithromycin", "cyp3a4 inhibitor"), ("erythromycin", "cyp3a4 inhibitor"), ("itraconazole", "cyp3a4 inhibitor"),
    ("ketoconazole", "cyp3a4 inhibitor"), ("voriconazole", "cyp3a4 inhibitor"), ("ritonavir", "cyp3a4 inhibitor"),
    ("diltiazem", "cyp3a4 inhibitor"), ("verapamil", "cyp3a4 inhibitor"),
    ("rifampicin", "cyp3a4 inducer"), ("rifampin", "cyp3a4 inducer"), ("carbamazepine", "cyp3a4 inducer"),
    ("phenytoin", "cyp3a4 inducer"), ("phenobarbital", "cyp3a4 inducer"), ("St John's wort", "cyp3a4 inducer"),
    ("ticlopidine", "cyp2b6 inhibitor"), ("clopidogrel", "cyp2b6 inhibitor"),
    ("theophylline", "xanthine"), ("aminophylline", "xanthine"),
    ("levothyroxine", "thyroid hormone"), ("liothyronine", "thyroid hormone"),
    ("memantine", "nmda antagonist"), ("dextromethorphan", "nmda antagonist"), ("amantadine", "nmda antagonist"),
    ("quetiapine", "antipsychotic"), ("olanzapine", "antipsychotic"), ("aripiprazole", "antipsychotic"),
    ("risperidone", "antipsychotic"), ("haloperidol", "antipsychotic"), ("clozapine", "antipsychotic"),
    ("lurasidone", "antipsychotic"), ("cariprazine", "antipsychotic"), ("brexpiprazole", "antipsychotic"),
    ("sertraline", "selective serotonin reuptake inhibitor"), ("fluoxetine", "ssri"), ("citalopram", "ssri"),
    ("escitalopram", "ssri"), ("paroxetine", "ssri"), ("fluvoxamine", "ssri"),
    ("venlafaxine", "snri"), ("duloxetine", "snri"), ("desvenlafaxine", "snri"), ("levomilnacipran", "snri"),
    ("amitriptyline", "tricyclic antidepressant"), ("nortriptyline", "tricyclic antidepressant"),
    ("imipramine", "tricyclic antidepressant"), ("clomipramine", "tricyclic antidepressant"),
    ("dosulepin", "tricyclic antidepressant"), ("lofepramine", "tricyclic antidepressant"),
    ("sertraline", "antidepressant"), ("venlafaxine", "antidepressant"), ("amitriptyline", "antidepressant"),
    ("phenelzine", "antidepressant"), ("mirtazapine", "antidepressant"), ("bupropion", "antidepressant"),
    ("trazodone", "antidepressant"), ("vortioxetine", "antidepressant"), ("agomelatine", "antidepressant"),
    ("amlodipine", "antihypertensive"), ("ramipril", "antihypertensive"), ("lisinopril", "antihypertensive"),
    ("losartan", "antihypertensive"), ("candesartan", "antihypertensive"), ("bisoprolol", "antihypertensive"),
    ("atenolol", "antihypertensive"), ("propranolol", "antihypertensive"), ("indapamide", "antihypertensive"),
    ("bendroflumethiazide", "antihypertensive"), ("hydrochlorothiazide", "antihypertensive"),
    ("doxazosin", "antihypertensive"), ("clonidine", "antihypertensive"), ("nifedipine", "antihypertensive"),
    ("lithium", "mood stabiliser"), ("valproate", "mood stabiliser"), ("sodium valproate", "mood stabiliser"),
    ("divalproex", "mood stabiliser"), ("lamotrigine", "mood stabiliser"), ("carbamazepine", "mood stabiliser"),
    ("lamotrigine", "anticonvulsant"), ("valproate", "anticonvulsant"), ("carbamazepine", "anticonvulsant"),
    ("levetiracetam", "anticonvulsant"), ("topiramate", "anticonvulsant"), ("gabapentin", "anticonvulsant"),
    ("pregabalin", "anticonvulsant"), ("gabapentin", "gabapentinoid"), ("pregabalin", "cns depressant"),
    ("ergonovine", "ergometrine"), ("lamotrigine", "lamotrigine"), ("lithium carbonate", "lithium"),
    ("Tylenol", "paracetamol"), ("acetaminophen", "paracetamol"), ("ibuprofen", "nsaid"), ("naproxen", "nsaid"),
    ("diclofenac", "nsaid"), ("aspirin", "nsaid"), ("omeprazole", "omeprazole"), ("lansoprazole", "lansoprazole"),
    ("metformin", "metformin"), ("atorvastatin", "statin"), ("simvastatin", "statin"), ("albuterol", "salbutamol"),
    ("melatonin", "melatonin"), ("Microgynon", "hormonal contraceptive"), ("ondansetron", "antiemetic"),
    ("metoclopramide", "antiemetic"), ("hydroxyzine", "hydroxyzine"), ("promethazine", "promethazine"),
    ("cetirizine", "antihistamine"), ("loratadine", "antihistamine"), ("baclofen", "baclofen"),
    ("Lustral", "sertraline"), ("Zoloft", "sertraline"), ("Seroquel", "quetiapine"), ("Effexor", "venlafaxine"),
    ("Efexor XL", "venlafaxine"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "container"), DRUGS_IN_CLASSES)
def test_each_drug_the_team_relies_on_is_in_its_class(vocab, name, container):
    assert vocab.term_key(container) in drug_terms(vocab, name)


def test_rasagiline_is_an_maoi_but_not_an_antidepressant(vocab):
    terms = drug_terms(vocab, "rasagiline 1 mg")
    assert ("monoamine oxidase inhibitor" in terms, "antidepressant" in terms) == (True, False)


ALLERGY_TERMS = [
    ("penicillins", "penicillin"), ("amoxicillin", "penicillin"), ("flucloxacillin", "penicillin"),
    ("phenoxymethylpenicillin", "penicillin"), ("benzylpenicillin", "penicillin"), ("co-amoxiclav", "penicillin"),
    ("cephalosporins", "cephalosporin"), ("cefalexin", "cephalosporin"), ("cephalexin", "cephalosporin"),
    ("cefuroxime", "cephalosporin"), ("ceftriaxone", "cephalosporin"), ("sulphonamide", "sulfonamide"),
    ("co-trimoxazole", "sulfonamide"), ("trimethoprim-sulfamethoxazole", "sulfonamide"),
    ("sulfasalazine", "sulfonamide"), ("non-steroidal anti-inflammatory drug", "nsaid"), ("ibuprofen", "nsaid"),
    ("aspirin", "nsaid"), ("morphine", "opioid"),
    ("opioids", "opioid"), ("iodine contrast", "iodinated contrast"), ("egg", "egg"), ("shellfish", "shellfish"),
    ("prawn", "shellfish"), ("tree nut", "tree nut"), ("bee venom", "bee venom"),
    ("adhesive plaster", "adhesive plaster"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "container"), ALLERGY_TERMS)
def test_each_allergy_term_the_team_relies_on_is_recognised(vocab, name, container):
    assert vocab.term_key(container) in vocab.match_allergy(name).terms
