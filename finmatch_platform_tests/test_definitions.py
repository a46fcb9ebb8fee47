"""The code location loads, and its graph has the assets, groups and metadata users navigate by."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from finmatch_platform.definitions import defs
from finmatch_platform.landing_zone.schemas import BULK_LOADED_ENTITIES, ENTITIES

ROOT = Path(__file__).resolve().parents[1]


def _asset_graph() -> dg.AssetGraph:
    return defs.resolve_asset_graph()


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


def test_dagster_definitions_validate_passes_on_the_workspace(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
