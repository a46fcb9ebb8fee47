"""The warehouse side of a sync: stream state, the table as it stands, and one merge per transaction.

State lives in ``meta.extraction_state`` (stream, cursor, updated_at, log_seq): ``cursor`` is
the position a later sync resumes from and ``log_seq`` the last checkpoint-log record merged.
A merge writes rows, new or widened columns, quarantine entries and the state in ONE DuckDB
transaction, as one SQL script (one trip out of and back into the GIL), reading its Arrow
tables by DuckDB's replacement scan of this frame's locals.

Tables have no PRIMARY KEY (DuckDB's ART index roughly doubles the cost of a small insert):
uniqueness is kept by the engine, which knows the keys and routes each row to a plain append
(new key), a delete+insert (known key) or a soft-delete update (known key, tombstone). Only the
engine writes these tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from finmatch_platform.lib.connectors.columns import TIMESTAMPTZ, TS_UTC, json_text
from finmatch_platform.lib.connectors.declaration import RestSource
from finmatch_platform.lib.connectors.planner import RAW_SCHEMA, SYNCED_AT, Plan, TableView
from finmatch_platform.lib.quarantine import QUARANTINE_TABLE, quarantine_ddl
from finmatch_platform.lib.sql import literal, literal_list, nullable_literal, quote_ident, table_exists

META_SCHEMA = "meta"
STATE_TABLE = f"{META_SCHEMA}.extraction_state"
# The extraction's own quarantine rules: a reset clears these, never the quality gate's rows.
QUARANTINE_RULES = ("missing_primary_key", "unstorable_record")


@dataclass(frozen=True)
class StreamState:
    cursor: str | None
    updated_at: dt.datetime | None
    log_seq: int = 0


def read_state(conn: duckdb.DuckDBPyConnection, stream: str) -> StreamState | None:
    """The stored state of ``stream``, or None if it was never synced (creates nothing)."""
    if not table_exists(conn, META_SCHEMA, "extraction_state"):
        return None
    columns = {r[0] for r in conn.execute(f"select column_name from (describe {STATE_TABLE})").fetchall()}
    seq = "log_seq" if "log_seq" in columns else "0"
    row = conn.execute(f"select cursor, updated_at, {seq} from {STATE_TABLE} where stream = ?", [stream]).fetchone()
    return StreamState(row[0], row[1], int(row[2] or 0)) if row else None


def ensure_meta(conn: duckdb.DuckDBPyConnection) -> None:
    """The state and quarantine tables, created or brought up to date (idempotent)."""
    conn.execute(
        ";\n".join(
            [
                f"create schema if not exists {RAW_SCHEMA}",
                f"create schema if not exists {META_SCHEMA}",
                f"create table if not exists {STATE_TABLE} "
                f"(stream varchar primary key, cursor varchar, updated_at {TIMESTAMPTZ})",
                f"alter table {STATE_TABLE} add column if not exists log_seq bigint",
                *quarantine_ddl(),
            ]
        )
    )


def ensure_table(conn: duckdb.DuckDBPyConnection, source: RestSource) -> None:
    """The stream's table with its declared columns, empty if it was never synced (a source that
    is switched off still leaves its models something to read)."""
    columns = ", ".join(f"{quote_ident(name)} {sql_type}" for name, sql_type in source.columns.items())
    conn.execute(f"create schema if not exists {RAW_SCHEMA}")
    conn.execute(
        f"create table if not exists {RAW_SCHEMA}.{quote_ident(source.table)} ({columns}, {SYNCED_AT} {TIMESTAMPTZ})"
    )


def table_view(conn: duckdb.DuckDBPyConnection, source: RestSource) -> TableView:
    if not table_exists(conn, RAW_SCHEMA, source.table):
        return TableView({}, set(), exists=False)
    columns = {
        name: sql_type
        for name, sql_type in conn.execute(
            "select column_name, data_type from information_schema.columns where table_catalog = current_database() "
            "and table_schema = ? and table_name = ? order by ordinal_position",
            [RAW_SCHEMA, source.table],
        ).fetchall()
        if name != SYNCED_AT
    }
    relation = conn.sql(f"select {quote_ident(source.primary_key)} from {RAW_SCHEMA}.{quote_ident(source.table)}")
    keys = set(_arrow_result(relation).column(0).to_pylist())
    return TableView(columns, keys, exists=True)


def row_count(conn: duckdb.DuckDBPyConnection, source: RestSource) -> int:
    if not table_exists(conn, RAW_SCHEMA, source.table):
        return 0
    return int(conn.execute(f"select count(*) from {RAW_SCHEMA}.{quote_ident(source.table)}").fetchone()[0])


def quarantine_table(
    source: RestSource, entries: list[tuple[str, Any]], synced_at: dt.datetime, mask: Callable[[Any], Any]
) -> pa.Table:
    """Rows for ``meta.quarantine``: rule, reason and the record as received, masked by ``mask``."""
    keys = []
    for _, record in entries:
        key = record.get(source.primary_key) if isinstance(record, dict) else None
        keys.append(key if isinstance(key, str) and key.strip() else None)
    n = len(entries)
    return pa.table(
        {
            "source": pa.array([source.name] * n, pa.string()),
            "source_table": pa.array([f"{RAW_SCHEMA}.{source.table}"] * n, pa.string()),
            "record_key": pa.array(keys, pa.string()),
            # A record without a usable key cannot be upserted; one with a key could not be stored.
            "rule": pa.array(["unstorable_record" if k else "missing_primary_key" for k in keys], pa.string()),
            "reason": pa.array([reason for reason, _ in entries], pa.string()),
            "payload": pa.array([json_text(mask(r)) for _, r in entries], pa.string()),
            "quarantined_at": pa.repeat(pa.scalar(synced_at, TS_UTC), n),
        }
    )


def reset_sql(source: RestSource) -> list[str]:
    """Drop the stream's table, position and its own quarantine rows (a connector reset)."""
    key = literal(source.name)
    return [
        f"drop table if exists {RAW_SCHEMA}.{quote_ident(source.table)}",
        f"delete from {STATE_TABLE} where stream = {key}",
        f"delete from {QUARANTINE_TABLE} where source = {key} and rule in {literal_list(QUARANTINE_RULES)}",
    ]


