"""The raw/fpr_records asset and fpr_api_sensor, through Dagster, against the live FPR API."""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from finmatch_platform.assets.extraction import fpr_records
from finmatch_platform.lib.connectors.sensing import SensorMemory
from finmatch_platform.resources.vendor_apis import FprApiResource
from finmatch_platform.sensors import build_fpr_api_sensor
from finmatch_platform.settings import DEFAULT_SENSOR_INTERVAL_S, Settings
from finmatch_platform.simulator.generation import GenerationConfig, write_day
from finmatch_platform_tests.helpers.core import START

fpr_api_sensor = build_fpr_api_sensor(DEFAULT_SENSOR_INTERVAL_S)


def _land(settings: Settings, days: range) -> None:
    config = GenerationConfig(seed=settings.seed, start_date=START, customers=settings.customers, daily_new_customers=3)
    for offset in days:
        write_day(config, settings.landing_dir, START + dt.timedelta(days=offset))


def _latest_records(landing_dir: Path) -> int:
    pattern = str(landing_dir / "fpr_records" / "date=*" / "*.parquet")
    return duckdb.sql(f"select count(distinct record_id) from read_parquet('{pattern}')").fetchall()[0][0]


def _table_rows(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute("select count(*) from raw.fpr_records").fetchone()[0]


@pytest.fixture()
def api(settings: Settings, start_api):
    _land(settings, range(2))
    return start_api(settings.landing_dir)


@pytest.fixture()
def extraction_resources(resources, api) -> dict:
    return {**resources, "fpr_api": FprApiResource(base_url=api.base_url, api_key=api.api_key)}


def _materialize(resources: dict, instance: dg.DagsterInstance, **run_config) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [fpr_records],
        resources=resources,
        instance=instance,
        run_config={"ops": {"raw__fpr_records": {"config": run_config}}} if run_config else None,
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_extraction_syncs_the_feed_and_reports_its_operation_summary(settings, extraction_resources, instance) -> None:
    result = _materialize(extraction_resources, instance)

    meta = _metadata(result)
    expected = _latest_records(settings.landing_dir)
    assert _table_rows(settings) == expected
    assert meta["records"] == expected and meta["upserts"] + meta["deletes"] == expected
    assert meta["checkpoints"] >= expected // 100
    assert meta["cursor_before"] == "(start of feed)" and meta["cursor_after"]
    # The preview shows identifiers and scores, never the feed's customer name or email.
    assert "customer_name" not in meta["preview"] and "customer_email" not in meta["preview"]


def test_a_second_run_after_a_new_day_syncs_exactly_the_changes_past_the_cursor(
    settings, extraction_resources, instance
) -> None:
    first = _metadata(_materialize(extraction_resources, instance))
    _land(settings, range(2, 3))
    pending = extraction_resources["fpr_api"].changes(first["cursor_after"]).count

    second = _metadata(_materialize(extraction_resources, instance))

    assert pending > 0
    assert second["records"] == pending
    assert second["cursor_before"] == first["cursor_after"]
    assert _table_rows(settings) == _latest_records(settings.landing_dir)


def test_full_refresh_reloads_the_stream_from_the_start(settings, extraction_resources, instance) -> None:
    _materialize(extraction_resources, instance)

    meta = _metadata(_materialize(extraction_resources, instance, full_refresh=True))

    # The whole feed comes again, not just what lies past the stored cursor.
    assert meta["full_refresh"] is True
    assert meta["records"] == _latest_records(settings.landing_dir) == _table_rows(settings)


def test_a_wrong_key_fails_the_run_with_what_to_fix_and_writes_nothing(settings, resources, api, instance) -> None:
    wrong = {**resources, "fpr_api": FprApiResource(base_url=api.base_url, api_key="not-the-key")}

    with pytest.raises(Exception, match="FINMATCH_API_KEY"):
        _materialize(wrong, instance)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'fpr_records'"
        ).fetchone()[0]
        rows = conn.execute("select count(*) from raw.fpr_records").fetchone()[0] if tables else 0
    assert rows == 0


def test_injected_faults_are_retried_counted_and_lose_nothing(settings, resources, start_api, instance) -> None:
    _land(settings, range(2))
    flaky = start_api(settings.landing_dir, seed=3, rate_limit=0.1, error_rate=0.15, drop_rate=0.1, latency_ms=2)
    flaky_resources = {
        **resources,
        "fpr_api": FprApiResource(base_url=flaky.base_url, api_key=flaky.api_key, retry_attempts=10, page_size=20),
    }

    meta = _metadata(_materialize(flaky_resources, instance))

    assert meta["retries"] > 0
    assert _table_rows(settings) == _latest_records(settings.landing_dir)


def test_sensor_requests_one_run_per_new_high_water_mark_and_skips_when_nothing_is_new(
    settings, extraction_resources, instance
) -> None:
    sensor_resources = {"fpr_api": extraction_resources["fpr_api"]}

    first = fpr_api_sensor(dg.build_sensor_context(instance=instance, resources=sensor_resources))
    assert len(first.run_requests) == 1
    mark = first.run_requests[0].run_key
    assert SensorMemory.decode(first.cursor).mark == mark

    # Evaluated again before the run finished: the same mark is not requested twice.
    again = fpr_api_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=sensor_resources))
    assert not again.run_requests and "already requested" in again.skip_reason.skip_message

    _materialize(extraction_resources, instance)
    caught_up = fpr_api_sensor(
        dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=sensor_resources)
    )
    assert not caught_up.run_requests and "nothing past the stored position" in caught_up.skip_reason.skip_message

    _land(settings, range(2, 3))
    new_day = fpr_api_sensor(
        dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=sensor_resources)
    )
    assert len(new_day.run_requests) == 1 and new_day.run_requests[0].run_key != mark
