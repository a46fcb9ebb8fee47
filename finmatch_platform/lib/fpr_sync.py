"""The FPR sync engine: pages the API from the stored cursor into ``raw.fpr_records`` (no Dagster).

Connector semantics (DESIGN.md, "Extraction"):

- **State** lives in ``meta.extraction_state`` (stream, cursor, updated_at). A sync starts from
  the stored cursor; ``full_refresh`` starts from the beginning and drops the table, the cursor
  and the stream's quarantine rows, like a connector reset.
- **Upsert by record_id**, with ``_synced_at`` stamped per checkpoint. A tombstone
  (``_deleted: true``) is a soft delete: the row keeps its last values and gets ``_deleted`` true
  and the tombstone's ``updated_at``; a tombstone for a record never seen is inserted as it came
  (key, ``updated_at``, ``_deleted``, the rest null). A later live version revives the row.
- **Checkpoints**: every ``checkpoint_every`` records the rows, any new columns, any quarantined
  records and the cursor are committed in ONE DuckDB transaction. The cursor is opaque and
  signed, so no cursor can be made for a position inside a page: a checkpoint therefore falls on
  the first page boundary at or after N records (with page_size >= N, every page). The stored
  cursor is always the ``next_cursor`` of the last page whose records are all committed, so a
  process killed at any moment resumes with no record lost and none doubled: an uncommitted
  transaction is rolled back by DuckDB when the file is next opened.
- **Schema drift**: a field the table has not seen becomes a new column (``ALTER TABLE ADD
  COLUMN``, type inferred from its values: BOOLEAN, BIGINT, DOUBLE, DATE, TIMESTAMP[TZ], else
  VARCHAR; JSON objects and arrays are stored as JSON text). If a later value does not fit an
  inferred column, the column is widened (BIGINT to DOUBLE, anything else to VARCHAR). Each
  added or widened column counts as a schema change.
- **Quarantine**: a record without a usable ``record_id`` (missing, null, empty, not a string),
  one that is not a JSON object, or one whose value does not fit a contract column goes to
  ``meta.quarantine`` (rule, reason, the record as JSON in ``payload``), in the same transaction
  as its checkpoint, so a resumed sync does not quarantine it twice.

Speed: a checkpoint costs DuckDB a few milliseconds whatever its size (statement overhead per
column, the WAL write and its fsync), so committing overlaps with fetching: the caller's thread
fetches and parses pages, screens them and plans each checkpoint (one typed Arrow batch,
partitioned into appends, replacements and soft deletes), and a writer thread commits the plans
in order, each as one SQL script in one transaction (set-based: an INSERT from the Arrow batch,
never a statement per row). DuckDB releases the GIL while it prepares and executes, and a
commit's fsync is pure waiting. Plans only ever commit whole and in order, so the overlap
changes nothing about what a crash leaves. (An optional read-ahead thread can fetch pages too;
it is off by default, see PREFETCH_PAGES.) DuckDB's automatic checkpoints are held back during the
sync (SYNC_CHECKPOINT_THRESHOLD) and the sync checkpoints once when it ends: each automatic one
rewrites the table's open row group, about a tenth of the commit CPU at 200 records a checkpoint.
What bounds the speed is DuckDB's cost per transaction (about 3.5 ms of CPU for 200 records of
30 columns and the cursor, half of it fixed) on the writer thread, plus the GIL the two threads
share: DuckDB's Python driver parses with the GIL held and takes it back after each execution
task.
The table has no PRIMARY KEY: DuckDB's ART index roughly doubles the cost of a small insert.
Uniqueness is kept by the engine instead: it loads the set of record_ids at start and routes
each row to a plain append (new id), a delete+insert (known id) or a soft-delete update (known
id, tombstone). Only this engine writes the table.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from typing import Any, Protocol

import duckdb
import orjson
import pyarrow as pa

from finmatch_platform.lib.fpr_client import ClientStats, ExtractionError, Page, RequestRejected
from finmatch_platform.lib.quarantine import QUARANTINE_TABLE, quarantine_ddl
from finmatch_platform.lib.schemas import FPR_RECORDS

log = logging.getLogger("finmatch.extraction")

STREAM = "fpr_records"
RAW_SCHEMA = "raw"
META_SCHEMA = "meta"
TABLE = f"{RAW_SCHEMA}.{STREAM}"
STATE_TABLE = f"{META_SCHEMA}.extraction_state"
PRIMARY_KEY = "record_id"
DELETED = "_deleted"
SYNCED_AT = "_synced_at"
DEFAULT_CHECKPOINT_EVERY = 100
DEFAULT_PAGE_SIZE = 100
# Pages a read-ahead thread may fetch ahead of planning. Off by default: measured, a third
# thread contending for the GIL cost more than the request latency it hid.
PREFETCH_PAGES = 0
# Checkpoints that may wait for the writer thread (~250 KB each): enough to ride out an fsync
# that stalls for a few milliseconds on a busy disk.
WRITE_BEHIND = 4
# GIL switch interval while fetch, planning and writing run on separate threads (see below).
GIL_SWITCH_S = 0.0002
# DuckDB's WAL size that triggers an automatic checkpoint, raised for the sync (default 16 MB,
# about 140 checkpoints of 200 records): each automatic checkpoint rewrites and recompresses the
# table's open row group, so the sync checkpoints once at its end instead. Bounded, because
# rows not yet checkpointed stay in DuckDB's buffer pool.
SYNC_CHECKPOINT_THRESHOLD = "256MB"

_TS_UTC = pa.timestamp("us", tz="UTC")
_TS_NAIVE = pa.timestamp("us")
_TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_TS_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?")
_TZ_SUFFIX = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)")

_ARROW_TO_SQL = {
    pa.string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.float64(): "DOUBLE",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    _TS_UTC: _TIMESTAMPTZ,
}
# The contract's columns (lib/schemas.py) plus the sync stamp; everything else was inferred.
CONTRACT_COLUMNS: dict[str, str] = {f.name: _ARROW_TO_SQL[f.type] for f in FPR_RECORDS}


# --------------------------------------------------------------------------------------------
# Public results


@dataclass(frozen=True)
class CheckpointProgress:
    """Passed to ``on_checkpoint`` after each commit: the running totals of this sync."""

    checkpoint: int
    records: int  # records received so far (all committed at this point)
    pages: int
    inserted: int
    updated: int
    deleted: int
    quarantined: int
    schema_changes: int
    batch_records: int  # records in this checkpoint
    cursor: str | None
    elapsed_s: float


@dataclass
class SyncSummary:
    """What one sync did. ``upserts`` = inserted + updated (rows written with data)."""

    stream: str
    full_refresh: bool
    cursor_before: str | None
    cursor_after: str | None = None
    pages: int = 0
    records: int = 0  # records received from the API, quarantined ones included
    inserted: int = 0  # live records new to the table
    updated: int = 0  # live records that replaced an existing row
    deleted: int = 0  # tombstones applied (soft deletes, or tombstone rows for unseen ids)
    duplicates_in_batch: int = 0  # older versions superseded within one checkpoint
    quarantined: int = 0
    checkpoints: int = 0
    schema_changes: int = 0
    new_columns: list[str] = field(default_factory=list)
    retries: int = 0
    wait_s: float = 0.0
    requests: int = 0
    rows_in_table: int = 0
    started_at: dt.datetime | None = None
    duration_s: float = 0.0

    @property
    def upserts(self) -> int:
        return self.inserted + self.updated

    @property
    def records_per_s(self) -> float:
        return self.records / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["upserts"] = self.upserts
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        return data


class PageSource(Protocol):
    """What the engine needs from a client (:class:`~finmatch_platform.lib.fpr_client.FprClient`)."""

    stats: ClientStats

    def fetch_page(self, cursor: str | None, page_size: int) -> Page: ...


class SyncError(ExtractionError):
    """The sync cannot proceed for a reason of its own (e.g. the stored cursor is rejected)."""


# --------------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class StreamState:
    cursor: str | None
    updated_at: dt.datetime | None


def read_state(conn: duckdb.DuckDBPyConnection, stream: str = STREAM) -> StreamState | None:
    """The stored state of ``stream``, or None if it was never synced (creates nothing)."""
    if not _table_exists(conn, META_SCHEMA, "extraction_state"):
        return None
    row = conn.execute(f"select cursor, updated_at from {STATE_TABLE} where stream = ?", [stream]).fetchone()
    return StreamState(row[0], row[1]) if row else None


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        conn.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _arrow_result(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    # duckdb 2.x names it to_arrow_table; 1.x fetch_arrow_table.
    fetch = getattr(relation, "to_arrow_table", None) or getattr(relation, "fetch_arrow_table")
    return fetch()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------------------------
# Columns: building Arrow arrays from JSON values, inferring types for new fields


class _DoesNotFit(ValueError):
    pass


def _strict_array(values: Sequence[Any], sql_type: str) -> pa.Array:
    """An Arrow array of the column's type; raises _DoesNotFit if a value does not convert."""
    try:
        if sql_type == "VARCHAR":
            return pa.array(values, pa.string())
        if sql_type in _NUMERIC:
            # Infer, then cast safely: pa.array(values, int32) would silently truncate 1.5 to 1,
            # and pa.array(values, float64) would take True as 1.0.
            array = pa.array(values)
            if array.type not in _NUMBER_LIKE:
                raise _DoesNotFit(f"{array.type} values are not {sql_type}")
            return array.cast(_NUMERIC[sql_type])
        if sql_type == "BOOLEAN":
            return pa.array(values, pa.bool_())
        if sql_type == "DATE":
            return pa.array(values, pa.string()).cast(pa.date32())
        if sql_type == _TIMESTAMPTZ:
            return pa.array(values, pa.string()).cast(_TS_UTC)
        if sql_type == "TIMESTAMP":
            return pa.array(values, pa.string()).cast(_TS_NAIVE)
        # A type this engine never creates (someone altered the table): let DuckDB cast text.
        return pa.array([None if v is None else _as_text(v) for v in values], pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError, OverflowError) as exc:
        raise _DoesNotFit(str(exc)) from None


