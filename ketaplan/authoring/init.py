"""`ketaplan init [DIR]`: write a starter protocol and patient to adapt; never overwrite a file."""

from __future__ import annotations

import os
import sys
from datetime import date

from ketaplan.errors import OutputExistsError, UsageError

STARTER_FILES = ("protocol.toml", "patient.toml")


def starter_text(name: str) -> str:
    """The text of one starter file, read from the installed package."""
    from importlib.resources import files

    return files("ketaplan").joinpath("starter", name).read_text(encoding="utf-8")


def run_init(folder: str) -> int:
    """Write both starter files into `folder` (created if missing), or neither: an existing file is an error."""
    from ketaplan.output import write_files

    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{folder}: is a file, not a folder; nothing was written")
    targets = [os.path.join(folder, name) for name in STARTER_FILES]
    for path in targets:
        if os.path.lexists(path):
            raise OutputExistsError(
                f"{path}: exists already; nothing was written (init never overwrites: move it away or choose "
                "another folder)"
            )
    texts = [starter_text(name) for name in STARTER_FILES]
    created = not os.path.isdir(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the folder: {exc.strerror}; nothing was written") from None
    try:
        # Both or neither: a half-written starter would be mistaken for a whole one.
        write_files(
            [(path, text.encode("utf-8")) for path, text in zip(targets, texts)],
            exists_message=lambda path: f"{path}: exists already; nothing was written (init never overwrites: move it "
            "away or choose another folder)",
        )
    except BaseException:
        if created:
            try:
                os.rmdir(folder)  # the folder made for them goes too (only if it is still empty)
            except OSError:
                pass
        raise
    protocol, patient = targets
    print(
        f"wrote {protocol} and {patient}\n"
        "The protocol is a template to adapt and have approved by your medical lead, not clinical advice.\n"
        "Next:\n"
        f"  ketaplan protocol check {protocol}\n"
        f"  ketaplan protocol test {protocol}\n"
        f"  ketaplan plan {patient} --protocol {protocol} --start {date.today().isoformat()}\n"
        f"The comments in {protocol} explain each part of the format. Also:\n"
        "  ketaplan vocab               the names a rule's `when` may use\n"
        "  ketaplan protocol schema     the whole format as a JSON Schema, for editor completion\n"
        "  ketaplan protocol --help     the protocol tools",
        file=sys.stderr,
    )
    return 0
