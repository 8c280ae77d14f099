"""Reading TOML input safely: exact numbers, strict types, and errors that point at file, line and field."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from stat import S_ISREG
from typing import Any, Literal, NoReturn, overload

from ketaplan.digest import sha256_hex as sha256_hex  # re-exported: the loaders hash through here
from ketaplan.errors import InputError
from ketaplan.formats import LARGEST_NUMBER

Path = tuple[str | int, ...]

#: Input files larger than this are refused before parsing: no patient or protocol is near it.
MAX_FILE_BYTES = 2 * 1024 * 1024


def field_name(path: Path) -> str:
    """A path as a clinician reads it: ("rule", 2, "when", "sex") -> "rule[3].when.sex" (1-based)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        else:
            text += ("." if text else "") + (part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"')
    return text


class Source:
    """Where a document came from, so every error can name its file, line and field.

    (A plain class rather than a dataclass: defining a dataclass costs about 1 ms at every start.)"""

    __slots__ = ("name", "text", "error_type", "prefix", "row", "errors")

    def __init__(
        self,
        name: str,
        text: str | None,
        error_type: type[InputError],
        prefix: Path = (),  # for a table inside another file, e.g. a protocol's [[test]] patient
        row: int | None = None,  # CSV row number (header is row 1)
        errors: list | None = None,  # when a list, a loader that can go on after an error adds errors here
    ) -> None:
        self.name = name
        self.text = text
        self.error_type = error_type
        self.prefix = prefix
        self.row = row
        self.errors = errors

    def __repr__(self) -> str:
        return f"Source({self.name!r}, row={self.row!r}, prefix={self.prefix!r})"

    def error(self, path: Path, message: str) -> InputError:
        full = self.prefix + tuple(path)
        line = column = None
        excerpt = None
        if self.row is not None:
            line = self.row
        elif self.text is not None:
            from ketaplan.load.positions import caret_block, locate, span_width  # only on the error path

            pos = locate(self.text, full)
            if pos is not None:
                line, column = pos.line, pos.column
                # Underline what is written there: the key, the list item, or (for a missing key)
                # the header of the table that should hold it.
                item = bool(full) and isinstance(full[-1], int)
                excerpt = caret_block(pos, span_width(pos.text, pos.column, value=item))
        return self.error_type(
            message, file=self.name, field=field_name(full) or None, line=line, column=column, excerpt=excerpt
        )

    def fail(self, path: Path, message: str) -> NoReturn:
        raise self.error(path, message)


def read_input_file(path: str, error_type: type[InputError], what: str) -> bytes:
    """A patient or protocol file's bytes; a file that cannot be read is an input error naming it."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise error_type("no such file", file=path) from None
    except IsADirectoryError:
        raise error_type(f"is a folder, not a {what} file", file=path) from None
    except OSError as exc:
        raise error_type(f"cannot be read: {exc.strerror}", file=path) from None


#: Opened so that a FIFO or a device never blocks the read (it is refused once fstat shows it).
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_regular_file(path: str, error_type: type[InputError], what: str) -> bytes:
    """Like read_input_file, for a regular file only: a FIFO, device or socket is refused without
    waiting on it (it is opened non-blocking and looked at before anything is read)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise error_type("no such file", file=path) from None
    except IsADirectoryError:
        raise error_type(f"is a folder, not a {what} file", file=path) from None
    except OSError as exc:
        raise error_type(f"cannot be read: {exc.strerror}", file=path) from None
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if not S_ISREG(mode):
            from ketaplan.output import describe_mode

            raise error_type(f"is {describe_mode(mode)}, not a {what} file; only regular files are read", file=path)
        # Read to the end straight from the descriptor (what a file object's read() does, without
        # building one, its second fstat and its seek): the size stat gave, then until a read gives
        # nothing, so that a file that grew meanwhile is still read whole.
        chunks = [os.read(fd, info.st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, max(info.st_size, 1 << 16)))
        return chunks[0] if len(chunks) == 2 else b"".join(chunks)
    except OSError as exc:
        raise error_type(f"cannot be read: {exc.strerror}", file=path) from None
    finally:
        os.close(fd)


def decode(data: bytes, name: str, error_type: type[InputError]) -> str:
    """UTF-8 (a byte-order mark is accepted); anything else is refused, never guessed."""
    if len(data) > MAX_FILE_BYTES:
        raise error_type(
            f"the file is {len(data):,} bytes; input files are limited to {MAX_FILE_BYTES:,} bytes", file=name
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        lines = data.decode("utf-8", "replace").split("\n")
        raise error_type(
            f"the file is not UTF-8 text (byte {exc.start + 1})", file=name, line=line, field=field_at(lines, line)
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise error_type(
            "the file contains a NUL character: it is not a text file",
            file=name,
            line=line,
            field=field_at(text.split("\n"), line),
        )
    return text


# A key (bare, quoted or dotted) or a [table] header at the start of a line.
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
# (Compiled on first use, by re's own cache: only a file that cannot be parsed needs it.)
_LINE_KEY = (
    rf"[ \t]*(?:\[\[?[ \t]*(?P<header>{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*)[ \t]*\]"
    rf"|(?P<key>{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*)[ \t]*=)"
)


def field_at(lines: list[str], line: int) -> str | None:
    """The key written on `line` (1-based) of a file that could not be parsed, so that even a
    syntax error names its field; for a continuation line of a list or table written over
    several lines, the key above it. None when no key can be seen."""
    number = line
    while 0 < number <= len(lines):
        text = lines[number - 1]
        match = re.match(_LINE_KEY, text)
        if match:
            return re.sub(r"[ \t]*\.[ \t]*", ".", match["header"] or match["key"])
        if number == line and text[:1] not in (" ", "\t", '"', "'", "[", "{", "]", "}", ","):
            return None  # the line starts like a statement but is none: no key to name
        number -= 1
    return None


def _deepest_line(text: str) -> int:
    """The line where brackets nest deepest (strings and comments skipped): where a file too
    deeply nested to parse goes wrong."""
    depth = deepest = 0
    line = where = 1
    quote = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        if quote is not None:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#":
            end = text.find("\n", i)
            i = (end if end >= 0 else n) - 1  # the line end itself is counted above
        elif c in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, line
        elif c in "]}":
            depth -= 1
        i += 1
    return where


_TOML_POS = r"\(at line (\d+), column (\d+)\)"  # compiled on first use, as _LINE_KEY


def parse_toml(text: str, name: str, error_type: type[InputError]) -> dict:
    """Parse TOML with every non-integer number read as an exact Decimal, never a binary float."""
    import tomllib

    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = column = None
        match = re.search(_TOML_POS, message)
        # Lines as TOML counts them: only "\n" ends a line (not U+2028, form feed, ...).
        lines = text.split("\n")
        if match:
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()].strip()
        elif message.endswith("(at end of document)"):
            # The mistake is in the last statement: point at the end of the last written line.
            message = message[: -len("(at end of document)")].strip()
            line = len(text.rstrip("\r\n").split("\n"))
            column = len(lines[line - 1].rstrip("\r")) + 1
        excerpt = None
        if line is not None:
            from ketaplan.load.positions import Position, caret_block

            if 0 < line <= len(lines):
                excerpt = caret_block(Position(line, column or 1, lines[line - 1].rstrip("\r")))
        raise error_type(
            f"not valid TOML: {message[:1].lower()}{message[1:]}",
            file=name,
            field=None if line is None else field_at(lines, line),
            line=line,
            column=column,
            excerpt=excerpt,
        ) from None
    except RecursionError:
        line = _deepest_line(text)
        raise error_type(
            "not valid TOML: nested too deeply", file=name, field=field_at(text.split("\n"), line), line=line
        ) from None


def suggest(key: str, allowed: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


_KNOWN: dict[tuple, frozenset] = {}


class Table:
    """One TOML table being validated: rejects unknown keys, reads typed values with their path."""

    __slots__ = ("src", "path", "data")  # no __dict__ to build: a file makes a table per table it holds

    def __init__(self, src: Source, path: Path, data: Any, allowed: Iterable[str], what: str = "table") -> None:
        self.src = src
        self.path = tuple(path)
        if not isinstance(data, dict):
            src.fail(self.path, f"expected a {what}, found {type_name(data)}")
        self.data = data
        known: frozenset | None
        if type(allowed) is frozenset:
            known = allowed  # a loader's own set of keys, made once (hashing a key tuple per table costs)
        else:
            allowed = tuple(allowed)
            known = _KNOWN.get(allowed)
            if known is None:
                known = frozenset(allowed)
                if len(_KNOWN) < 256:  # the formats' few key lists (a file's own keys are never many)
                    _KNOWN[allowed] = known
        # One set operation in C for the usual table, whose keys are all known; the unknown ones are
        # listed, in the file's order, only when there is one.
        if not known.issuperset(data):
            unknown = [key for key in data if key not in known]
            # Collecting errors: every unknown key of the table, then this table stops.
            if src.errors is not None:
                for key in unknown[1:]:
                    src.errors.append(src.error(self.path + (key,), f"unknown key {key!r}{suggest(key, allowed)}"))
            key = unknown[0]
            src.fail(self.path + (key,), f"unknown key {key!r}{suggest(key, allowed)}")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def fail(self, key: str | Path, message: str) -> NoReturn:
        sub = (key,) if isinstance(key, str) else tuple(key)
        self.src.fail(self.path + sub, message)

    def require(self, key: str) -> Any:
        if key not in self.data:
            self.fail(key, f"required key {key!r} is missing")
        return self.data[key]

    # With required=True a reader returns a value or raises (fail() never returns): the overloads say so.
    # `pattern`: a pattern's text, or the pattern compiled once by a loader that reads it for every file.
    @overload
    def text(
        self, key: str, *, required: Literal[True], pattern: str | re.Pattern[str] | None = ..., hint: str = ...
    ) -> str: ...
    @overload
    def text(
        self, key: str, *, required: bool = ..., pattern: str | re.Pattern[str] | None = ..., hint: str = ...
    ) -> str | None: ...
    def text(
        self, key: str, *, required: bool = False, pattern: str | re.Pattern[str] | None = None, hint: str = ""
    ) -> str | None:
        if key not in self.data:
            if required:
                self.require(key)
            return None
        value = self.data[key]
        if not isinstance(value, str):
            self.fail(key, f"expected text in quotes, found {type_name(value)}")
        if not value.strip():
            self.fail(key, "must not be empty")
        if pattern is not None and not (
            pattern.fullmatch(value) if isinstance(pattern, re.Pattern) else re.fullmatch(pattern, value)
        ):
            self.fail(key, f"{value!r} is not allowed here{': ' + hint if hint else ''}")
        return value

    @overload
    def choice(self, key: str, options: Iterable[str], *, required: Literal[True]) -> str: ...
    @overload
    def choice(self, key: str, options: Iterable[str], *, required: bool = ...) -> str | None: ...
    def choice(self, key: str, options: Iterable[str], *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        options = tuple(options)
        if value is not None and value not in options:
            self.fail(key, f"{value!r} is not one of: {', '.join(options)}{suggest(value, options)}")
        return value

    @overload
    def integer(self, key: str, lo: int | None = ..., hi: int | None = ..., *, required: Literal[True]) -> int: ...
    @overload
    def integer(self, key: str, lo: int | None = ..., hi: int | None = ..., *, required: bool = ...) -> int | None: ...
    def integer(self, key: str, lo: int | None = None, hi: int | None = None, *, required: bool = False) -> int | None:
        data = self.data
        if key not in data:
            if required:
                self.require(key)
            return None
        value = data[key]
        # A whole number within its range is returned as check_int returns it, without building its
        # path (only an error names it); anything else goes through check_int, which reports it.
        if type(value) is int and (lo is None or lo <= value) and (hi is None or value <= hi):
            return value
        return check_int(self.src, self.path + (key,), value, lo, hi)

    @overload
    def number(
        self, key: str, *, gt: Fraction | int | None = ..., ge: Fraction | int | None = ...,
        le: Fraction | int | None = ..., required: Literal[True],
    ) -> Fraction: ...
    @overload
    def number(
        self, key: str, *, gt: Fraction | int | None = ..., ge: Fraction | int | None = ...,
        le: Fraction | int | None = ..., required: bool = ...,
    ) -> Fraction | None: ...
    def number(
        self,
        key: str,
        *,
        gt: Fraction | int | None = None,
        ge: Fraction | int | None = None,
        le: Fraction | int | None = None,
        required: bool = False,
    ) -> Fraction | None:
        if key not in self.data:
            if required:
                self.require(key)
            return None
        return check_number(self.src, self.path + (key,), self.data[key], gt=gt, ge=ge, le=le)

    def boolean(self, key: str) -> bool | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, found {type_name(value)}")
        return value

    @overload
    def day(self, key: str, *, required: Literal[True]) -> date: ...
    @overload
    def day(self, key: str, *, required: bool = ...) -> date | None: ...
    def day(self, key: str, *, required: bool = False) -> date | None:
        data = self.data
        if key not in data:
            if required:
                self.require(key)
            return None
        value = data[key]
        if type(value) is date:  # a date, not a datetime: as check_date accepts it, without its path
            return value
        return check_date(self.src, self.path + (key,), value)

    @overload
    def texts(self, key: str, *, required: Literal[True]) -> tuple[str, ...]: ...
    @overload
    def texts(self, key: str, *, required: bool = ...) -> tuple[str, ...] | None: ...
    def texts(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        if key not in self.data:
            if required:
                self.require(key)
            return None
        value = self.data[key]
        if not isinstance(value, list):
            self.fail(key, f"expected a list of text, found {type_name(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail((key, i), f"expected text in quotes, found {type_name(item)}")
            if not item.strip():
                self.fail((key, i), "must not be empty")
        return tuple(value)

    @overload
    def table(self, key: str, allowed: Iterable[str], *, required: Literal[True]) -> Table: ...
    @overload
    def table(self, key: str, allowed: Iterable[str], *, required: bool = ...) -> Table | None: ...
    def table(self, key: str, allowed: Iterable[str], *, required: bool = False) -> Table | None:
        if key not in self.data:
            if required:
                self.require(key)
            return None
        return Table(self.src, self.path + (key,), self.data[key], allowed)

    def tables(self, key: str, allowed: Iterable[str]) -> list[Table]:
        if key not in self.data:
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.fail(key, f"expected [[{key}]] tables, found {type_name(value)}")
        return [Table(self.src, self.path + (key, i), item, allowed) for i, item in enumerate(value)]


def integers(src: Source, path: Path, data: dict, ranges: dict[str, tuple[int, int]]) -> tuple[tuple[str, int], ...]:
    """(key, whole number) for each of `ranges`' keys that the table `data` at `path` has, in
    `ranges`' order, each read as Table.integer(key, lo, hi) reads it (one call for a table of
    scores, not one per key, and no Table made for it)."""
    out = []
    for key, (lo, hi) in ranges.items():
        if key in data:
            value = data[key]
            if type(value) is not int or not lo <= value <= hi:
                value = check_int(src, path + (key,), value, lo, hi)
            out.append((key, value))
    return tuple(out)


def check_int(src: Source, path: Path, value: Any, lo: int | None, hi: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            src.fail(path, f"expected a whole number, found {value} (write it without a decimal point)")
        src.fail(path, f"expected a whole number, found {type_name(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        src.fail(path, f"{value} is outside {lo}..{hi}")
    return value


def check_number(
    src: Source,
    path: Path,
    value: Any,
    *,
    gt: Fraction | int | None = None,
    ge: Fraction | int | None = None,
    le: Fraction | int | None = None,
) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        src.fail(path, f"expected a number, found {type_name(value)}")
    if isinstance(value, Decimal) and not value.is_finite():
        src.fail(path, f"{value} is not a usable number")
    if isinstance(value, int) and abs(value) > LARGEST_NUMBER or isinstance(value, Decimal) and abs(value.adjusted()) > 12:
        src.fail(path, f"{value} is far outside any plausible value")
    exact = Fraction(value)
    bounds = []
    if gt is not None and not exact > gt:
        bounds.append(f"above {_show(gt)}")
    if ge is not None and not exact >= ge:
        bounds.append(f"at least {_show(ge)}")
    if le is not None and not exact <= le:
        bounds.append(f"at most {_show(le)}")
    if bounds:
        wanted = []
        if gt is not None:
            wanted.append(f"above {_show(gt)}")
        if ge is not None:
            wanted.append(f"at least {_show(ge)}")
        if le is not None:
            wanted.append(f"at most {_show(le)}")
        src.fail(path, f"{value} is out of range: it must be {' and '.join(wanted)}")
    return exact


def _show(x: Fraction | int) -> str:
    from ketaplan.units import fmt_number

    return fmt_number(Fraction(x), places=6, group=False)


def check_date(src: Source, path: Path, value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        src.fail(path, f"expected a date such as 2026-12-01 (no quotes), found {type_name(value)}")
    return value
