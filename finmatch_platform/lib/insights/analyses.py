"""The analyses behind the steps: queries turned into evidence.

Each public function here is one data step of a focus area (``steps.FOCUS_AREAS`` wires them):
it reads query results through the ``StepContext`` (every query runs at most once per report),
adds figures with their definitions and sample sizes, adds charts, and returns a one-line
summary for the run log. The private builders are shared between focus areas: the same figure
key always means the same number, so reports can be compared and the narrator can find it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import queries as q
from .evidence import EvidenceError, format_value

if TYPE_CHECKING:
    from .steps import StepContext

# Marts that must hold rows for any report: without customers, recommendations and activity
# there is nothing to explain. Other marts may be legitimately empty (no fraud alerts yet).
REQUIRED_NONEMPTY = ("dim_customers", "fct_recommendations", "spend_daily_cumulative")

FUNNEL_STAGES = ("Reached", "Explored", "Started Application", "Completed Application", "KYC", "Onboarded")


def _by(rows: Sequence[Mapping[str, Any]], column: str) -> dict[str, dict[str, Any]]:
    return {str(row[column]): dict(row) for row in rows}


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# --------------------------------------------------------------------------------------------
# Step 1 of every report: the data context
# --------------------------------------------------------------------------------------------


def load_context(ctx: StepContext) -> str:
    counts = q.table_row_counts(ctx.conn, ctx.focus.tables)
    missing = sorted(t for t, n in counts.items() if n is None)
    if missing:
        raise EvidenceError(
            f"the {ctx.focus.title} report reads marts that do not exist yet: "
            f"{', '.join(f'{q.MARTS_SCHEMA}.{t}' for t in missing)}; materialize the dbt marts first"
        )
    empty_required = [t for t in REQUIRED_NONEMPTY if counts.get(t) == 0]
    if empty_required:
        raise EvidenceError(
            f"{', '.join(f'{q.MARTS_SCHEMA}.{t}' for t in empty_required)} "
            f"{'is' if len(empty_required) == 1 else 'are'} empty: load source data and rebuild the marts"
        )
    window = ctx.one("data_window")
    ev = ctx.evidence
    ev.context.update(
        {
            "first_day": window["first_day"],
            "last_day": window["last_day"],
            "first_recommendation_day": window["first_recommendation_day"],
            "last_recommendation_day": window["last_recommendation_day"],
            "marts": {f"{q.MARTS_SCHEMA}.{t}": n for t, n in counts.items()},
            "empty_marts": sorted(f"{q.MARTS_SCHEMA}.{t}" for t, n in counts.items() if n == 0),
        }
    )
    ctx.add(
        "context.activity_days",
        "Days of activity covered",
        window["activity_days"],
        "days",
        "Distinct days with transactions in the warehouse (first to latest).",
        n=window["activity_days"],
        query="data_window",
    )
    ctx.add(
        "context.customers",
        "Customers in the book",
        window["customers"],
        "count",
        "Customers in dim_customers (latest masked KYC version).",
        n=window["customers"],
        query="data_window",
    )
    ctx.add(
        "context.active_customers",
        "Active customers",
        window["active_customers"],
        "count",
        "Customers whose KYC status is Active.",
        n=window["customers"],
        query="data_window",
    )
    ctx.add(
        "context.recommendations",
        "Live recommendations",
        window["recommendations"],
        "count",
        "Live FPR recommendations (latest state, deleted ones excluded).",
        n=window["recommendations"],
        query="data_window",
    )
    ctx.add(
        "context.transactions",
        "Transactions",
        window["transactions"],
        "count",
        "Transactions over the days covered.",
        n=window["transactions"],
        query="data_window",
    )
    ctx.add(
        "context.spend_amount",
        "Customer spend",
        window["spend_amount"],
        "inr",
        "Sum of transaction amounts over the days covered (INR).",
        n=window["transactions"],
        query="data_window",
    )
    empty = ev.context["empty_marts"]
    return (
        f"{len(counts)} marts present{f' ({len(empty)} empty: ' + ', '.join(empty) + ')' if empty else ''}; "
        f"data {window['first_day']} to {window['last_day']} ({window['activity_days']} days), "
        f"{window['customers']:,} customers, {window['recommendations']:,} recommendations"
    )


# --------------------------------------------------------------------------------------------
# Shared evidence builders
# --------------------------------------------------------------------------------------------


def _overall_kpis(ctx: StepContext) -> dict[str, Any]:
    kpis = [r for r in ctx.rows("rec_kpis") if r["dimension"] == "overall"]
    if not kpis:
        raise EvidenceError("marts.rec_kpis has no overall row")
    row = kpis[0]
    n = row["recommendations"]
    ctx.add(
        "rec.recommendations",
        "Live recommendations",
        n,
        "count",
        "Live FPR recommendations counted in rec_kpis (overall).",
        n=n,
        query="rec_kpis",
    )
    ctx.add(
        "rec.customers",
        "Customers with a recommendation",
        row["customers"],
        "count",
        "Distinct customers holding at least one live recommendation.",
        n=n,
        query="rec_kpis",
    )
    ctx.add(
        "rec.acceptance_rate",
        "Acceptance rate",
        row["acceptance_rate"],
        "share",
        "Accepted recommendations / all live recommendations (decided or not), as in rec_kpis.",
        n=n,
        query="rec_kpis",
        headline=True,
    )
    ctx.add(
        "rec.accepted",
        "Accepted recommendations",
        row["accepted"],
        "count",
        "Recommendations whose latest status is Accepted.",
        n=n,
        query="rec_kpis",
    )
    ctx.add(
        "rec.avg_score",
        "Average recommendation score",
        row["avg_recommendation_score"],
        "score",
        "Mean FPR recommendation score (0 to 1) over live recommendations.",
        n=n,
        query="rec_kpis",
    )
    ctx.add(
        "rec.avg_satisfaction",
        "Average satisfaction score",
        row["avg_satisfaction_score"],
        "score",
        "Mean customer satisfaction (1 to 10) on live recommendations.",
        n=n,
        query="rec_kpis",
    )
    ctx.add(
        "rec.avg_churn",
        "Average churn probability",
        row["avg_churn_probability"],
        "share",
        "Mean FPR churn probability on live recommendations.",
        n=n,
        query="rec_kpis",
        headline=True,
    )
    ctx.add(
        "rec.sales_amount",
        "Sales from recommendations",
        row["product_sales_amount"],
        "inr",
        "Sum of product sales amounts booked on accepted recommendations (INR).",
        n=row["product_sales"],
        query="rec_kpis",
        headline=True,
    )
    return row


def _dimension_acceptance(ctx: StepContext, dimension: str, label: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Acceptance by one rec_kpis dimension: a figure per value, best and worst, and a chart."""
    rows = [r for r in ctx.rows("rec_kpis") if r["dimension"] == dimension and r["recommendations"] > 0]
    if not rows:
        return None
    for row in rows:
        ctx.add(
            f"{dimension}.acceptance_rate.{row['dimension_value']}",
            f"Acceptance rate, {label} {row['dimension_value']}",
            row["acceptance_rate"],
            "share",
            f"Accepted / live recommendations for {label} {row['dimension_value']} (rec_kpis).",
            n=row["recommendations"],
            query="rec_kpis",
        )
    ranked = sorted(rows, key=lambda r: (-r["acceptance_rate"], r["dimension_value"]))
    ctx.chart(
        f"acceptance_by_{dimension}",
        f"Acceptance rate by {label}",
        "bar",
        "share",
        [r["dimension_value"] for r in ranked],
        [("acceptance rate", [r["acceptance_rate"] for r in ranked])],
        query="rec_kpis",
        note="Accepted / live recommendations.",
    )
    return ranked[0], ranked[-1]


