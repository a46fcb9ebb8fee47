"""The dbt project as Dagster assets: the graph, and a backfill through the backfill daemon.

The backfill test drives Dagster's own asset-backfill machinery (``PartitionBackfill`` +
``execute_backfill_iteration``, what ``dagster-daemon`` runs, with a synchronous in-memory run
launcher) against a code location loaded the way the webserver loads one. So the backfill
policy, partition ranges, subsetting of the dbt ops and the order of runs are Dagster's, not the
test's. The marts it produces are compared with one standalone ``dbt build`` over the same data.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.selector import PartitionRangeSelector, PartitionsByAssetSelector, PartitionsSelector
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, BACKFILL_ID_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster_dbt import DbtProject

from finmatch_platform.assets.dbt import DAILY_TAG, DbtAssets, build_dbt_assets
from finmatch_platform.constants import WAREHOUSE_POOL
from finmatch_platform.partitions import daily_partitions_def
from finmatch_platform.resources.dbt import (
    build_dbt_resource,
    dbt_manifest,
    dbt_project,
    manifest_is_stale,
    prepare_dbt_project,
)
from finmatch_platform.resources.warehouse import WarehouseResource
from finmatch_platform.simulator.generation import GenerationConfig
from finmatch_platform_tests.helpers.core import REPO_ROOT
from finmatch_platform_tests.helpers.dbt import build_seeded_warehouse, run_dbt

pytestmark = pytest.mark.slow

ROOT = REPO_ROOT
START = dt.date(2026, 10, 1)
DAYS = 6
# The code location the daemon loads reads its warehouse from here (set per test module).
WAREHOUSE_UNDER_TEST_ENV = "FINMATCH_TEST_DBT_WAREHOUSE"
_LOG = logging.getLogger("finmatch.tests.backfill")
PARTITIONS = daily_partitions_def(START)


@functools.cache
def _dbt() -> DbtAssets:
    """The dbt assets over the repository's manifest, built once per test process."""
    return build_dbt_assets(PARTITIONS)


@dg.definitions
def backfill_defs() -> dg.Definitions:
    """The dbt assets with their resources, as a code location for the backfill daemon."""
    warehouse = WarehouseResource(database=os.environ[WAREHOUSE_UNDER_TEST_ENV])
    return dg.Definitions(
        assets=_dbt().all,
        resources={"warehouse": warehouse, "dbt": build_dbt_resource(warehouse)},
        # One dbt step per run: a subprocess per step would only add interpreter start-ups.
        executor=dg.in_process_executor,
    )


# --------------------------------------------------------------------------- the graph


def _graph() -> AssetGraph:
    return AssetGraph.from_assets(_dbt().all)


def _manifest() -> dict:
    return json.loads(dbt_manifest().read_text())


def test_every_dbt_model_and_seed_is_an_asset_and_every_test_a_check() -> None:
    manifest = _manifest()
    graph = _graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")]
    for node in nodes:
        assert f"{node['config']['schema']}/{node['name']}" in keys, node["name"]
    tests = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    checks = {c.name for c in graph.asset_check_keys}
    assert tests and tests == checks


def test_staging_hangs_off_the_raw_and_masked_assets_by_key() -> None:
    graph = _graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents["staging/stg_masked__customers"] == {"masked/customers"}
    assert parents["staging/stg_masked__fpr_records"] == {"masked/fpr_records"}
    for entity in ("products", "accounts", "transactions", "login_activity", "credit_scores"):
        assert parents[f"staging/stg_raw__{entity}"] == {f"raw/{entity}"}
    assert "raw/customers" not in parents and "raw/fpr_records" not in parents
    assert {"marts/dim_accounts", "marts/dim_customers", "staging/stg_raw__transactions"} <= parents[
        "marts/fct_transactions"
    ]


def test_daily_facts_are_partitioned_with_a_single_run_backfill_policy_in_the_warehouse_pool() -> None:
    manifest = _manifest()
    daily = {
        f"{n['config']['schema']}/{n['name']}"
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and DAILY_TAG in n["tags"]
    }
    assert {"marts/fct_transactions", "marts/fct_transactions_daily", "marts/fct_logins"} <= daily
    dbt = _dbt()
    assert {k.to_user_string() for k in dbt.daily_facts.keys} == daily
    assert dbt.daily_facts.partitions_def == PARTITIONS
    assert dbt.daily_facts.backfill_policy == dg.BackfillPolicy.single_run()
    for whole in (dbt.base, dbt.marts):
        assert whole.partitions_def is None
        assert not {k.to_user_string() for k in whole.keys} & daily
    for assets_def in dbt.all:
        assert assets_def.node_def.pool == WAREHOUSE_POOL


