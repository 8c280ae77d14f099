"""`ketaplan check`: every input kind and format, every exit code, input order kept, bad patients reported."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.builders import run_cli

REPO = Path(__file__).resolve().parent.parent
START = "2037-12-01"  # a Tuesday, years ahead: no START-IN-PAST note appears

PROTOCOL = """\
[protocol]
id = "batch-test"
title = "Batch test protocol"
version = "1"

[drug]
name = "ketamine"
route = "IV"
stock = "10 mg/mL"
bag = "100 mL"

[dose]
mg_per_kg = 0.5
duration = "40 min"
max_mg = 60

[schedule]
days = ["tue", "fri"]
{closed}
[[schedule.phase]]
name = "induction"
sessions = 2
min_gap_days = 3

[[rule]]
id = "EXCL-PREGNANCY"
effect = "exclude"
when = {{ pregnant = true }}
message = "Pregnancy."

[[rule]]
id = "REV-BP"
effect = "review"
when = {{ blood_pressure_at_least = "140/90" }}
message = "Baseline blood pressure at or above 140/90."

[[rule]]
id = "NOTE-OFF-LABEL"
effect = "note"
message = "Off-label use."
"""


def patient(pid: str, *, weight: str = "80 kg", bp: str = "120/80", sex: str = "male", pregnant: bool = False) -> str:
    return (
        f'id = "{pid}"\nage = 45\nsex = "{sex}"\nheight = "180 cm"\nweight = "{weight}"\n'
        f'blood_pressure = "{bp}"\npregnant = {str(pregnant).lower()}\n'
        "allergies = []\nconditions = []\nmedications = []\n"
    )


ELIGIBLE = patient("P-ELIGIBLE")
REVIEW = patient("P-REVIEW", bp="150/95")
EXCLUDED = patient("P-EXCLUDED", sex="female", pregnant=True)
CSV_HEADER = "id,age,sex,height,weight,blood_pressure,pregnant,allergies,conditions,medications\n"


def csv_row(pid: str, weight: str = "80 kg", bp: str = "120/80") -> str:
    return f"{pid},45,male,180 cm,{weight},{bp},false,none,none,none\n"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KETAPLAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def protocol(tmp_path) -> str:
    path = tmp_path / "protocol.toml"
    path.write_text(PROTOCOL.format(closed=""), encoding="utf-8")
    return str(path)


def write(path: Path, text: str, bom: bool = False) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return str(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "check", *args)


def jsonl(capsys, protocol: str, *inputs: str, extra: tuple[str, ...] = ()) -> tuple[int, list[dict], str]:
    code, out, err = run(capsys, *inputs, "--protocol", protocol, "--start", START, "--format", "jsonl", *extra)
    return code, [json.loads(line) for line in out.splitlines()], err


# ------------------------------------------------------------------------------------------ inputs


def test_one_patient_file_gives_one_jsonl_line_with_exactly_the_spec_keys(tmp_path, capsys, protocol):
    path = write(tmp_path / "P-ELIGIBLE.toml", ELIGIBLE)
    code, lines, _ = jsonl(capsys, protocol, path)
    assert (code, [list(line.items()) for line in lines]) == (
        0,
        [
            [
                ("id", "P-ELIGIBLE"),
                ("source", path),
                ("verdict", "eligible"),
                ("findings", ["NOTE-OFF-LABEL"]),
                ("first_dose_mg", 40),
                ("error", None),
            ]
        ],
    )


def test_a_folder_is_checked_recursively_in_sorted_path_order(tmp_path, capsys, protocol):
    folder = tmp_path / "patients"
    write(folder / "b.toml", patient("P-B"))
    write(folder / "sub" / "c.toml", patient("P-C"))
    write(folder / "a.toml", patient("P-A"))
    write(folder / "sub" / "deeper" / "a.toml", patient("P-D"))
    write(folder / "zz.toml", patient("P-Z"))
    write(folder / "notes.txt", "not a patient")
    _, lines, _ = jsonl(capsys, protocol, str(folder))
    assert [line["source"] for line in lines] == [
        str(folder / "a.toml"),
        str(folder / "b.toml"),
        str(folder / "sub" / "c.toml"),
        str(folder / "sub" / "deeper" / "a.toml"),
        str(folder / "zz.toml"),
    ]


def test_csv_rows_with_a_byte_order_mark_are_checked_with_row_sources(tmp_path, capsys, protocol):
    path = write(tmp_path / "clinic.csv", CSV_HEADER + csv_row("P-1") + csv_row("P-2", bp="150/95"), bom=True)
    _, lines, _ = jsonl(capsys, protocol, path)
    assert [(line["id"], line["source"], line["verdict"]) for line in lines] == [
        ("P-1", f"{path}:2", "eligible"),
        ("P-2", f"{path}:3", "needs-review"),
    ]


def test_results_keep_the_order_of_the_inputs_on_the_command_line(tmp_path, capsys, protocol):
    table = write(tmp_path / "clinic.csv", CSV_HEADER + csv_row("P-CSV-1") + csv_row("P-CSV-2"))
    single = write(tmp_path / "one.toml", patient("P-FILE"))
    folder = tmp_path / "folder"
    write(folder / "x.toml", patient("P-FOLDER-X"))
    write(folder / "y.toml", patient("P-FOLDER-Y"))
    _, lines, _ = jsonl(capsys, protocol, str(folder), table, single)
    assert [line["id"] for line in lines] == ["P-FOLDER-X", "P-FOLDER-Y", "P-CSV-1", "P-CSV-2", "P-FILE"]


# ----------------------------------------------------------------------------------------- formats


def test_csv_format_has_the_jsonl_columns_with_findings_joined_by_semicolons(tmp_path, capsys, protocol):
    path = write(tmp_path / "P-REVIEW.toml", REVIEW)
    code, out, _ = run(capsys, path, "--protocol", protocol, "--start", START, "--format", "csv")
    assert list(csv.reader(io.StringIO(out))) == [
        ["id", "source", "verdict", "findings", "first_dose_mg", "error"],
        ["P-REVIEW", path, "needs-review", "REV-BP;NOTE-OFF-LABEL", "40", ""],
    ]


def test_csv_format_gives_an_invalid_patient_its_error(tmp_path, capsys, protocol):
    path = write(tmp_path / "P-BAD.toml", patient("P-BAD", weight="80"))
    _, out, _ = run(capsys, path, "--protocol", protocol, "--start", START, "--format", "csv")
    [_, row] = list(csv.reader(io.StringIO(out)))
    assert (row[0], row[2], row[3], row[4], row[5].startswith(f"{path}:5:1: weight: ")) == (
        "P-BAD", "invalid", "", "", True
    )


def test_table_format_shows_every_patient_id_and_verdict(tmp_path, capsys, protocol):
    folder = tmp_path / "patients"
    write(folder / "1.toml", ELIGIBLE)
    write(folder / "2.toml", REVIEW)
    write(folder / "3.toml", EXCLUDED)
    code, out, _ = run(capsys, str(folder), "--protocol", protocol, "--start", START)
    rows = [line.split()[:2] for line in out.splitlines() if not line.startswith(" ")]
    assert rows == [
        ["id", "verdict"],
        ["P-ELIGIBLE", "eligible"],
        ["P-REVIEW", "needs-review"],
        ["P-EXCLUDED", "excluded"],
    ]


def test_table_format_writes_the_first_dose_the_safe_way(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", patient("P-1", weight="73 kg"))
    _, out, _ = run(capsys, path, "--protocol", protocol, "--start", START)
    # 0.5 mg/kg x 73 kg = 36.5 mg, an exact half: rounded down to 36 mg, never written "36.0 mg".
    assert " 36 mg  NOTE-OFF-LABEL" in out.splitlines()[1]


def _no_bp(pid: str) -> str:
    return "\n".join(line for line in patient(pid).splitlines() if not line.startswith("blood_pressure")) + "\n"


def test_table_at_80_columns_breaks_between_ids_and_folders_never_inside_one(tmp_path, capsys, protocol, monkeypatch):
    import re

    monkeypatch.setenv("COLUMNS", "80")
    folder = tmp_path.joinpath("a-rather-long-folder-name-for-the-clinic-patients", "and-one-more-folder-below-it")
    path = write(folder / "review-with-a-long-file-name-that-goes-on.toml", _no_bp("P-1"))
    _, out, _ = run(capsys, path, "--protocol", protocol, "--start", START)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert re.findall(r"[A-Z][A-Z-]+[A-Z]\??", " ".join(lines[1:])) == ["REV-BP?", "NOTE-OFF-LABEL"]
    assert "".join(line.strip() for line in lines[2:]) == path
    assert all(line.rstrip().endswith("/") for line in lines[2:-1])


def test_table_marks_the_findings_that_could_not_be_checked(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", _no_bp("P-1"))
    _, out, _ = run(capsys, path, "--protocol", protocol, "--start", START)
    header, row = out.splitlines()[:2]
    assert header.endswith("findings (? could not be checked)")
    assert row.split()[-2:] == ["REV-BP?,", "NOTE-OFF-LABEL"]


def test_count_by_verdict_goes_to_stderr_and_nothing_else_when_piped(tmp_path, capsys, protocol):
    folder = tmp_path / "patients"
    write(folder / "1.toml", ELIGIBLE)
    write(folder / "2.toml", REVIEW)
    write(folder / "3.toml", EXCLUDED)
    write(folder / "4.toml", "id = 'P-X'\nwieght = '80 kg'\n")
    _, _, err = jsonl(capsys, protocol, str(folder))
    assert err == "4 patients: 1 eligible, 1 needs-review, 1 excluded, 1 invalid\n"


# -------------------------------------------------------------------------------------- exit codes


def test_all_eligible_exits_0(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", ELIGIBLE)
    assert jsonl(capsys, protocol, path)[0] == 0


def test_needs_review_exits_0_with_the_default_fail_on(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", REVIEW)
    assert jsonl(capsys, protocol, path)[0] == 0


def test_needs_review_exits_1_with_fail_on_needs_review(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", REVIEW)
    assert jsonl(capsys, protocol, path, extra=("--fail-on", "needs-review"))[0] == 1


def test_excluded_exits_1_with_fail_on_needs_review(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", EXCLUDED)
    assert jsonl(capsys, protocol, path, extra=("--fail-on", "needs-review"))[0] == 1


def test_an_excluded_patient_exits_1_with_the_default_fail_on(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", EXCLUDED)
    code, lines, _ = jsonl(capsys, protocol, path)
    assert (code, lines[0]["verdict"], lines[0]["first_dose_mg"]) == (1, "excluded", None)


def test_an_invalid_patient_exits_1(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", patient("P-1", weight="80 stone"))
    assert jsonl(capsys, protocol, path)[0] == 1


def test_a_protocol_that_cannot_be_used_exits_2_before_any_output(tmp_path, capsys):
    bad = write(tmp_path / "bad.toml", PROTOCOL.format(closed="").replace("max_mg = 60", "max_mg = -60"))
    path = write(tmp_path / "p.toml", ELIGIBLE)
    code, out, err = run(capsys, path, "--protocol", bad, "--start", START, "--format", "jsonl")
    assert (code, out, err.startswith(f"{bad}:")) == (2, "", True)


def test_an_unknown_csv_column_exits_2_before_any_output(tmp_path, capsys, protocol):
    good = write(tmp_path / "p.toml", ELIGIBLE)
    table = write(tmp_path / "clinic.csv", CSV_HEADER.replace("weight", "wieght") + csv_row("P-1"))
    code, out, err = run(capsys, good, table, "--protocol", protocol, "--start", START, "--format", "jsonl")
    assert (code, out, err) == (2, "", f"{table}:1: error: unknown column 'wieght' (did you mean 'weight'?)\n")


def test_a_path_that_does_not_exist_exits_2_naming_it(tmp_path, capsys, protocol):
    missing = str(tmp_path / "nowhere.toml")
    code, out, err = run(capsys, missing, "--protocol", protocol, "--start", START)
    assert (code, out, err) == (2, "", f"error: {missing}: no such file or folder\n")


def test_a_file_that_is_neither_toml_nor_csv_exits_2_naming_it(tmp_path, capsys, protocol):
    other = write(tmp_path / "patients.xlsx", "{}")
    code, _, err = run(capsys, other, "--protocol", protocol, "--start", START)
    assert (code, err.startswith(f"error: {other}: not a patient input")) == (2, True)
    # A *.json file is read as a FHIR bundle (issue 13): one that is not is an invalid patient.
    other = write(tmp_path / "patients.json", "{}")
    code, out, err = run(capsys, other, "--protocol", protocol, "--start", START)
    assert code == 1 and "invalid" in out and "not a FHIR resource" in out


# ----------------------------------------------------------------------------- invalid patients


def test_a_bad_csv_row_amid_good_ones_names_its_row_and_the_others_are_checked(tmp_path, capsys, protocol):
    path = write(tmp_path / "clinic.csv", CSV_HEADER + csv_row("P-1") + csv_row("P-2", weight="80") + csv_row("P-3"))
    code, lines, err = jsonl(capsys, protocol, path)
    assert [(line["id"], line["verdict"]) for line in lines] == [
        ("P-1", "eligible"),
        ("P-2", "invalid"),
        ("P-3", "eligible"),
    ]
    assert lines[1]["error"].startswith(f"{path}:3: weight: ")
    assert (lines[1]["source"], lines[1]["findings"], lines[1]["first_dose_mg"]) == (f"{path}:3", [], None)
    assert (code, err) == (1, "3 patients: 2 eligible, 0 needs-review, 0 excluded, 1 invalid\n")


def test_an_unreadable_patient_file_names_file_line_and_field_and_keeps_its_id(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", ELIGIBLE.replace("weight =", "wieght ="))
    _, [line], _ = jsonl(capsys, protocol, path)
    assert (line["id"], line["verdict"], line["error"]) == (
        "P-ELIGIBLE",
        "invalid",
        f"{path}:5:1: wieght: unknown key 'wieght' (did you mean 'weight'?)",
    )


def test_a_patient_file_that_is_not_toml_is_invalid_without_an_id(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", "id = \n")
    _, [line], _ = jsonl(capsys, protocol, path)
    assert (line["id"], line["verdict"], line["error"].startswith(f"{path}:1:")) == (None, "invalid", True)


def test_a_calendar_with_no_open_day_makes_each_patient_invalid_not_the_run(tmp_path, capsys):
    # Every Tuesday and Friday of a year closed: the protocol cannot schedule anyone.
    first = date(2037, 12, 1)
    closed = [first + timedelta(days=n) for n in range(400) if (first + timedelta(days=n)).weekday() in (1, 4)]
    text = PROTOCOL.format(closed="closed = [" + ", ".join(d.isoformat() for d in closed) + "]\n")
    protocol = write(tmp_path / "closed.toml", text)
    folder = tmp_path / "patients"
    write(folder / "1.toml", patient("P-1"))
    write(folder / "2.toml", patient("P-2"))
    code, lines, _ = jsonl(capsys, protocol, str(folder))
    assert [(line["id"], line["verdict"]) for line in lines] == [("P-1", "invalid"), ("P-2", "invalid")]
    line = next(n for n, text in enumerate(text.splitlines(), start=1) if text.startswith("days"))
    assert lines[0]["error"].startswith(f"{protocol}:{line}:1: schedule: no allowed date within 366 days")
    assert code == 1


def test_an_internal_error_for_one_patient_is_reported_and_the_run_goes_on(tmp_path, capsys, protocol, monkeypatch):
    import ketaplan.api

    real = ketaplan.api.draft

    def flaky(loaded, *args, **kwargs):
        if loaded.patient.id == "P-2":
            raise RuntimeError("simulated defect")
        return real(loaded, *args, **kwargs)

    monkeypatch.setattr(ketaplan.api, "draft", flaky)
    folder = tmp_path / "patients"
    for n in (1, 2, 3):
        write(folder / f"{n}.toml", patient(f"P-{n}"))
    code, lines, _ = jsonl(capsys, protocol, str(folder))
    assert [(line["id"], line["verdict"], line["error"]) for line in lines] == [
        ("P-1", "eligible", None),
        ("P-2", "invalid", "internal error: RuntimeError: simulated defect"),
        ("P-3", "eligible", None),
    ]
    assert code == 1


# ------------------------------------------------------------------------------------------ output


def test_output_file_receives_the_results_and_stdout_stays_empty(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", ELIGIBLE)
    target = tmp_path / "results.jsonl"
    code, out, _ = run(capsys, path, "--protocol", protocol, "--start", START, "-f", "jsonl", "-o", str(target))
    assert (code, out, json.loads(target.read_text())["id"]) == (0, "", "P-ELIGIBLE")


def test_output_refuses_to_overwrite_an_existing_file_without_force(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", ELIGIBLE)
    target = write(tmp_path / "results.jsonl", "keep me\n")
    code, _, err = run(capsys, path, "--protocol", protocol, "--start", START, "-f", "jsonl", "-o", target)
    assert (code, Path(target).read_text(), "exists already" in err) == (2, "keep me\n", True)


def test_output_with_force_replaces_the_file(tmp_path, capsys, protocol):
    path = write(tmp_path / "p.toml", ELIGIBLE)
    target = write(tmp_path / "results.jsonl", "old\n")
    run(capsys, path, "--protocol", protocol, "--start", START, "-f", "jsonl", "-o", target, "--force")
    assert json.loads(Path(target).read_text())["id"] == "P-ELIGIBLE"


def test_output_leaves_no_temporary_file_behind(tmp_path, capsys, protocol):
    path = write(tmp_path / "in" / "p.toml", ELIGIBLE)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    run(capsys, path, "--protocol", protocol, "--start", START, "-f", "csv", "-o", str(out_dir / "r.csv"))
    assert sorted(os.listdir(out_dir)) == ["r.csv"]


def test_no_output_file_is_written_when_the_run_stops_on_a_whole_file_error(tmp_path, capsys, protocol):
    table = write(tmp_path / "clinic.csv", "id,id\n")
    target = tmp_path / "out" / "r.jsonl"
    target.parent.mkdir()
    code, _, _ = run(capsys, table, "--protocol", protocol, "--start", START, "-f", "jsonl", "-o", str(target))
    assert (code, os.listdir(target.parent)) == (2, [])


# -------------------------------------------------------------------------------------------- jobs


@pytest.fixture
def pools(monkeypatch) -> list[int]:
    """The worker counts of the process pools started (to prove --jobs really runs workers)."""
    import concurrent.futures

    started: list[int] = []

    class Spy(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, max_workers=None, **kwargs):
            started.append(max_workers)
            super().__init__(max_workers=max_workers, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Spy)
    return started


@pytest.mark.slow
def test_jobs_2_gives_the_same_lines_in_the_same_order(tmp_path, capsys, protocol, pools):
    folder = tmp_path / "patients"
    for n in range(100):
        write(folder / f"{n:03d}.toml", patient(f"P-{n:03d}", bp="150/95" if n % 3 == 0 else "120/80"))
    _, serial, _ = jsonl(capsys, protocol, str(folder))
    _, parallel, _ = jsonl(capsys, protocol, str(folder), extra=("--jobs", "2"))
    assert (parallel, [line["id"] for line in parallel], pools) == (serial, [f"P-{n:03d}" for n in range(100)], [2])


def test_jobs_2_with_fewer_patients_than_a_chunk_starts_no_workers(tmp_path, capsys, protocol, pools):
    path = write(tmp_path / "p.toml", ELIGIBLE)
    code, lines, _ = jsonl(capsys, protocol, path, extra=("--jobs", "2"))
    assert (code, lines[0]["verdict"], pools) == (0, "eligible", [])


@pytest.mark.slow
def test_jobs_2_keeps_csv_row_order_and_reports_a_bad_row_the_same_way(tmp_path, capsys, protocol, pools):
    rows = "".join(csv_row(f"P-{n:02d}", weight="80" if n == 57 else "80 kg") for n in range(80))
    path = write(tmp_path / "clinic.csv", CSV_HEADER + rows)
    _, serial, _ = jsonl(capsys, protocol, path)
    _, parallel, err = jsonl(capsys, protocol, path, extra=("--jobs", "2"))
    assert (parallel, parallel[57]["source"], parallel[57]["verdict"], pools) == (serial, f"{path}:59", "invalid", [2])
    assert err == "80 patients: 79 eligible, 0 needs-review, 0 excluded, 1 invalid\n"


# -------------------------------------------------------------------------------------- examples


EXAMPLES = REPO / "examples"


@pytest.mark.skipif(not (EXAMPLES / "patients").is_dir(), reason="examples not present")
@pytest.mark.parametrize("protocol_name", ["trd-iv-induction.toml", "trd-maintenance.toml", "crps-iv-rate.toml"])
def test_every_example_patient_checks_without_an_internal_error(capsys, protocol_name):
    protocol = EXAMPLES / "protocols" / protocol_name
    if not protocol.exists():
        pytest.skip(f"{protocol_name} not present")
    _, lines, _ = jsonl(capsys, str(protocol), str(EXAMPLES / "patients"))
    assert len(lines) == len(list((EXAMPLES / "patients").glob("*.toml")))
    assert [line for line in lines if line["verdict"] == "invalid"] == []


# ------------------------------------------------------------------------------------- subprocess


@pytest.mark.slow
def test_python_m_ketaplan_check_streams_jsonl_and_counts_on_stderr(tmp_path, protocol):
    folder = tmp_path / "patients"
    write(folder / "1.toml", ELIGIBLE)
    write(folder / "2.toml", EXCLUDED)
    env = {**os.environ, "KETAPLAN_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "ketaplan", "check", str(folder), "-p", protocol, "--start", START, "-f", "jsonl"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    verdicts = [json.loads(line)["verdict"] for line in done.stdout.splitlines()]
    assert (done.returncode, verdicts, done.stderr) == (
        1,
        ["eligible", "excluded"],
        "2 patients: 1 eligible, 0 needs-review, 1 excluded, 0 invalid\n",
    )


@pytest.mark.slow
def test_progress_bar_goes_to_a_terminal_on_stderr_and_stdout_stays_pure_jsonl(tmp_path, protocol):
    import pty

    folder = tmp_path / "patients"
    for n in range(30):
        write(folder / f"{n:02d}.toml", patient(f"P-{n:02d}"))
    env = {**os.environ, "KETAPLAN_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO), "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    import threading

    controller, terminal = pty.openpty()
    shown = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process ended
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    command = [sys.executable, "-m", "ketaplan", "check", str(folder), "-p", protocol, "--start", START, "-f", "jsonl"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=terminal, env=env, cwd=tmp_path) as proc:
        os.close(terminal)
        out = proc.stdout.read().decode()
        proc.wait()
    reader.join(timeout=10)
    os.close(controller)
    assert [json.loads(line)["id"] for line in out.splitlines()] == [f"P-{n:02d}" for n in range(30)]
    assert b"checking" in shown and b"30 patients: 30 eligible" in shown
