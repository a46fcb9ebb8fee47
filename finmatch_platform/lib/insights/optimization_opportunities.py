"""Optimization Opportunities (where should we act?): conversion gaps, cross-sell and retention targets."""

from __future__ import annotations

from .evidence_builders import (
    archetypes,
    attention,
    card_prospects,
    churn_by_satisfaction,
    churn_risk,
    dimension_acceptance,
    funnel,
    overall_kpis,
    travel_card_effect,
)
from .model import StepContext


def find_conversion_gaps(ctx: StepContext) -> str:
    overall_kpis(ctx)
    stages = funnel(ctx)
    archetypes(ctx)
    extremes = dimension_acceptance(ctx, "product_type", "product type")
    if extremes:
        ctx.evidence.context["best_product_type"] = extremes[0]["dimension_value"]
        ctx.evidence.context["worst_product_type"] = extremes[1]["dimension_value"]
    worst = ctx.evidence.context.get("largest_funnel_drop_stage")
    return f"weakest funnel step into {worst}" if stages and worst else "no funnel data"


def find_cross_sell_targets(ctx: StepContext) -> str:
    travel_card_effect(ctx)
    card_prospects(ctx)
    lift = ctx.evidence.find("cards.acceptance_lift_high_vs_low_travel")
    top = ctx.evidence.find("cards.top_prospects")
    return f"travel spenders accept card offers {lift.display if lift else 'n/a'} as often; {top.display if top else 0} top prospects"


def find_retention_targets(ctx: StepContext) -> str:
    churn_by_satisfaction(ctx)
    attention(ctx)
    churn_risk(ctx)
    dimension_acceptance(ctx, "lifecycle_stage", "lifecycle stage")
    n = ctx.evidence.find("retention.needs_attention")
    return f"{n.display if n else 0} customers need attention"
