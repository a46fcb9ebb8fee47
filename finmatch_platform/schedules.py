"""Schedules: the simulated bank closes each day shortly after midnight UTC."""

from __future__ import annotations

import dagster as dg

from finmatch_platform.jobs import daily_source_job

# Runs for the day that just ended: the partition of yesterday.
daily_source_schedule = dg.build_schedule_from_partitioned_job(
    daily_source_job,
    hour_of_day=0,
    minute_of_hour=15,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
