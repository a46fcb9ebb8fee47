"""Ingestion: landed Parquet into ``raw.<entity>`` DuckDB tables, one asset per entity.

Keys are ``raw/<entity>``, the same names dbt's ``source('raw', ...)`` uses, so dbt models attach
to these assets without translator code. The FPR feed is absent here: it reaches
``raw.fpr_records`` through the API and the extraction.
"""

import dagster as dg

from finmatch_platform.assets.synthetic import landing_key
from finmatch_platform.constants import (
    GROUP_INGESTION,
    OWNER_DATA_PLATFORM,
    RAW_PREFIX,
    SCHEMA_RAW,
    WAREHOUSE_POOL,
)
from finmatch_platform.landing_zone.schemas import BULK_LOADED_ENTITIES, ENTITIES, PRIMARY_KEYS
from finmatch_platform.lib.raw_load import load_window
from finmatch_platform.partitions import partition_days
from finmatch_platform.resources.synthetic import SyntheticSourceResource
from finmatch_platform.resources.warehouse import WarehouseResource


def _raw_asset(entity: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=[RAW_PREFIX, entity],
        deps=[landing_key(entity)],
        description=(
            f"raw.{entity}: the landed {entity} files loaded as-is, one row per landed row plus "
            f"_landed_date. A run replaces the rows of its days, so reruns and backfills are idempotent."
        ),
        group_name=GROUP_INGESTION,
        kinds={"duckdb", "python"},
        owners=[OWNER_DATA_PLATFORM],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        metadata={
            "primary_key": ", ".join(PRIMARY_KEYS[entity]),
            "dagster/table_name": f"{SCHEMA_RAW}.{entity}",
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(f.name, str(f.type)) for f in ENTITIES[entity]]
            ),
        },
    )
    def _load(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        synthetic_source: SyntheticSourceResource,
    ) -> dg.MaterializeResult:
        days = partition_days(context)
        with warehouse.get_connection() as conn:
            result = load_window(conn, synthetic_source.landing_root, entity, days)
        context.log.info(
            f"raw.{entity}: loaded {result.rows_loaded} rows for {result.days} day(s), replaced {result.rows_replaced}"
        )
        # Counts only: raw tables may hold PII, which never goes into metadata.
        return dg.MaterializeResult(
            metadata={
                "rows_loaded": dg.MetadataValue.int(result.rows_loaded),
                "rows_replaced": dg.MetadataValue.int(result.rows_replaced),
                "dagster/row_count": dg.MetadataValue.int(result.table_rows),
                "days": dg.MetadataValue.int(result.days),
            }
        )

    return _load


def build_raw_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """One ``raw/<entity>`` asset per bulk-loaded entity, partitioned like the landing zone."""
    return [_raw_asset(entity, partitions_def) for entity in BULK_LOADED_ENTITIES]
