"""Column profiles in DuckDB, their history and drift (pure lib, DuckDB in memory)."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from finmatch_platform.lib import masking
from finmatch_platform.lib.profiling import (
    DriftThresholds,
    TableProfile,
    default_format_rules,
    drift,
    findings_markdown,
    load_profile,
    one_of,
    previous_profile,
    profile_table,
    regex,
    save_profile,
    sql_check,
    value_range,
)
from finmatch_platform_tests.helpers.masking import KEY, load_synthetic

T0 = dt.datetime(2026, 10, 1, 6, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 10, 2, 6, tzinfo=dt.UTC)


def _small(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame, name: str = "t") -> None:
    conn.execute("create schema if not exists masked")
    conn.register("_frame", frame)
    conn.execute(f"create or replace table masked.{name} as select * from _frame")
    conn.unregister("_frame")


def _frame(seed: int = 1, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(1000, 250, n)
    amount[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "count": rng.integers(0, 50, n).astype("int64"),
            "segment": rng.choice(["Urban", "Rural", "Semi-Urban"], n, p=[0.6, 0.3, 0.1]),
            "opened": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
            "score": rng.random(n),
        }
    )


def test_profile_stats_equal_pandas_on_a_small_table() -> None:
    conn = duckdb.connect()
    frame = _frame()
    _small(conn, frame)
    profile = profile_table(conn, "masked.t", pii_columns=())
    described = frame.describe(include="all")
    for column in ("amount", "count", "score"):
        stats = profile.column(column)
        series = frame[column]
        assert stats.count == described.loc["count", column]
        assert stats.nulls == series.isna().sum()
        assert stats.null_share == pytest.approx(series.isna().mean())
        assert stats.mean == pytest.approx(series.mean())
        assert stats.stddev == pytest.approx(series.std())
        assert stats.min == pytest.approx(series.min()) and stats.max == pytest.approx(series.max())
        for attr, q in (("p01", 0.01), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p99", 0.99)):
            assert getattr(stats, attr) == pytest.approx(series.quantile(q))
        assert stats.distinct == series.nunique() and stats.distinct_exact
        assert stats.distinct_share == pytest.approx(series.nunique() / series.count())
    segment = profile.column("segment")
    counts = frame["segment"].value_counts()
    assert segment.distinct == frame["segment"].nunique()
    assert segment.top_values[0].value == described.loc["top", "segment"] == counts.index[0]
    assert segment.top_values[0].count == described.loc["freq", "segment"]
    assert [t.count for t in segment.top_values] == counts.tolist()
    assert segment.top_values[0].share == pytest.approx(counts.iloc[0] / len(frame))
    opened = profile.column("opened")
    assert opened.kind == "temporal"
    assert opened.min == frame["opened"].min().isoformat() and opened.max == frame["opened"].max().isoformat()
    assert profile.rows == len(frame)


def test_format_rules_report_the_share_of_present_values_that_fail() -> None:
    conn = duckdb.connect()
    frame = pd.DataFrame(
        {
            "code": ["C000000001", "C12", None, "C000000004"],
            "score": [0.5, 1.5, -0.1, None],
            "kind": ["a", "b", "z", "a"],
            "day": pd.to_datetime(["2026-01-01", "2026-04-01", "2026-05-02", None]),
        }
    )
    _small(conn, frame)
    rules = {
        "code": regex(r"C\d{9}"),
        "score": value_range(0, 1),
        "kind": one_of(["a", "b"]),
        "day": sql_check("day({col}) = 1"),
        "not_a_column": regex("x"),
    }
    profile = profile_table(conn, "masked.t", rules, pii_columns=())
    assert profile.column("code").format_failures == 1
    assert profile.column("code").format_fail_share == pytest.approx(1 / 3)
    assert profile.column("score").format_failures == 2
    assert profile.column("kind").format_failures == 1
    assert profile.column("day").format_failures == 1
    assert set(profile.format_failures()) == {"code", "score", "kind", "day"}


def test_pii_columns_never_get_min_max_or_top_values() -> None:
    conn = duckdb.connect()
    _small(conn, pd.DataFrame({"email": ["a@x.in", "b@x.in", "a@x.in"], "dob": pd.to_datetime(["1990-01-02"] * 3)}))
    profile = profile_table(conn, "masked.t", pii_columns={"email", "dob"})
    for column in ("email", "dob"):
        stats = profile.column(column)
        assert stats.pii and stats.min is None and stats.max is None and stats.top_values == ()
        assert stats.count == 3 and stats.distinct == (2 if column == "email" else 1)


def test_pii_columns_default_to_the_policy_tags_of_the_profiled_table() -> None:
    conn = duckdb.connect()
    conn.execute("create schema raw")
    load_synthetic(conn, 20)
    # Even pointed at the raw table by mistake, tagged columns yield counts only.
    profile = profile_table(conn, "raw.customers")
    assert profile.column("email").pii and profile.column("email").min is None
    assert profile.column("first_name").top_values == ()
    assert profile.column("segment").top_values


def test_masked_customers_meet_their_default_format_rules() -> None:
    conn = duckdb.connect()
    for schema in ("raw", "masked"):
        conn.execute(f"create schema {schema}")
    load_synthetic(conn, 100)
    policy = masking.load_policy()
    masking.build_masked_customers(conn, policy, KEY)
    profile = profile_table(conn, "masked.customers", default_format_rules(policy, "customers"))
    assert profile.format_failures() == {}
    assert profile.column("email").format_rule.startswith("a tok_")
    assert profile.column("date_of_birth").format_rule == "the first day of a quarter"


def test_masked_fpr_records_meet_their_default_format_rules_with_either_id_shape_and_usage_as_text() -> None:
    conn = duckdb.connect()
    for schema in ("raw", "masked"):
        conn.execute(f"create schema {schema}")
    load_synthetic(conn, 100)
    # The vendor's documented shapes are as good as the simulator's.
    conn.execute(
        "update raw.fpr_records set record_id = '23f99867-3171-4769-9f4c-3c1a5b8e2d10', "
        "customer_id = 'CUST_000123' where record_id = 'FPR0000000001'"
    )
    policy = masking.load_policy()
    masking.build_masked_fpr(conn, policy, KEY)
    rules = default_format_rules(policy, "fpr_records")

    assert profile_table(conn, "masked.fpr_records", rules).format_failures() == {}

    conn.execute("update masked.fpr_records set customer_product_usage = 'n/a' where record_id = 'FPR0000000002'")
    conn.execute("update masked.fpr_records set customer_product_usage = '1.2' where record_id = 'FPR0000000003'")
    usage = profile_table(conn, "masked.fpr_records", rules).column("customer_product_usage")
    assert usage.format_failures == 2 and usage.format_rule == "a share in [0, 1] as decimal text"


def test_large_tables_use_approximate_distinct_counts() -> None:
    conn = duckdb.connect()
    _small(conn, _frame(n=300))
    profile = profile_table(conn, "masked.t", pii_columns=(), exact_distinct_max_rows=100)
    stats = profile.column("score")
    assert not stats.distinct_exact
    assert stats.distinct == pytest.approx(300, rel=0.05) and stats.distinct <= stats.count


def test_saved_profiles_round_trip_and_saving_twice_does_not_duplicate() -> None:
    conn = duckdb.connect()
    _small(conn, _frame())
    profile = profile_table(conn, "masked.t", {"score": value_range(0, 1)}, pii_columns=())
    stamped = save_profile(conn, profile, T0)
    save_profile(conn, profile, T0)
    rows = conn.execute("select count(*), count(distinct column_name) from meta.profile_history").fetchall()[0]
    assert rows == (5, 5)
    loaded = load_profile(conn, "masked.t")
    assert isinstance(loaded, TableProfile) and loaded.profiled_at == T0 == stamped.profiled_at
    assert loaded.columns == profile.columns
    amount = conn.execute(
        "select null_share, mean, p50, format_rule from meta.profile_history where column_name = 'amount'"
    ).fetchall()[0]
    assert amount[0] == pytest.approx(profile.column("amount").null_share)
    assert amount[1] == pytest.approx(profile.column("amount").mean)


def test_the_previous_profile_is_the_latest_one_before_a_time() -> None:
    conn = duckdb.connect()
    _small(conn, _frame())
    profile = profile_table(conn, "masked.t", pii_columns=())
    save_profile(conn, profile, T0)
    save_profile(conn, profile, T1)
    assert previous_profile(conn, "masked.t", T1).profiled_at == T0
    assert previous_profile(conn, "masked.t", T0) is None
    assert load_profile(conn, "masked.other") is None


def test_drift_flags_a_changed_null_share_and_mean() -> None:
    conn = duckdb.connect()
    frame = _frame()
    _small(conn, frame)
    before = profile_table(conn, "masked.t", pii_columns=())
    changed = frame.copy()
    changed.loc[changed.index[:120], "segment"] = None  # 30% nulls
    changed["amount"] = changed["amount"] * 1.5
    _small(conn, changed)
    after = profile_table(conn, "masked.t", pii_columns=())
    findings = drift(before, after)
    flagged = {(f.column, f.metric) for f in findings}
    assert ("segment", "null_share") in flagged
    assert ("amount", "mean") in flagged
    assert ("count", "mean") not in flagged and ("score", "mean") not in flagged
    mean = next(f for f in findings if f.metric == "mean")
    assert mean.change == pytest.approx(0.5, rel=1e-6) and mean.threshold == 0.10
    assert "amount" in findings_markdown(findings)


def test_drift_stays_quiet_within_thresholds_and_without_history() -> None:
    conn = duckdb.connect()
    frame = _frame()
    _small(conn, frame)
    before = profile_table(conn, "masked.t", pii_columns=())
    frame["amount"] = frame["amount"] * 1.05
    _small(conn, frame)
    after = profile_table(conn, "masked.t", pii_columns=())
    assert drift(before, after) == []
    assert drift(None, after) == []
    assert [f.metric for f in drift(before, after, DriftThresholds(mean_rel=0.01))] == ["mean"]


def test_drift_reports_added_and_removed_columns_and_a_mean_leaving_zero() -> None:
    conn = duckdb.connect()
    _small(conn, pd.DataFrame({"a": [0.0, 0.0], "gone": [1, 2]}))
    before = profile_table(conn, "masked.t", pii_columns=())
    _small(conn, pd.DataFrame({"a": [1.0, 1.0], "new": [1, 2]}))
    after = profile_table(conn, "masked.t", pii_columns=())
    by_metric = {f.metric: f for f in drift(before, after)}
    assert by_metric["column_added"].column == "new"
    assert by_metric["column_removed"].column == "gone"
    assert math.isinf(by_metric["mean"].change)
