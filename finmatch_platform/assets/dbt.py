"""dbt models as assets: staging, the daily facts and the marts, every dbt test an asset check.

Sources resolve by key (``source('raw', 'transactions')`` is ``raw/transactions``,
``source('masked', 'customers')`` is ``masked/customers``), so the dbt graph hangs off the Python
ingestion and masking assets with no wiring here.

``build_dbt_assets`` makes three definitions over one manifest (read then, never at import),
split where the partitioning changes, so that the whole graph can run in one run (a run of a job
over a day range, such as ``refresh_warehouse``) with no definition needed both before and after
another:

* ``finmatch_dbt_base``: everything the daily facts read (staging views, reference seeds, the
  dimensions), rebuilt whole.
* ``finmatch_dbt_daily_facts``: the incremental facts tagged ``daily``, partitioned by day with a
  single-run backfill policy. A 30-day backfill is one ``dbt build`` whose vars ``min_date`` and
  ``max_date`` span the range; the models delete that window and insert it again, so reruns
  replace and never double.
* ``finmatch_dbt_marts``: everything else (the marts over all days, and what they read), rebuilt
  whole: they are small, and a mart over all days must see all days anyway.

All take a slot in the warehouse pool: DuckDB has one writer, and dbt is one.

Which tests a run executes (dbt's indirect selection) differs on purpose. The daily facts use
dbt's default, eager: their tests include the relationships to the dimensions, which are built
upstream of them. The others use buildable: tests whose parents are all in the run or upstream
of it, so a run that builds only staging and the dimensions (the first run of a backfill on a
fresh warehouse) never tests a fact that is not built yet, while a singular test that checks a
mart against staging still runs with the mart. The rule for tests this implies: a test that
reads a daily fact reads nothing downstream of it.
"""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from pydantic import Field

from finmatch_platform.constants import GROUP_STAGING, MARTS_GROUP_PREFIX, OWNER_DATA_PLATFORM, WAREHOUSE_POOL
from finmatch_platform.lib.dbt_args import dbt_build_args, select_outside_ancestors_of_tag, window_from_time_window
from finmatch_platform.resources.dbt import WarehouseDbtCliResource, dbt_manifest, dbt_project

# dbt tag of the date-partitioned incremental facts (set in dbt_project.yml / the model configs).
DAILY_TAG = "daily"
DAILY_SELECT = f"tag:{DAILY_TAG}"
# Every ancestor of a daily fact; the base definition is these minus the facts themselves.
DAILY_ANCESTORS_SELECT = f"+{DAILY_SELECT}"

OWNER_ANALYTICS_ENGINEERING = "team:analytics-engineering"
# Who answers for a mart's numbers, by domain folder; anything unlisted is analytics engineering's.
_DOMAIN_OWNERS: dict[str, str] = {
    "core": OWNER_ANALYTICS_ENGINEERING,
    "recommendations": "team:product-analytics",
    "cross_sell": "team:product-analytics",
    "campaigns": "team:marketing-analytics",
    "spend": "team:marketing-analytics",
    "fraud": "team:fraud-analytics",
    "revenue": "team:finance-analytics",
}


def _folder(dbt_resource_props: Mapping[str, Any]) -> list[str]:
    # fqn is [project, folder, ..., name]; seeds and snapshots have no folder.
    return list(dbt_resource_props.get("fqn", [])[1:-1])


