"""Validation rules on raw customers and FPR records, quarantine, and the check -> quarantine ->
mask order (pure lib, DuckDB in memory)."""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from finmatch_platform.lib import masking, quality
from finmatch_platform.lib.quality import (
    BLOCKING,
    CUSTOMER_RULES,
    FPR_RULES,
    gate_and_mask_customers,
    gate_and_mask_fpr,
    quarantine_failures,
    run_rules,
)
from finmatch_platform_tests.helpers.masking import KEY, load_generated, load_synthetic

ID = re.compile(r"(C\d{9}|FPR\d{10}|\(missing\))")


@pytest.fixture(scope="module")
def policy() -> masking.Policy:
    return masking.load_policy()


@pytest.fixture()
def conn() -> duckdb.DuckDBPyConnection:
    """Clean raw.customers (two versions for some customers) and raw.fpr_records, built here."""
    connection = duckdb.connect()
    for schema in ("raw", "meta", "masked"):
        connection.execute(f"create schema {schema}")
    load_synthetic(connection, 60)
    return connection


def _by_name(results: list[quality.RuleResult]) -> dict[str, quality.RuleResult]:
    return {r.rule: r for r in results}


def _latest(customer: str) -> str:
    """SQL condition selecting a customer's newest version in raw.customers."""
    return (
        f"customer_id = '{customer}' and modified_at = "
        f"(select max(modified_at) from raw.customers where customer_id = '{customer}')"
    )


# --- clean data passes ---------------------------------------------------------------------------


def test_every_rule_passes_on_clean_data(conn) -> None:
    failing = [r.rule for r in run_rules(conn, CUSTOMER_RULES) + run_rules(conn, FPR_RULES) if not r.passed]
    assert failing == []


def test_customer_rules_check_only_the_newest_version_of_each_customer(conn) -> None:
    # An old version with a bad email is history, not a defect of the customer.
    conn.execute(
        "update raw.customers set email = 'broken' where customer_id = 'C000000004' and _landed_date = date '2026-10-01'"
    )
    results = _by_name(run_rules(conn, CUSTOMER_RULES))
    assert results["email_format"].passed
    assert results["email_format"].checked_rows == 60


def test_tombstones_are_not_checked(conn) -> None:
    results = _by_name(run_rules(conn, FPR_RULES))
    live = conn.execute("select count(*) from raw.fpr_records where not _deleted").fetchall()[0][0]
    assert results["record_id_present_and_unique"].checked_rows == live


# --- each rule fails on its defect -------------------------------------------------------------------