def _churn_by_satisfaction(ctx: StepContext) -> None:
    """Planted effect: churn probability rises as satisfaction falls."""
    bands = _by(ctx.rows("churn_by_satisfaction"), "satisfaction_band")
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
            f"Mean latest churn probability of customers with {definitions[band]} (customer_health).",
            n=row["customers"],
            query="churn_by_satisfaction",
        )
        ctx.add(
            f"churn.customers.{band.lower()}_satisfaction",
            f"Customers with {band.lower()} satisfaction",
            row["customers"],
            "count",
            f"Customers in customer_health with {definitions[band]}.",
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
            _ratio(low["avg_churn_probability"], high["avg_churn_probability"]),
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
        "Customers in customer_health with both scores, the base of the correlation.",
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


def _travel_card_effect(ctx: StepContext) -> None:
    """Planted effect: customers who spend on travel accept credit-card offers more often."""
    bands = _by(ctx.rows("card_acceptance_by_travel"), "travel_band")
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
            _ratio(high["acceptance_rate"], low["acceptance_rate"]),
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


def _card_prospects(ctx: StepContext) -> None:
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


def _fraud_effect(ctx: StepContext) -> None:
    """Planted effect: fraud arrives as bursts of impossible travel after failed logins."""
    row = ctx.one("fraud_customer_days")
    it_days = row["impossible_travel_days"]
    ctx.add(
        "fraud.impossible_travel_days",
        "Customer-days with impossible travel",
        it_days,
        "count",
        "Customer-days with at least one payment further from the previous one than anyone could travel in between (fct_fraud_customer_days).",
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
        _ratio(row["impossible_travel_days_with_failed_logins"], it_days),
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


def _funnel(ctx: StepContext) -> dict[str, dict[str, Any]]:
    rows = [r for r in ctx.rows("funnel") if r["archetype"] == "All"]
    stages = _by(rows, "stage")
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


def _archetypes(ctx: StepContext) -> None:
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


def _attention(ctx: StepContext) -> None:
    row = ctx.one("attention")
    ctx.add(
        "retention.needs_attention",
        "Customers needing attention",
        row["customers"],
        "count",
        f"Customers with churn probability {q.CHURN_HIGH_MIN:g} or more and satisfaction {q.SATISFACTION_LOW_MAX:g} or below (customers_needing_attention).",
        n=row["scored_customers"],
        query="attention",
        headline=True,
    )
    ctx.add(
        "retention.needs_attention_share",
        "Share of scored customers needing attention",
        _ratio(row["customers"], row["scored_customers"]),
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


def _churn_risk(ctx: StepContext) -> None:
    rows = _by(ctx.rows("churn_risk"), "churn_risk")
    total = sum(r["customers"] for r in rows.values())
    total_spend = sum(r["spend_30d"] or 0 for r in rows.values())
    high = rows.get("High")
    if high:
        ctx.add(
            "retention.high_churn_risk_customers",
            "Customers at high churn risk",
            high["customers"],
            "count",
            f"Customers whose latest churn probability is {q.CHURN_HIGH_MIN:g} or more (customer_engagement).",
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
            _ratio(high["spend_30d"], total_spend),
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


def _revenue(ctx: StepContext) -> list[dict[str, Any]]:
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
        _ratio(interest, total),
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
            _ratio(interchange, days),
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


def _sales_by_type(ctx: StepContext) -> dict[str, dict[str, Any]]:
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
    return _by(rows, "product_type")


# --------------------------------------------------------------------------------------------
# Overall Performance
# --------------------------------------------------------------------------------------------


def assess_recommendations(ctx: StepContext) -> str:
    row = _overall_kpis(ctx)
    dist = [r for r in ctx.rows("rec_distributions") if r["distribution"] == "recommendation_status"]
    for r in dist:
        ctx.add(
            f"status.share.{r['bucket']}",
            f"Share of recommendations {r['bucket']}",
            r["share"],
            "share",
            f"Live recommendations whose latest status is {r['bucket']} / all live recommendations (rec_distributions).",
            n=row["recommendations"],
            query="rec_distributions",
        )
    ctx.chart(
        "status_distribution",
        "Recommendations by status",
        "bar",
        "count",
        [r["bucket"] for r in dist],
        [("recommendations", [r["recommendations"] for r in dist])],
        query="rec_distributions",
    )
    _funnel(ctx)
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
        extremes = _dimension_acceptance(ctx, dimension, label)
        if extremes:
            best, worst = extremes
            ctx.evidence.context[f"best_{dimension}"] = best["dimension_value"]
            ctx.evidence.context[f"worst_{dimension}"] = worst["dimension_value"]
            found.append(f"{label}: {best['dimension_value']} best, {worst['dimension_value']} worst")
    for distribution in ("lifecycle_stage", "affinity_band"):
        dist = [r for r in ctx.rows("rec_distributions") if r["distribution"] == distribution]
        for r in dist:
            ctx.add(
                f"{distribution}.share.{r['bucket']}",
                f"Share of recommendations, {distribution.replace('_', ' ')} {r['bucket']}",
                r["share"],
                "share",
                f"Live recommendations in {distribution.replace('_', ' ')} {r['bucket']} / all live recommendations.",
                n=sum(x["recommendations"] for x in dist),
                query="rec_distributions",
            )
        ctx.chart(
            f"{distribution}_distribution",
            f"Recommendations by {distribution.replace('_', ' ')}",
            "bar",
            "share",
            [r["bucket"] for r in dist],
            [("share", [r["share"] for r in dist])],
            query="rec_distributions",
        )
    return "; ".join(found) or "no breakdowns available"


def customer_and_transaction_patterns(ctx: StepContext) -> str:
    _churn_by_satisfaction(ctx)
    bands = _by(ctx.rows("health_bands"), "health_band")
    scored = sum(r["customers"] for r in bands.values())
    for band, row in bands.items():
        ctx.add(
            f"health.share.{band}",
            f"Share of customers in health band {band}",
            _ratio(row["customers"], scored),
            "share",
            f"Customers in health band {band} / customers with a health score (customer_health: Healthy 70+, Watch 40-70, Critical under 40).",
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
            _ratio(last["spend_amount"], previous["spend_amount"]) - 1 if previous["spend_amount"] else None,
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
    _fraud_effect(ctx)
    churn = ctx.evidence.find("churn.gap_low_vs_high_satisfaction")
    fraud = ctx.evidence.find("fraud.impossible_travel_days")
    return (
        f"churn gap low vs high satisfaction {churn.display if churn else 'n/a'}; "
        f"{fraud.display if fraud else 0} impossible-travel customer-days"
    )


# --------------------------------------------------------------------------------------------
# Optimization Opportunities
# --------------------------------------------------------------------------------------------


def find_conversion_gaps(ctx: StepContext) -> str:
    _overall_kpis(ctx)
    stages = _funnel(ctx)
    _archetypes(ctx)
    extremes = _dimension_acceptance(ctx, "product_type", "product type")
    if extremes:
        ctx.evidence.context["best_product_type"] = extremes[0]["dimension_value"]
        ctx.evidence.context["worst_product_type"] = extremes[1]["dimension_value"]
    worst = ctx.evidence.context.get("largest_funnel_drop_stage")
    return f"weakest funnel step into {worst}" if stages and worst else "no funnel data"


def find_cross_sell_targets(ctx: StepContext) -> str:
    _travel_card_effect(ctx)
    _card_prospects(ctx)
    lift = ctx.evidence.find("cards.acceptance_lift_high_vs_low_travel")
    top = ctx.evidence.find("cards.top_prospects")
    return f"travel spenders accept card offers {lift.display if lift else 'n/a'} as often; {top.display if top else 0} top prospects"


def find_retention_targets(ctx: StepContext) -> str:
    _churn_by_satisfaction(ctx)
    _attention(ctx)
    _churn_risk(ctx)
    _dimension_acceptance(ctx, "lifecycle_stage", "lifecycle stage")
    n = ctx.evidence.find("retention.needs_attention")
    return f"{n.display if n else 0} customers need attention"


# --------------------------------------------------------------------------------------------
# Financial Impact
# --------------------------------------------------------------------------------------------


def measure_revenue(ctx: StepContext) -> str:
    months = _revenue(ctx)
    types = ctx.rows("revenue_by_product_type")
    total = sum(r["total_revenue"] or 0 for r in types)
    for row in types:
        ctx.add(
            f"revenue.share.{row['product_type']}",
            f"Share of revenue from {row['product_type']} products",
            _ratio(row["total_revenue"], total),
            "share",
            f"Revenue earned on {row['product_type']} products / all revenue.",
            n=len(months),
            query="revenue_by_product_type",
        )
    figure = ctx.evidence.find("revenue.total")
    return f"revenue {figure.display if figure else 'n/a'} over {len(months)} month(s)"


def measure_sales(ctx: StepContext) -> str:
    kpis = _overall_kpis(ctx)
    _sales_by_type(ctx)
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


def _value_of_acceptance_point(ctx: StepContext, kpis: Mapping[str, Any]) -> None:
    sales = kpis.get("product_sales") or 0
    avg_sale = _ratio(kpis["product_sales_amount"], sales)
    ctx.add(
        "value.avg_sale",
        "Average sale from an accepted recommendation",
        avg_sale,
        "inr",
        "Sales from recommendations / accepted recommendations with a sale (INR).",
        n=sales,
        query="rec_kpis",
    )
    ctx.add(
        "value.per_acceptance_point",
        "Sales value of one more percentage point of acceptance",
        None if avg_sale is None else kpis["recommendations"] * 0.01 * avg_sale,
        "inr",
        "Live recommendations x 1 percentage point x average sale: what a one-point rise in the acceptance rate adds at today's volume and sale size (INR).",
        n=kpis["recommendations"],
        query="rec_kpis",
    )


def _cross_sell_value(ctx: StepContext) -> None:
    _travel_card_effect(ctx)
    _card_prospects(ctx)
    prospects = ctx.evidence.find("cards.top_prospects")
    rate = ctx.evidence.find("cards.acceptance.high_travel")
    card_sale = _by(ctx.rows("sales_by_product_type"), "product_type").get("Credit Card")
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


def measure_value_at_stake(ctx: StepContext) -> str:
    kpis = _overall_kpis(ctx)
    _value_of_acceptance_point(ctx, kpis)
    _cross_sell_value(ctx)
    _attention(ctx)
    _churn_risk(ctx)
    _fraud_effect(ctx)
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


# --------------------------------------------------------------------------------------------
# Strategic Recommendations
# --------------------------------------------------------------------------------------------

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
    kpis = _overall_kpis(ctx)
    _revenue(ctx)
    return f"acceptance {format_value(kpis['acceptance_rate'], 'share')} on {kpis['recommendations']:,} recommendations"


def quantify_levers(ctx: StepContext) -> str:
    kpis = _overall_kpis(ctx)
    _cross_sell_value(ctx)
    _churn_by_satisfaction(ctx)
    _attention(ctx)
    _fraud_effect(ctx)
    _funnel(ctx)
    _value_of_acceptance_point(ctx, kpis)
    _archetypes(ctx)
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
    stages = _by([r for r in ctx.rows("funnel") if r["archetype"] == "All"], "stage")
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
        per_head = _ratio(float(value.value), float(reach.value)) if reach is not None and reach.value else None
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
