"""`ketaplan check`: many patients against one protocol, each result written as it is drafted, in constant memory."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import UTC, date, datetime
from fractions import Fraction
from itertools import chain, islice
from json.encoder import encode_basestring_ascii as _quote_ascii  # json.dumps's own, with ensure_ascii
from typing import TYPE_CHECKING, NamedTuple

from ketaplan.errors import InputError, KetaplanError, PatientError, UsageError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite
    from rich.progress import Progress, TaskID

    from ketaplan.load.csv_patients import CsvRow
    from ketaplan.load.protocol import LoadedProtocol

FORMATS = ("table", "jsonl", "csv")
FAIL_ON = ("needs-review", "excluded")
#: Verdicts in increasing order of concern; `invalid` (no plan at all) always needs attention.
ORDER = ("eligible", "needs-review", "excluded", "invalid")
COLUMNS = ("id", "source", "verdict", "findings", "first_dose_mg", "error")
#: A progress bar is shown once this many patients are done, so short runs stay quiet.
PROGRESS_AFTER = 20


class Result(NamedTuple):
    """One patient's line of `check` output."""

    id: str | None
    source: str
    verdict: str  # eligible | needs-review | excluded | invalid
    findings: tuple[str, ...]
    first_dose_mg: Fraction | None  # session 1's dose; None when there is none (excluded, not drafted)
    error: str | None
    unchecked: tuple[str, ...] = ()  # findings whose rule could not be checked (the table marks them)


_result = Result._make  # a Result from its seven fields in order (the length is checked)


# ---------------------------------------------------------------------------------------------- inputs


def _input_kind(path: str) -> str:
    """"toml", "folder" or "csv" for a path given on the command line; anything else is a usage error."""
    if path == "-":
        return "toml"
    if os.path.isdir(path):
        return "folder"
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file or folder")
    lower = path.lower()
    if lower.endswith(".toml") or lower.endswith(".json"):
        return "toml"  # a patient file, or a FHIR bundle (*.json): both are read by load_toml_patient
    if lower.endswith(".csv"):
        return "csv"
    raise UsageError(
        f"{path}: not a patient input; give patient files (*.toml), FHIR bundles (*.json), folders of them, "
        "or CSV files (*.csv)"
    )


def _toml_files_below(folder: str) -> Iterator[tuple[str, str | None]]:
    """(path, None) for every *.toml file (and FHIR bundle, *.json) below `folder`, in sorted order at
    every level, recursively;
    (folder, message) for a folder that cannot be read, so that a patient is never skipped silently."""
    try:
        with os.scandir(folder) as entries:
            listing = sorted(entries, key=lambda e: e.name)
    except OSError as exc:
        yield folder, f"{folder}: the folder cannot be read: {exc.strerror}"
        return
    for entry in listing:
        path = entry.path  # os.path.join(folder, entry.name), made by scandir itself
        try:
            # Linked folders are not followed: a link loop must not make the run endless.
            if entry.is_dir(follow_symlinks=False):
                yield from _toml_files_below(path)
            elif entry.name.lower().endswith((".toml", ".json")):
                # Only regular files are read: a FIFO would block the run for ever, a device never end.
                # A broken link is yielded too: reading it then reports it, never a silent skip.
                # An entry the folder listing already knows to be a regular file (not a link) needs
                # no stat of its own; any other is looked at (links followed) as before.
                kind = None if entry.is_file(follow_symlinks=False) else _not_regular(path)
                yield path, None if kind is None else f"{path}: is {kind}, not a patient file; only regular files are read"
        except OSError as exc:
            yield path, f"{path}: cannot be read: {exc.strerror}"


def _not_regular(path: str) -> str | None:
    """What `path` is when it exists and is not a regular file (links followed); else None."""
    import stat

    from ketaplan.output import describe_mode

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else describe_mode(mode)


