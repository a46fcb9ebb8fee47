"""The one code location: every asset, check, job, schedule, sensor and resource.

Nothing is built at import. Dagster calls ``defs`` (``@dg.definitions``) when it loads the code
location; it reads the settings once and hands them, or what follows from them (the daily
calendar, the resources, the sensor interval), to ``build_definitions``, which tests call with
settings of their own. Reading the dbt manifest (and parsing the project when it is stale)
happens there, when the dbt assets are built.

Every resource's values are fixed here, by the deployment: a run's config cannot set any of them
(``resources/deployment.py``). ``defs`` also checks the keys the platform uses, so a missing or
short key stops the code location from loading instead of failing its first run.
"""

from __future__ import annotations

import dagster as dg
from pydantic import ValidationError

from finmatch_platform.assets.customers import customer_assets, customer_checks
from finmatch_platform.assets.dbt import build_dbt_assets
from finmatch_platform.assets.extraction import extraction_assets
from finmatch_platform.assets.ingestion import build_raw_assets
from finmatch_platform.assets.insights import insight_report_assets, insight_report_checks
from finmatch_platform.assets.synthetic import build_synthetic_source_day
from finmatch_platform.freshness import build_mart_freshness
from finmatch_platform.jobs import daily_source_job, fpr_extraction_job, payscore_extraction_job, refresh_warehouse_job
from finmatch_platform.partitions import daily_partitions_def
from finmatch_platform.resources.dbt import build_dbt_resource
from finmatch_platform.resources.llm import build_llm_resource, endpoints_from_env
from finmatch_platform.resources.masking import MaskingResource
from finmatch_platform.resources.synthetic import SyntheticSourceResource
from finmatch_platform.resources.vendor_apis import FprApiResource, PayScoreApiResource, invalid_settings
from finmatch_platform.resources.warehouse import WarehouseResource
from finmatch_platform.schedules import daily_source_schedule, payscore_schedule
from finmatch_platform.sensors import build_automation_sensor, build_fpr_api_sensor, build_payscore_api_sensor
from finmatch_platform.settings import (
    API_KEY_ENV,
    API_URL_ENV,
    MASKING_KEY_ENV,
    PAYSCORE_API_KEY_ENV,
    PLATFORM_KEYS,
    Settings,
    require_secrets,
)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource of the code location; keys are read from the environment at run time."""
    warehouse = WarehouseResource(database=str(settings.warehouse_path))
    return {
        "warehouse": warehouse,
        "dbt": build_dbt_resource(warehouse),
        "llm": build_llm_resource(settings.data_dir, allow_insecure_http=settings.allow_insecure_http),
        "synthetic_source": SyntheticSourceResource(
            landing_dir=str(settings.landing_dir),
            start_date=settings.start_date.isoformat(),
            seed=settings.seed,
            customers=settings.customers,
            daily_new_customers=settings.daily_new_customers,
        ),
        "fpr_api": build_fpr_resource(settings),
        "payscore_api": build_payscore_resource(settings),
        "masking": MaskingResource(key=dg.EnvVar(MASKING_KEY_ENV)),
    }


def build_fpr_resource(settings: Settings) -> FprApiResource:
    """The FPR resource from FINMATCH_API_URL and FINMATCH_API_KEY_HEADER; a bad value names its variable."""
    try:
        return FprApiResource(
            base_url=settings.api_url,
            api_key=dg.EnvVar(API_KEY_ENV),
            api_key_header=settings.api_key_header,  # type: ignore[arg-type]
            allow_insecure_http=settings.allow_insecure_http,
        )
    except ValidationError as exc:
        raise invalid_settings(
            "FPR", exc, {"base_url": API_URL_ENV, "api_key_header": "FINMATCH_API_KEY_HEADER"}
        ) from None


def build_payscore_resource(settings: Settings) -> PayScoreApiResource:
    """The PayScore resource from FINMATCH_PAYSCORE_*; a bad value names its variable and range."""
    try:
        return PayScoreApiResource(
            api_key=dg.EnvVar(PAYSCORE_API_KEY_ENV),
            allow_insecure_http=settings.allow_insecure_http,
            **settings.payscore,
        )
    except ValidationError as exc:
        raise invalid_settings("PayScore", exc) from None


def build_definitions(settings: Settings) -> dg.Definitions:
    """The code location for ``settings``: the same settings always give the same graph."""
    partitions_def = daily_partitions_def(settings.start_date)
    resources = build_resources(settings)
    payscore: PayScoreApiResource = resources["payscore_api"]  # type: ignore[assignment]
    dbt_assets = build_dbt_assets(partitions_def)
    freshness_checks, freshness_sensor = build_mart_freshness(dbt_assets.mart_keys())
    interval_s = settings.sensor_interval_s
    return dg.Definitions(
        assets=[
            build_synthetic_source_day(partitions_def),
            *build_raw_assets(partitions_def),
            *extraction_assets,
            *customer_assets,
            *dbt_assets.all,
            *insight_report_assets,
        ],
        asset_checks=[*customer_checks, *insight_report_checks, *freshness_checks],
        jobs=[daily_source_job, fpr_extraction_job, payscore_extraction_job, refresh_warehouse_job],
        schedules=[daily_source_schedule, payscore_schedule(payscore.sync_frequency_hours)],
        sensors=[
            build_fpr_api_sensor(interval_s),
            build_payscore_api_sensor(interval_s),
            build_automation_sensor(interval_s, running=settings.automation),
            freshness_sensor,
        ],
        resources=resources,
        # Steps run in the run's process: every warehouse step takes the pool's one slot anyway, and a
        # subprocess per step would spend more time importing than most steps spend working.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What Dagster loads (workspace.yaml's ``attribute: defs``): the definitions for the environment,
    once every key the platform uses (the LLM endpoints' included) is set and long enough."""
    settings = Settings.from_env()
    require_secrets([*PLATFORM_KEYS, *(e.api_key_env for e in endpoints_from_env() if e.api_key_env)])
    return build_definitions(settings)
