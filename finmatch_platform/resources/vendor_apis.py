"""The vendor APIs as Dagster resources: where each is, how to authenticate, and how to sync it.

Each resource only reads and validates configuration (pydantic ``Field`` ranges: an invalid
value fails with the field's name and its bound); the connector engine in ``lib.connectors``
does the work, so tests can run it without Dagster and assets stay thin. Keys come from the
environment through ``dg.EnvVar`` and never appear in a repr, a log line or a message. A base URL
must be https unless its host is loopback or FINMATCH_ALLOW_INSECURE_HTTP=1 (``allow_insecure_http``).
"""

from __future__ import annotations

import abc
import datetime as dt
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import dagster as dg
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from finmatch_platform.lib.connectors import sources
from finmatch_platform.lib.connectors.declaration import RestSource
from finmatch_platform.lib.connectors.http import RestClient
from finmatch_platform.lib.connectors.paging import Changes, RestPager
from finmatch_platform.lib.retry import RetryPolicy
from finmatch_platform.resources.deployment import FixedByDeployment
from finmatch_platform.settings import (
    API_KEY_ENV,
    API_URL_ENV,
    PAYSCORE_API_KEY_ENV,
    PAYSCORE_BASE_URL_ENV,
    SettingsError,
    payscore_variable,
    secure_url,
)

if TYPE_CHECKING:
    import duckdb

    from finmatch_platform.lib.connectors.sync import CheckpointProgress, SyncSummary

# The vendor's hosts per environment; FINMATCH_PAYSCORE_BASE_URL overrides them (the local
# simulator under `make run`, a proxy, tests).
PAYSCORE_BASE_URLS = {
    "production": "https://api.payscore.com",
    "staging": "https://api.staging.payscore.com",
}


class VendorApiResource(FixedByDeployment, dg.ConfigurableResource):
    """What every REST source shares: connection, retries, checkpoints. Subclasses declare the source."""

    api_key: str = Field(description="API key. Use dg.EnvVar(...) so it is read at run time.", repr=False)
    # Declared before the subclasses' base_url, so its validator sees it.
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow plain http:// to hosts that are not loopback (FINMATCH_ALLOW_INSECURE_HTTP=1).",
    )
    request_timeout_s: float = Field(default=30.0, ge=5, le=300, description="Timeout of one request (5-300 s).")
    retry_attempts: int = Field(default=5, ge=1, le=10, description="Attempts per request, the first included (1-10).")
    retry_budget_s: float = Field(
        default=120.0,
        ge=1,
        le=3600,
        description="Seconds one request may spend retrying before the run fails (1-3600).",
    )
    checkpoint_every: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Make rows and position durable together at least every this many records (1-10,000); "
        "a checkpoint falls on the first page boundary at or after it.",
    )
    merge_every: int = Field(
        default=122_880,
        ge=1,
        le=1_000_000,
        description="Merge the checkpoint log into the warehouse every this many records (1-1,000,000), and at the end.",
    )

    # The variables the key and the URL come from, named in messages.
    KEY_ENV: ClassVar[str] = "the API key variable"
    URL_ENV: ClassVar[str] = "the API URL variable"

    # -- what a subclass provides -------------------------------------------------------------

    @abc.abstractmethod
    def declaration(self) -> RestSource: ...

    @abc.abstractmethod
    def resolved_base_url(self) -> str: ...

    def request_page_size(self) -> int:
        return self.declaration().default_page_size

    def initial_since(self) -> dt.datetime | None:
        return None

    # -- shared behaviour -----------------------------------------------------------------------

    def client(self, rng: random.Random | None = None, client_cls: type[RestClient] = RestClient) -> RestClient:
        """A new client (of ``client_cls``, e.g. one that logs); close it when done."""
        source = self.declaration()
        return client_cls(
            self.resolved_base_url(),
            self.api_key,
            source.auth,
            api_name=f"the {source.name} API",
            key_env=self.KEY_ENV,
            url_env=self.URL_ENV,
            allow_insecure_http=self.allow_insecure_http,
            timeout_s=self.request_timeout_s,
            policy=RetryPolicy(max_attempts=self.retry_attempts, budget_s=self.retry_budget_s),
            rng=rng,
        )

    def pager(self, client: RestClient) -> RestPager:
        return RestPager(
            client, self.declaration(), page_size=self.request_page_size(), initial_since=self.initial_since()
        )

    def changes(self, position: str | None = None, probe: bool = False) -> Changes:
        """What lies past ``position``, for sensors (``probe``: the API is known to have no
        changes endpoint, so go straight to the one-record probe)."""
        with self.client() as client:
            return self.pager(client).changes(position, probe)

    def sync(
        self,
        conn: duckdb.DuckDBPyConnection,
        *,
        log_dir: Path,
        full_refresh: bool = False,
        mask: Callable[[Any], Any] | None = None,
        on_checkpoint: Callable[[CheckpointProgress], None] | None = None,
    ) -> SyncSummary:
        """Sync the source's raw table from its stored position (see ``lib.connectors.sync``).

        Raises an ``ExtractionError`` (``AuthError`` for a wrong key) when it cannot finish; the
        checkpoints made before that are merged first, so the next run resumes after them.
        """
        from finmatch_platform.lib.connectors.sync import sync_source  # duckdb/pyarrow: load on use

        options: dict[str, Any] = {"mask": mask} if mask is not None else {}
        with self.client() as client:
            return sync_source(
                conn,
                self.declaration(),
                self.pager(client),
                log_dir=log_dir,
                checkpoint_every=self.checkpoint_every,
                merge_every=self.merge_every,
                full_refresh=full_refresh,
                on_checkpoint=on_checkpoint,
                **options,
            )


