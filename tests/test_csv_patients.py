"""CSV patient rows: each row read, typed and validated like a TOML patient, errors naming file, row and column."""

from __future__ import annotations

import hashlib
import tracemalloc
from datetime import date
from fractions import Fraction

import pytest

from ketaplan.errors import PatientError
from ketaplan.load.csv_patients import iter_csv_patients
from ketaplan.load.patient import LoadedPatient
from ketaplan.model.patient import Medication

START = date(2037, 12, 1)
HEADER = "id,age,sex,height,weight,blood_pressure,allergies,conditions,medications"
ROW_A = "P-1,45,male,180 cm,80 kg,120/80,none,major depressive disorder,sertraline 100 mg"


def write(tmp_path, text: str, name: str = "patients.csv", bom: bool = False) -> str:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return str(path)


def rows(path: str) -> list:
    return list(iter_csv_patients(path, START))


def only_patient(path: str):
    [(_label, loaded)] = rows(path)
    assert isinstance(loaded, LoadedPatient), loaded
    return loaded.patient


def only_error(path: str) -> PatientError:
    [(_label, loaded)] = rows(path)
    assert isinstance(loaded, PatientError), loaded
    return loaded


def test_each_row_is_labelled_with_file_and_spreadsheet_row(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A}\n{ROW_A.replace('P-1', 'P-2')}\n")
    assert [label for label, _ in rows(path)] == [f"{path}:2", f"{path}:3"]


def test_byte_order_mark_before_the_header_is_accepted(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A}\n", bom=True)
    assert only_patient(path).id == "P-1"


def test_cells_become_the_patient_values_of_a_toml_file(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A}\n")
    p = only_patient(path)
    assert (p.id, p.age, p.sex, p.height_cm, p.weight_kg, p.blood_pressure) == (
        "P-1", 45, "male", Fraction(180), Fraction(80), (120, 80)
    )


def test_pounds_in_a_cell_convert_exactly_to_kilograms(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A.replace('80 kg', '176 lb')}\n")
    assert only_patient(path).weight_kg == Fraction(176) * Fraction(45359237, 100000000)


def test_none_is_an_empty_list_and_an_empty_cell_is_not_recorded(tmp_path):
    path = write(tmp_path, f"{HEADER}\nP-1,45,male,180 cm,80 kg,120/80,none,,\n")
    p = only_patient(path)
    assert (p.allergies, p.conditions, p.medications) == ((), None, None)


def test_list_cells_split_on_semicolons_and_are_stripped(tmp_path):
    path = write(tmp_path, f'{HEADER}\nP-1,45,male,180 cm,80 kg,,none,none,"sertraline 100 mg ;  lorazepam 1 mg;"\n')
    assert only_patient(path).medications == (Medication("sertraline 100 mg"), Medication("lorazepam 1 mg"))


def test_score_columns_go_into_the_scores_table(tmp_path):
    path = write(tmp_path, "id,age,sex,height,weight,phq9,gad7\nP-1,45,male,180 cm,80 kg,19,12\n")
    assert only_patient(path).scores == (("phq9", 19), ("gad7", 12))


def test_booleans_and_iso_dates_are_read(tmp_path):
    path = write(
        tmp_path,
        "id,date_of_birth,sex,height,weight,weighed_on,pregnant,breastfeeding\n"
        "P-1,1961-04-12,female,165 cm,70 kg,2037-11-20,FALSE,false\n",
    )
    p = only_patient(path)
    assert (p.age, p.weighed_on, p.pregnant, p.breastfeeding) == (76, date(2037, 11, 20), False, False)


def test_a_decimal_age_is_that_rows_error_naming_file_row_and_column(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A.replace(',45,', ',45.0,')}\n")
    assert only_error(path).one_line() == (
        f"{path}:2: age: expected a whole number, found '45.0' (write it without a decimal point)"
    )


def test_a_score_out_of_its_scale_names_the_csv_column(tmp_path):
    path = write(tmp_path, "id,age,sex,height,weight,phq9\nP-1,45,male,180 cm,80 kg,28\n")
    assert only_error(path).one_line() == f"{path}:2: phq9: 28 is outside 0..27"


def test_a_date_not_written_yyyy_mm_dd_is_refused(tmp_path):
    path = write(tmp_path, "id,date_of_birth,sex,height,weight\nP-1,12/04/1961,male,180 cm,80 kg\n")
    assert only_error(path).one_line() == (
        f"{path}:2: date_of_birth: expected a date written YYYY-MM-DD such as 2026-12-01, found '12/04/1961'"
    )


def test_yes_is_not_a_boolean(tmp_path):
    path = write(tmp_path, "id,age,sex,height,weight,pregnant\nP-1,45,female,165 cm,70 kg,yes\n")
    assert only_error(path).one_line() == f"{path}:2: pregnant: expected true or false, found 'yes'"


def test_a_validation_error_from_the_patient_rules_names_row_and_field(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A.replace('80 kg', '80')}\n")
    error = only_error(path)
    assert (error.file, error.line, error.field) == (path, 2, "weight")


