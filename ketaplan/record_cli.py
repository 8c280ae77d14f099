"""`ketaplan record` on the command line: the options, registered in ketaplan.cli. The work is in
ketaplan.record, imported only when the command runs (every other command starts without it)."""

# No `from __future__ import annotations`: typer reads this signature at every start.

import typer


def record_command(
    patient: str = typer.Argument(..., help="The patient file (TOML) to append the session to."),
    date_: str = typer.Option(..., "--date", help="The day the session was given, YYYY-MM-DD."),
    dose: str = typer.Option(..., "--dose", help='The dose given, e.g. "35 mg".'),
    protocol: str | None = typer.Option(None, "--protocol", "-p", help="The protocol id (or file) it was given under."),
    vitals: list[str] = typer.Option([], "--vitals", help='MINUTE:BP,HR,SPO2, e.g. "0:132/84,78,98" (0 = before). Repeat.'),
    ae: list[str] = typer.Option([], "--ae", help="An adverse event seen, repeated for each: nausea, vomiting, headache, dizziness, hypertension, "
        "tachycardia, bradycardia, desaturation, agitation, anxiety, emergence reaction, hallucinations, excessive "
        "sedation, dissociation distress, urinary symptoms, suicidal thoughts, other (with --ae-detail)."),
    ae_detail: str | None = typer.Option(None, "--ae-detail", help='What the event ticked "other" was.'),
    no_ae: bool = typer.Option(False, "--no-ae", help="No adverse event was seen (recorded as none)."),
    sedation: int | None = typer.Option(None, "--sedation", help="Deepest MOAA/S, 0..5 (5 = awake)."),
    dissociation: int | None = typer.Option(None, "--dissociation", help="Peak CADSS total, 0..92."),
    observed: str | None = typer.Option(None, "--observed", help='Observation after the infusion ended, e.g. "95 min".'),
    stopped: str | None = typer.Option(None, "--stopped", help="Why it was stopped early (without it: completed)."),
    duration: str | None = typer.Option(None, "--duration", help='How long the infusion ran, e.g. "40 min".'),
    phq9: int | None = typer.Option(None, "--phq9", help="PHQ-9 scored that day, 0..27."),
    madrs: int | None = typer.Option(None, "--madrs", help="MADRS scored that day, 0..60."),
    gad7: int | None = typer.Option(None, "--gad7", help="GAD-7 scored that day, 0..21."),
    pain_nrs: int | None = typer.Option(None, "--pain-nrs", help="Pain NRS scored that day, 0..10."),
    force: bool = typer.Option(False, "--force", help="Record a second session for the same date and protocol."),
) -> None:
    """Append one session given (and its scores) to the patient file, keeping every byte already there.

    The whole new file is checked before it replaces the old one; on any error nothing changes.

    Example:

        ketaplan record patient.toml --date 2026-11-03 --dose "36 mg" --protocol trd-iv-induction --vitals "0:128/82,74,98" --no-ae --madrs 24
    """
    from ketaplan.record import RecordRequest, run_record

    scores = {k: v for k, v in (("phq9", phq9), ("madrs", madrs), ("gad7", gad7), ("pain_nrs", pain_nrs)) if v is not None}
    request = RecordRequest(
        date=date_, dose=dose, protocol=protocol, duration=duration, vitals=list(vitals), adverse_events=list(ae),
        adverse_event_detail=ae_detail, no_adverse_events=no_ae, sedation=sedation, dissociation=dissociation,
        observed=observed, stopped=stopped, scores=scores, force=force,
    )  # fmt: skip
    raise typer.Exit(run_record(patient, request))


def register(app: typer.Typer) -> None:
    app.command("record")(record_command)
