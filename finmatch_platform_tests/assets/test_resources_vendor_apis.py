"""The vendor API resources: validated settings, the key from the environment, and syncing through Dagster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from pydantic import ValidationError

from finmatch_platform.lib.connectors.http import AuthError
from finmatch_platform.resources.vendor_apis import PAYSCORE_BASE_URLS, FprApiResource, PayScoreApiResource
from finmatch_platform_tests.helpers.api import FPR_TEST_API_KEY, LiveApi
from finmatch_platform_tests.helpers.extraction import assert_table_equals, latest_state_sql

VALID: dict[str, Any] = {"base_url": "http://127.0.0.1:8765", "api_key": "k"}


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [
        ("page_size", 0, "greater than or equal to 1"),
        ("page_size", 201, "less than or equal to 200"),
        ("request_timeout_s", 4.9, "greater than or equal to 5"),
        ("request_timeout_s", 301, "less than or equal to 300"),
        ("retry_attempts", 0, "greater than or equal to 1"),
        ("retry_attempts", 11, "less than or equal to 10"),
        ("retry_budget_s", 0.5, "greater than or equal to 1"),
        ("retry_budget_s", 7200, "less than or equal to 3600"),
        ("checkpoint_every", 0, "greater than or equal to 1"),
        ("checkpoint_every", 10_001, "less than or equal to 10000"),
        ("merge_every", 0, "greater than or equal to 1"),
        ("api_key_header", "Authorization", "'api_key' or 'x-api-key'"),
        ("base_url", "127.0.0.1:8765", "base_url must start with http:// or https://"),
    ],
)
def test_an_out_of_range_fpr_setting_is_rejected_naming_the_field_and_its_bound(
    field: str, value: Any, bound: str
) -> None:
    with pytest.raises(ValidationError) as failure:
        FprApiResource(**{**VALID, field: value})

    assert bound in str(failure.value)
    assert failure.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [
        ("initial_sync_days", 0, "greater than or equal to 1"),
        ("initial_sync_days", 366, "less than or equal to 365"),
        ("max_records_per_page", 0, "greater than or equal to 1"),
        ("max_records_per_page", 1001, "less than or equal to 1000"),
        ("request_timeout_s", 4, "greater than or equal to 5"),
        ("request_timeout_s", 301, "less than or equal to 300"),
        ("retry_attempts", 0, "greater than or equal to 1"),
        ("retry_attempts", 11, "less than or equal to 10"),
        ("sync_frequency_hours", 0, "greater than or equal to 1"),
        ("sync_frequency_hours", 25, "less than or equal to 24"),
        ("environment", "dev", "'staging' or 'production'"),
        ("base_url", "ftp://x", "base_url must start with http:// or https://"),
    ],
)
def test_an_out_of_range_payscore_setting_is_rejected_naming_the_field_and_its_bound(
    field: str, value: Any, bound: str
) -> None:
    with pytest.raises(ValidationError) as failure:
        PayScoreApiResource(api_key="k", **{field: value})

    assert bound in str(failure.value)
    assert failure.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("page_size", 1),
        ("page_size", 200),
        ("request_timeout_s", 5),
        ("request_timeout_s", 300),
        ("retry_attempts", 1),
        ("retry_attempts", 10),
        ("retry_budget_s", 1),
        ("retry_budget_s", 3600),
        ("checkpoint_every", 1),
        ("checkpoint_every", 10_000),
    ],
)
def test_the_ends_of_each_range_are_allowed(field: str, value: Any) -> None:
    assert getattr(FprApiResource(**{**VALID, field: value}), field) == value


def test_defaults_match_the_vendors_documents() -> None:
    fpr = FprApiResource(**VALID)
    assert (fpr.page_size, fpr.request_timeout_s, fpr.retry_attempts, fpr.api_key_header) == (100, 30.0, 5, "api_key")
    assert (fpr.retry_budget_s, fpr.checkpoint_every) == (120.0, 100)
    payscore = PayScoreApiResource(api_key="k")
    assert (payscore.environment, payscore.initial_sync_days, payscore.max_records_per_page) == ("production", 90, 100)
    assert (payscore.request_timeout_s, payscore.retry_attempts, payscore.sync_frequency_hours) == (30.0, 3, 4)
    assert payscore.enable_incremental_sync and payscore.enable_screening_groups


def test_the_payscore_environment_selects_the_base_url_unless_overridden() -> None:
    assert PayScoreApiResource(api_key="k", environment="staging").resolved_base_url() == PAYSCORE_BASE_URLS["staging"]
    assert PayScoreApiResource(api_key="k").resolved_base_url() == PAYSCORE_BASE_URLS["production"]
    overridden = PayScoreApiResource(api_key="k", environment="staging", base_url="http://127.0.0.1:9/")
    assert overridden.resolved_base_url() == "http://127.0.0.1:9"


def test_payscore_settings_come_from_the_environment_and_a_bad_one_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from finmatch_platform.definitions import build_payscore_resource
    from finmatch_platform.settings import Settings, SettingsError

    monkeypatch.setenv("FINMATCH_PAYSCORE_INITIAL_SYNC_DAYS", "30")
    monkeypatch.setenv("FINMATCH_PAYSCORE_REQUEST_TIMEOUT_SECONDS", "12")
    monkeypatch.setenv("FINMATCH_PAYSCORE_ENABLE_INCREMENTAL_SYNC", "false")
    resource = build_payscore_resource(Settings.from_env())
    assert (resource.initial_sync_days, resource.request_timeout_s, resource.enable_incremental_sync) == (
        30,
        12.0,
        False,
    )

    monkeypatch.setenv("FINMATCH_PAYSCORE_MAX_RECORDS_PER_PAGE", "5000")
    with pytest.raises(
        SettingsError, match="FINMATCH_PAYSCORE_MAX_RECORDS_PER_PAGE: Input should be less than or equal to 1000"
    ):
        build_payscore_resource(Settings.from_env())
    monkeypatch.setenv("FINMATCH_PAYSCORE_MAX_RECORDS_PER_PAGE", "many")
    with pytest.raises(SettingsError, match="FINMATCH_PAYSCORE_MAX_RECORDS_PER_PAGE must be a number"):
        Settings.from_env()


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
            summary = fpr_api.sync(
                conn,
                log_dir=db_path.parent / "checkpoints",
                on_checkpoint=lambda p: context.log.info(f"checkpoint {p.checkpoint}: {p.records} records"),
            )
        finally:
            conn.close()
        return dg.MaterializeResult(
            metadata={"upserts": summary.upserts, "retries": summary.retries, "checkpoints": summary.checkpoints}
        )

    return fpr_records


def test_an_asset_syncs_through_the_resource_with_the_key_from_the_environment(
    fpr_api: LiveApi, fpr_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINMATCH_API_KEY", FPR_TEST_API_KEY)
    db_path = tmp_path / "warehouse.duckdb"
    resource = FprApiResource(
        base_url=fpr_api.base_url,
        api_key=dg.EnvVar("FINMATCH_API_KEY"),
        page_size=50,
        checkpoint_every=60,
        api_key_header="x-api-key",
    )

    result = dg.materialize([_extraction_asset(db_path)], resources={"fpr_api": resource})

    assert result.success
    metadata = result.asset_materializations_for_node("raw__fpr_records")[0].metadata
    conn = duckdb.connect(str(db_path))
    assert_table_equals(conn, latest_state_sql(fpr_landing))
    assert metadata["upserts"].value > 0 and metadata["retries"].value == 0
    assert metadata["checkpoints"].value == -(
        -conn.execute("select count(*) from raw.fpr_records").fetchone()[0] // 100
    )
    conn.close()
    changes = resource.process_config_and_initialize().changes()  # EnvVar resolves as in a sensor
    assert changes.count > 0 and changes.mark


def test_a_wrong_key_in_the_environment_fails_the_run_with_the_message(
    fpr_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINMATCH_API_KEY", "wrong-key")
    resource = FprApiResource(base_url=fpr_api.base_url, api_key=dg.EnvVar("FINMATCH_API_KEY"))

    with pytest.raises(AuthError, match="check FINMATCH_API_KEY"):
        dg.materialize([_extraction_asset(tmp_path / "warehouse.duckdb")], resources={"fpr_api": resource})


@pytest.mark.parametrize(
    ("resource", "variable"),
    [(FprApiResource, "FINMATCH_API_URL"), (PayScoreApiResource, "FINMATCH_PAYSCORE_BASE_URL")],
)
def test_plain_http_to_a_remote_host_is_refused_when_the_resource_is_made_naming_the_variable(
    resource: type[FprApiResource | PayScoreApiResource], variable: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        resource(base_url="http://vendor.example:8765", api_key="k")
    assert refused.value.errors()[0]["loc"] == ("base_url",)
    message = str(refused.value)
    assert f"{variable} is 'http://vendor.example:8765': plain http:// is allowed only to loopback hosts" in message
    assert "FINMATCH_ALLOW_INSECURE_HTTP=1" in message

    allowed = resource(base_url="http://vendor.example:8765", api_key="k", allow_insecure_http=True)
    with allowed.client() as client:  # the client is told too, so it does not refuse the URL again
        assert client.base_url == "http://vendor.example:8765"
    assert resource(base_url="https://vendor.example", api_key="k").resolved_base_url() == "https://vendor.example"
    assert resource(base_url="http://localhost:8765/", api_key="k").resolved_base_url() == "http://localhost:8765"
