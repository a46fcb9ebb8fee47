"""Customer governance assets through Dagster: quality gate, masking, role views, profile, checks."""

import dagster as dg
import duckdb
import pytest

from finmatch_platform.assets.customers import customer_assets, customer_checks, customer_profile
from finmatch_platform.lib.quality import CUSTOMER_RULES
from finmatch_platform.settings import Settings
from finmatch_platform_tests.helpers.core import source_assets

PII_COLUMNS = ("first_name", "last_name", "email", "mobile", "address_line1")


def _run(resources, instance, *, partition_key: str):
    # The FPR side needs the API; these tests exercise the customer side of the graph.
    selection = dg.AssetSelection.all() - dg.AssetSelection.assets(["masked", "fpr_records"])
    return dg.materialize(
        [*source_assets(), *customer_assets, *customer_checks],
        selection=selection,
        resources=resources,
        instance=instance,
        partition_key=partition_key,
        raise_on_error=False,
    )


@pytest.fixture()
def loaded(settings: Settings, resources, instance) -> dg.ExecuteInProcessResult:
    # The masked, profile and role assets are unpartitioned: they rebuild from the whole raw table.
    first = _run(resources, instance, partition_key="2026-10-01")
    assert first.success
    return first


def _raw_values(settings: Settings) -> set[str]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        rows = conn.execute(f"select {', '.join(PII_COLUMNS)} from raw.customers").fetchall()
    return {str(v) for row in rows for v in row if v is not None and len(str(v)) >= 4}


def test_no_raw_pii_reaches_masked_tables_metadata_or_logs(settings, loaded, instance) -> None:
    raw_values = _raw_values(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        masked = conn.execute("select * from masked.customers").fetchall()
        restricted = conn.execute("select * from role_restricted.customers").fetchall()
    cells = {str(v) for row in masked + restricted for v in row if v is not None}
    assert raw_values and not raw_values & cells

    metadata = " ".join(
        str(value.value)
        for event in loaded.get_asset_materialization_events()
        for value in event.materialization.metadata.values()
    )
    checks = " ".join(
        str(value.value)
        for evaluation in loaded.get_asset_check_evaluations()
        for value in evaluation.metadata.values()
    )
    logs = " ".join(record.user_message for record in instance.all_logs(loaded.run_id))
    for text in (metadata, checks, logs):
        leaked = [v for v in raw_values if v in text]
        assert not leaked, leaked[:3]


def test_every_validation_rule_reports_counts_and_keys(loaded) -> None:
    evaluations = {e.check_name: e for e in loaded.get_asset_check_evaluations()}
    assert set(evaluations) == {rule.name for rule in CUSTOMER_RULES.rules}
    for evaluation in evaluations.values():
        assert {"checked_rows", "missing", "invalid", "duplicates", "sample_keys"} <= set(evaluation.metadata)


def test_pii_reader_sees_raw_values_and_restricted_sees_tokens(settings, loaded) -> None:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        raw_emails = {r[0] for r in conn.execute("select email from raw.customers").fetchall()}
        reader = {r[0] for r in conn.execute("select email from role_pii_reader.customers").fetchall()}
        restricted = {r[0] for r in conn.execute("select email from role_restricted.customers").fetchall()}
    assert reader <= raw_emails and len(reader) > 0
    assert not restricted & raw_emails


def test_a_second_profile_is_kept_in_history_and_compared_with_the_first(settings, loaded, resources, instance) -> None:
    second = dg.materialize([customer_profile], resources=resources, instance=instance)

    (event,) = second.get_asset_materialization_events()
    assert event.materialization.metadata["compared_with"].value != "-"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        profiles = conn.execute("select count(distinct profiled_at) from meta.profile_history").fetchone()[0]
    assert profiles == 2
