"""Extraction fixtures: generated FPR change logs, warehouse files, and independent expectations.

The expected table is computed straight from the landing Parquet with DuckDB (latest version
per record_id by updated_at), never through the API or the sync engine, so a test compares the
engine's output with the source, not with itself.

Also a command-line entry (``python -m finmatch_platform_tests.helpers.extraction``) that runs
one sync in a child process, for the kill-and-resume tests: it prints ``page <pages> <records>``
when a page arrives and ``checkpoint <n> <records>`` after a commit, flushing each line.
``--source payscore`` syncs PayScore's screening groups instead of the FPR feed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finmatch_platform.landing_zone.schemas import FPR_RECORDS
from finmatch_platform.lib.connectors import sources
from finmatch_platform.lib.connectors.declaration import RestSource
from finmatch_platform.lib.connectors.http import RestClient
from finmatch_platform.lib.connectors.paging import RestPager
from finmatch_platform.lib.connectors.sync import SyncSummary, sync_source
from finmatch_platform.lib.retry import RetryPolicy

FPR_COLUMNS: tuple[str, ...] = tuple(FPR_RECORDS.names)
# Fast retries for tests: the behaviour is the same, the waits are milliseconds.
FAST_RETRIES = RetryPolicy(max_attempts=8, budget_s=60.0, base_delay_s=0.01, max_delay_s=0.05)
EXTRACTION_START = dt.date(2026, 10, 1)


# --------------------------------------------------------------------------- source data


def generation_config(**overrides: Any) -> Any:
    """A small generator config for extraction tests (tombstones from the second day on)."""
    from finmatch_platform.simulator.generation import GenerationConfig

    settings: dict[str, Any] = {
        "seed": 11,
        "start_date": EXTRACTION_START,
        "customers": 300,
        "daily_new_customers": 3,
        "fpr_deletion_rate": 0.3,
    }
    settings.update(overrides)
    return GenerationConfig(**settings)


def land_days(landing: Path, config: Any, days: int, first: int = 0) -> list[dt.date]:
    """Write ``days`` generated days (all entities) into ``landing``; returns the days."""
    from finmatch_platform.simulator.generation import write_day

    written = [config.start_date + dt.timedelta(days=first + offset) for offset in range(days)]
    for day in written:
        write_day(config, landing, day)
    return written


def _fpr_glob(landing: Path, days: list[dt.date] | None = None) -> list[str]:
    root = Path(landing) / "fpr_records"
    if days is None:
        return sorted(str(p) for p in root.glob("date=*/part-0.parquet"))
    return [str(root / f"date={d.isoformat()}" / "part-0.parquet") for d in days]


def latest_state_sql(landing: Path, days: list[dt.date] | None = None, columns: tuple[str, ...] = FPR_COLUMNS) -> str:
    """SQL for the source's latest state: the newest version of each record_id in the files."""
    files = ", ".join("'" + f.replace("'", "''") + "'" for f in _fpr_glob(landing, days))
    select = ", ".join(f'"{c}"' for c in columns)
    return f"""
        select {select} from (
            select *, row_number() over (partition by record_id order by updated_at desc) as _version
            from read_parquet([{files}], union_by_name = true)
            where record_id is not null and record_id <> ''
        ) where _version = 1
    """


def checksum(
    conn: duckdb.DuckDBPyConnection, relation_sql: str, columns: tuple[str, ...] = FPR_COLUMNS
) -> tuple[int, int]:
    """(row count, order-independent checksum over every given column)."""
    hashed = ", ".join(f'"{c}"' for c in columns)
    count, total = conn.execute(
        f"select count(*), coalesce(sum(hash({hashed})), 0)::hugeint from ({relation_sql})"
    ).fetchone()
    return int(count), int(total)