def state_sql(
    source: RestSource, position: str | None, synced_at: dt.datetime, log_seq: int, insert: bool
) -> list[str]:
    """Store the stream's position and the last merged log record (same transaction as the rows)."""
    key, cursor, stamp = literal(source.name), nullable_literal(position), f"timestamptz '{synced_at.isoformat()}'"
    if insert:
        return [
            f"insert into {STATE_TABLE} (stream, cursor, updated_at, log_seq) "
            f"values ({key}, {cursor}, {stamp}, {int(log_seq)})"
        ]
    return [
        f"update {STATE_TABLE} set cursor = {cursor}, updated_at = {stamp}, log_seq = {int(log_seq)} where stream = {key}"
    ]


def write_plan(conn: duckdb.DuckDBPyConnection, source: RestSource, plan: Plan, quarantine: pa.Table | None) -> None:
    """Commit one merge: rows, new columns, quarantine and state in ONE transaction."""
    _rows = plan.rows  # noqa: F841 - read by name by DuckDB
    _replaced = plan.replaced  # noqa: F841
    _tombstones = plan.tombstones  # noqa: F841
    _quarantine = quarantine  # noqa: F841
    table = f"{RAW_SCHEMA}.{quote_ident(source.table)}"
    pk, field_ = quote_ident(source.primary_key), quote_ident(source.incremental_field)
    sql = ["begin transaction"]
    if plan.reset:
        sql += reset_sql(source)
    if plan.create_tables:
        sql.append(f"create table if not exists {table} ({plan.create_columns}, {SYNCED_AT} {TIMESTAMPTZ})")
    sql += plan.ddl
    if plan.replaced is not None:
        sql.append(f"delete from {table} where {pk} in (select {pk} from _replaced)")
    if plan.rows is not None:
        sql.append(f"insert into {table} by name select * from _rows")
    if plan.tombstones is not None and source.deleted_field:
        deleted = quote_ident(source.deleted_field)
        sql.append(
            f"update {table} as t set {deleted} = true, {field_} = d.{field_}, {SYNCED_AT} = d.{SYNCED_AT} "
            f"from _tombstones as d where t.{pk} = d.{pk}"
        )
    if quarantine is not None:
        sql.append(f"insert into {QUARANTINE_TABLE} by name select * from _quarantine")
    sql += state_sql(source, plan.position, plan.synced_at, plan.log_seq, plan.insert_state)
    sql.append("commit")
    try:
        conn.execute(";\n".join(sql))
    except BaseException:
        # A kill -9 never gets here; DuckDB drops an open transaction when the file is next opened.
        # No transaction may be open (the failure came before BEGIN or after COMMIT).
        with contextlib.suppress(duckdb.Error):
            conn.execute("rollback")
        raise


def fold_wal(conn: duckdb.DuckDBPyConnection) -> None:
    """Fold the sync's WAL into the database file now, as part of the sync's own time."""
    # Another connection may be mid-write: its commit (or closing the file) checkpoints instead.
    with contextlib.suppress(duckdb.TransactionException):
        conn.execute("checkpoint")


@contextmanager
def duckdb_setting(conn: duckdb.DuckDBPyConnection, name: str, value: str) -> Iterator[None]:
    """Set a database-instance setting for the block, then restore it (it is not stored in the file)."""
    previous = conn.execute(f"select current_setting('{name}')").fetchone()[0]
    conn.execute(f"set {name} = '{value}'")
    try:
        yield
    finally:
        conn.execute(f"set {name} = '{previous}'")


def _arrow_result(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    # duckdb 2.x names it to_arrow_table; 1.x fetch_arrow_table.
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()