_NUMERIC = {"DOUBLE": pa.float64(), "INTEGER": pa.int32(), "BIGINT": pa.int64()}
_NUMBER_LIKE = (pa.null(), pa.int64(), pa.float64())


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode("utf-8")


def infer_sql_type(values: Sequence[Any]) -> str:
    """The DuckDB type for a new field, from the JSON values seen for it."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return "VARCHAR"  # only nulls so far: text is the one type every later value fits
    if kinds == {bool}:
        return "BOOLEAN"
    if kinds == {int}:
        return "BIGINT" if all(-(2**63) <= v < 2**63 for v in values if v is not None) else "VARCHAR"
    if kinds <= {int, float}:
        return "DOUBLE"
    if kinds == {str}:
        texts = [v for v in values if v is not None]
        if all(_DATE_TEXT.fullmatch(v) for v in texts):
            return "DATE" if _fits(texts, "DATE") else "VARCHAR"
        if all(_TS_TEXT.match(v) for v in texts):
            rests = [v[_TS_TEXT.match(v).end() :] for v in texts]  # type: ignore[union-attr]
            if all(_TZ_SUFFIX.fullmatch(r) for r in rests):
                return _TIMESTAMPTZ if _fits(texts, _TIMESTAMPTZ) else "VARCHAR"
            if all(r == "" for r in rests):
                return "TIMESTAMP" if _fits(texts, "TIMESTAMP") else "VARCHAR"
    return "VARCHAR"


def _fits(values: list[Any], sql_type: str) -> bool:
    try:
        _strict_array(values, sql_type)
    except _DoesNotFit:
        return False
    return True


def _widen(current: str, values: Sequence[Any]) -> str:
    """The type an inferred column must become to hold ``values`` as well."""
    if current in ("BIGINT", "INTEGER") and infer_sql_type(values) in ("BIGINT", "DOUBLE"):
        return "DOUBLE"
    return "VARCHAR"


@dataclass
class _Column:
    name: str
    sql_type: str
    contract: bool  # in the landing contract: values that do not fit are quarantined, not widened

    def build(self, values: Sequence[Any]) -> pa.Array:
        if self.sql_type == "VARCHAR" and not self.contract:
            # An inferred text column takes anything; objects and arrays are kept as JSON text.
            try:
                return pa.array(values, pa.string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return pa.array([None if v is None else _as_text(v) for v in values], pa.string())
        return _strict_array(values, self.sql_type)


# --------------------------------------------------------------------------------------------
# The engine


@dataclass
class _Batch:
    """Records received since the last checkpoint, already screened for a usable key."""

    records: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[tuple[str, str]] = field(default_factory=list)  # (reason, record JSON)
    pages: int = 0
    received: int = 0
    cursor: str | None = None
    new_keys: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return self.received


@dataclass
class _Plan:
    """One checkpoint, fully prepared: the writer only runs its SQL in one transaction."""

    number: int
    cursor: str | None
    synced_at: dt.datetime
    reset: bool = False
    create_tables: bool = False
    create_columns: str = ""  # the CREATE TABLE column list, when create_tables
    ddl: list[str] = field(default_factory=list)  # ALTER TABLE for new or widened columns
    rows: pa.Table | None = None  # appended (new ids, and the new versions of replaced ids)
    replaced: pa.Table | None = None  # record_ids whose old row is deleted first
    tombstones: pa.Table | None = None  # soft deletes of known ids
    quarantine: pa.Table | None = None
    insert_state: bool = False  # first checkpoint of the stream: INSERT, later ones UPDATE
    # What this checkpoint does, added to the summary once it is committed.
    pages: int = 0
    records: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    schema_changes: list[str] = field(default_factory=list)


class _Planner:
    """Turns pages into checkpoint plans. Runs on the caller's thread and never touches DuckDB
    after start-up: its view of the table (columns, known ids) runs ahead of the writer by the
    plans queued, which is exact because plans commit in order or the sync fails."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, *, stream: str, full_refresh: bool, now: Callable[[], dt.datetime]) -> None:
        self.stream = stream
        self.now = now
        state = read_state(conn, stream)
        table_exists = _table_exists(conn, RAW_SCHEMA, STREAM)
        self.cursor_before = state.cursor if state else None
        self.has_state_row = state is not None
        self.reset_pending = full_refresh
        if not full_refresh and state is not None and state.cursor and not table_exists:
            # A cursor without its table would skip every record before it: start over instead.
            log.warning("%s is missing but a cursor is stored for %r: syncing from the beginning", TABLE, stream)
            self.reset_pending = True
        self.start_cursor = None if self.reset_pending else self.cursor_before
        self.planned_cursor = self.start_cursor

        self.columns: dict[str, _Column] = {}
        self.known: set[str] = set()
        if table_exists and not self.reset_pending:
            for name, sql_type in conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = current_database() and table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [RAW_SCHEMA, STREAM],
            ).fetchall():
                if name != SYNCED_AT:
                    self.columns[name] = _Column(name, sql_type, name in CONTRACT_COLUMNS)
            self.known = set(_arrow_result(conn.sql(f"select {PRIMARY_KEY} from {TABLE}")).column(0).to_pylist())
        else:
            self.columns = {name: _Column(name, t, True) for name, t in CONTRACT_COLUMNS.items()}
        self.table_ready = table_exists and not self.reset_pending
        self.plans = 0

    def needs_tail_checkpoint(self, batch: _Batch) -> bool:
        """Whether the last, short batch must be committed: records, a reset, or a cursor to store."""
        return bool(batch.pages) and bool(
            batch.received or self.reset_pending or not self.has_state_row or batch.cursor != self.planned_cursor
        )

    # -- screening ---------------------------------------------------------------------------

    def add_page(self, batch: _Batch, page: Page) -> None:
        batch.pages += 1
        batch.received += len(page.records)
        batch.cursor = page.next_cursor
        records = page.records
        if not records:
            return
        known = self.columns.keys()
        # Fast path, all in C: every record an object with a non-blank string key, no new field.
        try:
            ids = list(map(_get_key, records))
        except (KeyError, TypeError):
            ids = None
        if (
            ids is not None
            and set(map(type, ids)) == {str}
            and "" not in set(map(str.strip, ids))
            and all(r.keys() <= known for r in records)
        ):
            batch.records.extend(records)
            return
        good: list[dict[str, Any]] = []
        extra: set[str] = set()
        for record in records:
            reason = _key_problem(record)
            if reason is None:
                good.append(record)
                if not record.keys() <= known:  # a set comparison in C; true for almost every record
                    extra.update(record.keys() - known)
            else:
                batch.quarantine.append((reason, _record_json(record)))
        batch.records.extend(good)
        if extra:
            extra.discard(SYNCED_AT)  # ours to stamp; a feed field of that name is ignored
            batch.new_keys |= extra

    # -- planning ----------------------------------------------------------------------------

    def plan(self, batch: _Batch) -> _Plan:
        self.plans += 1
        plan = _Plan(number=self.plans, cursor=batch.cursor, synced_at=self.now(), pages=batch.pages, records=batch.received)
        if self.reset_pending:
            plan.reset = True
            self.known = set()
        if not self.table_ready:
            plan.create_tables = True
            plan.create_columns = ", ".join(f"{_quote(c.name)} {c.sql_type}" for c in self.columns.values())
        plan.insert_state = not self.has_state_row or plan.reset

        # Latest version per key wins inside a batch (the feed is in change order).
        latest: dict[str, dict[str, Any]] = {}
        for record in batch.records:
            latest[record[PRIMARY_KEY]] = record
        plan.duplicates = len(batch.records) - len(latest)
        if batch.new_keys:
            plan.schema_changes += self._add_columns(batch.new_keys, list(latest.values()), plan.ddl)

        known = self.known
        fresh: list[dict[str, Any]] = []  # new ids: appended as they come (live or tombstone)
        replace: list[dict[str, Any]] = []  # known ids with a new live version
        soft_delete: list[dict[str, Any]] = []  # known ids with a tombstone
        for record_id, record in latest.items():
            if record_id not in known:
                fresh.append(record)
            elif record.get(DELETED) is True:
                soft_delete.append(record)
            else:
                replace.append(record)

        quarantine = list(batch.quarantine)
        rows = fresh + replace
        if rows:
            table, kept, rejected, widened = self._arrow(rows, plan.synced_at, plan.ddl)
            plan.schema_changes += widened
            if rejected:
                quarantine += rejected
                kept_ids = {id(r) for r in kept}
                fresh = [r for r in fresh if id(r) in kept_ids]
                replace = [r for r in replace if id(r) in kept_ids]
            if table.num_rows:
                plan.rows = table
        if replace:
            plan.replaced = pa.table({PRIMARY_KEY: pa.array([r[PRIMARY_KEY] for r in replace], pa.string())})
        if soft_delete:
            plan.tombstones = pa.table(
                {
                    PRIMARY_KEY: pa.array([r[PRIMARY_KEY] for r in soft_delete], pa.string()),
                    "updated_at": _strict_array([r.get("updated_at") for r in soft_delete], _TIMESTAMPTZ),
                    SYNCED_AT: pa.repeat(pa.scalar(plan.synced_at, _TS_UTC), len(soft_delete)),
                }
            )
        if quarantine:
            plan.quarantine = _quarantine_table(self.stream, quarantine, plan.synced_at)

        fresh_tombstones = sum(1 for r in fresh if r.get(DELETED) is True)
        plan.inserted = len(fresh) - fresh_tombstones
        plan.updated = len(replace)
        plan.deleted = len(soft_delete) + fresh_tombstones
        plan.quarantined = len(quarantine)

        # From here on the planner assumes the plan commits (if it does not, the sync fails).
        known.update(r[PRIMARY_KEY] for r in fresh)
        self.reset_pending = False
        self.table_ready = True
        self.has_state_row = True
        self.planned_cursor = batch.cursor
        return plan

    def _add_columns(self, names: set[str], records: list[dict[str, Any]], ddl: list[str]) -> list[str]:
        added = []
        for name in sorted(names):
            if name in self.columns:
                continue
            sql_type = infer_sql_type([r.get(name) for r in records])
            ddl.append(f"alter table {TABLE} add column {_quote(name)} {sql_type}")
            self.columns[name] = _Column(name, sql_type, contract=False)
            log.info("new field %r in the FPR feed: adding column %s %s", name, TABLE, sql_type)
            added.append(name)
        return added

    def _arrow(
        self, rows: list[dict[str, Any]], synced_at: dt.datetime, ddl: list[str]
    ) -> tuple[pa.Table, list[dict[str, Any]], list[tuple[str, str]], list[str]]:
        """The rows as one typed Arrow table, the rows kept, the rejected ones, the widened columns.

        A value that does not fit an inferred column widens it; one that does not fit a contract
        column sends its record to quarantine (the contract is the vendor's promise, not ours to bend).
        """
        rejected: list[tuple[str, str]] = []
        widened: list[str] = []
        arrays: list[pa.Array] = []
        columns = list(self.columns.values())
        for column, values in zip(columns, _transpose(rows, [c.name for c in columns])):
            try:
                array = column.build(values)
            except _DoesNotFit:
                if column.contract:
                    keep, bad = [], []
                    for row, value in zip(rows, values):
                        (keep if _fits([value], column.sql_type) else bad).append(row)
                    rejected += [
                        (f"field {column.name!r} does not fit {column.sql_type}: {r.get(column.name)!r}", _record_json(r))
                        for r in bad
                    ]
                    table, kept, more_rejected, more_widened = self._arrow(keep, synced_at, ddl)
                    return table, kept, rejected + more_rejected, widened + more_widened
                new_type = _widen(column.sql_type, values)
                ddl.append(f"alter table {TABLE} alter column {_quote(column.name)} type {new_type}")
                log.info("field %r no longer fits %s: widening the column to %s", column.name, column.sql_type, new_type)
                column.sql_type = new_type
                widened.append(column.name)
                array = column.build(values)
            arrays.append(array)
        names = [c.name for c in columns]
        arrays.append(pa.repeat(pa.scalar(synced_at, _TS_UTC), len(rows)))
        names.append(SYNCED_AT)
        return pa.Table.from_arrays(arrays, names=names), rows, rejected, widened


