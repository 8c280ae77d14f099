"""Matches patient and protocol names against the reviewed vocabulary of drugs, conditions and allergens."""

import os
import re
import tomllib
import unicodedata
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from functools import cache
from typing import NamedTuple

from ketaplan import formats as _formats

_DATA_FILE = os.path.join(os.path.dirname(__file__), "vocabulary.toml")

# Every Unicode dash punctuation character (category Pd), the minus sign and the soft hyphen:
# "co-amoxiclav", "co–amoxiclav" and "co amoxiclav" must be the same name.
_DASHES = (
    "\u002d\u00ad\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e17\u2e1a"
    "\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
)
# Typographic apostrophes, as word processors and record exports write them ("St John’s wort").
_APOSTROPHES = "\u2018\u2019\u201b\u02bc"
_FOLD = str.maketrans({**dict.fromkeys(_DASHES, " "), **dict.fromkeys(_APOSTROPHES, "'")})

_ICD10 = re.compile(_formats.ICD10)
_CATEGORY = re.compile(r"[A-Z][0-9]{2}")

# Names in the data file: plain ASCII words joined by single spaces or - ' . / , +
_PLAIN = re.compile(r"[a-z0-9]+(?:(?: |[-'./,+]+ ?)[a-z0-9]+)*")
_BRAND = re.compile(r"[A-Za-z0-9]+(?:(?: |[-'./,+]+ ?)[A-Za-z0-9]+)*")
_SPELLINGS = ("aliases", "brands_uk", "brands_us", "brands_other")
_CONDITION_KINDS = frozenset({"condition", "group"})
_DRUG_KINDS = frozenset({"drug", "class"})
_ALLERGY_KINDS = frozenset({"allergen", "drug", "class"})

_SECTION_KEYS = {
    "classes": frozenset({"source", "aliases", "within"}),
    "drugs": frozenset({"classes", "contains", "synonyms", "brands_uk", "brands_us", "brands_other"}),
    "groups": frozenset({"source", "aliases", "members", "within", "icd10", "snomed"}),
    "conditions": frozenset({"aliases", "icd10", "snomed"}),
    "allergens": frozenset({"source", "aliases", "members", "within"}),
}


def normalise(name: str) -> str:
    """The form names are compared in: NFKC, case-folded, dashes as spaces, single spaces, stripped."""
    if name.isascii():  # NFKC leaves ASCII alone, and casefold is lower() on it
        return " ".join(name.lower().replace("-", " ").split())
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(text.translate(_FOLD).split())


def hides_characters(name: str) -> bool:
    """Whether the name holds an invisible formatting character: a zero-width space, joiner or
    non-joiner, a word joiner, a byte-order mark, a direction mark or override. Such a name is
    never matched, not even with the character stripped: a person must see what is hidden there.
    (The soft hyphen is read as a hyphen, like every other dash.)"""
    if name.isascii():
        return False
    return any(unicodedata.category(ch) == "Cf" and ch != "\u00ad" for ch in name)


def mixes_scripts(name: str) -> bool:
    """Whether the name has letters from more than one script, e.g. a Cyrillic 'о' inside "lorazepam"."""
    if name.isascii():
        return False  # ASCII letters are all Latin
    seen = None
    for ch in unicodedata.normalize("NFKC", name):
        category = unicodedata.category(ch)
        if category[0] != "L" or category == "Lm":
            continue
        script = unicodedata.name(ch, "?").split(" ", 1)[0]
        if seen is None:
            seen = script
        elif script != seen:
            return True
    return False


# A SNOMED CT concept id: 6 to 18 digits, no leading zero, partition "00" or "10" (a concept, in
# the international or an extension namespace) before the check digit.
_SNOMED = re.compile(_formats.SNOMED)


def normalise_snomed(code: str) -> str | None:
    """The SNOMED CT concept id stripped of spaces ("370143000"), or None if it does not look like one."""
    text = code.strip()
    if not text.isascii() or not _SNOMED.fullmatch(text):
        return None
    return text


def normalise_icd10(code: str) -> str | None:
    """The code upper-cased without its dot ("f33.2 " -> "F332"), or None if it is not an ICD-10 code."""
    text = code.strip().upper()
    if not text.isascii() or not _ICD10.fullmatch(text):
        return None
    return text.replace(".", "")


