"""The error types a user can meet, and the exit code each one gives."""

from __future__ import annotations

from enum import IntEnum

# Control characters (ESC, CSI, BEL, CR) and bidirectional overrides, shown as visible escapes:
# a message may quote a line of a hostile file, which must never drive the terminal.
_UNSAFE = [*range(0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029]
_UNSAFE += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
# Zero-width and invisible formatting characters: they hide text inside a name or a reason.
_UNSAFE += [0x180E, 0x200B, 0x200C, 0x200D, *range(0x2060, 0x2065), 0xFEFF]
_VISIBLE = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNSAFE if c not in (0x09, 0x0A)}


def printable(text: str) -> str:
    """Text from an input file made safe to print: tabs and line ends kept, other controls escaped."""
    return text.translate(_VISIBLE)


def hidden_characters(text: str) -> list[str]:
    """The control, direction and zero-width characters in `text` (tab and line end included), as
    the escapes `printable` shows them: text a clinician types into a record must hold none."""
    return sorted({f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}" for ch in text if ord(ch) in _UNSAFE_SET})


_UNSAFE_SET = frozenset(_UNSAFE)


class ExitStatus(IntEnum):
    """Every exit code ketaplan uses (spec/cli.md)."""

    OK = 0
    #: check: a patient at or above --fail-on or invalid; protocol test: a case failed;
    #: protocol check --strict: warnings; sign: refused; verify: altered.
    ATTENTION = 1
    #: usage error, or an input file that cannot be used.
    USAGE = 2


class KetaplanError(Exception):
    """A mistake the user can fix: printed without a traceback."""

    exit_status = ExitStatus.USAGE

    def render(self) -> str:
        return f"error: {self}"


class UsageError(KetaplanError):
    """The command line itself is wrong (bad option value, missing file)."""


class OutputExistsError(KetaplanError):
    """An output file exists and --force was not given: nothing is overwritten."""


class RefusedError(KetaplanError):
    """`sign` refused, or `verify` found an alteration (exit 1)."""

    exit_status = ExitStatus.ATTENTION
    problems: list[str]  # set by ketaplan.signing when it refuses a sign-off (each reason)


class InputError(KetaplanError):
    """A patient or protocol file that cannot be used, with where the mistake is."""

    kind = "input"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        field: str | None = None,
        line: int | None = None,
        column: int | None = None,
        excerpt: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.field = field
        self.line = line
        self.column = column
        self.excerpt = excerpt

    def where(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def render(self) -> str:
        field = f"{self.field}: " if self.field else ""
        text = f"{self.where()}: error: {field}{self.message}"
        if self.excerpt:
            text += "\n" + self.excerpt
        return text

    def one_line(self) -> str:
        """The error on one line, for batch output (jsonl, csv, table)."""
        field = f"{self.field}: " if self.field else ""
        return f"{self.where()}: {field}{self.message}"

    def __str__(self) -> str:  # pragma: no cover - render() is the user-facing form
        return self.one_line()


class PatientError(InputError):
    kind = "patient"
    patient_id: str | None = None  # set by the loaders when the file's id is usable (the batch reports it)


class ProtocolError(InputError):
    kind = "protocol"
