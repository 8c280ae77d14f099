"""`ketaplan record`: the file keeps every byte it had (the new tables are appended), or is not changed."""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketaplan.errors import KetaplanError
from ketaplan.record import RecordRequest, appended_text, build_tables, parse_vitals, record
from tests.builders import run_cli as run

ROOT = Path(__file__).resolve().parent.parent
ELIGIBLE = ROOT / "examples/patients/eligible-trd.toml"
INDUCTION = ROOT / "examples/protocols/trd-iv-induction.toml"
TODAY = date(2026, 12, 1)


def copy(tmp_path: Path, data: bytes | None = None, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_bytes(ELIGIBLE.read_bytes() if data is None else data)
    return path


def req(**kw) -> RecordRequest:
    kw.setdefault("date", "2026-11-03")
    kw.setdefault("dose", "36 mg")
    kw.setdefault("protocol", "trd-iv-induction")
    return RecordRequest(**kw)


def load(path: Path) -> dict:
    data = path.read_bytes()
    return tomllib.loads(data.removeprefix(b"\xef\xbb\xbf").decode())


# --- the bytes ------------------------------------------------------------------------------------


def test_the_old_bytes_are_a_prefix_of_the_new_and_the_new_table_is_last(tmp_path):
    path = copy(tmp_path)
    before = path.read_bytes()
    done = record(str(path), req(), today=TODAY)
    after = path.read_bytes()
    assert after == before + done.appended
    assert after.startswith(before)
    assert load(path)["infusions"] == [{"date": date(2026, 11, 3), "dose": "36 mg", "protocol": "trd-iv-induction"}]
    assert done.appended == b'\n[[infusions]]\ndate = 2026-11-03\ndose = "36 mg"\nprotocol = "trd-iv-induction"\n'


def test_four_sessions_append_in_order_each_keeping_what_was_there(tmp_path):
    path = copy(tmp_path)
    for day in ("2026-11-03", "2026-11-05", "2026-11-10", "2026-11-12"):
        before = path.read_bytes()
        record(str(path), req(date=day), today=TODAY)
        assert path.read_bytes().startswith(before)
    assert [i["date"].isoformat() for i in load(path)["infusions"]] == [
        "2026-11-03", "2026-11-05", "2026-11-10", "2026-11-12",
    ]  # fmt: skip
    assert path.read_bytes().startswith(ELIGIBLE.read_bytes())


def test_a_file_without_a_final_line_end_gets_one_before_the_new_table(tmp_path):
    path = copy(tmp_path, ELIGIBLE.read_bytes().rstrip(b"\n"))
    before = path.read_bytes()
    record(str(path), req(), today=TODAY)
    after = path.read_bytes()
    assert after.startswith(before)
    assert after[len(before) :].startswith(b"\n\n[[infusions]]\n")
    assert load(path)["scores"]["gad7"] == 12


def test_a_file_ending_in_a_comment_without_a_line_end(tmp_path):
    path = copy(tmp_path, ELIGIBLE.read_bytes() + b"# last line, no line end")
    record(str(path), req(), today=TODAY)
    assert load(path)["infusions"][0]["dose"] == "36 mg"


def test_crlf_file_gets_crlf_lines_and_keeps_its_bytes(tmp_path):
    crlf = ELIGIBLE.read_bytes().replace(b"\n", b"\r\n")
    path = copy(tmp_path, crlf)
    done = record(str(path), req(), today=TODAY)
    after = path.read_bytes()
    assert after.startswith(crlf)
    assert done.appended.count(b"\r\n") == done.appended.count(b"\n") == 5


def test_a_byte_order_mark_is_kept(tmp_path):
    path = copy(tmp_path, b"\xef\xbb\xbf" + ELIGIBLE.read_bytes())
    record(str(path), req(), today=TODAY)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf" + ELIGIBLE.read_bytes())


def test_comments_and_odd_spacing_survive(tmp_path):
    text = ELIGIBLE.read_bytes() + b"\n\n\n   # trailing comment with unicode \xe2\x80\x94 dash\n\t\n"
    path = copy(tmp_path, text)
    record(str(path), req(), today=TODAY)
    assert path.read_bytes().startswith(text)


def test_appending_after_existing_infusion_tables_extends_them(tmp_path):
    text = ELIGIBLE.read_bytes() + b'\n[[infusions]] # first\ndate = 2026-10-01\ndose = "36 mg"\n'
    path = copy(tmp_path, text)
    record(str(path), req(protocol=None), today=TODAY)
    assert [i["date"] for i in load(path)["infusions"]] == [date(2026, 10, 1), date(2026, 11, 3)]


def test_the_file_keeps_its_permission_bits(tmp_path):
    path = copy(tmp_path)
    os.chmod(path, 0o640)
    record(str(path), req(), today=TODAY)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_a_symlinked_patient_file_is_written_through_the_link(tmp_path):
    real = copy(tmp_path, name="real.toml")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    record(str(link), req(), today=TODAY)
    assert link.is_symlink()
    assert b"[[infusions]]" in real.read_bytes()


def test_a_protocol_file_is_read_for_its_id():
    infusion, _ = build_tables(req(protocol=str(INDUCTION)))
    assert infusion["protocol"] == "trd-iv-induction"


def test_tables_hold_what_the_options_say_in_the_spec_order():
    infusion, assessment = build_tables(
        req(
            duration="40 min",
            vitals=["40:158/96,90", "0:132/84,78,98", "100:136/86"],
            sedation=4,
            dissociation=18,
            observed="95 min",
            adverse_events=["nausea", "other", "nausea"],
            adverse_event_detail="hiccups",
            stopped="BP 182/104 at 30 min",
            scores={"madrs": 21, "phq9": 12},
        )
    )
    assert list(infusion) == [
        "date", "dose", "protocol", "duration", "completed", "stopped_because", "vitals", "sedation",
        "dissociation", "observed", "adverse_events", "adverse_event_detail",
    ]  # fmt: skip
    assert infusion["completed"] is False
    assert infusion["vitals"] == [
        {"minute": 0, "blood_pressure": "132/84", "heart_rate": 78, "spo2": 98},
        {"minute": 40, "blood_pressure": "158/96", "heart_rate": 90},
        {"minute": 100, "blood_pressure": "136/86"},
    ]
    assert infusion["adverse_events"] == ["nausea", "other"]
    assert assessment == {"date": date(2026, 11, 3), "phq9": 12, "madrs": 21}


def test_no_ae_records_an_empty_list_and_nothing_leaves_it_absent():
    assert build_tables(req(no_adverse_events=True))[0]["adverse_events"] == []
    assert "adverse_events" not in build_tables(req())[0]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0:132/84,78,98", {"minute": 0, "blood_pressure": "132/84", "heart_rate": 78, "spo2": 98}),
        ("40:158/96", {"minute": 40, "blood_pressure": "158/96"}),
        ("40: 158 / 96 , 90", {"minute": 40, "blood_pressure": "158/96", "heart_rate": 90}),
        ("60:,,97%", {"minute": 60, "spo2": 97}),
        ("15:,88", {"minute": 15, "heart_rate": 88}),
    ],
)
def test_vitals_forms(value, expected):
    assert parse_vitals(value) == expected