def _count_toml_below(folder: str) -> int:
    count = 0
    for _path, problem in _toml_files_below(folder):
        count += problem is None
    return count


def load_toml_patient(path: str, start: date, data: bytes | None = None):
    """Like load_patient_file (`data`: the bytes already read); an error carries `patient_id`.
    A TOML file's SHA-256 is not worked out: `check` writes no plan, so no patient_sha256."""
    if path.lower().endswith(".json"):
        from ketaplan.exchange.fhir_import import patient_from_bundle, read_bundle_file

        return patient_from_bundle(data if data is not None else read_bundle_file(path), path, start)
    _, patient, reader = _MODULES or _modules()
    if data is None:
        data = reader.read_input_file(path, PatientError, "patient")
    return patient.read_patient_bytes(data, path, start, digest=False)


# The API, loader and reader modules, imported on the first patient (not at start: `check` of a
# protocol error needs none of them); their functions are looked up at each call.
_MODULES: tuple = ()


def _modules() -> tuple:
    global _MODULES
    import ketaplan.api as api
    from ketaplan.load import patient, reader

    _MODULES = (api, patient, reader)
    return _MODULES


class _Work(NamedTuple):
    """One patient to check: a TOML file to read, or a CSV row already read but not yet checked."""

    source: str
    path: str | None = None
    row: CsvRow | None = None
    problem: str | None = None  # a folder that could not be read
    data: bytes | None = None  # standard input, read by the main process


def _work(inputs: list[tuple[str, str]]) -> Iterator[_Work]:
    for kind, path in inputs:
        if kind == "toml" and path == "-":
            yield _Work("<stdin>", "<stdin>", data=sys.stdin.buffer.read())
        elif kind == "toml":
            yield _Work(path, path)
        elif kind == "folder":
            for found, problem in _toml_files_below(path):
                yield _Work(found, found, None, problem)  # (by position: a keyword builds a dict per call)
        else:
            from ketaplan.load.csv_patients import iter_csv_rows  # (the csv module only for CSV inputs)

            for row in iter_csv_rows(path):
                yield _Work(row.label, row=row)


# ------------------------------------------------------------------------------------------- drafting


def _invalid(source: str, message: str, patient_id: str | None = None) -> Result:
    return Result(patient_id, source, "invalid", (), None, message)


def _message(exc: KetaplanError) -> str:
    return exc.one_line() if isinstance(exc, InputError) else str(exc)


def check_one(work: _Work, loaded_protocol, start: date, now: datetime, today: date | None = None) -> Result:
    """One patient's result; never raises for anything about this one patient. `today`: the clinic's
    date of the run (START-IN-PAST), by default the local date now."""
    api, _, reader = _MODULES or _modules()
    if work.problem is not None:
        return _invalid(work.source, work.problem)
    patient_id = None
    try:
        if work.row is not None:
            from ketaplan.load.csv_patients import row_patient

            loaded = row_patient(work.row, start)
        else:
            path, data = work.path, work.data
            if path is None:  # _work() gives every patient a file or a CSV row
                raise ValueError(f"{work.source}: neither a file nor a CSV row")
            if data is None and path.lower().endswith(".json"):
                kind = _not_regular(path)  # a bundle is read by its own reader, with its size limit
                if kind is not None:
                    raise PatientError(f"is {kind}, not a patient file; only regular files are read", file=path)
            elif data is None:
                data = reader.read_regular_file(path, PatientError, "patient")
            loaded = load_toml_patient(path, start, data)
        patient_id = loaded.patient.id
        # The decision alone (engine/plan.py `decide`): the verdict, findings and first dose that
        # `ketaplan plan` puts its words around; no evidence, sessions or Plan record are built.
        d = api.draft(loaded, loaded_protocol, start, now, today, decision_only=True)
        # (Result made by position: its fields in their order, without a keyword dict per patient.)
        return _result((patient_id, work.source, d.verdict, d.findings, d.first_dose_mg, None, d.unchecked))
    except KetaplanError as exc:
        # A patient file that cannot be used, or a protocol that cannot schedule this patient.
        return _invalid(work.source, _message(exc), patient_id or getattr(exc, "patient_id", None))
    except Exception as exc:  # noqa: BLE001 - one patient's defect must not stop the other patients
        return _invalid(work.source, f"internal error: {type(exc).__name__}: {exc}", patient_id)


