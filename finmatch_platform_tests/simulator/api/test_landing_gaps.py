"""Both vendor APIs publish only a contiguous prefix of landed days.

A day that cannot be served (unreadable, its file missing while later days have theirs, or a
timestamp outside years 1-9999) stops the feed: the days after it are held back, ``/health`` says
``degraded`` and names the file, and nothing answers 500. A client holding a cursor (FPR) or an
``updated_since`` watermark (PayScore) from before loses nothing once the file is repaired.
Live tests run the real servers on loopback; the store's loading rules are also tested in-process.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone import schemas
from finmatch_platform.simulator.api.app import Health
from finmatch_platform.simulator.api.payscore import PayScoreHealth
from finmatch_platform.simulator.api.storage import FprStore
from finmatch_platform_tests.helpers.api import (
    FPR_START_DAY,
    YEAR_10000_US,
    ChangeLogBuilder,
    LiveApi,
    corrupt_landed_file,
    expected_feed,
    fpr_row,
    restore_landed_file,
    sync_fpr,
    with_micros,
    write_fpr_day,
    write_fpr_day_with_micros,
)
from finmatch_platform_tests.helpers.payscore import (
    PAYSCORE_START_DAY,
    LivePayScore,
    day_start,
    expected_screening_groups,
    land_screening_group_days,
    land_screening_groups_with_micros,
    naive_walk,
    payscore_generation_config,
)

FPR_DAY_1_FILE = "fpr_records/date=2026-10-02/part-0.parquet"
SG_DAY_1_FILE = "screening_groups/date=2026-10-02/part-0.parquet"


def _day(n: int) -> dt.date:
    return FPR_START_DAY + dt.timedelta(days=n)


def _fpr(api: LiveApi, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{api.base_url}{path}", params=params, headers=api.headers, timeout=10)


def _health(base_url: str) -> requests.Response:
    return requests.get(f"{base_url}/health", timeout=10)


def _since_day(records: list[dict[str, Any]], day: dt.date) -> list[dict[str, Any]]:
    return [r for r in records if r["updated_at"] >= day.isoformat()]


# --------------------------------------------------------------------------- FPR, live


def test_fpr_a_corrupt_day_holds_back_later_days_and_its_repair_loses_nothing_for_a_cursor(
    start_api: Any, tmp_path: Path
) -> None:
    builder = ChangeLogBuilder(tmp_path)
    builder.day(_day(0), created=120)
    api = start_api(tmp_path)
    first, cursor = sync_fpr(api, page_size=50)
    assert first == expected_feed(tmp_path)

    builder.day(_day(1), created=40, updated=30, deleted=4)
    original = corrupt_landed_file(landing.partition_file(tmp_path, "fpr_records", _day(1)))
    builder.day(_day(2), created=40, updated=30, deleted=4)

    held, held_cursor = sync_fpr(api, cursor, page_size=50)
    assert held == [], "nothing past the unreadable day may be served"
    assert _fpr(api, "/fpr_data/changes", cursor=held_cursor).json()["count"] == 0
    health = _health(api.base_url)
    assert health.status_code == 200
    body = health.json()
    Health.model_validate(body)  # the documented schema
    assert body["status"] == "degraded" and body["records"] == len(first) and body["files"] == 1
    assert body["gap"]["file"] == FPR_DAY_1_FILE and body["gap"]["held_back_days"] == 1
    assert "Parquet" in body["gap"]["reason"] and str(tmp_path) not in body["gap"]["reason"]
    assert FPR_DAY_1_FILE in api.log_text()

    restore_landed_file(landing.partition_file(tmp_path, "fpr_records", _day(1)), original)

    resumed, _ = sync_fpr(api, held_cursor, page_size=50)
    state = expected_feed(tmp_path)
    assert resumed == _since_day(state, _day(1)), "every record of the repaired day and later, in order"
    assert not [rid for rid, n in Counter(r["record_id"] for r in resumed).items() if n > 1]
    merged = {r["record_id"]: r for r in first + resumed}
    assert sorted(merged.values(), key=lambda r: (r["updated_at"], r["record_id"])) == state
    healed = _health(api.base_url).json()
    assert healed["status"] == "ok" and healed["gap"] is None and healed["files"] == 3


def test_fpr_a_year_10000_timestamp_is_a_degraded_day_not_a_500(start_api: Any, tmp_path: Path) -> None:
    write_fpr_day(tmp_path, _day(0), [fpr_row("FPR0000000001", dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC))])
    rows = [fpr_row(f"FPR000000000{i}", dt.datetime(2026, 10, 2, 9, i, tzinfo=dt.UTC)) for i in (2, 3)]
    write_fpr_day_with_micros(tmp_path, _day(1), rows, row=1, micros=YEAR_10000_US)
    write_fpr_day(tmp_path, _day(2), [fpr_row("FPR0000000004", dt.datetime(2026, 10, 3, 9, tzinfo=dt.UTC))])
    api = start_api(tmp_path)

    health = _health(api.base_url)
    assert health.status_code == 200, health.text
    body = health.json()
    Health.model_validate(body)
    assert body["status"] == "degraded" and body["gap"]["file"] == FPR_DAY_1_FILE
    assert "'updated_at'" in body["gap"]["reason"] and "9999-12-31" in body["gap"]["reason"]
    assert body["high_water_mark"] == "2026-10-01T09:00:00.000000Z/FPR0000000001"
    page = _fpr(api, "/fpr_data")
    assert page.status_code == 200 and [r["record_id"] for r in page.json()["fpr_records"]] == ["FPR0000000001"]
    changes = _fpr(api, "/fpr_data/changes")
    assert changes.status_code == 200 and changes.json()["count"] == 1
    cursor = page.json()["next_cursor"]

    write_fpr_day(tmp_path, _day(1), rows)  # the repair: an in-range timestamp
    resumed, _ = sync_fpr(api, cursor)
    assert [r["record_id"] for r in resumed] == ["FPR0000000002", "FPR0000000003", "FPR0000000004"]
    assert _health(api.base_url).json()["status"] == "ok"


# --------------------------------------------------------------------------- PayScore, live


def test_payscore_a_corrupt_day_holds_back_later_days_and_its_repair_loses_nothing_for_a_watermark(
    start_payscore_api: Any, tmp_path: Path
) -> None:
    config = payscore_generation_config()
    days = [PAYSCORE_START_DAY + dt.timedelta(days=n) for n in range(3)]
    land_screening_group_days(tmp_path, config, days[:1])
    api: LivePayScore = start_payscore_api(tmp_path)
    first = naive_walk(api, per_page=50)
    assert first == expected_screening_groups(tmp_path)
    watermark = max(row["updated_at"] for row in first)

    day_1_file, _ = land_screening_group_days(tmp_path, config, days[1:])
    original = corrupt_landed_file(day_1_file)

    held = naive_walk(api, per_page=50, updated_since=watermark)
    assert all(row["updated_at"] == watermark for row in held), "only the inclusive boundary, nothing later"
    health = api.health()
    PayScoreHealth.model_validate(health)
    assert health["status"] == "degraded" and health["gap"]["file"] == SG_DAY_1_FILE
    assert health["gap"]["held_back_days"] == 1 and health["high_water_updated_at"] == watermark
    assert SG_DAY_1_FILE in api.log_text()

    restore_landed_file(day_1_file, original)

    resumed = naive_walk(api, per_page=50, updated_since=watermark)
    later = [row for row in resumed if row["updated_at"] > watermark]
    assert later == expected_screening_groups(tmp_path, day_start(days[1])), "every later group, in order"
    assert not [gid for gid, n in Counter(row["id"] for row in later).items() if n > 1]
    merged = {row["id"]: row for row in first + resumed}
    assert sorted(merged.values(), key=lambda r: (r["updated_at"], r["id"])) == expected_screening_groups(tmp_path)
    assert api.health()["status"] == "ok" and api.health()["gap"] is None


@pytest.mark.parametrize("column", ["updated_at", "created_at"])
def test_payscore_a_year_10000_timestamp_is_a_degraded_day_not_a_500(
    start_payscore_api: Any, tmp_path: Path, column: str
) -> None:
    config = payscore_generation_config()
    days = [PAYSCORE_START_DAY + dt.timedelta(days=n) for n in range(3)]
    land_screening_group_days(tmp_path, config, days[:1])
    land_screening_groups_with_micros(tmp_path, config, days[1], column, YEAR_10000_US)
    land_screening_group_days(tmp_path, config, days[2:])
    api: LivePayScore = start_payscore_api(tmp_path)

    health = requests.get(f"{api.base_url}/health", timeout=10)
    assert health.status_code == 200, health.text
    body = health.json()
    PayScoreHealth.model_validate(body)
    assert body["status"] == "degraded" and body["gap"]["file"] == SG_DAY_1_FILE
    assert repr(column) in body["gap"]["reason"]
    for params in ({}, {"updated_since": "2026-10-01T00:00:00Z"}, {"per_page": 1000, "page": 2}):
        response = api.get(**params)
        assert response.status_code == 200, (params, response.text)
    served = naive_walk(api, per_page=1000)
    assert served and all(row["updated_at"] < days[1].isoformat() for row in served)


# --------------------------------------------------------------------------- the store, in-process


def _store(root: Path) -> FprStore:
    store = FprStore(root, refresh_interval=0)
    store.refresh()
    return store


def test_a_missing_file_between_landed_days_is_a_gap_but_the_newest_days_unfinished_write_is_not(
    tmp_path: Path,
) -> None:
    write_fpr_day(tmp_path, _day(0), [fpr_row("FPR0000000001", dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC))])
    landing.partition_dir(tmp_path, "fpr_records", _day(1)).mkdir(parents=True)
    store = _store(tmp_path)
    assert store.current.gap is None and len(store.current) == 1, "a day still being written is simply not landed"

    write_fpr_day(tmp_path, _day(2), [fpr_row("FPR0000000002", dt.datetime(2026, 10, 3, 9, tzinfo=dt.UTC))])
    store.refresh()
    gap = store.current.gap
    assert gap is not None and gap.file == FPR_DAY_1_FILE and "no part-0.parquet" in gap.reason
    assert [k.record_id for k in store.current.keys] == ["FPR0000000001"]

    write_fpr_day(tmp_path, _day(1), [fpr_row("FPR0000000003", dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC))])
    store.refresh()
    assert store.current.gap is None
    assert [k.record_id for k in store.current.keys] == ["FPR0000000001", "FPR0000000003", "FPR0000000002"]


def test_a_served_day_damaged_in_place_withdraws_it_and_the_days_after_it_until_repaired(tmp_path: Path) -> None:
    for n in range(3):
        write_fpr_day(tmp_path, _day(n), [fpr_row(f"FPR000000000{n}", dt.datetime(2026, 10, 1 + n, 9, tzinfo=dt.UTC))])
    store = _store(tmp_path)
    original = corrupt_landed_file(landing.partition_file(tmp_path, "fpr_records", _day(1)))

    store.refresh()
    assert [k.record_id for k in store.current.keys] == ["FPR0000000000"]
    assert store.current.gap is not None and store.current.gap.held_back_days == 1

    restore_landed_file(landing.partition_file(tmp_path, "fpr_records", _day(1)), original)
    store.refresh()
    assert store.current.gap is None and len(store.current) == 3


_US_2026 = (dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
    microseconds=1
)


@pytest.mark.parametrize(
    ("column", "kind", "value"),
    [
        ("updated_at", pa.timestamp("us", tz="UTC"), YEAR_10000_US),
        ("updated_at", pa.timestamp("us", tz="UTC"), -62135596800000001),  # a microsecond before year 1
        ("updated_at", pa.timestamp("ms", tz="UTC"), YEAR_10000_US // 1_000),
        ("updated_at", pa.timestamp("ms", tz="UTC"), 2**62),  # past what microseconds in an int64 hold
        ("product_sales_date", pa.date32(), 2_932_897),  # 10000-01-01 in days
    ],
)
def test_a_value_outside_years_1_to_9999_is_rejected_at_load_naming_the_column(
    tmp_path: Path, column: str, kind: pa.DataType, value: int
) -> None:
    rows = [fpr_row("FPR0000000001", dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC))]
    table = pa.Table.from_pylist(rows, schema=schemas.FPR_RECORDS)
    index = table.column_names.index(column)
    if pa.types.is_timestamp(kind) and kind.unit == "ms":
        table = table.set_column(index, column, pa.array([value], kind))
    elif pa.types.is_date32(kind):
        table = table.set_column(index, column, pa.array([value], pa.int32()).cast(kind))
    else:
        table = with_micros(table, column, 0, value)
    landing.write_partition(tmp_path, "fpr_records", _day(1), table)

    store = _store(tmp_path)
    gap = store.current.gap
    assert gap is not None and gap.file == FPR_DAY_1_FILE and repr(column) in gap.reason
    assert len(store.current) == 0


def test_an_in_range_millisecond_timestamp_is_served(tmp_path: Path) -> None:
    rows = [fpr_row("FPR0000000001", dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC))]
    table = pa.Table.from_pylist(rows, schema=schemas.FPR_RECORDS)
    index = table.column_names.index("updated_at")
    table = table.set_column(index, "updated_at", pa.array([_US_2026 // 1_000], pa.timestamp("ms", tz="UTC")))
    landing.write_partition(tmp_path, "fpr_records", _day(1), table)

    store = _store(tmp_path)
    assert store.current.gap is None and [k.updated_at_us for k in store.current.keys] == [_US_2026]
