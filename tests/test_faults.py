"""Whole or nothing under faults (issue 10), as an operator meets them: full disks, read-only and
immutable targets, a vanished folder, signals to a running `check`, closed pipes, a FIFO in a
folder, forged cache entries. Each test names the numbered item of the issue it proves."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from tests import faults
from tests.builders import run_cli
from tests.test_batch import EXCLUDED, PROTOCOL, START, patient

ELIGIBLE = patient("P-ELIGIBLE")
EXAMPLES = faults.REPO / "examples"
TRD_PATIENT = str(EXAMPLES / "patients" / "eligible-trd.toml")
TRD_PROTOCOL = str(EXAMPLES / "protocols" / "trd-iv-induction.toml")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KETAPLAN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def protocol(tmp_path) -> str:
    path = tmp_path / "protocol.toml"
    path.write_text(PROTOCOL.format(closed=""), encoding="utf-8")
    return str(path)


def folder_of(tmp_path: Path, count: int, name: str = "patients") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for n in range(count):
        (folder / f"{n:05d}.toml").write_text(patient(f"P-{n:05d}"), encoding="utf-8")
    return folder


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# ------------------------------------------------------------- 1. I/O errors in `check` are not defects


def test_check_on_a_full_disk_exits_2_naming_the_file_and_leaves_nothing(tmp_path, capsys, monkeypatch, protocol):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "results.jsonl"
    folder = folder_of(tmp_path, 3)
    faults.fail_after(monkeypatch, 100)
    code, stdout, err = run_cli(capsys, "check", str(folder), "-p", protocol, "--start", START, "-f", "jsonl", "-o", str(target))
    assert (code, stdout, err) == (2, "", f"error: {target}: cannot be written: No space left on device; nothing was written\n")
    assert listing(out) == []


def test_check_on_a_real_full_disk_exits_2_and_leaves_only_what_was_there(tmp_path, protocol):
    folder = folder_of(tmp_path, 60)
    with faults.tmpfs(tmp_path / "disk") as disk:
        faults.fill(disk, leave=4096)
        target = disk / "results.jsonl"
        argv = faults.ketaplan_argv("check", str(folder), "-p", protocol, "--start", START, "-f", "jsonl", "-o", str(target))
        done = subprocess.run(argv, capture_output=True, text=True, env=faults.ketaplan_env(tmp_path), timeout=120)
        assert (done.returncode, done.stdout, done.stderr) == (
            2,
            "",
            f"error: {target}: cannot be written: No space left on device; nothing was written\n",
        )
        assert listing(disk) == ["filler"]


def test_check_whose_output_folder_vanishes_mid_run_exits_2_naming_the_file(tmp_path, capsys, monkeypatch, protocol):
    from ketaplan import batch

    out = tmp_path / "out"
    out.mkdir()
    target = out / "results.csv"
    real = batch.check_one

    def check_one(*args):
        shutil.rmtree(out, ignore_errors=True)
        return real(*args)

    monkeypatch.setattr(batch, "check_one", check_one)
    folder = folder_of(tmp_path, 2)
    code, stdout, err = run_cli(capsys, "check", str(folder), "-p", protocol, "--start", START, "-f", "csv", "-o", str(target))
    assert (code, stdout, err) == (2, "", f"error: {target}: cannot be written: No such file or directory; nothing was written\n")
    assert not out.exists()


def test_check_force_onto_an_immutable_file_exits_2_and_keeps_its_bytes(tmp_path, protocol):
    folder = folder_of(tmp_path, 2)
    with faults.tmpfs(tmp_path / "disk") as disk:
        target = disk / "results.jsonl"
        target.write_bytes(b"yesterday's results\n")
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode:
            pytest.skip("chattr +i is not possible here")
        argv = faults.ketaplan_argv(
            "check", str(folder), "-p", protocol, "--start", START, "-f", "jsonl", "-o", str(target), "--force"
        )
        done = subprocess.run(argv, capture_output=True, text=True, env=faults.ketaplan_env(tmp_path), timeout=120)
        assert (done.returncode, done.stderr) == (
            2,
            f"error: {target}: cannot be written: Operation not permitted; nothing was written\n",
        )
        assert (target.read_bytes(), listing(disk)) == (b"yesterday's results\n", ["results.jsonl"])


@pytest.mark.parametrize("command", ["plan", "check"])
def test_a_read_only_target_exits_2_with_the_cause_and_keeps_the_old_file(tmp_path, capsys, protocol, command):
    with faults.tmpfs(tmp_path / "disk") as disk:
        target = disk / "out.txt"
        target.write_bytes(b"old\n")
        faults.remount_read_only(disk)
        source = str(tmp_path / "p.toml")
        Path(source).write_text(ELIGIBLE)
        code, stdout, err = run_cli(capsys, command, source, "-p", protocol, "--start", START, "-o", str(target), "--force")
        assert (code, stdout, err) == (2, "", f"error: {target}: cannot be written: Read-only file system; nothing was written\n")
        assert (target.read_bytes(), listing(disk)) == (b"old\n", ["out.txt"])


def test_standard_output_on_a_full_disk_exits_2_naming_standard_output(tmp_path, protocol):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    source = tmp_path / "p.toml"
    source.write_text(ELIGIBLE)
    for args in (("plan", str(source)), ("check", str(source), "-f", "jsonl")):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                faults.ketaplan_argv(*args, "-p", protocol, "--start", START),
                stdout=full, stderr=subprocess.PIPE, text=True, env=faults.ketaplan_env(tmp_path), timeout=120,
            )
        assert (done.returncode, done.stderr) == (2, "error: standard output: cannot be written: No space left on device\n")


# ---------------------------------------------------------------------- 2. no temporary file left behind


def test_check_on_a_full_disk_leaves_no_hidden_temporary_file_even_without_o_tmpfile(
    tmp_path, capsys, monkeypatch, protocol
):
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)  # the named temporary file, as on other systems
    out = tmp_path / "out"
    out.mkdir()
    faults.fail_after(monkeypatch, 10)
    folder = folder_of(tmp_path, 2)
    code, _, err = run_cli(capsys, "check", str(folder), "-p", protocol, "--start", START, "-o", str(out / "r.txt"))
    assert (code, listing(out)) == (2, [])
    assert err.endswith("cannot be written: No space left on device; nothing was written\n")


def test_the_cache_on_a_full_disk_leaves_no_temporary_file_and_the_plan_is_drafted(tmp_path):
    with faults.tmpfs(tmp_path / "cache") as cache:
        faults.fill(cache)
        argv = faults.ketaplan_argv("plan", TRD_PATIENT, "-p", TRD_PROTOCOL, "--start", "2026-12-20", "-f", "json")
        done = subprocess.run(argv, capture_output=True, text=True, env=faults.ketaplan_env(tmp_path), timeout=120)
        assert (done.returncode, done.stderr) == (0, "")
        assert json.loads(done.stdout)["patient"]["id"]
        assert listing(cache) == ["filler"]


# ------------------------------------------------------------------------------ 3. sign: both or neither


def _draft(tmp_path: Path, capsys, protocol: str) -> Path:
    source = tmp_path / "p.toml"
    source.write_text(ELIGIBLE)
    plan = tmp_path / "plan.json"
    code, _, _ = run_cli(capsys, "plan", str(source), "-p", protocol, "--start", START, "-f", "json", "-o", str(plan))
    assert code == 0
    return plan


SIGNER = ("--clinician", "Dr A Smith", "--registration", "GMC1234567")


def test_sign_with_room_for_the_json_but_not_the_markdown_writes_neither_and_a_retry_succeeds(
    tmp_path, capsys, monkeypatch, protocol
):
    plan = _draft(tmp_path, capsys, protocol)
    trial = tmp_path / "trial" / "s.json"
    trial.parent.mkdir()
    assert run_cli(capsys, "sign", str(plan), *SIGNER, "-o", str(trial))[0] == 0
    out = tmp_path / "out"
    out.mkdir()
    with monkeypatch.context() as patched:
        faults.fail_after(patched, trial.stat().st_size + 10)
        code, stdout, err = run_cli(capsys, "sign", str(plan), *SIGNER, "-o", str(out / "s.json"))
    assert (code, stdout, err) == (2, "", f"error: {out / 's.md'}: cannot be written: No space left on device; nothing was written\n")
    assert listing(out) == []
    code, _, err = run_cli(capsys, "sign", str(plan), *SIGNER, "-o", str(out / "s.json"))
    assert (code, err, listing(out)) == (0, f"signed: {out / 's.json'} and {out / 's.md'}\n", ["s.json", "s.md"])


def test_sign_on_a_real_disk_with_room_for_one_file_writes_neither(tmp_path, capsys, protocol):
    plan = _draft(tmp_path, capsys, protocol)
    trial = tmp_path / "trial" / "s.json"
    trial.parent.mkdir()
    assert run_cli(capsys, "sign", str(plan), *SIGNER, "-o", str(trial))[0] == 0
    pages = -(-trial.stat().st_size // 4096)
    with faults.tmpfs(tmp_path / "disk") as disk:
        faults.fill(disk, leave=pages * 4096)
        code, _, err = run_cli(capsys, "sign", str(plan), *SIGNER, "-o", str(disk / "s.json"))
        assert (code, err) == (2, f"error: {disk / 's.md'}: cannot be written: No space left on device; nothing was written\n")
        assert listing(disk) == ["filler"]


# --------------------------------------------------------------- 4 and 5. signals to a running `check`


def _start_check(tmp_path: Path, protocol: str, *extra: str, count: int = 1500, **popen) -> subprocess.Popen:
    folder = folder_of(tmp_path, count)
    argv = faults.ketaplan_argv("check", str(folder), "-p", protocol, "--start", START, "-f", "jsonl", "-j", "2", *extra)
    env = {**faults.ketaplan_env(tmp_path), "PYTHONFAULTHANDLER": "1"}
    popen.setdefault("preexec_fn", _default_signals)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path, **popen)


def _default_signals() -> None:
    """A test run in the background of a shell has SIGINT ignored, and ketaplan keeps an ignored
    signal ignored: the child starts as from a terminal."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _workers(proc: subprocess.Popen) -> list[int]:
    if not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"):
        proc.kill()
        proc.communicate()
        pytest.skip("/proc/PID/task/TID/children is not available here: the workers cannot be found")
    workers = faults.wait_until(lambda: len(faults.children(proc.pid)) >= 2 and faults.children(proc.pid), 60)
    assert workers and len(workers) == 2, f"no worker processes seen (exit {proc.poll()})"
    return workers


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_to_check_jobs_2_ends_both_workers_and_closes_the_output(tmp_path, protocol, signum):
    # stdout is not read until after the signal: the run is stuck writing, its workers busy.
    proc = _start_check(tmp_path, protocol)
    workers = _workers(proc)
    os.kill(proc.pid, signum)
    try:
        _, err = proc.communicate(timeout=60)  # the end of output comes: no worker holds stdout open
    except subprocess.TimeoutExpired:
        alive = [pid for pid in workers if faults.alive(pid)]
        os.kill(proc.pid, signal.SIGABRT)  # PYTHONFAULTHANDLER: where it was stuck, on stderr
        _, err = proc.communicate(timeout=30)
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"the output never ended (workers alive: {alive}):\n{err.decode()}")
    assert faults.wait_until(lambda: not any(faults.alive(pid) for pid in workers), 10), (
        f"workers {[pid for pid in workers if faults.alive(pid)]} outlived the run (exit {proc.returncode}): {err!r}"
    )
    if signum == signal.SIGTERM:
        assert (proc.returncode, err) == (143, b"terminated; no output file was written\n")
    else:
        assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("signum, code, message", [
    (signal.SIGINT, 130, "interrupted; no output file was written\n"),
    (signal.SIGTERM, 143, "terminated; no output file was written\n"),
])
def test_a_signal_mid_check_to_a_file_leaves_no_file_no_temporary_file_and_no_worker(tmp_path, protocol, signum, code, message):
    out = tmp_path / "out"
    out.mkdir()
    # Ctrl-C reaches the whole process group, as from a terminal; SIGTERM only the parent.
    proc = _start_check(tmp_path, protocol, "-o", str(out / "results.jsonl"), count=3000, start_new_session=True)
    workers = _workers(proc)
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    stdout, err = proc.communicate(timeout=60)
    assert (proc.returncode, stdout, err.decode()) == (code, b"", message)
    assert listing(out) == []
    assert faults.wait_until(lambda: not any(faults.alive(pid) for pid in workers), 10)


