"""Where a field is written in a TOML file, so an error can show the line and a caret under the key."""

from __future__ import annotations

import re
from dataclasses import dataclass

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters (a tab counts as one)
    text: str  # the whole source line, without its line ending


# A person reads the error, so the pointer must be right even in a file that is not valid TOML:
# the scanner below never trusts the input, never raises, and resynchronises at the next line.

# Fast paths (same grammar, one match each) for the shapes that make up nearly every line:
# `key = "text"` or `key = 12`, a simple array item with its comma, and a [...] or {...}
# nested at most two deep, such as `when = { sex = "female", not = { pregnant = false } }`.
_ONE_LINE_VALUE = r"""(?:"(?!"")(?:[^"\\\n]++|\\.)*+"|'(?!'')[^'\n]*+'|[A-Za-z0-9_:.+\-]++(?: \d\d:[0-9:.+\-Zz]*+)?)"""
_FLAT_ATOM = r"""[^"'{}\[\]#\n]++|"(?:[^"\\\n]++|\\.)*+"|'[^'\n]*+'"""
_FLAT_BODY = rf"(?:{_FLAT_ATOM})*+"
for _ in range(2):
    _FLAT_BODY = rf"(?:{_FLAT_ATOM}|\[{_FLAT_BODY}\]|\{{{_FLAT_BODY}\}})*+"

class _Patterns:
    """The scanner's regular expressions, compiled together on first use (`_patterns()`): the CLI
    imports this module on every run but needs it only for an error."""

    __slots__ = (
        "ws", "ws_nl", "end", "bare_key", "basic", "literal", "scalar", "simple_line", "simple_item",
        "flat_array", "flat_table", "escape", "line_token",
    )  # fmt: skip

    def __init__(self) -> None:
        c = re.compile
        self.ws = c(r"[ \t]*")
        self.ws_nl = c(r"(?:[ \t\r\n]++|#[^\n]*+)*+")  # blanks, line ends and comments
        self.end = c(r"[ \t\r]*+(?:#[^\n]*+)?(?:\n|\Z)")  # the rest of a statement's line
        self.bare_key = c(r"[A-Za-z0-9_-]+")
        self.basic = c(r'"(?:[^"\\\n]++|\\.)*+"')
        self.literal = c(r"'[^'\n]*+'")
        self.scalar = c(r"\d{4}-\d\d-\d\d \d\d:\d\d[0-9:.+\-Zz]*+|[A-Za-z0-9_:.+\-]++")
        self.simple_line = c(
            r"""([A-Za-z0-9_-]++|"(?:[^"\\\n]++|\\.)*+"|'[^'\n]*+')[ \t]*+=[ \t]*+"""
            + _ONE_LINE_VALUE
            + r"[ \t\r]*+(?:#[^\n]*+)?(?:\n|\Z)"
        )
        self.simple_item = c(_ONE_LINE_VALUE + r"(?:[ \t\r\n]++|#[^\n]*+)*+(?:,|(?=\]))")
        self.flat_array = c(r"\[" + _FLAT_BODY + r"\]")
        self.flat_table = c(r"\{" + _FLAT_BODY + r"\}")
        self.escape = c(r"(?s)\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|(.))")
        self.line_token = c(r"""(?s)"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[A-Za-z0-9_-]+|#.*|\S""")


_compiled: list[_Patterns] = []  # empty until the first error needs the patterns


def _patterns() -> _Patterns:
    if not _compiled:
        _compiled.append(_Patterns())
    return _compiled[0]


def _skip(pattern: re.Pattern[str], s: str, i: int) -> int:
    """Past what `pattern` (blanks or comments, which may be nothing) matches at `i`."""
    m = pattern.match(s, i)
    return i if m is None else m.end()


_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "e": "\x1b", '"': '"', "\\": "\\"}

_MAX_DEPTH = 100  # nesting beyond this is not a real protocol; stop rather than exhaust the stack
_EXPLICIT, _IMPLIED = 2, 1  # `[a.b]` and `a.b = 1` define b; they only imply a


class _Found(Exception):
    """The exact path is written here; nothing later in the file can change the answer."""


