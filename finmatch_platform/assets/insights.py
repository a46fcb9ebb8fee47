"""Insight reports: the marts explained, one asset per focus area, each with a grounding check.

Each asset runs its focus area's named steps (``lib/insights/steps.py``) against the marts,
asks the chosen model for the narrative, checks every number of it against the evidence, and
publishes the report three ways: Markdown in the materialization's metadata, a standalone HTML
page with charts under ``<data_dir>/reports/<focus>/``, and a row in ``meta.insight_history``.

- Model per run: launchpad config ``model: offline`` or the name of a configured endpoint
  (``LlmResource``); nothing chosen means the resource's ``default_model``.
- Automation: eager, so the reports follow whenever the marts they read are rebuilt (see
  ``REPORT_AUTOMATION`` for the one change to the stock condition).
- Pool: the warehouse pool, because the assets append to ``meta.insight_history``.
- ``<focus>_report_grounded`` checks re-read the stored report and re-run grounding; they fail
  when the share of unverified numbers is above the run's ``max_unverified_share``.

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotation at
definition time.
"""

from typing import Any

import dagster as dg
from pydantic import Field

from finmatch_platform.constants import GROUP_INSIGHTS, OWNER_DATA_PLATFORM, WAREHOUSE_POOL
from finmatch_platform.lib.insights import (
    DEFAULT_MAX_UNVERIFIED_SHARE,
    FOCUS_AREAS,
    Evidence,
    EvidenceError,
    FocusArea,
    InsightReport,
    PrivacyError,
    ground,
    run_report,
)
from finmatch_platform.lib.insights.context import REQUIRED_NONEMPTY
from finmatch_platform.lib.insights.evidence import markdown_table
from finmatch_platform.lib.insights.history import HISTORY_TABLE, latest_report
from finmatch_platform.lib.insights.queries import MARTS_SCHEMA
from finmatch_platform.lib.llm import LlmError
from finmatch_platform.resources.llm import LlmResource
from finmatch_platform.resources.warehouse import WarehouseResource

OWNER_PRODUCT_ANALYTICS = "team:product-analytics"


class InsightReportConfig(dg.Config):
    """Per-run choices of an insight report (set them in the launchpad)."""

    model: str | None = Field(
        default=None,
        description="Model that writes the narrative: 'offline' or the name of a configured endpoint. "
        "Empty: the llm resource's default_model.",
    )
    max_unverified_share: float = Field(
        default=DEFAULT_MAX_UNVERIFIED_SHARE,
        ge=0.0,
        le=1.0,
        description="The grounding check fails when more than this share of the narrative's numbers "
        "match no evidence (0 = every number must be traced).",
    )


def mart_asset_key(table: str) -> dg.AssetKey:
    """The asset key of a dbt mart: dagster-dbt's default for a model with ``+schema: marts``
    is ``[schema, model_name]``, so lineage joins without looking the dbt manifest up here."""
    return dg.AssetKey([MARTS_SCHEMA, table])


# Eager: a report follows as soon as a mart it reads is rebuilt (and no dbt run is in progress).
# One change to the stock condition: it waits for the core marts to exist, not for every daily
# partition of the incremental facts. Stock eager holds an unpartitioned asset back while any
# upstream day is missing, so one day never backfilled would stop three of the four reports for
# good; a gap of a day is not a reason to stop explaining the rest, and the report's first step
# validates what it reads anyway.
REPORT_AUTOMATION = (
    dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
    & ~dg.AutomationCondition.any_deps_missing().allow(
        dg.AssetSelection.assets(*(dg.AssetKey([MARTS_SCHEMA, t]) for t in REQUIRED_NONEMPTY))
    )
).with_label("eager (waits for the core marts, not every daily partition)")


def report_asset_name(focus: FocusArea) -> str:
    return f"{focus.key}_report"


def grounded_check_name(focus: FocusArea) -> str:
    return f"{report_asset_name(focus)}_grounded"


def _description(focus: FocusArea) -> str:
    steps = "\n".join(f"{i}. **{s.title}**: {s.description}" for i, s in enumerate(focus.steps, start=1))
    return (
        f"{focus.title} insight report. {focus.question} {focus.description}\n\n"
        f"Steps:\n{steps}\n\n"
        "Markdown in the metadata, HTML with charts under <data_dir>/reports/, history in "
        f"{HISTORY_TABLE}. Choose the model per run with config `model`."
    )


def _metadata(report: InsightReport) -> dict[str, Any]:
    g = report.grounding
    assert g is not None
    steps = markdown_table(
        ["#", "Step", "Seconds", "Figures", "Charts", "Result"],
        [(s.index, s.title, f"{s.seconds:.3f}", s.figures, s.charts, s.summary) for s in report.steps],
    )
    metadata: dict[str, Any] = {
        "report": dg.MetadataValue.md(report.markdown),
        "report_id": dg.MetadataValue.text(report.report_id),
        "model": dg.MetadataValue.text(report.model),
        "provider": dg.MetadataValue.text(report.provider),
        "endpoint": dg.MetadataValue.text(report.endpoint),
        "data_window": dg.MetadataValue.text(
            f"{report.evidence.context.get('first_day')} to {report.evidence.context.get('last_day')}"
        ),
        "steps": dg.MetadataValue.md(steps),
        "step_seconds": dg.MetadataValue.json(report.step_seconds),
        "figures": dg.MetadataValue.int(len(report.evidence.figures)),
        "charts": dg.MetadataValue.int(len(report.evidence.charts)),
        "numbers_checked": dg.MetadataValue.int(g.checked),
        "numbers_unverified": dg.MetadataValue.int(len(g.unverified)),
        "unverified_share": dg.MetadataValue.float(g.unverified_share),
        "max_unverified_share": dg.MetadataValue.float(report.max_unverified_share),
        "grounded": dg.MetadataValue.bool(report.grounded),
        "llm_attempts": dg.MetadataValue.int(report.llm_attempts),
        "llm_seconds": dg.MetadataValue.float(round(report.llm_seconds, 3)),
        "history_table": dg.MetadataValue.text(HISTORY_TABLE),
    }
    if g.unverified:
        metadata["unverified_numbers"] = dg.MetadataValue.json([m.text for m in g.unverified])
    if report.html_path:
        metadata["html_report"] = dg.MetadataValue.path(report.html_path)
    if report.latest_html_path:
        metadata["html_latest"] = dg.MetadataValue.path(report.latest_html_path)
    if report.previous_report_id:
        metadata["previous_report_id"] = dg.MetadataValue.text(report.previous_report_id)
    return metadata


