"""What both simulated vendor APIs' ``/health`` says about the landed days they serve.

``status`` is ``ok``, or ``degraded`` while a listed day cannot be served (see :mod:`.landed`):
the answer stays a 200, because the process is alive and serves the days before the gap, and
``gap`` names the file, why it cannot be served and how many later days wait for it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .landed import Snapshot

OK = "ok"
DEGRADED = "degraded"
Status = Literal["ok", "degraded"]
STATUS_DESCRIPTION = (
    "ok, or degraded while a landed day cannot be served: the days before it are served, "
    "the days after it are held back until it is repaired (see gap)."
)


class HealthGap(BaseModel):
    """The first landed day that cannot be served."""

    file: str = Field(
        description="The day's file, relative to the landing directory.",
        examples=["fpr_records/date=2026-10-02/part-0.parquet"],
    )
    reason: str = Field(description="Why it cannot be served (unreadable, missing, or a value out of range).")
    held_back_days: int = Field(ge=0, description="Landed days after it, not served until it is repaired.")


GAP_DESCRIPTION = "Set while status is degraded: the day that stops the feed; null when status is ok."


def gap_fields(snapshot: Snapshot) -> dict[str, Any]:
    """``status`` and ``gap`` of a health body for the snapshot a request read."""
    gap = snapshot.gap
    if gap is None:
        return {"status": OK, "gap": None}
    return {
        "status": DEGRADED,
        "gap": {"file": gap.file, "reason": gap.reason, "held_back_days": gap.held_back_days},
    }
