"""The one code location: every asset, check, job, schedule, sensor and resource."""

from __future__ import annotations

import dagster as dg

from finmatch_platform.assets.ingestion import raw_assets
from finmatch_platform.assets.synthetic import synthetic_source_day
from finmatch_platform.jobs import daily_source_job
from finmatch_platform.resources.settings import Settings
from finmatch_platform.resources.synthetic import SyntheticSourceResource
from finmatch_platform.resources.warehouse import WarehouseResource
from finmatch_platform.schedules import daily_source_schedule


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(database=str(settings.warehouse_path)),
        "synthetic_source": SyntheticSourceResource(
            landing_dir=str(settings.landing_dir),
            start_date=settings.start_date.isoformat(),
            seed=settings.seed,
            customers=settings.customers,
            daily_new_customers=settings.daily_new_customers,
        ),
    }


defs = dg.Definitions(
    assets=[synthetic_source_day, *raw_assets],
    jobs=[daily_source_job],
    schedules=[daily_source_schedule],
    resources=build_resources(Settings.from_env()),
)
