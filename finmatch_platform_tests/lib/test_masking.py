"""Masking policy, HMAC tokens in SQL, masked tables and role views (pure lib, DuckDB in memory)."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from finmatch_platform.landing_zone.schemas import CUSTOMERS, FPR_RECORDS
from finmatch_platform.lib import masking
from finmatch_platform.lib.masking import (
    MaskingKeyError,
    PolicyError,
    build_masked_customers,
    build_masked_fpr,
    build_role_views,
    load_policy,
    masked_select_sql,
    parse_policy,
    policy_token,
    token,
)
from finmatch_platform.lib.masking import build as masking_build
from finmatch_platform.lib.masking.tokens import _hashable_text, _hmac_of_text
from finmatch_platform.lib.profiling import default_format_rules, profile_table, save_profile
from finmatch_platform_tests.helpers.masking import (
    KEY,
    load_generated,
    load_synthetic,
)

OTHER_KEY = "another-masking-key-9876543210"


# --- helpers ---------------------------------------------------------------------------------


def _connect() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    for schema in ("raw", "meta", "masked"):
        conn.execute(f"create schema {schema}")
    return conn


def _masked_warehouse(policy: masking.Policy, load) -> duckdb.DuckDBPyConnection:
    conn = _connect()
    load(conn)
    build_masked_customers(conn, policy, KEY)
    build_masked_fpr(conn, policy, KEY)
    build_role_views(conn, policy)
    for table in ("customers", "fpr_records"):
        profile = profile_table(conn, f"masked.{table}", default_format_rules(policy, table))
        save_profile(conn, profile, dt.datetime(2026, 10, 5, tzinfo=dt.UTC))
    return conn


@pytest.fixture(scope="module")
def policy() -> masking.Policy:
    return load_policy()


@pytest.fixture(scope="module")
def warehouse(policy: masking.Policy) -> Iterator[duckdb.DuckDBPyConnection]:
    """Customers and FPR records built here, masked, with role views and a saved profile."""
    conn = _masked_warehouse(policy, load_synthetic)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def generated_warehouse(policy: masking.Policy) -> Iterator[duckdb.DuckDBPyConnection]:
    """The same with the synthetic bank's generator (four days: new customers, updates, tombstones)."""
    conn = _masked_warehouse(policy, load_generated)
    yield conn
    conn.close()