@pytest.mark.parametrize("value", ["132/84", "x:132/84", "-5:132/84", "0:", "0:,,", "0:132-84", "0:1,2,3,4", "0:132/84,fast"])
def test_vitals_mistakes_name_the_option_and_value(value):
    with pytest.raises(KetaplanError) as info:
        parse_vitals(value)
    assert str(info.value).startswith(f"--vitals {value!r}: ")


def test_appended_text_to_an_empty_file():
    infusion, _ = build_tables(req())
    assert appended_text(b"", infusion, None).startswith(b"[[infusions]]\n")


# --- refusals: the file is byte-identical afterwards ---------------------------------------------


REFUSALS = [
    (dict(dose="36 g"), "--dose"),
    (dict(dose="36"), "--dose"),
    (dict(dose=""), "--dose"),
    (dict(date="2026-11-3"), "--date"),
    (dict(date="2026-12-02"), "--date"),  # after today
    (dict(protocol="Not An Id!"), "--protocol"),
    (dict(vitals=["0:132/84", "0:140/90"]), "--vitals '0:140/90'"),
    (dict(vitals=["later:132/84"]), "--vitals 'later:132/84'"),
    (dict(adverse_events=["nausea"], no_adverse_events=True), "--no-ae"),
    (dict(adverse_event_detail="hiccups"), "--ae-detail"),
    (dict(adverse_events=["nausea", "other"]), "--ae other"),
    (dict(stopped="line one\nline two"), "--stopped"),
    (dict(stopped="\x1b[31mred"), "--stopped"),
]


@pytest.mark.parametrize("options, option", REFUSALS)
def test_every_refusal_names_its_option_and_leaves_the_file_as_it_was(tmp_path, options, option):
    path = copy(tmp_path)
    before = path.read_bytes()
    with pytest.raises(KetaplanError) as info:
        record(str(path), req(**options), today=TODAY)
    assert info.value.render().startswith(f"error: {option}"), info.value.render()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["p.toml"]  # no temporary file left behind