def test_the_dbt_definitions_split_where_partitioning_changes_so_the_graph_fits_one_run() -> None:
    graph = _graph()
    base, daily, marts = (set(d.keys) for d in _dbt().all)
    assert {dg.AssetKey(["staging", "stg_raw__transactions"]), dg.AssetKey(["marts", "dim_customers"])} <= base
    assert dg.AssetKey(["marts", "recommendation_kpis"]) in marts
    # Nothing in a later definition feeds an earlier one, so no definition is needed twice in a run.
    for later, earlier in ((daily, base), (marts, base), (marts, daily)):
        assert not {p for key in earlier for p in graph.get(key).parent_keys} & later
    # And every daily fact's dbt parents are in the base or the facts themselves.
    dbt_keys = base | daily | marts
    for key in daily:
        assert {p for p in graph.get(key).parent_keys if p in dbt_keys} <= base | daily


def test_groups_owners_and_kinds_follow_layer_and_domain() -> None:
    graph = _graph()
    node = graph.get(dg.AssetKey(["staging", "stg_raw__transactions"]))
    assert node.group_name == "staging" and "view" in node.kinds and {"dbt", "duckdb"} <= node.kinds
    fraud = graph.get(dg.AssetKey(["marts", "fraud_suspicious_transactions"]))
    assert fraud.group_name == "marts_fraud" and fraud.owners == ["team:fraud-analytics"] and "table" in fraud.kinds
    assert graph.get(dg.AssetKey(["marts", "revenue_monthly_by_product"])).group_name == "marts_revenue"
    for key in graph.get_all_asset_keys():
        if graph.get(key).is_external:
            continue
        assert graph.get(key).owners and graph.get(key).description, key
        # models follow their upstream assets by declarative automation
        assert graph.get(key).automation_condition is not None, key


def test_a_fresh_checkout_gets_its_manifest_from_a_local_parse_and_reparses_only_after_a_change(
    tmp_path: Path,
) -> None:
    project_dir = tmp_path / "dbt"
    shutil.copytree(dbt_project().project_dir, project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=project_dir)
    assert manifest_is_stale(project)
    manifest = prepare_dbt_project(project)
    assert manifest.is_file() and not manifest_is_stale(project)
    nodes = json.loads(manifest.read_text())["nodes"]
    assert any(n["name"] == "fct_transactions" for n in nodes.values())
    model = project_dir / "models" / "marts" / "core" / "dim_products.sql"
    later = manifest.stat().st_mtime + 10
    os.utime(model, (later, later))
    assert manifest_is_stale(project)


# --------------------------------------------------------------------------- the backfill


@dataclass(frozen=True)
class Warehouses:
    dagster: Path
    standalone: Path
    days: list[dt.date]


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Warehouses:
    """The same raw and masked data twice: one file for Dagster, one for a standalone dbt build."""
    root = tmp_path_factory.mktemp("dbt-backfill")
    seeded = build_seeded_warehouse(root, GenerationConfig(seed=11, start_date=START, customers=600), days=DAYS)
    standalone = root / "standalone.duckdb"
    shutil.copyfile(seeded.path, standalone)
    run_dbt(standalone, root / "target", "build")
    return Warehouses(dagster=seeded.path, standalone=standalone, days=seeded.days)


@pytest.fixture(scope="module")
def daemon(warehouses: Warehouses, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceProcessContext]:
    """An instance that runs launched runs synchronously, and the code location loaded in process."""
    patcher = pytest.MonkeyPatch()
    patcher.setenv(WAREHOUSE_UNDER_TEST_ENV, str(warehouses.dagster))
    # dagster-dbt keeps each invocation's artifacts under $DBT_TARGET_PATH: here, not in the repo.
    patcher.setenv("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt-run-artifacts")))
    overrides = {
        # Launch at once (no queue daemon in a test) and run in this process, synchronously.
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
        "run_launcher": {
            "module": "dagster._core.launcher.sync_in_memory_run_launcher",
            "class": "SyncInMemoryRunLauncher",
        },
    }
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name=__name__, attribute="backfill_defs", working_directory=str(ROOT)),
        location_name="finmatch_platform",
    )
    with (
        dg.instance_for_test(overrides=overrides) as instance,
        WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as context,
    ):
        yield context
    patcher.undo()