CUSTOMER_DEFECTS = (
    [
        (
            "customer_id_valid",
            "invalid",
            "update raw.customers set customer_id = 'C12' where customer_id = 'C000000007'",
            "C12",
        ),
        (
            "customer_id_valid",
            "missing",
            "update raw.customers set customer_id = null where customer_id = 'C000000007'",
            "(missing)",
        ),
        (
            "customer_id_valid",
            "duplicates",
            f"insert into raw.customers select * from raw.customers where {_latest('C000000008')}",
            "C000000008",
        ),
        (
            "customer_name_present",
            "missing",
            f"update raw.customers set first_name = null where {_latest('C000000009')}",
            "C000000009",
        ),
        (
            "customer_name_present",
            "missing",
            f"update raw.customers set last_name = '  ' where {_latest('C000000009')}",
            "C000000009",
        ),
        (
            "first_name_format",
            "invalid",
            f"update raw.customers set first_name = 'Ravi3' where {_latest('C000000010')}",
            "C000000010",
        ),
        (
            "first_name_format",
            "invalid",
            f"update raw.customers set first_name = 'R@vi' where {_latest('C000000010')}",
            "C000000010",
        ),
        (
            "middle_name_format",
            "invalid",
            f"update raw.customers set middle_name = 'K_' where {_latest('C000000011')}",
            "C000000011",
        ),
        (
            "last_name_format",
            "invalid",
            f"update raw.customers set last_name = 'Venkataraghavan Subramaniam Iyengar Rao' where {_latest('C000000012')}",
            "C000000012",
        ),
        (
            "email_format",
            "invalid",
            f"update raw.customers set email = 'ravi.rao.example.in' where {_latest('C000000013')}",
            "C000000013",
        ),
        (
            "email_format",
            "invalid",
            f"update raw.customers set email = 'ravi@example' where {_latest('C000000013')}",
            "C000000013",
        ),
        (
            "email_format",
            "missing",
            f"update raw.customers set email = null where {_latest('C000000013')}",
            "C000000013",
        ),
        (
            "mobile_format",
            "invalid",
            f"update raw.customers set mobile = '987654321' where {_latest('C000000014')}",
            "C000000014",
        ),
        (
            "mobile_format",
            "invalid",
            f"update raw.customers set mobile = '5987654321' where {_latest('C000000014')}",
            "C000000014",
        ),
        (
            "mobile_format",
            "invalid",
            f"update raw.customers set dialling_code = '+971', mobile = '50123456' where {_latest('C000000014')}",
            "C000000014",
        ),
        (
            "mobile_format",
            "missing",
            f"update raw.customers set mobile = '' where {_latest('C000000014')}",
            "C000000014",
        ),
        (
            "cibil_score_range",
            "invalid",
            f"update raw.customers set cibil_score = 950 where {_latest('C000000015')}",
            "C000000015",
        ),
        (
            "cibil_score_range",
            "invalid",
            f"update raw.customers set cibil_score = 299 where {_latest('C000000015')}",
            "C000000015",
        ),
        (
            "cibil_check_date_present",
            "missing",
            f"update raw.customers set cibil_check_date = null where {_latest('C000000016')}",
            "C000000016",
        ),
        (
            "cibil_check_date_present",
            "invalid",
            f"update raw.customers set cibil_check_date = date '2027-01-01' where {_latest('C000000016')}",
            "C000000016",
        ),
    ]
    + [
        (
            f"{column}_accepted_values",
            "invalid",
            f"update raw.customers set {column} = 'Unknown' where {_latest('C000000017')}",
            "C000000017",
        )
        for column in (
            "title",
            "gender",
            "marital_status",
            "segment",
            "category",
            "privilege",
            "customer_type",
            "occupation",
            "sourcing_channel",
            "status",
            "risk_category",
            "affluence_level",
            "country",
            "nationality",
            "dialling_code",
        )
    ]
    + [
        (
            "segment_accepted_values",
            "missing",
            f"update raw.customers set segment = null where {_latest('C000000018')}",
            "C000000018",
        ),
    ]
)


@pytest.mark.parametrize(("rule", "kind", "seed_sql", "offender"), CUSTOMER_DEFECTS)
def test_each_customer_rule_fails_on_data_seeded_with_its_defect(conn, rule, kind, seed_sql, offender) -> None:
    conn.execute(seed_sql)
    results = _by_name(run_rules(conn, CUSTOMER_RULES))
    result = results[rule]
    assert not result.passed
    assert getattr(result, kind) >= 1
    assert offender in result.sample_keys
    assert result.checked_rows >= 60


