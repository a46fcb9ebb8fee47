"""Loading landed Parquet into ``raw.<entity>`` tables, one window of days at a time.

Every load replaces its window (delete the days, insert the files) inside one transaction, so a
rerun or an overlapping backfill never doubles rows and a failure leaves the previous state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone.schemas import ENTITIES

LANDED_DATE_COLUMN = "_landed_date"


class MissingLandingData(RuntimeError):
    """A day in the window has no landed file: load nothing rather than a partial window."""


@dataclass(frozen=True)
class LoadResult:
    entity: str
    days: int
    rows_loaded: int
    rows_replaced: int
    table_rows: int


def ensure_raw_table(conn: duckdb.DuckDBPyConnection, entity: str, schema: str = "raw") -> None:
    """Create ``<schema>.<entity>`` from the entity's Arrow schema plus the landed-date column."""
    empty = pa.Table.from_batches([], ENTITIES[entity].append(pa.field(LANDED_DATE_COLUMN, pa.date32())))
    conn.register("_empty_entity", empty)
    try:
        conn.execute(f"create table if not exists {schema}.{entity} as select * from _empty_entity")
    finally:
        conn.unregister("_empty_entity")


def load_window(
    conn: duckdb.DuckDBPyConnection,
    landing_root: Path,
    entity: str,
    days: Sequence[dt.date],
    schema: str = "raw",
) -> LoadResult:
    """Replace the rows of ``days`` in ``<schema>.<entity>`` with the landed files of those days."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}; expected one of {sorted(ENTITIES)}")
    missing = [d for d in days if not landing.partition_file(landing_root, entity, d).is_file()]
    if missing:
        raise MissingLandingData(
            f"no landed {entity} file for {', '.join(d.isoformat() for d in missing[:5])}"
            f"{' …' if len(missing) > 5 else ''}: materialize the synthetic assets for these days first"
        )
    ensure_raw_table(conn, entity, schema)
    table = f"{schema}.{entity}"
    columns = ", ".join(f'"{name}"' for name in ENTITIES[entity].names)
    files = [str(p) for p in landing.partition_files(landing_root, entity, days)]
    conn.execute("begin transaction")
    try:
        replaced = conn.execute(
            f"delete from {table} where {LANDED_DATE_COLUMN} between ? and ?", [min(days), max(days)]
        ).fetchone()[0]
        if files:
            # The landed date comes from the hive folder name, so a file can't claim another day.
            conn.execute(
                f"""
                insert into {table} ({columns}, {LANDED_DATE_COLUMN})
                select {columns}, cast("date" as date)
                from read_parquet(?, hive_partitioning = true)
                """,
                [files],
            )
        loaded = conn.execute(
            f"select count(*) from {table} where {LANDED_DATE_COLUMN} between ? and ?", [min(days), max(days)]
        ).fetchone()[0]
        total = conn.execute(f"select count(*) from {table}").fetchone()[0]
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return LoadResult(entity, len(days), int(loaded), int(replaced), int(total))
