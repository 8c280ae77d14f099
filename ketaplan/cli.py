"""The command line: parse, call the API, render, exit. No clinical logic lives here."""

# No `from __future__ import annotations` here: typer reads these signatures at every start, and
# string annotations would have to be evaluated again each time.
import functools
import gc
import io
import os
import sys
import traceback
from datetime import date
from enum import Enum

import typer

from ketaplan.errors import ExitStatus, KetaplanError, UsageError, printable

#: Exit code when the reader of standard output went away (`ketaplan check ... | head -1`).
CLOSED_PIPE = 141
#: The --force help of every command that writes an output file (spec/decisions.md, issue 10).
FORCE_HELP = (
    "Replace an existing output file. It keeps its permissions; a symbolic link is kept and the file it "
    "points to replaced; anything but a regular file is never replaced."
)

app = typer.Typer(
    name="ketaplan",
    help="Draft individualised IV ketamine treatment plans from a clinic's own protocol rules.\n\n"
    "Every plan is a DRAFT for a clinician to check and sign.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
protocol_app = typer.Typer(help="Tools for the clinic lead who writes the protocol.", no_args_is_help=True)
app.add_typer(protocol_app, name="protocol")
import_app = typer.Typer(help="Read a patient from a record system's export.", no_args_is_help=True)


def _register_import(args: list[str]) -> None:
    """`import` joins the command line only when it may be asked for (its own name, or the list of
    commands): building its options on every start would slow `plan` down (spec: exchange.md)."""
    first = next((a for a in args if not a.startswith("-")), None)
    if first in (None, "import") and not any(g.typer_instance is import_app for g in app.registered_groups):
        app.add_typer(import_app, name="import")


def version_text() -> str:
    """`ketaplan --version`: the program, and the data a plan depends on (as a plan records them)."""
    from ketaplan import __version__
    from ketaplan.calendar import holidays_version
    from ketaplan.vocabulary import Vocabulary

    holidays = holidays_version() or "not installed"
    return f"ketaplan {__version__}\nvocabulary {Vocabulary.builtin().version}\nholidays {holidays}\n"


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(version_text())
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_show_version,
        help="Show the version, and the vocabulary and holidays data versions, and exit.",
    ),  # fmt: skip
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of an error (may stand anywhere on the line; or KETAPLAN_DEBUG=1)."
    ),
) -> None:
    # --debug is taken off the command line by main() before parsing; it is declared here to be listed in --help.
    pass


class PlanFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"
    fhir = "fhir"
    ics = "ics"
    html = "html"


