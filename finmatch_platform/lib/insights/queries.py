"""Every SQL query the insight reports run, in one place, with the marts each one reads.

The steps never write SQL of their own: they call ``run(conn, "<name>")``. When a mart is
renamed or a column changes, this file is the one to adapt, and ``tables_for`` keeps the
assets' dependencies (dbt keys ``[model_name]``) in step with what the queries actually read.

All queries return aggregates only (counts, sums, averages, shares); none selects a customer
id or any other row-level attribute, so nothing they return can identify a person.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from .evidence import EvidenceError

MARTS_SCHEMA = "marts"

# Thresholds the queries band on. They are part of the figures' definitions (and so of the
# numbers a narrative may quote as constants); change them here only.
SATISFACTION_LOW_MAX = 4.0  # at or below: low satisfaction (the mart's needs-attention cut-off)
SATISFACTION_HIGH_MIN = 7.0  # at or above: high satisfaction
TRAVEL_SHARE_HIGH_MIN = 0.20  # a fifth of spend or more on Travel: a travel spender
TRAVEL_SHARE_MEDIUM_MIN = 0.05
CHURN_HIGH_MIN = 0.6  # the FPR engine's At Risk threshold, as in revenue_customer_engagement
TOP_PROPENSITY_DECILES = 2  # prospects in deciles 1-2 of the credit-card propensity ranking


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    tables: tuple[str, ...]  # marts read, without the schema

    @property
    def source(self) -> str:
        return ", ".join(f"{MARTS_SCHEMA}.{t}" for t in self.tables)


def _q(name: str, sql: str) -> Query:
    tables = tuple(dict.fromkeys(re.findall(rf"\b{MARTS_SCHEMA}\.([a-z_][a-z0-9_]*)", sql)))
    return Query(name=name, sql=sql.strip(), tables=tables)


QUERIES: dict[str, Query] = {
    q.name: q
    for q in [
        # --- data context -----------------------------------------------------------------
        _q(
            "data_window",
            f"""
            select
                (select min(transaction_date) from {MARTS_SCHEMA}.spend_daily_cumulative) as first_day,
                (select max(transaction_date) from {MARTS_SCHEMA}.spend_daily_cumulative) as last_day,
                (select count(*) from {MARTS_SCHEMA}.spend_daily_cumulative) as activity_days,
                (select min(recommendation_date) from {MARTS_SCHEMA}.recommendation_records) as first_recommendation_day,
                (select max(recommendation_date) from {MARTS_SCHEMA}.recommendation_records) as last_recommendation_day,
                (select count(*) from {MARTS_SCHEMA}.dim_customers) as customers,
                (select count(*) filter (where customer_status = 'Active') from {MARTS_SCHEMA}.dim_customers) as active_customers,
                (select count(*) from {MARTS_SCHEMA}.recommendation_records) as recommendations,
                (select coalesce(sum(transactions), 0) from {MARTS_SCHEMA}.spend_daily_cumulative) as transactions,
                (select coalesce(sum(spend_amount), 0) from {MARTS_SCHEMA}.spend_daily_cumulative) as spend_amount
            """,
        ),
        # --- recommendations ------------------------------------------------------------------
        _q(
            "recommendation_kpis",
            f"""
            select dimension, dimension_value, recommendations, customers, accepted, acceptance_rate,
                   avg_recommendation_score, avg_satisfaction_score, avg_churn_probability,
                   product_sales, product_sales_amount
            from {MARTS_SCHEMA}.recommendation_kpis
            order by dimension, recommendations desc, dimension_value
            """,
        ),
        _q(
            "recommendation_distributions",
            f"""
            select distribution, bucket, recommendations, customers, share
            from {MARTS_SCHEMA}.recommendation_distributions
            order by distribution, recommendations desc, bucket
            """,
        ),
        _q(
            "funnel",
            f"""
            select archetype, stage_order, stage, recommendations, customers,
                   conversion_from_previous, conversion_from_reached
            from {MARTS_SCHEMA}.campaign_funnel
            order by archetype, stage_order
            """,
        ),
        _q(
            "leads_by_archetype",
            f"""
            select archetype, customers, recommendations, accepted, acceptance_rate, sales, sales_amount,
                   share_of_customers
            from {MARTS_SCHEMA}.campaign_leads_by_archetype
            order by customers desc, archetype
            """,
        ),
        _q(
            "sales_by_product_type",
            f"""
            select product_type,
                   sum(recommendations) as recommendations,
                   sum(accepted) as accepted,
                   sum(accepted) / nullif(sum(recommendations), 0) as acceptance_rate,
                   sum(sales) as sales,
                   sum(sales_amount) as sales_amount,
                   sum(sales_amount) / nullif(sum(sales), 0) as avg_sale_amount
            from {MARTS_SCHEMA}.campaign_sales_by_product
            group by product_type
            order by sales_amount desc, product_type
            """,
        ),
        # --- customer health and churn (planted effect: churn rises as satisfaction falls) ----
        _q(
            "churn_by_satisfaction",
            f"""
            select
                case
                    when satisfaction_score <= {SATISFACTION_LOW_MAX} then 'Low'
                    when satisfaction_score < {SATISFACTION_HIGH_MIN} then 'Medium'
                    else 'High'
                end as satisfaction_band,
                count(*) as customers,
                avg(churn_probability) as avg_churn_probability,
                count(*) filter (where churn_probability >= {CHURN_HIGH_MIN}) as high_churn_customers,
                avg(satisfaction_score) as avg_satisfaction
            from {MARTS_SCHEMA}.recommendation_customer_health
            where satisfaction_score is not null and churn_probability is not null
            group by 1
            order by min(satisfaction_score)
            """,
        ),
        _q(
            "satisfaction_churn_correlation",
            f"""
            select corr(satisfaction_score, churn_probability) as correlation, count(*) as customers
            from {MARTS_SCHEMA}.recommendation_customer_health
            where satisfaction_score is not null and churn_probability is not null
            """,
        ),
        _q(
            "health_bands",
            f"""
            select health_band, count(*) as customers, avg(health_score) as avg_health_score,
                   avg(churn_probability) as avg_churn_probability
            from {MARTS_SCHEMA}.recommendation_customer_health
            group by health_band
            order by min(health_score) desc
            """,
        ),
        _q(
            "attention",
            f"""
            select
                (select count(*) from {MARTS_SCHEMA}.recommendation_customers_needing_attention) as customers,
                (select count(*) from {MARTS_SCHEMA}.recommendation_customer_health) as scored_customers,
                (select avg(churn_probability) from {MARTS_SCHEMA}.recommendation_customers_needing_attention) as avg_churn_probability,
                (select avg(satisfaction_score) from {MARTS_SCHEMA}.recommendation_customers_needing_attention) as avg_satisfaction,
                (select coalesce(sum(c.liquid_balance), 0)
                   from {MARTS_SCHEMA}.recommendation_customers_needing_attention a
                   join {MARTS_SCHEMA}.dim_customers c using (customer_id)) as liquid_balance,
                (select coalesce(sum(e.spend_30d), 0)
                   from {MARTS_SCHEMA}.recommendation_customers_needing_attention a
                   join {MARTS_SCHEMA}.revenue_customer_engagement e using (customer_id)) as spend_30d
            """,
        ),
        _q(
            "churn_risk",
            f"""
            select churn_risk,
                   count(*) as customers,
                   coalesce(sum(spend_30d), 0) as spend_30d,
                   avg(engagement_score) as avg_engagement_score,
                   count(*) filter (where engagement_band = 'Low') as low_engagement_customers
            from {MARTS_SCHEMA}.revenue_customer_engagement
            group by churn_risk
            order by case churn_risk when 'High' then 1 when 'Medium' then 2 when 'Low' then 3 else 4 end
            """,
        ),
        # --- cross-sell (planted effect: travel spenders accept card offers more often) -------
        _q(
            "card_acceptance_by_travel",
            f"""
            with offers as (
                select r.is_accepted, a.travel_share
                from {MARTS_SCHEMA}.recommendation_records r
                join {MARTS_SCHEMA}.campaign_customer_archetypes a using (customer_id)
                where r.product_type = 'Credit Card' and a.transactions > 0
            )
            select
                case
                    when travel_share >= {TRAVEL_SHARE_HIGH_MIN} then 'High'
                    when travel_share >= {TRAVEL_SHARE_MEDIUM_MIN} then 'Medium'
                    else 'Low'
                end as travel_band,
                count(*) as offers,
                count(*) filter (where is_accepted) as accepted,
                count(*) filter (where is_accepted) / count(*) as acceptance_rate,
                avg(travel_share) as avg_travel_share
            from offers
            group by 1
            order by min(travel_share)
            """,
        ),
        _q(
            "card_prospects",
            f"""
            select
                count(*) as scored_customers,
                count(*) filter (where not holds_credit_card) as prospects,
                count(*) filter (where not holds_credit_card and propensity_decile <= {TOP_PROPENSITY_DECILES}) as top_prospects,
                avg(propensity_score) filter (where not holds_credit_card and propensity_decile <= {TOP_PROPENSITY_DECILES}) as top_prospect_propensity,
                avg(travel_share) filter (where not holds_credit_card and propensity_decile <= {TOP_PROPENSITY_DECILES}) as top_prospect_travel_share,
                avg(travel_share) filter (where propensity_decile > {TOP_PROPENSITY_DECILES}) as other_travel_share
            from {MARTS_SCHEMA}.cross_sell_credit_card_propensity
            """,
        ),
        # --- spend ---------------------------------------------------------------------------
        _q(
            "spend_weekly",
            f"""
            select date_trunc('week', transaction_date)::date as week_start,
                   count(*) as days,
                   sum(transactions) as transactions,
                   sum(spend_amount) as spend_amount
            from {MARTS_SCHEMA}.spend_daily_cumulative
            group by 1
            order by 1
            """,
        ),
        _q(
            "spend_by_category",
            f"""
            select spend_category, transactions, customers, spend_amount, share_of_spend, most_used_payment_mode
            from {MARTS_SCHEMA}.campaign_transaction_reasons
            order by spend_amount desc, spend_category
            """,
        ),
        # --- fraud (planted effect: bursts of impossible travel after failed logins) --------
        _q(
            "fraud_daily",
            f"""
            select activity_date, transactions, impossible_travel_transactions, velocity_transactions,
                   amount_outlier_transactions, failure_burst_logins, alerted_customers, alerted_amount
            from {MARTS_SCHEMA}.fraud_signals_daily
            order by activity_date
            """,
        ),
        _q(
            "fraud_customer_days",
            f"""
            select
                count(*) as signal_days,
                count(*) filter (where is_alert) as alert_days,
                coalesce(sum(flagged_amount) filter (where is_alert), 0) as alerted_amount,
                count(*) filter (where impossible_travel_transactions > 0) as impossible_travel_days,
                count(*) filter (where impossible_travel_transactions > 0 and failure_burst_logins > 0)
                    as impossible_travel_days_with_failed_logins,
                count(*) filter (where impossible_travel_transactions = 0 and failure_burst_logins = 0 and is_alert)
                    as other_alert_days,
                coalesce(sum(flagged_amount) filter (where impossible_travel_transactions > 0), 0)
                    as impossible_travel_amount,
                coalesce(sum(impossible_travel_transactions), 0) as impossible_travel_transactions
            from {MARTS_SCHEMA}.fraud_customer_days
            """,
        ),
        _q(
            "fraud_customers",
            f"""
            select
                count(distinct customer_id) filter (where impossible_travel_transactions > 0) as impossible_travel_customers,
                count(distinct customer_id) filter (where is_alert) as alerted_customers
            from {MARTS_SCHEMA}.fraud_customer_days
            """,
        ),
        # --- revenue -------------------------------------------------------------------------
        _q(
            "revenue_monthly",
            f"""
            with days as (
                select date_trunc('month', transaction_date)::date as revenue_month, count(*) as activity_days
                from {MARTS_SCHEMA}.spend_daily_cumulative
                group by 1
            )
            select r.revenue_month,
                   any_value(d.activity_days) as activity_days,
                   sum(r.interchange_fees) as interchange_fees,
                   sum(r.loan_interest) as loan_interest,
                   sum(r.total_revenue) as total_revenue,
                   sum(r.card_spend) as card_spend
            from {MARTS_SCHEMA}.revenue_monthly_by_product r
            left join days d using (revenue_month)
            group by r.revenue_month
            order by r.revenue_month
            """,
        ),
        _q(
            "revenue_by_product_type",
            f"""
            select product_type,
                   sum(interchange_fees) as interchange_fees,
                   sum(loan_interest) as loan_interest,
                   sum(total_revenue) as total_revenue
            from {MARTS_SCHEMA}.revenue_monthly_by_product
            group by product_type
            order by total_revenue desc, product_type
            """,
        ),
    ]
}


def run(conn: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    """Rows of a named query as dicts of plain Python values."""
    query = QUERIES[name]
    try:
        cursor = conn.execute(query.sql)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.CatalogException as exc:
        raise EvidenceError(
            f"query {name!r} reads {query.source}, which the warehouse does not have ({_first_line(exc)}); "
            "build the dbt marts first"
        ) from None
    except duckdb.Error as exc:
        raise EvidenceError(f"query {name!r} over {query.source} failed: {_first_line(exc)}") from None
    return [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def one(conn: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    rows = run(conn, name)
    if len(rows) != 1:
        raise EvidenceError(f"query {name!r} returned {len(rows)} rows, expected one")
    return rows[0]


def tables_for(names: Iterable[str]) -> tuple[str, ...]:
    """The marts a set of queries reads, in first-use order."""
    seen: dict[str, None] = {}
    for name in names:
        for table in QUERIES[name].tables:
            seen.setdefault(table)
    return tuple(seen)


def table_row_counts(conn: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> Mapping[str, int | None]:
    """Rows per mart; None for a mart that does not exist."""
    existing = {
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = ?", [MARTS_SCHEMA]
        ).fetchall()
    }
    counts: dict[str, int | None] = {}
    for table in tables:
        if table in existing:
            counts[table] = int(conn.execute(f'select count(*) from {MARTS_SCHEMA}."{table}"').fetchone()[0])
        else:
            counts[table] = None
    return counts


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