FPR_DEFECTS = [
    (
        "record_id_format",
        "invalid",
        "update raw.fpr_records set record_id = 'FPR12' where record_id = 'FPR0000000003'",
        "FPR12",
    ),
    (
        "record_id_present_and_unique",
        "duplicates",
        "insert into raw.fpr_records select * from raw.fpr_records where record_id = 'FPR0000000003'",
        "FPR0000000003",
    ),
    (
        "record_id_present_and_unique",
        "missing",
        "update raw.fpr_records set record_id = null where record_id = 'FPR0000000003'",
        "(missing)",
    ),
    (
        "fpr_scores_in_unit_interval",
        "invalid",
        "update raw.fpr_records set customer_product_usage = '1.7' where record_id = 'FPR0000000004'",
        "FPR0000000004",
    ),
    (
        "customer_product_usage_numeric",
        "invalid",
        "update raw.fpr_records set customer_product_usage = 'high' where record_id = 'FPR0000000004'",
        "FPR0000000004",
    ),
    (
        "fpr_scores_in_unit_interval",
        "invalid",
        "update raw.fpr_records set customer_churn_probability = 1.2 where record_id = 'FPR0000000004'",
        "FPR0000000004",
    ),
    (
        "fpr_scores_in_unit_interval",
        "invalid",
        "update raw.fpr_records set recommendation_score = -0.01 where record_id = 'FPR0000000004'",
        "FPR0000000004",
    ),
    (
        "satisfaction_score_range",
        "invalid",
        "update raw.fpr_records set customer_satisfaction_score = 0 where record_id = 'FPR0000000005'",
        "FPR0000000005",
    ),
    (
        "fpr_customer_id_valid",
        "invalid",
        "update raw.fpr_records set customer_id = 'X1' where record_id = 'FPR0000000006'",
        "FPR0000000006",
    ),
    (
        "fpr_customer_name_format",
        "invalid",
        "update raw.fpr_records set customer_name = 'Priya7 Sharma' where record_id = 'FPR0000000006'",
        "FPR0000000006",
    ),
    (
        "fpr_customer_email_format",
        "invalid",
        "update raw.fpr_records set customer_email = 'priya.sharma42gmail.com' where record_id = 'FPR0000000006'",
        "FPR0000000006",
    ),
    (
        "product_recommendation_status_accepted_values",
        "invalid",
        "update raw.fpr_records set product_recommendation_status = 'Pending' where record_id = 'FPR0000000007'",
        "FPR0000000007",
    ),
    (
        "customer_lifecycle_stage_accepted_values",
        "invalid",
        "update raw.fpr_records set customer_lifecycle_stage = 'Old' where record_id = 'FPR0000000007'",
        "FPR0000000007",
    ),
    (
        "customer_product_affinity_trend_accepted_values",
        "invalid",
        "update raw.fpr_records set customer_product_affinity_trend = 'Up' where record_id = 'FPR0000000007'",
        "FPR0000000007",
    ),
    (
        "customer_product_usage_trend_accepted_values",
        "missing",
        "update raw.fpr_records set customer_product_usage_trend = null where record_id = 'FPR0000000007'",
        "FPR0000000007",
    ),
    (
        "customer_segment_accepted_values",
        "invalid",
        "update raw.fpr_records set customer_segment = 'Metro' where record_id = 'FPR0000000007'",
        "FPR0000000007",
    ),
    (
        "recommendation_before_sale",
        "invalid",
        (
            "update raw.fpr_records set product_sales_date = date '2026-09-01', product_sales_amount = 10 "
            "where record_id = 'FPR0000000008'"
        ),
        "FPR0000000008",
    ),
    (
        "lifecycle_transition_before_update",
        "invalid",
        "update raw.fpr_records set customer_lifecycle_stage_transition_date = date '2026-12-01' where record_id = 'FPR0000000009'",
        "FPR0000000009",
    ),
]


@pytest.mark.parametrize(("rule", "kind", "seed_sql", "offender"), FPR_DEFECTS)
def test_each_fpr_rule_fails_on_data_seeded_with_its_defect(conn, rule, kind, seed_sql, offender) -> None:
    conn.execute(seed_sql)
    result = _by_name(run_rules(conn, FPR_RULES))[rule]
    assert not result.passed
    assert getattr(result, kind) >= 1
    assert offender in result.sample_keys


def test_every_rule_is_exercised_by_a_seeded_defect() -> None:
    seeded = {d[0] for d in CUSTOMER_DEFECTS} | {d[0] for d in FPR_DEFECTS}
    assert {r.name for r in CUSTOMER_RULES.rules} | {r.name for r in FPR_RULES.rules} == seeded


def test_results_name_keys_never_values(conn) -> None:
    conn.execute(
        f"update raw.customers set email = 'leaky.value@', first_name = 'Leaky9' where {_latest('C000000020')}"
    )
    results = run_rules(conn, CUSTOMER_RULES)
    text = repr(results) + quality.results_markdown(results)
    assert "leaky" not in text.lower()
    for result in results:
        assert len(result.sample_keys) <= quality.SAMPLE_KEYS
        assert all(ID.fullmatch(k) for k in result.sample_keys)


def test_sample_keys_are_at_most_five_smallest_first(conn) -> None:
    conn.execute("update raw.customers set segment = 'Metro'")
    result = _by_name(run_rules(conn, CUSTOMER_RULES))["segment_accepted_values"]
    assert result.invalid == 60
    assert result.sample_keys == tuple(f"C{i:09d}" for i in range(1, 6))


# --- the generator's planted defects ---------------------------------------------------------------


@pytest.fixture(scope="module")
def generated() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for schema in ("raw", "meta", "masked"):
        connection.execute(f"create schema {schema}")
    load_generated(connection, days=3, customers=2000, defect_rate=0.05)
    return connection


