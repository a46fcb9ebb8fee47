"""Masked tables: ``masked.<table>`` and ``masked.<table>_variants``, built set-based in DuckDB.

``masked.<table>`` holds the newest version of every record masked for the default role,
versions quarantined by a blocking quality rule left out; ``masked.<table>_variants`` holds the
row key plus every other stored operator output a role needs (tokens, buckets, partial masks;
never a raw value), for the role views to project.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from finmatch_platform.lib.masking.operators import (
    MaskOutput,
    kept_columns,
    role_outputs,
    select_with_tokens,
    version_text_sql,
)
from finmatch_platform.lib.masking.policy import STORED_OPERATORS, VARIANTS_SUFFIX, Policy, TablePolicy
from finmatch_platform.lib.masking.tokens import binds_key, hmac_params, key_id
from finmatch_platform.lib.quarantine import QUARANTINE_TABLE
from finmatch_platform.lib.sql import (
    ensure_schema,
    first_row,
    literal,
    quote_ident,
    quote_table,
    table_columns,
    transaction,
)

# Tokenise a column through a dictionary of its distinct values (one HMAC per distinct value and
# a hash join) when it has fewer distinct values than this share of rows: names, postcodes and
# dates of birth repeat a lot, and the HMAC (four SHA-256 blocks) is the expensive part.
_DICTIONARY_MAX_DISTINCT_SHARE = 0.5
# Below this many rows the plain per-row form is fast enough and the cardinality probe is skipped.
_DICTIONARY_MIN_ROWS = 50_000


@dataclass(frozen=True)
class MaskingStats:
    """What one masked-table build did, for asset metadata (counts and names only, no values)."""

    table: str
    role: str
    source: str
    target: str
    variants_table: str | None
    source_rows: int
    rows_written: int
    superseded_versions: int
    quarantined_excluded: int
    operators: Mapping[str, str]
    variant_columns: tuple[str, ...]
    dropped_columns: tuple[str, ...]
    dictionary_columns: tuple[str, ...]
    key_id: str
    seconds: float

    def as_metadata(self) -> dict[str, object]:
        return {
            "source": self.source,
            "target": self.target,
            "role": self.role,
            "source_rows": self.source_rows,
            "rows_written": self.rows_written,
            "superseded_versions": self.superseded_versions,
            "quarantined_excluded": self.quarantined_excluded,
            "masked_columns": ", ".join(f"{c}: {op}" for c, op in self.operators.items()),
            "variant_columns": ", ".join(self.variant_columns) or "-",
            "dropped_columns": ", ".join(self.dropped_columns) or "-",
            "key_id": self.key_id,
            "seconds": round(self.seconds, 3),
        }


def _quarantined_versions(conn: duckdb.DuckDBPyConnection, source: str) -> int:
    """How many quarantine entries concern ``source`` (0 when there is no quarantine yet)."""
    names = {n for n, _ in table_columns(conn, QUARANTINE_TABLE)}
    if not {"source_table", "record_key", "record_version"} <= names:
        return 0
    return int(
        first_row(conn, f"select count(*) from {quote_table(QUARANTINE_TABLE)} where source_table = ?", [source])[0]
    )


@dataclass(frozen=True)
class _Probe:
    rows: int
    keys: int  # distinct keys, a NULL key counting as one
    dictionary: frozenset[str]


def _probe(conn: duckdb.DuckDBPyConnection, table: TablePolicy, source: str, hmac_columns: Sequence[str]) -> _Probe:
    """Row and key counts, and which hmac columns repeat enough to be worth tokenising through a
    dictionary of distinct values."""
    src = quote_table(source)
    key = quote_ident(table.key)
    # Two statements on purpose: for a COUNT(DISTINCT) DuckDB first materialises every column the
    # statement reads, so one combined probe would copy all the hmac columns too.
    rows, keys = first_row(
        conn, f"select count(*), count(distinct {key}) + (count(*) filter (where {key} is null) > 0)::int from {src}"
    )
    if rows < _DICTIONARY_MIN_ROWS or not hmac_columns:
        return _Probe(int(rows), int(keys), frozenset())
    estimates = ", ".join(f"approx_count_distinct({quote_ident(c)})" for c in hmac_columns)
    counts = first_row(conn, f"select {estimates} from {src}")
    dictionary = frozenset(
        c for c, d in zip(hmac_columns, counts, strict=True) if d < rows * _DICTIONARY_MAX_DISTINCT_SHARE
    )
    return _Probe(int(rows), int(keys), dictionary)


def _selected_rows_sql(
    table: TablePolicy,
    source: str,
    types: Mapping[str, str],
    dedupe: bool,
    exclude_quarantined: bool,
) -> str | None:
    """The rowids of the rows to mask: newest version per key, quarantined versions left out.

    Only (rowid, key, version) go through the window, so the sort stays narrow; the wide rows are
    then fetched by rowid. None when every row is selected.
    """
    if not (dedupe or exclude_quarantined):
        return None
    src = quote_table(source)
    key = quote_ident(table.key)
    version = table.version_column if table.version_column in types else None
    candidates = f"select rowid as rid, {key} as k{', ' + quote_ident(version) + ' as v' if version else ''} from {src}"
    if dedupe:
        order = [f"{quote_ident(c)} desc nulls last" for c in table.latest_by if c in types]
        # rowid last: among exact ties the row loaded last wins, so reruns pick the same row. Such
        # ties are duplicates, which the blocking uniqueness rule quarantines anyway.
        order.append("rowid desc")
        candidates += f" qualify row_number() over (partition by {key} order by {', '.join(order)}) = 1"
    if not exclude_quarantined:
        return f"select rid from ({candidates})"
    version_match = (
        f"q.record_version is not distinct from {version_text_sql('l.v', types[version])}" if version else "true"
    )
    return (
        f"select rid from ({candidates}) l where not exists (select 1 from {quote_table(QUARANTINE_TABLE)} q "
        f"where q.source_table = {literal(source)} and q.record_key is not distinct from cast(l.k as varchar) "
        f"and {version_match})"
    )


def _write_table(
    conn: duckdb.DuckDBPyConnection,
    target: str,
    columns: Sequence[str],
    select_sql: str,
    params: Mapping[str, bytes] | None,
) -> None:
    """Replace ``target`` with the rows of ``select_sql`` atomically, with explicit column
    definitions so storage can be chosen per column."""
    with transaction(conn):
        try:
            conn.execute(f"create or replace table {quote_table(target)} ({', '.join(columns)})")
        except duckdb.ParserException:
            # A type DuckDB prints but cannot parse back: let CTAS derive the columns.
            conn.execute(f"create or replace table {quote_table(target)} as {select_sql}", params)
        else:
            conn.execute(f"insert into {quote_table(target)} {select_sql}", params)


def build_masked_table(
    conn: duckdb.DuckDBPyConnection,
    policy: Policy,
    table: str,
    key: str | bytes | None,
    source: str | None = None,
    target: str | None = None,
    exclude_quarantined: bool = True,
    variants: bool = True,
) -> MaskingStats:
    """Write ``target``, the default role's masking of the newest version of every record, and
    (``variants``) the variants table the role views read, each with CREATE OR REPLACE TABLE AS.

    Versions quarantined by a blocking quality rule (in ``meta.quarantine``) are left out. The key
    is checked before anything is written.
    """
    started = time.perf_counter()
    params = hmac_params(key)
    table_policy = policy.table(table)
    source = source or table_policy.source
    target = target or table_policy.target
    variants_table = target + VARIANTS_SUFFIX
    pairs = table_columns(conn, source)
    if not pairs:
        raise ValueError(f"{source} does not exist: load it before masking")
    types = dict(pairs)
    if table_policy.key not in types:
        raise ValueError(f"{source} has no {table_policy.key!r} column, the key of {table}")
    kept, dropped = kept_columns(table_policy, pairs)
    role = policy.roles[policy.default_role]
    outputs, operators = role_outputs(policy, role, table, kept)
    variant_outputs = _variant_outputs(policy, table, kept, operators) if variants else []

    hmac_columns = sorted({o.column for o in (*outputs, *variant_outputs) if o.operator == "hmac"})
    probe = _probe(conn, table_policy, source, hmac_columns)
    quarantined = exclude_quarantined and _quarantined_versions(conn, source) > 0
    # A source with one row per key needs no newest-version window (the opening book, the FPR
    # table upserted by record_id): skipping it saves a sort of every row.
    rows_sql = _selected_rows_sql(table_policy, source, types, probe.rows > probe.keys, quarantined)
    ensure_schema(conn, target)
    jobs = [(target, outputs)]
    if variant_outputs:
        row_id = [c for c in (table_policy.key, table_policy.version_column) if c and c in types]
        jobs.append((variants_table, [MaskOutput(c, c, "pass", None) for c in row_id] + variant_outputs))
    # One transaction: the masked table and its variants are replaced together or not at all.
    with transaction(conn):
        if not variant_outputs:
            conn.execute(f"drop table if exists {quote_table(variants_table)}")
        rows_table = f"_finmatch_rows_{table}"
        src_cte = _source_cte(conn, source, rows_sql, rows_table)
        for rel, outs in jobs:
            exprs, dict_ctes, joins, columns = select_with_tokens(
                policy, outs, types, probe.dictionary, quote_table(source)
            )
            sql = f"with {', '.join([src_cte, *dict_ctes])} select {', '.join(exprs)} from _src s {' '.join(joins)}"
            _write_table(conn, rel, columns, sql, params if binds_key(sql) else None)
        conn.execute(f"drop table if exists temp.{quote_ident(rows_table)}")

    rows_written = int(first_row(conn, f"select count(*) from {quote_table(target)}")[0])
    return MaskingStats(
        table=table,
        role=role.name,
        source=source,
        target=target,
        variants_table=variants_table if variant_outputs else None,
        source_rows=probe.rows,
        rows_written=rows_written,
        superseded_versions=probe.rows - probe.keys,
        quarantined_excluded=probe.keys - rows_written,
        operators=operators,
        variant_columns=tuple(v.name for v in variant_outputs),
        dropped_columns=tuple(dropped),
        dictionary_columns=tuple(sorted(probe.dictionary)),
        key_id=key_id(key),
        seconds=time.perf_counter() - started,
    )


def _variant_outputs(
    policy: Policy, table: str, kept: Sequence[tuple[str, str]], default_operators: Mapping[str, str]
) -> list[MaskOutput]:
    """The stored outputs (tokens, buckets, partial masks) other roles need beyond the default role's."""
    table_policy = policy.table(table)
    outputs: list[MaskOutput] = []
    for name, _ in kept:
        tag = policy.governing_tag(table, name) if name in table_policy.columns else None
        if tag is None:
            continue
        needed = {r.operators[tag.name] for r in policy.roles.values()} & set(STORED_OPERATORS)
        for operator in sorted(needed - {default_operators[name]}):
            outputs.append(MaskOutput(f"{name}__{operator}", name, operator, tag))
    return outputs


