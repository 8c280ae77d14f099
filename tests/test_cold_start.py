"""What `ketaplan plan` loads at start-up: no heavy package it does not use, and a vocabulary index
that is read from the cache only when it is whole and consistent, else built again from the file."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketaplan.digest import sha256_hex
from ketaplan.vocabulary import matcher
from ketaplan.vocabulary.matcher import Vocabulary, _Entry, _load_builtin
from tests.builders import run_cli

ROOT = Path(__file__).resolve().parent.parent
INDUCTION = str(ROOT / "examples/protocols/trd-iv-induction.toml")
ELIGIBLE = str(ROOT / "examples/patients/eligible-trd.toml")

# Runs `python -m ketaplan ARGS` in this process's interpreter and, at exit, writes the names of
# every module it imported to the file named by the first argument.
_RECORD_MODULES = (
    "import atexit, runpy, sys\n"
    "out = sys.argv.pop(1)\n"
    "def record():\n"
    "    with open(out, 'w') as f:\n"
    "        f.write('\\n'.join(sorted(sys.modules)))\n"
    "atexit.register(record)\n"
    "sys.argv[0] = 'ketaplan'\n"
    "runpy.run_module('ketaplan', run_name='__main__', alter_sys=True)\n"
)

HEAVY = ("rich", "pydantic", "fhir", "icalendar")


def modules_of_a_run(tmp_path: Path, *args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    listing = tmp_path / "modules.txt"
    env = {**os.environ, "KETAPLAN_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _RECORD_MODULES, str(listing), *args], capture_output=True, text=True, env=env
    )
    return set(listing.read_text().split()), done


def heavy(modules: set[str], roots: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0].startswith(roots) or m == "typer.rich_utils")


@pytest.mark.slow
def test_a_json_plan_imports_neither_rich_nor_pydantic_nor_fhir_nor_icalendar(tmp_path):
    args = ("plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "json")
    first, done = modules_of_a_run(tmp_path, *args)  # an empty cache: the first plan on a machine
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdict"] == "eligible"
    assert heavy(first) == []
    # With the cache warm, not even the holidays package (about 0.2 s to import) is loaded.
    second, done = modules_of_a_run(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert heavy(second, HEAVY + ("holidays",)) == []
    # Nor the bodies of the commands a plan does not run (each is imported when its command runs).
    assert sorted({"ketaplan.record", "ketaplan.sheet", "ketaplan.exchange", "ketaplan.authoring"} & second) == []
    # Nor OpenSSL: the digests of a plan and of the cache entries use CPython's own SHA-256 (ketaplan/digest.py).
    assert sorted({"_hashlib", "hashlib"} & second) == []


@pytest.mark.slow
def test_a_text_plan_still_renders_with_rich_where_it_did(tmp_path):
    # The lazy imports must not lose the views that need them: the text view works as before.
    _, done = modules_of_a_run(tmp_path, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01")
    assert done.returncode == 0, done.stderr
    assert "ELIGIBLE" in done.stdout.upper()


@pytest.mark.slow
def test_the_program_writes_its_whole_output_file_before_it_exits(tmp_path):
    # The program freezes its objects at exit (no last garbage collection): nothing may be lost.
    target = tmp_path / "plan.json"
    args = ("plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "--format", "json")
    _, done = modules_of_a_run(tmp_path, *args, "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    in_file = json.loads(target.read_text(encoding="utf-8"))
    _, printed = modules_of_a_run(tmp_path, *args)
    assert in_file["sessions"] == json.loads(printed.stdout)["sessions"]


def test_a_plan_run_in_process_leaves_the_garbage_collector_as_it_was(capsys):
    # The collector is paused while a plan is drafted and frozen only when main() is the program.
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    code, out, err = run_cli(capsys, "plan", ELIGIBLE, "--protocol", INDUCTION, "--start", "2026-12-01", "-f", "json")
    assert code == 0, err
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    code, _, _ = run_cli(capsys, "plan", "nowhere.toml", "--protocol", INDUCTION)
    assert code == 2 and gc.isenabled()


# ------------------------------------------------------------------ the vocabulary index cache


def same(a: Vocabulary, b: Vocabulary) -> bool:
    if a.version != b.version or a._names != b._names or a._entries.keys() != b._entries.keys():
        return False
    fields = _Entry.__slots__
    return all(
        [getattr(a._entries[k], f) for f in fields] == [getattr(b._entries[k], f) for f in fields] for k in a._entries
    )


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("KETAPLAN_CACHE_DIR", str(folder))
    return folder


def built_from_the_file() -> Vocabulary:
    with open(matcher._DATA_FILE, encoding="utf-8") as f:
        return Vocabulary.from_toml(f.read())


def index_file(cache: Path) -> Path:
    [path] = cache.glob("vocabulary-index*.json")
    return path


def read_index(path: Path) -> dict:
    """The index a cache entry holds (ketaplan.cache: a header line, then the value)."""
    return json.loads(path.read_bytes().split(b"\n", 1)[1])


def write_index(path: Path, index: dict) -> None:
    """Store `index` as the entry at `path` with a good header (its digest matches): only the
    index's own checks can then refuse it."""
    from ketaplan import cache

    header = json.loads(path.read_bytes().split(b"\n", 1)[0])
    cache.write_json(path.name, header["source"], index)


