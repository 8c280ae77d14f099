"""`ketaplan sign` and `ketaplan verify`: read the files, call ketaplan.signing, write whole files."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal

from ketaplan.errors import ExitStatus, RefusedError, UsageError, printable


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a plan") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from None


def _read_json(path: str) -> tuple[object, list[str]]:
    """The file's JSON (numbers as Decimals, so that they digest exactly as written) and the keys
    found twice in one object."""
    from ketaplan.signing import parse_json

    data = _read_bytes(path)
    try:
        return parse_json(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not a JSON plan ({exc})") from None


def _parse_acks(acks: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in acks:
        rule, sep, reason = item.partition("=")
        rule = rule.strip()
        if not sep or not rule:
            raise UsageError(f'--ack {item!r}: write it as RULE="reason", e.g. --ack REV-BP="BP 128/80 today"')
        if rule in out:
            raise UsageError(f"--ack {rule}: given twice")
        out[rule] = reason
    return out


def _signed_paths(plan_file: str, output: str | None) -> tuple[str, str]:
    if output:
        base = output[:-5] if output.endswith(".json") else output
        return output, base + ".md"
    base = plan_file[:-5] if plan_file.endswith(".json") else plan_file
    return base + ".signed.json", base + ".signed.md"


def run_sign(plan_file: str, *, clinician: str, registration: str, acks: list[str], output: str | None) -> int:
    from ketaplan.output import write_files
    from ketaplan.render.markdown import render_signed
    from ketaplan.signing import sign

    plan, duplicates = _read_json(plan_file)
    if not isinstance(plan, dict):
        raise UsageError(f"{plan_file}: not a JSON plan")
    if duplicates:
        # Which of two values a reader keeps is not fixed: a plan read two ways is never signed.
        listed = "\n".join(f"  - a key appears twice in one object: {d}" for d in duplicates)
        print(printable(f"{plan_file}: sign-off refused:\ncannot sign this plan:\n{listed}"), file=sys.stderr)
        return ExitStatus.ATTENTION
    try:
        signed = sign(
            plan,
            clinician=clinician,
            registration=registration,
            acks=_parse_acks(acks),
            now=datetime.now(UTC).replace(microsecond=0),
        )
    except RefusedError as exc:
        print(printable(f"{plan_file}: sign-off refused:\n{exc}"), file=sys.stderr)
        return ExitStatus.ATTENTION
    json_path, md_path = _signed_paths(plan_file, output)
    # A signed plan is never overwritten (there is no --force for sign).
    for path in (json_path, md_path):
        if os.path.exists(path):
            raise UsageError(f"{path}: a signed plan exists already and is never overwritten; nothing was written")
    text = json.dumps(signed, indent=2, ensure_ascii=False, default=_number) + "\n"
    try:
        # The Markdown is laid out from the plan read back from the signed JSON, before either is written.
        markdown = render_signed(json.loads(text, parse_float=Decimal))
    except (ValueError, KeyError, TypeError) as exc:
        message = f"{plan_file}: sign-off refused:\nthe plan cannot be read back to lay it out ({exc})"
        print(printable(message), file=sys.stderr)
        return ExitStatus.ATTENTION
    # Both files or neither: half a pair would block a retry and could be filed as the whole.
    write_files(
        [(json_path, text.encode("utf-8")), (md_path, markdown.encode("utf-8"))],
        exists_message=lambda path: f"{path}: a signed plan exists already and is never overwritten; nothing was written",
    )
    print(printable(f"signed: {json_path} and {md_path}"), file=sys.stderr)
    return ExitStatus.OK


def _number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def run_verify(signed_file: str) -> int:
    """Exit 0 intact, 1 altered (naming what changed), 2 for a file that is no signed plan (a draft).
    Every piece of file text is printed through `printable`: a rule id holding ESC[2J must not
    clear the screen and print a fake "intact" line."""
    from ketaplan.signing import PLAN_FORMAT, verify

    markdown = signed_file.endswith(".md")
    json_file = signed_file[:-3] + ".json" if markdown else signed_file
    if markdown and not os.path.exists(json_file):
        raise UsageError(
            f"{signed_file}: the signed JSON beside it ({json_file}) is missing: the Markdown alone cannot be verified"
        )
    signed, duplicates = _read_json(json_file)
    if isinstance(signed, dict) and signed.get("format") == PLAN_FORMAT:
        raise UsageError(
            f"{json_file}: this is a draft plan, not a signed plan: it has no sign-off to verify "
            "(sign it with `ketaplan sign`)"
        )
    problems = verify(signed, duplicates)
    if markdown and not problems:
        problems = _markdown_problems(signed_file, signed)
    if problems:
        lines = [f"{signed_file}: ALTERED — it no longer matches what was signed:", *(f"- {p}" for p in problems)]
        print(printable("\n".join(lines)), file=sys.stderr)
        return ExitStatus.ATTENTION
    signoff = signed.get("signoff", {}) if isinstance(signed, dict) else {}
    checked = f" (and its signed JSON {json_file})" if markdown else ""
    print(
        printable(
            f"{signed_file}: intact{checked} — signed by {signoff.get('clinician')} ({signoff.get('registration')}) "
            f"at {signoff.get('signed_at')}"
        ),
        file=sys.stderr,
    )
    return ExitStatus.OK


def _markdown_problems(md_file: str, signed: object) -> list[str]:
    """The signed Markdown rendered again from its verified JSON, compared line by line."""
    from ketaplan.render.markdown import render_signed

    if not isinstance(signed, dict):  # verify() has refused it already
        return ["the file does not hold a signed plan (a JSON object)"]
    try:
        text = _read_bytes(md_file).decode("utf-8")
    except UnicodeDecodeError:
        return [f"{md_file} is not UTF-8 text, so it is not the Markdown `ketaplan sign` wrote"]
    expected = render_signed(signed)
    text = text.replace("\r\n", "\n")  # a copy that went through Windows changes no word of it
    if text == expected:
        return []
    have, want = text.splitlines(), expected.splitlines()
    for number, (line, wanted) in enumerate(zip(have, want), start=1):
        if line != wanted:
            return [f"the Markdown differs from its signed JSON at line {number}: {line!r}, where the signed plan reads {wanted!r}"]
    if len(have) != len(want):
        return [f"the Markdown has {len(have)} lines where the signed plan renders {len(want)}"]
    return ["the Markdown differs from its signed JSON in its line endings or final newline"]
