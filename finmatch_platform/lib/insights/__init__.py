"""Insight reports: multi-step analyses of the marts, narrated by a model and checked number by number.

Four focus areas (``steps.FOCUS_AREAS``): Overall Performance, Optimization Opportunities,
Financial Impact and Strategic Recommendations. Each runs a named sequence of steps: load and
validate the data context, three analysis steps that query the marts into evidence (figures with
definitions and sample sizes, and charts), the model's analysis, and the compilation of the
report (grounding, Markdown, HTML with SVG charts, ``meta.insight_history``).

Modules: ``queries`` (all SQL, one place), ``evidence`` (figures, charts, formatting), ``model``
(focus area, step and step-context types), ``context`` (step 1: the data context),
``evidence_builders`` (figures shared between focus areas), one module per focus area's data
steps (``overall_performance``, ``optimization_opportunities``, ``financial_impact``,
``strategic_recommendations``), ``steps`` (the registry: which steps each focus area runs),
``prompts`` (messages, privacy guard), ``narrator`` (the offline provider's writer), ``grounding``
(number checking), ``render`` (Markdown, HTML, SVG), ``history`` (the history table), ``runner``
(one report, end to end). No Dagster import here.
"""

from __future__ import annotations

from .evidence import Chart, Evidence, EvidenceError, Figure, format_value
from .grounding import GroundingResult, annotate, ground
from .model import FocusArea, Step
from .narrator import narrate, narrate_request
from .prompts import PrivacyError, build_messages, check_prompt_privacy
from .report import InsightReport, StepRun
from .runner import DEFAULT_MAX_UNVERIFIED_SHARE, focus_area, run_report
from .steps import FOCUS_AREAS

__all__ = [
    "DEFAULT_MAX_UNVERIFIED_SHARE",
    "FOCUS_AREAS",
    "Chart",
    "Evidence",
    "EvidenceError",
    "Figure",
    "FocusArea",
    "GroundingResult",
    "InsightReport",
    "PrivacyError",
    "Step",
    "StepRun",
    "annotate",
    "build_messages",
    "check_prompt_privacy",
    "focus_area",
    "format_value",
    "ground",
    "narrate",
    "narrate_request",
    "run_report",
]