class _Bad(Exception):
    """Not TOML at this offset; the scanner skips to the next line."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.unclosed = False  # inside a [ ] or { } value, which may run over later lines


def _unescape(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1) or m.group(2) or m.group(3)
        if code:
            try:
                return chr(int(code, 16))
            except (ValueError, OverflowError):
                return m.group(0)
        return _SIMPLE_ESCAPES.get(m.group(4), m.group(0))

    return _patterns().escape.sub(one, body) if "\\" in body else body


class _Scanner:
    """One pass over the text, remembering where each prefix of the wanted path is written."""

    def __init__(self, text: str, target: tuple) -> None:
        self.s = text
        self.n = len(text)
        self.p = _patterns()
        self.target = target
        self.found: dict[int, tuple[int, int]] = {}  # prefix length -> (priority, offset)
        self.arrays: dict[tuple, int] = {}  # [[array of tables]] path -> headers seen so far
        self.rescanned_to = -1  # text up to here has already been read again after an unclosed bracket

    # -- recording ------------------------------------------------------------------------

    def note(self, depth: int, offset: int, priority: int) -> None:
        old = self.found.get(depth)
        if old is None or priority > old[0]:
            self.found[depth] = (priority, offset)
            if depth == len(self.target) and priority == _EXPLICIT:
                raise _Found

    def follow(self, depth: int | None, part: object, offset: int, priority: int) -> int | None:
        """Step one part deeper; None once the text has left the wanted path."""
        if depth is None or depth >= len(self.target):
            return None
        want = self.target[depth]
        if want != part or type(want) is not type(part):
            return None
        self.note(depth + 1, offset, priority)
        return depth + 1

    # -- grammar --------------------------------------------------------------------------

    def run(self) -> None:
        s, n, p = self.s, self.n, self.p
        table: int | None = 0  # how much of the wanted path the current table matches
        i = 0
        while True:
            i = _skip(p.ws_nl, s, i)
            if i >= n:
                return
            start = i
            try:
                if s[i] == "[":
                    table = None  # until the header is understood, keys belong to no known table
                    table, i = self.header(i)
                else:
                    line = p.simple_line.match(s, i)
                    if line is not None:
                        name = line.group(1)
                        if name[0] in "\"'":
                            name = _unescape(name[1:-1]) if name[0] == '"' else name[1:-1]
                        self.follow(table, name, i, _EXPLICIT)
                        i = line.end()
                        continue
                    i = self.keyval(i, table)
                end = p.end.match(s, i)
                if end is None:
                    raise _Bad(i)
                i = end.end()
            except _Bad as bad:
                resume = max(bad.offset, start)
                if bad.unclosed and start >= self.rescanned_to:
                    # an unclosed bracket must not swallow the [tables] after it: read its lines
                    # again as statements, but only once, so that the scan stays linear
                    self.rescanned_to = bad.offset
                    resume = start
                nl = s.find("\n", resume)
                i = n if nl < 0 else nl + 1

    def header(self, i: int) -> tuple[int | None, int]:
        s, p = self.s, self.p
        start = i
        many = s.startswith("[[", i)
        keys, i = self.key(_skip(p.ws, s, i + (2 if many else 1)))
        i = _skip(p.ws, s, i)
        close = "]]" if many else "]"
        if not s.startswith(close, i):
            raise _Bad(i)
        path: tuple = ()
        depth: int | None = 0
        for number, (name, offset) in enumerate(keys):
            last = number == len(keys) - 1
            path += (name,)
            depth = self.follow(depth, name, offset, _EXPLICIT if last else _IMPLIED)
            if last and many:
                index = self.arrays.get(path, 0)
                self.arrays[path] = index + 1
                path += (index,)
                depth = self.follow(depth, index, start, _EXPLICIT)
            elif path in self.arrays:
                # [rule.when] and [[schedule.phase]] belong to the latest [[rule]] / [[schedule]]
                index = self.arrays[path] - 1
                path += (index,)
                depth = self.follow(depth, index, start, _IMPLIED)
        return depth, i + len(close)

    def key(self, i: int) -> tuple[list[tuple[str, int]], int]:
        s, n, p = self.s, self.n, self.p
        keys = []
        while True:
            c = s[i] if i < n else ""
            if c == '"':
                m = p.basic.match(s, i)
                if m is None:
                    raise _Bad(i)
                name = _unescape(m.group()[1:-1])
            elif c == "'":
                m = p.literal.match(s, i)
                if m is None:
                    raise _Bad(i)
                name = m.group()[1:-1]
            else:
                m = p.bare_key.match(s, i)
                if m is None:
                    raise _Bad(i)
                name = m.group()
            keys.append((name, i))
            j = _skip(p.ws, s, m.end())
            if j < n and s[j] == ".":
                i = _skip(p.ws, s, j + 1)
            else:
                return keys, j

    def keyval(self, i: int, depth: int | None) -> int:
        s, p = self.s, self.p
        keys, i = self.key(i)
        for number, (name, offset) in enumerate(keys):
            depth = self.follow(depth, name, offset, _EXPLICIT if number == len(keys) - 1 else _IMPLIED)
        if not s.startswith("=", i):
            raise _Bad(i)
        i = _skip(p.ws, s, i + 1)
        try:
            return self.value(i, depth, 0)
        except _Bad as bad:
            bad.unclosed = s.startswith(("[", "{"), i)
            raise

    def value(self, i: int, depth: int | None, nesting: int) -> int:
        s, p = self.s, self.p
        c = s[i] if i < self.n else ""
        if c == '"':
            if s.startswith('"""', i):
                return self.multiline(i, '"""')
            m = p.basic.match(s, i)
        elif c == "'":
            if s.startswith("'''", i):
                return self.multiline(i, "'''")
            m = p.literal.match(s, i)
        elif c == "[" or c == "{":
            if depth is None or depth >= len(self.target):
                m = (p.flat_array if c == "[" else p.flat_table).match(s, i)
                if m is not None:
                    return m.end()
            if c == "[":
                return self.array(i, depth, nesting)
            return self.inline_table(i, depth, nesting)
        else:
            m = p.scalar.match(s, i)
        if m is None:
            raise _Bad(i)
        return m.end()

    def multiline(self, i: int, quotes: str) -> int:
        s = self.s
        k = i + 3
        while True:
            j = s.find(quotes, k)
            if j < 0:
                raise _Bad(i)
            if quotes == '"""':
                b = j
                while b > k and s[b - 1] == "\\":
                    b -= 1
                if (j - b) % 2:  # an escaped quote, not the end
                    k = j + 1
                    continue
            end = j + 3
            # up to two more quotes are content just before the closing delimiter
            for _ in range(2):
                if s.startswith(quotes[0], end):
                    end += 1
            return end

    def array(self, i: int, depth: int | None, nesting: int) -> int:
        if nesting > _MAX_DEPTH:
            raise _Bad(i)
        s, n, p = self.s, self.n, self.p
        want = None
        if depth is not None and depth < len(self.target):
            want = self.target[depth]
        i += 1
        index = 0
        while True:
            i = _skip(p.ws_nl, s, i)
            if i >= n:
                raise _Bad(i)
            if s[i] == "]":
                return i + 1
            if index != want:
                simple = p.simple_item.match(s, i)
                if simple is not None:
                    i = simple.end()
                    index += 1
                    if s[i - 1] == ",":
                        continue
                    return i + 1
            item = None
            if index == want and type(want) is int and depth is not None:  # want is set: depth is too
                self.note(depth + 1, i, _EXPLICIT)
                item = depth + 1
            i = _skip(p.ws_nl, s, self.value(i, item, nesting + 1))
            index += 1
            c = s[i] if i < n else ""
            if c == ",":
                i += 1
            elif c == "]":
                return i + 1
            else:
                raise _Bad(i)

    def inline_table(self, i: int, depth: int | None, nesting: int) -> int:
        if nesting > _MAX_DEPTH:
            raise _Bad(i)
        s, n, p = self.s, self.n, self.p
        i += 1
        while True:
            # line breaks are tolerated here (TOML 1.1 allows them; a person may write them anyway)
            i = _skip(p.ws_nl, s, i)
            if i >= n:
                raise _Bad(i)
            if s[i] == "}":
                return i + 1
            keys, i = self.key(i)
            inner = depth
            for number, (name, offset) in enumerate(keys):
                priority = _EXPLICIT if number == len(keys) - 1 else _IMPLIED
                inner = self.follow(inner, name, offset, priority)
            if not s.startswith("=", i):
                raise _Bad(i)
            i = self.value(_skip(p.ws, s, i + 1), inner, nesting + 1)
            i = _skip(p.ws_nl, s, i)
            c = s[i] if i < n else ""
            if c == ",":
                i += 1
            elif c == "}":
                return i + 1
            else:
                raise _Bad(i)