class FinmatchDbtTranslator(DagsterDbtTranslator):
    """Groups by layer (staging, intermediate) and mart domain, owners by domain, kinds by build,
    and eager automation for every model."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        folder = _folder(dbt_resource_props)
        if dbt_resource_props.get("resource_type") == "seed":
            return GROUP_STAGING
        if not folder:
            return super().get_group_name(dbt_resource_props)
        if folder[0] == "marts" and len(folder) > 1:
            return MARTS_GROUP_PREFIX + folder[1]
        return folder[0]

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        folder = _folder(dbt_resource_props)
        if folder[:1] == ["marts"] and len(folder) > 1:
            return [_DOMAIN_OWNERS.get(folder[1], OWNER_ANALYTICS_ENGINEERING)]
        if folder[:1] == ["staging"]:
            return [OWNER_DATA_PLATFORM, OWNER_ANALYTICS_ENGINEERING]
        return [OWNER_ANALYTICS_ENGINEERING]

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        # Downstream of ingestion and masking, the models follow by declarative automation (the
        # daily facts: their latest day); backfills of older days are launched by hand.
        return dg.AutomationCondition.eager()

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") not in ("model", "seed"):
            return spec
        # dbt and duckdb come from dagster-dbt; the third kind says what the model builds.
        materialized = props.get("config", {}).get("materialized", "seed")
        return spec.merge_attributes(kinds={"view" if materialized == "view" else "table"})


dbt_translator = FinmatchDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True)
)


class DailyFactsConfig(dg.Config):
    """Run config of the daily facts (Launchpad: ``ops.finmatch_dbt_daily_facts.config``)."""

    full_refresh: bool = Field(
        default=False,
        description=(
            "Drop and rebuild the daily facts over every day found in the sources, whatever the "
            "run's partitions (needed after a fact's columns change: the models refuse to append "
            "to a table of another shape)."
        ),
    )


@dataclass(frozen=True)
class DbtAssets:
    """The project's three definitions, in the order a run builds them."""

    base: dg.AssetsDefinition
    daily_facts: dg.AssetsDefinition
    marts: dg.AssetsDefinition

    @property
    def all(self) -> list[dg.AssetsDefinition]:
        return [self.base, self.daily_facts, self.marts]

    def mart_keys(self) -> list[dg.AssetKey]:
        """Every asset in a marts_<domain> group, sorted."""
        return sorted(
            key
            for assets_def in self.all
            for key, group in assets_def.group_names_by_key.items()
            if group.startswith(MARTS_GROUP_PREFIX)
        )


def build_dbt_assets(partitions_def: dg.PartitionsDefinition) -> DbtAssets:
    """The dbt assets over the current manifest (``dbt parse`` first if it is missing or stale);
    the daily facts are partitioned by ``partitions_def``."""
    manifest = dbt_manifest()
    return DbtAssets(
        base=_base_assets(manifest),
        daily_facts=_daily_fact_assets(manifest, partitions_def),
        marts=_mart_assets(manifest),
    )


def _daily_fact_assets(manifest: Path, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=manifest,
        project=dbt_project(),
        select=DAILY_SELECT,
        name="finmatch_dbt_daily_facts",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=dbt_translator,
        pool=WAREHOUSE_POOL,
    )
    def finmatch_dbt_daily_facts(
        context: dg.AssetExecutionContext, dbt: WarehouseDbtCliResource, config: DailyFactsConfig
    ) -> Iterator[Any]:
        """The daily facts for the run's partition range, in one dbt build that replaces that window."""
        window = window_from_time_window(context.partition_time_window.start, context.partition_time_window.end)
        context.log.info(f"dbt build of {window.days} day(s): {window.min_date} to {window.max_date}")
        args = dbt_build_args(window, full_refresh=config.full_refresh)
        yield from dbt.cli(args, context=context, indirect_selection="eager").stream()

    return finmatch_dbt_daily_facts


def _build_whole(context: dg.AssetExecutionContext, dbt: WarehouseDbtCliResource) -> Iterator[Any]:
    yield from dbt.cli(dbt_build_args(), context=context, indirect_selection="buildable").stream()


def _base_assets(manifest: Path) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=manifest,
        project=dbt_project(),
        select=DAILY_ANCESTORS_SELECT,
        exclude=DAILY_SELECT,
        name="finmatch_dbt_base",
        dagster_dbt_translator=dbt_translator,
        pool=WAREHOUSE_POOL,
    )
    def finmatch_dbt_base(context: dg.AssetExecutionContext, dbt: WarehouseDbtCliResource) -> Iterator[Any]:
        """Staging, reference data and dimensions (what the daily facts read): rebuilt whole."""
        yield from _build_whole(context, dbt)

    return finmatch_dbt_base


def _mart_assets(manifest: Path) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=manifest,
        project=dbt_project(),
        select=select_outside_ancestors_of_tag(json.loads(manifest.read_text(encoding="utf-8")), DAILY_TAG),
        name="finmatch_dbt_marts",
        dagster_dbt_translator=dbt_translator,
        pool=WAREHOUSE_POOL,
    )
    def finmatch_dbt_marts(context: dg.AssetExecutionContext, dbt: WarehouseDbtCliResource) -> Iterator[Any]:
        """The marts and the models only they read: rebuilt whole on every run."""
        yield from _build_whole(context, dbt)

    return finmatch_dbt_marts
