"""Jobs: named selections of the asset graph that schedules and people launch.

Selections name groups, keys and kinds, never asset objects, so this module loads no dbt project.
"""

from __future__ import annotations

import dagster as dg

from finmatch_platform.constants import (
    GROUP_CUSTOMERS,
    GROUP_EXTRACTION,
    GROUP_INGESTION,
    GROUP_INSIGHTS,
    GROUP_SYNTHETIC,
    KIND_DBT,
)

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

# Pull PayScore's screening groups; requested by payscore_api_sensor and the PayScore schedule.
payscore_extraction_job = dg.define_asset_job(
    name="payscore_extraction",
    selection=dg.AssetSelection.assets(dg.AssetKey(["raw", "screening_group"])),
    description="Sync raw.screening_group from the PayScore API, from the stored watermark.",
)

# Everything built from the raw layer, in one run over a day range: the FPR extraction, masking
# and profiling, the dbt models (the daily facts for the range, the rest whole) and the reports.
# Automation does the same piecewise as data arrives; this job is the one-click (or one-call)
# rebuild, and the second half of `make run`'s initial load.
refresh_warehouse_job = dg.define_asset_job(
    name="refresh_warehouse",
    selection=(
        dg.AssetSelection.groups(GROUP_EXTRACTION, GROUP_CUSTOMERS, GROUP_INSIGHTS) | dg.AssetSelection.kind(KIND_DBT)
    ),
    description=(
        "Build everything downstream of the raw layer for the chosen day range: extraction, masking, "
        "profile, dbt base models, daily facts (for the range), marts and insight reports."
    ),
)
