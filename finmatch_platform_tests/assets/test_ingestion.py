"""Synthetic and ingestion assets, materialized through Dagster against a temporary warehouse."""

from __future__ import annotations

import dagster as dg
import duckdb
import pydantic
import pytest

from finmatch_platform.landing_zone.schemas import BULK_LOADED_ENTITIES, ENTITIES
from finmatch_platform.resources.synthetic import SyntheticSourceResource
from finmatch_platform.settings import Settings
from finmatch_platform.simulator.generation import ConfigError
from finmatch_platform_tests.helpers.core import source_assets

ASSETS = source_assets()


def _materialize_range(resources, instance, first: str, last: str) -> dg.ExecuteInProcessResult:
    # A single run over a partition range, as a single-run backfill launches it.
    return dg.materialize(
        ASSETS,
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )


def _landing_rows(settings: Settings, entity: str) -> int:
    pattern = str(settings.landing_dir / entity / "date=*" / "*.parquet")
    return duckdb.sql(f"select count(*) from read_parquet('{pattern}')").fetchall()[0][0]


def _raw_rows(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return {e: conn.execute(f"select count(*) from raw.{e}").fetchone()[0] for e in BULK_LOADED_ENTITIES}


def test_a_range_run_lands_every_entity_and_raw_tables_match_the_landing_files(settings, resources, instance) -> None:
    result = _materialize_range(resources, instance, "2026-10-01", "2026-10-03")

    assert result.success
    for entity in ENTITIES:
        for day in ("2026-10-01", "2026-10-02", "2026-10-03"):
            assert (settings.landing_dir / entity / f"date={day}" / "part-0.parquet").is_file()
    raw = _raw_rows(settings)
    assert raw == {e: _landing_rows(settings, e) for e in BULK_LOADED_ENTITIES}
    assert raw["customers"] >= 300 and raw["transactions"] > 0
    # The FPR feed goes through the API and the extraction, never the bulk loader.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        assert (
            conn.execute(
                "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'fpr_records'"
            ).fetchone()[0]
            == 0
        )


def test_rerunning_a_day_replaces_its_rows_and_leaves_other_days_alone(settings, resources, instance) -> None:
    _materialize_range(resources, instance, "2026-10-01", "2026-10-02")
    before = _raw_rows(settings)
    landed_before = (settings.landing_dir / "transactions" / "date=2026-10-02" / "part-0.parquet").read_bytes()

    rerun = dg.materialize(ASSETS, resources=resources, instance=instance, partition_key="2026-10-02")

    assert rerun.success
    assert _raw_rows(settings) == before
    # Same seed and day: the re-landed file is byte-identical.
    assert (settings.landing_dir / "transactions" / "date=2026-10-02" / "part-0.parquet").read_bytes() == landed_before


def test_materialization_metadata_reports_counts_and_never_customer_values(settings, resources, instance) -> None:
    result = dg.materialize(ASSETS, resources=resources, instance=instance, partition_key="2026-10-01")

    raw_customers = [
        m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(["raw", "customers"])
    ]
    metadata = raw_customers[0].materialization.metadata
    assert metadata["rows_loaded"].value == _raw_rows(settings)["customers"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        emails = {r[0] for r in conn.execute("select email from raw.customers limit 50").fetchall()}
    rendered = " ".join(str(v.value) for v in metadata.values())
    assert not any(email in rendered for email in emails)


def test_a_generator_size_out_of_range_fails_when_the_resource_is_made_and_names_the_field(settings) -> None:
    with pytest.raises(pydantic.ValidationError, match=r"customers\n.*greater than or equal to 1"):
        SyntheticSourceResource(landing_dir=str(settings.landing_dir), start_date="2026-10-01", customers=-5)
    assert not settings.landing_dir.exists()


def test_a_bad_generator_start_date_fails_before_writing_and_names_the_field(settings, instance) -> None:
    from finmatch_platform.definitions import build_resources

    resources = build_resources(settings)
    resources["synthetic_source"] = SyntheticSourceResource(
        landing_dir=str(settings.landing_dir), start_date="2026-13-01"
    )

    with pytest.raises(dg.DagsterResourceFunctionError) as failure:
        dg.materialize(ASSETS, resources=resources, instance=instance, partition_key="2026-10-01")
    assert isinstance(failure.value.__cause__, ConfigError)
    assert "start_date must be an ISO date (YYYY-MM-DD), got '2026-13-01'" in str(failure.value.__cause__)
    assert not settings.landing_dir.exists()
