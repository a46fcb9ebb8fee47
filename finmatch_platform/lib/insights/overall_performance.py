"""Overall Performance (what is happening?): recommendations, segments, customer health, spend and fraud."""

from __future__ import annotations

from .evidence import format_value
from .evidence_builders import (
    churn_by_satisfaction,
    dimension_acceptance,
    fraud_effect,
    funnel,
    index_by,
    overall_kpis,
    ratio,
)
from .model import StepContext


def assess_recommendations(ctx: StepContext) -> str:
    row = overall_kpis(ctx)
    dist = [r for r in ctx.rows("recommendation_distributions") if r["distribution"] == "recommendation_status"]
    for r in dist:
        ctx.add(
            f"status.share.{r['bucket']}",
            f"Share of recommendations {r['bucket']}",
            r["share"],
            "share",
            f"Live recommendations whose latest status is {r['bucket']} / all live recommendations (recommendation_distributions).",
            n=row["recommendations"],
            query="recommendation_distributions",
        )
    ctx.chart(
        "status_distribution",
        "Recommendations by status",
        "bar",
        "count",
        [r["bucket"] for r in dist],
        [("recommendations", [r["recommendations"] for r in dist])],
        query="recommendation_distributions",
    )
    funnel(ctx)
    return (
        f"{row['recommendations']:,} live recommendations, acceptance {format_value(row['acceptance_rate'], 'share')}, "
        f"sales {format_value(row['product_sales_amount'], 'inr')}"
    )


def find_patterns(ctx: StepContext) -> str:
    found = []
    for dimension, label in (
        ("segment", "segment"),
        ("product_type", "product type"),
        ("lifecycle_stage", "lifecycle stage"),
    ):
        extremes = dimension_acceptance(ctx, dimension, label)
        if extremes:
            best, worst = extremes
            ctx.evidence.context[f"best_{dimension}"] = best["dimension_value"]
            ctx.evidence.context[f"worst_{dimension}"] = worst["dimension_value"]
            found.append(f"{label}: {best['dimension_value']} best, {worst['dimension_value']} worst")
    for distribution in ("lifecycle_stage", "affinity_band"):
        dist = [r for r in ctx.rows("recommendation_distributions") if r["distribution"] == distribution]
        for r in dist:
            ctx.add(
                f"{distribution}.share.{r['bucket']}",
                f"Share of recommendations, {distribution.replace('_', ' ')} {r['bucket']}",
                r["share"],
                "share",
                f"Live recommendations in {distribution.replace('_', ' ')} {r['bucket']} / all live recommendations.",
                n=sum(x["recommendations"] for x in dist),
                query="recommendation_distributions",
            )
        ctx.chart(
            f"{distribution}_distribution",
            f"Recommendations by {distribution.replace('_', ' ')}",
            "bar",
            "share",
            [r["bucket"] for r in dist],
            [("share", [r["share"] for r in dist])],
            query="recommendation_distributions",
        )
    return "; ".join(found) or "no breakdowns available"


def customer_and_transaction_patterns(ctx: StepContext) -> str:
    churn_by_satisfaction(ctx)
    bands = index_by(ctx.rows("health_bands"), "health_band")
    scored = sum(r["customers"] for r in bands.values())
    for band, row in bands.items():
        ctx.add(
            f"health.share.{band}",
            f"Share of customers in health band {band}",
            ratio(row["customers"], scored),
            "share",
            f"Customers in health band {band} / customers with a health score (recommendation_customer_health: Healthy 70+, Watch 40-70, Critical under 40).",
            n=scored,
            query="health_bands",
        )
    weeks = ctx.rows("spend_weekly")
    complete = [w for w in weeks if w["days"] == 7]
    if len(complete) >= 2:
        last, previous = complete[-1], complete[-2]
        ctx.evidence.context["latest_complete_week"] = last["week_start"]
        ctx.add(
            "spend.latest_week",
            "Spend in the latest complete week",
            last["spend_amount"],
            "inr",
            f"Customer spend in the week starting {last['week_start']} (Monday to Sunday, INR).",
            n=last["transactions"],
            query="spend_weekly",
        )
        ctx.add(
            "spend.week_on_week",
            "Week-on-week change in spend",
            ratio(last["spend_amount"], previous["spend_amount"]) - 1 if previous["spend_amount"] else None,
            "share",
            "Spend of the latest complete week / spend of the complete week before, minus one (partial weeks at the ends are left out).",
            n=last["transactions"] + previous["transactions"],
            query="spend_weekly",
        )
    ctx.chart(
        "spend_weekly",
        "Customer spend by week",
        "line",
        "inr",
        [w["week_start"] for w in weeks],
        [("spend", [w["spend_amount"] for w in weeks])],
        query="spend_weekly",
        note="Weeks start on Monday; the first and last weeks may be partial.",
    )
    categories = ctx.rows("spend_by_category")
    for row in categories:
        ctx.add(
            f"spend.share.{row['spend_category']}",
            f"Share of spend on {row['spend_category']}",
            row["share_of_spend"],
            "share",
            f"Spend on {row['spend_category']} / all spend (campaign_transaction_reasons).",
            n=row["transactions"],
            query="spend_by_category",
        )
    ctx.chart(
        "spend_by_category",
        "Share of spend by category",
        "hbar",
        "share",
        [r["spend_category"] for r in categories],
        [("share of spend", [r["share_of_spend"] for r in categories])],
        query="spend_by_category",
    )
    fraud_effect(ctx)
    churn = ctx.evidence.find("churn.gap_low_vs_high_satisfaction")
    fraud = ctx.evidence.find("fraud.impossible_travel_days")
    return (
        f"churn gap low vs high satisfaction {churn.display if churn else 'n/a'}; "
        f"{fraud.display if fraud else 0} impossible-travel customer-days"
    )