def differences(
    conn: duckdb.DuckDBPyConnection, left_sql: str, right_sql: str, columns: tuple[str, ...] = FPR_COLUMNS
) -> list[tuple[Any, ...]]:
    """A few rows in one relation and not the other (empty when they are equal as multisets)."""
    select = ", ".join(f'"{c}"' for c in columns)
    return conn.execute(
        f"""
        (select 'missing' as side, {select} from ({left_sql}) except all select 'missing', {select} from ({right_sql}))
        union all
        (select 'unexpected', {select} from ({right_sql}) except all select 'unexpected', {select} from ({left_sql}))
        limit 5
        """
    ).fetchall()


def assert_table_equals(
    conn: duckdb.DuckDBPyConnection,
    expected_sql: str,
    table: str = "raw.fpr_records",
    columns: tuple[str, ...] = FPR_COLUMNS,
) -> None:
    actual_sql = f"select * from {table}"
    diff = differences(conn, expected_sql, actual_sql, columns)
    assert not diff, f"table differs from the expectation, e.g. {diff}"
    assert checksum(conn, actual_sql, columns) == checksum(conn, expected_sql, columns)
    duplicates = conn.execute(f"select count(*) - count(distinct record_id) from {table}").fetchone()[0]
    assert duplicates == 0, f"{duplicates} duplicate record_ids"


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        conn.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?", [schema, name]
        ).fetchone()[0]
    )


# --------------------------------------------------------------------------- syncing


def fpr_client(
    base_url: str, api_key: str, *, header: str = "x-api-key", policy: RetryPolicy = FAST_RETRIES, timeout_s: float = 10
) -> RestClient:
    """A client of the FPR API with fast retries (x-api-key by default: the simulator takes both)."""
    return RestClient(
        base_url,
        api_key,
        sources.fpr_records(header).auth,
        api_name="the FPR API",
        key_env="FINMATCH_API_KEY",
        policy=policy,
        timeout_s=timeout_s,
    )


def checkpoint_dir(db_path: Path) -> Path:
    """Where a sync into ``db_path`` keeps its checkpoint log (as WarehouseResource places it)."""
    return Path(db_path).with_name(Path(db_path).stem + ".checkpoints")


def sync_into(
    db_path: Path,
    base_url: str,
    api_key: str,
    *,
    policy: RetryPolicy = FAST_RETRIES,
    page_size: int = 100,
    checkpoint_every: int = 100,
    full_refresh: bool = False,
    header: str = "x-api-key",
    **options: Any,
) -> SyncSummary:
    """One sync of ``base_url`` into the DuckDB file ``db_path`` (opened and closed here)."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(db_path))
    try:
        with fpr_client(base_url, api_key, header=header, policy=policy) as client:
            return sync_source(
                conn,
                sources.fpr_records(header),
                RestPager(client, sources.fpr_records(header), page_size=page_size),
                log_dir=checkpoint_dir(db_path),
                checkpoint_every=checkpoint_every,
                full_refresh=full_refresh,
                **options,
            )
    finally:
        conn.close()


def payscore_client(
    base_url: str, api_key: str, *, policy: RetryPolicy = FAST_RETRIES, timeout_s: float = 10
) -> RestClient:
    """A client of the PayScore API (Bearer auth) with fast retries."""
    return RestClient(
        base_url,
        api_key,
        sources.screening_groups().auth,
        api_name="the PayScore API",
        key_env="FINMATCH_PAYSCORE_API_KEY",
        policy=policy,
        timeout_s=timeout_s,
    )


def payscore_sync_into(
    db_path: Path,
    base_url: str,
    api_key: str,
    *,
    policy: RetryPolicy = FAST_RETRIES,
    page_size: int = 100,
    checkpoint_every: int = 100,
    full_refresh: bool = False,
    initial_since: dt.datetime | None = None,
    source: RestSource | None = None,
    **options: Any,
) -> SyncSummary:
    """One sync of PayScore's screening groups into the DuckDB file ``db_path`` (opened and closed
    here); ``source`` replaces the declaration (e.g. a smaller largest page)."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    source = source or sources.screening_groups()
    conn = duckdb.connect(str(db_path))
    try:
        with payscore_client(base_url, api_key, policy=policy) as client:
            return sync_source(
                conn,
                source,
                RestPager(client, source, page_size=page_size, initial_since=initial_since),
                log_dir=checkpoint_dir(db_path),
                checkpoint_every=checkpoint_every,
                full_refresh=full_refresh,
                **options,
            )
    finally:
        conn.close()


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    """A path for a fresh DuckDB warehouse file (not created yet)."""
    return tmp_path / "warehouse" / "extraction.duckdb"


