"""Turning screened records into merge plans: latest version per key, typed Arrow batches.

Records reach the planner screened (``screening.py``). Here the rest of what cannot be stored
is refused: an incremental field (or tombstone flag) that does not fit its column, so the
record cannot be ordered, and NaN or Infinity. Everything else is stored: new fields become
columns and a value that does not fit its column widens the column.

The planner never touches DuckDB after start-up: its view of the table (columns, known keys)
runs ahead of the writer by the plans not yet merged, which is exact because plans merge in
order or the sync fails.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pyarrow as pa

from finmatch_platform.lib.connectors.columns import (
    TIMESTAMPTZ,
    TS_UTC,
    Column,
    DoesNotFit,
    fits,
    infer_sql_type,
    strict_array,
    widen,
)
from finmatch_platform.lib.connectors.declaration import RestSource
from finmatch_platform.lib.connectors.http import parse_exact
from finmatch_platform.lib.sql import quote_ident

log = logging.getLogger("finmatch.extraction")

SYNCED_AT = "_synced_at"
RAW_SCHEMA = "raw"


@dataclass
class Batch:
    """Records received since the last merge, already screened for a usable key."""

    records: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[tuple[str, Any]] = field(default_factory=list)  # (reason, record as received)
    # Response bodies of pages whose records all passed screening untouched, kept as received
    # for the bulk merge (bulk.py). A batch holds bodies only while it holds nothing else.
    bodies: list[bytes] = field(default_factory=list)
    pages: int = 0
    received: int = 0
    position: str | None = None
    new_keys: set[str] = field(default_factory=set)
    reset: bool = False

    def clean(self) -> bool:
        """Whether the batch may keep raw bodies: nothing refused, no new field, no parsed records."""
        return not (self.records or self.quarantine or self.new_keys)

    def unpack_bodies(self, records_field: str) -> None:
        """Turn held bodies into records, in order, before records of another kind join them."""
        if self.bodies:
            parsed = [r for body in self.bodies for r in parse_exact(body)[0][records_field]]
            self.records[:0] = parsed
            self.bodies = []


@dataclass
class Plan:
    """One merge, fully prepared: the writer only runs its SQL in one transaction."""

    position: str | None
    synced_at: dt.datetime
    log_seq: int = 0
    reset: bool = False
    create_tables: bool = False
    create_columns: str = ""  # the CREATE TABLE column list, when create_tables
    ddl: list[str] = field(default_factory=list)  # ALTER TABLE for new or widened columns
    rows: pa.Table | None = None  # appended (new keys, and the new versions of replaced keys)
    replaced: pa.Table | None = None  # keys whose old row is deleted first
    tombstones: pa.Table | None = None  # soft deletes of known keys
    quarantine: list[tuple[str, Any]] = field(default_factory=list)
    insert_state: bool = False  # first merge of the stream: INSERT, later ones UPDATE
    pages: int = 0
    records: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    duplicates: int = 0
    schema_changes: list[str] = field(default_factory=list)


@dataclass
class TableView:
    """What the planner knows of the table when the sync starts."""

    columns: dict[str, str]  # name -> DuckDB type, in table order, without _synced_at
    keys: set[str]
    exists: bool


class Planner:
    def __init__(
        self, source: RestSource, view: TableView, *, has_state_row: bool, reset: bool, now: Callable[[], dt.datetime]
    ) -> None:
        self.source = source
        self.table = f"{RAW_SCHEMA}.{source.table}"
        self.now = now
        self.has_state_row = has_state_row
        self.reset_pending = reset
        if view.exists and not reset:
            self.columns = {n: Column(n, t, n in source.json_fields) for n, t in view.columns.items()}
            self.known = view.keys
        else:
            self.columns = {n: Column(n, t, n in source.json_fields) for n, t in source.columns.items()}
            self.known = set()
        self.table_ready = view.exists and not reset

    # -- planning ----------------------------------------------------------------------------

    def plan(self, batch: Batch, log_seq: int = 0) -> Plan:
        source, pk, deleted = self.source, self.source.primary_key, self.source.deleted_field
        plan = Plan(
            position=batch.position, synced_at=self.now(), log_seq=log_seq, pages=batch.pages, records=batch.received
        )
        if batch.reset or self.reset_pending:
            plan.reset = True
            self.known = set()
            self.columns = {n: Column(n, t, n in source.json_fields) for n, t in source.columns.items()}
            self.table_ready = False
        if not self.table_ready:
            plan.create_tables = True
        plan.insert_state = not self.has_state_row or plan.reset

        # Records that cannot be ordered are refused before the latest version per key is chosen:
        # otherwise an unusable later version would displace a good one received in the same sync.
        records, quarantine = self._orderable(batch.records)
        quarantine[:0] = batch.quarantine
        # Latest version per key wins inside a batch (the feed is in change order).
        latest: dict[str, dict[str, Any]] = {}
        for record in records:
            latest[record[pk]] = record
        plan.duplicates = len(records) - len(latest)
        if batch.new_keys:
            plan.schema_changes += self._add_columns(
                batch.new_keys, list(latest.values()), plan.ddl, plan.create_tables
            )

        fresh: list[dict[str, Any]] = []  # new keys: appended as they come (live or tombstone)
        replace: list[dict[str, Any]] = []  # known keys with a new live version
        soft_delete: list[dict[str, Any]] = []  # known keys with a tombstone
        for key, record in latest.items():
            if key not in self.known:
                fresh.append(record)
            elif deleted and record.get(deleted) is True:
                soft_delete.append(record)
            else:
                replace.append(record)

        rows = fresh + replace + soft_delete  # soft deletes too: their timestamps must fit
        if rows:
            table, kept, rejected, widened = self._arrow(rows, plan.synced_at, plan.ddl, plan.create_tables)
            plan.schema_changes += widened
            if rejected:
                quarantine += rejected
                kept_ids = {id(r) for r in kept}
                fresh = [r for r in fresh if id(r) in kept_ids]
                replace = [r for r in replace if id(r) in kept_ids]
                soft_delete = [r for r in soft_delete if id(r) in kept_ids]
            if fresh or replace:
                # _arrow keeps the order of its rows, so the live ones come first.
                plan.rows = table.slice(0, len(fresh) + len(replace))
        if plan.create_tables:
            plan.create_columns = ", ".join(f"{quote_ident(c.name)} {c.sql_type}" for c in self.columns.values())
        if replace:
            plan.replaced = pa.table({pk: pa.array([r[pk] for r in replace], pa.string())})
        if soft_delete:
            field_ = source.incremental_field
            plan.tombstones = pa.table(
                {
                    pk: pa.array([r[pk] for r in soft_delete], pa.string()),
                    field_: strict_array([r.get(field_) for r in soft_delete], self.columns[field_].sql_type),
                    SYNCED_AT: pa.repeat(pa.scalar(plan.synced_at, TS_UTC), len(soft_delete)),
                }
            )
        plan.quarantine = quarantine

        fresh_tombstones = sum(1 for r in fresh if deleted and r.get(deleted) is True)
        plan.inserted = len(fresh) - fresh_tombstones
        plan.updated = len(replace)
        plan.deleted = len(soft_delete) + fresh_tombstones

        # From here on the planner assumes the plan commits (if it does not, the sync fails).
        self.known.update(r[pk] for r in fresh)
        self.reset_pending = False
        self.table_ready = True
        self.has_state_row = True
        return plan

    def _orderable(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
        """The records whose incremental field and tombstone flag are usable, and the others with why."""
        field, flag = self.source.incremental_field, self.source.deleted_field
        column = self.columns[field]
        values = [r.get(field) for r in records]
        flags_ok = flag is None or all(type(r.get(flag)) in (bool, type(None)) for r in records)
        if None not in values and flags_ok and fits(values, column.sql_type):
            return records, []
        kept: list[dict[str, Any]] = []
        refused: list[tuple[str, Any]] = []
        for record, value in zip(records, values, strict=False):
            if value is None or not fits([value], column.sql_type):
                refused.append((_value_problem(column, value), record))
            elif flag is not None and type(record.get(flag)) not in (bool, type(None)):
                refused.append((f"{flag} does not fit BOOLEAN ({type(record.get(flag)).__name__})", record))
            else:
                kept.append(record)
        return kept, refused

    def _add_columns(self, names: set[str], records: list[dict[str, Any]], ddl: list[str], creating: bool) -> list[str]:
        added = []
        for name in sorted(names):
            if name in self.columns:
                continue
            sql_type = infer_sql_type([r.get(name) for r in records])
            if not creating:
                ddl.append(f"alter table {self.table} add column {quote_ident(name)} {sql_type}")
            self.columns[name] = Column(name, sql_type)
            log.info("new field %r in %s: adding column %s", name, self.source.name, sql_type)
            added.append(name)
        return added

    def _arrow(
        self, rows: list[dict[str, Any]], synced_at: dt.datetime, ddl: list[str], creating: bool
    ) -> tuple[pa.Table, list[dict[str, Any]], list[tuple[str, Any]], list[str]]:
        """The rows as one typed Arrow table, the rows kept, the rejected ones, the widened columns.

        A value that does not fit widens its column, unless it is NaN or Infinity: those records
        go to quarantine. (Keys were screened and ordering fields checked before this.)
        """
        columns = list(self.columns.values())
        arrays: list[pa.Array] = []
        widened: list[str] = []
        for column, values in zip(columns, _transpose(rows, [c.name for c in columns]), strict=False):
            try:
                arrays.append(column.build(values))
                continue
            except DoesNotFit:
                pass
            bad = [i for i, v in enumerate(values) if _non_finite(v)]
            if bad:
                reject = set(bad)
                rejected = [(_value_problem(column, values[i]), rows[i]) for i in sorted(reject)]
                keep = [r for i, r in enumerate(rows) if i not in reject]
                table, kept, more, more_widened = self._arrow(keep, synced_at, ddl, creating)
                return table, kept, rejected + more, widened + more_widened
            new_type = widen(column.sql_type, values)
            if not creating:
                ddl.append(f"alter table {self.table} alter column {quote_ident(column.name)} type {new_type}")
            log.info(
                "field %r of %s no longer fits %s: widening the column to %s",
                column.name,
                self.source.name,
                column.sql_type,
                new_type,
            )
            column.sql_type = new_type
            widened.append(column.name)
            arrays.append(column.build(values))
        names = [c.name for c in columns] + [SYNCED_AT]
        arrays.append(pa.repeat(pa.scalar(synced_at, TS_UTC), len(rows)))
        return pa.Table.from_arrays(arrays, names=names), rows, [], widened


def _value_problem(column: Column, value: Any) -> str:
    if _non_finite(value):
        return f"field {column.name!r} is {value!r}, which JSON cannot carry"
    if value is None:
        return f"{column.name} is missing"
    # Reasons name columns, never values: the record itself is in the (masked) payload.
    return f"{column.name} does not fit {column.sql_type} ({type(value).__name__})"


def _non_finite(value: Any) -> bool:
    return type(value) is float and not math.isfinite(value)


def _transpose(rows: list[dict[str, Any]], names: list[str]) -> list[Sequence[Any]]:
    """Column-wise values of ``rows`` (None where a record lacks the field).

    One C-level itemgetter call per record instead of one dict lookup per cell.
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
    return list(zip(*tuples, strict=False))


__all__ = ["Batch", "Plan", "Planner", "TableView", "SYNCED_AT", "RAW_SCHEMA", "TIMESTAMPTZ"]
