"""Money: the credit-card cross-sell, revenue, sales from recommendations and the value they put at stake."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import queries as q
from ..model import StepContext
from .common import index_by, ratio


def travel_card_effect(ctx: StepContext) -> None:
    """Planted effect: customers who spend on travel accept credit-card offers more often."""
    bands = index_by(ctx.rows("card_acceptance_by_travel"), "travel_band")
    definitions = {
        "Low": f"under {q.TRAVEL_SHARE_MEDIUM_MIN:.0%} of spend on Travel",
        "Medium": f"{q.TRAVEL_SHARE_MEDIUM_MIN:.0%} to under {q.TRAVEL_SHARE_HIGH_MIN:.0%} of spend on Travel",
        "High": f"{q.TRAVEL_SHARE_HIGH_MIN:.0%} or more of spend on Travel",
    }
    for band in ("Low", "Medium", "High"):
        row = bands.get(band)
        if row is None:
            continue
        ctx.add(
            f"cards.acceptance.{band.lower()}_travel",
            f"Credit-card offer acceptance, {band.lower()} travel spenders",
            row["acceptance_rate"],
            "share",
            f"Accepted / live credit-card recommendations to customers with {definitions[band]}.",
            n=row["offers"],
            query="card_acceptance_by_travel",
        )
        ctx.add(
            f"cards.offers.{band.lower()}_travel",
            f"Credit-card offers, {band.lower()} travel spenders",
            row["offers"],
            "count",
            f"Live credit-card recommendations to customers with {definitions[band]}.",
            n=row["offers"],
            query="card_acceptance_by_travel",
        )
    low, high = bands.get("Low"), bands.get("High")
    if low and high:
        ctx.add(
            "cards.acceptance_gap_high_vs_low_travel",
            "Card acceptance gap, high vs low travel spenders",
            high["acceptance_rate"] - low["acceptance_rate"],
            "pp",
            "Credit-card acceptance of high travel spenders minus that of low travel spenders.",
            n=high["offers"] + low["offers"],
            query="card_acceptance_by_travel",
        )
        ctx.add(
            "cards.acceptance_lift_high_vs_low_travel",
            "Card acceptance lift, high vs low travel spenders",
            ratio(high["acceptance_rate"], low["acceptance_rate"]),
            "ratio",
            "Credit-card acceptance of high travel spenders divided by that of low travel spenders.",
            n=high["offers"] + low["offers"],
            query="card_acceptance_by_travel",
        )
    order = [b for b in ("Low", "Medium", "High") if b in bands]
    ctx.chart(
        "card_acceptance_by_travel",
        "Credit-card offer acceptance by travel share of spend",
        "bar",
        "share",
        order,
        [("acceptance rate", [bands[b]["acceptance_rate"] for b in order])],
        query="card_acceptance_by_travel",
        note=f"Low: {definitions['Low']}; High: {definitions['High']}.",
    )


def card_prospects(ctx: StepContext) -> None:
    row = ctx.one("card_prospects")
    ctx.add(
        "cards.prospects",
        "Credit-card prospects",
        row["prospects"],
        "count",
        "Active adult spenders without a credit card, scored in cross_sell_credit_card_propensity.",
        n=row["scored_customers"],
        query="card_prospects",
    )
    ctx.add(
        "cards.top_prospects",
        "Top-decile credit-card prospects",
        row["top_prospects"],
        "count",
        f"Prospects without a card in propensity deciles 1 to {q.TOP_PROPENSITY_DECILES} (the top fifth of the ranking).",
        n=row["prospects"],
        query="card_prospects",
        headline=True,
    )
    ctx.add(
        "cards.top_prospect_propensity",
        "Average propensity of top prospects",
        row["top_prospect_propensity"],
        "share",
        "Mean credit-card propensity score of the top prospects.",
        n=row["top_prospects"],
        query="card_prospects",
    )
    ctx.add(
        "cards.top_prospect_travel_share",
        "Travel share of spend, top prospects",
        row["top_prospect_travel_share"],
        "share",
        "Mean share of spend on Travel among the top prospects.",
        n=row["top_prospects"],
        query="card_prospects",
    )
    ctx.add(
        "cards.other_travel_share",
        "Travel share of spend, rest of the ranking",
        row["other_travel_share"],
        "share",
        f"Mean share of spend on Travel of customers below propensity decile {q.TOP_PROPENSITY_DECILES}.",
        n=row["scored_customers"],
        query="card_prospects",
    )


def cross_sell_value(ctx: StepContext) -> None:
    travel_card_effect(ctx)
    card_prospects(ctx)
    prospects = ctx.evidence.find("cards.top_prospects")
    rate = ctx.evidence.find("cards.acceptance.high_travel")
    card_sale = index_by(ctx.rows("sales_by_product_type"), "product_type").get("Credit Card")
    expected = None if prospects is None or rate is None or rate.value is None else prospects.value * rate.value
    ctx.add(
        "value.cross_sell_expected_cards",
        "Expected new cards from one offer to each top prospect",
        expected,
        "number",
        "Top-decile prospects x credit-card acceptance rate of high travel spenders.",
        n=prospects.value if prospects else None,
        query="card_prospects",
    )
    avg_card = card_sale["avg_sale_amount"] if card_sale else None
    ctx.add(
        "value.cross_sell",
        "Card sales value within reach (top prospects)",
        None if expected is None or avg_card is None else expected * avg_card,
        "inr",
        "Expected new cards x average credit-card sale amount booked so far (INR).",
        n=prospects.value if prospects else None,
        query="sales_by_product_type",
    )


def revenue(ctx: StepContext) -> list[dict[str, Any]]:
    months = ctx.rows("revenue_monthly")
    total = sum(r["total_revenue"] or 0 for r in months)
    interchange = sum(r["interchange_fees"] or 0 for r in months)
    interest = sum(r["loan_interest"] or 0 for r in months)
    ctx.add(
        "revenue.total",
        "Revenue over the window",
        total,
        "inr",
        "Interchange fees plus estimated loan interest over every month covered (revenue_monthly_by_product, INR).",
        n=len(months),
        query="revenue_monthly",
        headline=True,
    )
    ctx.add(
        "revenue.interchange",
        "Interchange fees",
        interchange,
        "inr",
        "Card payments charged to credit cards x the card's interchange rate (INR).",
        n=len(months),
        query="revenue_monthly",
    )
    ctx.add(
        "revenue.loan_interest",
        "Loan interest",
        interest,
        "inr",
        "Open loans' balance x annual rate / 12 for each month open (INR, a monthly accrual estimate).",
        n=len(months),
        query="revenue_monthly",
    )
    ctx.add(
        "revenue.loan_interest_share",
        "Loan interest share of revenue",
        ratio(interest, total),
        "share",
        "Loan interest / total revenue over the window.",
        n=len(months),
        query="revenue_monthly",
    )
    if months:
        latest = months[-1]
        ctx.evidence.context["latest_revenue_month"] = str(latest["revenue_month"])[:7]
        ctx.add(
            "revenue.latest_month",
            "Revenue in the latest month",
            latest["total_revenue"],
            "inr",
            f"Revenue of the latest month in the data ({str(latest['revenue_month'])[:7]}), which covers {latest['activity_days']} days of activity (INR).",
            n=latest["activity_days"],
            query="revenue_monthly",
        )
        days = sum(r["activity_days"] or 0 for r in months)
        ctx.add(
            "revenue.interchange_per_day",
            "Interchange fees per day of activity",
            ratio(interchange, days),
            "inr",
            "Interchange fees / days of activity covered (INR per day).",
            n=days,
            query="revenue_monthly",
        )
    ctx.chart(
        "revenue_monthly",
        "Revenue by month",
        "bar",
        "inr",
        [str(r["revenue_month"])[:7] for r in months],
        [
            ("interchange fees", [r["interchange_fees"] for r in months]),
            ("loan interest", [r["loan_interest"] for r in months]),
        ],
        query="revenue_monthly",
        note="The latest month may be partial: interchange counts its days so far, loan interest a full month.",
    )
    return months


def sales_by_type(ctx: StepContext) -> dict[str, dict[str, Any]]:
    rows = ctx.rows("sales_by_product_type")
    for row in rows:
        ctx.add(
            f"sales.amount.{row['product_type']}",
            f"Sales value, {row['product_type']}",
            row["sales_amount"],
            "inr",
            f"Sum of sales amounts booked on accepted {row['product_type']} recommendations (INR).",
            n=row["sales"],
            query="sales_by_product_type",
        )
        ctx.add(
            f"sales.avg_sale.{row['product_type']}",
            f"Average sale, {row['product_type']}",
            row["avg_sale_amount"],
            "inr",
            f"Sales value / sales of {row['product_type']} products (INR).",
            n=row["sales"],
            query="sales_by_product_type",
        )
    ctx.chart(
        "sales_by_product_type",
        "Sales value from recommendations by product type",
        "hbar",
        "inr",
        [r["product_type"] for r in rows],
        [("sales value", [r["sales_amount"] for r in rows])],
        query="sales_by_product_type",
    )
    return index_by(rows, "product_type")


def value_of_acceptance_point(ctx: StepContext, kpis: Mapping[str, Any]) -> None:
    sales = kpis.get("product_sales") or 0
    avg_sale = ratio(kpis["product_sales_amount"], sales)
    ctx.add(
        "value.avg_sale",
        "Average sale from an accepted recommendation",
        avg_sale,
        "inr",
        "Sales from recommendations / accepted recommendations with a sale (INR).",
        n=sales,
        query="recommendation_kpis",
    )
    ctx.add(
        "value.per_acceptance_point",
        "Sales value of one more percentage point of acceptance",
        None if avg_sale is None else kpis["recommendations"] * 0.01 * avg_sale,
        "inr",
        "Live recommendations x 1 percentage point x average sale: what a one-point rise in the acceptance rate adds at today's volume and sale size (INR).",
        n=kpis["recommendations"],
        query="recommendation_kpis",
    )
