"""The exchange views of a drafted plan: `--format fhir` and `--format ics`. They render the plan and
compute nothing (every number comes from the plan, through the JSON view's own rounding)."""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ketaplan.model.plan import Plan


def exchange_text(plan: Plan, fmt: str, at: time | None = None) -> str:
    if fmt == "fhir":
        from ketaplan.exchange.fhir_export import plan_fhir_text

        return plan_fhir_text(plan)
    if fmt == "ics":
        from ketaplan.exchange.ics import plan_ics_text

        return plan_ics_text(plan, at or time(9, 0))
    raise ValueError(f"not an exchange format: {fmt!r}")
