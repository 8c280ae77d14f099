"""The one atomic writer (ketaplan/output.py): whole or nothing under faults, modes, links.

Faults are made two ways: a writer whose `os.write` fails half way (runs everywhere), and a real
64 KB tmpfs, full or read-only (root only; skipped where mounting is not allowed)."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ketaplan import output
from ketaplan.errors import OutputExistsError
from ketaplan.output import OutputError, replace_file, write_files, write_text
from tests import faults


def listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.fixture(params=["anonymous", "named"])
def temp_kind(request, monkeypatch):
    """Both ways of making the temporary file: O_TMPFILE, and a hidden named file (no O_TMPFILE)."""
    if request.param == "named":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    elif not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE here")
    return request.param


@pytest.fixture
def tmpfs(tmp_path):
    with faults.tmpfs(tmp_path / "disk") as disk:
        yield disk


fail_after = faults.fail_after
remount_read_only = faults.remount_read_only


# ------------------------------------------------------------------------------------------- modes


def test_a_new_file_is_0600_whatever_the_umask_and_holds_exactly_the_text(tmp_path, temp_kind):
    old = os.umask(0o022)
    try:
        write_text("one\ntwo\n", str(tmp_path / "plan.txt"))
    finally:
        os.umask(old)
    path = tmp_path / "plan.txt"
    assert (path.read_bytes(), stat.S_IMODE(path.stat().st_mode), listing(tmp_path)) == (b"one\ntwo\n", 0o600, ["plan.txt"])


def test_force_keeps_the_mode_of_the_file_it_replaces(tmp_path, temp_kind):
    path = tmp_path / "plan.txt"
    path.write_text("old\n")
    os.chmod(path, 0o644)
    write_text("new\n", str(path), force=True)
    assert (path.read_text(), stat.S_IMODE(path.stat().st_mode), listing(tmp_path)) == ("new\n", 0o644, ["plan.txt"])


def test_an_existing_file_is_not_touched_without_force(tmp_path, temp_kind):
    path = tmp_path / "plan.txt"
    path.write_bytes(b"old \xff bytes\n")
    with pytest.raises(OutputExistsError) as caught:
        write_text("new\n", str(path))
    assert str(caught.value) == f"{path}: exists already; nothing was written (use --force to replace it)"
    assert (path.read_bytes(), listing(tmp_path)) == (b"old \xff bytes\n", ["plan.txt"])


def test_a_dangling_link_counts_as_existing_without_force(tmp_path):
    link = tmp_path / "plan.txt"
    link.symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(OutputExistsError):
        write_text("new\n", str(link))
    assert (listing(tmp_path), os.path.lexists(tmp_path / "nowhere.txt")) == (["plan.txt"], False)


def test_force_through_a_symbolic_link_replaces_the_file_it_points_to_and_keeps_the_link(tmp_path, temp_kind):
    real = tmp_path / "plans" / "2026-12-01.txt"
    real.parent.mkdir()
    real.write_text("old\n")
    os.chmod(real, 0o640)
    link = tmp_path / "latest.txt"
    link.symlink_to(real)
    write_text("new\n", str(link), force=True)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real.read_text(), stat.S_IMODE(real.stat().st_mode)) == ("new\n", 0o640)
    assert (listing(tmp_path), listing(real.parent)) == (["latest.txt", "plans"], ["2026-12-01.txt"])


def test_force_never_replaces_something_that_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "plan.txt"
    os.mkfifo(fifo)
    with pytest.raises(OutputError) as caught:
        write_text("new\n", str(fifo), force=True)
    assert str(caught.value) == f"{fifo}: is a FIFO, not a regular file; it is never replaced; nothing was written"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and listing(tmp_path) == ["plan.txt"]


def test_a_folder_as_output_is_refused(tmp_path):
    with pytest.raises(OutputError) as caught:
        write_text("x", str(tmp_path), force=True)
    assert str(caught.value) == f"{tmp_path}: is a folder; give a file name for --output"


# ------------------------------------------------------------------------------------------ faults


def test_a_disk_full_half_way_leaves_no_file_and_no_temporary_file(tmp_path, monkeypatch, temp_kind):
    fail_after(monkeypatch, 10)
    target = tmp_path / "plan.txt"
    with pytest.raises(OutputError) as caught:
        write_text("x" * 1000, str(target))
    assert str(caught.value) == f"{target}: cannot be written: No space left on device; nothing was written"
    assert listing(tmp_path) == []


def test_a_disk_full_under_force_keeps_every_byte_of_the_old_file(tmp_path, monkeypatch, temp_kind):
    target = tmp_path / "plan.txt"
    target.write_bytes(b"the old plan\n")
    fail_after(monkeypatch, 3)
    with pytest.raises(OutputError):
        write_text("a new plan\n" * 100, str(target), force=True)
    assert (target.read_bytes(), listing(tmp_path)) == (b"the old plan\n", ["plan.txt"])


def test_a_set_of_files_is_written_all_or_none_when_the_second_does_not_fit(tmp_path, monkeypatch, temp_kind):
    fail_after(monkeypatch, 150)
    files = [(str(tmp_path / "a.json"), b"a" * 100), (str(tmp_path / "a.md"), b"m" * 100)]
    with pytest.raises(OutputError) as caught:
        write_files(files)
    assert str(caught.value) == f"{tmp_path / 'a.md'}: cannot be written: No space left on device; nothing was written"
    assert listing(tmp_path) == []


def test_a_set_of_files_is_taken_back_when_linking_the_second_fails(tmp_path, monkeypatch, temp_kind):
    real = os.link
    calls = []

    def link(src, dst, **kw):
        calls.append(dst)
        if str(dst).endswith(".md"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(src, dst, **kw)

    monkeypatch.setattr(output.os, "link", link)
    with pytest.raises(OutputError) as caught:
        write_files([(str(tmp_path / "a.json"), b"{}\n"), (str(tmp_path / "a.md"), b"# a\n")])
    assert str(caught.value).endswith("a.md: cannot be written: Input/output error; nothing was written")
    assert listing(tmp_path) == [] and len(calls) == 2


def test_a_set_of_files_is_refused_whole_when_one_name_exists(tmp_path):
    (tmp_path / "a.md").write_text("keep\n")
    with pytest.raises(OutputExistsError):
        write_files([(str(tmp_path / "a.json"), b"{}\n"), (str(tmp_path / "a.md"), b"# a\n")])
    assert (listing(tmp_path), (tmp_path / "a.md").read_text()) == (["a.md"], "keep\n")


def test_a_real_full_disk_leaves_nothing_behind(tmpfs, temp_kind):
    target = tmpfs / "plan.txt"
    with pytest.raises(OutputError) as caught:
        write_text("x" * 200_000, str(target))
    assert str(caught.value) == f"{target}: cannot be written: No space left on device; nothing was written"
    assert listing(tmpfs) == []
    write_text("it fits\n", str(target))  # the space was given back
    assert listing(tmpfs) == ["plan.txt"]


def test_a_read_only_file_system_refuses_with_its_cause_and_keeps_the_old_file(tmpfs, temp_kind):
    target = tmpfs / "plan.txt"
    target.write_bytes(b"old\n")
    remount_read_only(tmpfs)
    with pytest.raises(OutputError) as caught:
        write_text("new\n", str(target), force=True)
    assert str(caught.value) == f"{target}: cannot be written: Read-only file system; nothing was written"
    assert (target.read_bytes(), listing(tmpfs)) == (b"old\n", ["plan.txt"])


def test_a_vanished_folder_is_an_output_error_naming_the_file(tmp_path):
    target = tmp_path / "gone" / "plan.txt"
    with pytest.raises(OutputError) as caught:
        write_text("x", str(target))
    assert str(caught.value) == f"{target}: cannot be written: No such file or directory; nothing was written"


# ------------------------------------------------------------------------------------ replace_file


def test_replace_file_keeps_mode_and_link_and_puts_every_new_byte(tmp_path, temp_kind):
    real = tmp_path / "p.toml"
    real.write_bytes(b"id = 'P-1'\n")
    os.chmod(real, 0o640)
    link = tmp_path / "current.toml"
    link.symlink_to(real)
    replace_file(str(link), b"id = 'P-1'\n\n[[sessions]]\n")
    assert real.read_bytes() == b"id = 'P-1'\n\n[[sessions]]\n" and link.is_symlink()
    assert (stat.S_IMODE(real.stat().st_mode), listing(tmp_path)) == (0o640, ["current.toml", "p.toml"])


def test_replace_file_on_a_full_disk_changes_nothing(tmp_path, monkeypatch, temp_kind):
    path = tmp_path / "p.toml"
    path.write_bytes(b"id = 'P-1'\n")
    fail_after(monkeypatch, 4)
    with pytest.raises(OutputError) as caught:
        replace_file(str(path), b"id = 'P-1'\n" * 50)
    assert str(caught.value) == f"{path}: cannot be written: No space left on device; nothing was changed"
    assert (path.read_bytes(), listing(tmp_path)) == (b"id = 'P-1'\n", ["p.toml"])


def test_replace_file_of_a_missing_file_changes_nothing(tmp_path):
    with pytest.raises(OutputError) as caught:
        replace_file(str(tmp_path / "p.toml"), b"x")
    assert str(caught.value) == f"{tmp_path / 'p.toml'}: cannot be written: No such file or directory; nothing was changed"
    assert listing(tmp_path) == []


def test_without_hard_links_a_new_file_is_renamed_into_place(tmp_path, monkeypatch):
    # FAT (a memory stick) has no hard links: link() fails with EPERM; the file is renamed instead.
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)

    def no_links(*_args, **_kwargs):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(output.os, "link", no_links)
    write_text("whole\n", str(tmp_path / "plan.txt"))
    assert ((tmp_path / "plan.txt").read_text(), listing(tmp_path)) == ("whole\n", ["plan.txt"])
    with pytest.raises(OutputExistsError):
        write_text("new\n", str(tmp_path / "plan.txt"))
    assert ((tmp_path / "plan.txt").read_text(), listing(tmp_path)) == ("whole\n", ["plan.txt"])
