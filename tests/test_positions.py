"""Error positions: every field a loader can complain about is found at its exact line and column."""

from __future__ import annotations

import time
import tomllib

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.load.positions import Position, caret_block, find_key_column, locate

PROTOCOL = """\
# Clinic protocol: IV ketamine induction series
[protocol]
id = "trd-iv-induction"             # lowercase letters, digits, -
title = "IV ketamine for treatment-resistant depression"
version = "2026.11"
notes = \"\"\"
Reviewed every year. Rules belong below, not in this note:
[[rule]]
id = "NOT-A-RULE"
\"\"\"

[drug]
name = "ketamine"
route = "IV"

[dose]
mg_per_kg = 0.5
duration = "40 min"
max_mg   =   60                     # hard cap for one session

[schedule]
days = ["mon", "tue", "wed", "thu", "fri"]

[[schedule.phase]]
name = "induction"
sessions = 6
min_gap_days = 2
mg_per_kg = [0.5, 0.5, 0.75, 0.75, 0.75, 0.75]

[[schedule.phase]]
name = "maintenance"
sessions = 2
min_gap_days = 28

[checklist]
pre = ["Written consent # signed and dated", "Nil by mouth for at least 4 hours"]

[[rule]]
id = "EXCL-PSYCHOSIS"
effect = "exclude"
when = { condition = ["psychotic disorder"] }
message = "History of psychosis."

[[rule]]
id = "ADJ-AGE-65"
effect = "adjust"
when = { age_at_least = 65 }
dose_factor = 0.75

[[rule]]
id = "CHECK-PREGNANCY-TEST"
effect = "check"
when = { sex = "female", age_at_least = 12, not = { pregnant = false } }
stage = "pre"
item = "Urine pregnancy test negative"

[vocabulary.conditions]
"psychotic disorder" = ["brief psychotic episode"]
[vocabulary.drugs]
"benzodiazepine" = ["etizolam", 'clonazolam']

[[test]]
name = "psychosis history is excluded"
start = 2027-01-04
patient = { id = "T1", age = 40, conditions = [{ name = "schizophrenia", status = "history" }] }
"""

PATIENT = """\
id = "P-0042"                 # pseudonymous id
date_of_birth = 1961-04-12
sex = "female"
height = "165 cm"
weight = "82.5 kg"
pregnant = false
allergies = []
conditions = [
  "treatment-resistant depression",                     # a plain string is a name
  { name = "essential hypertension", code = "I10" },    # optional ICD-10 code
  { name = "alcohol use disorder", status = "history" },# status: "active" | "history"
]
medications = [
  "sertraline 100 mg once daily",
  { name = "lorazepam", dose = "1 mg", schedule = "at night", as_needed = true },
]

[scores]
phq9 = 19
madrs = 32

[[infusions]]
date = 2026-11-03
dose = "41 mg"

[[infusions]]
date = 2026-11-17
dose = "41 mg"
"""


def at(text: str, *path: str | int) -> tuple[int, int]:
    pos = locate(text, path)
    assert pos is not None
    return pos.line, pos.column


def test_the_example_files_are_valid_toml():
    # the positions below are only meaningful if the loader would have parsed these files
    assert tomllib.loads(PROTOCOL)["rule"][2]["id"] == "CHECK-PREGNANCY-TEST"
    assert tomllib.loads(PATIENT)["conditions"][2]["status"] == "history"


# -- keys in tables -------------------------------------------------------------------------


def test_top_level_key_is_found_on_its_line():
    assert at(PATIENT, "sex") == (3, 1)


def test_key_in_dose_table_is_found_despite_spaces_around_equals():
    assert at(PROTOCOL, "dose", "max_mg") == (19, 1)


def test_position_carries_the_whole_source_line():
    assert locate(PROTOCOL, ("dose", "max_mg")) == Position(
        19, 1, "max_mg   =   60                     # hard cap for one session"
    )


def test_key_in_third_rule_is_found_under_the_third_rule_header():
    assert at(PROTOCOL, "rule", 2, "stage") == (54, 1)


def test_third_rule_header_is_the_position_of_rule_index_2():
    assert at(PROTOCOL, "rule", 2) == (50, 1)


def test_schedule_phase_headers_are_not_counted_as_rules():
    assert at(PROTOCOL, "rule", 0, "id") == (39, 1)


def test_second_schedule_phase_is_counted_on_its_own():
    assert at(PROTOCOL, "schedule", "phase", 1, "min_gap_days") == (33, 1)


def test_sub_table_belongs_to_the_latest_array_table_header():
    text = '[[rule]]\nid = "A"\n[rule.when]\nsex = "male"\n[[rule]]\nid = "B"\n[rule.when]\nsex = "female"\n'
    assert at(text, "rule", 1, "when", "sex") == (8, 1)