def invalid_settings(source: str, exc: ValidationError, names: Mapping[str, str] | None = None) -> SettingsError:
    """The error for a resource that rejected its settings: each invalid field is named by what
    set it (``names``: field to variable or option; otherwise its FINMATCH_PAYSCORE_* variable)."""
    given = names or {}
    problems = "; ".join(
        f"{given.get(str(e['loc'][0])) or payscore_variable(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors()
    )
    return SettingsError(f"invalid {source} setting: {problems}")


def _check_url(value: str, info: ValidationInfo, variable: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
    return secure_url(value, variable, allow_insecure=bool(info.data.get("allow_insecure_http")))


class FprApiResource(VendorApiResource):
    """The FPR product-recommendation API (``sources/000_*``): ``GET /fpr_data`` with a cursor."""

    base_url: str = Field(description="Root URL of the FPR API, e.g. http://127.0.0.1:8765.")
    api_key_header: Literal["api_key", "x-api-key"] = Field(
        default="api_key", description="The header the key is sent in: the documented api_key, or x-api-key."
    )
    page_size: int = Field(default=100, ge=1, le=sources.FPR_MAX_PAGE_SIZE, description="Records per request (1-200).")
    KEY_ENV: ClassVar[str] = API_KEY_ENV
    URL_ENV: ClassVar[str] = API_URL_ENV

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str, info: ValidationInfo) -> str:
        return _check_url(value, info, cls.URL_ENV)

    def declaration(self) -> RestSource:
        return sources.fpr_records(self.api_key_header)

    def resolved_base_url(self) -> str:
        return self.base_url

    def request_page_size(self) -> int:
        return self.page_size


class PayScoreApiResource(VendorApiResource):
    """PayScore's income-verification API (``sources/001_*``): screening groups, Bearer auth,
    ``page``/``per_page`` with an ``updated_since`` watermark."""

    environment: Literal["staging", "production"] = Field(
        default="production", description="Selects the vendor's base URL (staging or production)."
    )
    base_url: str | None = Field(
        default=None, description="Overrides the environment's URL (FINMATCH_PAYSCORE_BASE_URL): tests, proxies."
    )
    initial_sync_days: int = Field(
        default=90, ge=1, le=365, description="Days of history the first sync reads (1-365)."
    )
    max_records_per_page: int = Field(
        default=100, ge=1, le=sources.PAYSCORE_MAX_PAGE_SIZE, description="Records per request (1-1000)."
    )
    retry_attempts: int = Field(default=3, ge=1, le=10, description="Attempts per request, the first included (1-10).")
    enable_incremental_sync: bool = Field(
        default=True, description="Resume from the stored watermark; off re-reads initial_sync_days every sync."
    )
    enable_screening_groups: bool = Field(default=True, description="Sync screening groups at all.")
    sync_frequency_hours: int = Field(default=4, ge=1, le=24, description="Hours between scheduled syncs (1-24).")
    KEY_ENV: ClassVar[str] = PAYSCORE_API_KEY_ENV
    URL_ENV: ClassVar[str] = PAYSCORE_BASE_URL_ENV

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_url(value, info, cls.URL_ENV)

    def declaration(self) -> RestSource:
        return sources.screening_groups()

    def resolved_base_url(self) -> str:
        return self.base_url or PAYSCORE_BASE_URLS[self.environment]

    def request_page_size(self) -> int:
        return self.max_records_per_page

    def initial_since(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) - dt.timedelta(days=self.initial_sync_days)
