"""Recording a session: append one session (and its scores) to a patient file (`ketaplan record`).

The file's existing bytes are kept exactly: the new `[[infusions]]` (and `[[assessments]]`) tables are
written with tomli-w and appended after them. The whole new file is then validated by the one patient
reader, and only a valid file replaces the old one, atomically. On any error nothing is changed, and
the message names the command-line option at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ketaplan.errors import InputError, KetaplanError, PatientError, UsageError, printable
from ketaplan.formats import BLOOD_PRESSURE, INFUSION_PROTOCOL

#: The scales `record` takes as options, in the order the patient format lists them.
SCORE_OPTIONS = {"phq9": "--phq9", "madrs": "--madrs", "gad7": "--gad7", "pain_nrs": "--pain-nrs"}

#: Which option wrote which key of the appended `[[infusions]]` table.
INFUSION_OPTIONS = {
    "date": "--date",
    "dose": "--dose",
    "protocol": "--protocol",
    "duration": "--duration",
    "completed": "--stopped",
    "stopped_because": "--stopped",
    "vitals": "--vitals",
    "sedation": "--sedation",
    "dissociation": "--dissociation",
    "observed": "--observed",
    "adverse_events": "--ae",
    "adverse_event_detail": "--ae-detail",
}

_PROTOCOL_ID = INFUSION_PROTOCOL  # what the patient reader takes in `[[infusions]] protocol`
_VITALS_FORM = (
    'write MINUTE:BP,HEART_RATE,SPO2 with the minute from the start of the infusion (0 = before it), '
    'e.g. "0:132/84,78,98", "40:158/96,90" or "100:136/86"; leave out what was not measured'
)
_UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass
class RecordRequest:
    """The command line of one `record`, as typed (checked by `build_tables`)."""

    date: str
    dose: str
    protocol: str | None = None
    duration: str | None = None
    vitals: list[str] = field(default_factory=list)
    adverse_events: list[str] = field(default_factory=list)
    adverse_event_detail: str | None = None
    no_adverse_events: bool = False
    sedation: int | None = None
    dissociation: int | None = None
    observed: str | None = None
    stopped: str | None = None
    scores: dict[str, int] = field(default_factory=dict)
    force: bool = False


@dataclass
class Recorded:
    """What was appended, for the message that says so."""

    path: str
    day: date
    dose: str
    protocol: str | None
    infusion_number: int  # 1-based position among the file's [[infusions]]
    assessment: bool
    adverse_events_recorded: bool
    appended: bytes


# ---------------------------------------------------------------------------------------------------
# Options -> the tables to append


def parse_day(value: str, option: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01") from None


def _one_line(value: str, option: str) -> str:
    if not value.strip():
        raise UsageError(f"{option}: must not be empty")
    if _UNSAFE_TEXT.search(value):
        raise UsageError(f"{option}: {printable(value)!r} holds a control character or line break; write one plain line")
    return value


def parse_vitals(value: str) -> dict[str, Any]:
    """One `--vitals` value, "MINUTE:SYS/DIA,HR,SPO2", as a `vitals` entry. Only the form is checked
    here: the ranges are the patient reader's, checked on the whole new file."""
    option = f"--vitals {value!r}"
    minute_text, colon, readings = value.partition(":")
    minute_text = minute_text.strip()
    if not colon or not re.fullmatch(r"[0-9]{1,4}", minute_text, re.A):
        raise UsageError(f"{option}: {_VITALS_FORM}")
    parts = [p.strip() for p in readings.split(",")]
    if len(parts) > 3:
        raise UsageError(f"{option}: more than three readings; {_VITALS_FORM}")
    parts += [""] * (3 - len(parts))
    entry: dict[str, Any] = {"minute": int(minute_text)}
    bp, heart_rate, spo2 = parts
    if bp:
        if not re.fullmatch(BLOOD_PRESSURE, bp, re.A):  # the form the patient reader takes
            raise UsageError(f"{option}: {bp!r} is not a blood pressure such as 132/84 (mmHg); {_VITALS_FORM}")
        entry["blood_pressure"] = re.sub(r" ", "", bp)
    for key, text, what in (("heart_rate", heart_rate, "a heart rate in beats per minute, e.g. 78"),
                            ("spo2", spo2.removesuffix("%").strip(), "an SpO2 in percent, e.g. 98")):  # fmt: skip
        if text:
            if not re.fullmatch(r"[0-9]{1,3}", text, re.A):
                raise UsageError(f"{option}: {text!r} is not {what}; {_VITALS_FORM}")
            entry[key] = int(text)
    if len(entry) == 1:
        raise UsageError(f"{option}: no reading after the minute; {_VITALS_FORM}")
    return entry


