"""The focus areas' steps over real marts: evidence, planted effects, narrator, prompts, history."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from finmatch_platform.lib.insights import (
    FOCUS_AREAS,
    Evidence,
    EvidenceError,
    PrivacyError,
    build_messages,
    check_prompt_privacy,
    format_value,
    ground,
    history,
    narrate,
    narrate_request,
    queries,
    run_report,
)
from finmatch_platform.lib.insights.model import StepContext
from finmatch_platform.lib.llm import OfflineProvider
from finmatch_platform_tests.helpers.insights import InsightsWarehouse, PlantedFigures


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        yield conn
    finally:
        conn.close()


def _evidence(path: Path, focus_key: str) -> Evidence:
    focus = FOCUS_AREAS[focus_key]
    evidence = Evidence()
    cache: dict = {}
    with _read_only(path) as conn:
        for step in focus.steps:
            if step.kind == "data":
                step.run(StepContext(conn, evidence, focus, step, cache))  # type: ignore[misc]
    return evidence


@pytest.fixture(scope="module")
def evidence_by_focus(insights_warehouse: InsightsWarehouse) -> dict[str, Evidence]:
    return {key: _evidence(insights_warehouse.path, key) for key in FOCUS_AREAS}


def test_every_focus_area_runs_five_or_six_named_steps_context_first_model_and_report_last() -> None:
    assert list(FOCUS_AREAS) == [
        "overall_performance",
        "optimization_opportunities",
        "financial_impact",
        "strategic_recommendations",
    ]
    for focus in FOCUS_AREAS.values():
        assert 5 <= len(focus.steps) <= 6
        assert focus.steps[0].key == "load_context"
        assert [s.kind for s in focus.steps[-2:]] == ["model", "compile"]
        assert all(s.title and s.description for s in focus.steps)
        assert set(focus.queries) <= set(queries.QUERIES)
        assert focus.tables and all(re.fullmatch(r"[a-z_]+", t) for t in focus.tables)


def test_queries_return_aggregates_only_never_a_customer(insights_warehouse: InsightsWarehouse) -> None:
    with _read_only(insights_warehouse.path) as conn:
        for name in queries.QUERIES:
            rows = queries.run(conn, name)
            assert rows, name
            columns = set(rows[0])
            assert not columns & {"customer_id", "email", "email_token", "record_id", "account_id"}, name


def test_every_figure_has_a_definition_sample_size_and_source(evidence_by_focus: dict[str, Evidence]) -> None:
    for key, evidence in evidence_by_focus.items():
        assert len(evidence.figures) >= 30, key
        assert len(evidence.charts) >= 3, key
        assert [f.ref for f in evidence.figures] == [f"F{i:02d}" for i in range(1, len(evidence.figures) + 1)]
        for figure in evidence.figures:
            assert figure.definition and figure.source.startswith(("marts.", "derived: F")), figure
            assert figure.sample_size is not None and figure.sample_size >= 0, figure
            assert figure.step, figure


def test_the_evidence_holds_the_planted_effects_computed_independently(
    evidence_by_focus: dict[str, Evidence], planted_effects: PlantedFigures
) -> None:
    ev = evidence_by_focus["optimization_opportunities"]
    assert ev.get("churn.avg.low_satisfaction").value == pytest.approx(planted_effects.churn_low_satisfaction, abs=1e-9)
    assert ev.get("churn.avg.high_satisfaction").value == pytest.approx(
        planted_effects.churn_high_satisfaction, abs=1e-9
    )
    assert ev.get("churn.avg.low_satisfaction").sample_size == planted_effects.low_satisfaction_customers
    assert ev.get("cards.acceptance.high_travel").value == pytest.approx(
        planted_effects.card_acceptance_high_travel, abs=1e-9
    )
    assert ev.get("cards.acceptance.low_travel").value == pytest.approx(
        planted_effects.card_acceptance_low_travel, abs=1e-9
    )
    assert ev.get("cards.offers.high_travel").value == planted_effects.high_travel_offers
    # The effects are there, and strong: churn falls with satisfaction, travellers take cards.
    assert planted_effects.churn_low_satisfaction > 3 * planted_effects.churn_high_satisfaction
    assert planted_effects.card_acceptance_high_travel > 2 * planted_effects.card_acceptance_low_travel
    fraud = evidence_by_focus["overall_performance"]
    assert fraud.get("fraud.impossible_travel_days").value == planted_effects.impossible_travel_days
    assert len(planted_effects.planted_fraud_days) == 2 * 30  # two bursts a day
    assert fraud.get("fraud.impossible_travel_with_failed_logins").value >= 0.9


def test_the_data_context_step_names_a_missing_or_empty_mart() -> None:
    focus = FOCUS_AREAS["overall_performance"]
    conn = duckdb.connect()
    try:
        with pytest.raises(
            EvidenceError, match=r"marts that do not exist yet: .*marts\.recommendation_kpis.*materialize the dbt marts"
        ):
            focus.steps[0].run(StepContext(conn, Evidence(), focus, focus.steps[0]))  # type: ignore[misc]
        conn.execute("create schema marts")
        for table in focus.tables:
            conn.execute(f"create table marts.{table} (x int)")
        with pytest.raises(
            EvidenceError,
            match=r"marts\.dim_customers, marts\.recommendation_records, marts\.spend_daily_cumulative are empty",
        ):
            focus.steps[0].run(StepContext(conn, Evidence(), focus, focus.steps[0]))  # type: ignore[misc]
    finally:
        conn.close()


def test_the_offline_narrative_is_deterministic_and_fully_grounded(evidence_by_focus: dict[str, Evidence]) -> None:
    for key, evidence in evidence_by_focus.items():
        text = narrate(key, evidence)
        assert text == narrate(key, Evidence.from_dict(evidence.to_dict()))
        result = ground(text, evidence)
        assert result.checked >= 20, key
        assert result.unverified == (), (key, [m.text for m in result.unverified])
        # Every number is followed by the citation of the very figure it writes.
        by_ref = {f.ref: f for f in evidence.figures}
        for mention in result.mentions:
            if mention.status == "constant":
                continue
            cited = re.match(r" \[(F\d+)\]", text[mention.end :])
            assert cited, (key, mention.text, text[mention.end : mention.end + 20])
            figure = by_ref[cited.group(1)]
            # (a sign is not part of the number read: the sentence carries the direction)
            assert mention.text in (figure.display.lstrip("-"), f"{figure.sample_size:,}"), (key, mention.text, figure)


def test_the_offline_narrative_states_the_planted_effects_with_their_figures(
    evidence_by_focus: dict[str, Evidence], planted_effects: PlantedFigures
) -> None:
    text = narrate("optimization_opportunities", evidence_by_focus["optimization_opportunities"])
    churn = next(line for line in text.splitlines() if "Churn rises as satisfaction falls" in line)
    assert format_value(planted_effects.churn_low_satisfaction, "share") in churn
    assert format_value(planted_effects.churn_high_satisfaction, "share") in churn
    travel = next(line for line in text.splitlines() if "High travel spenders accept credit-card offers" in line)
    assert format_value(planted_effects.card_acceptance_high_travel, "share") in travel
    assert format_value(planted_effects.card_acceptance_low_travel, "share") in travel
    assert f"{planted_effects.high_travel_offers:,}" in travel


def test_prompts_carry_the_evidence_table_and_no_raw_pii(
    insights_warehouse: InsightsWarehouse, evidence_by_focus: dict[str, Evidence]
) -> None:
    with _read_only(insights_warehouse.path) as conn:
        pii = conn.execute("select first_name || ' ' || last_name, email, mobile from raw.customers").fetchall()
    for key, evidence in evidence_by_focus.items():
        messages = build_messages(FOCUS_AREAS[key], evidence)
        prompt = "\n".join(m["content"] for m in messages)
        assert [m["role"] for m in messages] == ["system", "user"]
        for figure in evidence.figures:
            assert f"{figure.ref} | {figure.label} | {figure.display} |" in prompt
        for name, email, mobile in pii:
            assert name not in prompt and email not in prompt and mobile not in prompt


@pytest.mark.parametrize(
    "leak",
    ["contact asha.rao@example.com", "call +91 9876543210", "customer C000000042", "record FPR0000000042"],
)
def test_the_privacy_guard_refuses_a_prompt_with_personal_data(leak: str) -> None:
    with pytest.raises(PrivacyError, match="nothing was sent") as info:
        check_prompt_privacy([{"role": "user", "content": f"Evidence ... {leak}"}])
    assert leak.split()[-1] not in str(info.value)


def test_history_keeps_each_run_and_compares_with_the_previous_one(
    insights_warehouse_copy: Path, tmp_path: Path
) -> None:
    @contextlib.contextmanager
    def connect() -> Iterator[duckdb.DuckDBPyConnection]:
        conn = duckdb.connect(str(insights_warehouse_copy))
        try:
            yield conn
        finally:
            conn.close()

    times = iter([dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)])
    reports = tmp_path / "reports"
    first = run_report(
        "financial_impact", connect, OfflineProvider(narrate_request), reports_dir=reports, now=lambda: next(times)
    )
    with connect() as conn:  # the marts move between runs: ten more accepted recommendations
        conn.execute(
            "update marts.recommendation_kpis set accepted = accepted + 10, acceptance_rate = acceptance_rate + 0.01"
        )
    second = run_report(
        "financial_impact", connect, OfflineProvider(narrate_request), reports_dir=reports, now=lambda: next(times)
    )
    with connect() as conn:
        rows = history.report_history(conn, "financial_impact")
    assert [r["report_id"] for r in rows] == [first.report_id, second.report_id]
    assert second.previous_report_id == first.report_id
    changed = {c.key: c for c in second.changes}
    assert changed["rec.acceptance_rate"].change == "+1.0 pp"
    assert "Since the previous report (2026-11-01 09:00 UTC)" in second.markdown
    stored = rows[1]
    assert stored["focus_area"] == "financial_impact" and stored["model"] == "offline"
    assert [s["key"] for s in stored["steps"]] == [s.key for s in FOCUS_AREAS["financial_impact"].steps]
    assert Evidence.from_dict(stored["evidence"]).get("rec.acceptance_rate").value == pytest.approx(
        first.evidence.get("rec.acceptance_rate").value + 0.01
    )
    assert stored["grounded"] and stored["numbers_unverified"] == 0
    assert stored["narrative"] == second.narrative and stored["report_markdown"] == second.markdown
    assert Path(stored["html_path"]).is_file()
    assert sorted(p.name for p in (reports / "financial_impact").iterdir()) == [
        "20261101T090000Z-" + first.report_id[:8] + ".html",
        "20261102T090000Z-" + second.report_id[:8] + ".html",
        "latest.html",
    ]
    assert (reports / "financial_impact" / "latest.html").read_text(encoding="utf-8") == second.html