@pytest.fixture
def open_warehouse() -> Iterator[Callable[[Path], duckdb.DuckDBPyConnection]]:
    """Factory: open a DuckDB file (closed at teardown), e.g. to inspect what a sync left."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def open_(path: Path) -> duckdb.DuckDBPyConnection:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(str(path))
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        conn.close()


# --------------------------------------------------------------------------- child process


# The variable each source's key is read from in the child (never argv: it shows in `ps`).
CHILD_KEY_ENV = {"fpr": "FINMATCH_API_KEY", "payscore": "FINMATCH_PAYSCORE_API_KEY"}


def child_sync_command(
    db_path: Path,
    base_url: str,
    *,
    page_size: int,
    checkpoint_every: int,
    merge_every: int = 20_000,
    source: str = "fpr",
) -> list[str]:
    """argv for a sync in a child process; the API key goes in the environment (``CHILD_KEY_ENV``:
    FINMATCH_API_KEY for FPR, FINMATCH_PAYSCORE_API_KEY for PayScore), not argv."""
    if source not in CHILD_KEY_ENV:
        raise ValueError(f"unknown source {source!r}; known: {sorted(CHILD_KEY_ENV)}")
    return [
        sys.executable,
        "-m",
        "finmatch_platform_tests.helpers.extraction",
        "--db",
        str(db_path),
        "--base-url",
        base_url,
        "--page-size",
        str(page_size),
        "--checkpoint-every",
        str(checkpoint_every),
        "--merge-every",
        str(merge_every),
        "--source",
        source,
    ]


def run_and_kill(command: list[str], env: dict[str, str], cwd: Path, trigger: str, k: int, pause: float) -> None:
    """Run a child sync and SIGKILL it when its ``k``-th ``trigger`` line ("page" or "checkpoint")
    arrives, after ``pause`` seconds; fails if the child finished first."""
    child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    killed = False
    for line in child.stdout:
        kind, number, _records = line.split()
        if kind == trigger and int(number) >= k:
            if pause:
                time.sleep(pause)
            child.send_signal(signal.SIGKILL)
            killed = True
            break
    child.wait(timeout=30)
    assert killed and child.returncode == -signal.SIGKILL, f"the child finished before the kill ({child.returncode})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one FPR or PayScore sync (used by the kill-and-resume tests).")
    parser.add_argument("--db", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--merge-every", type=int, default=20_000)
    parser.add_argument("--source", choices=sorted(CHILD_KEY_ENV), default="fpr")
    args = parser.parse_args(argv)

    def on_page(pages: int, records: int) -> None:
        print(f"page {pages} {records}", flush=True)

    def on_checkpoint(progress: Any) -> None:
        print(f"checkpoint {progress.checkpoint} {progress.records}", flush=True)

    sync = payscore_sync_into if args.source == "payscore" else sync_into
    summary = sync(
        Path(args.db),
        args.base_url,
        os.environ[CHILD_KEY_ENV[args.source]],
        page_size=args.page_size,
        checkpoint_every=args.checkpoint_every,
        merge_every=args.merge_every,
        on_page=on_page,
        on_checkpoint=on_checkpoint,
    )
    print(f"done {summary.records} {summary.rows_in_table}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
