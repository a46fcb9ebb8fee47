"""FPR API fixtures: a live server on a free loopback port, and change logs to serve.

``start_api(landing_dir, *, profile="simulator", **faults) -> LiveApi`` starts the real
``finmatch-api`` console script as a subprocess, waits for ``/health`` and stops it at teardown;
fault knobs are the field names of :class:`finmatch_platform.simulator.api.faults.FaultConfig`
(``start_api(landing, error_rate=0.3, seed=7)``), and ``profile="vendor"`` serves the vendor's
documented contract (``LiveApi.headers`` then sends the ``api_key`` header). Extraction tests can
use it as they are.

Landing zones come from the real generator (``generate_fpr_days``, with a raised deletion rate so
tombstones are common). Where a test needs exact control (ties on updated_at, a record changed
twice in a day, a known number of tombstones) :class:`ChangeLogBuilder` hand-builds the days.
``expected_feed`` reads any landing zone back into the latest-state JSON records the API must
serve, independently of the server's code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone import schemas
from finmatch_platform.simulator.api.faults import FaultConfig
from finmatch_platform_tests.helpers.servers import LiveServer, start_server

if TYPE_CHECKING:
    from finmatch_platform.simulator.generation import GenerationConfig

# A test-only key, long and distinctive so a leak into logs or bodies is easy to grep for.
FPR_TEST_API_KEY = "fpr-test-key-3c9e1b7d5a"
FPR_START_DAY = dt.date(2026, 10, 1)
_UTC = dt.UTC
_FINMATCH_API = Path(sys.executable).with_name("finmatch-api")
_FAULT_KNOBS = {f.name for f in dataclasses.fields(FaultConfig)}
# Written out here, not imported from the server, so vendor-profile tests check its ids independently.
VENDOR_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://finmatch.example/simulator/fpr/record_id")


# --------------------------------------------------------------------------- the live server


@dataclass
class LiveApi(LiveServer):
    profile: str = "simulator"

    @property
    def headers(self) -> dict[str, str]:
        # The vendor profile reads only the documented header.
        return {"api_key" if self.profile == "vendor" else "x-api-key": self.api_key}


def fault_env(**faults: Any) -> dict[str, str]:
    """``FINMATCH_FAULT_*`` variables for the given FaultConfig knobs (typos fail loudly)."""
    unknown = set(faults) - _FAULT_KNOBS
    if unknown:
        raise TypeError(f"unknown fault knobs {sorted(unknown)}; known: {sorted(_FAULT_KNOBS)}")
    env = {}
    for name, value in faults.items():
        if isinstance(value, (tuple, list)):
            value = ",".join(str(v) for v in value)
        env[f"FINMATCH_FAULT_{name.upper()}"] = str(value)
    return env


def launch_api(
    landing_dir: Path,
    log_dir: Path,
    *,
    api_key: str | None = FPR_TEST_API_KEY,
    refresh_seconds: float = 0.0,
    profile: str = "simulator",
    env: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    startup_timeout: float = 30.0,
    **faults: Any,
) -> LiveApi:
    """Start ``finmatch-api`` on a free loopback port and wait until /health answers.

    ``refresh_seconds`` defaults to 0 so a day written by a test is visible to its next request;
    ``profile`` is passed as FINMATCH_API_PROFILE ("simulator" or "vendor").
    """
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("FINMATCH_FAULT_", "FINMATCH_API_"))}
    child_env.pop("FINMATCH_CURSOR_SECRET", None)
    child_env.update(
        FINMATCH_LANDING_DIR=str(landing_dir),
        FINMATCH_API_REFRESH_SECONDS=str(refresh_seconds),
        FINMATCH_API_PROFILE=profile,
        PYTHONUNBUFFERED="1",
    )
    if api_key is not None:
        child_env["FINMATCH_API_KEY"] = api_key
    child_env.update(fault_env(**faults))
    child_env.update(env or {})

    process, base_url, log_path = start_server(
        _FINMATCH_API, child_env, Path(log_dir), args=args, startup_timeout=startup_timeout
    )
    return LiveApi(base_url, api_key or "", Path(landing_dir), log_path, process, profile)


@pytest.fixture
def start_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LiveApi]]:
    """Factory: ``start_api(landing_dir, *, profile="simulator", **options) -> LiveApi`` (options:
    those of :func:`launch_api` and the fault knobs); every server stops at teardown."""
    started: list[LiveApi] = []

    def start(landing_dir: Path, **options: Any) -> LiveApi:
        api = launch_api(landing_dir, tmp_path_factory.mktemp("api-logs"), **options)
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


# --------------------------------------------------------------------------- change logs


def _ts(day: dt.date, seconds: int, micros: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), _UTC) + dt.timedelta(seconds=seconds, microseconds=micros)


def fpr_row(record_id: str, updated_at: dt.datetime, *, version: int = 0, deleted: bool = False) -> dict[str, Any]:
    """One FPR record version with plausible, deterministic values (a tombstone is all null)."""
    row: dict[str, Any] = {field.name: None for field in schemas.FPR_RECORDS}
    row.update(record_id=record_id, updated_at=updated_at, _deleted=deleted)
    if deleted:
        return row
    rng = random.Random(f"{record_id}/{version}")
    number = int(record_id[3:])
    day = updated_at.date()
    accepted = rng.random() < 0.3
    row.update(
        customer_id=f"C{number % 997:09d}",
        customer_name=rng.choice(["Asha Rao", "Vikram Nair", "Meera Iyer", "Rahul Gupta"]),
        customer_email=f"customer{number % 997}@example.com",
        customer_segment=rng.choice(["Urban", "Rural", "Semi-Urban"]),
        customer_lifecycle_stage=rng.choice(["New", "Growing", "Mature", "At Risk", "Dormant"]),
        customer_lifecycle_stage_transition_date=day - dt.timedelta(days=rng.randint(0, 400)),
        account_balance=round(rng.uniform(0, 500_000), 2),
        transaction_history="Food & Grocery:3;Travel:1",
        customer_transaction_value=round(rng.uniform(0, 80_000), 2),
        customer_transaction_count=rng.randint(0, 60),
        product_id=f"P{rng.randint(1, 40):04d}",
        product_name=rng.choice(["Travel Card", "Home Loan", "Term Life", "Fixed Deposit"]),
        product_type=rng.choice(["Credit Card", "Loan", "Insurance", "Deposit"]),
        product_terms="Standard terms apply",
        product_sales_amount=round(rng.uniform(1_000, 900_000), 2) if accepted else None,
        product_sales_date=day if accepted else None,
        product_recommendation="A product picked for you",
        product_recommendation_date=day,
        product_recommendation_status="Accepted" if accepted else rng.choice(["Recommended", "Viewed", "Rejected"]),
        recommendation_score=round(rng.random(), 4),
        customer_product_usage=f"{rng.random():.4f}",  # the contract's decimal text
        customer_product_affinity=round(rng.random(), 4),
        customer_product_affinity_trend=rng.choice(["Increasing", "Stable", "Decreasing"]),
        customer_product_usage_trend=rng.choice(["Increasing", "Stable", "Decreasing"]),
        customer_product_interests="travel,dining",
        customer_satisfaction_score=round(rng.uniform(1, 10), 1),
        customer_churn_probability=round(rng.random(), 4),
    )
    return row


def write_fpr_day(landing_dir: Path, day: dt.date, rows: list[dict[str, Any]]) -> Path:
    """Write one change-log day atomically, exactly as the generator does."""
    table = pa.Table.from_pylist(rows, schema=schemas.FPR_RECORDS)
    return landing.write_partition(landing_dir, "fpr_records", day, table)


class ChangeLogBuilder:
    """Builds change-log days with creations, updates (also several on one day), ties and tombstones."""

    def __init__(self, landing_dir: Path, seed: int = 7) -> None:
        self.landing_dir = Path(landing_dir)
        self.rng = random.Random(seed)
        self.live: list[str] = []
        self.deleted: list[str] = []
        self.versions: dict[str, int] = {}
        self._next_id = 1

    def _new_id(self) -> str:
        record_id = f"FPR{self._next_id:010d}"
        self._next_id += 1
        return record_id

    def day(self, day: dt.date, *, created: int, updated: int = 0, deleted: int = 0) -> list[dict[str, Any]]:
        """Write one day; returns its rows. Records created together share timestamps in fours,
        so ties on updated_at are common and record_id must break them."""
        rows: list[dict[str, Any]] = []
        second = 60
        for i in range(created):
            record_id = self._new_id()
            rows.append(fpr_row(record_id, _ts(day, second + i // 4), version=0))
            self.versions[record_id] = 0
            self.live.append(record_id)
        second += created // 4 + 60
        for record_id in self.rng.sample(self.live, min(updated, len(self.live))):
            self.versions[record_id] += 1
            rows.append(fpr_row(record_id, _ts(day, second, 1), version=self.versions[record_id]))
            if self.rng.random() < 0.25:  # changed twice the same day: only the later version counts
                self.versions[record_id] += 1
                rows.append(fpr_row(record_id, _ts(day, second + 3600, 2), version=self.versions[record_id]))
            second += 1
        for record_id in self.rng.sample(self.live, min(deleted, len(self.live))):
            self.live.remove(record_id)
            self.deleted.append(record_id)
            rows.append(fpr_row(record_id, _ts(day, 20 * 3600 + len(self.deleted)), deleted=True))
        write_fpr_day(self.landing_dir, day, rows)
        return rows


def build_change_log(landing_dir: Path, days: int = 3, start: dt.date = FPR_START_DAY) -> ChangeLogBuilder:
    """A small change log: 240 records on day 1, then each day updates, new records and deletions."""
    builder = ChangeLogBuilder(landing_dir)
    for offset in range(days):
        if offset == 0:
            builder.day(start, created=240)
        else:
            builder.day(start + dt.timedelta(days=offset), created=60, updated=45, deleted=6)
    return builder


# Small and quick (about 0.1 s a day), with tombstones on most days.
FPR_GENERATION_SETTINGS: dict[str, Any] = {
    "seed": 7,
    "start_date": FPR_START_DAY,
    "customers": 300,
    "fpr_opening_recommendations": 300,
    "fpr_recommendations_per_day": 40,
    "fpr_deletion_rate": 0.2,
}


def fpr_generation_config(**overrides: Any) -> GenerationConfig:
    # Imported here so a generator mid-edit breaks only the tests that use it, not plugin loading.
    from finmatch_platform.simulator.generation import GenerationConfig

    return GenerationConfig(**{**FPR_GENERATION_SETTINGS, **overrides})


def generate_fpr_day(landing_dir: Path, offset: int, config: GenerationConfig | None = None) -> list[dict[str, Any]]:
    """Land day ``start + offset`` with the real generator (every entity); returns its FPR rows."""
    from finmatch_platform.simulator.generation import write_day

    config = config or fpr_generation_config()
    paths = write_day(config, Path(landing_dir), config.start_date + dt.timedelta(days=offset))
    return pq.read_table(paths["fpr_records"]).to_pylist()


def generate_fpr_days(landing_dir: Path, days: int, config: GenerationConfig | None = None) -> None:
    for offset in range(days):
        generate_fpr_day(landing_dir, offset, config)


def to_api_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A landed row as the API must render it: dates ISO, timestamps ISO UTC with microseconds."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dt.datetime):
            value = value.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif isinstance(value, dt.date):
            value = value.isoformat()
        out[name] = value
    out["_deleted"] = bool(out.get("_deleted"))
    return out


def vendor_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A served simulator record as the vendor profile serves it: record_id a uuid5 under the fixed
    namespace, customer_id CUST_ + 6 digits from the number in C + 9 digits."""
    out = dict(record)
    out["record_id"] = str(uuid.uuid5(VENDOR_ID_NAMESPACE, record["record_id"]))
    if out.get("customer_id") is not None:
        out["customer_id"] = f"CUST_{int(out['customer_id'][1:]):06d}"
    return out