@pytest.mark.parametrize("temp", ["anonymous", "named"])
def test_a_signal_swallowed_where_it_landed_still_stops_check_before_anything_is_written(
    tmp_path, capsys, monkeypatch, protocol, temp
):
    # A handler's exception is lost when the signal lands in a fork handler or a __del__ (seen:
    # logging's after-fork hook while the pool starts): the signal is kept and acted on later.
    from ketaplan import batch, output

    real = batch.check_one

    def check_one(*args):
        output.PENDING.append(signal.SIGTERM)  # received, its exception swallowed
        return real(*args)

    monkeypatch.setattr(batch, "check_one", check_one)
    if temp == "named":  # a hidden .ketaplan-*.tmp, as without O_TMPFILE: it must go too
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    out = tmp_path / "out"
    out.mkdir()
    folder = folder_of(tmp_path, 3)
    code, stdout, err = run_cli(capsys, "check", str(folder), "-p", protocol, "--start", START, "-o", str(out / "r.txt"))
    assert (code, stdout, err, listing(out)) == (143, "", "terminated; no output file was written\n", [])


def test_a_signal_ignored_by_whoever_started_check_stays_ignored(tmp_path, protocol):
    # nohup: SIGHUP is ignored before ketaplan starts, and a hang-up must not stop the run.
    def ignore_hangups() -> None:
        _default_signals()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = _start_check(tmp_path, protocol, preexec_fn=ignore_hangups)  # stdout unread: it waits mid-run
    _workers(proc)
    os.kill(proc.pid, signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, len(out.splitlines()), err) == (
        0,
        1500,
        b"1500 patients: 1500 eligible, 0 needs-review, 0 excluded, 0 invalid\n",
    )