def resolve_protocol(value: str) -> str:
    """A protocol id as given, or the id of the protocol file given instead."""
    if re.fullmatch(_PROTOCOL_ID, value):
        return value
    import os

    if os.path.isfile(value):
        from ketaplan.load.protocol import load_protocol_file

        return load_protocol_file(value).protocol.id
    raise UsageError(
        f"--protocol: {printable(value)!r} is neither a protocol id (lowercase letters, digits and -, "
        "e.g. trd-iv-induction) nor a protocol file"
    )


def build_tables(req: RecordRequest) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The `[[infusions]]` table (and the `[[assessments]]` table, when scores were given) that the
    options describe, in the order course.md lists the keys. Raises UsageError naming the option."""
    day = parse_day(req.date, "--date")
    infusion: dict[str, Any] = {"date": day, "dose": _one_line(req.dose, "--dose").strip()}
    if req.protocol is not None:
        infusion["protocol"] = resolve_protocol(req.protocol)
    if req.duration is not None:
        infusion["duration"] = _one_line(req.duration, "--duration").strip()
    if req.stopped is not None:  # without it the session was completed: `completed` absent says so
        infusion["completed"] = False
        infusion["stopped_because"] = _one_line(req.stopped, "--stopped").strip()
    if req.vitals:
        entries = [parse_vitals(v) for v in req.vitals]
        seen: dict[int, str] = {}
        for raw, entry in zip(req.vitals, entries):
            if entry["minute"] in seen:
                raise UsageError(
                    f"--vitals {raw!r}: minute {entry['minute']} is also given by --vitals {seen[entry['minute']]!r}; "
                    "give each minute once"
                )
            seen[entry["minute"]] = raw
        infusion["vitals"] = sorted(entries, key=lambda e: e["minute"])
    if req.sedation is not None:
        infusion["sedation"] = req.sedation
    if req.dissociation is not None:
        infusion["dissociation"] = req.dissociation
    if req.observed is not None:
        infusion["observed"] = _one_line(req.observed, "--observed").strip()
    if req.no_adverse_events and req.adverse_events:
        raise UsageError("--no-ae and --ae contradict each other: give --ae for each event, or --no-ae for none")
    if req.adverse_events or req.no_adverse_events:
        events: list[str] = []
        for event in req.adverse_events:
            event = _one_line(event, "--ae").strip()
            if event not in events:
                events.append(event)
        infusion["adverse_events"] = events
    if "other" in infusion.get("adverse_events", []) and req.adverse_event_detail is None:
        raise UsageError('--ae other: say what happened with --ae-detail "...", e.g. --ae-detail "hiccups"')
    if req.adverse_event_detail is not None:
        if "other" not in infusion.get("adverse_events", []):
            raise UsageError('--ae-detail: describes an event ticked "other"; give --ae other with it')
        infusion["adverse_event_detail"] = _one_line(req.adverse_event_detail, "--ae-detail").strip()

    assessment: dict[str, object] | None = None
    if req.scores:
        assessment = {"date": day}
        for key in SCORE_OPTIONS:
            if key in req.scores:
                assessment[key] = req.scores[key]
    return infusion, assessment


# ---------------------------------------------------------------------------------------------------
# The bytes


def line_ending(old: bytes) -> bytes:
    """The line ending the file already uses (that of its last line end); LF for a file without one."""
    last = old.rfind(b"\n")
    if last > 0 and old[last - 1 : last] == b"\r":
        return b"\r\n"
    return b"\n"


def appended_text(old: bytes, infusion: dict[str, Any], assessment: dict[str, Any] | None) -> bytes:
    """The bytes to add after `old`: a line end if its last line has none, a blank line, then the
    new tables as tomli-w writes them, in the file's own line ending."""
    import tomli_w

    eol = line_ending(old)
    # The headers are written here: tomli-w would write a short array of tables as an inline list
    # (`infusions = [...]`), which cannot follow [[infusions]] tables already in the file.
    body = "[[infusions]]\n" + tomli_w.dumps(infusion, indent=2)
    if assessment is not None:
        body += "\n[[assessments]]\n" + tomli_w.dumps(assessment, indent=2)
    # tomli-w writes no multi-line strings (a line break in a value is escaped), so every "\n" in its
    # output ends a line of TOML and may take the file's line ending.
    data = body.encode("utf-8").replace(b"\n", eol)
    content = old[3:] if old.startswith(b"\xef\xbb\xbf") else old
    if not content:
        lead = b""
    elif not content.endswith(b"\n"):
        lead = eol + eol  # end the last line, then a blank line
    elif content.endswith((b"\n\n", b"\n\r\n")) or content.strip(b" \t\r\n") == b"":
        lead = b""
    else:
        lead = eol
    return lead + data


