"""The engine: pure functions from patient, protocol and dates to a frozen plan. No I/O, no clock."""

from ketaplan.engine.plan import build_plan

__all__ = ["build_plan"]
