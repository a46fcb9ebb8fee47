"""Extraction: the vendor feeds pulled from their APIs into ``raw.*``, connector-style.

One connector engine, one asset per declared source. Each asset syncs from the stored position,
upserts by primary key and checkpoints rows and position together, so a failed or killed run
resumes where it stopped; a failure fails the run. Each sync reports its operation summary and
checks the share of records it had to quarantine: above 1% the check is red (ERROR), so a feed
that is mostly refused never passes for a green run with nothing loaded.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg
from pydantic import Field

from finmatch_platform.assets.synthetic import landing_key
from finmatch_platform.constants import GROUP_EXTRACTION, OWNER_DATA_PLATFORM, RAW_PREFIX, WAREHOUSE_POOL
from finmatch_platform.lib.connectors.sync import CheckpointProgress, SyncSummary
from finmatch_platform.lib.connectors.writer import ensure_table
from finmatch_platform.lib.quarantine_masking import payload_masker
from finmatch_platform.resources.masking import MaskingResource
from finmatch_platform.resources.vendor_apis import FprApiResource, PayScoreApiResource, VendorApiResource
from finmatch_platform.resources.warehouse import WarehouseResource

FPR_RECORDS_KEY = dg.AssetKey([RAW_PREFIX, "fpr_records"])
SCREENING_GROUP_KEY = dg.AssetKey([RAW_PREFIX, "screening_group"])
CURSOR_METADATA_KEY = "cursor_after"
QUARANTINE_CHECK = "quarantined_share"
# Above this share of a sync's records in quarantine, the feed is treated as broken.
MAX_QUARANTINED_SHARE = 0.01

# Columns safe to preview before masking: identifiers, product and scoring fields, no PII.
_FPR_PREVIEW = (
    "record_id",
    "customer_id",
    "product_type",
    "product_recommendation_status",
    "recommendation_score",
    "customer_churn_probability",
    "updated_at",
    "_deleted",
)
_SCREENING_GROUP_PREVIEW = ("id", "status", "organization_id", "member_count", "updated_at")


class ExtractionConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Reset the stream (drop the table, position and its quarantine rows) and reload everything.",
    )


def _progress(context: dg.AssetExecutionContext) -> Callable[[CheckpointProgress], None]:
    def log(p: CheckpointProgress) -> None:
        context.log.info(f"checkpoint {p.checkpoint}: {p.records} records over {p.pages} pages durable")

    return log


def _sync(
    context: dg.AssetExecutionContext,
    api: VendorApiResource,
    warehouse: WarehouseResource,
    masking: MaskingResource,
    *,
    full_refresh: bool,
    policy_table: str | None,
    preview: tuple[str, ...],
) -> dg.MaterializeResult:
    source = api.declaration()
    mask = payload_masker(masking.policy, masking.key, policy_table) if policy_table else None
    with warehouse.get_connection() as conn:
        summary = api.sync(
            conn,
            log_dir=warehouse.checkpoint_dir(),
            full_refresh=full_refresh,
            mask=mask,
            on_checkpoint=_progress(context),
        )
        table = f"raw.{source.table}"
        rows = conn.execute(
            f"select {', '.join(preview)} from {table} order by {source.incremental_field} desc, "
            f"{source.primary_key} limit 5"
        ).fetch_df()
    context.log.info(
        f"synced {summary.records} records in {summary.pages} pages "
        f"({summary.records_per_s:,.0f} records/s, {summary.retries} retries, {summary.quarantined} quarantined)"
    )
    return dg.MaterializeResult(
        metadata=summary_metadata(summary, table, rows.to_markdown(index=False)),
        check_results=[quarantine_check(summary)],
    )


def quarantine_check(summary: SyncSummary) -> dg.AssetCheckResult:
    share = summary.quarantined_share
    return dg.AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=share <= MAX_QUARANTINED_SHARE,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "quarantined": dg.MetadataValue.int(summary.quarantined),
            "records": dg.MetadataValue.int(summary.records),
            "share": dg.MetadataValue.float(round(share, 6)),
            "max_share": dg.MetadataValue.float(MAX_QUARANTINED_SHARE),
        },
        description=f"{summary.quarantined} of {summary.records} records quarantined in this sync",
    )


def summary_metadata(summary: SyncSummary, table: str, preview_markdown: str) -> dict[str, Any]:
    """The operation summary, as the vendor SDK's debug run prints it, plus what resumes the stream."""
    return {
        "upserts": dg.MetadataValue.int(summary.upserts),
        "inserted": dg.MetadataValue.int(summary.inserted),
        "updates": dg.MetadataValue.int(summary.updated),
        "deletes": dg.MetadataValue.int(summary.deleted),
        "truncates": dg.MetadataValue.int(summary.truncates),
        "schema_changes": dg.MetadataValue.int(summary.schema_changes),
        "new_columns": ", ".join(summary.new_columns) or "none",
        "widened_columns": ", ".join(summary.widened_columns) or "none",
        "checkpoints": dg.MetadataValue.int(summary.checkpoints),
        "merges": dg.MetadataValue.int(summary.merges),
        "replayed_checkpoints": dg.MetadataValue.int(summary.replayed_checkpoints),
        "quarantined": dg.MetadataValue.int(summary.quarantined),
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
        "dagster/table_name": table,
        "preview": dg.MetadataValue.md(preview_markdown),
    }