def parse_start(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--start: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01") from None


def parse_time(value: str | None, fmt: str):
    """--time HH:MM (ics only; default 09:00)."""
    from datetime import time

    if value is None:
        return time(9, 0)
    if fmt != "ics":
        raise UsageError("--time is for --format ics: the time each session's calendar event starts")
    import re

    if not re.fullmatch(r"[0-9]{2}:[0-9]{2}", value) or int(value[:2]) > 23 or int(value[3:]) > 59:
        raise UsageError(f"--time: {value!r} is not a time; write it as HH:MM, e.g. 09:00 or 13:30")
    return time(int(value[:2]), int(value[3:]))


def use_color(output: str | None) -> bool:
    if output not in (None, "-"):
        return False
    if "NO_COLOR" in os.environ:
        return False
    return sys.stdout.isatty()


def terminal_width(output: str | None) -> int | None:
    """The terminal's width when printing to one; None (the renderer's default) for files and pipes."""
    if output in (None, "-") and sys.stdout.isatty():
        import shutil

        return max(60, shutil.get_terminal_size().columns)
    return None


def one_shot(command):
    """Runs a command that does one piece of work and ends the process with the cyclic garbage
    collector paused: sweeping the objects that start-up has just made (modules, the vocabulary
    index) is about 2 ms of a plan's 75 ms and frees nothing. It is turned back on afterwards, so
    a caller in the same process (the tests, the Python API) keeps its collector."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        collecting = gc.isenabled()
        gc.disable()
        try:
            return command(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return run


@app.command()
@one_shot
def plan(
    patient: str = typer.Argument(..., help="The patient file (TOML), or - for standard input."),
    protocol: str = typer.Option(..., "--protocol", "-p", help="The clinic's protocol file (TOML)."),
    start: str | None = typer.Option(None, "--start", help="First possible session date, YYYY-MM-DD (default: today)."),
    format: PlanFormat = typer.Option(
        PlanFormat.text, "--format", "-f", help="text (terminal), markdown, html (a page to print on A4), json, fhir (an R4 Bundle) or ics (a calendar)."
    ),
    output: str | None = typer.Option(
        None, "--output", "-o", help="Write to this file (whole or not at all; a new file is 0600); - for stdout."
    ),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    time: str | None = typer.Option(None, "--time", help="ics: each session's start, HH:MM in the clinic's time zone (default 09:00)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="text: show notes and checklist items whole, not folded to one line."),
    css: str | None = typer.Option(None, "--css", help="html: use this stylesheet file instead of the built-in print stylesheet."),
) -> None:
    """Draft one patient's plan: verdict, findings, doses, dates, holds and checklists.

    Example:

        ketaplan plan examples/patients/eligible-trd.toml --protocol examples/protocols/trd-iv-induction.toml --start 2026-12-01
    """
    from ketaplan.api import draft_files

    day = parse_start(start)
    at = parse_time(time, format.value)
    result = draft_files(patient, protocol, day)
    if format in (PlanFormat.fhir, PlanFormat.ics):
        from ketaplan.exchange.views import exchange_text

        text = exchange_text(result, format.value, at)
    elif format is PlanFormat.json:
        from ketaplan.render.json import plan_json_text

        text = plan_json_text(result)
    else:
        from ketaplan.render import renderer_for

        stylesheet = _read_css(css, format) if css is not None else None
        text = renderer_for(
            format.value, color=use_color(output), width=terminal_width(output), verbose=verbose, css=stylesheet
        ).render(result)
    from ketaplan.output import write_text

    write_text(text, output, force=force)


def _read_css(path: str, fmt: PlanFormat) -> str:
    if fmt is not PlanFormat.html:
        raise UsageError("--css is for --format html")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise UsageError(f"--css {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--css {path}: cannot be read: {exc}") from None


class CheckFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


class FailOn(str, Enum):
    needs_review = "needs-review"
    excluded = "excluded"


class _CheckCommand(typer.core.TyperCommand):
    """`check --help` lists the CSV columns from the CSV loader's own list, imported only when help is shown."""

    def format_help(self, ctx, formatter) -> None:
        from ketaplan.load.csv_patients import COLUMNS, REQUIRED_COLUMNS

        if self.help and "{csv_columns}" in self.help:
            self.help = self.help.replace("{csv_columns}", ", ".join(COLUMNS)).replace(
                "{csv_required}", ", ".join(REQUIRED_COLUMNS)
            )
        return super().format_help(ctx, formatter)


@app.command(cls=_CheckCommand)
def check(
    patients: list[str] = typer.Argument(..., help="Patient files, folders (every *.toml below) and CSV files."),
    protocol: str = typer.Option(..., "--protocol", "-p", help="The clinic's protocol file (TOML)."),
    start: str | None = typer.Option(None, "--start", help="First possible session date, YYYY-MM-DD (default: today)."),
    format: CheckFormat = typer.Option(CheckFormat.table, "--format", "-f", help="table, jsonl or csv."),
    fail_on: FailOn = typer.Option(FailOn.excluded, "--fail-on", help="Exit 1 if any patient is at or above this verdict."),
    output: str | None = typer.Option(
        None, "--output", "-o", help="Write results to this file (whole or not at all; a new file is 0600); - for stdout."
    ),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64, help="Worker processes (output keeps the input order)."),
) -> None:
    """Check many patients against one protocol: one line per patient, a count by verdict at the end.

    A CSV file has a header row naming its columns, any of: {csv_columns}. Required: {csv_required}.
    Lists are separated by ";" (the word none for an empty list); an empty cell means not recorded.

    Example:

        ketaplan check examples/patients --protocol examples/protocols/trd-iv-induction.toml --format jsonl
    """
    from ketaplan.batch import run_check

    raise typer.Exit(
        run_check(
            patients,
            protocol=protocol,
            start=parse_start(start),
            fmt=format.value,
            fail_on=fail_on.value,
            output=output,
            force=force,
            jobs=jobs,
        )
    )


