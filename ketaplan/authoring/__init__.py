"""Tools for the clinic lead who writes the protocol: check, test, schema, vocabulary, starter files."""

from __future__ import annotations

from ketaplan.errors import printable

__all__ = ["printable"]