def test_nested_array_tables_count_per_parent():
    text = "[[schedule]]\n[[schedule.phase]]\nname = 'a'\n[[schedule]]\n[[schedule.phase]]\nname = 'b'\n"
    assert at(text, "schedule", 1, "phase", 0, "name") == (6, 1)


# -- inline tables --------------------------------------------------------------------------


def test_key_inside_inline_when_table_is_found_on_the_rule_line():
    assert at(PROTOCOL, "rule", 2, "when", "age_at_least") == (53, 26)


def test_key_inside_nested_not_table_is_found():
    assert at(PROTOCOL, "rule", 2, "when", "not", "pregnant") == (53, 53)


def test_missing_key_of_inline_table_points_at_that_tables_key():
    assert at(PROTOCOL, "rule", 2, "when", "not", "breastfeeding") == (53, 45)


def test_key_deep_inside_test_patient_inline_table_is_found():
    assert at(PROTOCOL, "test", 0, "patient", "conditions", 0, "status") == (65, 74)


def test_inline_table_may_span_lines():
    text = 'when = {\n  sex = "female",\n  age_at_least = 12,\n}\n'
    assert at(text, "when", "age_at_least") == (3, 3)


# -- arrays ---------------------------------------------------------------------------------


def test_inline_table_item_of_multiline_array_is_found():
    assert at(PATIENT, "conditions", 2) == (11, 3)


def test_key_inside_inline_table_item_of_multiline_array_is_found():
    assert at(PATIENT, "conditions", 2, "status") == (11, 36)


def test_last_key_of_long_medication_item_is_found():
    assert at(PATIENT, "medications", 1, "as_needed") == (15, 63)


def test_number_in_phase_dose_list_is_found():
    assert at(PROTOCOL, "schedule", "phase", 0, "mg_per_kg", 3) == (28, 30)


def test_item_of_list_inside_inline_table_is_found():
    assert at(PROTOCOL, "rule", 0, "when", "condition", 0) == (41, 23)


def test_literal_string_item_is_found():
    assert at(PROTOCOL, "vocabulary", "drugs", "benzodiazepine", 1) == (60, 33)


def test_array_items_are_counted_across_comments_and_blank_lines():
    text = "days = [\n  'mon',  # Monday\n\n  # no Tuesday\n  'wed', 'fri',\n]\n"
    assert at(text, "days", 2) == (5, 10)


def test_item_beyond_the_end_of_the_array_points_at_its_key():
    assert at(PROTOCOL, "schedule", "phase", 0, "mg_per_kg", 6) == (28, 1)


# -- missing keys fall back to where they belong ---------------------------------------------


def test_missing_key_of_dose_points_at_dose_header():
    assert at(PROTOCOL, "dose", "weight_basis") == (16, 2)


def test_missing_key_of_second_rule_points_at_second_rule_header():
    assert at(PROTOCOL, "rule", 1, "message") == (44, 1)


def test_missing_key_of_second_infusion_points_at_its_header():
    assert at(PATIENT, "infusions", 1, "protocol") == (26, 1)


def test_missing_key_of_scores_points_at_scores_header():
    assert at(PATIENT, "scores", "gad7") == (18, 2)


def test_missing_top_level_key_points_at_line_1_column_1():
    assert at(PATIENT, "weighed_on") == (1, 1)


def test_missing_key_of_a_dotted_key_table_points_at_its_first_mention():
    text = "[scores]\nphq9.total = 19\nphq9.date = 2026-11-20\n"
    assert at(text, "scores", "phq9", "item_9") == (2, 1)


def test_explicit_table_header_is_preferred_to_an_earlier_implied_one():
    text = "[vocabulary.drugs]\nx = ['a']\n[vocabulary]\nversion = 1\n"
    assert at(text, "vocabulary", "conditions") == (3, 2)


# -- the TOML syntax a clinician may write --------------------------------------------------


def test_quoted_key_with_spaces_is_found():
    assert at(PROTOCOL, "vocabulary", "conditions", "psychotic disorder") == (58, 1)


def test_quoted_key_with_escape_is_compared_after_unescaping():
    text = 'x = 1\n"caf\\u00e9" = 2\n'
    assert at(text, "café") == (2, 1)


def test_hash_inside_a_string_does_not_start_a_comment():
    assert at(PROTOCOL, "checklist", "pre", 1) == (36, 46)


def test_rule_header_inside_multiline_string_is_not_counted():
    assert at(PROTOCOL, "rule", 2, "id") == (51, 1)


def test_literal_multiline_string_hides_headers_and_keys():
    text = "notes = '''\n[dose]\nmax_mg = 1\n'''\n[dose]\nmax_mg = 60\n"
    assert at(text, "dose", "max_mg") == (6, 1)