def _check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        QUARANTINE_CHECK,
        asset=key,
        description=f"At most {MAX_QUARANTINED_SHARE:.0%} of a sync's records go to quarantine (ERROR above).",
    )


@dg.asset(
    key=FPR_RECORDS_KEY,
    deps=[landing_key("fpr_records")],
    description=(
        "raw.fpr_records: the FPR product-recommendation feed synced from its API. One row per "
        "record_id (upserted), tombstones kept as _deleted rows, _synced_at per merge. "
        "Incremental from the stored cursor; the fpr_api_sensor requests a run when the API has new data."
    ),
    group_name=GROUP_EXTRACTION,
    kinds={"duckdb", "python", "api"},
    owners=[OWNER_DATA_PLATFORM],
    pool=WAREHOUSE_POOL,
    metadata={"dagster/table_name": "raw.fpr_records", "primary_key": "record_id"},
    check_specs=[_check_spec(FPR_RECORDS_KEY)],
)
def fpr_records(
    context: dg.AssetExecutionContext,
    config: ExtractionConfig,
    fpr_api: FprApiResource,
    warehouse: WarehouseResource,
    masking: MaskingResource,
) -> dg.MaterializeResult:
    return _sync(
        context,
        fpr_api,
        warehouse,
        masking,
        full_refresh=config.full_refresh,
        policy_table="fpr_records",
        preview=_FPR_PREVIEW,
    )


@dg.asset(
    key=SCREENING_GROUP_KEY,
    deps=[landing_key("screening_groups")],
    description=(
        "raw.screening_group: PayScore's screening groups synced from its API. One row per id "
        "(upserted), settings as JSON, _synced_at per merge. Incremental from the largest "
        "(updated_at, id) seen, re-anchored per request so records updated mid-sync are never skipped."
    ),
    group_name=GROUP_EXTRACTION,
    kinds={"duckdb", "python", "api"},
    owners=[OWNER_DATA_PLATFORM],
    pool=WAREHOUSE_POOL,
    metadata={"dagster/table_name": "raw.screening_group", "primary_key": "id"},
    check_specs=[_check_spec(SCREENING_GROUP_KEY)],
)
def screening_group(
    context: dg.AssetExecutionContext,
    config: ExtractionConfig,
    payscore_api: PayScoreApiResource,
    warehouse: WarehouseResource,
    masking: MaskingResource,
) -> dg.MaterializeResult:
    if not payscore_api.enable_screening_groups:
        context.log.info("screening groups are switched off (enable_screening_groups=false): nothing synced")
        with warehouse.get_connection() as conn:
            ensure_table(conn, payscore_api.declaration())
        return dg.MaterializeResult(
            metadata={"enabled": False},
            check_results=[dg.AssetCheckResult(check_name=QUARANTINE_CHECK, passed=True, description="not synced")],
        )
    return _sync(
        context,
        payscore_api,
        warehouse,
        masking,
        # Without incremental sync every run re-reads initial_sync_days, as the vendor's connector does.
        full_refresh=config.full_refresh or not payscore_api.enable_incremental_sync,
        policy_table="screening_group",
        preview=_SCREENING_GROUP_PREVIEW,
    )


extraction_assets = [fpr_records, screening_group]
