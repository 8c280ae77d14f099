"""The command line's own options and help: --version, --debug, sign's options, help text as written, init's hints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.builders import run_cli as run

ROOT = Path(__file__).resolve().parent.parent
INDUCTION = str(ROOT / "examples/protocols/trd-iv-induction.toml")
ELIGIBLE = str(ROOT / "examples/patients/eligible-trd.toml")


def _env(tmp_path, **extra) -> dict:
    return dict(os.environ, KETAPLAN_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT), **extra)


# --------------------------------------------------------------------------- --version


def test_version_names_ketaplan_the_vocabulary_and_the_holidays_data(capsys):
    from ketaplan import __version__
    from ketaplan.calendar import holidays_version
    from ketaplan.vocabulary import Vocabulary

    code, out, err = run(capsys, "--version")
    assert (code, err) == (0, "")
    assert out == (
        f"ketaplan {__version__}\nvocabulary {Vocabulary.builtin().version}\nholidays {holidays_version()}\n"
    )


def test_version_and_debug_are_listed_in_the_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "--version" in out and "--debug" in out


# ----------------------------------------------------------------------------- --debug


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "nowhere.toml", "--protocol", INDUCTION],  # a user's mistake: exit 2
        ["verify", str(ROOT / "pyproject.toml")],  # not a JSON plan: exit 2
    ],
)
def test_debug_gives_the_same_exit_code_and_adds_a_traceback(tmp_path, args):
    base = [sys.executable, "-m", "ketaplan", *args]
    plain = subprocess.run(base, capture_output=True, text=True, env=_env(tmp_path))
    debug = subprocess.run(base + ["--debug"], capture_output=True, text=True, env=_env(tmp_path))
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr
    # The message a user reads is there in both.
    assert plain.stderr.strip().splitlines()[-1] in debug.stderr


def test_an_internal_error_exits_2_with_and_without_debug(capsys, monkeypatch):
    import ketaplan.api

    def broken(*args, **kwargs):
        raise RuntimeError("a defect")

    monkeypatch.setattr(ketaplan.api, "draft_files", broken)
    args = ["plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01"]
    code, _, err = run(capsys, *args)
    assert code == 2 and "internal error: RuntimeError: a defect" in err and "Traceback" not in err
    code, _, err = run(capsys, *args, "--debug")
    assert code == 2 and "Traceback" in err and "RuntimeError: a defect" in err
    monkeypatch.setenv("KETAPLAN_DEBUG", "1")
    code, _, err = run(capsys, *args)
    assert code == 2 and "Traceback" in err


# -------------------------------------------------------------------------------- sign


def test_sign_has_no_force_option_and_its_help_says_it_writes_the_markdown(capsys):
    code, out, _ = run(capsys, "sign", "--help")
    assert code == 0
    assert "--force" not in out
    assert "Markdown" in out and "never overwritten" in out
    code, _, err = run(capsys, "sign", "plan.json", "--clinician", "A", "--registration", "B", "--force")
    assert code == 2 and "--force" in err


# ------------------------------------------------------------------- help as written


def test_protocol_help_shows_double_brackets_as_written(capsys):
    for args in (["protocol", "--help"], ["protocol", "test", "--help"]):
        code, out, _ = run(capsys, *args)
        assert code == 0
        assert "[[test]]" in out, out


def test_help_shows_double_brackets_without_rich_too(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ketaplan", "protocol", "test", "--help"],
        capture_output=True,
        text=True,
        env=_env(tmp_path, TYPER_USE_RICH="0"),
    )
    assert result.returncode == 0
    assert "own [[test]] cases" in result.stdout and "\\[" not in result.stdout


# -------------------------------------------------------------------------------- init


def test_init_suggests_todays_date_and_only_commands_that_work_after_install(capsys, tmp_path, monkeypatch):
    import ketaplan.authoring.init as init

    class Today(date):
        @classmethod
        def today(cls):
            return cls(2027, 3, 4)

    monkeypatch.setattr(init, "date", Today)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "init", "clinic")
    assert code == 0
    assert "--start 2027-03-04" in err and "2026-12-01" not in err
    assert "docs/" not in err  # the repository's docs folder is not there after `pip install`
    commands = re.findall(r"^  (ketaplan [^ ].*?)(?:\s{2,}.*)?$", err, flags=re.M)
    assert len(commands) >= 5, err
    for command in commands:
        code, _, cmd_err = run(capsys, *command.split()[1:])
        assert code == 0, (command, cmd_err)


# ------------------------------------------------------------------------ check --help


def test_check_help_lists_the_csv_columns_from_the_csv_loaders_own_list(capsys, monkeypatch):
    import ketaplan.load.csv_patients as csv_patients

    monkeypatch.setattr(csv_patients, "COLUMNS", (*csv_patients.COLUMNS, "zz_a_new_column"))
    code, out, _ = run(capsys, "check", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "any of: " + ", ".join(csv_patients.COLUMNS) + "." in text
    assert "Required: " + ", ".join(csv_patients.REQUIRED_COLUMNS) + "." in text
    assert "{csv" not in text
