"""The code location loads, and its graph has the assets, groups and metadata users navigate by.

Loading is lazy: importing a module of the code location parses no dbt project and reads no
manifest; the definitions are built from settings given to ``build_definitions``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from finmatch_platform.definitions import build_definitions, defs
from finmatch_platform.landing_zone.schemas import BULK_LOADED_ENTITIES, ENTITIES
from finmatch_platform.settings import Settings
from finmatch_platform_tests.helpers.core import REPO_ROOT

ROOT = REPO_ROOT
DATA = Path("/nonexistent/finmatch-definitions-test")
# Explicit settings: nothing here depends on the environment's FINMATCH_* values.
SETTINGS = Settings(
    data_dir=DATA,
    landing_dir=DATA / "landing",
    warehouse_path=DATA / "warehouse" / "finmatch.duckdb",
    start_date=dt.date(2026, 10, 1),
    seed=42,
    customers=2_000,
    daily_new_customers=5,
    api_url="http://127.0.0.1:8765",
)

# Runs in a fresh interpreter: records every dbt process started and every manifest opened while
# the named modules are imported (and, with --build, while the definitions are built).
_PROBE = """
import json, sys
events = []
def hook(event, args):
    if event == "subprocess.Popen":
        command = " ".join(map(str, args[1] if isinstance(args[1], (list, tuple)) else [args[1]]))
        if "dbt" in command:
            events.append(["popen", command])
    elif event == "open" and isinstance(args[0], (str, bytes)) and str(args[0]).endswith("manifest.json"):
        events.append(["open", str(args[0])])
sys.addaudithook(hook)
import importlib
for name in sys.argv[1:]:
    if name == "--build":
        from finmatch_platform.definitions import defs
        defs()
    else:
        importlib.import_module(name)
resources_dbt = sys.modules.get("finmatch_platform.resources.dbt")
print(json.dumps({
    "events": events,
    "manifests_cached": resources_dbt.dbt_manifest.cache_info().currsize if resources_dbt else 0,
    "dbt_assets_loaded": "finmatch_platform.assets.dbt" in sys.modules,
}))
"""


def _probe(*modules: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@functools.cache
def _definitions() -> dg.Definitions:
    return build_definitions(SETTINGS)


def _asset_graph() -> dg.AssetGraph:
    return _definitions().resolve_asset_graph()


@pytest.mark.parametrize(
    "module",
    [
        "finmatch_platform.jobs",
        "finmatch_platform.freshness",
        "finmatch_platform.partitions",
        "finmatch_platform.schedules",
        "finmatch_platform.sensors",
        "finmatch_platform.definitions",
    ],
)
def test_importing_a_module_of_the_code_location_starts_no_dbt_and_reads_no_manifest(module: str) -> None:
    seen = _probe(module)
    assert seen["events"] == [] and seen["manifests_cached"] == 0, seen
    if module != "finmatch_platform.definitions":
        # Jobs, schedules and sensors select dbt assets by kind, without loading the dbt module.
        assert not seen["dbt_assets_loaded"]


def test_the_import_probe_sees_the_manifest_read_when_the_definitions_are_built() -> None:
    # The probe above could pass by seeing nothing at all; building the definitions must show up.
    seen = _probe("finmatch_platform.definitions", "--build")
    assert seen["manifests_cached"] == 1
    assert any(kind == "open" for kind, _ in seen["events"]), seen


def test_building_the_definitions_twice_from_explicit_settings_gives_the_same_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_environment() -> Settings:
        raise AssertionError("build_definitions read the environment")

    monkeypatch.setattr(Settings, "from_env", staticmethod(no_environment))
    first, second = build_definitions(SETTINGS), build_definitions(SETTINGS)

    def shape(built: dg.Definitions) -> dict[str, Any]:
        graph = built.resolve_asset_graph()
        repo = built.get_repository_def()
        return {
            "assets": {
                key: (graph.get(key).group_name, graph.get(key).partitions_def) for key in graph.get_all_asset_keys()
            },
            "checks": set(graph.asset_check_keys),
            "jobs": sorted(job.name for job in repo.get_all_jobs()),
            "schedules": {s.name: s.cron_schedule for s in repo.schedule_defs},
            "sensors": {s.name: (s.minimum_interval_seconds, s.default_status) for s in repo.sensor_defs},
            "resources": sorted(repo.get_top_level_resources()),
        }

    assert shape(first) == shape(second)


def test_the_settings_given_decide_the_calendar_and_the_sensors() -> None:
    other = replace(SETTINGS, start_date=dt.date(2025, 1, 5), sensor_interval_s=77, automation=False)
    built = build_definitions(other)
    graph = built.resolve_asset_graph()
    partitions_def = graph.get(dg.AssetKey(["raw", "transactions"])).partitions_def
    assert partitions_def is not None and partitions_def.get_first_partition_key() == "2025-01-05"
    daily_fact = graph.get(dg.AssetKey(["marts", "fct_transactions"])).partitions_def
    assert daily_fact == partitions_def
    sensors = {s.name: s for s in built.get_repository_def().sensor_defs}
    assert sensors["fpr_api_sensor"].minimum_interval_seconds == 77
    assert sensors["payscore_api_sensor"].minimum_interval_seconds == 77
    assert sensors["finmatch_automation"].minimum_interval_seconds == 77
    assert sensors["finmatch_automation"].default_status == dg.DefaultSensorStatus.STOPPED


def test_refresh_warehouse_selects_every_dbt_asset_and_the_freshness_checks_cover_every_mart() -> None:
    graph = _asset_graph()
    dbt_keys = {key for key in graph.get_all_asset_keys() if "dbt" in graph.get(key).kinds}
    job = _definitions().resolve_job_def("refresh_warehouse")
    assert dbt_keys and dbt_keys <= job.asset_layer.selected_asset_keys
    marts = {key for key in dbt_keys if (graph.get(key).group_name or "").startswith("marts_")}
    freshness = {c.asset_key for c in graph.asset_check_keys if "freshness" in c.name}
    assert marts and freshness == marts


def test_definitions_load_with_the_expected_asset_groups() -> None:
    graph = _asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert {"synthetic", "ingestion"} <= groups


def test_every_source_entity_has_a_landing_asset_and_every_bulk_entity_a_raw_asset() -> None:
    keys = _asset_graph().get_all_asset_keys()
    assert {dg.AssetKey(["landing", e]) for e in ENTITIES} <= keys
    assert {dg.AssetKey(["raw", e]) for e in BULK_LOADED_ENTITIES} <= keys


def test_raw_assets_descend_from_their_landing_assets() -> None:
    graph = _asset_graph()
    for entity in BULK_LOADED_ENTITIES:
        parents = graph.get(dg.AssetKey(["raw", entity])).parent_keys
        assert dg.AssetKey(["landing", entity]) in parents


def test_every_asset_explains_itself_with_a_description_owner_and_kinds() -> None:
    graph = _asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_external:
            continue
        assert node.description, key
        assert node.owners, key
        assert node.kinds, key


def test_defs_is_what_dagster_loads_lazily() -> None:
    assert isinstance(defs(), dg.Definitions)


@pytest.mark.parametrize("target", [["-w", "workspace.yaml"], ["-m", "finmatch_platform.definitions"]])
def test_dagster_definitions_validate_passes(tmp_path: Path, target: list[str]) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", *target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
