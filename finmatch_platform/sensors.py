"""Sensors: react to new data at the vendor APIs, retry a failed extraction with backoff, and
evaluate the assets' automation conditions.

How often they may run is a setting (``FINMATCH_SENSOR_INTERVAL_SECONDS``), so they are made by
functions that the definitions builder calls with the interval it read.
"""

from __future__ import annotations

import time

import dagster as dg

from finmatch_platform.assets.extraction import CURSOR_METADATA_KEY, FPR_RECORDS_KEY, SCREENING_GROUP_KEY
from finmatch_platform.jobs import fpr_extraction_job, payscore_extraction_job
from finmatch_platform.lib.connectors import sensing
from finmatch_platform.resources.vendor_apis import FprApiResource, PayScoreApiResource, VendorApiResource

MARK_TAG = "finmatch/source_mark"


def stored_position(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The position the last successful extraction ended on, read from its materialization.

    Reading it from the Dagster instance rather than the warehouse means the sensor never
    contends for the DuckDB file lock with a running extraction.
    """
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(CURSOR_METADATA_KEY)
    return str(value.value) if value is not None and value.value else None


def _last_run_failed(instance: dg.DagsterInstance, job_name: str, mark: str | None) -> bool:
    if mark is None:
        return False
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, tags={MARK_TAG: mark}), limit=1)
    return bool(runs) and runs[0].status == dg.DagsterRunStatus.FAILURE


def evaluate(
    context: dg.SensorEvaluationContext, api: VendorApiResource, key: dg.AssetKey, job_name: str
) -> dg.SensorResult:
    """One cheap request to the API, then :func:`sensing.decide`."""
    memory = sensing.SensorMemory.decode(context.cursor)
    changes = api.changes(stored_position(context.instance, key), probe=memory.probe)
    failed = _last_run_failed(context.instance, job_name, memory.mark) if changes.mark == memory.mark else False
    decision = sensing.decide(changes, memory, failed, time.time())
    if decision.run_key is None:
        return dg.SensorResult(skip_reason=dg.SkipReason(decision.reason), cursor=decision.memory.encode())
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=decision.run_key,
                tags={MARK_TAG: decision.memory.mark or "", "finmatch/pending_records": str(changes.count)},
            )
        ],
        cursor=decision.memory.encode(),
    )


def build_fpr_api_sensor(minimum_interval_s: int) -> dg.SensorDefinition:
    """Requests an FPR extraction when the API has records past the stored cursor."""

    @dg.sensor(
        job=fpr_extraction_job,
        minimum_interval_seconds=minimum_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Asks the FPR API what lies past the stored cursor (its changes endpoint, or a one-record probe "
            "where it has none) and requests one extraction run per new mark; a failed run is retried with backoff."
        ),
    )
    def fpr_api_sensor(context: dg.SensorEvaluationContext, fpr_api: FprApiResource) -> dg.SensorResult:
        return evaluate(context, fpr_api, FPR_RECORDS_KEY, fpr_extraction_job.name)

    return fpr_api_sensor


def build_payscore_api_sensor(minimum_interval_s: int) -> dg.SensorDefinition:
    """Requests a PayScore extraction when a screening group changed after the stored watermark."""

    @dg.sensor(
        job=payscore_extraction_job,
        minimum_interval_seconds=minimum_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Asks the PayScore API for one screening group updated after the stored watermark and requests "
            "one extraction run per new mark; a failed run is retried with backoff."
        ),
    )
    def payscore_api_sensor(context: dg.SensorEvaluationContext, payscore_api: PayScoreApiResource) -> dg.SensorResult:
        return evaluate(context, payscore_api, SCREENING_GROUP_KEY, payscore_extraction_job.name)

    return payscore_api_sensor


def build_automation_sensor(minimum_interval_s: int, running: bool) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the declarative-automation conditions of every asset.

    Masked tables, dbt models and reports follow their inputs by declarative automation; with
    ``running`` the sensor is on from the start, so ``make run`` needs no clicks. Off
    (FINMATCH_AUTOMATION=0) suits a controlled demo, or a test that launches runs itself.
    """
    return dg.AutomationConditionSensorDefinition(
        "finmatch_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=minimum_interval_s,
    )
