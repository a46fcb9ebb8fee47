"""The daily calendar shared by source activity and the facts built from it.

Its first day is a setting (``FINMATCH_START_DATE``), so the partitions definition is made by the
definitions builder from the settings it read, and handed to the asset factories.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg


def daily_partitions_def(start_date: dt.date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from ``start_date`` (the bank's go-live day)."""
    return dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """Every day in the run's partition range (one day, or a whole single-run backfill)."""
    window = context.partition_time_window
    first = window.start.date()
    count = (window.end.date() - first).days
    return [first + dt.timedelta(days=i) for i in range(count)]
