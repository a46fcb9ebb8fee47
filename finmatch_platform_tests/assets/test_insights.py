"""The four insight-report assets and their grounding checks, materialized against a seeded warehouse."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from finmatch_platform.assets.insights import (
    grounded_check_name,
    insight_report_assets,
    insight_report_checks,
    mart_asset_key,
    report_asset_name,
)
from finmatch_platform.constants import GROUP_INSIGHTS, WAREHOUSE_POOL
from finmatch_platform.lib.insights import FOCUS_AREAS, format_value, ground
from finmatch_platform.lib.insights.evidence import Evidence
from finmatch_platform.lib.insights.history import HISTORY_TABLE
from finmatch_platform.partitions import daily_partitions_def
from finmatch_platform.resources.llm import LlmEndpoint, LlmResource, build_llm_resource
from finmatch_platform.resources.warehouse import WarehouseResource
from finmatch_platform.settings import Settings
from finmatch_platform_tests.helpers.core import START
from finmatch_platform_tests.helpers.insights import (
    INVENTED_FIGURE,
    STAND_IN_KEY,
    STAND_IN_KEY_ENV,
    InsightsWarehouse,
    PlantedFigures,
    StandIn,
)

ASSETS = {a.key.path[-1]: a for a in insight_report_assets}
CHECKS = {next(iter(c.check_keys)).name: c for c in insight_report_checks}


def _resources(database: Path, data_dir: Path, base_url: str = "http://127.0.0.1:9/v1") -> dict[str, Any]:
    def endpoint(name: str, model: str, **extra: Any) -> LlmEndpoint:
        return LlmEndpoint(
            name=name, base_url=base_url, model=model, api_key_env=STAND_IN_KEY_ENV, retry_base_delay_s=0.01, **extra
        )

    return {
        "warehouse": WarehouseResource(database=str(database)),
        "llm": LlmResource(
            data_dir=str(data_dir),
            endpoints=[
                endpoint("good", "stand-in-grounded"),
                endpoint("inventive", "stand-in-invented"),
                endpoint("slow", "stand-in-slow", timeout_s=0.3, max_retries=1),
                endpoint("broken", "stand-in-error", max_retries=1),
            ],
        ),
    }


def _run_config(asset_names: list[str], **config: Any) -> dict[str, Any]:
    return {"ops": {name: {"config": config} for name in asset_names}}


def _materialize(
    names: list[str], resources: dict[str, Any], instance: dg.DagsterInstance, **config: Any
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*(ASSETS[n] for n in names), *(CHECKS[f"{n}_grounded"] for n in names)],
        resources=resources,
        instance=instance,
        run_config=_run_config(names, **config) if config else None,
        raise_on_error=False,
    )


def _metadata(result: dg.ExecuteInProcessResult, name: str) -> dict[str, Any]:
    (materialization,) = result.asset_materializations_for_node(name)
    return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _failure(result: dg.ExecuteInProcessResult) -> str:
    texts = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            texts.append(data.user_failure_data.description)
        if data.error is not None:
            texts.append(data.error.message)
    return "\n".join(texts)


def _history(database: Path) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(database), read_only=True)
    try:
        if not conn.execute(
            "select 1 from information_schema.tables where table_schema = 'meta' and table_name = 'insight_history'"
        ).fetchall():
            return []
        return conn.execute(
            f"select focus_area, model, run_id, narrative, prompt from {HISTORY_TABLE} order by generated_at"
        ).fetchall()
    finally:
        conn.close()


def _copy(warehouse: InsightsWarehouse, folder: Path) -> Path:
    target = folder / "warehouse" / "finmatch.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse.path, target)
    return target


@dataclass
class OfflineRun:
    result: dg.ExecuteInProcessResult
    instance: dg.DagsterInstance
    database: Path
    data_dir: Path


@pytest.fixture(scope="module")
def offline_run(
    insights_warehouse: InsightsWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OfflineRun]:
    """All four reports with the default (offline) model, their checks included, in one run."""
    folder = tmp_path_factory.mktemp("offline_run")
    database = _copy(insights_warehouse, folder)
    with dg.instance_for_test() as instance:
        result = _materialize(list(ASSETS), _resources(database, folder / "data"), instance)
        yield OfflineRun(result, instance, database, folder / "data")


# --------------------------------------------------------------------------------------------
# Offline: the default
# --------------------------------------------------------------------------------------------


def test_the_four_reports_materialize_offline_and_pass_their_grounding_checks(offline_run: OfflineRun) -> None:
    result = offline_run.result
    assert result.success, _failure(result)
    for focus in FOCUS_AREAS.values():
        meta = _metadata(result, report_asset_name(focus))
        assert meta["provider"] == "offline" and meta["model"] == "offline"
        assert meta["report"].startswith(f"# {focus.title}: FinMatch insight report")
        assert meta["numbers_checked"] >= 20 and meta["numbers_unverified"] == 0 and meta["grounded"] is True
        assert meta["figures"] >= 30 and meta["charts"] >= 3
        html = Path(meta["html_report"])
        assert html.is_file() and html.parent == offline_run.data_dir / "reports" / focus.key
        assert Path(meta["html_latest"]).read_text(encoding="utf-8") == html.read_text(encoding="utf-8")
    checks = _checks(result)
    assert set(checks) == {grounded_check_name(f) for f in FOCUS_AREAS.values()}
    assert all(c.passed for c in checks.values())


def test_the_steps_ran_in_order_logged_progress_and_produced_evidence(offline_run: OfflineRun) -> None:
    result = offline_run.result
    logs = [e.user_message for e in offline_run.instance.all_logs(result.run_id) if e.user_message]
    for focus in FOCUS_AREAS.values():
        meta = _metadata(result, report_asset_name(focus))
        assert list(meta["step_seconds"]) == [s.key for s in focus.steps]
        assert all(seconds >= 0 for seconds in meta["step_seconds"].values())
        started = [
            int(m.group(1))
            for line in logs
            if (m := re.search(rf"^{focus.title} · step (\d)/{len(focus.steps)} .*: started$", line))
        ]
        assert started == list(range(1, len(focus.steps) + 1))
        for step in focus.steps:
            assert f"| {step.title} |" in meta["steps"]
        # Every data step produced figures.
        rows = re.findall(r"^\| (\d) \| ([^|]+) \| [\d.]+ \| (\d+) \| (\d+) \|", meta["steps"], re.M)
        figures = {int(i): int(n) for i, _, n, _ in rows}
        for index, step in enumerate(focus.steps, start=1):
            if step.kind == "data":
                assert figures[index] > 0, (focus.key, step.key)


def test_the_reports_state_the_planted_effects_with_the_right_figures(
    offline_run: OfflineRun, planted_effects: PlantedFigures
) -> None:
    overall = _metadata(offline_run.result, "overall_performance_report")["report"]
    opportunities = _metadata(offline_run.result, "optimization_opportunities_report")["report"]
    for report in (overall, opportunities):
        churn = next(line for line in report.splitlines() if "Churn rises as satisfaction falls" in line)
        assert format_value(planted_effects.churn_low_satisfaction, "share") in churn
        assert format_value(planted_effects.churn_high_satisfaction, "share") in churn
    travel = next(
        line for line in opportunities.splitlines() if "High travel spenders accept credit-card offers" in line
    )
    assert format_value(planted_effects.card_acceptance_high_travel, "share") in travel
    assert format_value(planted_effects.card_acceptance_low_travel, "share") in travel
    fraud = next(line for line in overall.splitlines() if "Fraud comes in bursts of impossible travel" in line)
    assert fraud.split("**")[2].strip().startswith(f"{planted_effects.impossible_travel_days:,} [F")
    # Every planted burst is among the impossible-travel days the report counts.
    assert len(planted_effects.planted_fraud_days) <= planted_effects.impossible_travel_days


def test_each_report_is_appended_to_the_history_with_everything_to_compare_it(offline_run: OfflineRun) -> None:
    rows = _history(offline_run.database)
    assert sorted(r[0] for r in rows) == sorted(FOCUS_AREAS)
    assert {r[1] for r in rows} == {"offline"} and {r[2] for r in rows} == {offline_run.result.run_id}


def test_history_grows_by_one_row_per_run(insights_warehouse: InsightsWarehouse, tmp_path: Path) -> None:
    database = _copy(insights_warehouse, tmp_path)
    resources = _resources(database, tmp_path / "data")
    with dg.instance_for_test() as instance:
        first = _materialize(["overall_performance_report"], resources, instance)
        assert [r[0] for r in _history(database)] == ["overall_performance"]
        second = _materialize(["overall_performance_report"], resources, instance)
        assert [r[0] for r in _history(database)] == ["overall_performance"] * 2
    assert [r[2] for r in _history(database)] == [first.run_id, second.run_id]
    meta = _metadata(second, "overall_performance_report")
    assert "## Since the previous report" in meta["report"]
    assert meta["previous_report_id"] == _metadata(first, "overall_performance_report")["report_id"]


def test_the_grounding_check_fails_when_a_number_in_the_report_is_altered(
    offline_run: OfflineRun, tmp_path: Path
) -> None:
    database = tmp_path / "altered.duckdb"
    shutil.copyfile(offline_run.database, database)
    conn = duckdb.connect(str(database))
    try:
        report_id, narrative, evidence_json = conn.execute(
            f"select report_id, narrative, evidence from {HISTORY_TABLE} where focus_area = 'overall_performance'"
        ).fetchone()
        evidence = Evidence.from_dict(json.loads(evidence_json))
        original = evidence.get("rec.acceptance_rate").display
        assert f"{original} [" in narrative
        # Shift the figure until it matches nothing in the evidence (never by coincidence).
        value = float(original.rstrip("%"))
        altered = next(
            f"{value + shift:.1f}%" for shift in range(17, 60) if not ground(f"{value + shift:.1f}%", evidence).verified
        )
        conn.execute(
            f"update {HISTORY_TABLE} set narrative = ? where report_id = ?",
            [narrative.replace(f"{original} [", f"{altered} [", 1), report_id],
        )
    finally:
        conn.close()
    check = CHECKS["overall_performance_report_grounded"]
    context = dg.build_asset_check_context(resources={"warehouse": WarehouseResource(database=str(database))})
    evaluation = check(context)
    assert evaluation.passed is False
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["unverified_numbers"].value == [altered]
    assert evaluation.metadata["numbers_unverified"].value == 1
    # The untouched report still passes.
    untouched = check(
        dg.build_asset_check_context(resources={"warehouse": WarehouseResource(database=str(offline_run.database))})
    )
    assert untouched.passed is True


# --------------------------------------------------------------------------------------------
# OpenAI-compatible endpoints (a stand-in server on loopback)
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def online(
    insights_warehouse: InsightsWarehouse, tmp_path: Path, stand_in: StandIn
) -> Iterator[tuple[dict[str, Any], Path, dg.DagsterInstance]]:
    database = _copy(insights_warehouse, tmp_path)
    with dg.instance_for_test() as instance:
        yield _resources(database, tmp_path / "data", stand_in.base_url), database, instance


def test_a_run_can_choose_a_configured_endpoint_and_its_narrative_is_checked(online, stand_in: StandIn) -> None:
    resources, database, instance = online
    result = _materialize(["financial_impact_report"], resources, instance, model="good")
    assert result.success, _failure(result)
    meta = _metadata(result, "financial_impact_report")
    assert (meta["provider"], meta["endpoint"], meta["model"]) == ("openai_compatible", "good", "stand-in-grounded")
    assert meta["numbers_checked"] >= 3 and meta["numbers_unverified"] == 0
    assert _checks(result)["financial_impact_report_grounded"].passed
    (request,) = stand_in.requests
    assert request["headers"]["Authorization"] == f"Bearer {STAND_IN_KEY}"
    # The key reaches the server and nothing else: not the metadata, the logs or the history.
    logs = " ".join(e.user_message or "" for e in instance.all_logs(result.run_id))
    assert STAND_IN_KEY not in logs and STAND_IN_KEY not in json.dumps(meta, default=str)
    assert all(STAND_IN_KEY not in str(cell) for row in _history(database) for cell in row)


def test_an_invented_figure_is_marked_unverified_and_fails_the_check(online, stand_in: StandIn) -> None:
    resources, _, instance = online
    result = _materialize(["overall_performance_report"], resources, instance, model="inventive")
    assert result.success, _failure(result)
    meta = _metadata(result, "overall_performance_report")
    assert meta["unverified_numbers"] == [INVENTED_FIGURE]
    assert meta["numbers_unverified"] == 1 and meta["grounded"] is False
    assert f"{INVENTED_FIGURE} ⚠ unverified" in meta["report"]
    check = _checks(result)["overall_performance_report_grounded"]
    assert check.passed is False and INVENTED_FIGURE in (check.description or "")
    # A looser threshold, chosen for the run, lets the same narrative through.
    loose = _materialize(
        ["overall_performance_report"], resources, instance, model="inventive", max_unverified_share=0.5
    )
    assert _checks(loose)["overall_performance_report_grounded"].passed


def test_a_model_timeout_fails_the_run_clearly_and_writes_nothing(online, stand_in: StandIn) -> None:
    resources, database, instance = online
    result = _materialize(["strategic_recommendations_report"], resources, instance, model="slow")
    assert not result.success
    message = _failure(result)
    assert "Strategic Recommendations report failed" in message and "timed out after 0.3 s" in message
    assert "gave up after 2 attempts" in message
    assert stand_in.counts["stand-in-slow"] == 2
    assert _history(database) == []


def test_an_error_status_fails_the_run_with_the_servers_message(online, stand_in: StandIn) -> None:
    resources, _, instance = online
    result = _materialize(["optimization_opportunities_report"], resources, instance, model="broken")
    assert not result.success
    assert "HTTP 500: the model is overloaded" in _failure(result)


def test_an_unknown_model_fails_the_run_naming_the_configured_ones(online) -> None:
    resources, _, instance = online
    result = _materialize(["overall_performance_report"], resources, instance, model="gpt-nine")
    assert not result.success
    assert "unknown model 'gpt-nine'; configured: offline, good, inventive, slow, broken" in _failure(result)


def test_no_prompt_sent_carries_raw_pii(
    online, stand_in: StandIn, offline_run: OfflineRun, insights_warehouse: InsightsWarehouse
) -> None:
    resources, _, instance = online
    names = list(ASSETS)
    assert _materialize(names, resources, instance, model="good").success
    # What went over the wire, and what the offline narrator was given (kept in the history).
    prompts = stand_in.bodies() + [str(row[4]) for row in _history(offline_run.database)]
    assert len(prompts) == 2 * len(names)
    conn = duckdb.connect(str(insights_warehouse.path), read_only=True)
    try:
        pii = conn.execute(
            """
            select distinct value from (
                select first_name || ' ' || last_name as value from raw.customers
                union all select lower(email) from raw.customers
                union all select mobile from raw.customers
                union all select customer_name from raw.fpr_records where customer_name is not null
                union all select lower(customer_email) from raw.fpr_records where customer_email is not null
            ) where value is not null and length(value) >= 6
            """
        ).fetchall()
    finally:
        conn.close()
    assert len(pii) > 500
    for prompt in prompts:
        text = prompt.lower()
        leaked = [value for (value,) in pii if value.lower() in text]
        assert leaked == []


# --------------------------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------------------------


def test_the_definitions_load_with_eager_reports_on_the_marts_and_their_checks(
    tmp_path: Path, settings: Settings
) -> None:
    defs = dg.Definitions(
        assets=insight_report_assets,
        asset_checks=insight_report_checks,
        resources={
            "warehouse": WarehouseResource(database=str(tmp_path / "w.duckdb")),
            "llm": build_llm_resource(settings.data_dir, environ={}),
        },
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for focus in FOCUS_AREAS.values():
        key = dg.AssetKey([report_asset_name(focus)])
        node = graph.get(key)
        assert node.group_name == GROUP_INSIGHTS
        assert node.parent_keys == {dg.AssetKey(["marts", table]) for table in focus.tables}
        assert node.automation_condition is not None
        assert (node.automation_condition.get_label() or "").startswith("eager")
        assert dg.AssetCheckKey(key, grounded_check_name(focus)) in node.check_keys
        assert ASSETS[key.path[-1]].op.pool == WAREHOUSE_POOL
        check_key = dg.AssetCheckKey(key, grounded_check_name(focus))
        check_node = graph.get(check_key)
        assert check_node.automation_condition is not None
        assert check_node.automation_condition.get_label() == dg.AutomationCondition.eager().get_label()


def test_reports_and_their_checks_follow_the_marts_they_read(tmp_path: Path) -> None:
    marts = sorted({table for focus in FOCUS_AREAS.values() for table in focus.tables})
    # The incremental fraud facts are partitioned by day, like the dbt daily facts.
    daily = {"fraud_customer_days", "fraud_signals_daily"}
    daily_partitions = daily_partitions_def(START)
    specs = [dg.AssetSpec(mart_asset_key(t), partitions_def=daily_partitions if t in daily else None) for t in marts]
    defs = dg.Definitions(
        assets=[*specs, *insight_report_assets],
        asset_checks=insight_report_checks,
        resources={
            "warehouse": WarehouseResource(database=str(tmp_path / "w.duckdb")),
            "llm": LlmResource(data_dir=str(tmp_path)),
        },
    )

    def requested(result: Any) -> set[str]:
        keys = {r.key for r in result.results if r.true_subset.size}
        return {k.path[-1] if isinstance(k, dg.AssetKey) else k.name for k in keys}

    everything = {report_asset_name(f) for f in FOCUS_AREAS.values()} | {
        grounded_check_name(f) for f in FOCUS_AREAS.values()
    }
    with dg.instance_for_test() as instance:
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert tick.total_requested == 0  # no marts yet: nothing to explain
        # A dbt build of the marts; the daily facts hold only a few days (the rest never backfilled).
        for table in marts:
            if table in daily:
                for day in daily_partitions.get_partition_keys()[:3]:
                    instance.report_runless_asset_event(dg.AssetMaterialization(mart_asset_key(table), partition=day))
            else:
                instance.report_runless_asset_event(dg.AssetMaterialization(mart_asset_key(table)))
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick) == everything
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert tick.total_requested == 0  # nothing changed since
        instance.report_runless_asset_event(dg.AssetMaterialization(mart_asset_key("revenue_monthly_by_product")))
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        readers = {f for f in FOCUS_AREAS.values() if "revenue_monthly_by_product" in f.tables}
        assert {f.key for f in readers} == {"financial_impact", "strategic_recommendations"}
        assert requested(tick) == {report_asset_name(f) for f in readers} | {grounded_check_name(f) for f in readers}


def test_every_mart_a_report_reads_is_an_asset_of_the_dbt_project() -> None:
    # Lineage joins by key: the reports' dependencies must be the dbt models' own asset keys.
    from finmatch_platform.assets.dbt import build_dbt_assets

    dbt_keys = {key for definition in build_dbt_assets(daily_partitions_def(START)).all for key in definition.keys}
    for asset in insight_report_assets:
        deps = set(asset.asset_deps[asset.key])
        assert deps <= dbt_keys, sorted(k.to_user_string() for k in deps - dbt_keys)