def test_a_second_session_same_date_and_protocol_is_refused_unless_forced(tmp_path):
    path = copy(tmp_path)
    record(str(path), req(), today=TODAY)
    before = path.read_bytes()
    with pytest.raises(KetaplanError) as info:
        record(str(path), req(), today=TODAY)
    assert "--date: a session on 2026-11-03 under trd-iv-induction is already recorded (infusions[1]" in str(
        info.value.render()
    )
    assert "--force" in info.value.render()
    assert path.read_bytes() == before
    record(str(path), req(protocol=None), today=TODAY)  # another protocol (none) is another session
    record(str(path), req(force=True), today=TODAY)
    assert len(load(path)["infusions"]) == 3


def test_an_earlier_date_than_the_last_session_is_refused(tmp_path):
    path = copy(tmp_path)
    record(str(path), req(date="2026-11-10"), today=TODAY)
    before = path.read_bytes()
    with pytest.raises(KetaplanError, match=r"^--date: 2026-11-03 is before the last session recorded \(2026-11-10\)"):
        record(str(path), req(date="2026-11-03"), today=TODAY)
    assert path.read_bytes() == before


def test_an_invalid_patient_file_is_left_alone_and_named(tmp_path):
    path = copy(tmp_path, ELIGIBLE.read_bytes().replace(b'weight = "73 kg"', b'weight = "73"'))
    before = path.read_bytes()
    with pytest.raises(KetaplanError) as info:
        record(str(path), req(), today=TODAY)
    text = info.value.render()
    assert f"{path}:8" in text and "weight" in text
    assert "record changed nothing" in text
    assert path.read_bytes() == before


def test_a_file_that_is_not_toml_is_left_alone(tmp_path):
    path = copy(tmp_path, b"id = \n")
    with pytest.raises(KetaplanError):
        record(str(path), req(), today=TODAY)
    assert path.read_bytes() == b"id = \n"


def test_an_inline_infusions_list_cannot_be_extended(tmp_path):
    text = ELIGIBLE.read_bytes().replace(b"[scores]", b'infusions = [{ date = 2026-10-01, dose = "36 mg" }]\n\n[scores]')
    path = copy(tmp_path, text)
    with pytest.raises(KetaplanError, match=r"writes infusions as a list \(infusions = \[\.\.\.\]\)"):
        record(str(path), req(), today=TODAY)
    assert path.read_bytes() == text


def test_standard_input_is_refused():
    with pytest.raises(KetaplanError, match="not - "):
        record("-", req(), today=TODAY)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(KetaplanError, match="no such file"):
        record(str(tmp_path / "nobody.toml"), req(), today=TODAY)
    assert not (tmp_path / "nobody.toml").exists()


def test_a_file_changed_while_recording_is_not_overwritten(tmp_path, monkeypatch):
    path = copy(tmp_path)
    import ketaplan.load.reader as reader

    real = reader.read_input_file
    calls = []

    def read_twice_changed(p, *a):
        calls.append(p)
        data = real(p, *a)
        return data + b"# someone else's edit\n" if len(calls) > 1 else data

    monkeypatch.setattr(reader, "read_input_file", read_twice_changed)
    with pytest.raises(KetaplanError, match="changed while the session was being recorded"):
        record(str(path), req(), today=TODAY)
    assert path.read_bytes() == ELIGIBLE.read_bytes()


def test_a_failed_replacement_changes_nothing(tmp_path, monkeypatch):
    path = copy(tmp_path)

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KetaplanError, match="nothing was changed"):
        record(str(path), req(), today=TODAY)
    monkeypatch.undo()
    assert path.read_bytes() == ELIGIBLE.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["p.toml"]


# --- the command line ------------------------------------------------------------------------------


def test_cli_records_and_says_so_on_stderr(capsys, tmp_path):
    path = copy(tmp_path)
    code, out, err = run(capsys, "record", str(path), "--date", "2026-11-03", "--dose", "36 mg", "-p", "trd-iv-induction")
    assert code == 0, err
    assert out == ""
    assert "recorded session 2026-11-03, 36 mg under trd-iv-induction as infusions[1]" in err
    assert "adverse events were left unrecorded" in err


