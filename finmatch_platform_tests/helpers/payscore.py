"""PayScore API fixtures: a live ``finmatch-payscore-api`` on a free loopback port, and data to serve.

For connector tests as well as the server's own::

    config = payscore_generation_config()
    land_screening_group_days(landing, config, 3)          # the real generator, this entity only
    api = start_payscore_api(landing, error_rate=0.2)       # fault knobs as in FaultConfig
    api = start_payscore_api(landing, drift_updates=3, drift_requests=5)
    ...sync with api.base_url and api.api_key...
    assert synced == expected_screening_groups(landing)     # computed from the Parquet with DuckDB
    assert synced == stable_state(api)                      # the live API, paged after its drift

``expected_screening_groups`` is independent of the server's code: DuckDB picks each id's latest
version and renders rows the way the API documents them (ISO 8601 UTC with microseconds and Z,
settings nested), so comparing it with what a client stored checks the whole path.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
import requests

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.lib.connectors import sources
from finmatch_platform.simulator.api.faults import KNOBS, env_name
from finmatch_platform_tests.helpers.servers import LiveServer, start_server

if TYPE_CHECKING:
    from finmatch_platform.simulator.generation import GenerationConfig

# A test-only key, long and distinctive so a leak into logs or bodies is easy to grep for.
PAYSCORE_TEST_API_KEY = "payscore-test-key-8f2a6c4e1b"
PAYSCORE_START_DAY = dt.date(2026, 10, 1)
PAYSCORE_DATA_PATH = "/api/v1/screening-groups"
PAYSCORE_FAULT_ENV_PREFIX = "FINMATCH_PAYSCORE_FAULT_"
ENTITY = "screening_groups"
_SERVER = Path(sys.executable).with_name("finmatch-payscore-api")
_DRIFT_OPTIONS = {"drift_updates", "drift_requests", "drift_seed"}
_RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class LivePayScore(LiveServer):
    @property
    def url(self) -> str:
        """The screening-groups endpoint."""
        return self.base_url + PAYSCORE_DATA_PATH

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def get(self, **params: Any) -> requests.Response:
        """One request to the screening-groups endpoint with the key; no retries."""
        return requests.get(self.url, params=params, headers=self.headers, timeout=30)

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.base_url}/health", timeout=10).json()


def payscore_env(**options: Any) -> dict[str, str]:
    """Variables for fault knobs (``error_rate=0.3``, names of FaultConfig) and drift options
    (``drift_updates``, ``drift_requests``, ``drift_seed``); a typo fails loudly."""
    unknown = set(options) - set(KNOBS) - _DRIFT_OPTIONS
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}; known: {sorted(set(KNOBS) | _DRIFT_OPTIONS)}")
    env = {}
    for name, value in options.items():
        if isinstance(value, (tuple, list)):
            value = ",".join(str(v) for v in value)
        variable = (
            f"FINMATCH_PAYSCORE_{name.upper()}" if name in _DRIFT_OPTIONS else env_name(name, PAYSCORE_FAULT_ENV_PREFIX)
        )
        env[variable] = str(value)
    return env


def launch_payscore_api(
    landing_dir: Path,
    *,
    api_key: str = PAYSCORE_TEST_API_KEY,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    refresh_seconds: float = 0.0,
    args: tuple[str, ...] = (),
    startup_timeout: float = 30.0,
    **options: Any,
) -> LivePayScore:
    """Start ``finmatch-payscore-api`` on 127.0.0.1 and wait until /health answers.

    ``options`` are fault knobs and drift options (see :func:`payscore_env`); ``env`` is applied
    last and wins. ``refresh_seconds`` defaults to 0 so a day a test lands is visible to its next
    request. Without ``port`` a free one is picked (and another tried if it was taken meanwhile).
    """
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_PAYSCORE_")}
    child_env.update(
        FINMATCH_LANDING_DIR=str(landing_dir),
        FINMATCH_PAYSCORE_REFRESH_SECONDS=str(refresh_seconds),
        FINMATCH_PAYSCORE_API_KEY=api_key,
        PYTHONUNBUFFERED="1",
    )
    child_env.update(payscore_env(**options))
    child_env.update(env or {})
    log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="payscore-api-logs-"))

    process, base_url, log_path = start_server(
        _SERVER, child_env, log_dir, args=args, port=port, startup_timeout=startup_timeout
    )
    return LivePayScore(base_url, api_key, Path(landing_dir), log_path, process)


@pytest.fixture
def start_payscore_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LivePayScore]]:
    """Factory: ``start_payscore_api(landing_dir, **options) -> LivePayScore``; stopped at teardown."""
    started: list[LivePayScore] = []

    def start(landing_dir: Path, **options: Any) -> LivePayScore:
        options.setdefault("log_dir", tmp_path_factory.mktemp("payscore-api-logs"))
        api = launch_payscore_api(landing_dir, **options)
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


# --------------------------------------------------------------------------- data


# Small and quick: about 250 groups, a dozen changes a day.
PAYSCORE_GENERATION_SETTINGS: dict[str, Any] = {
    "seed": 11,
    "start_date": PAYSCORE_START_DAY,
    "screening_groups": 250,
    "screening_groups_per_day": 4,
    "screening_group_updates_per_day": 12,
}


def payscore_generation_config(**overrides: Any) -> GenerationConfig:
    # Imported here so a generator mid-edit breaks only the tests that use it, not plugin loading.
    from finmatch_platform.simulator.generation import GenerationConfig

    return GenerationConfig(**{**PAYSCORE_GENERATION_SETTINGS, **overrides})


def land_screening_group_days(landing_dir: Path, config: GenerationConfig, days: int | Iterable[dt.date]) -> list[Path]:
    """Land screening_groups (only this entity) for the first ``days`` days from the config's
    start, or for the given days, exactly as ``write_day`` lands it. Returns the files."""
    from finmatch_platform.simulator.generation.screening_groups import screening_groups_table

    if isinstance(days, int):
        days = [config.start_date + dt.timedelta(days=offset) for offset in range(days)]
    return [
        landing.write_partition(Path(landing_dir), ENTITY, day, screening_groups_table(config, day)) for day in days
    ]


_LATEST_SQL = """
select
    id, name, description, status,
    strftime(created_at::timestamp, '%Y-%m-%dT%H:%M:%S.%fZ') as created_at,
    strftime(updated_at::timestamp, '%Y-%m-%dT%H:%M:%S.%fZ') as updated_at,
    organization_id, settings, member_count