def _source_cte(conn: duckdb.DuckDBPyConnection, source: str, rows_sql: str | None, rows_table: str) -> str:
    """The ``_src`` CTE of the rows to mask: every row, or those whose rowids ``rows_sql`` selects
    (kept in the temp table ``rows_table``, which the caller drops)."""
    if rows_sql is None:
        return f"_src as (select * from {quote_table(source)})"
    conn.execute(f"create or replace temp table {quote_ident(rows_table)} as {rows_sql}")
    return f"_src as (select * from {quote_table(source)} where rowid in (select rid from {quote_ident(rows_table)}))"


def build_masked_customers(
    conn: duckdb.DuckDBPyConnection,
    policy: Policy,
    key: str | bytes | None,
    source: str = "raw.customers",
    target: str = "masked.customers",
    exclude_quarantined: bool = True,
    variants: bool = True,
) -> MaskingStats:
    """masked.customers: the newest version of each customer, masked for the default role."""
    return build_masked_table(conn, policy, "customers", key, source, target, exclude_quarantined, variants)


def build_masked_fpr(
    conn: duckdb.DuckDBPyConnection,
    policy: Policy,
    key: str | bytes | None,
    source: str = "raw.fpr_records",
    target: str = "masked.fpr_records",
    exclude_quarantined: bool = True,
    variants: bool = True,
) -> MaskingStats:
    """masked.fpr_records: every FPR record (tombstones included, as in raw), masked for the default role."""
    return build_masked_table(conn, policy, "fpr_records", key, source, target, exclude_quarantined, variants)