# ---------------------------------------------------------------------------------------------------
# Errors of the new file, traced back to the option that caused them


_FIELD = re.compile(r"(?P<table>infusions|assessments)\[(?P<index>[0-9]+)\](?:\.(?P<key>[A-Za-z0-9_]+)(?:\[(?P<item>[0-9]+)\])?)?")


def option_for(
    exc: InputError, infusion_index: int, assessment_index: int | None, req: RecordRequest
) -> str | None:
    """The option that wrote the field an error of the new file names, or None when the error is not
    in the appended tables. Indexes are 1-based, as in the reader's field names."""
    match = _FIELD.match(exc.field or "")
    if match is None:
        return None
    index, key = int(match["index"]), match["key"]
    if match["table"] == "infusions" and index == infusion_index:
        option = INFUSION_OPTIONS.get(key or "date", "--date")
        if key == "vitals" and match["item"] is not None:
            # The file holds the readings sorted by minute: name the --vitals value that wrote this one.
            entries = sorted((parse_vitals(v)["minute"], v) for v in req.vitals)
            item = int(match["item"]) - 1
            if 0 <= item < len(entries):
                option = f"--vitals {entries[item][1]!r}"
        elif key == "adverse_events" and match["item"] is not None:
            events = list(dict.fromkeys(e.strip() for e in req.adverse_events))
            item = int(match["item"]) - 1
            if 0 <= item < len(events):
                option = f"--ae {events[item]!r}"
        return option
    if match["table"] == "assessments" and assessment_index is not None and index == assessment_index:
        if key in SCORE_OPTIONS:
            return SCORE_OPTIONS[key]
        return "--date"
    return None


# ---------------------------------------------------------------------------------------------------
# The command


def _entries(document: dict, key: str) -> list:
    value = document.get(key, [])
    return value if isinstance(value, list) else []


def _inline_list(text: str, key: str) -> bool:
    """Whether the file writes `key = [...]` (an inline list that [[key]] tables cannot extend)."""
    return re.search(rf"(?m)^[ \t]*(?:{key}|\"{key}\"|'{key}')[ \t]*=", text) is not None


def record(path: str, req: RecordRequest, *, today: date | None = None) -> Recorded:
    """Append the session `req` describes to the patient file at `path`; returns what was done.
    Raises a KetaplanError (nothing changed) on any mistake. Two `record`s of files in one folder run
    one after the other (a lock on the folder), so neither loses the other's session."""
    if path == "-":
        raise UsageError("PATIENT: record changes a patient file in place; give its path, not - (standard input)")
    import os

    with _folder_lock(os.path.realpath(path)):
        return _record(path, req, today=today)


