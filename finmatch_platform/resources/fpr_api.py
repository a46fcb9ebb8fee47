"""The FPR API as a Dagster resource: connection settings, retry limits and the checkpoint interval.

The resource only reads and validates configuration; the work is done by the pure modules it
builds on (``lib.fpr_client``, ``lib.retry``, ``lib.fpr_sync``), so tests can run them without
Dagster and assets stay thin.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, field_validator

from finmatch_platform.lib.fpr_client import Changes, FprClient
from finmatch_platform.lib.retry import RetryPolicy

if TYPE_CHECKING:
    import duckdb

    from finmatch_platform.lib.fpr_sync import CheckpointProgress, SyncSummary

# (low, high, unit) per numeric field: the single source for validation and the messages.
PAGE_SIZE_RANGE = (1, 200, "records per request")
REQUEST_TIMEOUT_RANGE = (5, 300, "seconds")
RETRY_ATTEMPTS_RANGE = (1, 10, "attempts per request")
RETRY_BUDGET_RANGE = (1, 3600, "seconds per request")
CHECKPOINT_EVERY_RANGE = (1, 10_000, "records")


def _in_range(name: str, value: float, bounds: tuple[float, float, str]) -> float:
    low, high, unit = bounds
    if not low <= value <= high:  # NaN fails this too
        raise ValueError(f"{name} must be between {low:,} and {high:,} ({unit}), got {value}")
    return value


class FprApiResource(dg.ConfigurableResource):
    """The FPR product-recommendation API (DESIGN.md, "FPR API") and how to sync it.

    Pass the key as ``dg.EnvVar("FINMATCH_API_KEY")`` so it is read from the environment at run
    time and never stored in the run config.
    """

    base_url: str = Field(description="Root URL of the FPR API, e.g. http://127.0.0.1:8765.")
    # repr=False: a resolved key must not reach logs through a printed resource.
    api_key: str = Field(description="API key, sent as x-api-key. Use dg.EnvVar('FINMATCH_API_KEY').", repr=False)
    page_size: int = Field(default=100, description="Records per request (1-200).")
    request_timeout_s: float = Field(default=30.0, description="Timeout of one request in seconds (5-300).")
    retry_attempts: int = Field(
        default=5, description="Attempts per request before the run fails, the first included (1-10)."
    )
    retry_budget_s: float = Field(
        default=120.0, description="Seconds one request may spend retrying before the run fails (1-3600)."
    )
    checkpoint_every: int = Field(
        default=100,
        description="Commit rows and cursor together at least every this many records (1-10,000); "
        "a checkpoint falls on the first page boundary at or after it.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("page_size")
    @classmethod
    def _check_page_size(cls, value: int) -> int:
        return int(_in_range("page_size", value, PAGE_SIZE_RANGE))

    @field_validator("request_timeout_s")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        return _in_range("request_timeout_s", value, REQUEST_TIMEOUT_RANGE)

    @field_validator("retry_attempts")
    @classmethod
    def _check_attempts(cls, value: int) -> int:
        return int(_in_range("retry_attempts", value, RETRY_ATTEMPTS_RANGE))

    @field_validator("retry_budget_s")
    @classmethod
    def _check_budget(cls, value: float) -> float:
        return _in_range("retry_budget_s", value, RETRY_BUDGET_RANGE)

    @field_validator("checkpoint_every")
    @classmethod
    def _check_checkpoint_every(cls, value: int) -> int:
        return int(_in_range("checkpoint_every", value, CHECKPOINT_EVERY_RANGE))

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.retry_attempts, budget_s=self.retry_budget_s)

    def client(self, rng: random.Random | None = None) -> FprClient:
        """A new client; close it (or use it as a context manager) when done."""
        return FprClient(
            self.base_url, self.api_key, timeout_s=self.request_timeout_s, policy=self.retry_policy(), rng=rng
        )

    def changes(self, cursor: str | None = None) -> Changes:
        """What lies past ``cursor`` (count, high-water mark): one cheap request, for sensors."""
        with self.client() as client:
            return client.changes(cursor)

    def sync(
        self,
        conn: duckdb.DuckDBPyConnection,
        full_refresh: bool = False,
        on_checkpoint: Callable[[CheckpointProgress], None] | None = None,
    ) -> SyncSummary:
        """Sync ``raw.fpr_records`` from the stored cursor (see ``lib.fpr_sync``).

        Raises an ``ExtractionError`` (``AuthError`` for a wrong key) when it cannot finish; the
        checkpoints committed before that stay, so the next run resumes after them.
        """
        from finmatch_platform.lib.fpr_sync import sync_fpr_records  # duckdb/pyarrow: load on use

        with self.client() as client:
            return sync_fpr_records(
                conn,
                client,
                page_size=self.page_size,
                checkpoint_every=self.checkpoint_every,
                full_refresh=full_refresh,
                on_checkpoint=on_checkpoint,
            )
