"""`ketaplan course`: continue the current series from the record (spec/course.md). Parse, call the
API, render, write: no clinical logic lives here."""

from __future__ import annotations

from enum import Enum

import typer


class CourseFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    html = "html"
    json = "json"
    fhir = "fhir"
    ics = "ics"


def course(
    patient: str = typer.Argument(..., help="The patient file (TOML), with the sessions given so far."),
    protocol: str = typer.Option(..., "--protocol", "-p", help="The clinic's protocol file (TOML)."),
    start: str | None = typer.Option(None, "--start", help="First possible date for the next session, YYYY-MM-DD (default: today)."),
    format: CourseFormat = typer.Option(
        CourseFormat.text, "--format", "-f",
        help="text (terminal), markdown, html (A4), json, fhir (an R4 Bundle) or ics (a calendar).",
    ),
    sheet: str | None = typer.Option(
        None, "--sheet", metavar="N|next",
        help="Write the monitoring record of session N (or the next) to print and fill in: html (A4) or markdown.",
    ),
    output: str | None = typer.Option(None, "--output", "-o", help="Write to this file (whole or not at all); - for stdout."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    time: str | None = typer.Option(None, "--time", help="ics: each session's start, HH:MM in the clinic's time zone (default 09:00)."),
) -> None:
    """Continue the current series: the sessions given, the response per scale, and the rest of the
    series drafted with the protocol's titration and stop rules. Exit 1 when there is no series to
    continue (draft a new one with `ketaplan plan`).

    Example:

        ketaplan course examples/patients/course-part-way.toml --protocol examples/protocols/trd-iv-course.toml --start 2026-12-01
    """
    from ketaplan.cli import parse_start, parse_time, terminal_width, use_color
    from ketaplan.output import write_text

    day = parse_start(start)
    at = parse_time(time, format.value)
    text = course_text(
        patient, protocol, day, format.value, color=use_color(output), width=terminal_width(output), at=at, sheet=sheet
    )
    write_text(text, output, force=force)


def course_text(
    patient_path: str, protocol_path: str, start, fmt: str, *, color: bool = False, width=None, at=None, sheet=None
) -> str:
    from ketaplan.api import draft
    from ketaplan.load.patient import load_patient_file
    from ketaplan.load.protocol import load_protocol_file

    loaded = load_protocol_file(protocol_path)
    plan = draft(load_patient_file(patient_path, start), loaded, start, continuing=True)
    if sheet is not None:
        from ketaplan.sheet import GivenSession, sheet_document

        if fmt in ("fhir", "ics"):
            from ketaplan.errors import UsageError

            raise UsageError("--sheet: a sheet is for paper: use --format html (to print on A4) or markdown")
        given = tuple(GivenSession(g.number, g.date) for g in plan.course.series) if plan.course is not None else ()
        return sheet_document(plan, loaded.protocol, sheet, fmt, given=given, patient_file=patient_path)
    if fmt == "json":
        from ketaplan.render.json import plan_json_text

        return plan_json_text(plan)
    if fmt in ("fhir", "ics"):
        from ketaplan.exchange.views import exchange_text

        return exchange_text(plan, fmt, at)
    from ketaplan.render.course import course_view_of, render_course

    return render_course(course_view_of(plan), fmt, color=color, width=width)


def register(app: typer.Typer) -> None:
    app.command("course")(course)
