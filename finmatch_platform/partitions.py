"""The daily calendar shared by source activity and the facts built from it."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from finmatch_platform.settings import Settings

START_DATE: dt.date = Settings.from_env().start_date

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE.isoformat(), timezone="UTC")


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """Every day in the run's partition range (one day, or a whole single-run backfill)."""
    window = context.partition_time_window
    first = window.start.date()
    count = (window.end.date() - first).days
    return [first + dt.timedelta(days=i) for i in range(count)]