@import_app.command("fhir")
def import_fhir(
    bundle: str = typer.Argument(..., metavar="BUNDLE.json", help="A FHIR R4 Bundle (JSON) holding the patient's record."),
    id: str | None = typer.Option(None, "--id", help="The patient id to write (default: the Patient resource's id)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Take the latest values on or before this date, YYYY-MM-DD (default: today)."),
    max_age_days: int = typer.Option(30, "--max-age-days", min=0, max=3650, help="Vital signs, pregnancy status and scores older than this many days before --as-of are not imported."),
    patient: str | None = typer.Option(None, "--patient", help="Which Patient, when the bundle holds several: its id, Patient/ID or fullUrl."),
    output: str | None = typer.Option(None, "--output", "-o", help="Write the patient file here (whole or not at all); - for stdout."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Write a patient file (format v1) from a FHIR R4 Bundle: nothing invented, names never copied.

    What was not imported, and why, heads the file and goes to standard error.

    Example:

        ketaplan import fhir record.json --as-of 2026-12-01 --output P-0042.toml
    """
    from ketaplan.exchange.fhir_import import run_import

    day = None
    if as_of is not None:
        try:
            day = parse_start(as_of)
        except UsageError:
            raise UsageError(f"--as-of: {as_of!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01") from None
    raise typer.Exit(
        run_import(bundle, patient_id=id, as_of=day, max_age_days=max_age_days, patient=patient, output=output, force=force)
    )


@protocol_app.command("check")
def protocol_check(
    protocol: str = typer.Argument(..., help="The protocol file (TOML)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings."),
) -> None:
    """Load and lint a protocol: errors point at file, line and column; warnings flag likely mistakes.

    Example:

        ketaplan protocol check examples/protocols/trd-iv-induction.toml
    """
    from ketaplan.authoring.lint import run_protocol_check

    raise typer.Exit(run_protocol_check(protocol, strict=strict))


def as_written(text: str) -> str:
    """Help text shown as written: typer reads help as rich markup, where `[test]` is a tag and vanishes."""
    from inspect import cleandoc

    from typer.core import HAS_RICH

    text = cleandoc(text)
    return text.replace("[", "\\[") if HAS_RICH else text


@protocol_app.command(
    "test",
    help=as_written(
        """Run the protocol's own [[test]] cases; ends with "N passed, N failed".

        Example:

            ketaplan protocol test examples/protocols/trd-iv-induction.toml
        """
    ),
)
def protocol_test(protocol: str = typer.Argument(..., help="The protocol file (TOML).")) -> None:
    from ketaplan.authoring.testing import run_protocol_test

    raise typer.Exit(run_protocol_test(protocol))


@protocol_app.command("schema")
def protocol_schema() -> None:
    """Print the JSON Schema of the protocol format, for editor completion and checking.

    Example:

        ketaplan protocol schema > protocol.schema.json
    """
    from ketaplan.authoring.schema import schema_text

    sys.stdout.write(schema_text())


@app.command()
def vocab(term: str | None = typer.Argument(None, help="A name to look up; without it, the groups and classes.")) -> None:
    """Show the vocabulary: what a name matches, what a group holds, ICD-10 ranges, sources.

    Example:

        ketaplan vocab Ativan
    """
    from ketaplan.authoring.vocab import run_vocab

    raise typer.Exit(run_vocab(term))


@app.command()
def init(folder: str = typer.Argument(".", help="Where to write the starter files (never overwritten).")) -> None:
    """Write a starter protocol and patient to adapt, with comments that teach the format.

    Both files are written, or neither; they are created 0600 (chmod them to share).

    Example:

        ketaplan init my-clinic
    """
    from ketaplan.authoring.init import run_init

    raise typer.Exit(run_init(folder))


@app.command()
def sign(
    plan_file: str = typer.Argument(..., metavar="PLAN.json", help="A draft plan written by `ketaplan plan --format json`."),
    clinician: str = typer.Option(..., "--clinician", help="The signing clinician's name."),
    registration: str = typer.Option(..., "--registration", help="Their professional registration number."),
    ack: list[str] = typer.Option([], "--ack", help='RULE="reason": acknowledge a needs-review finding. Repeat for each.'),
    output: str | None = typer.Option(
        None, "--output", "-o", help="Signed JSON file (default PLAN.signed.json); the Markdown goes beside it (.md)."
    ),
) -> None:
    """Record sign-off of a draft plan: refuses an altered or excluded plan and any unacknowledged finding.

    Writes two files, the signed JSON (PLAN.signed.json) and its Markdown beside it (PLAN.signed.md).
    A signed plan is never overwritten: if either file exists, nothing is written. Both files are
    written, or neither (a full disk, a signal); they are created 0600.

    Example:

        ketaplan sign plan.json --clinician "Dr A Smith" --registration GMC1234567 --ack REV-BP="BP 128/80 today"
    """
    from ketaplan.signing_cli import run_sign

    raise typer.Exit(run_sign(plan_file, clinician=clinician, registration=registration, acks=ack, output=output))


@app.command()
def verify(
    signed_file: str = typer.Argument(..., metavar="SIGNED.json|SIGNED.md", help="A signed plan, or its Markdown."),
) -> None:
    """Check a signed plan's digest: exit 0 intact, 1 altered (saying what changed where it can), 2 not a
    signed plan. Given the signed Markdown, verifies the JSON beside it and renders the Markdown again to compare.

    Example:

        ketaplan verify plan.signed.json
    """
    from ketaplan.signing_cli import run_verify

    raise typer.Exit(run_verify(signed_file))


def _run(args: list[str]):
    """The command's exit code. typer's own entry point is not used: it turns Ctrl-C into a silent
    exit 130 and a closed pipe into exit 1 before any handler here could see them."""
    from typer.main import get_command

    command = get_command(app)
    try:
        with command.make_context("ketaplan", args) as ctx:
            return command.invoke(ctx)
    except typer.Exit as exc:
        return exc.exit_code


def _nothing_written() -> str:
    from ketaplan.output import COMMITTED

    if COMMITTED:
        return "written whole before it: " + ", ".join(COMMITTED) + "; nothing else was written"
    return "no output file was written"


def _closed_pipe(stream=None) -> None:
    """The reader went away: later writes and the final flush go nowhere, quietly."""
    stream = sys.stdout if stream is None else stream
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def _say(text: str) -> None:
    """A message on stderr; if nobody reads stderr any more, the exit code still tells."""
    try:
        print(text, file=sys.stderr)
        sys.stderr.flush()
    except (OSError, ValueError):
        _closed_pipe(sys.stderr)


from ketaplan.course_cli import register as _register_course  # noqa: E402
from ketaplan.record_cli import register as _register_record  # noqa: E402

_register_course(app)
_register_record(app)


def _stop(code: int, program: bool) -> None:
    """End a run that was stopped (a signal, a closed pipe). Its clean-up has run (temporary files
    gone, workers killed); as the program itself, it exits now: no exit handler of a library (the
    process pool's joins) may keep it alive or print, and output still buffered for a stream that
    was cut short anyway is not waited for. A caller in the same process gets SystemExit."""
    if program:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error is turned into a message and an exit code here, and only here."""
    if argv is None:  # the program itself, not a caller in the same process (the tests, a script)
        # The interpreter's last garbage collection at exit walks every object still alive, about
        # 11 ms after a plan, only to free them with the process; frozen objects are skipped.
        import atexit

        atexit.register(gc.freeze)
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("KETAPLAN_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    _register_import(args)
    import signal

    from ketaplan import output

    output.PENDING.clear()
    output.COMMITTED.clear()
    sys.unraisablehook = output.quiet_unraisable
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue  # ignored by whoever started us (nohup, a background job): stays ignored
            previous[signum] = signal.signal(signum, output.on_signal)
        except (ValueError, OSError):  # not the main thread: leave the signals alone
            pass
    try:
        code = _run(args)
        output.flush_stdout()
        output.check_signals()  # a signal that landed where it could not stop the command
    except KetaplanError as exc:
        if debug:  # the traceback as well, and the same exit code as without --debug
            traceback.print_exc()
        _say(printable(exc.render()))
        sys.exit(int(exc.exit_status))
    except KeyboardInterrupt:
        _say(f"interrupted; {_nothing_written()}")
        _stop(130, argv is None)
    except output.Signalled as exc:
        name = "terminated" if exc.signum == signal.SIGTERM else "hung up"
        _say(f"{name}; {_nothing_written()}")
        _stop(128 + exc.signum, argv is None)
    except SystemExit as exc:
        if not isinstance(exc.__context__, BrokenPipeError):
            raise
        # rich's Console meets a closed pipe with SystemExit(1) ("needs attention" to a script).
        _closed_pipe(sys.stdout)
        _closed_pipe(sys.stderr)
        _stop(CLOSED_PIPE, argv is None)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not a finding (exit 1), not done either (exit 0).
        # 141 is what a shell reports for a program ended by SIGPIPE (spec/cli.md).
        _closed_pipe(sys.stdout)
        _closed_pipe(sys.stderr)
        _stop(CLOSED_PIPE, argv is None)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback for users
        # typer vendors click: its exceptions are reached through typer's public names.
        if isinstance(exc, typer.Abort):
            _say("aborted")
            sys.exit(1)
        if isinstance(exc, typer.TyperException) and hasattr(exc, "show"):
            try:
                exc.show(file=sys.stderr)
            except (OSError, ValueError):
                _closed_pipe(sys.stderr)
            sys.exit(getattr(exc, "exit_code", ExitStatus.USAGE))
        if debug:
            traceback.print_exc()
        if isinstance(exc, OSError) and exc.filename:
            # An I/O failure outside the writer: named, with its cause, not reported as a defect.
            _say(f"error: {printable(str(exc.filename))}: {exc.strerror}; nothing was written")
            sys.exit(ExitStatus.USAGE)
        _say(
            f"internal error: {type(exc).__name__}: {printable(str(exc))}\n"
            "Nothing was written. This is a defect in ketaplan: please report it with the command you ran "
            "(run it again with --debug to see the traceback)."
        )
        sys.exit(ExitStatus.USAGE)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = sys.__unraisablehook__
    sys.exit(int(code or 0))