def test_a_bad_row_does_not_stop_the_rows_after_it(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A.replace('P-1', 'P-BAD').replace('80 kg', '80 stone')}\n{ROW_A}\n")
    kinds = [(label, type(loaded).__name__) for label, loaded in rows(path)]
    assert kinds == [(f"{path}:2", "PatientError"), (f"{path}:3", "LoadedPatient")]


def test_an_invalid_rows_error_carries_its_well_formed_id(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A.replace('80 kg', '80 stone')}\n")
    assert only_error(path).patient_id == "P-1"


def test_a_row_with_more_cells_than_columns_is_refused(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A}, once daily\n")
    assert only_error(path).one_line() == (
        f"{path}:2: the row has 10 cells but the header has 9 columns "
        "(a value containing a comma must be in double quotes)"
    )


def test_an_unclosed_quote_is_reported_on_its_row_not_swallowed_silently(tmp_path):
    path = write(tmp_path, f'{HEADER}\n{ROW_A.replace("none", chr(34) + "none")}\n{ROW_A}\n{ROW_A}\n')
    [(label, error)] = rows(path)
    assert (label, error.line) == (f"{path}:2", 2)
    assert "a double quote that is not closed" in error.message


def test_blank_rows_are_skipped_and_still_counted(tmp_path):
    path = write(tmp_path, f"{HEADER}\n\n,,,,,,,,\n{ROW_A}\n")
    assert [label for label, _ in rows(path)] == [f"{path}:4"]


def test_a_row_that_is_not_utf8_is_that_rows_error(tmp_path):
    path = tmp_path / "p.csv"
    latin1_row = ROW_A.replace("P-1", "P-\xe9").encode("latin-1")
    path.write_bytes(f"{HEADER}\n".encode() + latin1_row + b"\n" + f"{ROW_A}\n".encode())
    [(_, first), (_, second)] = rows(str(path))
    assert (first.one_line(), second.patient.id) == (f"{path}:2: the row is not UTF-8 text", "P-1")


def test_an_overlong_line_is_reported_without_reading_it_whole_and_the_next_row_is_read(tmp_path, monkeypatch):
    import ketaplan.load.csv_patients as module

    monkeypatch.setattr(module, "MAX_LINE_CHARS", 200)
    path = write(tmp_path, f"{HEADER}\n{ROW_A},{'x' * 500}\n{ROW_A}\n")
    [(_, first), (_, second)] = rows(path)
    assert (first.one_line(), second.patient.id) == (f"{path}:2: a line of the row is longer than 200 characters", "P-1")


def test_row_sha256_is_of_the_rows_own_bytes_without_its_line_ending(tmp_path):
    path = write(tmp_path, f"{HEADER}\r\n{ROW_A}\r\n")
    [(_, loaded)] = rows(path)
    assert loaded.sha256 == hashlib.sha256(ROW_A.encode()).hexdigest()


def test_the_plan_names_the_row_as_its_patient_file(tmp_path):
    path = write(tmp_path, f"{HEADER}\n{ROW_A}\n")
    [(_, loaded)] = rows(path)
    assert loaded.name == f"{path}:2"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,age,sex,height,wieght", "unknown column 'wieght' (did you mean 'weight'?)"),
        ("id,age,sex,height,weight,age", "column 'age' appears twice in the header"),
        ("id,age,sex,height", "the header has no 'weight' column, which every patient needs"),
        ("id,sex,height,weight", "the header needs an 'age' or a 'date_of_birth' column"),
        ("id,age,sex,height,weight,", "column 6 of the header has no name; row 1 must name every column"),
    ],
)
def test_a_bad_header_fails_the_whole_file_before_any_row(tmp_path, header, message):
    path = write(tmp_path, f"{header}\n{ROW_A}\n")
    with pytest.raises(PatientError) as caught:
        rows(path)
    assert caught.value.one_line() == f"{path}:1: {message}"


def test_a_first_row_of_patient_data_is_reported_as_a_missing_header(tmp_path):
    path = write(tmp_path, f"{ROW_A}\n")
    with pytest.raises(PatientError) as caught:
        rows(path)
    assert "row 1 must be the header" in caught.value.message


def test_an_empty_file_has_no_header(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(PatientError) as caught:
        rows(path)
    assert caught.value.one_line() == (
        f"{path}:1: the file is empty: row 1 must name the columns (id, sex, height, weight, ...)"
    )


@pytest.mark.slow
def test_rows_are_streamed_not_read_into_memory(tmp_path):
    # 4,000 rows of about 1 kB: reading the file whole would take 4 MB at least.
    padding = ";".join(f"penicillin {i}" for i in range(70))
    row = f'P-1,45,male,180 cm,80 kg,120/80,"{padding}",none,none\n'
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(HEADER + "\n")
        for _ in range(4000):
            handle.write(row)
    assert path.stat().st_size > 4_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_csv_patients(str(path), START))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, peak < 1_000_000) == (4000, True)
