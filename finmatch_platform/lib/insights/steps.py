"""The four focus areas and the named steps each one runs: the registry.

Every report is a fixed sequence: load and validate the data context (``context``), three
analysis steps that query the marts and turn the rows into evidence (figures with definitions
and sample sizes, and charts; one module per focus area), the model's analysis (the narrative,
written by the selected LLM from that evidence) and the compilation of the report (grounding,
Markdown, HTML, history). The last two are run by ``runner.run_report``, which owns the model
and the outputs. The types live in ``model``; no analysis module imports this one.
"""

from __future__ import annotations

from .context import load_context
from .financial_impact import measure_revenue, measure_sales, measure_value_at_stake
from .model import FocusArea, Step
from .optimization_opportunities import find_conversion_gaps, find_cross_sell_targets, find_retention_targets
from .overall_performance import assess_recommendations, customer_and_transaction_patterns, find_patterns
from .strategic_recommendations import establish_baseline, prioritise_levers, quantify_levers

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
                    ("recommendation_kpis", "recommendation_distributions", "funnel"),
                ),
                Step(
                    "find_patterns",
                    "Find patterns across segments, product types and lifecycle stages",
                    "Acceptance by segment, product type and lifecycle stage; lifecycle and affinity mix.",
                    "data",
                    find_patterns,
                    ("recommendation_kpis", "recommendation_distributions"),
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
                    ("recommendation_kpis", "funnel", "leads_by_archetype"),
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
                    (
                        "churn_by_satisfaction",
                        "satisfaction_churn_correlation",
                        "attention",
                        "churn_risk",
                        "recommendation_kpis",
                    ),
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
                    ("recommendation_kpis", "sales_by_product_type", "leads_by_archetype"),
                ),
                Step(
                    "measure_value_at_stake",
                    "Measure the value at stake",
                    "Cross-sell value, balances at churn risk, fraud exposure and the value of a point of acceptance.",
                    "data",
                    measure_value_at_stake,
                    (
                        "recommendation_kpis",
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
                    ("recommendation_kpis", "revenue_monthly"),
                ),
                Step(
                    "quantify_levers",
                    "Quantify the levers",
                    "Cross-sell, retention, fraud and funnel levers with their evidence.",
                    "data",
                    quantify_levers,
                    (
                        "recommendation_kpis",
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
