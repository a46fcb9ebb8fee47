"""The result of one report run: what the runner produces and the renderers and history read."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from .evidence import Evidence
from .grounding import GroundingResult
from .model import FocusArea


@dataclass(frozen=True)
class StepRun:
    """One executed step: its place in the sequence, how long it took and what it produced."""

    index: int
    key: str
    title: str
    kind: str
    seconds: float
    figures: int
    charts: int
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FigureChange:
    key: str
    label: str
    previous: str
    current: str
    change: str


@dataclass
class InsightReport:
    report_id: str
    focus: FocusArea
    generated_at: dt.datetime
    model: str
    provider: str
    endpoint: str
    evidence: Evidence
    steps: list[StepRun] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    narrative: str = ""
    annotated_narrative: str = ""
    grounding: GroundingResult | None = None
    max_unverified_share: float = 0.0
    changes: list[FigureChange] = field(default_factory=list)
    previous_report_id: str | None = None
    previous_generated_at: str | None = None
    llm_attempts: int = 0
    llm_seconds: float = 0.0
    llm_usage: dict[str, int] = field(default_factory=dict)
    markdown: str = ""
    html: str = ""
    html_path: str | None = None
    latest_html_path: str | None = None
    run_id: str | None = None

    @property
    def grounded(self) -> bool:
        return self.grounding is not None and self.grounding.passed(self.max_unverified_share)

    @property
    def step_seconds(self) -> dict[str, float]:
        return {s.key: round(s.seconds, 4) for s in self.steps}