def _sql_text(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


def _sql_timestamp(value: dt.datetime) -> str:
    return f"timestamptz '{value.isoformat()}'"


def write_plan(conn: duckdb.DuckDBPyConnection, plan: _Plan, stream: str, *, skip_optimizer: bool = False) -> None:
    """Commit one checkpoint: rows, new columns, quarantine and cursor in ONE transaction.

    The statements go to DuckDB as one script: one call, one trip out of and back into the GIL
    (each trip can cost a switch interval while the fetching thread holds it). The Arrow tables
    are read by DuckDB's replacement scan of this frame's locals, which is cheaper than
    register/unregister, two catalog changes per checkpoint.

    ``skip_optimizer`` (for a connection whose optimizer is on) turns DuckDB's optimizer off for
    a checkpoint that only appends: it has no join to plan, and the optimizer passes are about a
    tenth of such a checkpoint's cost. Checkpoints with a delete or an update keep it: without
    it the UPDATE ... FROM join builds its hash table on the big side (100x slower).
    """
    _fpr_rows = plan.rows  # noqa: F841 - read by name by DuckDB
    _fpr_replaced = plan.replaced  # noqa: F841
    _fpr_tombstones = plan.tombstones  # noqa: F841
    _fpr_quarantine = plan.quarantine  # noqa: F841
    key = _sql_text(stream)
    stamp = _sql_timestamp(plan.synced_at)
    sql = ["begin transaction"]
    # The meta tables are (re)ensured whenever this checkpoint is the first to need them, so a
    # meta schema dropped by hand next to a surviving raw table does not break the sync.
    if plan.reset or plan.create_tables or plan.insert_state:
        sql += [
            f"create schema if not exists {RAW_SCHEMA}",
            f"create schema if not exists {META_SCHEMA}",
            f"create table if not exists {STATE_TABLE} "
            "(stream varchar primary key, cursor varchar, updated_at timestamp with time zone)",
            *quarantine_ddl(),
        ]
    elif plan.quarantine is not None:
        sql += quarantine_ddl()
    if plan.reset:
        sql += [
            f"drop table if exists {TABLE}",
            f"delete from {STATE_TABLE} where stream = {key}",
            # Only the extraction's own entries: the quality gate's rows for this feed stay.
            f"delete from {QUARANTINE_TABLE} where source = {key} "
            "and rule in ('missing_primary_key', 'contract_violation')",
        ]
    if plan.create_tables:
        sql.append(f"create table if not exists {TABLE} ({plan.create_columns}, {SYNCED_AT} {_TIMESTAMPTZ})")
    sql += plan.ddl
    if plan.replaced is not None:
        sql.append(f"delete from {TABLE} where {PRIMARY_KEY} in (select {PRIMARY_KEY} from _fpr_replaced)")
    if plan.rows is not None:
        sql.append(f"insert into {TABLE} by name select * from _fpr_rows")
    if plan.tombstones is not None:
        sql.append(
            f"update {TABLE} as t set {DELETED} = true, updated_at = d.updated_at, {SYNCED_AT} = d.{SYNCED_AT} "
            f"from _fpr_tombstones as d where t.{PRIMARY_KEY} = d.{PRIMARY_KEY}"
        )
    if plan.quarantine is not None:
        sql.append(f"insert into {QUARANTINE_TABLE} by name select * from _fpr_quarantine")
    if plan.insert_state:
        sql.append(f"insert into {STATE_TABLE} values ({key}, {_sql_text(plan.cursor)}, {stamp})")
    else:
        # A plain UPDATE: an upsert (ON CONFLICT) costs about a millisecond more per checkpoint.
        sql.append(f"update {STATE_TABLE} set cursor = {_sql_text(plan.cursor)}, updated_at = {stamp} where stream = {key}")
    sql.append("commit")
    optimizer_off = skip_optimizer and plan.replaced is None and plan.tombstones is None
    if optimizer_off:
        sql = ["set enable_optimizer = false", *sql, "set enable_optimizer = true"]
    try:
        conn.execute(";\n".join(sql))
    except BaseException:
        # A kill -9 never gets here; DuckDB drops an open transaction when the file is next opened.
        _rollback_quietly(conn)
        if optimizer_off:
            conn.execute("set enable_optimizer = true")
        raise


def _rollback_quietly(conn: duckdb.DuckDBPyConnection) -> None:
    try:
        conn.execute("rollback")
    except duckdb.Error:
        pass  # no transaction open (the failure came before BEGIN or after COMMIT)


@contextmanager
def _duckdb_threads(conn: duckdb.DuckDBPyConnection, threads: int) -> Iterator[None]:
    """Run DuckDB with ``threads`` worker threads for the block, then restore the setting.

    A checkpoint is a few small statements: DuckDB's task scheduler only adds overhead there
    (about a millisecond of CPU per checkpoint with 2 threads against 1), CPU the fetching side
    needs. The setting is per database instance and does not persist in the file.
    """
    previous = conn.execute("select current_setting('threads')").fetchone()[0]
    if int(previous) == threads:
        yield
        return
    conn.execute(f"set threads = {int(threads)}")
    try:
        yield
    finally:
        conn.execute(f"set threads = {int(previous)}")


@contextmanager
def _checkpoint_threshold(conn: duckdb.DuckDBPyConnection, threshold: str) -> Iterator[None]:
    """Raise DuckDB's automatic checkpoint threshold for the block, then restore it.

    Like ``threads``, the setting belongs to the database instance and is not stored in the file.
    A kill with the threshold raised only leaves a longer WAL, replayed when the file is opened.
    """
    previous = conn.execute("select current_setting('checkpoint_threshold')").fetchone()[0]
    conn.execute(f"set checkpoint_threshold = '{threshold}'")
    try:
        yield
    finally:
        conn.execute(f"set checkpoint_threshold = '{previous}'")


def _checkpoint(conn: duckdb.DuckDBPyConnection) -> None:
    """Fold the sync's WAL into the database file now, as part of the sync's own time."""
    try:
        conn.execute("checkpoint")
    except duckdb.TransactionException as exc:
        # Another connection is mid-write: its commit (or closing the file) checkpoints instead.
        log.info("checkpoint after the sync deferred: %s", exc)


@contextmanager
def _gil_switch_interval(seconds: float | None) -> Iterator[None]:
    """Let threads take turns on the GIL more often for the block, then restore the interval.

    The writer thread needs the GIL a few times per checkpoint (DuckDB's replacement scan looks
    up the Arrow table, the scan exports it, ``execute`` returns), each while the planning
    thread may be in pure Python; DuckDB's Python driver also parses SQL with the GIL held and
    takes the GIL back after every execution task to check for signals. With the default 5 ms
    interval each hand-over can cost up to 5 ms, more than the checkpoint itself. Measured next
    to a thread busy in Python: a checkpoint took 14.8 ms at 5 ms, 6.2 ms at 0.5 ms, 5.5 ms at
    0.2 ms and 8.3 ms at 0.05 ms (the hand-overs themselves start to cost). It is
    interpreter-wide, hence set only for the sync and restored.
    """
    previous = sys.getswitchinterval()
    if seconds is None or previous <= seconds:
        yield
        return
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class _Writer:
    """Commits plans in order, on a thread of its own when ``depth`` > 0.

    DuckDB releases the GIL while it executes, so the next pages are fetched, parsed and
    planned while a checkpoint commits; ``depth`` bounds how many plans may wait (memory, and
    how much work a failure of the writer throws away: none of it is ever half-committed).
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection, stream: str, depth: int) -> None:
        self.conn = conn
        self.stream = stream
        self.skip_optimizer = bool(conn.execute("select current_setting('enable_optimizer')").fetchone()[0])
        self.committed: queue.SimpleQueue[_Plan] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._queue: queue.Queue[_Plan | None] | None = None
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._run, name="fpr-writer", daemon=True)
            self._thread.start()

    def submit(self, plan: _Plan) -> None:
        if self._queue is None:
            write_plan(self.conn, plan, self.stream, skip_optimizer=self.skip_optimizer)
            self.committed.put(plan)
            return
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(plan, timeout=0.05)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every submitted plan is committed (or the writer failed)."""
        if self._queue is None or self._thread is None:
            return
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.05)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            plan = self._queue.get()
            if plan is None:
                return
            try:
                write_plan(self.conn, plan, self.stream, skip_optimizer=self.skip_optimizer)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                self.error = exc
                return
            self.committed.put(plan)


