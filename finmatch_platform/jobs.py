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

# Pull the FPR feed from its API; requested by fpr_api_sensor when the API has new data.
fpr_extraction_job = dg.define_asset_job(
    name="fpr_extraction",
    selection=dg.AssetSelection.assets(dg.AssetKey(["raw", "fpr_records"])),
    description="Sync raw.fpr_records from the FPR API, from the stored cursor.",
)
