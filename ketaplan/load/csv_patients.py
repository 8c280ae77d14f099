"""Reading many patients from one CSV file, row by row, each checked exactly as a TOML patient file is."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import date
from typing import Any, NamedTuple

from ketaplan.errors import PatientError
from ketaplan.formats import CSV_COLUMNS, SCORE_RANGES
from ketaplan.formats import CSV_REQUIRED as REQUIRED_COLUMNS
from ketaplan.load.patient import ID_PATTERN, LoadedPatient, patient_from_table
from ketaplan.load.reader import Path, Source, sha256_hex, suggest

# The columns and what each holds: ketaplan/formats.py (CSV_COLUMNS), beside the patient file's keys.
SCORE_COLUMNS = tuple(SCORE_RANGES)
COLUMNS = tuple(CSV_COLUMNS)
INTEGER_COLUMNS = tuple(c for c, kind in CSV_COLUMNS.items() if kind == "integer")
BOOLEAN_COLUMNS = tuple(c for c, kind in CSV_COLUMNS.items() if kind == "boolean")
DATE_COLUMNS = tuple(c for c, kind in CSV_COLUMNS.items() if kind == "date")
LIST_COLUMNS = tuple(c for c, kind in CSV_COLUMNS.items() if kind == "list")

_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
_DECIMAL_INTEGER = re.compile(r"[+-]?[0-9]{1,9}\.0*")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LINE_END = re.compile(r"(?:\r\n|\n|\r)\Z")


class _RowSource(Source):
    """A CSV row as a Source: errors name the file, the row and the column as the header spells it."""

    def error(self, path: Path, message: str):
        # Scores sit under "scores" in the patient table, but the CSV column is plain "phq9".
        if len(path) >= 2 and path[0] == "scores":
            path = tuple(path[1:])
        return super().error(path, message)


#: A line longer than this is no patient row (a file without line breaks, say): it is reported, not read whole.
MAX_LINE_CHARS = 1024 * 1024


class _Lines:
    """The file's lines as csv.reader takes them, keeping the lines of the current row (its raw text)."""

    __slots__ = ("handle", "taken", "number", "overlong")

    def __init__(self, handle) -> None:
        self.handle = handle
        self.taken: list[str] = []
        self.number = 0
        self.overlong = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline(MAX_LINE_CHARS)
        if not line:
            raise StopIteration
        self.number += 1
        if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            # Skip the rest of the line a piece at a time: memory stays bounded.
            while True:
                rest = self.handle.readline(MAX_LINE_CHARS)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            self.overlong = True
            line = "\n"
        self.taken.append(line)
        return line

    def take(self) -> str:
        text = "".join(self.taken)
        self.taken.clear()
        return text


def _has_undecodable(text: str) -> bool:
    # Bytes that are not UTF-8 were read as lone surrogates (errors="surrogateescape").
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _header(cells: list[str], name: str) -> tuple[str, ...]:
    """The column names of row 1; an unknown, duplicate, unnamed or missing column fails the whole file."""
    src = Source(name, None, PatientError, row=1)
    columns = tuple(cell.strip() for cell in cells)
    seen: set[str] = set()
    for number, column in enumerate(columns, start=1):
        if not column:
            src.fail((), f"column {number} of the header has no name; row 1 must name every column")
        if column not in COLUMNS:
            hint = suggest(column, COLUMNS)
            if not hint and column.lower() in COLUMNS:
                hint = f" (did you mean {column.lower()!r}?)"
            if not hint and not any(c in COLUMNS for c in columns):
                hint = " (row 1 must be the header, naming the columns: " + ", ".join(COLUMNS) + ")"
            src.fail((), f"unknown column {column!r}{hint}")
        if column in seen:
            src.fail((), f"column {column!r} appears twice in the header")
        seen.add(column)
    for column in REQUIRED_COLUMNS:
        if column not in seen:
            src.fail((), f"the header has no {column!r} column, which every patient needs")
    if "age" not in seen and "date_of_birth" not in seen:
        src.fail((), "the header needs an 'age' or a 'date_of_birth' column")
    return columns


