"""stg_raw__screening_groups: built by the real dbt CLI on a warehouse the connector engine filled
from a live ``finmatch-payscore-api``; only that model and its tests, so it stays fast."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from finmatch_platform.resources.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR, WAREHOUSE_PATH_ENV
from finmatch_platform.settings import Settings
from finmatch_platform_tests.helpers.extraction import payscore_sync_into
from finmatch_platform_tests.helpers.payscore import (
    expected_screening_groups,
    land_screening_group_days,
    launch_payscore_api,
    payscore_generation_config,
)

MODEL = "stg_raw__screening_groups"
VIEW = f"staging.{MODEL}"
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def dbt(warehouse: Path, target: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """``dbt <args> --select`` the model, as a user runs it; returns the process and each node's status."""
    env = {**os.environ, WAREHOUSE_PATH_ENV: str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(
        [DBT_EXECUTABLE, *args, "--select", MODEL, "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target), "--log-path", str(target)],
        cwd=DBT_PROJECT_DIR.parent, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    results = json.loads((target / "run_results.json").read_text())["results"]
    return completed, {r["unique_id"].split(".")[2]: r["status"] for r in results}


@dataclass(frozen=True)
class Built:
    landing: Path
    warehouse: Path
    statuses: dict[str, str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("dbt-screening-groups")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    land_screening_group_days(landing, payscore_generation_config(), 3)
    api = launch_payscore_api(landing, log_dir=root)
    try:
        payscore_sync_into(warehouse, api.base_url, api.api_key, page_size=100)
    finally:
        api.stop()
    completed, statuses = dbt(warehouse, root / "target", "build")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    yield Built(landing, warehouse, statuses)


def test_the_model_builds_and_its_data_tests_pass_on_the_synced_table(built: Built) -> None:
    assert built.statuses == {
        MODEL: "success",
        f"not_null_{MODEL}_screening_group_id": "pass",
        f"unique_{MODEL}_screening_group_id": "pass",
        f"accepted_values_{MODEL}_status__active__inactive__archived": "pass",
        f"accepted_range_{MODEL}_member_count__0": "pass",
    }


def test_each_group_is_one_row_renamed_with_utc_times_and_fields_read_from_its_settings(built: Built) -> None:
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        cursor = conn.execute(f"select * from {VIEW}")
        names = [d[0] for d in cursor.description]
        rows = {row["screening_group_id"]: row for row in (dict(zip(names, r, strict=True)) for r in cursor.fetchall())}
        types = dict(conn.execute(f"select column_name, column_type from (describe {VIEW})").fetchall())

    expected = expected_screening_groups(built.landing)
    assert len(rows) == len(expected)
    assert types["settings"] == "JSON" and types["updated_at"] == "TIMESTAMP" and types["member_count"] == "BIGINT"
    for group in expected:
        row = rows[group["id"]]
        settings = json.loads(row["settings"])
        assert settings == group["settings"]
        assert (row["verification_type"], row["auto_approve_threshold"], row["income_lookback_days"]) == (
            settings["verification_type"],
            settings["auto_approve_threshold"],
            settings["income_lookback_days"],
        )
        assert (row["screening_group_name"], row["description"], row["status"]) == (
            group["name"],
            group["description"],
            group["status"],
        )
        assert (row["organization_id"], row["member_count"]) == (group["organization_id"], group["member_count"])
        # Plain timestamps in UTC: the wall-clock time the vendor sent with its Z.
        assert row["created_at"].strftime(_ISO) == group["created_at"]
        assert row["updated_at"].strftime(_ISO) == group["updated_at"]
        assert row["synced_at"] is not None and row["synced_at"].tzinfo is None


def test_the_data_tests_fail_on_a_doubled_id_and_an_unknown_status(built: Built, tmp_path: Path) -> None:
    broken = tmp_path / "broken.duckdb"
    shutil.copy(built.warehouse, broken)
    with duckdb.connect(str(broken)) as conn:
        conn.execute("insert into raw.screening_group select * from raw.screening_group limit 1")
        conn.execute(
            "insert into raw.screening_group by name select 'sg_ffffffffffffffff' as id, 'deleted' as status, "
            "now() as updated_at, -1 as member_count"
        )

    completed, statuses = dbt(broken, tmp_path / "target", "test")

    assert completed.returncode != 0
    assert statuses == {
        f"not_null_{MODEL}_screening_group_id": "pass",
        f"unique_{MODEL}_screening_group_id": "fail",
        f"accepted_values_{MODEL}_status__active__inactive__archived": "fail",
        f"accepted_range_{MODEL}_member_count__0": "fail",
    }


def test_the_model_is_an_asset_of_the_staging_group_hanging_off_the_extraction(
    built: Built, settings: Settings
) -> None:
    # Imported here: building the code location reparses the project's manifest if it is stale.
    from finmatch_platform.assets.dbt import build_dbt_assets
    from finmatch_platform.assets.extraction import SCREENING_GROUP_KEY
    from finmatch_platform.definitions import build_definitions
    from finmatch_platform.partitions import daily_partitions_def

    graph = build_definitions(settings).resolve_asset_graph()
    key = dg.AssetKey(["staging", MODEL])
    node = graph.get(key)
    assert node.parent_keys == {SCREENING_GROUP_KEY} and not graph.get(SCREENING_GROUP_KEY).is_external
    assert node.group_name == "staging" and "view" in node.kinds
    checks = {c.name for c in graph.asset_check_keys if c.asset_key == key}
    assert checks == set(built.statuses) - {MODEL}
    # No daily fact reads it, so it is built whole (in the definition of the marts), never per day.
    dbt = build_dbt_assets(daily_partitions_def(settings.start_date))
    owners = [d for d in dbt.all if key in d.keys]
    assert len(owners) == 1 and owners[0].node_def.name != dbt.daily_facts.node_def.name
