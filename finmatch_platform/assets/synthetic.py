"""Synthetic source systems: the simulated bank lands each day's data as Parquet.

One run generates every entity of a day together, because they are consistent with each other
(transactions reference that day's accounts, FPR records reference customers and products).
The asset is made by ``build_synthetic_source_day`` for the calendar the definitions builder
derives from the settings.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from finmatch_platform.constants import GROUP_SYNTHETIC, LANDING_PREFIX, OWNER_DATA_PLATFORM
from finmatch_platform.landing_zone.schemas import ENTITIES
from finmatch_platform.partitions import partition_days
from finmatch_platform.resources.synthetic import SyntheticSourceResource
from finmatch_platform.simulator.generation import write_day

_DESCRIPTIONS: dict[str, str] = {
    "customers": "Core-banking KYC master: opening book on the start day, then new customers and "
    "attribute updates (same customer_id, later modified_at). Contains PII.",
    "products": "Product catalogue (cards, loans, insurance, deposits, investments) with terms and fees.",
    "accounts": "Accounts opened per customer: type, open date, balance and limit.",
    "transactions": "The day's transactions: amount, mode, reason, merchant and city.",
    "login_activity": "The day's digital-banking logins: success, device and city.",
    "credit_scores": "CIBIL score checks per customer (history).",
    "fpr_records": "FPR product-recommendation change log: new recommendations, status changes and "
    "tombstones of the day. Served by the FPR API, not loaded directly.",
    "screening_groups": "PayScore screening-group change log: groups created and updated on the day. "
    "Served by the PayScore API, not loaded directly.",
}


def landing_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey([LANDING_PREFIX, entity])


def build_synthetic_source_day(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Every landing entity of a day, in one multi-asset partitioned by ``partitions_def``."""

    @dg.multi_asset(
        name="synthetic_source_day",
        specs=[
            dg.AssetSpec(
                landing_key(entity),
                description=_DESCRIPTIONS[entity],
                group_name=GROUP_SYNTHETIC,
                kinds={"parquet", "python"},
                owners=[OWNER_DATA_PLATFORM],
                metadata={"landing_layout": f"<landing>/{entity}/date=YYYY-MM-DD/part-0.parquet"},
            )
            for entity in ENTITIES
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def synthetic_source_day(
        context: dg.AssetExecutionContext, synthetic_source: SyntheticSourceResource
    ) -> Iterator[dg.MaterializeResult]:
        """Generate and land every source entity for each day of the partition range."""
        yield from _land_days(context, synthetic_source)

    return synthetic_source_day


def _land_days(
    context: dg.AssetExecutionContext, synthetic_source: SyntheticSourceResource
) -> Iterator[dg.MaterializeResult]:
    config = synthetic_source.generation_config()
    rows: dict[str, int] = dict.fromkeys(ENTITIES, 0)
    days = partition_days(context)
    for day in days:
        paths = write_day(config, synthetic_source.landing_root, day)
        for entity, path in paths.items():
            rows[entity] += _parquet_rows(path)
        context.log.info(f"landed {day.isoformat()}: " + ", ".join(f"{e}={rows[e]}" for e in ENTITIES))
    for entity in ENTITIES:
        yield dg.MaterializeResult(
            asset_key=landing_key(entity),
            metadata={
                "rows": dg.MetadataValue.int(rows[entity]),
                "days": dg.MetadataValue.int(len(days)),
                "first_day": days[0].isoformat(),
                "last_day": days[-1].isoformat(),
                "landing_dir": dg.MetadataValue.path(str(synthetic_source.landing_root / entity)),
                "seed": config.seed,
            },
        )


def _parquet_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
