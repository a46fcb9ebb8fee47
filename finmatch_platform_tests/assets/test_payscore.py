"""The raw/screening_group asset, payscore_api_sensor and the PayScore schedule, through Dagster,
against a live ``finmatch-payscore-api`` on loopback.

Groups are generated on days just before today: the resource's first sync reads the last
``initial_sync_days`` from now, so data with fixed dates would leave the window as time passes.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
from croniter import croniter

from finmatch_platform.assets.extraction import QUARANTINE_CHECK, screening_group
from finmatch_platform.jobs import payscore_extraction_job
from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone.schemas import SCREENING_GROUPS
from finmatch_platform.lib.connectors.paging import decode_anchor
from finmatch_platform.lib.connectors.sensing import SensorMemory
from finmatch_platform.resources.vendor_apis import PayScoreApiResource
from finmatch_platform.schedules import payscore_schedule
from finmatch_platform.sensors import MARK_TAG, build_payscore_api_sensor
from finmatch_platform.settings import DEFAULT_SENSOR_INTERVAL_S, Settings
from finmatch_platform.simulator.generation import GenerationConfig
from finmatch_platform_tests.helpers.payscore import (
    LivePayScore,
    expected_screening_groups,
    land_screening_group_days,
    payscore_generation_config,
)
from finmatch_platform_tests.lib.connectors.test_payscore import day_start, order_key, table_rows

payscore_api_sensor = build_payscore_api_sensor(DEFAULT_SENSOR_INTERVAL_S)

OP = "raw__screening_group"
_UTC = dt.UTC


def recent_config(days_ago: int = 10) -> GenerationConfig:
    """Groups from ``days_ago`` days before today: inside the default 90-day initial window."""
    return payscore_generation_config(start_date=dt.datetime.now(_UTC).date() - dt.timedelta(days=days_ago))


def day(config: GenerationConfig, index: int) -> dt.date:
    return config.start_date + dt.timedelta(days=index)


def payscore_resource(api: LivePayScore, **options: Any) -> PayScoreApiResource:
    return PayScoreApiResource(api_key=api.api_key, base_url=api.base_url, max_records_per_page=50, **options)


def materialize(
    resources: dict[str, Any], instance: dg.DagsterInstance, api: PayScoreApiResource, **run_config: Any
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [screening_group],
        resources={**resources, "payscore_api": api},
        instance=instance,
        run_config={"ops": {OP: {"config": run_config}}} if run_config else None,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def quarantine_check(result: dg.ExecuteInProcessResult) -> Any:
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == QUARANTINE_CHECK
    return evaluation


def warehouse_rows(settings: Settings) -> list[dict[str, Any]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return table_rows(conn)


def has_table(settings: Settings) -> bool:
    if not settings.warehouse_path.exists():
        return False
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return bool(
            conn.execute(
                "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = 'screening_group'"
            ).fetchone()[0]
        )


@pytest.fixture
def config() -> GenerationConfig:
    return recent_config()


@pytest.fixture
def api(settings: Settings, config: GenerationConfig, start_payscore_api: Callable[..., LivePayScore]) -> LivePayScore:
    land_screening_group_days(settings.landing_dir, config, 3)
    return start_payscore_api(settings.landing_dir)


# --------------------------------------------------------------------------- the asset


def test_the_asset_syncs_every_group_and_reports_the_operation_summary(
    settings: Settings, resources: dict[str, Any], api: LivePayScore, instance: dg.DagsterInstance
) -> None:
    result = materialize(resources, instance, payscore_resource(api))

    assert result.success
    expected = expected_screening_groups(settings.landing_dir)
    assert warehouse_rows(settings) == expected
    meta = metadata(result)
    n = len(expected)
    assert (meta["records"], meta["inserted"], meta["upserts"], meta["updates"], meta["deletes"]) == (n, n, n, 0, 0)
    assert (meta["quarantined"], meta["truncates"], meta["schema_changes"], meta["retries"]) == (0, 0, 0, 0)
    assert meta["pages"] >= n // 50 and meta["checkpoints"] >= n // 100 and meta["merges"] >= 1
    assert meta["full_refresh"] is False and meta["cursor_before"] == "(start of feed)"
    assert decode_anchor(meta["cursor_after"]) == order_key(expected[-1])
    assert (meta["dagster/row_count"], meta["dagster/table_name"]) == (n, "raw.screening_group")
    assert expected[-1]["id"] in meta["preview"]
    check = quarantine_check(result)
    assert check.passed and check.metadata["quarantined"].value == 0 and check.metadata["records"].value == n


def test_a_second_materialization_after_a_new_day_resumes_from_the_watermark(
    settings: Settings,
    resources: dict[str, Any],
    config: GenerationConfig,
    api: LivePayScore,
    instance: dg.DagsterInstance,
) -> None:
    resource = payscore_resource(api)
    first = metadata(materialize(resources, instance, resource))
    land_screening_group_days(settings.landing_dir, config, [day(config, 3)])

    second = metadata(materialize(resources, instance, resource))

    changed = expected_screening_groups(settings.landing_dir, updated_since=day_start(day(config, 3)))
    assert second["cursor_before"] == first["cursor_after"] and second["full_refresh"] is False
    # Only the new day and the short lookback window before the watermark are read again.
    assert len(changed) <= second["records"] < first["records"] / 4
    assert warehouse_rows(settings) == expected_screening_groups(settings.landing_dir)


def test_with_incremental_sync_off_every_run_rereads_the_whole_window(
    settings: Settings, resources: dict[str, Any], api: LivePayScore, instance: dg.DagsterInstance
) -> None:
    resource = payscore_resource(api, enable_incremental_sync=False)
    materialize(resources, instance, resource)

    again = metadata(materialize(resources, instance, resource))

    n = len(expected_screening_groups(settings.landing_dir))
    assert again["full_refresh"] is True and again["truncates"] == 1
    assert (again["records"], again["inserted"], again["updates"]) == (n, n, 0)
    assert again["cursor_before"] != "(start of feed)"  # there was a watermark; it was not used
    assert warehouse_rows(settings) == expected_screening_groups(settings.landing_dir)


def test_with_screening_groups_disabled_nothing_is_synced_and_the_models_find_an_empty_table(
    settings: Settings, resources: dict[str, Any], api: LivePayScore, instance: dg.DagsterInstance
) -> None:
    result = materialize(resources, instance, payscore_resource(api, enable_screening_groups=False))

    assert result.success and metadata(result) == {"enabled": False}
    assert quarantine_check(result).passed
    assert has_table(settings) and warehouse_rows(settings) == []


def test_the_first_sync_reads_only_the_last_initial_sync_days(
    settings: Settings,
    resources: dict[str, Any],
    start_payscore_api: Callable[..., LivePayScore],
    instance: dg.DagsterInstance,
) -> None:
    # Days 0, 1 and 5 of a config that started 40 days ago; the window starts now - 37 days,
    # inside the unlanded day 3, so the expectation does not depend on the time of day.
    config = recent_config(days_ago=40)
    land_screening_group_days(settings.landing_dir, config, [day(config, 0), day(config, 1), day(config, 5)])
    api = start_payscore_api(settings.landing_dir)

    meta = metadata(materialize(resources, instance, payscore_resource(api, initial_sync_days=37)))

    window = expected_screening_groups(settings.landing_dir, updated_since=day_start(day(config, 4)))
    assert 0 < len(window) < len(expected_screening_groups(settings.landing_dir)) / 4
    assert meta["records"] == len(window)
    assert warehouse_rows(settings) == window


def test_a_sync_that_quarantines_more_than_one_percent_fails_its_check(
    settings: Settings,
    resources: dict[str, Any],
    config: GenerationConfig,
    start_payscore_api: Callable[..., LivePayScore],
    instance: dg.DagsterInstance,
) -> None:
    land_screening_group_days(settings.landing_dir, config, 1)
    good = expected_screening_groups(settings.landing_dir)
    # A day with groups whose id is blank: they cannot be keyed, so they go to quarantine. (Blank
    # ids of different lengths: the API serves one latest version per distinct id.)
    bad = max(3, len(good) // 50)
    moment = dt.datetime.combine(day(config, 1), dt.time(9), _UTC)
    rows = [
        {
            "id": " " * (i + 1),
            "name": f"Unkeyed #{i}",
            "status": "active",
            "created_at": moment,
            "updated_at": moment + dt.timedelta(seconds=i),
            "organization_id": "org_000000000000",
            "settings": '{"verification_type": "income"}',
            "member_count": i,
        }
        for i in range(bad)
    ]
    landing.write_partition(
        settings.landing_dir, "screening_groups", day(config, 1), pa.Table.from_pylist(rows, schema=SCREENING_GROUPS)
    )
    api = start_payscore_api(settings.landing_dir)

    result = materialize(resources, instance, payscore_resource(api))

    check = quarantine_check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["quarantined"].value == bad and check.metadata["records"].value == len(good) + bad
    assert warehouse_rows(settings) == good
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        reasons = conn.execute("select source, rule, reason, count(*) from meta.quarantine group by all").fetchall()
    assert reasons == [("screening_group", "missing_primary_key", "id is empty", bad)]


def test_a_wrong_key_fails_the_run_naming_the_variable_and_writes_nothing(
    settings: Settings, resources: dict[str, Any], api: LivePayScore, instance: dg.DagsterInstance
) -> None:
    wrong = PayScoreApiResource(api_key="not-the-key", base_url=api.base_url)

    with pytest.raises(Exception, match="FINMATCH_PAYSCORE_API_KEY") as failure:
        materialize(resources, instance, wrong)

    assert "not-the-key" not in str(failure.value) and api.api_key not in str(failure.value)
    assert not has_table(settings)


# --------------------------------------------------------------------------- the sensor


def test_the_sensor_requests_a_run_per_new_watermark_and_skips_when_caught_up(
    settings: Settings,
    resources: dict[str, Any],
    config: GenerationConfig,
    api: LivePayScore,
    instance: dg.DagsterInstance,
) -> None:
    resource = payscore_resource(api)
    sensor_resources = {"payscore_api": resource}
    source = expected_screening_groups(settings.landing_dir)

    first = payscore_api_sensor(dg.build_sensor_context(instance=instance, resources=sensor_resources))

    (request,) = first.run_requests
    mark = f"{source[0]['updated_at']}/{source[0]['id']}"  # nothing synced: the oldest group in the window
    assert request.run_key == mark and request.tags[MARK_TAG] == mark
    assert SensorMemory.decode(first.cursor).mark == mark

    # Evaluated again before the run: the same data is not requested twice.
    again = payscore_api_sensor(
        dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=sensor_resources)
    )
    assert not again.run_requests and "already requested" in again.skip_reason.skip_message

    materialize(resources, instance, resource)
    caught_up = payscore_api_sensor(
        dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=sensor_resources)
    )
    assert not caught_up.run_requests and "nothing past the stored position" in caught_up.skip_reason.skip_message

    land_screening_group_days(settings.landing_dir, config, [day(config, 3)])
    new_day = payscore_api_sensor(
        dg.build_sensor_context(instance=instance, cursor=caught_up.cursor, resources=sensor_resources)
    )
    (request,) = new_day.run_requests
    newest = expected_screening_groups(settings.landing_dir, updated_since=day_start(day(config, 3)))
    assert request.run_key == f"{newest[0]['updated_at']}/{newest[0]['id']}" != mark
    assert SensorMemory.decode(new_day.cursor).mark == request.run_key


# --------------------------------------------------------------------------- the schedule


@pytest.mark.parametrize("hours", range(1, 25))
def test_the_schedule_syncs_at_least_every_n_hours_and_exactly_when_n_divides_a_day(hours: int) -> None:
    schedule = payscore_schedule(hours)

    assert schedule.job_name == payscore_extraction_job.name
    ticks = croniter(schedule.cron_schedule, dt.datetime(2026, 10, 1, tzinfo=_UTC))
    times = [ticks.get_next(dt.datetime) for _ in range(3 * 24 // hours + 2)]
    gaps = {later - earlier for earlier, later in itertools.pairwise(times)}
    # Cron restarts its */n steps at midnight, so an n that does not divide 24 syncs early once a day.
    assert max(gaps) <= dt.timedelta(hours=hours)
    if 24 % hours == 0:
        assert gaps == {dt.timedelta(hours=hours)}