def _policy_dict() -> dict:
    return yaml.safe_load(masking.DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def _cells(conn: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    columns = masking.table_columns(conn, relation)
    union = " union ".join(f"select cast({masking.quote_ident(c)} as varchar) as v from {relation}" for c, _ in columns)
    return {v for (v,) in conn.execute(union).fetchall() if v is not None}


def _raw_tagged_values(conn: duckdb.DuckDBPyConnection, policy: masking.Policy, table: str) -> set[str]:
    """Raw values of the columns the default role hides, minus values that also occur in a
    clear column (a date of birth equal to some check date is not a leak) and quarter starts."""
    table_policy = policy.table(table)
    hidden = [c for c in table_policy.tagged_columns if policy.operator(policy.default_role, table, c) != "pass"]
    clear = [c for c, tags in table_policy.columns.items() if not tags]
    values = set()
    for column in hidden:
        cells = _cells_of(conn, table_policy.source, [column])
        if policy.operator(policy.default_role, table, column) == "bucket_quarter":
            # A date that is itself a quarter start is its own bucket: not a leak.
            cells = {v for v in cells if v[4:] not in ("-01-01", "-04-01", "-07-01", "-10-01")}
        values |= cells
    return values - _cells_of(conn, table_policy.source, clear)


def _cells_of(conn: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> set[str]:
    present = {c for c, _ in masking.table_columns(conn, relation)}
    union = " union ".join(
        f"select cast({masking.quote_ident(c)} as varchar) as v from {relation}" for c in columns if c in present
    )
    return {v for (v,) in conn.execute(union).fetchall() if v is not None} if union else set()


def _hmac_hex(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()


# --- the policy file ---------------------------------------------------------------------------


def test_the_repository_policy_classifies_every_source_column(policy: masking.Policy) -> None:
    customers = set(policy.table("customers").columns)
    fpr = set(policy.table("fpr_records").columns)
    assert set(CUSTOMERS.names) | {"_landed_date"} == customers
    assert set(FPR_RECORDS.names) | {"_synced_at"} == fpr
    assert policy.default_role == "dob_bucketing"
    assert {"restricted", "dob_bucketing", "pii_reader"} <= set(policy.roles)


def test_every_named_pii_column_is_tagged(policy: masking.Policy) -> None:
    expected = {
        "first_name",
        "middle_name",
        "last_name",
        "email",
        "mobile",
        "address_line1",
        "address_line2",
        "postcode",
        "date_of_birth",
    }
    assert expected <= masking.pii_columns(policy, "customers")
    assert {"customer_name", "customer_email"} <= masking.pii_columns(policy, "fpr_records")
    # customer_id is the join key and deliberately not PII (see the policy header).
    assert "customer_id" not in masking.pii_columns(policy, "customers")


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda p: p["roles"]["restricted"]["operators"].__setitem__("pii:name", "scramble"), "scramble"),
        (lambda p: p.__setitem__("default_role", "analyst"), "analyst"),
        (lambda p: p["tables"]["customers"]["columns"].__setitem__("email", ["pii:e-mail"]), "pii:e-mail"),
        (lambda p: p["roles"]["pii_reader"]["operators"].pop("pii:dob"), "pii:dob"),
        (lambda p: p["roles"]["restricted"]["operators"].__setitem__("pii:ssn", "hmac"), "pii:ssn"),
        (lambda p: p["tags"]["pii:name"].__setitem__("partial", "middle"), "middle"),
        (lambda p: p["tags"]["pii:name"].__setitem__("priority", 90), "priority 90"),
        (lambda p: p["tables"]["customers"]["columns"].__setitem__("customer_id", ["pii:id_number"]), "customer_id"),
    ],
)
def test_an_invalid_policy_is_rejected_with_a_message_naming_the_problem(mutate, named: str) -> None:
    raw = _policy_dict()
    mutate(raw)
    with pytest.raises(PolicyError, match=named):
        parse_policy(raw)


def test_a_column_with_several_tags_gets_the_operator_of_its_highest_priority_tag(policy: masking.Policy) -> None:
    # postcode is pii:address (50) and pii:location (10): address wins.
    assert policy.operator("dob_bucketing", "customers", "postcode") == "hmac"
    assert policy.operator("customer_service", "customers", "postcode") == "redact"
    assert policy.operator("dob_bucketing", "customers", "city") == "pass"
    raw = _policy_dict()
    raw["tables"]["customers"]["columns"]["email"] = ["pii:location", "pii:email"]
    assert parse_policy(raw).operator("restricted", "customers", "email") == "hmac"
    raw["tags"]["pii:location"]["priority"] = 95
    assert parse_policy(raw).operator("restricted", "customers", "email") == "pass"


def test_policy_can_be_loaded_from_another_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    raw = _policy_dict()
    raw["default_role"] = "restricted"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_policy(path).default_role == "restricted"


# --- HMAC ------------------------------------------------------------------------------------


# Lengths around the padding edges of the inner hash (the 64-byte key block + 55/56 bytes, 64,
# 119/120, 128), a value of several MiB, multi-byte and combining text, a NUL character, text
# that a BLOB cast would read as an escape, and text that looks like SQL.
_HMAC_VALUES = ["", "a", *("x" * n for n in (55, 56, 63, 64, 119, 120, 128, 1000))]
_HMAC_VALUES += ["Zoë O'Brien-Núñez", "राहुल", "🙂" * 40, "e\u0301", "a\x00b", "\\xAA\\x00", "'); drop table t; --"]
_HMAC_VALUES += ["ü" * (3 << 20), None]


@pytest.mark.parametrize(
    "key",
    [KEY, "k" * 64, "k" * 65, bytes(range(16)), b"\xff" * 200],  # keys longer than the 64-byte block are hashed first
    ids=["test-key", "block-sized", "block-plus-one", "binary", "long-binary"],
)
def test_hmac_in_sql_equals_pythons_hmac_module(key: str | bytes) -> None:
    conn = duckdb.connect()
    conn.execute("create table t (i integer, v varchar)")
    conn.executemany("insert into t values (?, ?)", list(enumerate(_HMAC_VALUES)))
    text_expr = _hashable_text('"v"', "VARCHAR", "none")
    policy = dataclasses.replace(masking.load_policy(), token_prefix="", token_hex_chars=64)  # the whole digest
    sql = f"select i, {_hmac_of_text(text_expr, policy)} from t order by i"
    digests = [d for _, d in conn.execute(sql, masking.hmac_params(key)).fetchall()]
    raw_key = key.encode() if isinstance(key, str) else key
    expected = [
        None if v is None else hmac.new(raw_key, v.encode("utf-8"), hashlib.sha256).hexdigest() for v in _HMAC_VALUES
    ]
    assert digests == expected


def test_the_package_installs_without_compiling_anything() -> None:
    # Hand-written crypto in C crashed on bad input and needed a compiler on every install.
    root = Path(masking.__file__).resolve().parents[2]
    assert not [p for p in root.rglob("*") if p.suffix in (".c", ".h", ".so", ".pyd", ".pyx")]
    setup = ast.parse((root.parent / "setup.py").read_text(encoding="utf-8"))
    keywords = {kw.arg for node in ast.walk(setup) if isinstance(node, ast.Call) for kw in node.keywords}
    assert "packages" in keywords and not keywords & {"ext_modules", "cffi_modules", "libraries"}


@pytest.mark.parametrize(
    ("sql_value", "python_value"),
    [
        ("date '1990-05-17'", dt.date(1990, 5, 17)),
        ("timestamptz '2026-10-01 10:00:00+05:30'", dt.datetime(2026, 10, 1, 4, 30, tzinfo=dt.UTC)),
        ("timestamp '2026-10-01 10:00:00.123456'", dt.datetime(2026, 10, 1, 10, 0, 0, 123456)),
        ("42", 42),
    ],
)
def test_tokens_of_dates_timestamps_and_numbers_match_the_python_reference(sql_value, python_value) -> None:
    conn = duckdb.connect()
    conn.execute("set timezone = 'Asia/Kolkata'")  # tokens must not depend on the session time zone
    conn.execute(f"create table t as select {sql_value} as v")
    dtype = masking.table_columns(conn, "t")[0][1]
    expr = _hmac_of_text(_hashable_text('"v"', dtype, "none"), masking.load_policy())
    assert conn.execute(f"select {expr} from t", masking.hmac_params(KEY)).fetchall()[0][0] == token(KEY, python_value)


def test_tokens_in_sql_equal_the_python_reference_for_text_dates_and_normalised_emails(policy) -> None:
    conn = _connect()
    conn.execute(
        "create table raw.customers as select * from (values "
        "('C000000001', 'Asha', ' Asha.Rao@Example.COM ', date '1990-05-17'), "
        "('C000000002', 'Zoë', null, date '1961-01-01')) t(customer_id, first_name, email, date_of_birth)"
    )
    select = masked_select_sql(policy, "restricted", "customers", masking.table_columns(conn, "raw.customers"), KEY)
    rows = conn.execute(select.sql, select.params).fetchall()
    assert rows[0] == (
        "C000000001",
        "tok_" + _hmac_hex(KEY, "Asha")[:20],
        "tok_" + _hmac_hex(KEY, "asha.rao@example.com")[:20],
        "tok_" + _hmac_hex(KEY, "1990-05-17")[:20],
    )
    assert rows[1][1] == policy_token(policy, KEY, "pii:name", "Zoë")
    assert rows[1][2] is None  # NULL stays NULL
    assert rows[1][3] == token(KEY, dt.date(1961, 1, 1))


def test_normalised_tokens_match_duckdb_for_unicode_spaces_dotted_i_and_final_sigma(policy) -> None:
    # DuckDB's trim() removes every Unicode space separator and its lower() maps code point by
    # code point, unlike str.strip(" ") and str.lower(): the Python reference must follow DuckDB.
    values = ["\u00a0Asha@Example.in\u2009", " \u3000İLKER@example.com.tr", "ODYSSEAΣ@example.gr", "\tTab@x.in "]
    conn = duckdb.connect()
    conn.execute("create table t (v varchar)")
    conn.executemany("insert into t values (?)", [[v] for v in values])
    expr = _hmac_of_text(_hashable_text('"v"', "VARCHAR", "lower_trim"), policy)
    rows = dict(conn.execute(f"select v, {expr} from t", masking.hmac_params(KEY)).fetchall())
    assert rows == {v: policy_token(policy, KEY, "pii:email", v) for v in values}
    assert rows[values[0]] == policy_token(policy, KEY, "pii:email", "asha@example.in")


@pytest.mark.parametrize("bad", [None, "", "   ", "short-key"])
def test_a_missing_empty_or_short_key_is_a_clear_error(policy, bad) -> None:
    conn = _connect()
    conn.execute("create table raw.customers as select 'C000000001' as customer_id, 'Asha' as first_name")
    with pytest.raises(MaskingKeyError, match="FINMATCH_MASKING_KEY"):
        build_masked_customers(conn, policy, bad)
    assert not masking.relation_exists(conn, "masked.customers")


def test_key_material_appears_in_no_sql_text_view_definition_or_repr(warehouse, policy) -> None:
    blocks = masking.hmac_params(KEY)
    secrets = {KEY, blocks["finmatch_hmac_ipad"].hex(), blocks["finmatch_hmac_opad"].hex()}
    select = masked_select_sql(
        policy, "restricted", "customers", masking.table_columns(warehouse, "raw.customers"), KEY
    )
    definitions = " ".join(
        sql for (sql,) in warehouse.execute("select sql from duckdb_views() where not internal").fetchall()
    )
    tables = " ".join(sql for (sql,) in warehouse.execute("select sql from duckdb_tables()").fetchall())
    for secret in secrets:
        assert secret not in select.sql
        assert secret not in repr(select)
        assert secret.lower() not in definitions.lower()
        assert secret.lower() not in tables.lower()
    assert "sha256" not in definitions.lower() and "finmatch_hmac_" not in definitions  # plain projections


@pytest.mark.parametrize("dictionary", [False, True], ids=["per-row", "dictionary"])
def test_every_token_of_a_masked_select_equals_the_python_reference(policy, dictionary: bool) -> None:
    conn = _connect()
    load_synthetic(conn)
    columns = masking.table_columns(conn, "raw.customers")
    first = masked_select_sql(policy, "restricted", "customers", columns, KEY)
    tokenised = [c for c, _ in columns if first.operators.get(c) == "hmac"]
    assert {"first_name", "email", "mobile", "address_line1", "date_of_birth"} <= set(tokenised)
    select = masked_select_sql(
        policy, "restricted", "customers", columns, KEY, dictionary_columns=tokenised if dictionary else ()
    )
    assert ("left join" in select.sql) is dictionary
    picked = ", ".join(masking.quote_ident(c) for c in ["customer_id", *tokenised])
    order = "order by customer_id, modified_at"
    masked = conn.execute(f"select {picked} from ({select.sql}) {order}", select.params).fetchall()
    raw = conn.execute(f"select {picked} from raw.customers {order}").fetchall()
    assert len(masked) == len(raw) == conn.execute("select count(*) from raw.customers").fetchone()[0]
    for masked_row, raw_row in zip(masked, raw, strict=True):
        assert masked_row[0] == raw_row[0]
        for name, tok, value in zip(tokenised, masked_row[1:], raw_row[1:], strict=True):
            assert tok == policy_token(policy, KEY, policy.governing_tag("customers", name).name, value), name


def test_the_dictionary_and_per_row_token_paths_give_identical_tables(policy, monkeypatch) -> None:
    conn = _connect()
    load_synthetic(conn)
    tables = ("masked.customers", "masked.customers_variants")
    build_masked_customers(conn, policy, KEY)
    per_row = [conn.execute(f"select * from {t} order by customer_id").fetchall() for t in tables]
    monkeypatch.setattr(masking_build, "_DICTIONARY_MIN_ROWS", 1)
    stats = build_masked_customers(conn, policy, KEY)
    assert {"first_name", "last_name", "middle_name"} <= set(stats.dictionary_columns)
    assert [conn.execute(f"select * from {t} order by customer_id").fetchall() for t in tables] == per_row
    columns = masking.table_columns(conn, "raw.customers")
    plain = masked_select_sql(policy, "restricted", "customers", columns, KEY)
    joined = masked_select_sql(
        policy, "restricted", "customers", columns, KEY, dictionary_columns=["first_name", "email"]
    )
    assert "left join" in joined.sql and "left join" not in plain.sql
    ordered = "select * from ({}) order by customer_id, modified_at"
    assert (
        conn.execute(ordered.format(joined.sql), joined.params).fetchall()
        == conn.execute(ordered.format(plain.sql), plain.params).fetchall()
    )


# --- masked tables -----------------------------------------------------------------------------


def test_masked_customers_hold_the_latest_version_of_each_customer(warehouse) -> None:
    counts = warehouse.execute(
        "select (select count(*) from raw.customers), (select count(distinct customer_id) from raw.customers), "
        "(select count(*) from masked.customers), (select count(distinct customer_id) from masked.customers)"
    ).fetchall()[0]
    raw_rows, raw_customers, masked_rows, masked_customers = counts
    assert raw_rows > raw_customers  # the fixture has updates
    assert masked_rows == masked_customers == raw_customers
    stale = warehouse.execute(
        "select count(*) from masked.customers m join (select customer_id, max(modified_at) as newest "
        "from raw.customers group by 1) r using (customer_id) where m.modified_at <> r.newest"
    ).fetchall()[0][0]
    assert stale == 0


def test_ties_on_the_version_are_broken_the_same_way_on_every_run(policy) -> None:
    conn = _connect()
    conn.execute(
        "create table raw.customers as select * from (values "
        "('C000000001', 'Old', timestamptz '2026-10-01 10:00:00+00', date '2026-10-01'), "
        "('C000000001', 'Tied', timestamptz '2026-10-02 10:00:00+00', date '2026-10-02'), "
        "('C000000001', 'Late', timestamptz '2026-10-02 10:00:00+00', date '2026-10-03')) "
        "t(customer_id, first_name, modified_at, _landed_date)"
    )
    results = set()
    for _ in range(3):
        build_masked_customers(conn, policy, KEY)
        results.add(conn.execute("select first_name from masked.customers").fetchall()[0][0])
    assert results == {token(KEY, "Late")}


@pytest.mark.parametrize("source", ["warehouse", "generated_warehouse"])
def test_no_raw_value_of_a_tagged_column_appears_in_masked_tables_keyed_views_or_profiles(
    source: str, policy, request
) -> None:
    warehouse = request.getfixturevalue(source)
    leaks: dict[str, set[str]] = {}
    for table in ("customers", "fpr_records"):
        raw_values = _raw_tagged_values(warehouse, policy, table)
        assert len(raw_values) > 100
        relations = [f"masked.{table}", f"masked.{table}_variants"]
        relations += [f"role_{role}.{table}" for role in ("restricted", "dob_bucketing")]
        for relation in relations:
            found = raw_values & _cells(warehouse, relation)
            if found:
                leaks[relation] = found
    # Both tables' raw values against every cell of the profile history, JSON leaves included.
    everything = _raw_tagged_values(warehouse, policy, "customers") | _raw_tagged_values(
        warehouse, policy, "fpr_records"
    )
    history = _cells(warehouse, "meta.profile_history")
    for (stats,) in warehouse.execute("select stats from meta.profile_history").fetchall():
        history |= _json_leaves(json.loads(stats))
    if everything & history:
        leaks["meta.profile_history"] = everything & history
    assert not leaks


def _json_leaves(node: object) -> set[str]:
    if isinstance(node, dict):
        return set().union(*(_json_leaves(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_json_leaves(v) for v in node)) if node else set()
    return set() if node is None else {str(node)}


def test_tokens_are_stable_across_tables_so_joins_still_work(warehouse) -> None:
    joined, total = warehouse.execute(
        """
        select count(*) filter (where f.customer_email = c.email), count(*)
        from masked.fpr_records f join masked.customers c using (customer_id)
        where f.customer_email is not null
        """
    ).fetchall()[0]
    assert total > 50
    # A customer whose email changed after the recommendation would differ; the generator keeps emails.
    assert joined == total
    name_matches = warehouse.execute(
        "select count(*) from masked.fpr_records where customer_name like 'tok_%'"
    ).fetchall()[0][0]
    assert name_matches > 0


def test_tokens_change_when_the_key_changes(policy) -> None:
    conn = _connect()
    load_synthetic(conn, 50)
    first = build_masked_customers(conn, policy, KEY)
    before = dict(conn.execute("select customer_id, email from masked.customers").fetchall())
    second = build_masked_customers(conn, policy, OTHER_KEY)
    after = dict(conn.execute("select customer_id, email from masked.customers").fetchall())
    assert first.key_id != second.key_id
    assert all(before[c] != after[c] for c in before if before[c] is not None)


def test_pii_reader_sees_raw_values(warehouse) -> None:
    mismatches = warehouse.execute(
        """
        select count(*) from role_pii_reader.customers v
        join raw.customers r on r.customer_id = v.customer_id and r.modified_at = v.modified_at
        where v.email is distinct from r.email or v.first_name is distinct from r.first_name
           or v.date_of_birth is distinct from r.date_of_birth or v.mobile is distinct from r.mobile
        """
    ).fetchall()[0][0]
    assert mismatches == 0
    assert (
        warehouse.execute("select count(*) from role_pii_reader.customers").fetchall()
        == warehouse.execute("select count(*) from masked.customers").fetchall()
    )


def test_dob_bucketing_gives_the_first_day_of_the_quarter_and_restricted_a_token(warehouse) -> None:
    rows = warehouse.execute(
        """
        select r.date_of_birth, b.date_of_birth, x.date_of_birth
        from role_dob_bucketing.customers b
        join role_restricted.customers x using (customer_id)
        join raw.customers r on r.customer_id = b.customer_id and r.modified_at = b.modified_at
        """
    ).fetchall()
    assert rows
    for raw_dob, bucket, tok in rows:
        assert bucket == dt.date(raw_dob.year, 3 * ((raw_dob.month - 1) // 3) + 1, 1)
        assert tok == token(KEY, raw_dob)


def test_customer_service_sees_names_partial_contacts_and_no_address(warehouse) -> None:
    row = warehouse.execute(
        """
        select v.first_name, r.first_name, v.email, r.email, v.mobile, r.mobile, v.address_line1, v.date_of_birth
        from role_customer_service.customers v
        join raw.customers r on r.customer_id = v.customer_id and r.modified_at = v.modified_at
        where r.email like '%@%' order by v.customer_id limit 1
        """
    ).fetchall()[0]
    first, raw_first, email, raw_email, mobile, raw_mobile, address, dob = row
    assert first == raw_first
    assert email == raw_email[0] + "***" + raw_email[raw_email.index("@") :]
    assert mobile == "*" * (len(raw_mobile) - 4) + raw_mobile[-4:]
    assert address == "[REDACTED]" and dob is None


def test_role_views_are_built_without_a_key_and_skip_tables_not_masked_yet(policy) -> None:
    conn = _connect()
    load_synthetic(conn, 30)
    build_masked_customers(conn, policy, KEY)
    with pytest.raises(TypeError):
        build_role_views(conn, policy, KEY)  # type: ignore[misc] - there is no key parameter to pass
    result = build_role_views(conn, policy)
    assert "role_restricted.customers" in result.views
    assert "fpr_records" in result.skipped
    assert conn.execute("select count(*) from role_restricted.customers").fetchall()[0][0] == 30
    assert conn.execute("select count(*) from masked.customers").fetchall()[0][0] == 30


def test_columns_the_policy_does_not_list_are_dropped_and_reported(policy) -> None:
    conn = _connect()
    conn.execute(
        "create table raw.fpr_records as select 'FPR0000000001' as record_id, 'C000000001' as customer_id, "
        "'Asha Rao' as customer_name, 'asha@x.in' as customer_email, 'secret note' as agent_notes, "
        "timestamptz '2026-10-01 00:00:00+00' as updated_at, false as _deleted"
    )
    stats = build_masked_fpr(conn, policy, KEY)
    assert stats.dropped_columns == ("agent_notes",)
    assert "agent_notes" not in {c for c, _ in masking.table_columns(conn, "masked.fpr_records")}
    assert stats.as_metadata()["dropped_columns"] == "agent_notes"


def test_masking_stats_describe_the_build_without_values(warehouse, policy) -> None:
    stats = build_masked_customers(warehouse, policy, KEY)
    meta = stats.as_metadata()
    assert meta["rows_written"] == stats.rows_written > 0
    assert stats.superseded_versions > 0
    assert stats.operators["date_of_birth"] == "bucket_quarter"
    assert "date_of_birth__hmac" in stats.variant_columns
    assert stats.key_id == masking.key_id(KEY) and KEY not in json.dumps(meta, default=str)


def test_a_failed_build_leaves_the_previous_masked_tables_in_place(policy, monkeypatch) -> None:
    conn = _connect()
    load_synthetic(conn, 20)
    build_masked_customers(conn, policy, KEY)
    before = conn.execute("select * from masked.customers order by customer_id").fetchall()
    write = masking_build._write_table

    def fail_on_variants(conn, target, *args, **kwargs):
        if target.endswith("_variants"):
            raise RuntimeError("disk full")
        return write(conn, target, *args, **kwargs)

    monkeypatch.setattr(masking_build, "_write_table", fail_on_variants)
    with pytest.raises(RuntimeError, match="disk full"):
        build_masked_customers(conn, policy, OTHER_KEY)
    assert conn.execute("select * from masked.customers order by customer_id").fetchall() == before


def test_a_build_inside_the_callers_transaction_is_part_of_it(policy) -> None:
    conn = _connect()
    load_synthetic(conn, 20)
    conn.execute("begin transaction")
    build_masked_customers(conn, policy, KEY)
    assert conn.execute("select count(*) from masked.customers").fetchall()[0][0] == 20
    conn.execute("rollback")
    assert not masking.relation_exists(conn, "masked.customers")