def test_ctrl_c_prints_its_message_and_exits_130(tmp_path, capsys, monkeypatch):
    import ketaplan.api

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ketaplan.api, "draft_files", interrupted)
    target = tmp_path / "plan.txt"
    assert run_cli(capsys, "plan", "p.toml", "-p", "x.toml", "-o", str(target)) == (
        130,
        "",
        "interrupted; no output file was written\n",
    )
    assert not target.exists()


# ----------------------------------------------------------------------------------- 6. a closed pipe


@pytest.mark.parametrize(
    "args",
    [
        ("check", "{folder}", "-p", "{protocol}", "--start", START, "-f", "jsonl"),
        ("check", "{folder}", "-p", "{protocol}", "--start", START, "-f", "jsonl", "-j", "2"),
        ("plan", "{folder}/1.toml", "-p", "{protocol}", "--start", START),
        ("check", "{folder}", "-p", "{protocol}", "--start", START),
        ("protocol", "schema"),
        ("vocab",),
        ("vocab", "Ativan"),
        ("--version",),
    ],
    ids=["check", "check-jobs-2", "plan", "check-table", "protocol-schema", "vocab", "vocab-term", "version"],
)
def test_a_reader_that_closes_the_pipe_gives_exit_141_and_no_noise(tmp_path, protocol, args):
    folder = tmp_path / "patients"
    folder.mkdir()
    (folder / "1.toml").write_text(EXCLUDED)  # alone, check would exit 1: a finding
    for n in range(40):
        (folder / f"2-{n:02d}.toml").write_text(patient(f"P-{n:02d}"))
    argv = faults.ketaplan_argv(*(a.format(folder=folder, protocol=protocol) for a in args))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=faults.ketaplan_env(tmp_path))
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert (proc.returncode, err) == (141, b"")