def expected_feed(landing_dir: Path) -> list[dict[str, Any]]:
    """The source's latest state, in feed order, read straight from the Parquet files."""
    latest: dict[str, dict[str, Any]] = {}
    for day in landing.list_partitions(landing_dir, "fpr_records"):
        for row in pq.read_table(landing.partition_file(landing_dir, "fpr_records", day)).to_pylist():
            current = latest.get(row["record_id"])
            if current is None or row["updated_at"] > current["updated_at"]:
                latest[row["record_id"]] = row
    ordered = sorted(latest.values(), key=lambda r: (r["updated_at"], r["record_id"]))
    return [to_api_json(row) for row in ordered]


# --------------------------------------------------------------------------- shared servers


@pytest.fixture(scope="session")
def fpr_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only landing zone with four generated days (shared: do not write to it)."""
    root = tmp_path_factory.mktemp("fpr-landing")
    generate_fpr_days(root, days=4)
    return root


@pytest.fixture(scope="session")
def fpr_api(fpr_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """One live server over ``fpr_landing`` for read-only tests, no faults."""
    api = launch_api(fpr_landing, tmp_path_factory.mktemp("fpr-api-logs"))
    yield api
    api.stop()


@pytest.fixture(scope="session")
def fpr_handbuilt_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only, hand-built three-day change log: ties, same-day double changes, 12 tombstones."""
    root = tmp_path_factory.mktemp("fpr-handbuilt-landing")
    build_change_log(root, days=3)
    return root