def test_the_generators_planted_defects_are_all_found(generated) -> None:
    results = _by_name(run_rules(generated, CUSTOMER_RULES))
    for rule in ("first_name_format", "last_name_format", "email_format", "mobile_format"):
        assert results[rule].invalid > 5, rule
    assert results["cibil_check_date_present"].missing > 5
    # Defects are warnings: nothing in the generated data is blocking.
    assert [r.rule for r in results.values() if r.blocking and not r.passed] == []
    flagged = sum(r.failed_rows for r in results.values())
    assert 0.03 < flagged / results["customer_id_valid"].checked_rows < 0.08  # defect_rate 0.05
    fpr = _by_name(run_rules(generated, FPR_RULES))
    assert fpr["fpr_customer_email_format"].invalid + fpr["fpr_customer_name_format"].invalid > 0
    assert [r.rule for r in fpr.values() if r.blocking and not r.passed] == []


def test_clean_generated_data_passes_every_rule() -> None:
    connection = duckdb.connect()
    for schema in ("raw", "meta", "masked"):
        connection.execute(f"create schema {schema}")
    load_generated(connection, days=3, customers=1000, defect_rate=0.0)
    failing = [r for r in run_rules(connection, CUSTOMER_RULES) + run_rules(connection, FPR_RULES) if not r.passed]
    assert failing == []


def test_the_reference_vocabularies_match_the_generators() -> None:
    reference = pytest.importorskip("finmatch_platform.simulator.generation.reference")
    assert set(quality.TITLES) == set(reference.TITLES)
    assert set(quality.GENDERS) == set(reference.GENDERS)
    assert set(quality.MARITAL_STATUSES) == set(reference.MARITAL_STATUSES)
    assert set(quality.SEGMENTS) == set(reference.SEGMENTS)
    assert set(quality.CATEGORIES) == set(reference.CATEGORIES)
    assert set(quality.PRIVILEGES) == set(reference.PRIVILEGES)
    assert set(quality.CUSTOMER_TYPES) == set(reference.CUSTOMER_TYPES)
    assert set(quality.OCCUPATIONS) == set(reference.OCCUPATIONS)
    assert set(quality.SOURCING_CHANNELS) == set(reference.SOURCING_CHANNELS)
    assert set(quality.STATUSES) == set(reference.STATUSES)
    assert set(quality.RISK_CATEGORIES) == set(reference.RISK_CATEGORIES)
    assert set(quality.AFFLUENCE_LEVELS) == set(reference.AFFLUENCE_LEVELS)
    assert set(quality.COUNTRIES) == {c.name for c in reference.COUNTRIES}
    assert set(quality.NATIONALITIES) == {c.nationality for c in reference.COUNTRIES}
    assert set(quality.DIALLING_CODES) == {c.dialling_code for c in reference.COUNTRIES}
    assert set(quality.FPR_STATUSES) == set(reference.FPR_STATUSES)
    assert set(quality.LIFECYCLE_STAGES) == set(reference.LIFECYCLE_STAGES)
    assert set(quality.TRENDS) == set(reference.TRENDS)


# --- quarantine -------------------------------------------------------------------------------------


def _seed_blocking(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"update raw.customers set cibil_score = 950 where {_latest('C000000021')}")
    conn.execute(f"update raw.customers set first_name = null where {_latest('C000000022')}")
    conn.execute(f"update raw.customers set email = 'warning.only@' where {_latest('C000000023')}")  # a warning


def test_blocking_failures_are_quarantined_with_their_rule_and_reason(conn, policy) -> None:
    _seed_blocking(conn)
    result = quarantine_failures(conn, CUSTOMER_RULES, policy, KEY, load_id="2026-10-02")
    assert result.inserted == 2 and result.total == 2
    assert result.by_rule == {"cibil_score_range": 1, "customer_name_present": 1}
    rows = conn.execute(
        "select record_key, rule, reason, record_version, load_id from meta.quarantine order by record_key"
    ).fetchall()
    assert rows == [
        (
            "C000000021",
            "cibil_score_range",
            "cibil_score: value outside [300, 900]",
            "2026-09-30T12:00:00.000000Z",
            "2026-10-02",
        ),
        (
            "C000000022",
            "customer_name_present",
            "first_name or last_name is missing",
            "2026-09-30T12:00:00.000000Z",
            "2026-10-02",
        ),
    ]


