"""`ketaplan sign` and `ketaplan verify`: read the files, call ketaplan.signing, write whole files."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal

from ketaplan.errors import ExitStatus, RefusedError, UsageError


def _read_json(path: str) -> object:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        # Decimals, so that numbers digest exactly as they were written.
        return json.loads(data.decode("utf-8-sig"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
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

    plan = _read_json(plan_file)
    if not isinstance(plan, dict):
        raise UsageError(f"{plan_file}: not a JSON plan")
    try:
        signed = sign(
            plan,
            clinician=clinician,
            registration=registration,
            acks=_parse_acks(acks),
            now=datetime.now(timezone.utc).replace(microsecond=0),
        )
    except RefusedError as exc:
        print(f"{plan_file}: sign-off refused:\n{exc}", file=sys.stderr)
        return ExitStatus.ATTENTION
    json_path, md_path = _signed_paths(plan_file, output)
    # A signed plan is never overwritten (there is no --force for sign).
    for path in (json_path, md_path):
        if os.path.exists(path):
            raise UsageError(f"{path}: a signed plan exists already and is never overwritten; nothing was written")
    text = json.dumps(signed, indent=2, ensure_ascii=False, default=_number) + "\n"
    markdown = render_signed(json.loads(text, parse_float=Decimal))
    # Both files or neither: half a pair would block a retry and could be filed as the whole.
    write_files(
        [(json_path, text.encode("utf-8")), (md_path, markdown.encode("utf-8"))],
        exists_message=lambda path: f"{path}: a signed plan exists already and is never overwritten; nothing was written",
    )
    print(f"signed: {json_path} and {md_path}", file=sys.stderr)
    return ExitStatus.OK


def _number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def run_verify(signed_file: str) -> int:
    from ketaplan.signing import verify

    signed = _read_json(signed_file)
    problems = verify(signed)
    if problems:
        print(f"{signed_file}: ALTERED — it no longer matches what was signed:", file=sys.stderr)
        for p in problems:
            print(f"- {p}", file=sys.stderr)
        return ExitStatus.ATTENTION
    signoff = signed.get("signoff", {}) if isinstance(signed, dict) else {}
    print(
        f"{signed_file}: intact — signed by {signoff.get('clinician')} ({signoff.get('registration')}) "
        f"at {signoff.get('signed_at')}",
        file=sys.stderr,
    )
    return ExitStatus.OK