def _backfill(context: WorkspaceProcessContext, daily: tuple[dt.date, dt.date], whole: bool) -> PartitionBackfill:
    """Request an asset backfill as the UI does (partitions by asset) and let the daemon run it:
    each iteration launches the runs whose parents are done (synchronously, here)."""
    asset_graph = context.create_request_context().asset_graph
    selectors = []
    for assets_def in _dbt().all:
        for key in assets_def.keys:
            if assets_def.partitions_def is not None:
                ranges = [PartitionRangeSelector(daily[0].isoformat(), daily[1].isoformat())]
                selectors.append(PartitionsByAssetSelector(asset_key=key, partitions=PartitionsSelector(ranges)))
            elif whole:
                selectors.append(PartitionsByAssetSelector(asset_key=key, partitions=None))
    instance = context.instance
    backfill = PartitionBackfill.from_partitions_by_assets(
        backfill_id=make_new_backfill_id(),
        asset_graph=asset_graph,
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        partitions_by_assets=selectors,
        title=None,
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    for _ in range(20):
        errors = [e for e in execute_backfill_iteration(context, _LOG) if e is not None]
        assert not errors, errors
        current = instance.get_backfill(backfill.backfill_id)
        if current.status != BulkActionStatus.REQUESTED:
            break
    current = instance.get_backfill(backfill.backfill_id)
    assert current.status == BulkActionStatus.COMPLETED_SUCCESS, current.status
    return current


def _failures(context: WorkspaceProcessContext, runs: list[dg.DagsterRun]) -> str:
    """The failed runs' steps and errors, for an assertion message."""
    lines = []
    for run in runs:
        if run.status == dg.DagsterRunStatus.SUCCESS:
            continue
        for record in context.instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is not None and event.is_step_failure:
                lines.append(f"{run.run_id[:8]} {event.step_key}: {event.step_failure_data.error.message[:1500]}")
    return "\n".join(lines)


def _runs_of(context: WorkspaceProcessContext, backfill_id: str) -> list[dg.DagsterRun]:
    return list(context.instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})))


def _tables(path: Path) -> dict[str, pd.DataFrame]:
    """Every dbt-built table, rows in a canonical order, floats rounded against summation order."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        names = conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('intermediate', 'marts') and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
        for (name,) in names:
            frame = conn.sql(f"select * from {name}").df()
            for column in frame.columns:
                if pd.api.types.is_float_dtype(frame[column]):
                    frame[column] = frame[column].round(6)
            out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def test_a_backfill_runs_the_daily_facts_in_one_run_and_matches_one_standalone_build(
    daemon: WorkspaceProcessContext, warehouses: Warehouses
) -> None:
    first, last = warehouses.days[0], warehouses.days[-1]
    backfill = _backfill(daemon, (first, last), whole=True)
    runs = _runs_of(daemon, backfill.backfill_id)
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), _failures(daemon, runs)

    # The partitioned facts: one run for the whole range, by the single-run backfill policy.
    daily_keys = set(_dbt().daily_facts.keys)
    fact_runs = [run for run in runs if run.asset_selection and run.asset_selection & daily_keys]
    assert len(fact_runs) == 1
    assert fact_runs[0].tags[ASSET_PARTITION_RANGE_START_TAG] == first.isoformat()
    assert fact_runs[0].tags[ASSET_PARTITION_RANGE_END_TAG] == last.isoformat()
    assert fact_runs[0].asset_selection == daily_keys
    # Staging and dimensions before the facts, marts after: a handful of runs, not one per day.
    assert len(runs) <= 4

    # Every dbt test ran as an asset check and passed.
    checks = daemon.instance.get_latest_asset_check_evaluation_record
    for assets_def in _dbt().all:
        for check_key in assets_def.check_keys:
            record = checks(check_key)
            assert record is not None and record.status.value == "SUCCEEDED", check_key

    expected, got = _tables(warehouses.standalone), _tables(warehouses.dagster)
    assert set(got) == set(expected)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_dtype=False, obj=name)


def test_rerunning_a_window_of_days_replaces_it_and_changes_nothing(
    daemon: WorkspaceProcessContext, warehouses: Warehouses
) -> None:
    before = _tables(warehouses.dagster)
    window = (warehouses.days[1], warehouses.days[3])
    backfill = _backfill(daemon, window, whole=False)
    runs = _runs_of(daemon, backfill.backfill_id)
    assert len(runs) == 1 and runs[0].tags[ASSET_PARTITION_RANGE_START_TAG] == window[0].isoformat()
    after = _tables(warehouses.dagster)
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name], check_dtype=False, obj=name)
    with duckdb.connect(str(warehouses.dagster), read_only=True) as conn:
        dupes = conn.execute("select count(*) - count(distinct transaction_id) from marts.fct_transactions").fetchone()[
            0
        ]
    assert dupes == 0


def test_every_mart_name_follows_the_scheme_documented_in_dbt_project_yml():
    marts = ROOT / "dbt" / "models" / "marts"
    wrong = []
    for model in sorted(marts.rglob("*.sql")):
        folder = model.parent.name
        prefixes = ("dim_", "fct_") if folder == "core" else (folder.removesuffix("s") + "_",)
        if not model.stem.startswith(prefixes) or (folder != "core" and model.stem.startswith(("dim_", "fct_"))):
            wrong.append(f"{folder}/{model.stem}")
    assert len(list(marts.rglob("*.sql"))) >= 30
    assert wrong == []
