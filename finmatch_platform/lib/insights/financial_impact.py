"""Financial Impact (what is it worth?): revenue, sales from recommendations and the value at stake per lever."""

from __future__ import annotations

from .evidence import format_value
from .evidence_builders import (
    attention,
    churn_risk,
    cross_sell_value,
    fraud_effect,
    overall_kpis,
    ratio,
    revenue,
    sales_by_type,
    value_of_acceptance_point,
)
from .model import StepContext


def measure_revenue(ctx: StepContext) -> str:
    months = revenue(ctx)
    types = ctx.rows("revenue_by_product_type")
    total = sum(r["total_revenue"] or 0 for r in types)
    for row in types:
        ctx.add(
            f"revenue.share.{row['product_type']}",
            f"Share of revenue from {row['product_type']} products",
            ratio(row["total_revenue"], total),
            "share",
            f"Revenue earned on {row['product_type']} products / all revenue.",
            n=len(months),
            query="revenue_by_product_type",
        )
    figure = ctx.evidence.find("revenue.total")
    return f"revenue {figure.display if figure else 'n/a'} over {len(months)} month(s)"


def measure_sales(ctx: StepContext) -> str:
    kpis = overall_kpis(ctx)
    sales_by_type(ctx)
    rows = [r for r in ctx.rows("leads_by_archetype") if (r["sales_amount"] or 0) > 0]
    for row in rows:
        ctx.add(
            f"archetype.sales_amount.{row['archetype']}",
            f"Sales value, archetype {row['archetype']}",
            row["sales_amount"],
            "inr",
            f"Sales amounts booked by customers in the {row['archetype']} archetype (INR).",
            n=row["sales"],
            query="leads_by_archetype",
        )
    if rows:
        best = max(rows, key=lambda r: (r["sales_amount"], r["archetype"]))
        ctx.evidence.context["top_sales_archetype"] = best["archetype"]
    return f"sales from recommendations {format_value(kpis['product_sales_amount'], 'inr')}"


def measure_value_at_stake(ctx: StepContext) -> str:
    kpis = overall_kpis(ctx)
    value_of_acceptance_point(ctx, kpis)
    cross_sell_value(ctx)
    attention(ctx)
    churn_risk(ctx)
    fraud_effect(ctx)
    items = [
        ("Card cross-sell (top prospects)", "value.cross_sell"),
        ("Balances of customers needing attention", "retention.needs_attention_balance"),
        ("30-day spend at high churn risk", "retention.high_churn_risk_spend_30d"),
        ("Amount on fraud alerts", "fraud.alerted_amount"),
        ("One more point of acceptance", "value.per_acceptance_point"),
    ]
    present = [(label, ctx.evidence.find(key)) for label, key in items]
    present = [(label, f) for label, f in present if f is not None and f.value is not None]
    ctx.chart(
        "value_at_stake",
        "Value at stake by lever",
        "hbar",
        "inr",
        [label for label, _ in present],
        [("INR", [f.value for _, f in present])],
        source="figures of this report (see their definitions)",
        note="Each bar has its own definition (see the evidence table); they are not additive.",
    )
    return f"{len(present)} value-at-stake measures"