def test_cli_refusal_exits_2_without_a_traceback(capsys, tmp_path):
    path = copy(tmp_path)
    code, _, err = run(capsys, "record", str(path), "--date", "2026-11-03", "--dose", "36 g")
    assert code == 2
    assert err.startswith("error: --dose: ")
    assert "Traceback" not in err
    assert path.read_bytes() == ELIGIBLE.read_bytes()


def test_cli_needs_date_and_dose(capsys, tmp_path):
    path = copy(tmp_path)
    code, _, err = run(capsys, "record", str(path), "--dose", "36 mg")
    assert code == 2 and "--date" in err
    assert path.read_bytes() == ELIGIBLE.read_bytes()


# --- property: any file, any options: the old bytes are a prefix of the new, or nothing changed -----

_comment_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff"), max_size=20
)


@st.composite
def patient_files(draw) -> bytes:
    lines = ELIGIBLE.read_text().splitlines()
    out: list[str] = []
    for line in lines:
        if draw(st.integers(0, 5)) == 0:
            out.append("# " + draw(_comment_text))
        if draw(st.integers(0, 8)) == 0:
            out.append(draw(st.sampled_from(["", "   ", "\t"])))
        out.append(line)
    if draw(st.booleans()):
        out[out.index('weight = "73 kg"')] = draw(st.sampled_from(['weight = "73"', 'weight = "73 kg" # ok', "weight = 73"]))
    for day in sorted(draw(st.lists(st.integers(1, 28), max_size=3, unique=True))):
        out += ["", f"[[infusions]]{draw(st.sampled_from(['', ' # given']))}", f"date = 2026-10-{day:02d}", 'dose = "36 mg"']
        if draw(st.booleans()):
            out.append('protocol = "trd-iv-induction"')
    if draw(st.booleans()):
        out.append("# " + draw(_comment_text))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = eol.join(out) + draw(st.sampled_from(["", eol, eol + eol, eol + "  ", eol + "# end"]))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode()