def test_quarantine_payloads_are_masked_and_hold_no_raw_pii(conn, policy) -> None:
    _seed_blocking(conn)
    quarantine_failures(conn, CUSTOMER_RULES, policy, KEY, load_id="L1")
    raw = conn.execute(f"select * from raw.customers where {_latest('C000000021')}").fetchall()[0]
    raw_row = dict(zip([c for c, _ in masking.table_columns(conn, "raw.customers")], raw, strict=True))
    payload = json.loads(
        conn.execute("select payload from meta.quarantine where record_key = 'C000000021'").fetchall()[0][0]
    )
    for column in masking.pii_columns(policy, "customers"):
        if policy.operator(policy.default_role, "customers", column) == "pass":
            continue
        value = raw_row[column]
        if value is not None:
            assert str(payload[column]) != str(value), column
            assert str(value) not in json.dumps(payload), column
    assert payload["email"] == masking.policy_token(policy, KEY, "pii:email", raw_row["email"])
    assert payload["customer_id"] == "C000000021" and payload["cibil_score"] == 950


def test_rerunning_a_load_adds_no_duplicate_quarantine_rows(conn, policy) -> None:
    _seed_blocking(conn)
    first = quarantine_failures(conn, CUSTOMER_RULES, policy, KEY, load_id="L1")
    again = quarantine_failures(conn, CUSTOMER_RULES, policy, KEY, load_id="L1")
    assert (first.inserted, again.inserted, again.total) == (2, 0, 2)
    assert conn.execute("select count(*) from meta.quarantine").fetchall()[0][0] == 2
    # A fix reloaded under the same load removes its entry; another load keeps its own rows.
    conn.execute(f"update raw.customers set cibil_score = 700 where {_latest('C000000021')}")
    fixed = quarantine_failures(conn, CUSTOMER_RULES, policy, KEY, load_id="L1")
    assert (fixed.removed, fixed.total) == (1, 1)
    other = quarantine_failures(conn, CUSTOMER_RULES, policy, KEY, load_id="L2")
    assert other.inserted == 1
    assert conn.execute("select count(*) from meta.quarantine").fetchall()[0][0] == 2


def test_quarantine_needs_the_masking_key(conn, policy) -> None:
    _seed_blocking(conn)
    with pytest.raises(masking.MaskingKeyError):
        quarantine_failures(conn, CUSTOMER_RULES, policy, "")


def test_quarantine_shares_the_table_with_the_extraction(conn, policy) -> None:
    conn.execute(
        "create table meta.quarantine (source varchar, reason varchar, record varchar, quarantined_at timestamptz)"
    )
    conn.execute("insert into meta.quarantine values ('fpr_records', 'no record_id', '{}', now())")
    _seed_blocking(conn)
    result = quarantine_failures(conn, CUSTOMER_RULES, policy, KEY, load_id="L1")
    assert result.total == 2
    assert conn.execute("select count(*) from meta.quarantine").fetchall()[0][0] == 3
    masking.build_masked_customers(conn, policy, KEY)
    assert conn.execute("select count(*) from masked.customers").fetchall()[0][0] == 58


def test_the_gate_checks_quarantines_then_masks_without_quarantined_customers(conn, policy) -> None:
    _seed_blocking(conn)
    outcome = gate_and_mask_customers(conn, policy, KEY)
    assert [r.rule for r in outcome.blocking_failures] == ["customer_name_present", "cibil_score_range"]
    assert [r.rule for r in outcome.warnings] == ["email_format"]
    assert outcome.quarantine.load_id == "_landed_date=2026-10-02"
    assert outcome.masking.quarantined_excluded == 2
    ids = {c for (c,) in conn.execute("select customer_id from masked.customers").fetchall()}
    assert "C000000021" not in ids and "C000000022" not in ids and "C000000023" in ids
    assert len(ids) == 58
    masking.build_role_views(conn, policy)
    assert conn.execute("select count(*) from role_pii_reader.customers").fetchall()[0][0] == 58
    meta = outcome.as_metadata()
    assert meta["blocking_rules_failed"] == "customer_name_present, cibil_score_range"
    assert "| cibil_score_range | blocking |" in meta["rule_results"]


