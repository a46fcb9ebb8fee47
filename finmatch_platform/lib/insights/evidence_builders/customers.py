"""Customer health and risk: churn by satisfaction, the needs-attention list, churn risk, fraud signals."""

from __future__ import annotations

from .. import queries as q
from ..model import StepContext
from .common import index_by, ratio


def churn_by_satisfaction(ctx: StepContext) -> None:
    """Planted effect: churn probability rises as satisfaction falls."""
    bands = index_by(ctx.rows("churn_by_satisfaction"), "satisfaction_band")
    definitions = {
        "Low": f"satisfaction score {q.SATISFACTION_LOW_MAX:g} or below",
        "Medium": f"satisfaction above {q.SATISFACTION_LOW_MAX:g} and below {q.SATISFACTION_HIGH_MIN:g}",
        "High": f"satisfaction score {q.SATISFACTION_HIGH_MIN:g} or above",
    }
    for band in ("Low", "Medium", "High"):
        row = bands.get(band)
        if row is None:
            continue
        ctx.add(
            f"churn.avg.{band.lower()}_satisfaction",
            f"Average churn probability, {band.lower()} satisfaction",
            row["avg_churn_probability"],
            "share",
            f"Mean latest churn probability of customers with {definitions[band]} (recommendation_customer_health).",
            n=row["customers"],
            query="churn_by_satisfaction",
        )
        ctx.add(
            f"churn.customers.{band.lower()}_satisfaction",
            f"Customers with {band.lower()} satisfaction",
            row["customers"],
            "count",
            f"Customers in recommendation_customer_health with {definitions[band]}.",
            n=row["customers"],
            query="churn_by_satisfaction",
        )
    low, high = bands.get("Low"), bands.get("High")
    if low and high:
        ctx.add(
            "churn.gap_low_vs_high_satisfaction",
            "Churn gap, low vs high satisfaction",
            low["avg_churn_probability"] - high["avg_churn_probability"],
            "pp",
            "Average churn probability of low-satisfaction customers minus that of high-satisfaction customers.",
            n=low["customers"] + high["customers"],
            query="churn_by_satisfaction",
        )
        ctx.add(
            "churn.ratio_low_vs_high_satisfaction",
            "Churn multiple, low vs high satisfaction",
            ratio(low["avg_churn_probability"], high["avg_churn_probability"]),
            "ratio",
            "Average churn probability of low-satisfaction customers divided by that of high-satisfaction customers.",
            n=low["customers"] + high["customers"],
            query="churn_by_satisfaction",
        )
    corr = ctx.one("satisfaction_churn_correlation")
    ctx.add(
        "churn.satisfaction_customers",
        "Customers with a satisfaction score and churn probability",
        corr["customers"],
        "count",
        "Customers in recommendation_customer_health with both scores, the base of the correlation.",
        n=corr["customers"],
        query="satisfaction_churn_correlation",
    )
    ctx.add(
        "churn.satisfaction_correlation",
        "Correlation of satisfaction and churn probability",
        corr["correlation"],
        "number",
        "Pearson correlation between satisfaction score and churn probability across customers (negative: churn falls as satisfaction rises).",
        n=corr["customers"],
        query="satisfaction_churn_correlation",
    )
    order = [b for b in ("Low", "Medium", "High") if b in bands]
    ctx.chart(
        "churn_by_satisfaction",
        "Average churn probability by satisfaction band",
        "bar",
        "share",
        order,
        [("churn probability", [bands[b]["avg_churn_probability"] for b in order])],
        query="churn_by_satisfaction",
        note=f"Low: {definitions['Low']}; High: {definitions['High']}.",
    )


def attention(ctx: StepContext) -> None:
    row = ctx.one("attention")
    ctx.add(
        "retention.needs_attention",
        "Customers needing attention",
        row["customers"],
        "count",
        f"Customers with churn probability {q.CHURN_HIGH_MIN:g} or more and satisfaction {q.SATISFACTION_LOW_MAX:g} or below (recommendation_customers_needing_attention).",
        n=row["scored_customers"],
        query="attention",
        headline=True,
    )
    ctx.add(
        "retention.needs_attention_share",
        "Share of scored customers needing attention",
        ratio(row["customers"], row["scored_customers"]),
        "share",
        "Customers needing attention / customers with a health score.",
        n=row["scored_customers"],
        query="attention",
    )
    ctx.add(
        "retention.needs_attention_avg_churn",
        "Average churn probability of customers needing attention",
        row["avg_churn_probability"],
        "share",
        "Mean churn probability on the needs-attention list.",
        n=row["customers"],
        query="attention",
    )
    ctx.add(
        "retention.needs_attention_balance",
        "Liquid balances of customers needing attention",
        row["liquid_balance"],
        "inr",
        "Savings and current account balances held by customers on the needs-attention list (INR).",
        n=row["customers"],
        query="attention",
    )
    ctx.add(
        "retention.needs_attention_spend_30d",
        "30-day spend of customers needing attention",
        row["spend_30d"],
        "inr",
        "Spend in the last 30 days of activity by customers on the needs-attention list (INR).",
        n=row["customers"],
        query="attention",
    )


