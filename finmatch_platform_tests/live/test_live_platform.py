"""The running platform: backfills, the sensor, manual runs and automation together, end to end,
and the UI in a real browser. One ``scripts/run.sh`` per session (see ``fixtures_live``).

The story, in fixture order:

1. ``concurrent_activity``: with the FPR sensor paused, a backfill lands days 1-3 (Dagster's asset
   backfill daemon). Then, at once: a second backfill for day 4, a manual ``refresh_warehouse``
   run over days 1-3, and the sensor switched on, which finds the API's new records and requests
   the extraction. Every run must finish, none with a lock error. (The automation sensor is
   off on this platform, so the runs under test are the ones launched here.)
2. ``built_platform``: ``finmatch-initial-load`` (what ``make run`` calls) finds every day landed
   but day 4 not built (the manual run covered days 1-3), and builds from there: the facts for
   day 4 and every mart and report over all days. Then the outputs are checked against the source.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from finmatch_platform.landing_zone.schemas import BULK_LOADED_ENTITIES, ENTITIES
from finmatch_platform.webserver_client import RANGE_END_TAG, RANGE_START_TAG, RUN_DONE, RunState
from finmatch_platform_tests.helpers.api import expected_feed
from finmatch_platform_tests.helpers.browser import dump_dom
from finmatch_platform_tests.helpers.extraction import assert_table_equals, checksum, latest_state_sql
from finmatch_platform_tests.helpers.live import LivePlatform

# The first test pays for the scenario (a few minutes of real runs); the rest read its outcome.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

LOCATION = "finmatch_platform"
SOURCE_GROUPS = ("synthetic", "ingestion")
SENSOR_TAG = "dagster/sensor_name"
BACKFILL_TAG = "dagster/backfill"
# What DuckDB says when a second process opens a file another holds for writing.
LOCK_ERRORS = ("could not set lock", "conflicting lock", "database is locked")
FOCUS_REPORTS = 4


@dataclass
class Activity:
    backfill_id: str
    manual_run_id: str
    runs: list[RunState]
    active_together: set[frozenset[str]]  # kinds of run seen queued or running at the same moment

    def of_kind(self, kind: str) -> list[RunState]:
        return [r for r in self.runs if _kind(r, self.backfill_id, self.manual_run_id) == kind]


def _kind(run: RunState, backfill_id: str, manual_run_id: str) -> str:
    if run.id == manual_run_id:
        return "manual"
    if run.tags.get(BACKFILL_TAG) == backfill_id:
        return "backfill"
    if run.tags.get(SENSOR_TAG) == "fpr_api_sensor":
        return "sensor"
    return "other"


def _source_assets(live: LivePlatform) -> list[tuple[str, ...]]:
    return [n.path for n in live.client.asset_nodes() if n.group in SOURCE_GROUPS and n.partitioned]


@pytest.fixture(scope="module")
def concurrent_activity(live_platform: LivePlatform) -> Activity:
    live, client = live_platform, live_platform.client
    days = [d.isoformat() for d in live.days]
    source = _source_assets(live)

    client.set_sensor("fpr_api_sensor", running=False, location=LOCATION)
    first = client.launch_asset_backfill(source, [], (days[0], days[2]), title="test: land days 1-3")
    live.wait_for(lambda: client.backfill(first).done, 300, "the first landing backfill")
    assert client.backfill(first).succeeded
    assert not [r for r in client.runs() if r.job == "fpr_extraction"], "the paused sensor requested a run"

    # Together: a backfill, a manual materialization and the sensor (which sees the API's new data).
    backfill_id = client.launch_asset_backfill(source, [], (days[3], days[3]), title="test: land day 4")
    manual_run_id = client.launch_job(
        "refresh_warehouse", location=LOCATION, tags={RANGE_START_TAG: days[0], RANGE_END_TAG: days[2]}
    )
    client.set_sensor("fpr_api_sensor", running=True, location=LOCATION)

    together: set[frozenset[str]] = set()

    def all_three_done() -> bool:
        runs = client.runs()
        active = frozenset(
            kind for r in runs if r.status not in RUN_DONE and (kind := _kind(r, backfill_id, manual_run_id)) != "other"
        )
        if len(active) > 1:
            together.add(active)
        kinds = {_kind(r, backfill_id, manual_run_id) for r in runs if r.status in RUN_DONE}
        return {"manual", "sensor", "backfill"} <= kinds and client.backfill(backfill_id).done

    live.wait_for(all_three_done, 420, "the backfill, the manual run and a sensor run", poll_s=0.5)
    runs = live.wait_until_quiet()
    return Activity(backfill_id, manual_run_id, runs, together)


def test_a_backfill_a_sensor_run_and_a_manual_run_launched_together_all_succeed_without_lock_errors(
    live_platform: LivePlatform, concurrent_activity: Activity
) -> None:
    activity = concurrent_activity
    failed = [f"{r.job} {r.id[:8]}: {r.status}" for r in activity.runs if r.status != "SUCCESS"]
    assert not failed, f"runs that did not succeed: {failed}"
    assert live_platform.client.backfill(activity.backfill_id).succeeded
    assert activity.of_kind("manual") and activity.of_kind("backfill") and activity.of_kind("sensor")
    # They really overlapped: queued or running at the same moment, sharing the warehouse pool.
    assert any(len(kinds) >= 2 for kinds in activity.active_together), activity.active_together
    for run in activity.runs:
        messages = "\n".join(live_platform.client.run_messages(run.id)).lower()
        assert not any(error in messages for error in LOCK_ERRORS), f"lock error in {run.job} {run.id}"


def test_the_sensor_requested_the_extraction_once_per_high_water_mark(concurrent_activity: Activity) -> None:
    sensor_runs = concurrent_activity.of_kind("sensor")
    assert sensor_runs and all(r.job == "fpr_extraction" for r in sensor_runs)
    run_keys = [r.tags.get("dagster/run_key") for r in sensor_runs]
    assert all(run_keys) and len(set(run_keys)) == len(run_keys), run_keys


# --------------------------------------------------------------------------------------------
# End to end: build over every day with the initial-load command, check against the source


@pytest.fixture(scope="module")
def built_platform(live_platform: LivePlatform, concurrent_activity: Activity) -> str:
    """Runs ``finmatch-initial-load`` as ``make run`` does; returns what it printed."""
    completed = subprocess.run(
        [sys.executable, "-m", "finmatch_platform.initial_load", "--url", live_platform.ui_url, "--poll", "1"],
        env=live_platform.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    live_platform.wait_until_quiet()
    return completed.stdout


def test_the_initial_load_builds_every_day_once_the_days_are_landed(
    live_platform: LivePlatform, built_platform: str
) -> None:
    last = live_platform.days[-1].isoformat()
    assert f"every day is landed; building the warehouse for {last} to {last}" in built_platform
    assert "all" in built_platform and "assets materialized" in built_platform
    states = live_platform.client.asset_states(n.path for n in live_platform.client.asset_nodes() if n.materializable)
    assert states and all(s.materialized_at is not None for s in states)
    # Run again, it finds nothing to do: the load is idempotent and restart-safe.
    again = subprocess.run(
        [sys.executable, "-m", "finmatch_platform.initial_load", "--url", live_platform.ui_url],
        env=live_platform.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "nothing to load" in again.stdout, again.stdout + again.stderr


def test_end_to_end_the_warehouse_matches_the_source(
    live_platform: LivePlatform, built_platform: str, tmp_path: Path
) -> None:
    landing = live_platform.landing_dir
    with live_platform.snapshot(tmp_path / "snapshot") as conn:
        # Raw layer: every landed row of every day, column for column.
        for entity in BULK_LOADED_ENTITIES:
            columns = tuple(ENTITIES[entity].names)
            files = sorted(str(p) for p in (landing / entity).glob("date=*/part-0.parquet"))
            assert len(files) == len(live_platform.days), entity
            source_sql = f"select * from read_parquet({files!r})"
            assert checksum(conn, f"select * from raw.{entity}", columns) == checksum(conn, source_sql, columns), entity

        # The FPR feed, pulled through the API by the sensor's runs: the source's latest state.
        assert_table_equals(conn, latest_state_sql(landing))
        live_records = sum(1 for r in expected_feed(landing) if not r["_deleted"])
        assert live_records == conn.execute("select count(*) from raw.fpr_records where not _deleted").fetchone()[0]

        # Marts over all four days (automation alone would only build the latest day's facts).
        days, txns, amount = conn.execute(
            "select count(distinct transaction_date), sum(transactions), round(sum(spend_amount), 2) "
            "from marts.fct_transactions_daily"
        ).fetchone()
        source_txns, source_amount = conn.execute(
            f"select count(*), round(sum(amount), 2) from read_parquet("
            f"{sorted(str(p) for p in (landing / 'transactions').glob('date=*/part-0.parquet'))!r})"
        ).fetchone()
        assert (days, txns) == (len(live_platform.days), source_txns)
        assert float(amount) == pytest.approx(float(source_amount), abs=0.01)
        recommended = conn.execute(
            "select recommendations from marts.recommendation_kpis where kpi_id = 'overall:All'"
        ).fetchone()[0]
        assert recommended == live_records

        # Reports: one row per focus area in the history, each with every number grounded.
        reports = conn.execute(
            "select count(distinct focus_area), bool_and(grounded) from meta.insight_history"
        ).fetchone()
        assert reports == (FOCUS_REPORTS, True)


# --------------------------------------------------------------------------------------------
# The UI in headless Chromium


def _wait_for_text(chromium: str, url: str, needles: list[str], profile: Path, attempts: int = 3) -> str:
    dom = ""
    for attempt in range(attempts):
        dom = dump_dom(chromium, url, profile / str(attempt), budget_ms=15_000 * (attempt + 1))
        if all(n in dom for n in needles):
            return dom
        time.sleep(2)
    missing = [n for n in needles if n not in dom]
    raise AssertionError(f"{url} never showed {missing} ({len(dom)} characters of DOM)")


def test_the_ui_shows_the_asset_graph_groups_and_an_assets_latest_metadata(
    live_platform: LivePlatform, built_platform: str, chromium: str, tmp_path: Path
) -> None:
    groups = sorted({n.group for n in live_platform.client.asset_nodes()})
    assert {"synthetic", "ingestion", "extraction", "customers", "staging", "insights"} <= set(groups)
    _wait_for_text(chromium, f"{live_platform.ui_url}/asset-groups", groups, tmp_path / "graph")
    # raw/fpr_records' latest materialization, with the extraction's metadata entries.
    _wait_for_text(
        chromium,
        f"{live_platform.ui_url}/assets/raw/fpr_records?view=events",
        ["cursor_after", "upserts", "checkpoints"],
        tmp_path / "asset",
    )