class _folder_lock:
    """An exclusive advisory lock on the folder holding `path` (flock on the folder itself: nothing is
    created beside the patient file). Where the system has no flock, no lock is taken: the check that
    the file did not change while recording still holds."""

    def __init__(self, path: str) -> None:
        import os

        self.folder = os.path.dirname(os.path.abspath(path))
        self.fd: int | None = None

    def __enter__(self) -> _folder_lock:
        import os

        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            return self
        try:
            self.fd = os.open(self.folder, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            if self.fd is not None:
                os.close(self.fd)
            self.fd = None  # a folder that cannot be opened: the error comes when the file is read
        return self

    def __exit__(self, *exc) -> None:
        import os

        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock


def _record(path: str, req: RecordRequest, *, today: date | None = None) -> Recorded:
    import os

    from ketaplan.load.patient import read_patient_bytes
    from ketaplan.load.reader import decode, parse_toml, read_input_file
    from ketaplan.output import replace_file

    today = today or date.today()
    infusion, assessment = build_tables(req)
    day = infusion["date"]
    if day > today:
        raise UsageError(f"--date: {day} is after today ({today}); record a session once it has been given")

    old = read_input_file(path, PatientError, "patient")
    real = os.path.realpath(path)
    # A file nobody may write (no write bit) is read-only even for an administrator.
    if not os.access(real, os.W_OK) or not os.stat(real).st_mode & 0o222:
        raise UsageError(f"{path}: the file is read-only; nothing was changed")
    # The file as it is must be usable: an error in it is the file's, not the options'.
    try:
        read_patient_bytes(old, path, today)
    except PatientError as exc:
        raise _FileError(exc) from None
    text = decode(old, path, PatientError)
    document = parse_toml(text, path, PatientError)

    infusions = _entries(document, "infusions")
    assessments = _entries(document, "assessments")
    for i, given in enumerate(infusions):
        if not isinstance(given, dict):
            continue
        if given.get("date") == day and given.get("protocol") == infusion.get("protocol") and not req.force:
            under = f" under {infusion['protocol']}" if "protocol" in infusion else " with no protocol"
            raise UsageError(
                f"--date: a session on {day}{under} is already recorded (infusions[{i + 1}] in {path}); "
                "nothing was changed. Use --force to record a second one."
            )
    recorded: list[date] = [g["date"] for g in infusions if isinstance(g, dict) and isinstance(g.get("date"), date)]
    last = max(recorded, default=None)
    if last is not None and day < last:
        raise UsageError(
            f"--date: {day} is before the last session recorded ({last}); sessions are kept oldest first, "
            "so an earlier session must be added by hand in its place. Nothing was changed."
        )
    if assessment is not None:
        dates: list[date] = [a["date"] for a in assessments if isinstance(a, dict) and isinstance(a.get("date"), date)]
        if dates and day < max(dates):
            raise UsageError(
                f"--date: the scores would be dated {day}, before the last assessment recorded ({max(dates)}); "
                "assessments are kept oldest first. Nothing was changed."
            )
        if day in dates and not req.force:
            raise UsageError(
                f"--date: scores dated {day} are already recorded in {path}; nothing was changed. "
                "Use --force to record a second assessment that day."
            )
    for key in ("infusions", "assessments") if assessment is not None else ("infusions",):
        if key in document and _inline_list(text, key):
            raise UsageError(
                f"{path}: the file writes {key} as a list ({key} = [...]); record appends [[{key}]] tables, which "
                f"cannot extend it. Rewrite those entries as [[{key}]] tables by hand first; nothing was changed."
            )

    extra = appended_text(old, infusion, assessment)
    new = old + extra
    infusion_index = len(infusions) + 1
    assessment_index = len(assessments) + 1 if assessment is not None else None
    try:
        read_patient_bytes(new, path, today)
    except PatientError as exc:
        option = option_for(exc, infusion_index, assessment_index, req)
        message = printable(exc.message)
        if option is not None:
            raise UsageError(f"{option}: {message}; nothing was changed in {path}") from None
        raise UsageError(
            f"{path}: the session cannot be recorded: {printable(exc.one_line())}; nothing was changed"
        ) from None

    # The file must still be the one that was read: another writer in the meantime would be lost.
    if read_input_file(path, PatientError, "patient") != old:
        raise UsageError(f"{path}: the file changed while the session was being recorded; nothing was changed, try again")
    replace_file(os.path.realpath(path), new)
    return Recorded(
        path=path,
        day=day,
        dose=infusion["dose"],
        protocol=infusion.get("protocol"),
        infusion_number=infusion_index,
        assessment=assessment is not None,
        adverse_events_recorded="adverse_events" in infusion,
        appended=extra,
    )


class _FileError(KetaplanError):
    """The patient file was unusable before anything was appended."""

    def __init__(self, cause: InputError) -> None:
        super().__init__(cause.one_line())
        self.cause = cause

    def render(self) -> str:
        return (
            f"{self.cause.render()}\n"
            f"{self.cause.file}: record changed nothing: the file must be valid before a session is appended to it"
        )


def run_record(path: str, req: RecordRequest) -> int:
    """The command: record, then say on stderr what was recorded (and what was left unrecorded)."""
    import sys

    done = record(path, req)
    under = f" under {done.protocol}" if done.protocol else ""
    lines = [
        f"{printable(path)}: recorded session {done.day}, {printable(done.dose)}{under} "
        f"as infusions[{done.infusion_number}]" + (", with its scores as an assessment" if done.assessment else "")
    ]
    if not done.adverse_events_recorded:
        lines.append(
            "note: adverse events were left unrecorded (no --ae or --no-ae): rules that ask about them read "
            "this session as unknown"
        )
    if req.protocol is None:
        lines.append("note: no --protocol: this session does not count towards any series")
    print("\n".join(lines), file=sys.stderr)
    return 0