def test_escaped_quotes_do_not_end_a_multiline_string():
    text = 'notes = """ a \\""" [dose] ""\n[dose]\nmax_mg = 1\n"""\n[dose]\nmax_mg = 60\n'
    assert at(text, "dose", "max_mg") == (6, 1)


def test_multiline_string_may_end_with_extra_quotes():
    text = 'pre = ["""Say "stop"""", "Observe"]\n'
    assert tomllib.loads(text)["pre"] == ['Say "stop"', "Observe"]
    assert at(text, "pre", 1) == (1, 26)


def test_dotted_key_parts_are_each_found():
    text = "[vocabulary]\ndrugs.benzodiazepine = ['etizolam']\n"
    assert at(text, "vocabulary", "drugs", "benzodiazepine") == (2, 7)
    assert at(text, "vocabulary", "drugs") == (2, 1)


def test_dotted_key_with_spaces_and_quotes_is_found():
    text = 'a . "b c" . d = 1\n'
    assert at(text, "a", "b c", "d") == (1, 13)


def test_dotted_table_header_is_found_at_its_last_part():
    assert at(PROTOCOL, "vocabulary", "drugs") == (59, 13)


def test_indented_key_column_counts_the_indent():
    text = "[dose]\n    max_mg = 60\n"
    assert at(text, "dose", "max_mg") == (2, 5)


def test_date_time_with_space_is_one_value():
    text = 'weighed = { at = 2026-11-20 07:32:00, by = "nurse" }\n'
    assert tomllib.loads(text)["weighed"]["by"] == "nurse"
    assert at(text, "weighed", "by") == (1, 39)


def test_crlf_and_byte_order_mark_give_the_same_positions():
    windows = "\ufeff" + PATIENT.replace("\n", "\r\n")
    assert at(windows, "id") == (1, 1)
    assert at(windows, "conditions", 2, "status") == (11, 36)


def test_crlf_line_text_has_no_carriage_return():
    windows = "\ufeff" + PATIENT.replace("\n", "\r\n")
    assert locate(windows, ("sex",)) == Position(3, 1, 'sex = "female"')


def test_byte_order_mark_is_not_counted_as_a_column():
    assert at("\ufeffsex = 'male'\nage = 3\n", "sex") == (1, 1)
    assert locate("\ufeffsex = 'male'\n", ("sex",)).text == "sex = 'male'"


def test_string_path_is_taken_as_one_key():
    assert locate(PATIENT, "height") == Position(4, 1, 'height = "165 cm"')


# -- bad input ------------------------------------------------------------------------------


def test_line_after_a_broken_line_is_still_found():
    text = 'id = "P-1\nsex = "female"\nweight = "80 kg"\n'
    assert at(text, "weight") == (3, 1)


def test_unclosed_multiline_array_does_not_hide_later_tables():
    text = "conditions = [\n  'x',\n\n[dose]\nmax_mg = 60\n"
    assert at(text, "dose", "max_mg") == (5, 1)


def test_bytes_are_decoded_as_utf8():
    assert locate(b'sex = "m"\nage = 3\n', ("age",)) == Position(2, 1, "age = 3")


def test_non_text_input_gives_none():
    assert locate(None, ("id",)) is None  # type: ignore[arg-type]
    assert locate(12, ("id",)) is None  # type: ignore[arg-type]


def test_unhashable_path_part_gives_a_position_not_an_exception():
    assert at(PATIENT, ["conditions"], 1) == (1, 1)  # type: ignore[arg-type]


def _line_of(text: str, number: int) -> str:
    line = text.split("\n")[number - 1]
    return line[:-1] if line.endswith("\r") else line


TOMLISH = st.text(alphabet=st.sampled_from(list("ab1=[]{}.,\"'#\\ \t\r\n-_:\ufeffé")), max_size=300)
ANY_PATH = st.lists(st.one_of(st.sampled_from(["a", "b", "1", "a b", ""]), st.integers(-2, 3)), max_size=5)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(TOMLISH, ANY_PATH)
def test_garbage_never_raises_and_points_inside_the_text(text, path):
    pos = locate(text, tuple(path))
    assert pos is not None
    source = text[1:] if text.startswith("\ufeff") else text
    assert pos.text == _line_of(source, pos.line)
    assert 1 <= pos.column <= len(pos.text) + 1


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), ANY_PATH)
def test_any_unicode_text_never_raises(text, path):
    assert locate(text, tuple(path)) is not None


# -- agreement with tomllib on documents it accepts -----------------------------------------

KEY = st.text(alphabet=st.sampled_from(list("abz_-1 #.\"'[]=é")), min_size=1, max_size=6)
SCALAR = st.one_of(
    st.integers(-5, 10**6),
    st.booleans(),
    st.text(alphabet=st.sampled_from(list("ab #\"'[]{}=\n\\é")), max_size=12),
)


