"""Schedules: the simulated bank closes each day shortly after midnight UTC."""

from __future__ import annotations

import dagster as dg

from finmatch_platform.jobs import daily_source_job, payscore_extraction_job

# Runs for the day that just ended: the partition of yesterday.
daily_source_schedule = dg.build_schedule_from_partitioned_job(
    daily_source_job,
    hour_of_day=0,
    minute_of_hour=15,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def payscore_schedule(sync_frequency_hours: int) -> dg.ScheduleDefinition:
    """PayScore syncs every ``sync_frequency_hours`` (its connector's setting), besides the sensor."""
    return dg.ScheduleDefinition(
        name="payscore_sync_schedule",
        job=payscore_extraction_job,
        cron_schedule=f"5 */{sync_frequency_hours} * * *" if sync_frequency_hours < 24 else "5 0 * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Sync PayScore every {sync_frequency_hours} h (FINMATCH_PAYSCORE_SYNC_FREQUENCY_HOURS).",
    )