def test_a_reader_that_reads_one_line_then_goes_gives_141_and_no_worker_is_left(tmp_path, protocol):
    proc = _start_check(tmp_path, protocol, count=400)
    first = proc.stdout.readline()
    workers = faults.children(proc.pid)
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert json.loads(first)["verdict"] == "eligible"
    assert (proc.returncode, err) == (141, b"")
    assert faults.wait_until(lambda: not any(faults.alive(pid) for pid in workers), 10)


def _both_pipes_closed(tmp_path: Path, *args: str) -> int:
    proc = subprocess.Popen(
        faults.ketaplan_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=faults.ketaplan_env(tmp_path)
    )
    proc.stdout.close()
    proc.stderr.close()  # `2>&1 | true`
    return proc.wait(timeout=60)


def test_with_stderr_closed_too_an_error_keeps_its_exit_code_and_output_gives_141(tmp_path, protocol):
    assert _both_pipes_closed(tmp_path, "verify", str(tmp_path / "missing.signed.json")) == 2
    assert _both_pipes_closed(tmp_path, "plan", str(tmp_path / "missing.toml"), "-p", protocol) == 2
    assert _both_pipes_closed(tmp_path, "plan", "-p", protocol) == 2  # a usage error, shown by click
    (tmp_path / "p.toml").write_text(EXCLUDED)
    assert _both_pipes_closed(tmp_path, "check", str(tmp_path / "p.toml"), "-p", protocol, "--start", START) == 141


