"""Small helpers of the evidence builders and the focus-area steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def index_by(rows: Sequence[Mapping[str, Any]], column: str) -> dict[str, dict[str, Any]]:
    """The rows keyed by the text of one column."""
    return {str(row[column]): dict(row) for row in rows}


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b
