"""The four focus areas and the named steps each one runs.

Every report is a fixed sequence: load and validate the data context, three analysis steps that
query the marts and turn the rows into evidence (figures with definitions and sample sizes, and
charts), the model's analysis (the narrative, written by the selected LLM from that evidence)
and the compilation of the report (grounding, Markdown, HTML, history). The data steps are
functions in ``analyses``; the last two are run by ``runner.run_report``, which owns the model
and the outputs.

A data step is a function of a ``StepContext`` that adds figures and returns a one-line summary
for the run log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb

from . import queries as q
from .analyses import (
    assess_recommendations,
    customer_and_transaction_patterns,
    establish_baseline,
    find_conversion_gaps,
    find_cross_sell_targets,
    find_patterns,
    find_retention_targets,
    load_context,
    measure_revenue,
    measure_sales,
    measure_value_at_stake,
    prioritise_levers,
    quantify_levers,
)
from .evidence import Chart, Evidence, EvidenceError, Figure, Unit

StepKind = Literal["data", "model", "compile"]


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class StepContext:
    conn: duckdb.DuckDBPyConnection
    evidence: Evidence
    focus: FocusArea
    step: Step
    # Query results shared by the steps of one report: each query runs at most once.
    cache: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def rows(self, name: str) -> list[dict[str, Any]]:
        if name not in self.cache:
            self.cache[name] = q.run(self.conn, name)
        return self.cache[name]

    def one(self, name: str) -> dict[str, Any]:
        rows = self.rows(name)
        if len(rows) != 1:
            raise EvidenceError(f"query {name!r} returned {len(rows)} rows, expected one")
        return rows[0]

    def add(
        self,
        key: str,
        label: str,
        value: float | int | None,
        unit: Unit,
        definition: str,
        *,
        n: int | None,
        query: str | None = None,
        source: str | None = None,
        headline: bool = False,
    ) -> Figure | None:
        """Add a figure unless another step of this report already did (shared helpers)."""
        existing = self.evidence.find(key)
        if existing is not None:
            return existing
        return self.evidence.add(
            key,
            label,
            value,
            unit,
            definition,
            sample_size=n,
            source=source if source is not None else q.QUERIES[query].source if query else "",
            step=self.step.key,
            headline=headline,
        )

    def chart(
        self,
        key: str,
        title: str,
        kind: Literal["bar", "hbar", "line"],
        unit: Unit,
        labels: Sequence[str],
        series: Sequence[tuple[str, Sequence[float | None]]],
        *,
        query: str | None = None,
        source: str | None = None,
        note: str = "",
    ) -> None:
        if any(c.key == key for c in self.evidence.charts) or not labels:
            return
        if source is None:
            source = q.QUERIES[query].source if query else ""
        self.evidence.add_chart(
            Chart(
                key=key,
                title=title,
                kind=kind,
                unit=unit,
                labels=tuple(str(label) for label in labels),
                series=tuple((name, tuple(_num(v) for v in values)) for name, values in series),
                source=source,
                note=note,
                step=self.step.key,
            )
        )


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    description: str
    kind: StepKind
    run: Callable[[StepContext], str] | None = None
    queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class FocusArea:
    key: str
    title: str
    question: str
    description: str
    steps: tuple[Step, ...]

    @property
    def queries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for step in self.steps for name in step.queries))

    @property
    def tables(self) -> tuple[str, ...]:
        """The marts this report reads: its asset's upstream dependencies."""
        return q.tables_for(self.queries)


# --------------------------------------------------------------------------------------------
# The focus areas
# --------------------------------------------------------------------------------------------

CONTEXT_STEP = Step(
    "load_context",
    "Load and validate the data context",
    "Check that every mart the report reads exists and holds data, and record the window covered.",
    "data",
    load_context,
    ("data_window",),
)
MODEL_STEP = Step(
    "model_analysis",
    "The model's analysis",
    "The selected model writes the narrative from the evidence (aggregates only).",
    "model",
)
COMPILE_STEP = Step(
    "compile_report",
    "Compile the report",
    "Check every number of the narrative against the evidence, render Markdown and HTML, append to the history.",
    "compile",
)

