"""The bulk merge: clean pages parsed by Arrow's JSON reader and routed in DuckDB, off the GIL.

Pages whose records all passed screening untouched (objects with usable keys, only known
fields, no NaN) keep the response body as it came. A merge of such pages is parsed by
``pyarrow.json`` straight into the table's column types and routed by SQL in DuckDB: the latest
version per key, replacements, soft deletes and new rows. Both run in C++ without Python's
GIL, so the next pages are fetched meanwhile. Anything the reader refuses (a value that does not
fit, a field the table lacks, a nested column) sends the merge down the Python planner, which
widens, adds columns and quarantines; both paths write the same rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from finmatch_platform.lib.connectors.columns import TIMESTAMPTZ, TS_NAIVE, TS_UTC, Column
from finmatch_platform.lib.connectors.declaration import RestSource
from finmatch_platform.lib.connectors.planner import RAW_SCHEMA, SYNCED_AT, Batch, Planner
from finmatch_platform.lib.connectors.writer import reset_sql, state_sql
from finmatch_platform.lib.sql import quote_ident

# DuckDB type -> how the JSON reader reads it (dates as text, cast after: the reader has no date parser).
_READ_AS = {
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.string(),
    TIMESTAMPTZ: TS_UTC,
    "TIMESTAMP": TS_NAIVE,
}
_ORDER = "_finmatch_order"
# Below this many records the bulk merge's fixed cost (a temp table, a join, five statements)
# outweighs what it saves over the Python planner.
BULK_MIN_RECORDS = 2_000


@dataclass
class BulkPlan:
    rows: pa.Table  # every record of the merge, typed, in feed order (``_finmatch_order``)
    position: str | None
    synced_at: dt.datetime
    log_seq: int
    reset: bool
    create_columns: str | None  # the CREATE TABLE column list, when the table must be created
    insert_state: bool
    # Neither a key twice in the merge nor one already in the table: the merge is a plain append.
    append_only: bool = False


def parse_bodies(bodies: list[bytes], source: RestSource, columns: dict[str, Column]) -> pa.Table | None:
    """The records of ``bodies`` as one typed table, or None where the reader cannot do it exactly."""
    if any(c.json or c.sql_type not in _READ_AS for c in columns.values()) or any(b"\n" in b for b in bodies):
        return None
    records_field = source.paging.records_field
    struct = pa.struct([pa.field(c.name, _READ_AS[c.sql_type]) for c in columns.values()])
    schema = pa.schema([pa.field(records_field, pa.list_(struct))])
    try:
        parsed = pj.read_json(
            io.BytesIO(b"\n".join(bodies)),
            read_options=pj.ReadOptions(use_threads=False, block_size=max(1 << 20, 2 * max(map(len, bodies)))),
            # The envelope's other fields (next_cursor, has_more) are not ours to keep; records
            # reach this path only with known fields, which screening checked.
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
        chunks = [chunk.flatten() for chunk in parsed.column(records_field).chunks]
        rows = pa.Table.from_struct_array(pa.chunked_array(chunks, struct))
        for name, column in columns.items():
            if column.sql_type == "DATE":
                rows = rows.set_column(rows.schema.get_field_index(name), name, pc.cast(rows[name], pa.date32()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if rows[source.incremental_field].null_count:
        return None  # a record that cannot be ordered: the Python planner quarantines it
    return rows


def bulk_columns(planner: Planner, reset: bool = False) -> dict[str, Column]:
    """The columns a bulk merge writes: the declared ones after a reset, else the table's."""
    if reset or planner.reset_pending:
        return {n: Column(n, t, n in planner.source.json_fields) for n, t in planner.source.columns.items()}
    return planner.columns