def _position(text: str, offset: int) -> Position:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    line = text[start:] if end < 0 else text[start:end]
    if line.endswith("\r"):
        line = line[:-1]
    return Position(text.count("\n", 0, start) + 1, offset - start + 1, line)


def locate(text: str, path: Path) -> Position | None:
    """The position of the deepest part of `path` written in `text`.

    The exact key if it is there; else the key or header of the nearest enclosing table that
    is (a missing required key points at the table that should hold it); else line 1, column 1.
    An integer part is the N-th (0-based) `[[header]]` of that exact table path, or the N-th
    item of an array. Returns None only if `text` is not text; never raises.
    """
    try:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        if not isinstance(text, str):
            return None
        if text.startswith("\ufeff"):
            # an editor does not show the byte-order mark, so columns on line 1 must not count it
            text = text[1:]
        target = (path,) if isinstance(path, str) else tuple(path)
        scanner = _Scanner(text, target)
        try:
            scanner.run()
        except _Found:
            pass
        offset = scanner.found[max(scanner.found)][1] if scanner.found else 0
        return _position(text, offset)
    except Exception:  # a broken pointer must never hide the error it was meant to show
        return None


def caret_block(pos: Position, width: int = 1) -> str:
    """The source line under a line-number gutter, and a line of `width` carets under the column.

    Tabs before the column are copied into the caret line, and wide (East Asian) characters
    get two spaces, so the caret lines up in a terminal whatever the tab width.
    """
    import unicodedata  # only on the error path

    number = str(pos.line)
    gutter = max(4, len(number))
    text = pos.text.rstrip("\r\n")
    pad = []
    for ch in text[: max(pos.column - 1, 0)]:
        if ch == "\t":
            pad.append("\t")
        elif unicodedata.combining(ch):
            continue
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            pad.append("  ")
        else:
            pad.append(" ")
    pad.append(" " * max(pos.column - 1 - len(text), 0))
    carets = "^" * max(int(width), 1)
    return f"{number:>{gutter}} | {text}\n{'':>{gutter}} | {''.join(pad)}{carets}"


