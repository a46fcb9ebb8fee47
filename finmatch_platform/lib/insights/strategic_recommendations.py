"""Strategic Recommendations (what should we do next?): the levers, their value at stake and their order."""

from __future__ import annotations

from .evidence import format_value
from .evidence_builders import (
    FUNNEL_STAGES,
    archetypes,
    attention,
    churn_by_satisfaction,
    cross_sell_value,
    fraud_effect,
    funnel,
    index_by,
    overall_kpis,
    ratio,
    revenue,
    value_of_acceptance_point,
)
from .model import StepContext

# The levers a recommendation can pull: (key, title, figure measuring its value at stake,
# figure counting whom it reaches, what those are called).
LEVERS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "cross_sell",
        "Target travel spenders with credit-card offers",
        "value.cross_sell",
        "cards.top_prospects",
        "top prospects",
    ),
    (
        "retention",
        "Win back unhappy customers before they churn",
        "retention.needs_attention_balance",
        "retention.needs_attention",
        "customers needing attention",
    ),
    (
        "fraud",
        "Stop impossible-travel fraud at the failed-login burst",
        "fraud.impossible_travel_amount",
        "fraud.impossible_travel_customers",
        "customers hit by impossible travel",
    ),
    (
        "conversion",
        "Fix the weakest step of the campaign funnel",
        "value.per_acceptance_point",
        "funnel.lost_at_weakest_step",
        "recommendations lost at the weakest step",
    ),
)


def establish_baseline(ctx: StepContext) -> str:
    kpis = overall_kpis(ctx)
    revenue(ctx)
    return f"acceptance {format_value(kpis['acceptance_rate'], 'share')} on {kpis['recommendations']:,} recommendations"


def quantify_levers(ctx: StepContext) -> str:
    kpis = overall_kpis(ctx)
    cross_sell_value(ctx)
    churn_by_satisfaction(ctx)
    attention(ctx)
    fraud_effect(ctx)
    funnel(ctx)
    value_of_acceptance_point(ctx, kpis)
    archetypes(ctx)
    quantified = [
        key for _, _, key, _, _ in LEVERS if (f := ctx.evidence.find(key)) is not None and f.value is not None
    ]
    return f"{len(quantified)} of {len(LEVERS)} levers quantified"


def prioritise_levers(ctx: StepContext) -> str:
    """Rank the levers by value at stake, and measure how many each reaches and the value per head."""
    fraud = ctx.one("fraud_customers")
    ctx.add(
        "fraud.impossible_travel_customers",
        "Customers hit by impossible travel",
        fraud["impossible_travel_customers"],
        "count",
        "Distinct customers with at least one impossible-travel customer-day.",
        n=fraud["alerted_customers"],
        query="fraud_customers",
    )
    stages = index_by([r for r in ctx.rows("funnel") if r["archetype"] == "All"], "stage")
    worst = ctx.evidence.context.get("largest_funnel_drop_stage")
    if worst in FUNNEL_STAGES[1:] and worst in stages:
        before = stages.get(FUNNEL_STAGES[FUNNEL_STAGES.index(worst) - 1])
        if before is not None:
            ctx.add(
                "funnel.lost_at_weakest_step",
                f"Recommendations lost before {worst}",
                before["recommendations"] - stages[worst]["recommendations"],
                "count",
                "Recommendations at the stage before the weakest funnel step minus those that made it through.",
                n=before["recommendations"],
                query="funnel",
            )
    scored = []
    for lever, title, value_key, reach_key, reach_label in LEVERS:
        value = ctx.evidence.find(value_key)
        if value is None or value.value is None:
            continue
        reach = ctx.evidence.find(reach_key)
        per_head = ratio(float(value.value), float(reach.value)) if reach is not None and reach.value else None
        ctx.add(
            f"priority.{lever}.value_per_reach",
            f"Value at stake per head reached, {lever.replace('_', '-')} lever",
            per_head,
            "inr",
            f"{value.label} / {reach_label} (INR each).",
            n=None if reach is None or reach.value is None else int(reach.value),
            source=f"derived: {value.ref} / {reach.ref}" if reach is not None else f"derived: {value.ref}",
        )
        scored.append((float(value.value), lever, title, value, reach_label))
    # Largest value at stake first; ties by name so the order never depends on the data's order.
    scored.sort(key=lambda item: (-item[0], item[1]))
    ctx.evidence.context["priorities"] = [
        {"rank": rank, "lever": lever, "title": title, "figure": figure.key}
        for rank, (_, lever, title, figure, _) in enumerate(scored, start=1)
    ]
    ctx.chart(
        "lever_priorities",
        "Levers ranked by value at stake",
        "hbar",
        "inr",
        [title for _, _, title, _, _ in scored],
        [("INR", [value for value, _, _, _, _ in scored])],
        source="figures of this report (see their definitions)",
        note="Ranked by the value each lever puts at stake; see each figure's definition.",
    )
    return "priorities: " + ", ".join(lever for _, lever, _, _, _ in scored)