def _transpose(rows: list[dict[str, Any]], names: list[str]) -> list[Sequence[Any]]:
    """Column-wise values of ``rows`` (None where a record lacks the field).

    One C-level itemgetter call per record instead of one dict lookup per cell: on a 200-record,
    30-field page that is the difference between ~0.1 and ~0.6 ms.
    """
    if not rows:
        return [() for _ in names]
    if len(names) == 1:
        return [[r.get(names[0]) for r in rows]]
    getter = itemgetter(*names)
    try:
        tuples = [getter(r) for r in rows]
    except KeyError:  # some record lacks a field (an older record without a newer column)
        tuples = [tuple(r.get(n) for n in names) for r in rows]
    return list(zip(*tuples))


_get_key = itemgetter(PRIMARY_KEY)


def _quarantine_table(stream: str, entries: list[tuple[str, str]], synced_at: dt.datetime) -> pa.Table:
    """Rows for ``meta.quarantine``: the rule, the reason and the record as the API sent it."""
    keys = []
    for _, record in entries:
        parsed = orjson.loads(record)
        key = parsed.get(PRIMARY_KEY) if isinstance(parsed, dict) else None
        keys.append(key if isinstance(key, str) and key.strip() else None)
    n = len(entries)
    return pa.table(
        {
            "source": pa.array([stream] * n, pa.string()),
            "source_table": pa.array([TABLE] * n, pa.string()),
            "record_key": pa.array(keys, pa.string()),
            # A record without a usable key cannot be upserted; one with a key broke the contract.
            "rule": pa.array(["contract_violation" if k else "missing_primary_key" for k in keys], pa.string()),
            "reason": pa.array([reason for reason, _ in entries], pa.string()),
            "payload": pa.array([record for _, record in entries], pa.string()),
            "quarantined_at": pa.repeat(pa.scalar(synced_at, _TS_UTC), n),
        }
    )


