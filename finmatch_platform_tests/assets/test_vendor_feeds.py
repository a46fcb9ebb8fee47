"""Vendor-shaped FPR feeds through Dagster: the extraction and masking assets, the quarantine
check and the sensor, against the simulator in its strict vendor profile (UUID record_ids,
CUST_ customer ids, only the api_key header, no has_more, no changes endpoint) and against a
scripted vendor that sends bad records or has an outage."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
import requests

from finmatch_platform.assets.customers import fpr_records_masked
from finmatch_platform.assets.extraction import FPR_RECORDS_KEY, QUARANTINE_CHECK, fpr_records
from finmatch_platform.jobs import fpr_extraction_job
from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.lib.connectors.sensing import SensorMemory
from finmatch_platform.resources.vendor_apis import FprApiResource
from finmatch_platform.sensors import MARK_TAG, build_fpr_api_sensor
from finmatch_platform.settings import DEFAULT_SENSOR_INTERVAL_S, Settings
from finmatch_platform_tests.helpers.api import (
    LiveApi,
    expected_feed,
    fpr_generation_config,
    generate_fpr_day,
    vendor_view,
)
from finmatch_platform_tests.lib.connectors.test_poison import (
    POISON_EMAIL,
    POISON_NAME,
    FeedServer,
    as_json,
    good_record,
    quarantine_text,
    serve_feed,
)

fpr_api_sensor = build_fpr_api_sensor(DEFAULT_SENSOR_INTERVAL_S)

SCRIPTED_KEY = "scripted-vendor-key"


# --------------------------------------------------------------------------- helpers


def _land_day(settings: Settings, offset: int) -> dt.date:
    generate_fpr_day(settings.landing_dir, offset, fpr_generation_config())
    return fpr_generation_config().start_date + dt.timedelta(days=offset)


def _fpr_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == FPR_RECORDS_KEY]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _quarantine_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == QUARANTINE_CHECK]
    return evaluation


def _read(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _source_state(landing_dir: Path) -> dict[str, dict[str, Any]]:
    """The source's latest version of every record, keyed by the id the vendor serves it under."""
    return {r["record_id"]: r for r in (vendor_view(row) for row in expected_feed(landing_dir))}


def _changed_ids(landing_dir: Path, day: dt.date) -> set[str]:
    """The vendor ids of the records changed on ``day`` (each comes past the cursor once)."""
    rows = pq.read_table(landing.partition_file(landing_dir, "fpr_records", day)).to_pylist()
    return {vendor_view(row)["record_id"] for row in rows}


def _sensor_context(instance: dg.DagsterInstance, api: FprApiResource, cursor: str | None = None) -> Any:
    return dg.build_sensor_context(instance=instance, cursor=cursor, resources={"fpr_api": api})


# --------------------------------------------------------------------------- the vendor profile


@pytest.fixture()
def vendor_api(settings: Settings, start_api) -> LiveApi:
    for offset in range(2):
        _land_day(settings, offset)
    return start_api(settings.landing_dir, profile="vendor")


@pytest.fixture()
def vendor_fpr(vendor_api: LiveApi) -> FprApiResource:
    return FprApiResource(base_url=vendor_api.base_url, api_key=vendor_api.api_key, api_key_header="api_key")


