"""Extraction: the FPR feed pulled from its API into ``raw.fpr_records``, connector-style.

The asset pages from the stored cursor, upserts by ``record_id`` and checkpoints rows and cursor
together, so a failed or killed run resumes where it stopped. A failure fails the run: the
checkpoints committed before it stay, and the next run continues after them.
"""

import dagster as dg
from pydantic import Field

from finmatch_platform.assets.synthetic import landing_key
from finmatch_platform.constants import GROUP_EXTRACTION, OWNER_DATA_PLATFORM, RAW_PREFIX, WAREHOUSE_POOL
from finmatch_platform.lib.fpr_sync import CheckpointProgress, SyncSummary
from finmatch_platform.resources.fpr_api import FprApiResource
from finmatch_platform.resources.warehouse import WarehouseResource

FPR_RECORDS_KEY = dg.AssetKey([RAW_PREFIX, "fpr_records"])
CURSOR_METADATA_KEY = "cursor_after"

# Columns safe to preview before masking: identifiers, product and scoring fields, no PII.
_PREVIEW_COLUMNS = (
    "record_id",
    "customer_id",
    "product_type",
    "product_recommendation_status",
    "recommendation_score",
    "customer_churn_probability",
    "updated_at",
    "_deleted",
)


class FprExtractionConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Reset the stream (drop the table, cursor and quarantine rows) and reload everything.",
    )


@dg.asset(
    key=FPR_RECORDS_KEY,
    deps=[landing_key("fpr_records")],
    description=(
        "raw.fpr_records: the FPR product-recommendation feed synced from its API. One row per "
        "record_id (upserted), tombstones kept as _deleted rows, _synced_at per checkpoint. "
        "Incremental from the stored cursor; the fpr_api_sensor requests a run when the API has new data."
    ),
    group_name=GROUP_EXTRACTION,
    kinds={"duckdb", "python", "api"},
    owners=[OWNER_DATA_PLATFORM],
    pool=WAREHOUSE_POOL,
    metadata={"dagster/table_name": "raw.fpr_records", "primary_key": "record_id"},
)
def fpr_records(
    context: dg.AssetExecutionContext,
    config: FprExtractionConfig,
    fpr_api: FprApiResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    def progress(p: CheckpointProgress) -> None:
        context.log.info(
            f"checkpoint {p.checkpoint}: {p.records} records over {p.pages} pages committed "
            f"({p.inserted} new, {p.updated} updated, {p.deleted} deleted, {p.quarantined} quarantined)"
        )

    with warehouse.get_connection() as conn:
        summary = fpr_api.sync(conn, full_refresh=config.full_refresh, on_checkpoint=progress)
        preview = conn.execute(
            f"select {', '.join(_PREVIEW_COLUMNS)} from raw.fpr_records order by updated_at desc, record_id limit 5"
        ).fetch_df()
    context.log.info(
        f"synced {summary.records} records in {summary.pages} pages "
        f"({summary.records_per_s:,.0f} records/s, {summary.retries} retries)"
    )
    return dg.MaterializeResult(metadata=_summary_metadata(summary, preview.to_markdown(index=False)))


def _summary_metadata(summary: SyncSummary, preview_markdown: str) -> dict[str, object]:
    return {
        "upserts": dg.MetadataValue.int(summary.upserts),
        "inserted": dg.MetadataValue.int(summary.inserted),
        "updates": dg.MetadataValue.int(summary.updated),
        "deletes": dg.MetadataValue.int(summary.deleted),
        "quarantined": dg.MetadataValue.int(summary.quarantined),
        "checkpoints": dg.MetadataValue.int(summary.checkpoints),
        "schema_changes": dg.MetadataValue.int(summary.schema_changes),
        "new_columns": ", ".join(summary.new_columns) or "none",
        "pages": dg.MetadataValue.int(summary.pages),
        "records": dg.MetadataValue.int(summary.records),
        "retries": dg.MetadataValue.int(summary.retries),
        "wait_s": dg.MetadataValue.float(round(summary.wait_s, 3)),
        "duration_s": dg.MetadataValue.float(round(summary.duration_s, 3)),
        "records_per_s": dg.MetadataValue.float(round(summary.records_per_s, 1)),
        "full_refresh": summary.full_refresh,
        "cursor_before": summary.cursor_before or "(start of feed)",
        CURSOR_METADATA_KEY: summary.cursor_after or "",
        "dagster/row_count": dg.MetadataValue.int(summary.rows_in_table),
        "preview": dg.MetadataValue.md(preview_markdown),
    }
