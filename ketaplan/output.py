"""Writing results: the one atomic writer of ketaplan.

Every file ketaplan writes (plan, check, sign, init, record, the cache) goes through this module:

- A file is written whole or not at all. The bytes go to an anonymous file in the target's folder
  (``O_TMPFILE``: it has no name, so nothing is left behind even by SIGKILL; a hidden
  ``.ketaplan-*.tmp`` file where the file system cannot do that), are flushed to the disk, and
  only then linked under the target's name.
- An existing file is never replaced without ``force``; without it, the name is taken with
  ``link()``, which fails if someone took it meanwhile.
- Several files (``sign``'s JSON and Markdown, ``init``'s two starters) are written all or none.
- Modes (spec/decisions.md, issue 10): a new file is created 0600 (it may hold patient data),
  whatever the umask; a replaced file keeps its permission bits (and owner and group where the
  user may set them); replacing through a symbolic link replaces the file it points to and keeps
  the link; anything else that is not a regular file is never replaced.
- A failure (full disk, read-only or vanished folder, an immutable file) raises ``OutputError``
  naming the file and the cause; the target is untouched and no temporary file remains.
- SIGINT, SIGTERM and SIGHUP are held back while files are being linked into place, so that a
  signal never leaves half of a set.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
from collections.abc import Iterable

from ketaplan.errors import OutputExistsError, UsageError

#: Permission bits of every new file ketaplan creates (spec/decisions.md).
NEW_FILE_MODE = 0o600

#: Paths written by this process, in order: the interrupt message says whether anything was written.
COMMITTED: list[str] = []

_HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
#: What link() fails with where the file system has no hard links.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


class Signalled(BaseException):
    """SIGTERM or SIGHUP, raised where the program is, so that every `finally` runs: temporary
    files go, worker processes are stopped, nothing half-written is left."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals received in this run. An exception raised by a signal handler is lost when the signal
#: lands in code that cannot raise (a fork handler, a __del__): what was received is kept here
#: too, and checked again before anything is linked into place and before each piece is written.
PENDING: list[int] = []


def _raise_for(signum: int):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Signalled(signum)


def on_signal(signum, _frame) -> None:
    """The handler ketaplan.cli.main installs for SIGINT, SIGTERM and SIGHUP."""
    PENDING.append(signum)
    _raise_for(signum)


def quiet_unraisable(unraisable) -> None:
    """sys.unraisablehook: a signal's exception lost where it landed prints no traceback (it is in
    PENDING and raised again at the next check); anything else is reported as Python would."""
    if isinstance(unraisable.exc_value, (Signalled, KeyboardInterrupt)):
        return
    sys.__unraisablehook__(unraisable)


def check_signals() -> None:
    """Raise for a signal received but swallowed where it landed."""
    if PENDING:
        _raise_for(PENDING[0])


class OutputError(UsageError):
    """A file could not be written (or replaced): nothing was written, and the message says why."""


def _cause(exc: OSError) -> str:
    return exc.strerror or str(exc)


def describe_mode(mode: int) -> str:
    """What a file that is not a regular file is, in words: "a FIFO", "a folder"..."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a write may be partial)."""
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]