def test_a_corrected_newer_version_leaves_quarantine_behind(conn, policy) -> None:
    _seed_blocking(conn)
    gate_and_mask_customers(conn, policy, KEY, load_id="L1")
    conn.execute(
        "insert into raw.customers select * replace (900 as cibil_score, modified_at + interval 1 day as modified_at, "
        f"date '2026-10-03' as _landed_date) from raw.customers where {_latest('C000000021')}"
    )
    outcome = gate_and_mask_customers(conn, policy, KEY, load_id="L2")
    ids = {c for (c,) in conn.execute("select customer_id from masked.customers").fetchall()}
    assert "C000000021" in ids and "C000000022" not in ids
    assert outcome.quarantine.by_rule == {"customer_name_present": 1}


def test_fpr_records_failing_blocking_rules_are_quarantined_with_masked_payloads(conn, policy) -> None:
    conn.execute("update raw.fpr_records set recommendation_score = 1.5 where record_id = 'FPR0000000002'")
    raw_name, raw_email = conn.execute(
        "select customer_name, customer_email from raw.fpr_records where record_id = 'FPR0000000002'"
    ).fetchall()[0]
    outcome = gate_and_mask_fpr(conn, policy, KEY)
    assert outcome.quarantine.by_rule == {"fpr_scores_in_unit_interval": 1}
    assert outcome.quarantine.load_id == "_synced_at=2026-10-02"  # the UTC day of the last sync
    payload = conn.execute("select payload from meta.quarantine where record_key = 'FPR0000000002'").fetchall()[0][0]
    assert raw_name not in payload and raw_email not in payload and "tok_" in payload
    ids = {r for (r,) in conn.execute("select record_id from masked.fpr_records").fetchall()}
    assert "FPR0000000002" not in ids and "FPR0000000001" in ids


def test_rules_are_declared_with_a_severity_and_blocking_ones_are_documented() -> None:
    blocking = {r.name for r in CUSTOMER_RULES.rules + FPR_RULES.rules if r.severity == BLOCKING}
    assert blocking == {
        "customer_id_valid",
        "customer_name_present",
        "cibil_score_range",
        "record_id_present_and_unique",
        "fpr_scores_in_unit_interval",
        "satisfaction_score_range",
    }
    with pytest.raises(ValueError, match="severity"):
        quality.Rule("x", "fatal", "d", ("a",), missing_sql="a is null")
    assert quality.__doc__ and "Blocking rules" in quality.__doc__


def test_a_vendors_own_ids_pass_the_gate_into_masked_with_a_warning(conn, policy) -> None:
    # A vendor owns its ids: a UUID record_id and a CUST_ customer_id are reported, never quarantined.
    vendor_record = "23f99867-3171-4769-9f4c-3c1a5b8e2d10"
    conn.execute(
        f"update raw.fpr_records set record_id = '{vendor_record}', customer_id = 'CUST_000123' "
        "where record_id = 'FPR0000000002'"
    )

    outcome = gate_and_mask_fpr(conn, policy, KEY)

    assert outcome.blocking_failures == ()
    warned = {r.rule: r for r in outcome.warnings}
    assert set(warned) == {"record_id_format", "fpr_customer_id_valid"}
    assert warned["record_id_format"].sample_keys == (vendor_record,)
    assert warned["fpr_customer_id_valid"].sample_keys == (vendor_record,)
    assert outcome.quarantine.total == 0 and outcome.masking.quarantined_excluded == 0
    masked = conn.execute("select customer_id from masked.fpr_records where record_id = ?", [vendor_record]).fetchall()
    assert masked == [("CUST_000123",)]


def test_usage_text_that_is_no_number_warns_and_stays_while_one_out_of_range_is_quarantined(conn, policy) -> None:
    conn.execute("update raw.fpr_records set customer_product_usage = 'n/a' where record_id = 'FPR0000000002'")
    conn.execute("update raw.fpr_records set customer_product_usage = '1.5' where record_id = 'FPR0000000003'")

    outcome = gate_and_mask_fpr(conn, policy, KEY)

    assert [r.rule for r in outcome.warnings] == ["customer_product_usage_numeric"]
    assert [r.rule for r in outcome.blocking_failures] == ["fpr_scores_in_unit_interval"]
    assert outcome.quarantine.by_rule == {"fpr_scores_in_unit_interval": 1}
    ids = {r for (r,) in conn.execute("select record_id from masked.fpr_records").fetchall()}
    assert "FPR0000000002" in ids and "FPR0000000003" not in ids
