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
from finmatch_platform.settings import (
    MIN_KEY_BYTES,
    PLATFORM_KEYS,
    Settings,
    SettingsError,
    optional_secret,
    require_secret,
)
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
# The keys the code location checks when it loads, each long enough and distinctive.
KEYS = {name: f"definitions-test-{name.lower()}" for name in PLATFORM_KEYS}

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
        [sys.executable, "-c", _PROBE, *modules],
        cwd=ROOT,
        env={**os.environ, **KEYS},
        capture_output=True,
        text=True,
        timeout=300,
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


def _platform_env(monkeypatch: pytest.MonkeyPatch, **overrides: str | None) -> None:
    for name in [n for n in os.environ if n.startswith("FINMATCH_LLM_")]:
        monkeypatch.delenv(name)
    for name, value in {**KEYS, **overrides}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_defs_is_what_dagster_loads_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    _platform_env(monkeypatch)
    assert isinstance(defs(), dg.Definitions)


@pytest.mark.parametrize("name", PLATFORM_KEYS)
def test_a_short_key_stops_the_code_location_from_loading_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    short = "s3cret-15-bytes"
    assert len(short) == MIN_KEY_BYTES - 1
    _platform_env(monkeypatch, **{name: short})

    with pytest.raises(
        SettingsError, match=f"{name} is too short: a key must be at least {MIN_KEY_BYTES} bytes"
    ) as info:
        defs()
    assert short not in str(info.value)

    _platform_env(monkeypatch, **{name: short + "x"})  # exactly the minimum is enough
    assert isinstance(defs(), dg.Definitions)


@pytest.mark.parametrize("name", PLATFORM_KEYS)
def test_a_missing_key_stops_the_code_location_from_loading_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    _platform_env(monkeypatch, **{name: None})
    with pytest.raises(SettingsError, match=f"{name} is not set"):
        defs()


def test_the_key_of_a_configured_llm_endpoint_is_checked_when_the_code_location_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _platform_env(
        monkeypatch,
        FINMATCH_LLM_BASE_URL="https://llm.example/v1",
        FINMATCH_LLM_MODEL="m",
        FINMATCH_LLM_API_KEY="sk-short",
    )
    with pytest.raises(SettingsError, match="FINMATCH_LLM_API_KEY is too short") as info:
        defs()
    assert "sk-short" not in str(info.value)

    monkeypatch.setenv("FINMATCH_LLM_API_KEY_ENV", "")  # a server without auth needs no key
    assert isinstance(defs(), dg.Definitions)


def test_a_short_key_fails_dagsters_own_load_of_the_code_location(tmp_path: Path) -> None:
    env = {**os.environ, **KEYS, "DAGSTER_HOME": str(tmp_path), "FINMATCH_MASKING_KEY": "too-short"}
    completed = _validate(["-m", "finmatch_platform.definitions"], env)
    assert completed.returncode != 0
    output = completed.stdout + completed.stderr
    assert f"FINMATCH_MASKING_KEY is too short: a key must be at least {MIN_KEY_BYTES} bytes" in output
    assert "too-short" not in output


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"api_url": "http://fpr.example:8765"}, "FINMATCH_API_URL"),
        ({"payscore": {"base_url": "http://payscore.example"}}, "FINMATCH_PAYSCORE_BASE_URL"),
    ],
)
def test_plain_http_to_a_remote_vendor_is_refused_when_the_definitions_are_built(
    change: dict[str, Any], variable: str
) -> None:
    with pytest.raises(SettingsError, match=f"{variable}: .*plain http:// is allowed only to loopback hosts") as info:
        build_definitions(replace(SETTINGS, **change))
    assert "FINMATCH_ALLOW_INSECURE_HTTP=1" in str(info.value)

    allowed = build_definitions(replace(SETTINGS, allow_insecure_http=True, **change))
    assert isinstance(allowed, dg.Definitions)


def test_plain_http_to_a_remote_llm_is_refused_when_the_definitions_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    _platform_env(monkeypatch, FINMATCH_LLM_BASE_URL="http://llm.example/v1", FINMATCH_LLM_MODEL="m")
    with pytest.raises(SettingsError, match="FINMATCH_LLM_BASE_URL.*plain http:// is allowed only to loopback hosts"):
        build_definitions(SETTINGS)
    assert isinstance(build_definitions(replace(SETTINGS, allow_insecure_http=True)), dg.Definitions)


def _validate(target: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", *target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("target", [["-w", "workspace.yaml"], ["-m", "finmatch_platform.definitions"]])
def test_dagster_definitions_validate_passes(tmp_path: Path, target: list[str]) -> None:
    completed = _validate(target, {**os.environ, **KEYS, "DAGSTER_HOME": str(tmp_path)})
    assert completed.returncode == 0, completed.stdout + completed.stderr


# --------------------------------------------------------------------------- keys at startup


def test_require_secret_names_the_variable_and_the_minimum_never_the_value() -> None:
    assert require_secret("FINMATCH_X_KEY", {"FINMATCH_X_KEY": "k" * MIN_KEY_BYTES}) == "k" * MIN_KEY_BYTES
    with pytest.raises(SettingsError, match=f"FINMATCH_X_KEY is too short: a key must be at least {MIN_KEY_BYTES}"):
        require_secret("FINMATCH_X_KEY", {"FINMATCH_X_KEY": "k" * (MIN_KEY_BYTES - 1)})
    with pytest.raises(SettingsError, match="FINMATCH_X_KEY is not set"):
        require_secret("FINMATCH_X_KEY", {"FINMATCH_X_KEY": ""})
    # Bytes, not characters: eight two-byte characters are long enough.
    assert require_secret("FINMATCH_X_KEY", {"FINMATCH_X_KEY": "é" * 8}) == "é" * 8
    assert optional_secret("FINMATCH_CURSOR_SECRET", {}) is None
    with pytest.raises(SettingsError, match="FINMATCH_CURSOR_SECRET is too short") as info:
        optional_secret("FINMATCH_CURSOR_SECRET", {"FINMATCH_CURSOR_SECRET": "cursor-secret"})
    assert "cursor-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("command", "variable"),
    [("finmatch-api", "FINMATCH_API_KEY"), ("finmatch-payscore-api", "FINMATCH_PAYSCORE_API_KEY")],
)
def test_a_vendor_api_simulator_refuses_a_short_key_at_startup(tmp_path: Path, command: str, variable: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_")}
    env.update({variable: "short-api-key", "FINMATCH_LANDING_DIR": str(tmp_path)})
    completed = subprocess.run(
        [str(Path(sys.executable).with_name(command)), "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert f"{variable} is too short: a key must be at least {MIN_KEY_BYTES} bytes" in completed.stderr
    assert "short-api-key" not in completed.stdout + completed.stderr
