"""The DuckDB warehouse: one file, one writer at a time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from finmatch_platform.constants import SCHEMA_MASKED, SCHEMA_META, SCHEMA_RAW
from finmatch_platform.resources.deployment import FixedByDeployment

_LOCK_POLL_S = 0.25


class WarehouseResource(FixedByDeployment, DuckDBResource):
    """The DuckDB warehouse file.

    DuckDB allows one writing process per file. Orchestration already queues writers (a pool of
    one slot); the wait here only covers a reader such as the dbt CLI or a notebook holding the
    file for a moment, so a run waits for the lock instead of failing.
    """

    lock_timeout_s: float = Field(
        default=120.0, ge=0, le=3600, description="How long to wait for the file lock (0-3600 s)."
    )

    def checkpoint_dir(self) -> Path:
        """Where the connectors' checkpoint logs live: beside the file whose merges they feed."""
        database = Path(self.database)
        return database.with_name(database.stem + ".checkpoints")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect_waiting_for_lock()
        try:
            for schema in (SCHEMA_RAW, SCHEMA_META, SCHEMA_MASKED):
                conn.execute(f"create schema if not exists {schema}")
            yield conn
        finally:
            conn.close()

    def _connect_waiting_for_lock(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                return duckdb.connect(self.database, config=dict(self.connection_config))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(_LOCK_POLL_S)