class VocabularyError(Exception):
    """A vocabulary entry (built-in or from a protocol's [vocabulary]) that cannot be used."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


# The matches are NamedTuples rather than frozen dataclasses: a dataclass costs about 0.5 ms to
# define, at every start of the command line.
class DrugMatch(NamedTuple):
    """The drug a medication string names, and the free text that follows the name."""

    drug: str
    matched: str
    rest: str
    terms: frozenset[str]


class ConditionMatch(NamedTuple):
    """What a condition's name and its ICD-10 code each say the condition is."""

    name: str | None
    code: str | None
    name_terms: frozenset[str]
    code_terms: frozenset[str]
    # The entries whose own ICD-10 codes cover the code (code_terms adds the groups holding them).
    code_concepts: frozenset[str] = frozenset()
    # A SNOMED CT concept id given beside the name; the entries listing it are in code_terms and
    # code_concepts as well.
    snomed: str | None = None

    @property
    def recognised(self) -> bool:
        return bool(self.name_terms or self.code_terms)

    @property
    def terms(self) -> frozenset[str]:
        return self.name_terms | self.code_terms

    @property
    def code_mismatch(self) -> bool:
        """Name and code both recognised, and no entry the code names is the named condition, one of
        its groups, or one of its members: e.g. "essential hypertension" coded F20, or "major
        depressive disorder" coded F31.4 (bipolar)."""
        if not self.name_terms or not self.code_terms:
            return False
        return normalise(self.name or "") not in self.code_terms and self.name_terms.isdisjoint(self.code_concepts)


class AllergyMatch(NamedTuple):
    """The allergen, drug or drug class an allergy names, with the classes that contain it."""

    name: str
    terms: frozenset[str]


