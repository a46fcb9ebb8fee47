"""FprApiResource: validated settings, the key from the environment, and syncing through Dagster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from pydantic import ValidationError

from finmatch_platform.lib.fpr_client import AuthError
from finmatch_platform.resources.fpr_api import FprApiResource
from finmatch_platform_tests.fixtures_api import FPR_TEST_API_KEY, LiveApi
from finmatch_platform_tests.fixtures_extraction import assert_table_equals, latest_state_sql

VALID: dict[str, Any] = {"base_url": "http://127.0.0.1:8765", "api_key": "k"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("page_size", 0, "page_size must be between 1 and 200 (records per request), got 0"),
        ("page_size", 201, "page_size must be between 1 and 200 (records per request), got 201"),
        ("request_timeout_s", 4.9, "request_timeout_s must be between 5 and 300 (seconds), got 4.9"),
        ("request_timeout_s", 301, "request_timeout_s must be between 5 and 300 (seconds), got 301"),
        ("retry_attempts", 0, "retry_attempts must be between 1 and 10 (attempts per request), got 0"),
        ("retry_attempts", 11, "retry_attempts must be between 1 and 10 (attempts per request), got 11"),
        ("retry_budget_s", 0.5, "retry_budget_s must be between 1 and 3,600 (seconds per request), got 0.5"),
        ("retry_budget_s", 7200, "retry_budget_s must be between 1 and 3,600 (seconds per request), got 7200"),
        ("checkpoint_every", 0, "checkpoint_every must be between 1 and 10,000 (records), got 0"),
        ("checkpoint_every", 10_001, "checkpoint_every must be between 1 and 10,000 (records), got 10001"),
        ("base_url", "127.0.0.1:8765", "base_url must start with http:// or https://"),
    ],
)
def test_an_out_of_range_setting_is_rejected_naming_the_field_and_its_range(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as failure:
        FprApiResource(**{**VALID, field: value})

    assert message in str(failure.value)
    assert failure.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("field", "value"),
    [("page_size", 1), ("page_size", 200), ("request_timeout_s", 5), ("request_timeout_s", 300),
     ("retry_attempts", 1), ("retry_attempts", 10), ("retry_budget_s", 1), ("retry_budget_s", 3600),
     ("checkpoint_every", 1), ("checkpoint_every", 10_000)],
)
def test_the_ends_of_each_range_are_allowed(field: str, value: Any) -> None:
    assert getattr(FprApiResource(**{**VALID, field: value}), field) == value


def test_defaults_match_the_design() -> None:
    resource = FprApiResource(**VALID)
    assert (resource.page_size, resource.request_timeout_s, resource.retry_attempts) == (100, 30.0, 5)
    assert (resource.retry_budget_s, resource.checkpoint_every) == (120.0, 100)
    policy = FprApiResource(**VALID, retry_attempts=3, retry_budget_s=9).retry_policy()
    assert (policy.max_attempts, policy.budget_s) == (3, 9)


def test_the_key_comes_from_the_environment_and_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINMATCH_API_KEY", "secret-from-env")
    resource = FprApiResource(base_url="http://127.0.0.1:1", api_key=dg.EnvVar("FINMATCH_API_KEY"))
    resolved = resource.process_config_and_initialize()  # as Dagster does for a run or a sensor

    assert resolved.api_key == "secret-from-env"
    assert "secret-from-env" not in repr(resolved) and "secret-from-env" not in str(resolved)
    with resolved.client() as client:
        assert "secret-from-env" not in repr(client)


def _extraction_asset(db_path: Path) -> dg.AssetsDefinition:
    @dg.asset(key=["raw", "fpr_records"])
    def fpr_records(context, fpr_api: FprApiResource) -> dg.MaterializeResult:
        conn = duckdb.connect(str(db_path))
        try:
            summary = fpr_api.sync(conn, on_checkpoint=lambda p: context.log.info(f"checkpoint {p.checkpoint}: {p.records} records"))
        finally:
            conn.close()
        return dg.MaterializeResult(metadata={"upserts": summary.upserts, "retries": summary.retries, "checkpoints": summary.checkpoints})

    return fpr_records


def test_an_asset_syncs_through_the_resource_with_the_key_from_the_environment(
    fpr_api: LiveApi, fpr_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINMATCH_API_KEY", FPR_TEST_API_KEY)
    db_path = tmp_path / "warehouse.duckdb"
    resource = FprApiResource(base_url=fpr_api.base_url, api_key=dg.EnvVar("FINMATCH_API_KEY"), page_size=50, checkpoint_every=60)

    result = dg.materialize([_extraction_asset(db_path)], resources={"fpr_api": resource})

    assert result.success
    metadata = result.asset_materializations_for_node("raw__fpr_records")[0].metadata
    conn = duckdb.connect(str(db_path))
    assert_table_equals(conn, latest_state_sql(fpr_landing))
    assert metadata["upserts"].value > 0 and metadata["retries"].value == 0
    assert metadata["checkpoints"].value == -(-conn.execute("select count(*) from raw.fpr_records").fetchone()[0] // 100)
    conn.close()
    changes = resource.process_config_and_initialize().changes()  # EnvVar resolves as in a sensor
    assert changes.count > 0 and changes.high_water_mark


def test_a_wrong_key_in_the_environment_fails_the_run_with_the_message(
    fpr_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINMATCH_API_KEY", "wrong-key")
    resource = FprApiResource(base_url=fpr_api.base_url, api_key=dg.EnvVar("FINMATCH_API_KEY"))

    with pytest.raises(AuthError, match="check FINMATCH_API_KEY"):
        dg.materialize([_extraction_asset(tmp_path / "warehouse.duckdb")], resources={"fpr_api": resource})