def _materialize_fpr(resources: dict[str, Any], instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize([fpr_records, fpr_records_masked], resources=resources, instance=instance)


def _assert_raw_and_masked_equal_the_source(settings: Settings) -> None:
    source = _source_state(settings.landing_dir)
    raw = {r[0]: r[1:] for r in _read(settings, "select record_id, customer_id, _deleted from raw.fpr_records")}
    assert set(raw) == set(source) and len(raw) == len(source)
    assert {k for k, (_, deleted) in raw.items() if deleted} == {k for k, r in source.items() if r["_deleted"]}
    live = {k: r["customer_id"] for k, r in source.items() if not r["_deleted"]}
    assert {k: raw[k][0] for k in live} == live
    assert all(customer.startswith("CUST_") for customer in live.values())
    masked = [r[0] for r in _read(settings, "select record_id from masked.fpr_records")]
    assert sorted(masked) == sorted(source)
    # Nothing refused: neither by the extraction nor by the quality gate in front of masking.
    refused = _read(
        settings,
        "select count(*) from meta.quarantine where source = 'fpr_records' or source_table = 'raw.fpr_records'",
    )
    assert refused == [(0,)]


def test_a_vendor_shaped_feed_lands_whole_in_raw_and_masked_then_syncs_only_the_next_days_changes(
    settings: Settings, resources, vendor_fpr: FprApiResource, instance
) -> None:
    run_resources = {**resources, "fpr_api": vendor_fpr}

    first = _materialize_fpr(run_resources, instance)

    assert first.success and _quarantine_check(first).passed
    meta = _fpr_metadata(first)
    assert meta["records"] == len(_source_state(settings.landing_dir)) and meta["quarantined"] == 0
    _assert_raw_and_masked_equal_the_source(settings)

    new_day = _land_day(settings, 2)
    second = _materialize_fpr(run_resources, instance)

    assert second.success and _quarantine_check(second).passed
    incremental = _fpr_metadata(second)
    changed = _changed_ids(settings.landing_dir, new_day)
    assert changed and incremental["records"] == len(changed) < meta["records"]
    assert incremental["cursor_before"] == meta["cursor_after"] != incremental["cursor_after"]
    assert incremental["updates"] > 0 and incremental["deletes"] > 0 and incremental["inserted"] > 0
    _assert_raw_and_masked_equal_the_source(settings)


def test_the_sensor_finds_new_vendor_data_through_its_one_record_probe(
    settings: Settings, resources, vendor_api: LiveApi, vendor_fpr: FprApiResource, instance
) -> None:
    # The vendor documents no changes endpoint: the sensor's cheap request must be its fallback.
    assert (
        requests.get(f"{vendor_api.base_url}/fpr_data/changes", headers=vendor_api.headers, timeout=5).status_code
        == 404
    )

    before = fpr_api_sensor(_sensor_context(instance, vendor_fpr))

    (request,) = before.run_requests
    # The probe sees one record past the position, where a changes endpoint would count them all.
    assert request.tags["finmatch/pending_records"] == "1" and request.tags[MARK_TAG] == request.run_key
    # It remembers that the endpoint is missing, so later ticks are one request, not a 404 first.
    assert SensorMemory.decode(before.cursor).probe
    dg.materialize([fpr_records], resources={**resources, "fpr_api": vendor_fpr}, instance=instance)

    caught_up = fpr_api_sensor(_sensor_context(instance, vendor_fpr, before.cursor))
    assert not caught_up.run_requests
    assert "nothing past the stored position" in caught_up.skip_reason.skip_message

    _land_day(settings, 2)
    after_new_day = fpr_api_sensor(_sensor_context(instance, vendor_fpr, caught_up.cursor))
    (again,) = after_new_day.run_requests
    assert again.run_key != request.run_key
    assert SensorMemory.decode(after_new_day.cursor).mark == again.run_key
    assert SensorMemory.decode(after_new_day.cursor).probe


# --------------------------------------------------------------------------- a scripted vendor


@pytest.fixture()
def scripted_feed() -> Iterator[FeedServer]:
    with serve_feed([]) as feed:
        yield feed


def _scripted(feed: FeedServer, **options: Any) -> FprApiResource:
    return FprApiResource(base_url=feed.base_url, api_key=SCRIPTED_KEY, api_key_header="api_key", **options)


def test_a_mostly_unstorable_feed_succeeds_but_turns_the_quarantine_check_red(
    settings: Settings, resources, scripted_feed: FeedServer, instance
) -> None:
    goods = [good_record(n) for n in (1, 2)]
    keyless = [{**good_record(n), "record_id": ""} for n in range(3, 11)]
    scripted_feed.records = [as_json(r) for r in [goods[0], *keyless, goods[1]]]

    result = dg.materialize(
        [fpr_records], resources={**resources, "fpr_api": _scripted(scripted_feed)}, instance=instance
    )

    assert result.success
    check = _quarantine_check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["quarantined"].value == 8 and check.metadata["records"].value == 10
    assert _read(settings, "select record_id from raw.fpr_records order by 1") == [
        ("FPR0000000001",),
        ("FPR0000000002",),
    ]


def test_quarantine_written_through_the_asset_holds_no_raw_name_or_email(
    settings: Settings, resources, scripted_feed: FeedServer, instance
) -> None:
    base = good_record(40)
    poison = [
        # No key, the PII under oddly capitalised names.
        {**base, "record_id": "", "Customer_Name": POISON_NAME, "CUSTOMER_EMAIL": POISON_EMAIL},
        # Not an object at all.
        [POISON_NAME, POISON_EMAIL],
        f"{POISON_NAME} <{POISON_EMAIL}>",
        # Two spellings of the same field.
        {**good_record(41), "customer_name": POISON_NAME, "Customer_Name": POISON_NAME, "customer_EMAIL": POISON_EMAIL},
        # Refused late, when its updated_at will not convert, after its field names were folded.
        {
            **{k: v for k, v in good_record(42).items() if k not in ("customer_name", "customer_email")},
            "Customer_Name": POISON_NAME,
            "Customer_Email": POISON_EMAIL,
            "updated_at": "10000-01-01T00:00:00Z",
        },
    ]
    # Stored: a good record whose fields are capitalised oddly lands in the documented columns.
    odd_but_good = {
        **{k: v for k, v in good_record(43).items() if k not in ("customer_name", "customer_email")},
        "CUSTOMER_NAME": POISON_NAME,
        "Customer_Email": POISON_EMAIL,
    }
    feed = [good_record(n) for n in range(1, 6)] + poison + [odd_but_good] + [good_record(n) for n in range(6, 11)]
    scripted_feed.records = [as_json(r) for r in feed]

    result = dg.materialize(
        [fpr_records, fpr_records_masked],
        resources={**resources, "fpr_api": _scripted(scripted_feed, page_size=4)},
        instance=instance,
    )

    assert result.success and _fpr_metadata(result)["quarantined"] == len(poison)
    # The values did reach the warehouse (so the searches below can fail), but only the raw layer.
    assert _read(
        settings, "select customer_name, customer_email from raw.fpr_records where record_id = 'FPR0000000043'"
    ) == [(POISON_NAME, POISON_EMAIL)]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        quarantine = quarantine_text(conn)
        (refused,) = conn.execute("select count(*) from meta.quarantine where source = 'fpr_records'").fetchone()
        masked = " ".join(str(v) for row in conn.execute("select * from masked.fpr_records").fetchall() for v in row)
    run_text = " ".join(
        [
            *(
                str(v.value)
                for e in result.get_asset_materialization_events()
                for v in e.materialization.metadata.values()
            ),
            *(str(v.value) for e in result.get_asset_check_evaluations() for v in e.metadata.values()),
            *(record.user_message for record in instance.all_logs(result.run_id)),
        ]
    )
    assert refused == len(poison)
    for text in (quarantine, masked.lower(), run_text.lower()):
        assert POISON_NAME.lower() not in text and POISON_EMAIL.lower() not in text


# --------------------------------------------------------------------------- a failed extraction


def test_a_failed_extraction_is_retried_by_the_sensor_once_its_backoff_has_elapsed(
    settings: Settings, resources, scripted_feed: FeedServer, instance
) -> None:
    scripted_feed.records = [as_json(good_record(n)) for n in range(1, 8)]
    api = _scripted(scripted_feed, retry_attempts=1)
    job = dg.Definitions(
        assets=[fpr_records], jobs=[fpr_extraction_job], resources={**resources, "fpr_api": api}
    ).resolve_job_def(fpr_extraction_job.name)

    first = fpr_api_sensor(_sensor_context(instance, api))
    (request,) = first.run_requests
    mark = request.run_key
    # The vendor goes down while the requested run pulls: every data request answers 500.
    scripted_feed.outage = 500
    failed = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
    assert not failed.success
    scripted_feed.outage = None

    # Evaluated right after: the failure is seen, and the retry waits for its backoff.
    waiting = fpr_api_sensor(_sensor_context(instance, api, first.cursor))
    assert not waiting.run_requests
    assert f"the run for mark {mark} failed; retrying in" in waiting.skip_reason.skip_message
    assert SensorMemory.decode(waiting.cursor) == SensorMemory.decode(first.cursor)

    # Once the backoff has elapsed: a new run with a run key of its own (Dagster never reruns a key).
    elapsed = SensorMemory(mark, 1, requested_at=time.time() - 3600).encode()
    retried = fpr_api_sensor(_sensor_context(instance, api, elapsed))
    (retry,) = retried.run_requests
    assert retry.run_key == f"{mark}#retry1" and retry.tags[MARK_TAG] == mark
    assert SensorMemory.decode(retried.cursor).attempt == 2

    # The retry succeeds and the sensor is caught up.
    assert job.execute_in_process(instance=instance, tags=retry.tags).success
    assert len(_read(settings, "select record_id from raw.fpr_records")) == 7
    settled = fpr_api_sensor(_sensor_context(instance, api, retried.cursor))
    assert not settled.run_requests and "nothing past the stored position" in settled.skip_reason.skip_message