def _build_report_asset(focus: FocusArea) -> dg.AssetsDefinition:
    @dg.asset(
        name=report_asset_name(focus),
        deps=[mart_asset_key(table) for table in focus.tables],
        description=_description(focus),
        group_name=GROUP_INSIGHTS,
        kinds={"python", "duckdb"},
        owners=[OWNER_PRODUCT_ANALYTICS, OWNER_DATA_PLATFORM],
        automation_condition=REPORT_AUTOMATION,
        pool=WAREHOUSE_POOL,
        tags={"focus_area": focus.key},
        metadata={
            "focus_area": focus.title,
            "steps": dg.MetadataValue.json([s.title for s in focus.steps]),
            "history_table": HISTORY_TABLE,
        },
    )
    def _report(
        context: dg.AssetExecutionContext,
        config: InsightReportConfig,
        warehouse: WarehouseResource,
        llm: LlmResource,
    ) -> dg.MaterializeResult:
        try:
            provider = llm.provider(config.model)
        except LlmError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        context.log.info(
            f"{focus.title}: {len(focus.steps)} steps, narrative by {provider.name} ({provider.provider}); "
            f"reads {', '.join(focus.tables)}"
        )
        try:
            report = run_report(
                focus,
                warehouse.get_connection,
                provider,
                reports_dir=llm.reports_dir,
                max_unverified_share=config.max_unverified_share,
                log=context.log.info,
                run_id=context.run.run_id,
            )
        except (EvidenceError, LlmError, PrivacyError) as exc:
            raise dg.Failure(
                description=f"{focus.title} report failed: {exc}",
                metadata={"focus_area": focus.key, "model": provider.name, "error": type(exc).__name__},
                allow_retries=not isinstance(exc, PrivacyError),
            ) from None
        g = report.grounding
        assert g is not None
        if g.unverified:
            context.log.warning(
                f"{focus.title}: {len(g.unverified)} of {g.checked} numbers match no evidence: "
                f"{', '.join(m.text for m in g.unverified[:10])}"
            )
        return dg.MaterializeResult(metadata=_metadata(report))

    return _report


def _run_id(context: dg.AssetCheckExecutionContext) -> str | None:
    # A check invoked directly (tests, notebooks) has no run; it then reads the latest report.
    try:
        return context.run.run_id
    except Exception:
        return None


def _build_grounded_check(focus: FocusArea, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=grounded_check_name(focus),
        description=(
            f"Every number in the {focus.title} narrative traces to the evidence: re-reads the report from "
            f"{HISTORY_TABLE}, re-runs grounding on the narrative against the stored evidence, and fails "
            "when the unverified share exceeds the run's max_unverified_share."
        ),
        # Runs whenever its report does, including the report's automated runs.
        automation_condition=dg.AutomationCondition.eager(),
        pool=WAREHOUSE_POOL,
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as conn:
            row = latest_report(conn, focus.key, run_id=_run_id(context))
        if row is None:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                description=f"no {focus.title} report in {HISTORY_TABLE} yet",
            )
        evidence = Evidence.from_dict(row["evidence"])
        result = ground(row["narrative"] or "", evidence)
        threshold = float(row["max_unverified_share"] if row["max_unverified_share"] is not None else 0.0)
        passed = result.passed(threshold)
        unverified = [m.text for m in result.unverified]
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{result.verified} of {result.checked} numbers traced to the evidence"
                + (f"; unverified: {', '.join(unverified[:10])}" if unverified else "")
            ),
            metadata={
                "report_id": dg.MetadataValue.text(str(row["report_id"])),
                "model": dg.MetadataValue.text(str(row["model"])),
                "numbers_checked": dg.MetadataValue.int(result.checked),
                "numbers_unverified": dg.MetadataValue.int(len(unverified)),
                "unverified_share": dg.MetadataValue.float(result.unverified_share),
                "max_unverified_share": dg.MetadataValue.float(threshold),
                "unverified_numbers": dg.MetadataValue.json(unverified),
            },
        )

    return _check


insight_report_assets: list[dg.AssetsDefinition] = []
insight_report_checks: list[dg.AssetChecksDefinition] = []
for _focus in FOCUS_AREAS.values():
    _asset = _build_report_asset(_focus)
    insight_report_assets.append(_asset)
    insight_report_checks.append(_build_grounded_check(_focus, _asset))

(
    overall_performance_report,
    optimization_opportunities_report,
    financial_impact_report,
    strategic_recommendations_report,
) = insight_report_assets
