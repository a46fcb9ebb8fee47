"""Core fixtures: a temporary data directory, its landing zone and warehouse, and resources."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

from finmatch_platform.settings import Settings

# The repository checkout the tests run in (dbt/, scripts/, the Makefile).
REPO_ROOT = Path(__file__).resolve().parents[2]
START = dt.date(2026, 10, 1)
SMALL_CUSTOMERS = 300
# Distinctive, so a leak into logs or metadata is easy to grep for.
TEST_MASKING_KEY = "masking-test-key-5f1d9c"


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings pointing every path into a fresh temporary data directory."""
    base = Settings.from_env()
    data_dir = tmp_path / "data"
    return replace(
        base,
        data_dir=data_dir,
        landing_dir=data_dir / "landing",
        warehouse_path=data_dir / "warehouse" / "finmatch.duckdb",
        start_date=START,
        seed=7,
        customers=SMALL_CUSTOMERS,
        daily_new_customers=3,
    )


def source_assets(start: dt.date = START) -> list[dg.AssetsDefinition]:
    """The partitioned source assets (the landing multi-asset and raw/*) on a calendar from ``start``."""
    from finmatch_platform.assets.ingestion import build_raw_assets
    from finmatch_platform.assets.synthetic import build_synthetic_source_day
    from finmatch_platform.partitions import daily_partitions_def

    partitions_def = daily_partitions_def(start)
    return [build_synthetic_source_day(partitions_def), *build_raw_assets(partitions_def)]


@pytest.fixture()
def resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    from finmatch_platform.definitions import build_resources
    from finmatch_platform.resources.masking import MaskingResource

    return {**build_resources(settings), "masking": MaskingResource(key=TEST_MASKING_KEY)}


@pytest.fixture()
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as ephemeral:
        yield ephemeral
