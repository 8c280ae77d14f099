"""Writing results: a file is written whole or not at all, and never overwritten without --force."""

from __future__ import annotations

import os
import sys

from ketaplan.errors import OutputExistsError, UsageError


def write_text(text: str, path: str | None, *, force: bool = False) -> None:
    """`None` or `-` writes standard output; a file goes through a temporary file in the same folder."""
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a folder; give a file name for --output")
    if os.path.exists(path) and not force:
        raise OutputExistsError(f"{path}: exists already; nothing was written (use --force to replace it)")
    import tempfile  # only when writing a file: printing a plan does not need it

    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(prefix=".ketaplan-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write there: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temp, path)
        else:
            # link() fails if the name was taken meanwhile: an existing file is never replaced.
            try:
                os.link(temp, path)
            except FileExistsError:
                raise OutputExistsError(f"{path}: exists already; nothing was written (use --force to replace it)") from None
            except OSError:
                if os.path.exists(path):
                    raise OutputExistsError(f"{path}: exists already; nothing was written") from None
                os.replace(temp, path)
    except OSError as exc:
        # A full disk or a lost mount half way: the temporary file goes, the target was never touched.
        raise UsageError(f"{path}: cannot be written: {exc.strerror or exc}; nothing was written") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def replace_file(path: str, data: bytes) -> None:
    """Replace an existing file with `data` atomically, keeping its permission bits: afterwards the
    file holds either all of its old bytes or all of the new ones, never a mix (used by `record`)."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
        fd, temp = tempfile.mkstemp(prefix=".ketaplan-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be written: {exc.strerror or exc}; nothing was changed") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be written: {exc.strerror or exc}; nothing was changed") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