# --------------------------------------------------------------------------------- 7. a FIFO in a folder


def test_a_fifo_named_toml_in_a_folder_is_an_invalid_line_and_the_run_ends(tmp_path, protocol):
    folder = tmp_path / "patients"
    folder.mkdir()
    (folder / "a.toml").write_text(patient("P-A"))
    os.mkfifo(folder / "b.toml")
    os.symlink(folder / "b.toml", folder / "c.toml")
    (folder / "d.toml").write_text(patient("P-D"))
    os.mkfifo(folder / "e.json")  # a FHIR bundle's name
    argv = faults.ketaplan_argv("check", str(folder), str(folder / "b.toml"), "-p", protocol, "--start", START, "-f", "jsonl")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=faults.ketaplan_env(tmp_path), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("check waited for ever on a FIFO")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["source"], r["verdict"], r["error"]) for r in lines] == [
        (f"{folder}/a.toml", "eligible", None),
        (f"{folder}/b.toml", "invalid", f"{folder}/b.toml: is a FIFO, not a patient file; only regular files are read"),
        (f"{folder}/c.toml", "invalid", f"{folder}/c.toml: is a FIFO, not a patient file; only regular files are read"),
        (f"{folder}/d.toml", "eligible", None),
        (f"{folder}/e.json", "invalid", f"{folder}/e.json: is a FIFO, not a patient file; only regular files are read"),
        (f"{folder}/b.toml", "invalid", f"{folder}/b.toml: is a FIFO, not a patient file; only regular files are read"),
    ]
    assert (done.returncode, done.stderr) == (1, "6 patients: 2 eligible, 0 needs-review, 0 excluded, 4 invalid\n")


# ------------------------------------------------------------------------------- 8. forged cache entries


@pytest.fixture
def fresh_caches(monkeypatch):
    """Nothing remembered in this process: every run reads the cache folder."""
    from ketaplan import calendar
    from ketaplan.vocabulary import matcher

    monkeypatch.setattr(calendar, "_MEMO", {})
    matcher._builtin.cache_clear()
    yield
    matcher._builtin.cache_clear()


def _trd_plan(capsys) -> tuple[int, dict]:
    code, out, err = run_cli(capsys, "plan", TRD_PATIENT, "-p", TRD_PROTOCOL, "--start", "2026-12-20", "-f", "json")
    assert err == "" or code != 0, err
    return code, (json.loads(out) if code == 0 else {"error": err})


def _entry(name: str) -> Path:
    return Path(os.environ["KETAPLAN_CACHE_DIR"]) / name


def _holidays(name: str) -> Path:
    from ketaplan.calendar import holidays_version

    return _entry(f"holidays-{holidays_version()}-{name}.json")