@pytest.fixture(scope="session")
def fpr_handbuilt_api(fpr_handbuilt_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = launch_api(fpr_handbuilt_landing, tmp_path_factory.mktemp("fpr-handbuilt-api-logs"))
    yield api
    api.stop()


@pytest.fixture(scope="session")
def fpr_vendor_api(fpr_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """One live server over ``fpr_landing`` in the strict ``vendor`` profile, no faults."""
    api = launch_api(fpr_landing, tmp_path_factory.mktemp("fpr-vendor-api-logs"), profile="vendor")
    yield api
    api.stop()


# --------------------------------------------------------------------------- damaged landing days

# 10000-01-01T00:00:00Z in microseconds: one past what Python's datetime (and so a client) can hold.
YEAR_10000_US = (dt.datetime.max.replace(tzinfo=_UTC) - dt.datetime(1970, 1, 1, tzinfo=_UTC)) // dt.timedelta(
    microseconds=1
) + 1


def _replace_atomically(path: Path, data: bytes) -> None:
    # A rename, as the generator publishes: a server never reads half of what a test writes.
    tmp = path.with_name(f".{path.name}.test.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def corrupt_landed_file(path: Path) -> bytes:
    """Replace a landed file with its first half (no Parquet footer); returns the original bytes."""
    original = Path(path).read_bytes()
    _replace_atomically(Path(path), original[: len(original) // 2])
    return original


def restore_landed_file(path: Path, original: bytes) -> None:
    """Put a file's original bytes back, as a repair would."""
    _replace_atomically(Path(path), original)


def with_micros(table: pa.Table, column: str, row: int, micros: int) -> pa.Table:
    """``table`` with one timestamp cell set to raw microseconds since the epoch (Python's datetime
    cannot build the out-of-range values this is for)."""
    index = table.column_names.index(column)
    values = table[column].cast(pa.int64()).to_pylist()
    values[row] = micros
    return table.set_column(index, column, pa.array(values, pa.int64()).cast(table.schema.field(column).type))


def write_fpr_day_with_micros(
    landing_dir: Path, day: dt.date, rows: list[dict[str, Any]], row: int, micros: int
) -> Path:
    """Land an FPR day whose row ``row`` has ``updated_at`` = ``micros`` (e.g. YEAR_10000_US)."""
    table = with_micros(pa.Table.from_pylist(rows, schema=schemas.FPR_RECORDS), "updated_at", row, micros)
    return landing.write_partition(landing_dir, "fpr_records", day, table)


def sync_fpr(api: LiveApi, cursor: str | None = None, page_size: int = 100) -> tuple[list[dict[str, Any]], str]:
    """What a cursor-holding client gets: page from ``cursor`` until has_more is false; (records, cursor)."""
    records: list[dict[str, Any]] = []
    with requests.Session() as session:
        session.headers.update(api.headers)
        while True:
            params: dict[str, Any] = {"page_size": page_size, **({"cursor": cursor} if cursor else {})}
            response = session.get(f"{api.base_url}/fpr_data", params=params, timeout=10)
            assert response.status_code == 200, response.text
            page = response.json()
            records += page["fpr_records"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return records, cursor