def bulk_plan(planner: Planner, batch: Batch, log_seq: int, parsed: list[pa.Table] | None = None) -> BulkPlan | None:
    """The merge of a batch of raw bodies, or None when the Python planner must take it.

    ``parsed`` holds the batch's bodies already parsed, in order (the merge thread parses each
    checkpoint as it arrives, so a merge at the end of a sync only has to write).
    """
    if not batch.clean() or batch.received < BULK_MIN_RECORDS:
        return None
    reset = batch.reset or planner.reset_pending
    columns = bulk_columns(planner, reset)
    if parsed is not None and sum(t.num_rows for t in parsed) == batch.received:
        rows = pa.concat_tables(parsed) if parsed else None
    else:
        rows = parse_bodies(batch.bodies, planner.source, columns)
    if rows is None:
        return None
    create = reset or not planner.table_ready
    keys = rows[planner.source.primary_key]
    known = set() if reset else planner.known
    append_only = pc.count_distinct(keys).as_py() == rows.num_rows and (
        not known or not any(map(known.__contains__, keys.to_pylist()))
    )
    plan = BulkPlan(
        rows=rows,
        position=batch.position,
        synced_at=planner.now(),
        log_seq=log_seq,
        reset=reset,
        create_columns=", ".join(f"{quote_ident(c.name)} {c.sql_type}" for c in columns.values()) if create else None,
        insert_state=not planner.has_state_row or reset,
        append_only=append_only,
    )
    # From here on the planner assumes the merge commits (if it does not, the sync fails).
    if reset:
        planner.columns, planner.known = columns, set()
    planner.reset_pending = False
    planner.table_ready = True
    planner.has_state_row = True
    return plan


def write_bulk(conn: duckdb.DuckDBPyConnection, source: RestSource, plan: BulkPlan) -> tuple[int, int, int, int]:
    """Apply the merge in ONE transaction; returns (inserted, updated, deleted, duplicates)."""
    table = f"{RAW_SCHEMA}.{quote_ident(source.table)}"
    pk, field = quote_ident(source.primary_key), quote_ident(source.incremental_field)
    deleted = f"coalesce(l.{quote_ident(source.deleted_field)}, false)" if source.deleted_field else "false"
    n = plan.rows.num_rows
    _bulk = plan.rows.append_column(SYNCED_AT, pa.repeat(pa.scalar(plan.synced_at, TS_UTC), n)).append_column(  # noqa: F841 - read by DuckDB
        _ORDER, pa.array(range(n), pa.int64())
    )
    conn.execute("begin transaction")
    try:
        setup = reset_sql(source) if plan.reset else []
        if plan.create_columns is not None:
            setup.append(f"create table if not exists {table} ({plan.create_columns}, {SYNCED_AT} {TIMESTAMPTZ})")
        if plan.append_only:
            # One large insert: DuckDB writes it as compressed row groups, not through the WAL.
            tombstones = pc.sum(plan.rows[source.deleted_field]).as_py() or 0 if source.deleted_field else 0
            statements = [
                *setup,
                f"insert into {table} by name select * exclude ({_ORDER}) from _bulk",
                *state_sql(source, plan.position, plan.synced_at, plan.log_seq, plan.insert_state),
                "commit",
            ]
            conn.execute(";\n".join(statements))
            return n - tombstones, 0, tombstones, 0
        setup.append(
            f"create or replace temp table _finmatch_latest as select * exclude ({_ORDER}) from _bulk "
            f"qualify row_number() over (partition by {pk} order by {_ORDER} desc) = 1"
        )
        conn.execute(";\n".join(setup))
        inserted, updated, tombstones, latest = conn.execute(
            f"select count(*) filter (where k.{pk} is null and not {deleted}), "
            f"count(*) filter (where k.{pk} is not null and not {deleted}), count(*) filter (where {deleted}), "
            f"count(*) from _finmatch_latest l left join (select {pk} from {table}) k using ({pk})"
        ).fetchone()
        apply = [f"delete from {table} where {pk} in (select {pk} from _finmatch_latest l where not {deleted})"]
        if source.deleted_field:
            apply.append(
                f"update {table} as t set {quote_ident(source.deleted_field)} = true, {field} = l.{field}, "
                f"{SYNCED_AT} = l.{SYNCED_AT} from _finmatch_latest l where {deleted} and t.{pk} = l.{pk}"
            )
        apply += [
            f"insert into {table} by name select * from _finmatch_latest l "
            f"where not {deleted} or l.{pk} not in (select {pk} from {table})",
            "drop table _finmatch_latest",
            *state_sql(source, plan.position, plan.synced_at, plan.log_seq, plan.insert_state),
            "commit",
        ]
        conn.execute(";\n".join(apply))
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            conn.execute("rollback")
        raise
    return int(inserted), int(updated), int(tombstones), n - int(latest)


__all__ = ["BulkPlan", "bulk_columns", "bulk_plan", "parse_bodies", "write_bulk"]