def test_a_forged_holiday_list_is_not_believed(capsys, fresh_caches):
    code, honest = _trd_plan(capsys)
    dates = [s["date"] for s in honest["sessions"]]
    assert code == 0 and "2026-12-25" not in dates and "2027-01-01" not in dates
    _holidays("GB-ENG").write_text('{"2026": [], "2027": []}')
    fresh_caches_again()
    code2, forged = _trd_plan(capsys)
    assert (code2, [s["date"] for s in forged["sessions"]], forged["verdict"]) == (code, dates, honest["verdict"])
    assert _holidays("GB-ENG").read_bytes().startswith(b'{"format":"ketaplan-cache/1"')  # healed


def fresh_caches_again() -> None:
    from ketaplan import calendar
    from ketaplan.vocabulary import matcher

    calendar._MEMO.clear()
    matcher._builtin.cache_clear()


def _edit_body(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new))


def test_a_holiday_entry_edited_after_it_was_written_fails_its_digest_and_is_recomputed(capsys, fresh_caches):
    code, honest = _trd_plan(capsys)
    _edit_body(_holidays("GB-ENG"), b'"2026-12-25",', b"")
    fresh_caches_again()
    code2, again = _trd_plan(capsys)
    assert (code2, again["sessions"]) == (code, honest["sessions"])
    assert b'"2026-12-25"' in _holidays("GB-ENG").read_bytes()


def test_a_holiday_entry_of_another_region_copied_in_is_not_believed(capsys, fresh_caches):
    from ketaplan.calendar import holiday_dates

    code, honest = _trd_plan(capsys)
    holiday_dates("IL", 2026)  # writes Israel's entry, with its own good digest: no 25 Dec, no 1 Jan
    holiday_dates("IL", 2027)
    shutil.copyfile(_holidays("IL"), _holidays("GB-ENG"))
    fresh_caches_again()
    code2, again = _trd_plan(capsys)
    assert (code2, again["sessions"]) == (code, honest["sessions"])
    assert "2026-12-25" not in [s["date"] for s in again["sessions"]]


def test_an_empty_region_list_in_the_cache_does_not_blame_the_protocol(capsys, fresh_caches):
    code, honest = _trd_plan(capsys)
    _holidays("regions").write_text("{}")
    fresh_caches_again()
    code2, again = _trd_plan(capsys)
    assert (code2, again.get("sessions")) == (code, honest["sessions"]) and code == 0


@pytest.mark.parametrize("forged", ["raw", "with-a-good-digest"])
def test_an_empty_vocabulary_in_the_cache_is_rebuilt_on_this_run(capsys, fresh_caches, forged):
    from ketaplan import cache

    code, honest = _trd_plan(capsys)
    [entry] = [p for p in Path(os.environ["KETAPLAN_CACHE_DIR"]).iterdir() if p.name.startswith("vocabulary-")]
    if forged == "raw":
        entry.write_text("{}")
    else:
        header = json.loads(entry.read_bytes().split(b"\n", 1)[0])
        cache.write_json(entry.name, header["source"], {})
    fresh_caches_again()
    code2, again = _trd_plan(capsys)
    assert (code2, again["findings"], again["sessions"]) == (code, honest["findings"], honest["sessions"])


