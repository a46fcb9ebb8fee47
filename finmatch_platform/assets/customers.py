"""Customer data governance: quality gate, masking by policy, role views and profiling.

Order matters and is encoded in the graph: the validation rules run on the raw load, rows that
fail a blocking rule go to ``meta.quarantine``, and only then are the masked tables built
without them. Everything downstream (dbt marts, profiles, reports) reads the masked tables.
"""

import datetime as dt

import dagster as dg

from finmatch_platform.constants import GROUP_CUSTOMERS, OWNER_DATA_PLATFORM, WAREHOUSE_POOL
from finmatch_platform.lib.masking import build_role_views
from finmatch_platform.lib.profiling import (
    default_format_rules,
    drift,
    findings_markdown,
    previous_profile,
    profile_table,
    save_profile,
)
from finmatch_platform.lib.quality import (
    CUSTOMER_RULES,
    FPR_RULES,
    GateOutcome,
    RuleSet,
    gate_and_mask,
    run_rules,
)
from finmatch_platform.resources.masking import MaskingResource
from finmatch_platform.resources.warehouse import WarehouseResource

MASKED_CUSTOMERS = dg.AssetKey(["masked", "customers"])
MASKED_FPR = dg.AssetKey(["masked", "fpr_records"])
RAW_CUSTOMERS = dg.AssetKey(["raw", "customers"])
RAW_FPR = dg.AssetKey(["raw", "fpr_records"])

# Masked tables follow their raw inputs on every load (declarative automation).
_FOLLOW_UPSTREAM = dg.AutomationCondition.eager()


def _gate_result(context: dg.AssetExecutionContext, outcome: GateOutcome, target: str) -> dg.MaterializeResult:
    for failure in outcome.blocking_failures:
        context.log.warning(
            f"{failure.rule}: {failure.failed_rows} row(s) quarantined (keys {', '.join(failure.sample_keys)})"
        )
    metadata = dict(outcome.as_metadata())
    metadata["rule_results"] = dg.MetadataValue.md(str(metadata["rule_results"]))
    metadata["dagster/row_count"] = dg.MetadataValue.int(outcome.masking.rows_written)
    metadata["dagster/table_name"] = target
    return dg.MaterializeResult(metadata=metadata)


def _gated_masking_asset(key: dg.AssetKey, upstream: dg.AssetKey, rules: RuleSet, description: str):
    @dg.asset(
        key=key,
        deps=[upstream],
        description=description,
        group_name=GROUP_CUSTOMERS,
        kinds={"duckdb", "python"},
        owners=[OWNER_DATA_PLATFORM],
        pool=WAREHOUSE_POOL,
        automation_condition=_FOLLOW_UPSTREAM,
    )
    def _masked(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, masking: MaskingResource
    ) -> dg.MaterializeResult:
        with warehouse.get_connection() as conn:
            outcome = gate_and_mask(conn, rules, masking.policy, masking.key)
        context.log.info(
            f"{outcome.masking.target}: {outcome.masking.rows_written} rows masked for role "
            f"{outcome.masking.role}; {outcome.quarantine.total} quarantined"
        )
        return _gate_result(context, outcome, outcome.masking.target)

    return _masked


customers_masked = _gated_masking_asset(
    MASKED_CUSTOMERS,
    RAW_CUSTOMERS,
    CUSTOMER_RULES,
    "masked.customers: the latest version of each customer (by modified_at), PII masked for the "
    "default analytics role of the masking policy (HMAC tokens, quarter-bucketed dates of birth). "
    "Rows failing a blocking validation rule are quarantined first and left out.",
)

fpr_records_masked = _gated_masking_asset(
    MASKED_FPR,
    RAW_FPR,
    FPR_RULES,
    "masked.fpr_records: the FPR feed with the customer's name and email tokenised for the default "
    "analytics role. Records failing a blocking rule are quarantined first and left out.",
)


@dg.asset(
    key=["masked", "role_views"],
    deps=[MASKED_CUSTOMERS, MASKED_FPR],
    description=(
        "One schema of views per role in the masking policy (role_restricted, role_dob_bucketing, "
        "role_pii_reader, ...), generated from the policy. Views are projections: no key is stored "
        "in a view definition."
    ),
    group_name=GROUP_CUSTOMERS,
    kinds={"duckdb", "python"},
    owners=[OWNER_DATA_PLATFORM],
    pool=WAREHOUSE_POOL,
    automation_condition=_FOLLOW_UPSTREAM,
)
def role_views(warehouse: WarehouseResource, masking: MaskingResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as conn:
        result = build_role_views(conn, masking.policy)
    return dg.MaterializeResult(metadata=result.as_metadata())


@dg.asset(
    deps=[MASKED_CUSTOMERS],
    description=(
        "Column-by-column profile of masked.customers (type, nulls, distinct, numeric statistics and "
        "quantiles, top values, format-rule failures), kept in meta.profile_history with drift "
        "against the previous profile."
    ),
    group_name=GROUP_CUSTOMERS,
    kinds={"duckdb", "python"},
    owners=[OWNER_DATA_PLATFORM],
    pool=WAREHOUSE_POOL,
    automation_condition=_FOLLOW_UPSTREAM,
)
def customer_profile(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, masking: MaskingResource
) -> dg.MaterializeResult:
    table = "masked.customers"
    now = dt.datetime.now(dt.UTC)
    with warehouse.get_connection() as conn:
        profile = profile_table(conn, table, default_format_rules(masking.policy, "customers"))
        previous = previous_profile(conn, table, before=now)
        profile = save_profile(conn, profile, profiled_at=now)
    findings = drift(previous, profile)
    for finding in findings:
        context.log.warning(f"drift: {finding.message}")
    return dg.MaterializeResult(
        metadata={
            **profile.as_metadata(),
            "profile": dg.MetadataValue.md(profile.to_markdown()),
            "drift_findings": len(findings),
            "drift": dg.MetadataValue.md(
                findings_markdown(findings) if findings else "No drift since the previous profile."
            ),
            "compared_with": previous.profiled_at.isoformat() if previous and previous.profiled_at else "-",
        }
    )


def _rule_checks(asset_key: dg.AssetKey, rules: RuleSet, name: str) -> dg.AssetChecksDefinition:
    """One asset check per validation rule, evaluated together in one pass over the raw table."""

    @dg.multi_asset_check(
        name=name,
        specs=[
            dg.AssetCheckSpec(rule.name, asset=asset_key, description=rule.description, blocking=False)
            for rule in rules.rules
        ],
        can_subset=True,
    )
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        selected = {key.name for key in context.selected_asset_check_keys}
        with warehouse.get_connection() as conn:
            results = run_rules(conn, rules.subset([r.name for r in rules.rules if r.name in selected]))
        for result in results:
            # Counts and keys only: offending values may be PII and never leave the warehouse.
            yield dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=result.rule,
                passed=result.passed,
                severity=dg.AssetCheckSeverity.ERROR if result.blocking else dg.AssetCheckSeverity.WARN,
                metadata=result.as_metadata(),
            )

    return _checks


customer_rule_checks = _rule_checks(RAW_CUSTOMERS, CUSTOMER_RULES, "customer_validation_rules")
fpr_rule_checks = _rule_checks(RAW_FPR, FPR_RULES, "fpr_validation_rules")

customer_assets = [customers_masked, fpr_records_masked, role_views, customer_profile]
customer_checks = [customer_rule_checks, fpr_rule_checks]
