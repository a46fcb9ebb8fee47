"""Recommendation performance: overall KPIs, acceptance by dimension, the campaign funnel, archetypes."""

from __future__ import annotations

from typing import Any

from ..evidence import EvidenceError
from ..model import StepContext
from .common import index_by

FUNNEL_STAGES = ("Reached", "Explored", "Started Application", "Completed Application", "KYC", "Onboarded")


def overall_kpis(ctx: StepContext) -> dict[str, Any]:
    kpis = [r for r in ctx.rows("recommendation_kpis") if r["dimension"] == "overall"]
    if not kpis:
        raise EvidenceError("marts.recommendation_kpis has no overall row")
    row = kpis[0]
    n = row["recommendations"]
    ctx.add(
        "rec.recommendations",
        "Live recommendations",
        n,
        "count",
        "Live FPR recommendations counted in recommendation_kpis (overall).",
        n=n,
        query="recommendation_kpis",
    )
    ctx.add(
        "rec.customers",
        "Customers with a recommendation",
        row["customers"],
        "count",
        "Distinct customers holding at least one live recommendation.",
        n=n,
        query="recommendation_kpis",
    )
    ctx.add(
        "rec.acceptance_rate",
        "Acceptance rate",
        row["acceptance_rate"],
        "share",
        "Accepted recommendations / all live recommendations (decided or not), as in recommendation_kpis.",
        n=n,
        query="recommendation_kpis",
        headline=True,
    )
    ctx.add(
        "rec.accepted",
        "Accepted recommendations",
        row["accepted"],
        "count",
        "Recommendations whose latest status is Accepted.",
        n=n,
        query="recommendation_kpis",
    )
    ctx.add(
        "rec.avg_score",
        "Average recommendation score",
        row["avg_recommendation_score"],
        "score",
        "Mean FPR recommendation score (0 to 1) over live recommendations.",
        n=n,
        query="recommendation_kpis",
    )
    ctx.add(
        "rec.avg_satisfaction",
        "Average satisfaction score",
        row["avg_satisfaction_score"],
        "score",
        "Mean customer satisfaction (1 to 10) on live recommendations.",
        n=n,
        query="recommendation_kpis",
    )
    ctx.add(
        "rec.avg_churn",
        "Average churn probability",
        row["avg_churn_probability"],
        "share",
        "Mean FPR churn probability on live recommendations.",
        n=n,
        query="recommendation_kpis",
        headline=True,
    )
    ctx.add(
        "rec.sales_amount",
        "Sales from recommendations",
        row["product_sales_amount"],
        "inr",
        "Sum of product sales amounts booked on accepted recommendations (INR).",
        n=row["product_sales"],
        query="recommendation_kpis",
        headline=True,
    )
    return row


def dimension_acceptance(ctx: StepContext, dimension: str, label: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Acceptance by one recommendation_kpis dimension: a figure per value, best and worst, and a chart."""
    rows = [r for r in ctx.rows("recommendation_kpis") if r["dimension"] == dimension and r["recommendations"] > 0]
    if not rows:
        return None
    for row in rows:
        ctx.add(
            f"{dimension}.acceptance_rate.{row['dimension_value']}",
            f"Acceptance rate, {label} {row['dimension_value']}",
            row["acceptance_rate"],
            "share",
            f"Accepted / live recommendations for {label} {row['dimension_value']} (recommendation_kpis).",
            n=row["recommendations"],
            query="recommendation_kpis",
        )
    ranked = sorted(rows, key=lambda r: (-r["acceptance_rate"], r["dimension_value"]))
    ctx.chart(
        f"acceptance_by_{dimension}",
        f"Acceptance rate by {label}",
        "bar",
        "share",
        [r["dimension_value"] for r in ranked],
        [("acceptance rate", [r["acceptance_rate"] for r in ranked])],
        query="recommendation_kpis",
        note="Accepted / live recommendations.",
    )
    return ranked[0], ranked[-1]


def funnel(ctx: StepContext) -> dict[str, dict[str, Any]]:
    rows = [r for r in ctx.rows("funnel") if r["archetype"] == "All"]
    stages = index_by(rows, "stage")
    if not stages:
        return {}
    reached = stages.get("Reached", {}).get("recommendations") or 0
    for stage in FUNNEL_STAGES[1:]:
        row = stages.get(stage)
        if row is None:
            continue
        ctx.add(
            f"funnel.conversion.{stage}",
            f"Funnel conversion into {stage}",
            row["conversion_from_previous"],
            "share",
            f"Recommendations reaching {stage} / recommendations at the stage before (campaign_funnel, all archetypes).",
            n=reached,
            query="funnel",
        )
    ctx.add(
        "funnel.onboarded_rate",
        "Reached-to-onboarded conversion",
        stages.get("Onboarded", {}).get("conversion_from_reached"),
        "share",
        "Recommendations onboarded / recommendations reached (campaign_funnel, all archetypes).",
        n=reached,
        query="funnel",
    )
    steps = [s for s in FUNNEL_STAGES[1:] if s in stages and stages[s]["conversion_from_previous"] is not None]
    if steps:
        worst = min(steps, key=lambda s: (stages[s]["conversion_from_previous"], FUNNEL_STAGES.index(s)))
        ctx.evidence.context["largest_funnel_drop_stage"] = worst
        ctx.add(
            "funnel.largest_drop_conversion",
            f"Weakest funnel step: into {worst}",
            stages[worst]["conversion_from_previous"],
            "share",
            "The lowest stage-to-stage conversion of the campaign funnel.",
            n=reached,
            query="funnel",
        )
    order = [s for s in FUNNEL_STAGES if s in stages]
    ctx.chart(
        "funnel",
        "Campaign funnel (all archetypes)",
        "hbar",
        "count",
        order,
        [("recommendations", [stages[s]["recommendations"] for s in order])],
        query="funnel",
    )
    return stages


def archetypes(ctx: StepContext) -> None:
    rows = [r for r in ctx.rows("leads_by_archetype") if (r["recommendations"] or 0) > 0]
    for row in rows:
        ctx.add(
            f"archetype.acceptance_rate.{row['archetype']}",
            f"Acceptance rate, archetype {row['archetype']}",
            row["acceptance_rate"],
            "share",
            f"Accepted / recommendations of customers in the {row['archetype']} archetype (campaign_leads_by_archetype).",
            n=row["recommendations"],
            query="leads_by_archetype",
        )
    if rows:
        ranked = sorted(rows, key=lambda r: (-(r["acceptance_rate"] or 0), r["archetype"]))
        ctx.evidence.context["best_archetype"] = ranked[0]["archetype"]
        ctx.evidence.context["worst_archetype"] = ranked[-1]["archetype"]
        ctx.chart(
            "acceptance_by_archetype",
            "Acceptance rate by campaign archetype",
            "hbar",
            "share",
            [r["archetype"] for r in ranked],
            [("acceptance rate", [r["acceptance_rate"] for r in ranked])],
            query="leads_by_archetype",
        )
