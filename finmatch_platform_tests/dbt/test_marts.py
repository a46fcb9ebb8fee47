"""The dbt marts, built by the real dbt CLI on a real DuckDB file, answer what they promise.

One module-scoped warehouse: ten days of the real generator, raw.* loaded by the ingestion
loader, raw.fpr_records by the extraction engine (paging the API's own change-log store, without
the HTTP hop), masked.* by the masking library; then one ``dbt build``. The tests read the marts
and check them against the generator's ground truth (the planted effects) and against
independent pandas computations over the raw tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from finmatch_platform.resources.dbt import DBT_PROJECT_DIR
from finmatch_platform.simulator.generation import (
    customer_latents,
    fraud_bursts,
)
from finmatch_platform_tests.helpers.dbt import (
    SeededWarehouse,
    build_seeded_warehouse,
    run_dbt,
)

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- building a warehouse


# --------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class BuiltMarts:
    seeded: SeededWarehouse
    target: Path
    run_results: dict
    conn: duckdb.DuckDBPyConnection

    def df(self, sql: str) -> pd.DataFrame:
        return self.conn.sql(sql).df()


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltMarts]:
    root = tmp_path_factory.mktemp("dbt-marts")
    seeded = build_seeded_warehouse(root)
    results = run_dbt(seeded.path, root / "target", "build")
    conn = duckdb.connect(str(seeded.path), read_only=True)
    yield BuiltMarts(seeded, root / "target", results, conn)
    conn.close()


def _spearman(a: pd.Series, b: pd.Series) -> float:
    # pandas' method="spearman" needs scipy, which the platform does not depend on.
    return float(a.rank().corr(b.rank()))


def _raw_recommendations(marts: BuiltMarts) -> pd.DataFrame:
    """Live recommendations straight from raw.fpr_records: the independent side of the checks."""
    raw = marts.df("select * from raw.fpr_records")
    latest = raw.sort_values("updated_at").groupby("record_id").tail(1)
    return latest[~latest["_deleted"].fillna(False).astype(bool)]


# --------------------------------------------------------------------------- the build itself


def test_dbt_build_passes_every_model_and_every_test_without_warnings(marts: BuiltMarts) -> None:
    results = marts.run_results["results"]
    statuses = {r["unique_id"]: r["status"] for r in results}
    assert all(s in ("success", "pass") for s in statuses.values()), {
        k: v for k, v in statuses.items() if v not in ("success", "pass")
    }
    models = [k for k in statuses if k.startswith("model.")]
    tests = [k for k in statuses if k.startswith("test.")]
    assert len(models) >= 30 and len(tests) >= 150


def test_staging_reads_customer_pii_only_from_the_masked_schema(marts: BuiltMarts) -> None:
    manifest = json.loads((marts.target / "manifest.json").read_text())
    used_sources = {
        dep
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        for dep in node["depends_on"]["nodes"]
        if dep.startswith("source.")
    }
    assert "source.finmatch.masked.customers" in used_sources
    assert "source.finmatch.masked.fpr_records" in used_sources
    assert not {"source.finmatch.raw.customers", "source.finmatch.raw.fpr_records"} & used_sources
    columns = set(marts.df("describe staging.stg_masked__customers")["column_name"])
    assert not {"first_name", "last_name", "email", "mobile", "address_line1", "postcode", "date_of_birth"} & columns
    tokens = marts.df("select email_token from marts.dim_customers where email_token is not null limit 20")
    assert tokens["email_token"].str.startswith("tok_").all()


def test_tombstoned_recommendations_are_left_out_and_every_other_record_is_kept(marts: BuiltMarts) -> None:
    live = _raw_recommendations(marts)
    fct = marts.df("select record_id from marts.recommendation_records")
    assert set(fct["record_id"]) == set(live["record_id"])
    deleted = marts.df("select count(*) as n from raw.fpr_records where _deleted")["n"][0]
    assert deleted > 0, "the seeded feed should contain tombstones for this test to mean anything"


def test_the_city_seed_holds_the_generators_places_and_coordinates() -> None:
    from finmatch_platform.simulator.generation import reference

    seed = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "city_coordinates.csv").set_index("city")
    assert len(seed) == len(reference.CITIES)
    for city in reference.CITIES:
        row = seed.loc[city.name]
        assert (row["state"], row["latitude"], row["longitude"]) == (city.state, city.lat, city.lon)
        assert row["country"] == reference.COUNTRIES[city.country].name


# --------------------------------------------------------------------------- planted effects


def test_churn_falls_as_satisfaction_rises_and_the_attention_list_holds_the_unhappy_leavers(marts: BuiltMarts) -> None:
    health = marts.df("select * from marts.recommendation_customer_health")
    assert health["satisfaction_score"].corr(health["churn_probability"]) < -0.7
    attention = marts.df("select * from marts.recommendation_customers_needing_attention")
    assert len(attention) > 0
    others = health[~health["customer_id"].isin(attention["customer_id"])]
    assert attention["churn_probability"].mean() > others["churn_probability"].mean() + 0.3
    assert attention["satisfaction_score"].mean() < others["satisfaction_score"].mean() - 2
    assert attention["health_score"].max() < health["health_score"].median()
    # The generator's latent satisfaction drives both; the mart recovers it.
    latents = customer_latents(marts.seeded.config, marts.seeded.days[-1]).to_pandas()
    joined = health.merge(latents, on="customer_id", suffixes=("", "_latent"))
    assert joined["satisfaction_score"].corr(joined["satisfaction"]) > 0.9
    by_stage = marts.df(
        "select dimension_value, avg_churn_probability from marts.recommendation_kpis where dimension = 'lifecycle_stage'"
    )
    stage_churn = by_stage.set_index("dimension_value")["avg_churn_probability"]
    assert stage_churn["At Risk"] > stage_churn.drop("At Risk").max()


def test_travel_spenders_score_highest_for_a_card_and_accept_card_offers_more(marts: BuiltMarts) -> None:
    propensity = marts.df("select * from marts.cross_sell_credit_card_propensity")
    latents = customer_latents(marts.seeded.config, marts.seeded.days[-1]).to_pandas()
    scored = propensity.merge(latents, on="customer_id")
    # The travel latent shows through the spend history, and the score ranks on it.
    assert _spearman(scored["travel_share"], scored["travel_affinity"]) > 0.3
    assert _spearman(scored["propensity_score"], scored["travel_affinity"]) > 0.15
    cards = marts.df(
        "select customer_id, is_accepted from marts.recommendation_records "
        "where product_type = 'Credit Card' and recommendation_status in ('Accepted', 'Rejected', 'Expired')"
    ).merge(propensity[["customer_id", "propensity_score", "travel_share"]], on="customer_id")
    assert len(cards) >= 300 and cards["is_accepted"].sum() >= 100
    top = cards["propensity_score"] >= cards["propensity_score"].median()
    assert cards[top]["is_accepted"].mean() > 1.3 * cards[~top]["is_accepted"].mean()
    travellers = cards["travel_share"] > cards["travel_share"].median()
    assert cards[travellers]["is_accepted"].mean() > 1.5 * cards[~travellers]["is_accepted"].mean()


def test_every_planted_fraud_burst_raises_an_alert_and_alerts_are_mostly_bursts(marts: BuiltMarts) -> None:
    bursts = [b for day in marts.seeded.days for b in fraud_bursts(marts.seeded.config, day)]
    assert bursts
    alerts = marts.df("select customer_id, activity_date from marts.fraud_customer_days where is_alert")
    alerted = {(r.customer_id, r.activity_date.date()) for r in alerts.itertuples()}
    planted = {(b["customer_id"], b["window_start"].date()) for b in bursts}
    assert planted <= alerted
    assert len(alerted - planted) <= 0.1 * len(alerted)
    suspicious = set(
        marts.df("select transaction_id from marts.fraud_suspicious_transactions where is_impossible_travel")[
            "transaction_id"
        ]
    )
    anomalies = set(marts.df("select login_id from marts.fraud_login_anomalies where is_failure_burst")["login_id"])
    for burst in bursts:
        # every hop after the first payment is hundreds of km in minutes
        assert set(burst["transaction_ids"][1:]) <= suspicious
        # from the third failure on, the customer is in a burst of failures
        assert set(burst["failed_login_ids"][2:]) <= anomalies
    daily = marts.df("select sum(alerted_customers) as n from marts.fraud_signals_daily")
    assert daily["n"][0] == len(alerted)


# --------------------------------------------------------------------------- KPIs against pandas


def test_recommendation_kpis_equal_a_pandas_computation_over_the_raw_feed(marts: BuiltMarts) -> None:
    live = _raw_recommendations(marts)
    kpis = marts.df("select * from marts.recommendation_kpis").set_index("kpi_id")
    overall = kpis.loc["overall:All"]
    accepted = live["product_recommendation_status"] == "Accepted"
    assert overall["recommendations"] == len(live)
    assert overall["customers"] == live["customer_id"].nunique()
    assert overall["accepted"] == accepted.sum()
    assert overall["acceptance_rate"] == pytest.approx(accepted.mean())
    assert overall["avg_recommendation_score"] == pytest.approx(live["recommendation_score"].mean())
    assert overall["avg_satisfaction_score"] == pytest.approx(live["customer_satisfaction_score"].mean())
    assert overall["avg_churn_probability"] == pytest.approx(live["customer_churn_probability"].mean())
    assert overall["product_sales_amount"] == pytest.approx(live["product_sales_amount"].sum())
    for dimension, column in (
        ("segment", "customer_segment"),
        ("product_type", "product_type"),
        ("lifecycle_stage", "customer_lifecycle_stage"),
    ):
        expected = live.groupby(column).agg(
            n=("record_id", "size"),
            score=("recommendation_score", "mean"),
            rate=("product_recommendation_status", lambda s: (s == "Accepted").mean()),
        )
        for value, row in expected.iterrows():
            got = kpis.loc[f"{dimension}:{value}"]
            assert got["recommendations"] == row["n"]
            assert got["avg_recommendation_score"] == pytest.approx(row["score"])
            assert got["acceptance_rate"] == pytest.approx(row["rate"])
    statuses = marts.df(
        "select bucket, recommendations from marts.recommendation_distributions where distribution = 'recommendation_status'"
    )
    assert (
        statuses.set_index("bucket")["recommendations"].to_dict()
        == live["product_recommendation_status"].value_counts().to_dict()
    )


def _raw_card_payments(marts: BuiltMarts) -> pd.DataFrame:
    transactions = marts.df("select * from raw.transactions")
    accounts = marts.df("select account_id, account_type, product_id from raw.accounts")
    products = marts.df("select product_id, interchange_rate_pct from raw.products")
    merged = transactions.merge(accounts, on="account_id").merge(products, on="product_id", how="left")
    return merged[(merged["mode"] == "Card") & (merged["account_type"] == "Credit Card")]


def test_revenue_equals_interchange_and_loan_interest_computed_in_pandas(marts: BuiltMarts) -> None:
    cards = _raw_card_payments(marts)
    cards = cards.assign(
        month=cards["transaction_ts"].dt.tz_convert("UTC").dt.strftime("%Y-%m"),
        fee=cards["amount"] * cards["interchange_rate_pct"] / 100,
    )
    expected_fees = cards.groupby(["month", "product_id"])["fee"].sum()
    revenue = marts.df("select strftime(revenue_month, '%Y-%m') as month, * from marts.revenue_monthly_by_product")
    got_fees = revenue[revenue["interchange_fees"] > 0].set_index(["month", "product_id"])["interchange_fees"]
    pd.testing.assert_series_equal(got_fees.sort_index(), expected_fees.sort_index(), check_names=False)

    accounts = marts.df("select * from raw.accounts").merge(marts.df("select * from raw.products"), on="product_id")
    loans = accounts[(accounts["product_type"] == "Loan") & (accounts["status"] == "Open")]
    # Ten days in October: one month, and every loan in the book was open by its end.
    assert revenue["month"].unique().tolist() == ["2026-10"]
    expected_interest = (loans["balance"] * loans["interest_rate_pct"] / 100 / 12).groupby(loans["product_id"]).sum()
    got_interest = revenue[revenue["loan_interest"] > 0].set_index("product_id")["loan_interest"]
    pd.testing.assert_series_equal(got_interest.sort_index(), expected_interest.sort_index(), check_names=False)


def test_spend_marts_equal_pandas_sums_over_raw_transactions(marts: BuiltMarts) -> None:
    transactions = marts.df("select * from raw.transactions")
    transactions["day"] = transactions["transaction_ts"].dt.tz_convert("UTC").dt.date
    cumulative = marts.df("select * from marts.spend_daily_cumulative order by transaction_date")
    expected = transactions.groupby("day")["amount"].sum().cumsum()
    np.testing.assert_allclose(cumulative["cumulative_spend_amount"], expected.to_numpy())
    reasons = marts.df("select * from marts.campaign_transaction_reasons").set_index("spend_category")
    by_reason = transactions.groupby("reason")["amount"].agg(["sum", "size"])
    np.testing.assert_allclose(reasons.loc[by_reason.index, "spend_amount"], by_reason["sum"])
    assert (reasons.loc[by_reason.index, "transactions"] == by_reason["size"]).all()
    modes = marts.df(
        "select payment_mode, sum(transactions) as n from marts.campaign_transaction_modes_weekly group by 1"
    )
    assert modes.set_index("payment_mode")["n"].to_dict() == transactions["mode"].value_counts().to_dict()
    segments = marts.df("select spend_segment, count(*) as n from marts.spend_customer_segments group by 1").set_index(
        "spend_segment"
    )["n"]
    assert set(segments.index) == {"Low", "Medium", "High"} and segments.max() - segments.min() <= 1


def test_cross_sell_spend_features_equal_pandas_shares_per_customer(marts: BuiltMarts) -> None:
    transactions = marts.df("select customer_id, amount, reason, mode from raw.transactions")
    totals = transactions.groupby("customer_id")["amount"].sum()
    travel = transactions[transactions["reason"] == "Travel"].groupby("customer_id")["amount"].sum()
    card = transactions[transactions["mode"] == "Card"].groupby("customer_id")["amount"].sum()
    propensity = marts.df("select * from marts.cross_sell_credit_card_propensity").set_index("customer_id")
    ids = propensity.index
    np.testing.assert_allclose(propensity["travel_share"], (travel.reindex(ids, fill_value=0) / totals[ids]).to_numpy())
    np.testing.assert_allclose(propensity["card_share"], (card.reindex(ids, fill_value=0) / totals[ids]).to_numpy())
    assert propensity["propensity_rank"].sort_values().tolist() == list(range(1, len(propensity) + 1))
    assert propensity.sort_values("propensity_rank")["propensity_score"].is_monotonic_decreasing


def test_the_campaign_funnel_follows_its_documented_stage_rules(marts: BuiltMarts) -> None:
    live = _raw_recommendations(marts)
    customers = marts.df("select customer_id, customer_status, credit_score from marts.dim_customers")
    joined = live.merge(customers, on="customer_id", how="left")
    accepted = joined["product_recommendation_status"] == "Accepted"
    completed = accepted & joined["product_sales_date"].notna()
    kyc = completed & (joined["customer_status"] == "Active") & joined["credit_score"].notna()
    funnel = marts.df("select stage, recommendations from marts.campaign_funnel where archetype = 'All'").set_index(
        "stage"
    )["recommendations"]
    assert funnel["Reached"] == len(live)
    assert funnel["Explored"] == joined["product_recommendation_status"].isin(["Viewed", "Accepted", "Rejected"]).sum()
    assert funnel["Started Application"] == accepted.sum()
    assert funnel["Completed Application"] == completed.sum()
    assert funnel["KYC"] == kyc.sum()
    assert 0 < funnel["Onboarded"] <= funnel["KYC"]
    by_archetype = marts.df(
        "select archetype, stage, recommendations from marts.campaign_funnel where archetype <> 'All'"
    )
    summed = by_archetype.groupby("stage")["recommendations"].sum()
    assert (summed[funnel.index] == funnel).all()
    archetypes = set(marts.df("select distinct archetype from marts.campaign_customer_archetypes")["archetype"])
    assert {
        "Deal Chasers",
        "Financially Stressed",
        "Prosperous and Content",
        "Self Aware Avoiders",
        "Generic",
    } <= archetypes