def churn_risk(ctx: StepContext) -> None:
    rows = index_by(ctx.rows("churn_risk"), "churn_risk")
    total = sum(r["customers"] for r in rows.values())
    total_spend = sum(r["spend_30d"] or 0 for r in rows.values())
    high = rows.get("High")
    if high:
        ctx.add(
            "retention.high_churn_risk_customers",
            "Customers at high churn risk",
            high["customers"],
            "count",
            f"Customers whose latest churn probability is {q.CHURN_HIGH_MIN:g} or more (revenue_customer_engagement).",
            n=total,
            query="churn_risk",
        )
        ctx.add(
            "retention.high_churn_risk_spend_30d",
            "30-day spend of customers at high churn risk",
            high["spend_30d"],
            "inr",
            "Spend in the last 30 days of activity by customers at high churn risk (INR).",
            n=high["customers"],
            query="churn_risk",
        )
        ctx.add(
            "retention.high_churn_risk_spend_share",
            "Share of 30-day spend from customers at high churn risk",
            ratio(high["spend_30d"], total_spend),
            "share",
            "30-day spend of high churn-risk customers / 30-day spend of all customers.",
            n=total,
            query="churn_risk",
        )
    order = [b for b in ("High", "Medium", "Low", "Unknown") if b in rows]
    ctx.chart(
        "customers_by_churn_risk",
        "Customers by churn risk",
        "bar",
        "count",
        order,
        [("customers", [rows[b]["customers"] for b in order])],
        query="churn_risk",
        note=f"High: churn probability {q.CHURN_HIGH_MIN:g} or more; Unknown: no recommendation yet.",
    )


def fraud_effect(ctx: StepContext) -> None:
    """Planted effect: fraud arrives as bursts of impossible travel after failed logins."""
    row = ctx.one("fraud_customer_days")
    it_days = row["impossible_travel_days"]
    ctx.add(
        "fraud.impossible_travel_days",
        "Customer-days with impossible travel",
        it_days,
        "count",
        "Customer-days with at least one payment further from the previous one than anyone could travel in between (fraud_customer_days).",
        n=row["signal_days"],
        query="fraud_customer_days",
        headline=True,
    )
    ctx.add(
        "fraud.impossible_travel_transactions",
        "Impossible-travel payments",
        row["impossible_travel_transactions"],
        "count",
        "Payments flagged as impossible travel.",
        n=row["signal_days"],
        query="fraud_customer_days",
    )
    ctx.add(
        "fraud.impossible_travel_with_failed_logins",
        "Impossible-travel days that follow a burst of failed logins",
        ratio(row["impossible_travel_days_with_failed_logins"], it_days),
        "share",
        "Share of impossible-travel customer-days on which the customer also had a burst of failed logins (3 or more within 30 minutes).",
        n=it_days,
        query="fraud_customer_days",
    )
    ctx.add(
        "fraud.alert_days",
        "Fraud alerts (customer-days)",
        row["alert_days"],
        "count",
        "Customer-days raising an alert: impossible travel, a failed-login burst, or two kinds of signal.",
        n=row["signal_days"],
        query="fraud_customer_days",
    )
    ctx.add(
        "fraud.alerted_amount",
        "Amount on alerted customer-days",
        row["alerted_amount"],
        "inr",
        "Sum of flagged payment amounts on alerted customer-days (INR).",
        n=row["alert_days"],
        query="fraud_customer_days",
    )
    ctx.add(
        "fraud.impossible_travel_amount",
        "Amount in impossible-travel bursts",
        row["impossible_travel_amount"],
        "inr",
        "Sum of flagged payment amounts on customer-days with impossible travel (INR).",
        n=it_days,
        query="fraud_customer_days",
    )
    daily = ctx.rows("fraud_daily")
    ctx.chart(
        "fraud_daily",
        "Fraud signals per day",
        "line",
        "count",
        [r["activity_date"] for r in daily],
        [
            ("impossible-travel payments", [r["impossible_travel_transactions"] for r in daily]),
            ("alerted customers", [r["alerted_customers"] for r in daily]),
        ],
        query="fraud_daily",
    )