FOCUS_AREAS: dict[str, FocusArea] = {
    f.key: f
    for f in (
        FocusArea(
            key="overall_performance",
            title="Overall Performance",
            question="What is happening?",
            description="How recommendations, customers, spend and fraud are doing across the book.",
            steps=(
                CONTEXT_STEP,
                Step(
                    "assess_recommendations",
                    "Assess recommendation performance",
                    "Overall KPIs, the status distribution and the campaign funnel.",
                    "data",
                    assess_recommendations,
                    ("rec_kpis", "rec_distributions", "funnel"),
                ),
                Step(
                    "find_patterns",
                    "Find patterns across segments, product types and lifecycle stages",
                    "Acceptance by segment, product type and lifecycle stage; lifecycle and affinity mix.",
                    "data",
                    find_patterns,
                    ("rec_kpis", "rec_distributions"),
                ),
                Step(
                    "customer_and_transaction_patterns",
                    "Find patterns in customer health, spend and fraud",
                    "Churn by satisfaction, health bands, weekly spend, spend mix and fraud signals.",
                    "data",
                    customer_and_transaction_patterns,
                    (
                        "churn_by_satisfaction",
                        "satisfaction_churn_correlation",
                        "health_bands",
                        "spend_weekly",
                        "spend_by_category",
                        "fraud_customer_days",
                        "fraud_daily",
                    ),
                ),
                MODEL_STEP,
                COMPILE_STEP,
            ),
        ),
        FocusArea(
            key="optimization_opportunities",
            title="Optimization Opportunities",
            question="Where should we act?",
            description="Where conversion leaks, who to cross-sell and who to retain.",
            steps=(
                CONTEXT_STEP,
                Step(
                    "find_conversion_gaps",
                    "Find conversion gaps",
                    "The funnel's weakest step, acceptance by archetype and by product type.",
                    "data",
                    find_conversion_gaps,
                    ("rec_kpis", "funnel", "leads_by_archetype"),
                ),
                Step(
                    "find_cross_sell_targets",
                    "Find cross-sell targets",
                    "Credit-card acceptance by travel spend and the top prospects without a card.",
                    "data",
                    find_cross_sell_targets,
                    ("card_acceptance_by_travel", "card_prospects"),
                ),
                Step(
                    "find_retention_targets",
                    "Find retention targets",
                    "Churn by satisfaction, the needs-attention list, churn risk and lifecycle acceptance.",
                    "data",
                    find_retention_targets,
                    ("churn_by_satisfaction", "satisfaction_churn_correlation", "attention", "churn_risk", "rec_kpis"),
                ),
                MODEL_STEP,
                COMPILE_STEP,
            ),
        ),
        FocusArea(
            key="financial_impact",
            title="Financial Impact",
            question="What is it worth?",
            description="Revenue earned, sales from recommendations and the value at stake per lever.",
            steps=(
                CONTEXT_STEP,
                Step(
                    "measure_revenue",
                    "Measure revenue",
                    "Interchange fees and loan interest by month and product type.",
                    "data",
                    measure_revenue,
                    ("revenue_monthly", "revenue_by_product_type"),
                ),
                Step(
                    "measure_sales",
                    "Measure sales from recommendations",
                    "Sales value by product type and archetype.",
                    "data",
                    measure_sales,
                    ("rec_kpis", "sales_by_product_type", "leads_by_archetype"),
                ),
                Step(
                    "measure_value_at_stake",
                    "Measure the value at stake",
                    "Cross-sell value, balances at churn risk, fraud exposure and the value of a point of acceptance.",
                    "data",
                    measure_value_at_stake,
                    (
                        "rec_kpis",
                        "card_acceptance_by_travel",
                        "card_prospects",
                        "sales_by_product_type",
                        "attention",
                        "churn_risk",
                        "fraud_customer_days",
                        "fraud_daily",
                    ),
                ),
                MODEL_STEP,
                COMPILE_STEP,
            ),
        ),
        FocusArea(
            key="strategic_recommendations",
            title="Strategic Recommendations",
            question="What should we do next?",
            description="The levers, what each puts at stake, and the order to pull them in.",
            steps=(
                CONTEXT_STEP,
                Step(
                    "establish_baseline",
                    "Establish the baseline",
                    "Headline KPIs and revenue the recommendations start from.",
                    "data",
                    establish_baseline,
                    ("rec_kpis", "revenue_monthly"),
                ),
                Step(
                    "quantify_levers",
                    "Quantify the levers",
                    "Cross-sell, retention, fraud and funnel levers with their evidence.",
                    "data",
                    quantify_levers,
                    (
                        "rec_kpis",
                        "card_acceptance_by_travel",
                        "card_prospects",
                        "sales_by_product_type",
                        "churn_by_satisfaction",
                        "satisfaction_churn_correlation",
                        "attention",
                        "fraud_customer_days",
                        "fraud_daily",
                        "funnel",
                        "leads_by_archetype",
                    ),
                ),
                Step(
                    "prioritise_levers",
                    "Prioritise the levers",
                    "Rank the levers by the value each puts at stake; who each reaches and the value per head.",
                    "data",
                    prioritise_levers,
                    ("fraud_customers", "funnel"),
                ),
                MODEL_STEP,
                COMPILE_STEP,
            ),
        ),
    )
}