from read_parquet(?)
where updated_at >= coalesce(?::timestamptz, '-infinity'::timestamptz)
qualify row_number() over (partition by id order by updated_at desc) = 1
order by updated_at, id
"""


def expected_screening_groups(landing_dir: Path, updated_since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The source's latest state in API order and shape, from the Parquet files with DuckDB
    (optionally only the groups whose latest version is at or after ``updated_since``)."""
    files = [str(p) for p in landing.partition_files(landing_dir, ENTITY, landing.list_partitions(landing_dir, ENTITY))]
    if not files:
        return []
    with duckdb.connect() as conn:
        conn.execute("set TimeZone = 'UTC'")
        cursor = conn.execute(_LATEST_SQL, [files, updated_since])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=False)) for values in cursor.fetchall()]
    for row in rows:
        row["settings"] = json.loads(row["settings"]) if row["settings"] is not None else None
    return rows


def request_with_retries(api: LivePayScore, attempts: int = 50, **params: Any) -> dict[str, Any]:
    """A page, retrying injected faults (429, 5xx, dropped connections) after a short pause."""
    for _ in range(attempts):
        try:
            response = api.get(**params)
        except requests.ConnectionError:
            time.sleep(0.01)
            continue
        if response.status_code in _RETRYABLE:
            time.sleep(0.01)
            continue
        response.raise_for_status()
        return response.json()
    raise AssertionError(f"no answer from {api.url} after {attempts} attempts")


def stable_state(api: LivePayScore, per_page: int = 1000) -> list[dict[str, Any]]:
    """Every group the live API serves, paged fully once its drift budget is spent (the budget is
    burnt with one-row requests first). Unlimited drift has no stable state: that is an error."""
    for _ in range(100_000):
        left = api.health()["drift_requests_left"]
        if left == 0:
            break
        if left is None:
            raise AssertionError("the server drifts on every request (drift_requests=0): no stable state")
        request_with_retries(api, per_page=1)
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        body = request_with_retries(api, page=page, per_page=per_page)
        rows.extend(body["data"])
        if not body["data"] or page >= body["pagination"]["total_pages"]:
            return rows
        page += 1


def naive_walk(api: LivePayScore, per_page: int, updated_since: str | None = None) -> list[dict[str, Any]]:
    """What a connector that trusts page numbers collects: pages 1..total_pages with a fixed
    ``updated_since``, stopping at an empty page (the vendor document's own loop)."""
    params: dict[str, Any] = {"per_page": per_page}
    if updated_since is not None:
        params["updated_since"] = updated_since
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        body = request_with_retries(api, page=page, **params)
        rows.extend(body["data"])
        if not body["data"] or page >= body["pagination"]["total_pages"]:
            return rows
        page += 1


SG = sources.screening_groups()


SG_TABLE = "raw.screening_group"


# The vendor's documented columns, in table order; every comparison covers all of them.
SG_COLUMNS: tuple[str, ...] = tuple(SG.columns)


_UTC = dt.UTC


_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def table_rows(conn: duckdb.DuckDBPyConnection, table: str = SG_TABLE) -> list[dict[str, Any]]:
    """The synced table rendered as the API renders a group (ISO UTC timestamps, nested settings),
    in the API's ``(updated_at, id)`` order, so it compares with ``expected_screening_groups``."""
    cursor = conn.execute(f"select {', '.join(SG_COLUMNS)} from {table}")
    names = [d[0] for d in cursor.description]
    rows = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=False))
        for column in ("created_at", "updated_at"):
            if row[column] is not None:
                row[column] = row[column].astimezone(_UTC).strftime(_ISO)
        row["settings"] = json.loads(row["settings"]) if row["settings"] is not None else None
        rows.append(row)
    return sorted(rows, key=lambda r: (r["updated_at"], r["id"]))


def order_key(group: dict[str, Any]) -> tuple[dt.datetime, str]:
    return dt.datetime.fromisoformat(group["updated_at"]), group["id"]


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), _UTC)


def land_screening_groups_with_micros(
    landing_dir: Path, config: GenerationConfig, day: dt.date, column: str, micros: int, row: int = 0
) -> Path:
    """Land the generator's screening_groups day with one timestamp cell (``column``, ``row``) set to
    raw microseconds, e.g. an out-of-range year that Python's datetime cannot build."""
    from finmatch_platform.simulator.generation.screening_groups import screening_groups_table
    from finmatch_platform_tests.helpers.api import with_micros

    table = with_micros(screening_groups_table(config, day), column, row, micros)
    return landing.write_partition(Path(landing_dir), ENTITY, day, table)