def _cell(src: Source, column: str, value: str) -> Any:
    """One non-empty cell as the value the TOML patient table would hold."""
    if column in INTEGER_COLUMNS:
        if _INTEGER.fullmatch(value):
            return int(value)
        if _DECIMAL_INTEGER.fullmatch(value):
            src.fail((column,), f"expected a whole number, found {value!r} (write it without a decimal point)")
        src.fail((column,), f"expected a whole number, found {value!r}")
    if column in BOOLEAN_COLUMNS:
        # Spreadsheets write TRUE and FALSE: case does not matter, any other word is refused.
        if value.lower() == "true":
            return True
        if value.lower() == "false":
            return False
        src.fail((column,), f"expected true or false, found {value!r}")
    if column in DATE_COLUMNS:
        try:
            if not _ISO_DATE.fullmatch(value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            src.fail((column,), f"expected a date written YYYY-MM-DD such as 2026-12-01, found {value!r}")
    if column == "infusions":
        # "2027-01-10 35 mg trd-iv-induction; 2027-01-13 35 mg": the [[infusions]] of a TOML file.
        if value.lower() == "none":
            return []
        return [_infusion(src, i, item) for i, item in enumerate(_items(src, column, value))]
    if column in LIST_COLUMNS:
        # "none" is recorded as none; an empty cell is not recorded (absent is not empty).
        if value.lower() == "none":
            return []
        items = [item.strip() for item in value.split(";")]
        if items and not items[-1]:
            items.pop()  # a trailing ";" ends the list
        for i, item in enumerate(items):
            if not item:
                src.fail((column, i), "is empty: separate the names with single ';'")
            if item.lower() == "none":
                src.fail((column, i), "'none' must be the whole cell (it means: recorded as none)")
        return items
    return value


def _items(src: Source, column: str, value: str) -> list[str]:
    items = [item.strip() for item in value.split(";")]
    if items and not items[-1]:
        items.pop()  # a trailing ";" ends the list
    for i, item in enumerate(items):
        if not item:
            src.fail((column, i), "is empty: separate the entries with single ';'")
    return items


_INFUSION = re.compile(r"(?P<date>\S+)\s+(?P<dose>[0-9.]+\s*mg)(?:\s+(?P<protocol>\S+))?", re.IGNORECASE)
INFUSION_HINT = "write each infusion as DATE DOSE [PROTOCOL], e.g. '2027-01-10 35 mg trd-iv-induction'"


def _infusion(src: Source, i: int, item: str) -> dict[str, Any]:
    """One "DATE DOSE [PROTOCOL]" entry as the table a TOML [[infusions]] entry gives."""
    match = _INFUSION.fullmatch(item)
    if match is None:
        src.fail(("infusions", i), f"{item!r}: {INFUSION_HINT}")
    try:
        if not _ISO_DATE.fullmatch(match["date"]):
            raise ValueError
        day = date.fromisoformat(match["date"])
    except ValueError:
        src.fail(("infusions", i, "date"), f"expected a date written YYYY-MM-DD such as 2026-12-01, found {match['date']!r}")
    table: dict[str, Any] = {"date": day, "dose": match["dose"]}
    if match["protocol"] is not None:
        table["protocol"] = match["protocol"]
    return table


def row_table(cells: list[str], columns: tuple[str, ...], src: Source) -> dict[str, Any]:
    """A CSV row as the dict a TOML patient file gives: empty cells absent, scores under "scores"."""
    if len(cells) != len(columns):
        src.fail(
            (),
            f"the row has {len(cells)} cells but the header has {len(columns)} columns "
            "(a value containing a comma must be in double quotes)",
        )
    data: dict[str, Any] = {}
    scores: dict[str, int] = {}
    for column, raw in zip(columns, cells):
        value = raw.strip()
        if not value:
            continue
        parsed = _cell(src, column, value)
        if column in SCORE_COLUMNS:
            scores[column] = parsed
        else:
            data[column] = parsed
    if scores:
        data["scores"] = scores
    return data


def _known_id(cells: list[str], columns: tuple[str, ...]) -> str | None:
    """The row's id when it is a well-formed one, so that an invalid row can still be named."""
    try:
        value = cells[columns.index("id")].strip()
    except (ValueError, IndexError):
        return None
    return value if re.fullmatch(ID_PATTERN, value) else None


class CsvRow(NamedTuple):
    """One patient row as read from the file, before it is checked (small, so it can go to a worker)."""

    path: str
    row: int  # spreadsheet row number; the header is row 1
    cells: list[str]
    columns: tuple[str, ...]
    raw: str  # the row's text as in the file (undecodable bytes as lone surrogates)
    problem: str | None  # the CSV reader's complaint, if any
    first_line: int
    last_line: int

    @property
    def label(self) -> str:
        return f"{self.path}:{self.row}"


def iter_csv_rows(path: str) -> Iterator[CsvRow]:
    """Every non-blank row after the header, in file order, not yet checked; a whole-file problem
    (cannot be read, a bad header) raises PatientError before the first row.

    The file is UTF-8 (a byte-order mark is accepted); row 1 names the columns (spec/patient.md,
    "Many patients at once"). Rows are read one at a time: a file of a million patients takes no
    more memory than a file of ten. Row numbers are spreadsheet rows (the header is row 1), so
    that an error points where a clinician looks in the spreadsheet; a blank row is skipped but
    still counted.
    """
    with open_csv(path) as handle:
        lines = _Lines(handle)
        reader = csv.reader(lines, strict=True)
        columns = read_header(reader, lines, path)
        row = 1
        while True:
            first_line = lines.number + 1
            try:
                cells = next(reader)
                problem = None
            except StopIteration:
                return
            except csv.Error as exc:
                cells, problem = [], f"not valid CSV: {exc}"
            row += 1
            raw = lines.take()
            if lines.overlong:
                lines.overlong = False
                cells, problem = [], f"a line of the row is longer than {MAX_LINE_CHARS:,} characters"
            if problem is None and not any(cell.strip() for cell in cells):
                continue  # a blank row is no patient
            yield CsvRow(path, row, cells, columns, raw, problem, first_line, lines.number)


def row_patient(r: CsvRow, start: date) -> LoadedPatient:
    """The patient of one row, checked like a TOML patient file; a PatientError names file, row and
    column, and carries `patient_id`, the row's id when it is well-formed (else None).

    The patient's SHA-256 (the plan's `patient_sha256`) is the SHA-256 of the row's own bytes as
    they stand in the file, without its final line ending: the same row gives the same digest
    whichever file it is in and wherever it stands.
    """
    src = _RowSource(r.path, None, PatientError, row=r.row)
    try:
        if r.last_line > r.first_line:
            # A stray quote joins every following line into one cell: say so, never lose them quietly.
            src.fail(
                (),
                f"the row runs over lines {r.first_line} to {r.last_line} of the file: a line break inside "
                "a cell, or a double quote that is not closed (the rows it swallowed were not checked)",
            )
        if r.problem is not None:
            src.fail((), r.problem)
        if _has_undecodable(r.raw):
            src.fail((), "the row is not UTF-8 text")
        if "\x00" in r.raw:
            src.fail((), "the row contains a NUL character")
        patient = patient_from_table(row_table(r.cells, r.columns, src), src, start)
    except PatientError as exc:
        exc.patient_id = _known_id(r.cells, r.columns)
        raise
    raw_bytes = _LINE_END.sub("", r.raw).encode("utf-8", "surrogateescape")
    return LoadedPatient(patient, sha256_hex(raw_bytes), r.label)


def iter_csv_patients(path: str, start: date) -> Iterator[tuple[str, LoadedPatient | PatientError]]:
    """(source label "file.csv:ROW", the patient or the row's error) for every patient row, in file order.

    A problem with the file as a whole (cannot be read, not UTF-8 in the header, an unknown,
    duplicate or missing column) raises PatientError before any row is given. A bad row is given
    as its PatientError, which names file, row and column, and the next row is read. An invalid
    row's error carries `patient_id`, the row's id when it is well-formed, else None.
    """
    for r in iter_csv_rows(path):
        try:
            yield r.label, row_patient(r, start)
        except PatientError as exc:
            yield r.label, exc


def open_csv(path: str):
    """The file opened for csv.reader; a file that cannot be opened is a PatientError naming it."""
    try:
        # Undecodable bytes become lone surrogates, so that one bad row does not stop the others.
        return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")
    except FileNotFoundError:
        raise PatientError("no such file", file=path) from None
    except IsADirectoryError:
        raise PatientError("is a folder, not a CSV file", file=path) from None
    except OSError as exc:
        raise PatientError(f"cannot be read: {exc.strerror}", file=path) from None


def read_header(reader, lines: _Lines, path: str) -> tuple[str, ...]:
    """Row 1, checked; raises PatientError for the whole file."""
    src = Source(path, None, PatientError, row=1)
    try:
        cells = next(reader)
    except StopIteration:
        src.fail((), "the file is empty: row 1 must name the columns (id, sex, height, weight, ...)")
    except csv.Error as exc:
        src.fail((), f"the header is not valid CSV: {exc}")
    except OSError as exc:
        raise PatientError(f"cannot be read: {exc.strerror}", file=path) from None
    raw = lines.take()
    if lines.overlong:
        src.fail((), f"row 1 is longer than {MAX_LINE_CHARS:,} characters: this is not a CSV file of patients")
    if _has_undecodable(raw):
        src.fail((), "the file is not UTF-8 text")
    if "\x00" in raw:
        src.fail((), "the file contains a NUL character: it is not a text file")
    if lines.number > 1:
        src.fail((), "the header runs over several lines: a line break inside a column name or an unclosed quote")
    return _header(cells, path)


def check_csv_header(path: str) -> None:
    """Read and check only row 1 of a CSV file (so a whole-file error is found before any output)."""
    with open_csv(path) as handle:
        lines = _Lines(handle)
        read_header(csv.reader(lines, strict=True), lines, path)