# Patterns as text: `re` compiles and caches them on the first error, not at import.
_HEADER_SPAN = r"\[\[[^\]\n]*\]\]|\[[^\]\n]*\]"
_KEY_SPAN = r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|[A-Za-z0-9_-]+'
_VALUE_SPAN = r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|[A-Za-z0-9_:.+\-]+'


def span_width(line: str, column: int, *, value: bool = False) -> int:
    """How many characters the header, key (or, with `value`, the list item) at `column` takes.

    The caret line then underlines exactly what the error is about: `"schizofrenia"` in a
    list, `dose` in `[dose]` when a required key is missing, `[[rule]]` for a whole rule.
    """
    try:
        start = max(column - 1, 0)
        if line.startswith("[", start) and not line[:start].strip():  # a [table] or [[table]] header
            m = re.compile(_HEADER_SPAN).match(line, start)
        else:
            m = re.compile(_VALUE_SPAN if value else _KEY_SPAN).match(line, start)
        return max(len(m.group()), 1) if m else 1
    except Exception:  # only ever used to point at an error
        return 1


def find_key_column(line: str, key: str) -> int | None:
    """The 1-based column where `key` is written as a key on one line (`key =`, a dotted part, a header)."""
    try:
        p = _patterns()
        tokens = [(m.group(), m.start()) for m in p.line_token.finditer(line)]
        is_header = line.lstrip().startswith("[")
        for number, (token, start) in enumerate(tokens):
            if token.startswith("#"):
                return None
            if token[0] == '"':
                name = _unescape(token[1:-1])
            elif token[0] == "'":
                name = token[1:-1]
            elif p.bare_key.fullmatch(token):
                name = token
            else:
                continue
            after = tokens[number + 1][0] if number + 1 < len(tokens) else ""
            if name == key and (after in ("=", ".") or (is_header and after == "]")):
                return start + 1
        return None
    except Exception:  # only ever used to point at an error
        return None
