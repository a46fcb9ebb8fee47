"""Evidence builders shared between focus areas: query results turned into figures and charts.

Each builder reads query results through the ``StepContext`` (every query runs at most once per
report) and adds figures with their definitions and sample sizes. ``StepContext.add`` keeps the
first figure of a key, so a builder called by two steps of one report adds it once, and the same
figure key always means the same number: reports can be compared and the narrator can find it.
"""

from __future__ import annotations

from .common import index_by, ratio
from .customers import attention, churn_by_satisfaction, churn_risk, fraud_effect
from .recommendations import FUNNEL_STAGES, archetypes, dimension_acceptance, funnel, overall_kpis
from .value import (
    card_prospects,
    cross_sell_value,
    revenue,
    sales_by_type,
    travel_card_effect,
    value_of_acceptance_point,
)

__all__ = [
    "FUNNEL_STAGES",
    "archetypes",
    "attention",
    "card_prospects",
    "churn_by_satisfaction",
    "churn_risk",
    "cross_sell_value",
    "dimension_acceptance",
    "fraud_effect",
    "funnel",
    "index_by",
    "overall_kpis",
    "ratio",
    "revenue",
    "sales_by_type",
    "travel_card_effect",
    "value_of_acceptance_point",
]