record_requests = st.builds(
    req,
    date=st.sampled_from(["2026-10-05", "2026-10-20", "2026-11-03", "2026-10-5", "2027-01-01"]),
    dose=st.sampled_from(["36 mg", "36mg", "36.5 mg", "36 g", "0 mg", "abc", "36 MG"]),
    protocol=st.sampled_from([None, "trd-iv-induction", "other-protocol", "Bad Id"]),
    force=st.booleans(),
    stopped=st.sampled_from([None, None, "x\ny"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=patient_files(), request=record_requests)
def test_property_prefix_kept_or_nothing_changed(tmp_path_factory, data, request):
    import tempfile

    request.stopped = None  # `completed` waits for the course loader; the refusal of "x\ny" is above
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "p.toml"
    path.write_bytes(data)
    try:
        done = record(str(path), request, today=TODAY)
    except KetaplanError as exc:
        assert path.read_bytes() == data
        assert exc.render().startswith("error: --") or str(path) in exc.render()
    else:
        after = path.read_bytes()
        assert after == data + done.appended
        parsed = tomllib.loads(after.removeprefix(b"\xef\xbb\xbf").decode())
        last = parsed["infusions"][-1]
        assert last["date"].isoformat() == request.date and last["dose"] == request.dose
        assert last.get("protocol") == request.protocol
    assert os.listdir(folder) == ["p.toml"]
    del tempfile


# --- with the course fields (once the patient reader knows them) ----------------------------------


def _reader_knows_course_fields() -> bool:
    from ketaplan.load.patient import read_patient_bytes

    probe = ELIGIBLE.read_bytes() + (
        b'\n[[infusions]]\ndate = 2026-11-03\ndose = "36 mg"\nvitals = [{ minute = 0, blood_pressure = "130/80" }]\n'
        b"adverse_events = []\n\n[[assessments]]\ndate = 2026-11-03\nmadrs = 20\n"
    )
    try:
        read_patient_bytes(probe, "probe.toml", TODAY)
    except KetaplanError:
        return False
    return True


course_fields = pytest.mark.skipif(not _reader_knows_course_fields(), reason="the course patient reader is not merged")


@course_fields
def test_a_whole_session_with_scores_is_recorded_and_read_back(tmp_path):
    from ketaplan.load.patient import read_patient_bytes

    path = copy(tmp_path)
    done = record(
        str(path),
        req(
            vitals=["0:132/84,78,98", "40:158/96,90", "100:136/86"],
            adverse_events=["nausea"],
            sedation=4,
            dissociation=18,
            observed="95 min",
            duration="40 min",
            scores={"madrs": 21, "phq9": 12},
        ),
        today=TODAY,
    )
    assert path.read_bytes() == ELIGIBLE.read_bytes() + done.appended
    patient = read_patient_bytes(path.read_bytes(), str(path), TODAY).patient
    assert len(patient.infusions) == 1
    parsed = load(path)
    assert parsed["infusions"][0]["vitals"][1] == {"minute": 40, "blood_pressure": "158/96", "heart_rate": 90}
    assert parsed["assessments"] == [{"date": date(2026, 11, 3), "phq9": 12, "madrs": 21}]


@course_fields
@pytest.mark.parametrize(
    "options, option",
    [
        (dict(sedation=7), "--sedation"),
        (dict(dissociation=93), "--dissociation"),
        (dict(vitals=["0:132/84,78,98", "40:400/96"]), "--vitals '40:400/96'"),
        (dict(vitals=["0:84/132"]), "--vitals '0:84/132'"),
        (dict(adverse_events=["nausea", "nauseous"]), "--ae 'nauseous'"),
        (dict(adverse_events=["other"]), "--ae other: say what happened with --ae-detail"),
        (dict(observed="95"), "--observed"),
        (dict(duration="forty"), "--duration"),
        (dict(scores={"madrs": 61}), "--madrs"),
        (dict(scores={"phq9": 28}), "--phq9"),
    ],
)
def test_reader_errors_in_the_new_tables_name_the_option(tmp_path, options, option):
    path = copy(tmp_path)
    with pytest.raises(KetaplanError) as info:
        record(str(path), req(**options), today=TODAY)
    assert info.value.render().startswith(f"error: {option}"), info.value.render()
    assert path.read_bytes() == ELIGIBLE.read_bytes()


@course_fields
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=patient_files(),
    vitals=st.lists(
        st.builds(lambda m, s, d, hr: f"{m}:{s}/{d},{hr}", st.integers(0, 200), st.integers(40, 320),
                  st.integers(10, 210), st.integers(10, 260)),
        max_size=4,
    ),
    events=st.lists(st.sampled_from(["nausea", "headache", "other", "nauseous", "dizziness"]), max_size=3),
    no_ae=st.booleans(),
    sedation=st.one_of(st.none(), st.integers(-1, 6)),
    scores=st.dictionaries(st.sampled_from(["phq9", "madrs", "gad7"]), st.integers(-1, 62), max_size=3),
    stopped=st.sampled_from([None, "BP 182/104 at 30 min"]),
)  # fmt: skip
def test_property_with_course_fields(tmp_path_factory, data, vitals, events, no_ae, sedation, scores, stopped):
    folder = tmp_path_factory.mktemp("prop2")
    path = folder / "p.toml"
    path.write_bytes(data)
    request = req(vitals=vitals, adverse_events=events, no_adverse_events=no_ae, sedation=sedation, scores=scores,
                  stopped=stopped)  # fmt: skip
    try:
        done = record(str(path), request, today=TODAY)
    except KetaplanError as exc:
        assert path.read_bytes() == data
        assert exc.render().startswith("error: --") or str(path) in exc.render()
    else:
        after = path.read_bytes()
        assert after == data + done.appended
        from ketaplan.load.patient import read_patient_bytes

        read_patient_bytes(after, str(path), TODAY)  # the file it wrote is valid
    assert os.listdir(folder) == ["p.toml"]


def test_records_of_one_file_from_two_processes_both_land(tmp_path):
    """Two `ketaplan record`s at once: the folder lock runs them one after the other, nothing is lost."""
    import subprocess
    import sys

    path = copy(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ketaplan", "record", str(path), "--date", day, "--dose", "36 mg", "-p", "trd-iv-induction", "--no-ae"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        for day in ("2026-11-03", "2026-11-03")
    ]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    # One records the session; the other then finds it recorded and refuses (same date and protocol).
    assert codes == [0, 2], results
    assert len(load(path)["infusions"]) == 1
    assert path.read_bytes().startswith(ELIGIBLE.read_bytes())


def test_the_help_lists_every_adverse_event_of_the_vocabulary(capsys):
    from ketaplan.vocabulary.adverse_events import ADVERSE_EVENTS

    code, out, _ = run(capsys, "record", "--help")
    assert code == 0
    flat = " ".join(out.replace("│", " ").split())
    for event in ADVERSE_EVENTS:
        assert event in flat, event


def test_a_read_only_file_is_not_replaced(tmp_path):
    path = copy(tmp_path)
    os.chmod(path, 0o444)
    with pytest.raises(KetaplanError, match="read-only; nothing was changed"):
        record(str(path), req(), today=TODAY)
    assert path.read_bytes() == ELIGIBLE.read_bytes()