def test_the_index_is_cached_and_a_second_start_reads_it_without_building(cache, monkeypatch):
    first = _load_builtin()
    assert same(first, built_from_the_file())
    assert index_file(cache).is_file()

    def no_build(self):
        raise AssertionError("built again although the cached index is whole")

    monkeypatch.setattr(matcher._Builder, "build", no_build)
    second = _load_builtin()
    assert same(second, first)
    assert second.match_medication("Ativan 1 mg at night").drug == "lorazepam"
    assert second.match_condition("major depressive disorder", "F33.2") == first.match_condition(
        "major depressive disorder", "F33.2"
    )


def test_the_cache_is_keyed_by_the_vocabulary_files_own_digest(cache):
    _load_builtin()
    with open(matcher._DATA_FILE, "rb") as f:
        digest = sha256_hex(f.read())
    path = index_file(cache)
    assert digest[:32] in path.name
    assert read_index(path)["sha256"] == digest


def test_a_changed_builder_is_a_new_cache_entry(cache, monkeypatch, tmp_path):
    # The index is keyed by the source of the module that builds it, too: an index built by an
    # older ketaplan from the same vocabulary file is not used.
    _load_builtin()
    [old] = cache.glob("vocabulary-index*.json")
    changed = tmp_path / "matcher.py"
    changed.write_text(Path(matcher.__file__).read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    monkeypatch.setattr(matcher, "__file__", str(changed))
    assert same(_load_builtin(), built_from_the_file())
    assert len(list(cache.glob("vocabulary-index*.json"))) == 2 and old.exists()


def _drop_a_parent_target(index: dict) -> None:
    key = next(k for k, row in index["entries"].items() if row[2])
    index["entries"][key][2] = ["no such entry"]


def _make_a_cycle(index: dict) -> None:
    child = next(k for k, row in index["entries"].items() if row[2])
    parent = index["entries"][child][2][0]
    index["entries"][parent][2] = index["entries"][parent][2] + [child]


def _name_points_nowhere(index: dict) -> None:
    index["names"]["ativan"] = "not an entry"


def _bad_code(index: dict) -> None:
    key = next(k for k, row in index["entries"].items() if row[7])
    index["entries"][key][7] = ["F2O"]


def _wrong_type(index: dict) -> None:
    key = next(iter(index["entries"]))
    index["entries"][key][3] = "an alias, not a list"


def _unknown_kind(index: dict) -> None:
    key = next(iter(index["entries"]))
    index["entries"][key][0] = "planet"


def _other_file(index: dict) -> None:
    index["sha256"] = "0" * 64


def _other_code(index: dict) -> None:
    index["code_sha256"] = "0" * 64


def _entry_lost(index: dict) -> None:
    index["entries"].pop(index["names"]["lorazepam"])


def _short_row(index: dict) -> None:
    key = next(iter(index["entries"]))
    index["entries"][key] = index["entries"][key][:-1]


def _own_key_renamed(index: dict) -> None:
    key = index["names"]["lorazepam"]
    index["names"][key] = index["names"]["diazepam"]


BROKEN = [
    _drop_a_parent_target, _make_a_cycle, _name_points_nowhere, _bad_code, _wrong_type, _unknown_kind,
    _other_file, _other_code, _entry_lost, _short_row, _own_key_renamed,
]  # fmt: skip


@pytest.mark.parametrize("damage", BROKEN, ids=lambda f: f.__name__.strip("_"))
def test_an_index_that_is_not_whole_and_consistent_is_built_again_and_rewritten(cache, damage):
    good = _load_builtin()
    path = index_file(cache)
    index = read_index(path)
    damage(index)
    write_index(path, index)
    assert read_index(path) == index  # the damaged index is in place, under a good digest
    again = _load_builtin()
    assert same(again, good)
    assert read_index(index_file(cache)) != index  # replaced by a whole one
    assert same(_load_builtin(), good)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", '{"format": 1}', "\x00\xff garbage", '"a string"'])
def test_an_unreadable_index_is_built_again(cache, text):
    good = _load_builtin()
    path = index_file(cache)
    path.write_text(text, encoding="latin-1")
    assert same(_load_builtin(), good)
    assert same(_load_builtin(), good)


def test_a_folder_where_the_index_should_be_is_ignored(cache):
    good = _load_builtin()
    path = index_file(cache)
    path.unlink()
    path.mkdir()
    assert same(_load_builtin(), good)


def test_with_the_cache_turned_off_the_vocabulary_is_built_from_the_file(monkeypatch):
    monkeypatch.setenv("KETAPLAN_CACHE_DIR", "")
    assert same(_load_builtin(), built_from_the_file())


# ------------------------------------------------------------------------------------ digests


def test_the_builtin_and_the_openssl_sha256_give_the_same_digests(monkeypatch):
    import hashlib

    from ketaplan import digest

    monkeypatch.setattr(digest, "_sha256", digest._builtin_sha256)
    samples = [b"", b"abc", bytes(range(256)) * 400, Path(INDUCTION).read_bytes()]
    builtin = [digest.sha256_hex(s) for s in samples]
    assert builtin == [hashlib.sha256(s).hexdigest() for s in samples]
    digest.prefer_openssl()
    assert digest._sha256 is hashlib.sha256
    assert [digest.sha256_hex(s) for s in samples] == builtin