def _documents():
    values = st.recursive(
        SCALAR,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(KEY, inner, max_size=4),
            st.lists(st.dictionaries(KEY, inner, max_size=3), min_size=1, max_size=3),
        ),
        max_leaves=25,
    )
    return st.dictionaries(KEY, values, min_size=1, max_size=6)


def _paths(value, prefix=()):
    yield prefix, value
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, prefix + (index,))


def _key_as_written(key: str) -> str:
    return tomli_w.dumps({key: 1}).split(" = ")[0]


def _starts_the_value(rest: str, value) -> bool:
    if isinstance(value, dict):
        return rest.startswith(("{", "[["))
    if isinstance(value, list):
        return rest.startswith("[")
    return rest.startswith(tomli_w.dumps({"v": value})[4:].rstrip("\n"))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_documents())
def test_every_field_of_a_valid_document_is_found_where_it_is_written(document):
    text = tomli_w.dumps(document)
    for path, value in _paths(tomllib.loads(text)):
        if not path:
            continue
        pos = locate(text, path)
        rest = pos.text[pos.column - 1 :]
        if isinstance(path[-1], str):
            assert rest.startswith(_key_as_written(path[-1])), (path, pos)
            after = rest[len(_key_as_written(path[-1])) :].lstrip(" ")
            assert after[:1] in ("=", ".", "]"), (path, pos)
        else:
            assert _starts_the_value(rest, value), (path, pos)


# -- speed ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_megabyte_protocol_is_scanned_quickly():
    rule = '[[rule]]\nid = "R-{n}"\nwhen = {{ age_at_least = 65, not = {{ pregnant = false }} }}\nmessage = "# {n}"\n'
    text = "".join(rule.format(n=n) for n in range(21000))
    assert len(text) > 2_000_000
    started = time.perf_counter()
    assert at(text, "rule", 20999, "when", "not", "pregnant") == (83999, 37)
    assert time.perf_counter() - started < 5


@pytest.mark.slow
def test_pathological_input_is_scanned_quickly_and_still_gets_a_position():
    started = time.perf_counter()
    for text in ('a = "' + "\\" * 1_000_000, "a = " + "[" * 1_000_000, 'a = """' + '\\"""' * 300_000, "{a=" * 300_000):
        assert locate(text, ("a", 0, 0)) is not None
    assert time.perf_counter() - started < 5


def test_deep_nesting_gives_the_deepest_position_reached_not_a_crash():
    assert at("a = " + "[" * 100_000, "a", 0, 0, "dose") == (1, 7)


# -- the caret block ------------------------------------------------------------------------


def test_caret_block_matches_the_compiler_layout():
    assert caret_block(Position(12, 1, "max_mgs = 60"), 7) == "  12 | max_mgs = 60\n     | ^^^^^^^"


def test_caret_block_puts_carets_under_the_column():
    pos = locate(PROTOCOL, ("rule", 2, "when", "not", "pregnant"))
    assert caret_block(pos, 8) == (
        '  53 | when = { sex = "female", age_at_least = 12, not = { pregnant = false } }\n'
        "     |                                                     ^^^^^^^^"
    )


def test_caret_block_gives_at_least_one_caret():
    assert caret_block(Position(3, 2, "[dose]"), 0) == "   3 | [dose]\n     |  ^"


def test_caret_block_keeps_tabs_so_the_caret_stays_aligned():
    assert caret_block(Position(7, 3, "\t\tmax_mg = 60"), 6) == "   7 | \t\tmax_mg = 60\n     | \t\t^^^^^^"


def test_caret_block_widens_the_gutter_for_long_files():
    assert caret_block(Position(123456, 1, "x = 1")) == "123456 | x = 1\n       | ^"


def test_caret_block_counts_wide_characters_twice():
    pos = Position(2, 20, 'x = { name = "抑郁", status = 1 }')
    assert pos.text[pos.column - 1 :].startswith("status")
    assert caret_block(pos, 6) == '   2 | x = { name = "抑郁", status = 1 }\n     | ' + " " * 21 + "^^^^^^"


def test_caret_block_pads_past_the_end_of_the_line():
    assert caret_block(Position(1, 4, "ab")) == "   1 | ab\n     |    ^"


# -- one line ------------------------------------------------------------------------------


def test_find_key_column_finds_a_key_inside_an_inline_table():
    assert find_key_column('when = { sex = "female", not = { pregnant = false } }', "pregnant") == 34


def test_find_key_column_ignores_the_key_name_inside_a_string_or_comment():
    assert find_key_column('message = "pregnant = unknown" # pregnant = x', "pregnant") is None


def test_find_key_column_finds_a_quoted_key_and_a_header_part():
    assert find_key_column('"psychotic disorder" = ["x"]', "psychotic disorder") == 1
    assert find_key_column("[vocabulary.drugs]", "drugs") == 13
