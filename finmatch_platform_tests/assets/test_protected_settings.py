"""Settings a run cannot change: secrets, endpoints and file locations are the deployment's.

Every override is launched through Dagster, on a job of the real code location
(``build_definitions``) that uses the resource, and must be refused by the launch's config
validation before anything runs. A run without overrides, with the per-run choices that stay run
config (``full_refresh``, the report's model and threshold), still works.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dagster as dg
import duckdb
import pytest

from finmatch_platform.assets.insights import report_asset_name
from finmatch_platform.definitions import build_definitions
from finmatch_platform.lib.insights.steps import FOCUS_AREAS
from finmatch_platform.settings import API_KEY_ENV, MASKING_KEY_ENV, PAYSCORE_API_KEY_ENV, Settings
from finmatch_platform_tests.helpers.api import FPR_TEST_API_KEY, LiveApi
from finmatch_platform_tests.helpers.core import START, TEST_MASKING_KEY
from finmatch_platform_tests.helpers.payscore import PAYSCORE_TEST_API_KEY

ATTACKER = "http://attacker.example:8080"
# The job of the real code location that uses each resource.
JOB_OF = {
    "fpr_api": "fpr_extraction",
    "payscore_api": "payscore_extraction",
    "masking": "fpr_extraction",
    "warehouse": "fpr_extraction",
    "dbt": "refresh_warehouse",
    "llm": "refresh_warehouse",
    "synthetic_source": "daily_source_activity",
}
OVERRIDES: list[tuple[str, str, Any]] = [
    ("fpr_api", "base_url", ATTACKER),
    ("fpr_api", "api_key", "attacker-chosen-key-0000"),
    ("fpr_api", "api_key_header", "x-api-key"),
    ("fpr_api", "allow_insecure_http", True),
    ("payscore_api", "base_url", ATTACKER),
    ("payscore_api", "api_key", "attacker-chosen-key-0000"),
    ("payscore_api", "environment", "staging"),
    ("payscore_api", "allow_insecure_http", True),
    ("masking", "key", "attacker-chosen-masking-key-0000"),
    ("masking", "policy_path", "/tmp/permissive-policy.yaml"),
    ("warehouse", "database", "/tmp/elsewhere.duckdb"),
    ("dbt", "warehouse_path", "/tmp/elsewhere.duckdb"),
    ("dbt", "dbt_executable", "/bin/sh"),
    ("dbt", "project_dir", "/tmp/another-project"),
    ("llm", "data_dir", "/tmp/elsewhere"),
    ("llm", "default_model", "evil"),
    ("llm", "allow_insecure_http", True),
    (
        "llm",
        "endpoints",
        [{"name": "evil", "base_url": ATTACKER + "/v1", "model": "m", "api_key_env": MASKING_KEY_ENV}],
    ),
    ("synthetic_source", "landing_dir", "/tmp/elsewhere"),
    ("synthetic_source", "seed", 1),
]


@pytest.fixture()
def deployment(settings: Settings, fpr_api: LiveApi) -> Settings:
    return replace(settings, api_url=fpr_api.base_url, api_key_header="x-api-key")


@pytest.fixture()
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        API_KEY_ENV: FPR_TEST_API_KEY,
        PAYSCORE_API_KEY_ENV: PAYSCORE_TEST_API_KEY,
        MASKING_KEY_ENV: TEST_MASKING_KEY,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("resource", "field", "value"), OVERRIDES, ids=[f"{r}.{f}" for r, f, _ in OVERRIDES])
def test_a_launch_config_that_sets_a_deployment_setting_is_refused(
    deployment: Settings, keys: None, instance: dg.DagsterInstance, resource: str, field: str, value: Any
) -> None:
    job = build_definitions(deployment).resolve_job_def(JOB_OF[resource])
    assert resource in job.resource_defs  # the job uses it, so the refusal is about the field
    run_config = {"resources": {resource: {"config": {field: value}}}}
    partition = {"partition_key": START.isoformat()} if job.partitions_def is not None else {}

    with pytest.raises(dg.DagsterInvalidConfigError) as refused:
        job.execute_in_process(run_config=run_config, instance=instance, **partition)

    message = str(refused.value)
    assert f'unexpected config entry "{field}"' in message and f"root:resources:{resource}:config" in message
    assert instance.get_runs_count() == 0  # refused at launch: no run was created
    assert "attacker-chosen" not in message


def test_the_resources_show_no_run_config_in_the_launchpad(deployment: Settings) -> None:
    definitions = build_definitions(deployment)
    for key, resource_def in definitions.get_repository_def().get_top_level_resources().items():
        fields = resource_def.config_schema.as_field().config_type.fields  # type: ignore[attr-defined]
        assert fields == {}, (key, sorted(fields))


def test_a_run_without_overrides_uses_the_deployments_settings_and_keys_read_at_run_time(
    deployment: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch, keys: None
) -> None:
    definitions = build_definitions(deployment)
    # The keys are EnvVars: read when the run initialises its resources, not when the code loads.
    monkeypatch.setenv(API_KEY_ENV, "a-key-the-api-does-not-know-00")
    failed = definitions.resolve_job_def("fpr_extraction").execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    monkeypatch.setenv(API_KEY_ENV, FPR_TEST_API_KEY)

    # full_refresh is a person's choice per run, so it stays run config.
    result = definitions.resolve_job_def("fpr_extraction").execute_in_process(
        instance=instance, run_config={"ops": {"raw__fpr_records": {"config": {"full_refresh": True}}}}
    )

    assert result.success
    with duckdb.connect(str(deployment.warehouse_path), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.fpr_records").fetchone()[0] > 0


def test_the_choices_a_person_makes_per_run_stay_run_config(deployment: Settings) -> None:
    job = build_definitions(deployment).resolve_job_def("refresh_warehouse")
    report = report_asset_name(next(iter(FOCUS_AREAS.values())))
    run_config = {
        "ops": {
            report: {"config": {"model": "offline", "max_unverified_share": 0.1}},
            "raw__fpr_records": {"config": {"full_refresh": True}},
        }
    }
    assert dg.validate_run_config(job, run_config)