def _key_problem(record: Any) -> str | None:
    """Why a record cannot be keyed, or None if its record_id is usable."""
    if type(record) is not dict:
        return f"record is not a JSON object but {type(record).__name__}"
    record_id = record.get(PRIMARY_KEY, _MISSING)
    if type(record_id) is str:
        return None if record_id.strip() else f"{PRIMARY_KEY} is empty"
    if record_id is _MISSING:
        return f"{PRIMARY_KEY} is missing"
    if record_id is None:
        return f"{PRIMARY_KEY} is null"
    return f"{PRIMARY_KEY} must be a string, got {type(record_id).__name__} {record_id!r}"


_MISSING = object()


def _record_json(record: Any) -> str:
    return orjson.dumps(record, default=str).decode("utf-8")


# --------------------------------------------------------------------------------------------
# Paging with read-ahead


def _prefetch(client: PageSource, cursor: str | None, page_size: int, depth: int) -> Iterator[Page]:
    """Pages from ``cursor`` while has_more, fetched by a worker thread up to ``depth`` ahead.

    The writer's checkpoint and the next request overlap. An error in the worker is re-raised
    here, in order, after the pages before it; closing the iterator stops the worker.
    """
    if depth <= 0:
        while True:
            page = client.fetch_page(cursor, page_size)
            yield page
            if not page.has_more:
                return
            cursor = page.next_cursor

    pages: queue.Queue[Page | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Page | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        position = cursor
        try:
            while not stop.is_set():
                page = client.fetch_page(position, page_size)
                if not put(page) or not page.has_more:
                    break
                position = page.next_cursor
            put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(exc)

    # Daemon: a worker stuck in a long request must not keep a failed process alive.
    worker = threading.Thread(target=work, name="fpr-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = pages.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=1.0)


# --------------------------------------------------------------------------------------------
# Entry point


def sync_fpr_records(
    conn: duckdb.DuckDBPyConnection,
    client: PageSource,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    full_refresh: bool = False,
    on_checkpoint: Callable[[CheckpointProgress], None] | None = None,
    on_page: Callable[[int, int], None] | None = None,
    stream: str = STREAM,
    prefetch_pages: int = PREFETCH_PAGES,
    write_behind: int = WRITE_BEHIND,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
) -> SyncSummary:
    """Sync the FPR feed into ``raw.fpr_records`` from the stored cursor; see the module docstring.

    ``on_checkpoint`` is called (on the caller's thread) after each commit; ``on_page(pages,
    records)`` after each page is received, before it is committed. ``prefetch_pages`` and
    ``write_behind`` set how far fetching and committing may run apart (0 and 0: strictly
    sequential). Raises an :class:`~finmatch_platform.lib.fpr_client.ExtractionError` when the API
    cannot be synced; the checkpoints committed before the failure stay, so the next run resumes
    after them, and the error is raised only after every complete checkpoint is committed.
    """
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be at least 1, got {checkpoint_every}")
    started = time.monotonic()
    stats = client.stats
    retries_before, wait_before, requests_before = stats.retries, stats.wait_s, stats.requests
    planner = _Planner(conn, stream=stream, full_refresh=full_refresh, now=now)
    summary = SyncSummary(
        stream=stream,
        full_refresh=full_refresh,
        cursor_before=planner.cursor_before,
        cursor_after=planner.cursor_before,
        started_at=now(),
    )
    log.info(
        "syncing %s from %s (page_size=%d, checkpoint every %d records)",
        stream, "the beginning" if planner.start_cursor is None else "the stored cursor", page_size, checkpoint_every,
    )

    def account(plan: _Plan) -> None:
        summary.checkpoints += 1
        summary.pages += plan.pages
        summary.records += plan.records
        summary.inserted += plan.inserted
        summary.updated += plan.updated
        summary.deleted += plan.deleted
        summary.duplicates_in_batch += plan.duplicates
        summary.quarantined += plan.quarantined
        summary.schema_changes += len(plan.schema_changes)
        summary.new_columns += [c for c in plan.schema_changes if c not in summary.new_columns]
        summary.cursor_after = plan.cursor
        if on_checkpoint is not None:
            on_checkpoint(
                CheckpointProgress(
                    checkpoint=summary.checkpoints, records=summary.records, pages=summary.pages,
                    inserted=summary.inserted, updated=summary.updated, deleted=summary.deleted,
                    quarantined=summary.quarantined, schema_changes=summary.schema_changes,
                    batch_records=plan.records, cursor=plan.cursor, elapsed_s=time.monotonic() - started,
                )
            )

    def drain() -> None:
        while True:
            try:
                plan = writer.committed.get_nowait()
            except queue.Empty:
                return
            account(plan)

    batch = _Batch(cursor=planner.start_cursor)
    received_pages = received_records = 0
    failure: BaseException | None = None
    threaded = bool(write_behind or prefetch_pages)
    with (
        _duckdb_threads(conn, 1),
        _checkpoint_threshold(conn, SYNC_CHECKPOINT_THRESHOLD),
        _gil_switch_interval(GIL_SWITCH_S if threaded else None),
    ):
        writer = _Writer(conn, stream, write_behind)
        pages = _prefetch(client, planner.start_cursor, page_size, prefetch_pages)
        try:
            for page in pages:
                planner.add_page(batch, page)
                received_pages += 1
                received_records += len(page.records)
                if on_page is not None:
                    on_page(received_pages, received_records)
                if len(batch) >= checkpoint_every:
                    writer.submit(planner.plan(batch))
                    batch = _Batch(cursor=batch.cursor)
                    drain()
            # The tail: fewer than checkpoint_every records, or nothing new but the cursor to store
            # (the first sync of an empty feed, or a reset that found no records).
            if planner.needs_tail_checkpoint(batch):
                writer.submit(planner.plan(batch))
            else:
                summary.pages += batch.pages
        except BaseException as exc:
            failure = exc
        finally:
            pages.close()  # type: ignore[attr-defined]
            writer.finish()  # complete checkpoints already handed over still commit
            drain()
    if writer.error is not None and writer.error is not failure:
        raise writer.error from failure
    if failure is not None:
        if isinstance(failure, RequestRejected) and planner.start_cursor is not None and "invalid_cursor" in str(failure):
            raise SyncError(
                f"{failure}. The stored cursor of {stream!r} is no longer accepted (was the API key or cursor "
                "secret rotated?): run the extraction with full_refresh to start over",
                status=failure.status,
                attempts=failure.attempts,
            ) from failure
        raise failure

    _checkpoint(conn)
    summary.retries = stats.retries - retries_before
    summary.wait_s = round(stats.wait_s - wait_before, 3)
    summary.requests = stats.requests - requests_before
    summary.rows_in_table = (
        int(conn.execute(f"select count(*) from {TABLE}").fetchone()[0]) if _table_exists(conn, RAW_SCHEMA, STREAM) else 0
    )
    summary.duration_s = round(time.monotonic() - started, 3)
    log.info(
        "synced %s: %d records in %d pages, %d inserted, %d updated, %d deleted, %d quarantined, "
        "%d checkpoints, %d schema changes, %d retries (%.1f s waiting) in %.1f s",
        stream, summary.records, summary.pages, summary.inserted, summary.updated, summary.deleted,
        summary.quarantined, summary.checkpoints, summary.schema_changes, summary.retries, summary.wait_s,
        summary.duration_s,
    )
    return summary
