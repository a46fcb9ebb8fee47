"""The one code location: every asset, check, job, schedule, sensor and resource."""

from __future__ import annotations

import dagster as dg
from pydantic import ValidationError

from finmatch_platform.assets.customers import customer_assets, customer_checks
from finmatch_platform.assets.dbt import dbt_assets_defs
from finmatch_platform.assets.extraction import extraction_assets
from finmatch_platform.assets.ingestion import raw_assets
from finmatch_platform.assets.insights import insight_report_assets, insight_report_checks
from finmatch_platform.assets.synthetic import synthetic_source_day
from finmatch_platform.freshness import mart_freshness_checks, mart_freshness_sensor
from finmatch_platform.jobs import daily_source_job, fpr_extraction_job, payscore_extraction_job, refresh_warehouse_job
from finmatch_platform.resources.dbt import build_dbt_resource
from finmatch_platform.resources.llm import build_llm_resource
from finmatch_platform.resources.masking import MaskingResource
from finmatch_platform.resources.synthetic import SyntheticSourceResource
from finmatch_platform.resources.vendor_apis import FprApiResource, PayScoreApiResource
from finmatch_platform.resources.warehouse import WarehouseResource
from finmatch_platform.schedules import daily_source_schedule, payscore_schedule
from finmatch_platform.sensors import fpr_api_sensor, payscore_api_sensor, sensor_interval_s
from finmatch_platform.settings import Settings, SettingsError, payscore_variable

SETTINGS = Settings.from_env()

# Masked tables, dbt models and reports follow their inputs by declarative automation; this
# sensor evaluates their conditions and is on by default, so `make run` needs no clicks.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "finmatch_automation",
    target=dg.AssetSelection.all(),
    # FINMATCH_AUTOMATION=0 starts it stopped (a controlled demo, or a test that launches runs itself).
    default_status=dg.DefaultSensorStatus.RUNNING if SETTINGS.automation else dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=sensor_interval_s(),
)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    warehouse = WarehouseResource(database=str(settings.warehouse_path))
    return {
        "warehouse": warehouse,
        "dbt": build_dbt_resource(warehouse),
        "llm": build_llm_resource(settings),
        "synthetic_source": SyntheticSourceResource(
            landing_dir=str(settings.landing_dir),
            start_date=settings.start_date.isoformat(),
            seed=settings.seed,
            customers=settings.customers,
            daily_new_customers=settings.daily_new_customers,
        ),
        "fpr_api": FprApiResource(
            base_url=settings.api_url, api_key=dg.EnvVar("FINMATCH_API_KEY"), api_key_header=settings.api_key_header
        ),
        "payscore_api": build_payscore_resource(settings),
        "masking": MaskingResource(key=dg.EnvVar("FINMATCH_MASKING_KEY")),
    }


def build_payscore_resource(settings: Settings) -> PayScoreApiResource:
    """The PayScore resource from FINMATCH_PAYSCORE_*; a bad value names its variable and range."""
    try:
        return PayScoreApiResource(api_key=dg.EnvVar("FINMATCH_PAYSCORE_API_KEY"), **settings.payscore)
    except ValidationError as exc:
        problems = "; ".join(f"{payscore_variable(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid PayScore setting: {problems}") from None


RESOURCES = build_resources(SETTINGS)
PAYSCORE_SYNC_HOURS = RESOURCES["payscore_api"].sync_frequency_hours  # type: ignore[attr-defined]

defs = dg.Definitions(
    assets=[
        synthetic_source_day,
        *raw_assets,
        *extraction_assets,
        *customer_assets,
        *dbt_assets_defs,
        *insight_report_assets,
    ],
    asset_checks=[*customer_checks, *insight_report_checks, *mart_freshness_checks],
    jobs=[daily_source_job, fpr_extraction_job, payscore_extraction_job, refresh_warehouse_job],
    schedules=[daily_source_schedule, payscore_schedule(PAYSCORE_SYNC_HOURS)],
    sensors=[fpr_api_sensor, payscore_api_sensor, automation_sensor, mart_freshness_sensor],
    resources=RESOURCES,
    # Steps run in the run's process: every warehouse step takes the pool's one slot anyway, and a
    # subprocess per step would spend more time importing than most steps spend working.
    executor=dg.in_process_executor,
)