def _fsync_folder(folder: str) -> None:
    """Make a new name durable; best effort (some file systems cannot open a folder for this)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _link_fd(source: str, name: str) -> None:
    """Link the anonymous file behind `source` (/proc/self/fd/N) as `name`. linkat() with
    AT_SYMLINK_FOLLOW is needed: plain link() would link the /proc link itself (os.link calls
    linkat only when given a folder descriptor)."""
    folder = os.open(os.path.dirname(os.path.abspath(name)), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.link(source, os.path.basename(name), dst_dir_fd=folder, follow_symlinks=True)
    finally:
        os.close(folder)


def _link_hidden(source: str, folder: str) -> str:
    """Link the anonymous file `source` under a fresh hidden name in `folder`; returns the name."""
    import secrets

    while True:
        name = os.path.join(folder, f".ketaplan-{secrets.token_hex(6)}.tmp")
        try:
            _link_fd(source, name)
            return name
        except FileExistsError:
            continue


class _HoldSignals:
    """SIGINT/SIGTERM/SIGHUP wait until the block ends: linking a set of files is not interrupted."""

    def __enter__(self) -> None:
        self.old = None
        try:
            self.old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
        except (AttributeError, ValueError, OSError):
            pass

    def __exit__(self, *exc) -> None:
        if self.old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.old)


def hold_signals() -> _HoldSignals:
    """A `with` block during which SIGINT, SIGTERM and SIGHUP wait (they arrive when it ends)."""
    return _HoldSignals()


def resolve_target(path: str, *, force: bool, exists_message: str | None = None) -> tuple[str, os.stat_result | None]:
    """The file to write for `path` and its current status (None when it does not exist).

    Without `force` an existing name (even a dangling link) is an OutputExistsError; with it, the
    target must be a regular file or a symbolic link to one, which is then the file replaced."""
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a folder; give a file name for --output")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path, None
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written: {_cause(exc)}; nothing was written") from None
    if not force:
        raise OutputExistsError(exists_message or f"{path}: exists already; nothing was written (use --force to replace it)")
    target = path
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
        try:
            st = os.stat(target)
        except OSError as exc:
            raise OutputError(
                f"{path}: is a symbolic link to {target}, which cannot be replaced: {_cause(exc)}; nothing was written"
            ) from None
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{path}: is {describe_mode(st.st_mode)}, not a regular file; it is never replaced; nothing was written")
    return target, st


class AtomicFile:
    """One file being written: `write()` as often as needed, then `commit()`; `discard()` always.

    `replace`: an existing file is replaced (keeping its mode); else the name must still be free
    when the file is committed. `path` is the name the user gave (messages name it); `target` the
    file actually written (the file a symbolic link points to)."""

    def __init__(
        self, path: str, *, replace: bool = False, target: str | None = None, old: os.stat_result | None = None,
        what: str = "nothing was written", record: bool = True,
    ) -> None:
        self.path = path
        self.record = record  # listed in COMMITTED (the cache's files are not outputs)
        self.target = target or path
        self.replace = replace
        self.old = old
        self.what = what
        self.folder = os.path.dirname(os.path.abspath(self.target))
        self.temp: str | None = None  # the hidden name, when the file system cannot make an anonymous file
        self.fd: int | None = None
        self.committed = False
        try:
            self.fd = self._open()
        except OSError as exc:
            raise self.error(exc) from None

    def error(self, exc: OSError) -> OutputError:
        return OutputError(f"{self.path}: cannot be written: {_cause(exc)}; {self.what}")

    def _open(self) -> int:
        flag = getattr(os, "O_TMPFILE", 0)
        if flag and os.path.isdir("/proc/self/fd"):
            try:
                return os.open(self.folder, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), NEW_FILE_MODE)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP):
                    raise
        import tempfile

        fd, self.temp = tempfile.mkstemp(prefix=".ketaplan-", suffix=".tmp", dir=self.folder)
        return fd

    def _descriptor(self) -> int:
        """The open file's descriptor; once discarded, EBADF (what the os calls would report)."""
        if self.fd is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return self.fd

    def write(self, data: bytes) -> None:
        try:
            _write_all(self._descriptor(), data)
        except OSError as exc:
            raise self.error(exc) from None

    def finish(self) -> None:
        """Flush to the disk and set the mode: the file is ready to be linked into place."""
        try:
            fd = self._descriptor()
            if self.old is not None:
                try:
                    os.fchown(fd, self.old.st_uid, self.old.st_gid)
                except OSError:
                    pass  # not allowed to give the file away: it stays ours, with the old bits
                os.fchmod(fd, stat.S_IMODE(self.old.st_mode))
            else:
                os.fchmod(fd, NEW_FILE_MODE)
            os.fsync(fd)
        except OSError as exc:
            raise self.error(exc) from None

    def link(self) -> None:
        """Put the file under its name (call with signals held when part of a set)."""
        check_signals()
        try:
            if self.temp is None:
                source = f"/proc/self/fd/{self.fd}"
                if self.replace:
                    # rename() needs a name: it exists only until the next line.
                    self.temp = _link_hidden(source, self.folder)
                    os.replace(self.temp, self.target)
                else:
                    _link_fd(source, self.target)
            elif self.replace:
                os.replace(self.temp, self.target)
            else:
                # link() fails if the name was taken meanwhile: an existing file is never replaced.
                try:
                    os.link(self.temp, self.target)
                except OSError as exc:
                    # A file system without hard links (FAT on a memory stick): rename instead, if the
                    # name is still free (the check and the rename are not one step there).
                    if exc.errno not in _NO_HARD_LINKS or os.path.lexists(self.target):
                        raise
                    os.replace(self.temp, self.target)
                    self.temp = None
        except FileExistsError:
            raise OutputExistsError(f"{self.path}: exists already; nothing was written (use --force to replace it)") from None
        except OSError as exc:
            raise self.error(exc) from None
        self.committed = True
        if self.record:
            COMMITTED.append(self.path)
        _fsync_folder(self.folder)

    def commit(self) -> None:
        """Flush, set the mode and link the file into place; then nothing of it is left open."""
        self.finish()
        with _HoldSignals():
            self.link()
        self.discard()

    def unlink_committed(self) -> None:
        """Take back a committed file (another file of its set failed), if it is still ours."""
        if not self.committed or self.replace:
            return  # a replaced file cannot be given back its old bytes: sets are never replaced
        try:
            now = os.lstat(self.target)
            mine = os.fstat(self._descriptor())
            if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                os.unlink(self.target)
                if self.path in COMMITTED:
                    COMMITTED.remove(self.path)
        except OSError:
            pass
        self.committed = False

    def discard(self) -> None:
        """Close and remove whatever is left; never raises (it runs while another error is reported)."""
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        if self.temp is not None:
            try:
                os.unlink(self.temp)
            except OSError:
                pass
            self.temp = None

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