# ---------------------------------------------------------------------------------------------- output


def _safe(text: str) -> str:
    """Text from input files shown inert: control and reordering characters written as \\uXXXX."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet cannot run: a leading = + - @ tab or CR makes it a formula there."""
    text = _safe(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _dose_number(dose: Fraction | None) -> int | float | None:
    """The dose as the plan's JSON gives it (`dose_mg`: a JSON number, to 0.01 mg)."""
    if dose is None:
        return None
    if type(dose) is Fraction and dose.denominator == 1:
        return dose.numerator  # whole mg: json_number gives the same int (rounding it to 0.01 mg keeps it)
    from ketaplan.units import json_number

    return json_number(dose, 2)


class _Jsonl:
    def __init__(self, out: SupportsWrite[str]) -> None:
        self.out = out

    def write(self, r: Result) -> None:
        id_, source, verdict, findings, first_dose, error, _ = r
        dose: int | float | None
        if first_dose is None:
            dose = None
        elif type(first_dose) is Fraction and first_dose.denominator == 1:
            dose = first_dose.numerator  # whole mg, as _dose_number gives it (without the call)
        else:
            dose = _dose_number(first_dose)
        # ASCII only: a terminal shown the line cannot be driven by characters from an input file.
        if type(dose) is int or dose is None:
            # The line json.dumps writes, put together from the same string encoder (json's own
            # ensure_ascii quoting) in one f-string, without building the record: the same bytes.
            q = _quote_ascii
            self.out.write(
                f'{{"id": {"null" if id_ is None else q(id_)}, "source": {q(source)}, "verdict": {q(verdict)}, '
                f'"findings": [{", ".join([q(f) for f in findings])}], '
                f'"first_dose_mg": {"null" if dose is None else int.__repr__(dose)}, '
                f'"error": {"null" if error is None else q(error)}}}\n'
            )
            return
        record = {
            "id": r.id,
            "source": r.source,
            "verdict": r.verdict,
            "findings": list(r.findings),
            "first_dose_mg": dose,
            "error": r.error,
        }
        self.out.write(json.dumps(record, ensure_ascii=True) + "\n")

    def close(self) -> None:
        pass


class _Csv:
    def __init__(self, out: SupportsWrite[str]) -> None:
        import csv

        self.writer = csv.writer(out, lineterminator="\n")
        self.writer.writerow(COLUMNS)

    def write(self, r: Result) -> None:
        self.writer.writerow(
            (
                r.id or "",
                _cell(r.source),
                r.verdict,
                ";".join(r.findings),
                "" if r.first_dose_mg is None else _dose_number(r.first_dose_mg),
                "" if r.error is None else _cell(r.error),
            )
        )

    def close(self) -> None:
        pass


class _Table:
    """A table for a person at a terminal, printed one row at a time (no memory of earlier rows).

    Each patient: id, verdict and first dose, then the finding ids wrapped between ids (never inside
    one) to the terminal's width, a "?" after each that could not be checked; the source file under
    them, broken only after a "/".
    """

    STYLES = {"eligible": "green", "needs-review": "yellow", "excluded": "bold red", "invalid": "bold magenta"}
    ID_WIDTH = 16
    VERDICT_WIDTH = 12
    DOSE_WIDTH = 10
    GAP = "  "
    UNCHECKED = "?"
    MIN_FINDINGS = 30  # narrower than this, the findings go under the row

    def __init__(self, out: SupportsWrite[str]) -> None:
        from rich.console import Console
        from rich.text import Text

        self.Text = Text
        # rich types `file` as IO[str] but only writes, flushes and asks isatty(): a TextStream does all three.
        self.console = Console(file=out, highlight=False, emoji=False, soft_wrap=True, markup=False)  # type: ignore[arg-type]  # see above
        self.width = max(40, self.console.width)
        self.console.print(
            Text.assemble(
                ("id".ljust(self.ID_WIDTH), "bold"),
                self.GAP,
                ("verdict".ljust(self.VERDICT_WIDTH), "bold"),
                self.GAP,
                ("first dose".rjust(self.DOSE_WIDTH), "bold"),
                self.GAP,
                ("findings", "bold"),
                (f" ({self.UNCHECKED} could not be checked)", "dim"),
            )
        )

    @staticmethod
    def _fill(words: list[str], room: int, sep: str) -> list[str]:
        """`words` joined by `sep` into lines of at most `room` cells; a word is never split (one
        longer than `room` has a line of its own)."""
        lines: list[str] = []
        for word in words:
            if lines and len(lines[-1]) + len(sep) + len(word) <= room:
                lines[-1] += sep + word
            else:
                lines.append(word)
        return lines

    def write(self, r: Result) -> None:
        from ketaplan.units import fmt_mg

        dose = "" if r.first_dose_mg is None else fmt_mg(r.first_dose_mg)
        lead = self.Text.assemble(
            _safe(r.id or "?").ljust(self.ID_WIDTH),
            self.GAP,
            (r.verdict.ljust(self.VERDICT_WIDTH), self.STYLES[r.verdict]),
            self.GAP,
            dose.rjust(self.DOSE_WIDTH),
            self.GAP,
        )
        indent = lead.cell_len
        room = self.width - indent
        if room < self.MIN_FINDINGS:
            indent, room = 4, self.width - 4
        if r.error is not None:
            detail = self._fill(_safe(r.error).split(" "), room, " ")
        else:
            ids = [_safe(rule) + (self.UNCHECKED if rule in r.unchecked else "") for rule in r.findings]
            words = [f"{i}," for i in ids[:-1]] + ids[-1:]
            detail = self._fill(words, room, " ") or ["-"]
        if indent == lead.cell_len:
            self.console.print(lead.append(detail[0]))
            detail = detail[1:]
        else:
            self.console.print(lead)
        for line in detail:
            self.console.print(" " * indent + line)
        # The path after each "/", so that a long one breaks between folders, never inside a name.
        parts = _safe(r.source).split("/")
        pieces = [p + "/" for p in parts[:-1]] + parts[-1:]
        for line in self._fill(pieces, self.width - 4, ""):
            self.console.print(self.Text.assemble("    ", (line, "dim")))

    def close(self) -> None:
        pass


def _writer(fmt: str, out: SupportsWrite[str]):
    if fmt == "jsonl":
        return _Jsonl(out)
    if fmt == "csv":
        return _Csv(out)
    return _Table(out)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Progress:
    """A progress bar on stderr for long runs, only when stderr is a terminal and the results are
    not being printed to that same terminal (the rows themselves show progress there)."""

    def __init__(self, enabled: bool, total) -> None:
        self.enabled = enabled
        self.total = total  # a callable giving the total, or None when unknown (CSV rows are not counted ahead)
        self.done = 0
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None and self.task is not None:  # set together
            self.bar.update(self.task, completed=self.done)
        elif self.enabled and self.done >= PROGRESS_AFTER:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            total = self.total() if self.total is not None else None
            self.bar = Progress(
                TextColumn("checking"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("checking", total=total, completed=self.done)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def summary(counts: dict[str, int]) -> str:
    """"12 patients: 7 eligible, 3 needs-review, 1 excluded, 1 invalid"."""
    total = sum(counts.values())
    noun = "patient" if total == 1 else "patients"
    return f"{total} {noun}: " + ", ".join(f"{counts[v]} {v}" for v in ORDER)


# ------------------------------------------------------------------------------------------------ run


#: Patients sent to a worker process at a time, and chunks in flight per worker: enough to keep
#: every core busy, few enough that memory stays constant however many patients there are.
CHUNK = 32
IN_FLIGHT_PER_JOB = 3

# The protocol, start date, time stamp and clinic date of the run, in the main process and in each worker.
_STATE: tuple[LoadedProtocol, date, datetime, date] | None = None


def _state() -> tuple[LoadedProtocol, date, datetime, date]:
    if _STATE is None:
        raise RuntimeError("the run's protocol is not loaded (check() or _init_worker sets it)")
    return _STATE


def _init_worker(
    protocol_data: bytes,
    protocol_name: str,
    sha256: str,
    start: date,
    now: datetime,
    today: date,
    parent: int | None = None,
) -> None:
    global _STATE
    import signal

    # Ctrl-C is the main process's to handle: it stops the run and writes no output file.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    # The parent forks with these signals blocked (_submit): until here, the parent's handlers
    # were this worker's, and a Ctrl-C then would have killed it with a traceback.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    _die_with_parent(parent)
    # A worker writes nothing itself: it must not hold the parent's stdout or stderr open, or a
    # reader waiting for the end of the output would wait as long as the worker lives.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    if _STATE is not None and _STATE[0].sha256 == sha256:
        return  # forked: the protocol loaded by the main process is already here
    from ketaplan.load.protocol import read_protocol_bytes

    _STATE = (read_protocol_bytes(protocol_data, protocol_name), start, now, today)


def _die_with_parent(parent: int | None) -> None:
    """Have the kernel kill this worker when its parent dies, however it dies (SIGKILL included)."""
    import signal

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the parent died before the line above: nobody is waiting for this worker


def _stop_workers(pool) -> None:
    """End a pool now: queued chunks are cancelled and running workers killed, not waited for."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.kill()
        except (OSError, ValueError, AttributeError):
            pass
    for process in processes:
        try:
            process.join(timeout=5)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


def _submit(pool, chunk: list[_Work]):
    """pool.submit, with SIGINT/SIGTERM/SIGHUP held: a worker forked here starts with them blocked
    (it unblocks them once its own handlers are set), and no signal lands inside the pool's locks."""
    from ketaplan.output import hold_signals

    with hold_signals():
        return pool.submit(_check_chunk, chunk)


def _check_chunk(chunk: list[_Work]) -> list[Result]:
    loaded_protocol, start, now, today = _state()
    return [check_one(item, loaded_protocol, start, now, today) for item in chunk]


def _chunks(work: Iterable[_Work], size: int) -> Iterator[list[_Work]]:
    chunk: list[_Work] = []
    for item in work:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _results(work: Iterable[_Work], protocol_data: bytes, jobs: int) -> Generator[Result, None, None]:
    """Each patient's result, in input order; with jobs > 1, drafted by that many worker processes."""
    loaded_protocol, start, now, today = _state()
    work = iter(work)
    if jobs > 1:
        # Fewer patients than one chunk are not worth starting worker processes for.
        first = list(islice(work, CHUNK))
        work = chain(first, work)
        if len(first) < CHUNK:
            jobs = 1
    if jobs <= 1:
        for item in work:
            yield check_one(item, loaded_protocol, start, now, today)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    initargs = (protocol_data, loaded_protocol.name, loaded_protocol.sha256, start, now, today, os.getpid())
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=initargs)
    pending: deque = deque()
    finished = False
    try:
        for chunk in _chunks(work, CHUNK):
            pending.append(_submit(pool, chunk))
            # A bounded window of chunks: the oldest is written before more are read.
            while len(pending) >= jobs * IN_FLIGHT_PER_JOB:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            # An error, Ctrl-C, SIGTERM or a closed pipe: no worker outlives the run.
            _stop_workers(pool)


def _read_protocol(path: str) -> bytes:
    """The protocol file's bytes, read once: every worker drafts from exactly these."""
    from ketaplan.errors import ProtocolError
    from ketaplan.load.reader import read_input_file

    return read_input_file(path, ProtocolError, "protocol")


def run_check(
    paths: list[str],
    *,
    protocol: str,
    start: date,
    fmt: str,
    fail_on: str,
    output: str | None,
    force: bool,
    jobs: int = 1,
) -> int:
    """Check every patient in `paths` against `protocol`; returns the exit code (spec/cli.md).

    Results are written in the order the inputs were given, each as soon as it is drafted;
    nothing kept grows with the number of patients. A patient that cannot be used is reported
    as `invalid` with its error (file, line or row, field) and the run goes on: in a batch of a
    thousand, one bad file must neither hide the other 999 nor pass silently (it makes the exit
    code 1). Whatever would stop the whole run (a usage error, the protocol, a CSV header, an
    existing output file) is found before the first result is written.
    """
    from ketaplan.load.protocol import read_protocol_bytes

    global _STATE
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on {fail_on!r}: use one of {', '.join(FAIL_ON)}")
    if not paths:
        raise UsageError("give at least one patient file, folder or CSV file")
    # Everything that would stop the whole run is found before any result is written.
    inputs = [(_input_kind(p), p) for p in paths]
    if sum(kind == "toml" and p == "-" for kind, p in inputs) > 1:
        raise UsageError("standard input (-) can be given only once")
    protocol_data = _read_protocol(protocol)
    loaded_protocol = read_protocol_bytes(protocol_data, protocol)
    for kind, path in inputs:
        if kind == "csv":
            from ketaplan.digest import prefer_openssl
            from ketaplan.load.csv_patients import check_csv_header

            check_csv_header(path)
            # Each row's digest (Result has none, but row_patient gives the plan's patient_sha256):
            # 6 us with OpenSSL, 23 us without, per 1 KB row. A TOML file is not hashed here.
            prefer_openssl()
    from ketaplan.output import TextStream

    sink = TextStream(output, force=force)

    # One time stamp for the whole run: every plan of the batch was drafted "now".
    now = datetime.now(UTC).replace(microsecond=0)
    # And one clinic date (START-IN-PAST): a run that crosses midnight does not judge its
    # patients by two different days.
    _STATE = (loaded_protocol, start, now, date.today())
    counts = dict.fromkeys(ORDER, 0)
    # The verdicts that make the exit code 1: at or past --fail-on in ORDER.
    attention_for = frozenset(ORDER[ORDER.index(fail_on) :])
    attention = False
    progress = None
    results = None
    try:
        writer = _writer(fmt, sink)
        show_bar = _isatty(sys.stderr) and not sink.isatty()
        total: Callable[[], int] | None = None
        if show_bar and all(kind != "csv" for kind, _ in inputs):

            def count_all() -> int:
                return sum(1 if kind == "toml" else _count_toml_below(p) for kind, p in inputs)

            total = count_all
        progress = _Progress(show_bar, total)
        flush_each = sink.isatty()
        results = _results(_work(inputs), protocol_data, jobs)
        write = writer.write
        for result in results:
            write(result)
            if flush_each:
                sink.flush()
            verdict = result.verdict
            counts[verdict] += 1
            if verdict in attention_for:
                attention = True
            if show_bar:
                progress.advance()
        writer.close()
        progress.stop()
        sink.commit()
    finally:
        if results is not None:
            results.close()  # stops the worker processes now, whatever stopped the run
        if progress is not None:
            progress.stop()
        # After a commit this closes the file; after a failure or a signal, all that was written goes.
        sink.discard()
    print(summary(counts), file=sys.stderr)
    return 1 if attention else 0