def test_a_fifo_in_place_of_a_cache_entry_does_not_hang_plan_and_is_replaced(tmp_path):
    env = faults.ketaplan_env(tmp_path)
    argv = faults.ketaplan_argv("plan", TRD_PATIENT, "-p", TRD_PROTOCOL, "--start", "2026-12-20", "-f", "json")
    first = subprocess.run(argv, capture_output=True, env=env, timeout=120)
    cache = tmp_path / "cache"
    entries = [p for p in cache.iterdir() if p.name.startswith("holidays-") and "regions" not in p.name]
    assert first.returncode == 0 and entries
    for entry in entries:
        entry.unlink()
        os.mkfifo(entry)
    try:
        again = subprocess.run(argv, capture_output=True, env=env, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("plan waited for ever on a FIFO in the cache")
    assert (again.returncode, again.stderr) == (0, b"")
    assert json.loads(again.stdout)["sessions"] == json.loads(first.stdout)["sessions"]
    assert all(stat.S_ISREG(os.lstat(entry).st_mode) for entry in entries)


# ------------------------------------------------------------------------------------------------ modes


def test_plan_output_is_0600_under_umask_022_and_force_keeps_a_0644_file(tmp_path, capsys, protocol):
    source = tmp_path / "p.toml"
    source.write_text(ELIGIBLE)
    target = tmp_path / "plan.md"
    args = ("plan", str(source), "-p", protocol, "--start", START, "-f", "markdown", "-o", str(target))
    old = os.umask(0o022)
    try:
        assert run_cli(capsys, *args)[0] == 0
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        os.chmod(target, 0o644)
        assert run_cli(capsys, *args, "--force")[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_plan_force_through_a_link_keeps_the_link(tmp_path, capsys, protocol):
    source = tmp_path / "p.toml"
    source.write_text(ELIGIBLE)
    real = tmp_path / "real.md"
    real.write_text("old\n")
    link = tmp_path / "latest.md"
    link.symlink_to(real)
    assert run_cli(capsys, "plan", str(source), "-p", protocol, "--start", START, "-f", "markdown", "-o", str(link), "--force")[0] == 0
    assert link.is_symlink() and real.read_text().startswith("# DRAFT")


@pytest.mark.parametrize("command", ["plan", "check"])
def test_help_states_the_mode_choices(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    text = " ".join(out.replace("│", " ").split())
    assert code == 0
    assert "a new file is 0600" in text
    assert "It keeps its permissions; a symbolic link is kept and the file it points to replaced" in text
    assert "anything but a regular file is never replaced" in text


# ------------------------------------------------------------------- record: the patient file it changes

RECORD = ("--date", "2026-11-10", "--dose", "36 mg", "-p", str(EXAMPLES / "protocols" / "trd-iv-course.toml"),
          "--duration", "40 min", "--no-ae")  # fmt: skip


def test_record_on_a_full_disk_keeps_every_byte_and_the_mode_of_the_patient_file(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "patients"
    folder.mkdir()
    path = folder / "EX-001.toml"
    path.write_bytes(Path(TRD_PATIENT).read_bytes())
    os.chmod(path, 0o640)
    before = path.read_bytes()
    with monkeypatch.context() as full:
        faults.fail_after(full, 100)
        code, stdout, err = run_cli(capsys, "record", str(path), *RECORD)
    assert (code, stdout, err) == (2, "", f"error: {path}: cannot be written: No space left on device; nothing was changed\n")
    assert (path.read_bytes(), stat.S_IMODE(path.stat().st_mode), listing(folder)) == (before, 0o640, ["EX-001.toml"])
    assert run_cli(capsys, "record", str(path), *RECORD)[0] == 0  # the same command, with room, records
    after = path.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    assert (stat.S_IMODE(path.stat().st_mode), listing(folder)) == (0o640, ["EX-001.toml"])


def test_record_on_a_real_full_disk_changes_nothing(tmp_path, capsys):
    with faults.tmpfs(tmp_path / "disk") as disk:
        path = disk / "EX-001.toml"
        path.write_bytes(Path(TRD_PATIENT).read_bytes())
        before = path.read_bytes()
        faults.fill(disk)
        code, _, err = run_cli(capsys, "record", str(path), *RECORD)
        assert (code, err) == (2, f"error: {path}: cannot be written: No space left on device; nothing was changed\n")
        assert (path.read_bytes(), listing(disk)) == (before, ["EX-001.toml", "filler"])


@pytest.mark.parametrize("forged", ["{}", "not json", '{"GB": 7}'])
def test_a_wrong_country_entry_in_the_cache_does_not_blame_the_protocol(capsys, fresh_caches, forged):
    from ketaplan import cache
    from ketaplan.calendar import holidays_version

    code, honest = _trd_plan(capsys)
    if forged == '{"GB": 7}':  # well formed, with a good digest, but not a list of subdivisions
        cache.write_json(_holidays("countries").name, {"holidays": holidays_version(), "entry": "countries"}, {"GB": 7})
    else:
        _holidays("countries").write_text(forged)
    fresh_caches_again()
    code2, again = _trd_plan(capsys)
    assert (code2, again.get("sessions")) == (code, honest["sessions"]) and code == 0
