"""Sensors: react to new data at the FPR API."""

import dagster as dg

from finmatch_platform.assets.extraction import CURSOR_METADATA_KEY, FPR_RECORDS_KEY
from finmatch_platform.jobs import fpr_extraction_job
from finmatch_platform.resources.fpr_api import FprApiResource
from finmatch_platform.resources.settings import Settings

# FINMATCH_SENSOR_INTERVAL_SECONDS: how often the daemon may ask the API (default 30 s).
SENSOR_INTERVAL_S = Settings.from_env().sensor_interval_s


def stored_cursor(instance: dg.DagsterInstance) -> str | None:
    """The cursor the last successful extraction ended on, read from its materialization.

    Reading it from the Dagster instance rather than the warehouse means the sensor never
    contends for the DuckDB file lock with a running extraction.
    """
    event = instance.get_latest_materialization_event(FPR_RECORDS_KEY)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(CURSOR_METADATA_KEY)
    return str(value.value) if value is not None and value.value else None


@dg.sensor(
    job=fpr_extraction_job,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Asks the FPR API how many records lie past the stored cursor (no paging) and requests one "
        "extraction run per new high-water mark."
    ),
)
def fpr_api_sensor(context: dg.SensorEvaluationContext, fpr_api: FprApiResource) -> dg.SensorResult:
    cursor = stored_cursor(context.instance)
    changes = fpr_api.changes(cursor)
    if changes.count == 0 or changes.high_water_mark is None:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"nothing past the stored cursor (API high-water mark {changes.high_water_mark or 'none'})"
            )
        )
    if changes.high_water_mark == context.cursor:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"a run was already requested for high-water mark {changes.high_water_mark} "
                f"({changes.count} records pending)"
            )
        )
    # The run key makes the request idempotent: the same data never triggers two runs.
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=changes.high_water_mark,
                tags={"finmatch/fpr_pending_records": str(changes.count)},
            )
        ],
        cursor=changes.high_water_mark,
    )