class _Entry:
    """One drug, class, condition, group or allergen (a plain class: it is built a thousand times at start-up)."""

    __slots__ = (
        "kind", "name", "parents", "aliases", "brands_uk", "brands_us", "brands_other", "icd10", "source", "snomed",
    )  # fmt: skip

    def __init__(
        self,
        kind: str,
        name: str,  # canonical, as written in the vocabulary
        parents: tuple[str, ...] = (),  # keys: classes, components, groups or parent allergens
        aliases: tuple[str, ...] = (),
        brands_uk: tuple[str, ...] = (),
        brands_us: tuple[str, ...] = (),
        brands_other: tuple[str, ...] = (),
        icd10: tuple[str, ...] = (),
        source: str | None = None,
        snomed: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.name = name
        self.parents = parents
        self.aliases = aliases
        self.brands_uk = brands_uk
        self.brands_us = brands_us
        self.brands_other = brands_other
        self.icd10 = icd10
        self.source = source
        self.snomed = snomed

    def with_parent(self, key: str) -> "_Entry":
        values = {field: getattr(self, field) for field in self.__slots__}
        values["parents"] = self.parents + (key,)
        return _Entry(**values)


def _reject_number(text: str):
    raise VocabularyError(text, f"the vocabulary holds names, not numbers: {text}")


class Vocabulary:
    """The drugs, drug classes, conditions, condition groups and allergens ketaplan recognises."""

    def __init__(self, version: str, entries: dict[str, _Entry], names: dict[str, str]) -> None:
        self.version = version
        self._entries = entries  # key -> entry
        self._names = names  # normalised name, alias or brand -> key
        self._up: dict[str, frozenset[str]] = {}
        self._children: dict[str, tuple[str, ...]] | None = None
        self._medicines: dict[frozenset[str], tuple[dict[str, str], int]] | None = None
        self._coded: dict[str, list[tuple[str, tuple[tuple, ...]]]] | None = None
        self._snomed: dict[str, frozenset[str]] | None = None
        self._memo: dict[tuple, object] = {}  # a batch repeats the same names many times

    # ------------------------------------------------------------------------------- loading

    @classmethod
    def builtin(cls) -> "Vocabulary":
        """The vocabulary shipped with ketaplan (read once per process)."""
        return _builtin()

    @classmethod
    def from_toml(cls, text: str) -> "Vocabulary":
        """A vocabulary from the text of a file laid out like vocabulary.toml."""
        return _Builder(tomllib.loads(text, parse_float=_reject_number)).build()

    def extend(self, conditions: Mapping[str, Sequence[str]], drugs: Mapping[str, Sequence[str]]) -> "Vocabulary":
        """A new vocabulary with a protocol's [vocabulary.conditions] and [vocabulary.drugs] added.

        Each key names a condition group (or drug class), existing or new; its values are names to
        add to it: a new condition (drug), or an existing condition or group (drug or class).
        This vocabulary is not changed."""
        entries = dict(self._entries)
        names = dict(self._names)
        for section, table, container_kind, leaf_kind in (
            ("conditions", conditions, "group", "condition"),
            ("drugs", drugs, "class", "drug"),
        ):
            for container, members in table.items():
                try:
                    _extend_one(entries, names, section, container, members, container_kind, leaf_kind)
                    _check_cycles(entries)
                except VocabularyError as exc:
                    # Always blame the protocol's own key, so its loader can point at the line.
                    raise VocabularyError(container, exc.message) from None
        return Vocabulary(self.version, entries, names)

    # ------------------------------------------------------------------------------ matching

    def match_medication(self, text: str) -> DrugMatch | None:
        """The drug named at the start of a medication string ("lorazepam 1 mg at night").

        The longest drug name (generic, synonym or brand) that starts the text and ends on a word
        boundary wins. None when no drug name starts it, when the text mixes scripts, or when the
        free text names a second drug ("lorazepam and diazepam"): one entry must mean one drug."""
        return self._memoised(self._match_medication, text)

    def match_condition(self, name: str, code: str | None = None, snomed: str | None = None) -> ConditionMatch:
        """What a condition's name (a condition or group, under any alias), ICD-10 code and SNOMED CT
        concept id match.

        A name that mixes scripts is not recognised; a code that is not an ICD-10 code (or a SNOMED CT
        id that is not one) is a ValueError (the patient file's reader rejects those first). A SNOMED
        CT id the vocabulary does not list adds nothing: the hierarchy is not shipped."""
        if snomed is None:
            return self._memoised(self._match_condition, name, code)
        return self._memoised(self._match_condition_snomed, name, code, snomed)

    def _match_condition_snomed(self, name: str, code: str | None, snomed: str) -> ConditionMatch:
        match = self._match_condition(name, code)
        normal = normalise_snomed(snomed)
        if normal is None:
            raise ValueError(f"not a SNOMED CT concept id: {snomed!r}")
        concepts = self._snomed_entries().get(normal, frozenset())
        terms = concepts.union(*(self._ancestors(k) for k in concepts))
        return ConditionMatch(
            match.name,
            match.code,
            match.name_terms,
            match.code_terms | terms,
            match.code_concepts | concepts,
            normal,
        )

    def snomed_concepts(self, snomed: str) -> tuple[str, ...]:
        """The canonical names of the conditions and groups listing this SNOMED CT id (sorted)."""
        normal = normalise_snomed(snomed)
        keys = self._snomed_entries().get(normal or "", frozenset())
        return tuple(sorted(self._entries[k].name for k in keys))

    def match_allergy(self, name: str) -> AllergyMatch | None:
        """The allergen, drug (under any of its names) or drug class an allergy names."""
        return self._memoised(self._match_allergy, name)

    def _memoised(self, match, *args):
        key = (match.__name__, *args)
        try:
            return self._memo[key]
        except KeyError:
            pass
        result = match(*args)
        if len(self._memo) >= 10_000:
            self._memo.clear()
        self._memo[key] = result
        return result

    def _match_medication(self, text: str) -> DrugMatch | None:
        found, others = self.match_medication_parts(text)
        return None if others else found

    def match_medication_parts(self, text: str) -> tuple[DrugMatch | None, tuple[str, ...]]:
        """The drug named at the start of a medication string, and the other drugs and drug classes
        its free text names ("sertraline 50 mg plus benzodiazepine prn": sertraline; benzodiazepine).
        A class the first drug belongs to ("fluoxetine (an SSRI)") is no other medicine."""
        return self._memoised(self._match_medication_parts, text)

    def _match_medication_parts(self, text: str) -> tuple[DrugMatch | None, tuple[str, ...]]:
        if mixes_scripts(text) or hides_characters(text):
            return None, ()
        norm = normalise(text)
        if norm.isascii():
            word = [c.isalnum() or c == "_" for c in norm]
        else:
            word = [_is_word_char(c) for c in norm]
        # A name may only end where a word ends: "sertralinexyz" is not sertraline.
        ends = [i for i in range(1, len(norm) + 1) if i == len(norm) or not word[i]]
        found = self._drug_at(norm, 0, ends)
        if found is None:
            return None, ()
        end, key = found
        others = tuple(self._entries[k].name for k in self._others_named(norm, word, ends, end, key))
        matched, rest = _split(text, norm[:end])
        return DrugMatch(self._entries[key].name, matched, rest, frozenset({key}) | self._ancestors(key)), others

    def _others_named(self, norm: str, word: list[bool], ends: list[int], end: int, key: str) -> list[str]:
        """The keys of other drugs and drug classes named after the first drug (which ends at `end`):
        one entry must mean one medicine, and a second name is never dropped as free text."""
        allowed = {key} | self._ancestors(key)
        others: list[str] = []
        start = end
        while start < len(norm):
            if word[start] and not word[start - 1]:
                other = self._drug_at(norm, start, ends, _DRUG_KINDS)
                if other is not None:
                    if other[1] not in allowed and other[1] not in others:
                        others.append(other[1])
                    start = other[0]
                    continue
            start += 1
        return others

    def _match_condition(self, name: str, code: str | None) -> ConditionMatch:
        normalised_code = None
        if code is not None:
            normalised_code = normalise_icd10(code)
            if normalised_code is None:
                raise ValueError(f"not an ICD-10 code: {code!r}")
        canonical = None
        name_terms: frozenset[str] = frozenset()
        if not mixes_scripts(name) and not hides_characters(name):
            key = self._names.get(normalise(name))
            if key is not None and self._entries[key].kind in _CONDITION_KINDS:
                canonical = self._entries[key].name
                name_terms = frozenset({key}) | self._ancestors(key)
        concepts: frozenset[str] = frozenset()
        code_terms: frozenset[str] = frozenset()
        if normalised_code is not None:
            coded = self._coded_entries().get(normalised_code[0], ())
            concepts = frozenset(k for k, specs in coded if _covers(specs, normalised_code))
            code_terms = concepts.union(*(self._ancestors(k) for k in concepts))
        return ConditionMatch(canonical, normalised_code, name_terms, code_terms, concepts)

    def _match_allergy(self, name: str) -> AllergyMatch | None:
        key = self._key(name, _ALLERGY_KINDS)
        if key is None:
            return None
        return AllergyMatch(self._entries[key].name, frozenset({key}) | self._ancestors(key))

    # ------------------------------------------------------------------------------- lookups

    def is_condition_term(self, term: str) -> bool:
        return self._key(term, _CONDITION_KINDS) is not None

    def is_drug_term(self, term: str) -> bool:
        return self._key(term, _DRUG_KINDS) is not None

    def is_allergy_term(self, term: str) -> bool:
        return self._key(term, _ALLERGY_KINDS) is not None

    def canonical(self, term: str) -> str | None:
        key = self._key(term)
        return None if key is None else self._entries[key].name

    def term_key(self, term: str) -> str | None:
        """The key a term stands for in the *.terms sets of matches ("Ativan" -> "lorazepam")."""
        return self._key(term)

    def drug_members(self, term: str) -> frozenset[str]:
        """The canonical names of the drugs a drug or class term covers, transitively (a class's
        drugs, and combination products containing them)."""
        key = self._key(term, _DRUG_KINDS)
        if key is None:
            return frozenset()
        return frozenset(self._entries[k].name for k in self._descendants(key) if self._entries[k].kind == "drug")

    def describe(self, term: str) -> dict | None:
        """What a term is, for `ketaplan vocab TERM`."""
        key = self._key(term)
        if key is None:
            return None
        entry = self._entries[key]
        parents = [self._entries[p].name for p in entry.parents]
        members = sorted(self._entries[c].name for c in self._children_of(key))
        info: dict = {"name": entry.name, "kind": entry.kind, "aliases": list(entry.aliases)}
        if entry.kind == "drug":
            info["brands_uk"] = list(entry.brands_uk)
            info["brands_us"] = list(entry.brands_us)
            info["brands_other"] = list(entry.brands_other)
            info["classes"] = [p for p, k in zip(parents, entry.parents) if self._entries[k].kind == "class"]
            info["contains"] = [p for p, k in zip(parents, entry.parents) if self._entries[k].kind == "drug"]
            info["combinations"] = members  # combination products that contain this drug
        elif entry.kind == "class":
            info["classes"] = parents
            info["members"] = members
        elif entry.kind in _CONDITION_KINDS:
            info["groups"] = parents
            info["members"] = members
            info["icd10"] = list(entry.icd10)
            info["snomed"] = list(entry.snomed)
        else:
            info["within"] = parents
            info["members"] = members
        info["source"] = entry.source
        return info

    def overview(self) -> list[dict]:
        """The classes, groups and allergens, each with its source and direct members, for `ketaplan vocab`."""
        rows = []
        for kind in ("class", "group", "allergen"):
            for key in sorted(k for k, e in self._entries.items() if e.kind == kind and e.source is not None):
                entry = self._entries[key]
                rows.append(
                    {
                        "name": entry.name,
                        "kind": kind,
                        "aliases": list(entry.aliases),
                        "members": sorted(self._entries[c].name for c in self._children_of(key)),
                        "icd10": list(entry.icd10),
                        "source": entry.source,
                    }
                )
        return rows

    # ------------------------------------------------------------------------------ internals

    def _key(self, term: str, kinds: frozenset[str] | None = None) -> str | None:
        if mixes_scripts(term) or hides_characters(term):
            return None
        key = self._names.get(normalise(term))
        if key is None or (kinds is not None and self._entries[key].kind not in kinds):
            return None
        return key

    def _ancestors(self, key: str) -> frozenset[str]:
        """Every class or group above an entry (and a combination product's components), transitively."""
        found = self._up.get(key)
        if found is None:
            parents = self._entries[key].parents
            found = frozenset(parents).union(*(self._ancestors(p) for p in parents))
            self._up[key] = found
        return found

    def _children_of(self, key: str) -> tuple[str, ...]:
        if self._children is None:
            children: dict[str, list[str]] = {}
            for child, entry in self._entries.items():
                for parent in entry.parents:
                    children.setdefault(parent, []).append(child)
            self._children = {k: tuple(v) for k, v in children.items()}
        return self._children.get(key, ())

    def _descendants(self, key: str) -> set[str]:
        found = {key}
        todo = [key]
        while todo:
            for child in self._children_of(todo.pop()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def _drug_at(self, norm: str, start: int, ends: list[int], kinds: frozenset[str] = frozenset({"drug"})) -> tuple[int, str] | None:
        """The end and key of the longest drug name (or, with `kinds`, drug or class name) that starts
        at start and ends at a word boundary (in ends)."""
        if self._medicines is None:
            self._medicines = {}
        if kinds not in self._medicines:
            names = {n: k for n, k in self._names.items() if self._entries[k].kind in kinds}
            self._medicines[kinds] = (names, max(map(len, names), default=0))
        names, longest = self._medicines[kinds]
        found = None
        for i in range(bisect_right(ends, start), len(ends)):
            end = ends[i]
            if end > start + longest:
                break
            key = names.get(norm[start:end])
            if key is not None:
                found = (end, key)
        return found

    def _coded_entries(self) -> dict[str, list[tuple[str, tuple[tuple, ...]]]]:
        """The entries with ICD-10 codes, by the code's chapter letter."""
        if self._coded is None:
            self._coded = {}
            for key, entry in self._entries.items():
                by_letter: dict[str, list[tuple]] = {}
                for code in entry.icd10:
                    spec = _parse_code(key, code)
                    by_letter.setdefault(spec[1][0], []).append(spec)
                for letter, specs in by_letter.items():
                    self._coded.setdefault(letter, []).append((key, tuple(specs)))
        return self._coded

    def _snomed_entries(self) -> dict[str, frozenset[str]]:
        """SNOMED CT concept id -> the keys of the entries that list it."""
        if self._snomed is None:
            index: dict[str, set[str]] = {}
            for key, entry in self._entries.items():
                for code in entry.snomed:
                    index.setdefault(code, set()).add(key)
            self._snomed = {code: frozenset(keys) for code, keys in index.items()}
        return self._snomed


_KIND_WORDS = {"group": "condition group", "class": "drug class"}


@cache
def _builtin() -> Vocabulary:
    return _load_builtin()


# The layout of a cached index; a new layout is a new cache name, so an old entry is never misread.
_INDEX_FORMAT = 1
_KINDS = frozenset({"drug", "class", "condition", "group", "allergen"})


def _load_builtin() -> Vocabulary:
    # Parsing the 100 KB TOML file and building its index is most of a plan's start-up: the built
    # index (entries and names, after every check of _Builder) is cached as JSON under the file's
    # SHA-256 and that of this module's source, which builds it (a changed builder is a new
    # entry). A cached index that is not whole and consistent is built again from the file.
    from ketaplan.cache import read_json, write_json
    from ketaplan.digest import sha256_hex

    with open(_DATA_FILE, "rb") as f:
        raw = f.read()
    digest = sha256_hex(raw)
    try:
        with open(__file__, "rb") as f:
            code = sha256_hex(f.read())
    except OSError:  # no source to key the index by (an unusual install): never use a cached one
        return _Builder(tomllib.loads(raw.decode("utf-8"), parse_float=_reject_number)).build()
    name = f"vocabulary-index{_INDEX_FORMAT}-{digest[:32]}-{code[:16]}.json"
    # What the entry is computed from: ketaplan.cache checks it, and the entry's own digest, on read.
    source = {"vocabulary_sha256": digest, "code_sha256": code, "index_format": _INDEX_FORMAT}
    vocabulary = _from_index(read_json(name, source), digest, code)
    if vocabulary is None:
        vocabulary = _Builder(tomllib.loads(raw.decode("utf-8"), parse_float=_reject_number)).build()
        write_json(name, source, _to_index(vocabulary, digest, code))
    return vocabulary


def _to_index(vocabulary: Vocabulary, digest: str, code: str) -> dict:
    """The built vocabulary as JSON data: every _Entry as a list of its fields, and the names."""
    fields = _Entry.__slots__
    return {
        "format": _INDEX_FORMAT,
        "sha256": digest,
        "code_sha256": code,
        "version": vocabulary.version,
        "fields": list(fields),
        "entries": {k: [getattr(e, f) for f in fields] for k, e in vocabulary._entries.items()},
        "names": vocabulary._names,
    }


def _from_index(data, digest: str, code: str) -> Vocabulary | None:
    """The vocabulary a cached index holds, or None unless it is whole and consistent: made from
    this very file by this very code, every field of the right type, every parent and name
    pointing at an entry, every entry named by its own key, no membership cycle, every ICD-10
    code one that _Builder accepts."""
    fields = _Entry.__slots__
    try:
        if data["format"] != _INDEX_FORMAT or (data["sha256"], data["code_sha256"]) != (digest, code):
            return None
        if data["fields"] != list(fields):
            return None
        version, rows, names = data["version"], data["entries"], data["names"]
        if not (isinstance(version, str) and version and isinstance(rows, dict) and isinstance(names, dict)):
            return None
        entries = {}
        for key, row in rows.items():
            kind, name, parents, aliases, uk, us, other, icd10, source, snomed = row
            if kind not in _KINDS or type(name) is not str or not (source is None or type(source) is str):
                return None
            for names_list in (parents, aliases, uk, us, other, icd10, snomed):
                if type(names_list) is not list:
                    return None
                "".join(names_list)  # a TypeError unless every item is a string
            for code in icd10:
                _parse_code(key, code)
            if not all(normalise_snomed(concept) == concept for concept in snomed):
                return None
            entries[key] = _Entry(
                kind,
                name,
                tuple(parents),
                tuple(aliases),
                tuple(uk),
                tuple(us),
                tuple(other),
                tuple(icd10),
                source,
                tuple(snomed),
            )
        if not all(type(n) is str and k in entries for n, k in names.items()):
            return None
        if not all(names.get(k) == k and all(p in entries for p in e.parents) for k, e in entries.items()):
            return None
        _check_cycles(entries)
    except (KeyError, TypeError, ValueError, VocabularyError):
        return None
    return Vocabulary(version, entries, names)


def _is_word_char(ch: str) -> bool:
    return ch == "_" or unicodedata.category(ch)[0] in "LNM"


def _split(text: str, name: str) -> tuple[str, str]:
    """The drug name as the input wrote it, and the rest: the shortest prefix that normalises to name."""
    if text.isascii():  # the name ends where a word ends in the input too
        for end in range(1, len(text) + 1):
            if end < len(text) and (text[end].isalnum() or text[end] == "_"):
                continue
            if normalise(text[:end]) == name:
                return text[:end].strip(), text[end:].strip()
    for end in range(1, len(text) + 1):
        head = normalise(text[:end])
        if head == name:
            return text[:end].strip(), text[end:].strip()
        if len(head) > len(name) + 1:
            break
    # A compatibility character straddles the end of the name (e.g. a ligature): show the
    # normalised forms rather than guess where the name ends.
    norm = normalise(text)
    return name, norm[len(name) :].strip()


def _parse_code(key: str, code: str) -> tuple:
    """("range", letter, first, last) for "F20-F29"; ("code", "F332") for a listed code."""
    first, dash, last = code.partition("-")
    if dash:
        a, b = normalise_icd10(first), normalise_icd10(last)
        if a is None or b is None or not _CATEGORY.fullmatch(a) or not _CATEGORY.fullmatch(b) or a[0] != b[0] or a > b:
            raise VocabularyError(key, f"{code!r} is not a range of ICD-10 categories like \"F20-F29\"")
        return ("range", a[0], int(a[1:3]), int(b[1:3]))
    normalised = normalise_icd10(code)
    if normalised is None:
        raise VocabularyError(key, f"{code!r} is not an ICD-10 code")
    return ("code", normalised)


def _covers(specs: tuple[tuple, ...], code: str) -> bool:
    for spec in specs:
        if spec[0] == "code":
            if code.startswith(spec[1]):
                return True
        elif code[0] == spec[1] and spec[2] <= int(code[1:3]) <= spec[3]:
            return True
    return False


def _extend_one(entries, names, section: str, container: str, members, container_kind: str, leaf_kind: str) -> None:
    """Adds one [vocabulary.conditions] or [vocabulary.drugs] line to entries and names."""
    what = _KIND_WORDS[container_kind]
    if isinstance(members, str) or not all(isinstance(m, str) for m in members):
        raise VocabularyError(container, f"[vocabulary.{section}] {container!r} must be a list of names")
    key = names.get(normalise(container))
    if key is None:
        source = f"added by the protocol's [vocabulary.{section}]"
        key = _add_name(entries, names, container, _Entry(container_kind, container, source=source))
    elif entries[key].kind != container_kind:
        raise VocabularyError(
            container,
            f"{container!r} is a {entries[key].kind} in the vocabulary ({entries[key].name!r}), not a {what}: "
            f"a [vocabulary.{section}] key must name a {what}",
        )
    for member in members:
        found = names.get(normalise(member))
        if found is None:
            _add_name(entries, names, member, _Entry(leaf_kind, member, parents=(key,)))
            continue
        entry = entries[found]
        if entry.kind not in (container_kind, leaf_kind):
            raise VocabularyError(
                container,
                f"{member!r} is a {entry.kind} in the vocabulary ({entry.name!r}), "
                f"so it cannot be added to the {what} {entries[key].name!r}",
            )
        if key not in entry.parents:
            entries[found] = entry.with_parent(key)


def _add_name(entries: dict[str, _Entry], names: dict[str, str], name: str, entry: _Entry) -> str:
    """Adds a new entry from a protocol's [vocabulary] and returns its key."""
    key = normalise(name)
    if not key:
        raise VocabularyError(name, "an empty name cannot be added to the vocabulary")
    if mixes_scripts(name):
        raise VocabularyError(name, f"{name!r} mixes letters from different scripts (a look-alike character?)")
    entries[key] = entry
    names[key] = key
    return key


def _check_cycles(entries: dict[str, _Entry]) -> None:
    """A group inside itself (or a class within itself) would make membership endless."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in entries:
        if root in state:
            continue
        path = [root]
        stack = [iter(entries[root].parents)]
        state[root] = 1
        while stack:
            parent = next(stack[-1], None)
            if parent is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(parent) == 1:
                cycle = path[path.index(parent) :] + [parent]
                names = " -> ".join(repr(entries[k].name) for k in cycle)
                raise VocabularyError(entries[parent].name, f"membership goes round in a cycle: {names}")
            elif parent not in state:
                state[parent] = 1
                path.append(parent)
                stack.append(iter(entries[parent].parents))


class _Builder:
    """Checks the data file and builds the entries and the name index from it."""

    def __init__(self, data: dict) -> None:
        self.data = data
        self.fields: dict[str, dict] = {}  # key -> _Entry fields, parents as a list
        self.names: dict[str, str] = {}

    def build(self) -> Vocabulary:
        data = self.data
        unknown = set(data) - set(_SECTION_KEYS) - {"version"}
        if unknown:
            raise VocabularyError(sorted(unknown)[0], f"unknown top-level keys in the vocabulary: {sorted(unknown)}")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise VocabularyError("version", "the vocabulary needs a version string")
        sections = {s: self._section(data, s) for s in _SECTION_KEYS}

        # Every declared entry first, so that references can be checked against all of them.
        for name, t in sections["classes"].items():
            self._declare(name, "class", aliases=self._names_list(name, t, "aliases"), source=self._source(name, t))
        for name, t in sections["drugs"].items():
            self._declare(
                name,
                "drug",
                aliases=self._names_list(name, t, "synonyms"),
                brands_uk=self._names_list(name, t, "brands_uk", _BRAND),
                brands_us=self._names_list(name, t, "brands_us", _BRAND),
                brands_other=self._names_list(name, t, "brands_other", _BRAND),
            )
        for name, t in sections["groups"].items():
            self._declare(
                name,
                "group",
                aliases=self._names_list(name, t, "aliases"),
                icd10=self._codes(name, t),
                source=self._source(name, t),
                snomed=self._snomed_codes(name, t),
            )
        for name, t in sections["conditions"].items():
            self._declare(
                name,
                "condition",
                aliases=self._names_list(name, t, "aliases"),
                icd10=self._codes(name, t),
                snomed=self._snomed_codes(name, t),
            )
        for name, t in sections["allergens"].items():
            self._declare(name, "allergen", aliases=self._names_list(name, t, "aliases"), source=self._source(name, t))

        for name, t in sections["classes"].items():
            self._link(name, t, "within", {"class"})
        for name, t in sections["drugs"].items():
            self._link(name, t, "classes", {"class"})
            self._link(name, t, "contains", {"drug"})
        for section, kind, member_kinds in (
            ("groups", "group", {"group", "condition"}),
            ("allergens", "allergen", {"allergen"}),
        ):
            leaf = "condition" if kind == "group" else "allergen"
            for name, t in sections[section].items():
                self._link(name, t, "within", {kind})
                key = normalise(name)
                for member in self._names_list(name, t, "members"):
                    member_key = normalise(member)
                    if member_key not in self.names:
                        self._declare(member, leaf)
                    elif self.names[member_key] != member_key or self.fields[member_key]["kind"] not in member_kinds:
                        raise VocabularyError(member, self._wrong_ref(name, "members", member, member_kinds))
                    parents = self.fields[member_key]["parents"]
                    if key not in parents:
                        parents.append(key)

        lost = [f["name"] for f in self.fields.values() if f["kind"] == "condition" and not f["parents"]]
        if lost:
            raise VocabularyError(lost[0], f"conditions in no group (a misspelt member?): {lost}")
        entries = {}
        for key, f in self.fields.items():
            f["parents"] = tuple(f["parents"])
            entries[key] = _Entry(**f)
        _check_cycles(entries)
        return Vocabulary(version, entries, self.names)

    @staticmethod
    def _section(data: dict, section: str) -> dict:
        tables = data.get(section, {})
        if not isinstance(tables, dict):
            raise VocabularyError(section, f"[{section}] must be a table")
        allowed = _SECTION_KEYS[section]
        for name, t in tables.items():
            if not isinstance(t, dict):
                raise VocabularyError(name, f"[{section}] {name!r} must be a table")
            if not allowed.issuperset(t):
                raise VocabularyError(name, f"[{section}] {name!r} has unknown keys {sorted(set(t) - allowed)}")
        return tables

    def _declare(self, name: str, kind: str, **fields) -> None:
        self._check_name(name, name, _PLAIN)
        key = normalise(name)
        if key in self.names:
            other = self.fields[self.names[key]]
            raise VocabularyError(
                name, f"{name!r} names two entries: the {other['kind']} {other['name']!r} and the {kind} {name!r}"
            )
        fields.update(kind=kind, name=name, parents=[])
        self.fields[key] = fields
        names = self.names
        for alias in (name, *(n for f in _SPELLINGS for n in fields.get(f, ()))):
            alias_key = key if alias is name else normalise(alias)
            existing = names.setdefault(alias_key, key)
            if existing != key:
                other = self.fields[existing]
                raise VocabularyError(
                    alias, f"{alias!r} names two entries: the {other['kind']} {other['name']!r} and the {kind} {name!r}"
                )

    def _link(self, owner: str, table: dict, field: str, kinds: set[str]) -> None:
        refs = self._names_list(owner, table, field)
        if not refs:
            return
        parents = self.fields[normalise(owner)]["parents"]
        for ref in refs:
            key = normalise(ref)
            target = self.fields.get(key)
            if target is None or target["kind"] not in kinds:
                raise VocabularyError(ref, self._wrong_ref(owner, field, ref, kinds))
            if key not in parents:
                parents.append(key)

    def _names_list(self, owner: str, table: dict, field: str, pattern: re.Pattern | None = None) -> tuple[str, ...]:
        values = table.get(field)
        if values is None:
            return ()
        if not isinstance(values, list):
            raise VocabularyError(owner, f"{owner!r}: {field} must be a list of names")
        for value in values:
            self._check_name(owner, value, pattern or _PLAIN)
        return tuple(values)

    @staticmethod
    def _check_name(owner: str, name, pattern: re.Pattern) -> None:
        # Plain ASCII only: a look-alike letter typed into the reviewed file itself must not slip in.
        if not isinstance(name, str) or not pattern.fullmatch(name):
            kind = "ASCII letters and digits" if pattern is _BRAND else "lowercase ASCII letters and digits"
            raise VocabularyError(
                owner,
                f"{name!r} must be {kind}, with single spaces or - ' . / , + between words, "
                "starting and ending with a letter or digit",
            )

    @staticmethod
    def _source(name: str, table: dict) -> str:
        source = table.get("source")
        if not isinstance(source, str) or not source.strip():
            raise VocabularyError(name, f"{name!r} needs a source")
        return source

    @staticmethod
    def _codes(name: str, table: dict) -> tuple[str, ...]:
        codes = table.get("icd10")
        if codes is None:
            return ()
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise VocabularyError(name, f"{name!r}: icd10 must be a list of codes")
        for code in codes:
            _parse_code(name, code)
        return tuple(codes)

    @staticmethod
    def _snomed_codes(name: str, table: dict) -> tuple[str, ...]:
        codes = table.get("snomed")
        if codes is None:
            return ()
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise VocabularyError(name, f"{name!r}: snomed must be a list of SNOMED CT concept ids")
        for code in codes:
            if normalise_snomed(code) != code:
                raise VocabularyError(name, f"{name!r}: {code!r} is not a SNOMED CT concept id")
        return tuple(codes)

    def _wrong_ref(self, owner: str, field: str, ref: str, kinds: set[str]) -> str:
        wanted = " or ".join(sorted(kinds))
        key = self.names.get(normalise(ref))
        if key is not None and self.fields[key]["kind"] in kinds:
            return f"{owner!r}: {field} must use the canonical name {self.fields[key]['name']!r}, not {ref!r}"
        return f"{owner!r}: {field} names {ref!r}, which is not a {wanted} in the vocabulary"
