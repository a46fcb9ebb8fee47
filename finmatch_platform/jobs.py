"""Jobs: named selections of the asset graph that schedules and people launch."""

from __future__ import annotations

import dagster as dg

from finmatch_platform.constants import GROUP_INGESTION, GROUP_SYNTHETIC

# One day of bank activity: generate and land it, then load it into raw.*.
daily_source_job = dg.define_asset_job(
    name="daily_source_activity",
    selection=dg.AssetSelection.groups(GROUP_SYNTHETIC, GROUP_INGESTION),
    description="Generate one day of source-system activity and load it into the raw schema.",
)