class TextStream:
    """A text file written a piece at a time (`check`), whole or not at all; or standard output.

    Writes are buffered; a failure raises OutputError naming the file. `commit()` puts the file in
    place; `discard()` (always call it) removes everything when the run did not finish."""

    BUFFER = 1 << 16

    def __init__(self, path: str | None, *, force: bool = False) -> None:
        self.path = None if path in (None, "-") else path
        self.file: AtomicFile | None = None
        self.pending: list[str] = []
        self.size = 0
        if self.path is not None:
            target, old = resolve_target(self.path, force=force)
            self.file = AtomicFile(self.path, replace=old is not None, target=target, old=old)

    def write(self, text: str) -> int:
        check_signals()
        if self.file is None:
            _stdout(sys.stdout.write, text)
            return len(text)
        self.pending.append(text)
        self.size += len(text)
        if self.size >= self.BUFFER:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.file is None:
            flush_stdout()
            return
        if self.pending:
            data = "".join(self.pending).encode("utf-8")
            self.pending, self.size = [], 0
            self.file.write(data)

    def isatty(self) -> bool:
        return self.file is None and _isatty(sys.stdout)

    def commit(self) -> None:
        self.flush()
        if self.file is not None:
            self.file.commit()

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def write_files(files: Iterable[tuple[str, bytes]], *, force: bool = False, exists_message=None) -> None:
    """Write every (path, bytes) whole, all of them or none (`sign`'s pair, `init`'s starters).

    `exists_message(path)` words the refusal of an existing file (when not `force`)."""
    files = list(files)
    targets = [
        resolve_target(path, force=force, exists_message=exists_message(path) if exists_message else None)
        for path, _ in files
    ]
    opened: list[AtomicFile] = []
    try:
        for (path, data), (target, old) in zip(files, targets):
            atomic = AtomicFile(path, replace=old is not None, target=target, old=old)
            opened.append(atomic)
            atomic.write(data)
            atomic.finish()
        with _HoldSignals():
            try:
                for atomic in opened:
                    atomic.link()
            except BaseException:
                for atomic in opened:
                    atomic.unlink_committed()
                raise
    finally:
        for atomic in opened:
            atomic.discard()


def write_bytes(data: bytes, path: str, *, force: bool = False) -> None:
    write_files([(path, data)], force=force)


def _stdout(action, *args) -> None:
    try:
        action(*args)
    except BrokenPipeError:
        raise  # the reader went away: ketaplan.cli.main ends quietly (exit 141)
    except OSError as exc:
        raise OutputError(f"standard output: cannot be written: {_cause(exc)}") from None


def write_stdout(text: str) -> None:
    """Write and flush standard output; a failure other than a closed pipe is an OutputError."""
    _stdout(sys.stdout.write, text)
    _stdout(sys.stdout.flush)


def flush_stdout() -> None:
    _stdout(sys.stdout.flush)


def write_text(text: str, path: str | None, *, force: bool = False) -> None:
    """`None` or `-` writes standard output; a file is written whole or not at all (UTF-8, \\n)."""
    if path is None or path == "-":
        write_stdout(text)
        return
    write_bytes(text.encode("utf-8"), path, force=force)


def replace_file(path: str, data: bytes) -> None:
    """Replace an existing file with `data` atomically, keeping its permission bits: afterwards the
    file holds either all of its old bytes or all of the new ones, never a mix (used by `record`).
    A symbolic link is kept and the file it points to replaced."""
    try:
        target, old = resolve_target(path, force=True)
    except OutputError as exc:
        raise OutputError(str(exc).replace("nothing was written", "nothing was changed")) from None
    if old is None:
        raise OutputError(f"{path}: cannot be written: No such file or directory; nothing was changed")
    atomic = AtomicFile(path, replace=True, target=target, old=old, what="nothing was changed")
    try:
        atomic.write(data)
        atomic.commit()
    finally:
        atomic.discard()


def write_cache_file(path: str, data: bytes) -> bool:
    """Store a cache file atomically, replacing any old one; False (and nothing left) on failure."""
    try:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        try:
            old = os.lstat(path)
        except FileNotFoundError:
            old = None
        if old is not None and not stat.S_ISREG(old.st_mode):
            os.unlink(path)  # a FIFO or a link where an entry belongs is not ours to keep
            old = None
        atomic = AtomicFile(path, replace=True, old=old, record=False)
    except (OSError, UsageError):
        return False
    try:
        atomic.write(data)
        atomic.commit()
        return True
    except UsageError:
        return False
    finally:
        atomic.discard()
