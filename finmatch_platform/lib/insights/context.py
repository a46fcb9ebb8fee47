"""Step 1 of every report: check the marts it reads exist and hold data, and record the window covered."""

from __future__ import annotations

from . import queries as q
from .evidence import EvidenceError
from .model import StepContext

# Marts that must hold rows for any report: without customers, recommendations and activity
# there is nothing to explain. Other marts may be legitimately empty (no fraud alerts yet).
REQUIRED_NONEMPTY = ("dim_customers", "recommendation_records", "spend_daily_cumulative")


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
