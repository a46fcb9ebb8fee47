"""The connector engine on PayScore's screening groups, against a real ``finmatch-payscore-api`` on
loopback: full and incremental syncs, the initial window, page drift, kill -9 and resume, retries.

Every expectation comes from the landing Parquet (``expected_screening_groups``) or from the live
server paged after its drift (``stable_state``), never from the engine itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from finmatch_platform.landing_zone.layout import write_partition
from finmatch_platform.landing_zone.schemas import SCREENING_GROUPS
from finmatch_platform.lib.connectors import sources
from finmatch_platform.lib.connectors.declaration import PageNumberPaging, RestSource
from finmatch_platform.lib.connectors.http import AuthError, RetriesExhausted
from finmatch_platform.lib.connectors.paging import Changes, RestPager, decode_anchor
from finmatch_platform.lib.connectors.sync import recover
from finmatch_platform.lib.connectors.writer import read_state
from finmatch_platform.lib.retry import RetryPolicy
from finmatch_platform.resources.vendor_apis import PayScoreApiResource
from finmatch_platform.simulator.api.faults import FaultConfig
from finmatch_platform.simulator.api.faults import decide as fault_fate
from finmatch_platform_tests.helpers.core import REPO_ROOT
from finmatch_platform_tests.helpers.extraction import (
    CHILD_KEY_ENV,
    checkpoint_dir,
    checksum,
    child_sync_command,
    differences,
    payscore_client,
    payscore_sync_into,
    run_and_kill,
    table_exists,
)
from finmatch_platform_tests.helpers.payscore import (
    _UTC,
    PAYSCORE_TEST_API_KEY,
    SG,
    SG_COLUMNS,
    SG_TABLE,
    LivePayScore,
    day_start,
    expected_screening_groups,
    land_screening_group_days,
    naive_walk,
    order_key,
    payscore_generation_config,
    stable_state,
    table_rows,
)

# --------------------------------------------------------------------------- helpers


def column_types(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'screening_group'"
        ).fetchall()
    )


def assert_no_duplicate_ids(conn: duckdb.DuckDBPyConnection, table: str = SG_TABLE) -> None:
    duplicates = conn.execute(f"select count(*) - count(distinct id) from {table}").fetchone()[0]
    assert duplicates == 0, f"{duplicates} duplicate ids in {table}"


def assert_same_table(conn: duckdb.DuckDBPyConnection, other: str, table: str = SG_TABLE) -> None:
    """``table`` equals ``other`` on every documented column (``_synced_at`` aside), as multisets."""
    left, right = f"select * from {other}", f"select * from {table}"
    diff = differences(conn, left, right, SG_COLUMNS)
    assert not diff, f"{table} differs from {other}, e.g. {diff}"
    assert checksum(conn, right, SG_COLUMNS) == checksum(conn, left, SG_COLUMNS)
    assert_no_duplicate_ids(conn, table)


def stream_state(conn: duckdb.DuckDBPyConnection) -> Any:
    return read_state(conn, SG.name)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


# --------------------------------------------------------------------------- full and incremental


def test_a_full_sync_then_an_incremental_one_mirror_the_sources_latest_state(
    start_payscore_api: Callable[..., LivePayScore], landing: Path, warehouse_file: Path, open_warehouse: Any
) -> None:
    config = payscore_generation_config()
    land_screening_group_days(landing, config, 3)
    api = start_payscore_api(landing)
    first_at = dt.datetime(2026, 12, 1, 8, 0, tzinfo=_UTC)

    first = payscore_sync_into(
        warehouse_file, api.base_url, api.api_key, page_size=40, checkpoint_every=80, now=lambda: first_at
    )

    before = expected_screening_groups(landing)
    conn = open_warehouse(warehouse_file)
    assert table_rows(conn) == before
    assert (first.records, first.inserted, first.updated, first.quarantined) == (len(before), len(before), 0, 0)
    assert first.rows_in_table == len(before) and first.cursor_before is None
    assert first.checkpoints >= len(before) // 80
    assert column_types(conn) == {
        "id": "VARCHAR",
        "name": "VARCHAR",
        "description": "VARCHAR",
        "status": "VARCHAR",
        "created_at": "TIMESTAMP WITH TIME ZONE",
        "updated_at": "TIMESTAMP WITH TIME ZONE",
        "organization_id": "VARCHAR",
        "settings": "JSON",
        "member_count": "BIGINT",
        "_synced_at": "TIMESTAMP WITH TIME ZONE",
    }
    # settings is a JSON object the warehouse can query, not text that merely looks like one.
    verification = dict(conn.execute(f"select id, settings->>'$.verification_type' from {SG_TABLE}").fetchall())
    assert verification == {g["id"]: g["settings"]["verification_type"] for g in before}
    assert conn.execute(f"select distinct json_type(settings) from {SG_TABLE}").fetchall() == [("OBJECT",)]
    assert conn.execute(f"select distinct _synced_at from {SG_TABLE}").fetchall() == [(first_at,)]
    watermark = decode_anchor(stream_state(conn).cursor)
    assert watermark == order_key(before[-1]) and first.cursor_after == stream_state(conn).cursor
    conn.close()

    with payscore_client(api.base_url, api.api_key) as client:
        assert RestPager(client, SG).changes(first.cursor_after) == Changes(0, None)
        new_day = config.start_date + dt.timedelta(days=3)
        land_screening_group_days(landing, config, [new_day])
        pending = RestPager(client, SG).changes(first.cursor_after)

    second_at = dt.datetime(2026, 12, 2, 8, 0, tzinfo=_UTC)
    second = payscore_sync_into(warehouse_file, api.base_url, api.api_key, page_size=40, now=lambda: second_at)

    after = expected_screening_groups(landing)
    changed = expected_screening_groups(landing, updated_since=day_start(new_day))
    assert pending.count == 1 and pending.mark == f"{changed[0]['updated_at']}/{changed[0]['id']}"
    known = {g["id"] for g in before}
    created = [g for g in changed if g["id"] not in known]
    # Each sync re-reads the lookback window before the stored watermark (late commits at the
    # vendor); those groups are upserted again unchanged, and counted as updates.
    reread = {g["id"] for g in before if order_key(g)[0] >= watermark[0] - SG.paging.lookback}
    reread -= {g["id"] for g in changed}
    assert created and len(changed) > len(created) and reread
    assert second.cursor_before == first.cursor_after
    assert second.records == len(changed) + len(reread)
    assert (second.inserted, second.updated) == (len(created), len(changed) - len(created) + len(reread))
    conn = open_warehouse(warehouse_file)
    assert table_rows(conn) == after
    touched = {r[0] for r in conn.execute(f"select id from {SG_TABLE} where _synced_at = ?", [second_at]).fetchall()}
    assert touched == {g["id"] for g in changed} | reread  # nothing else was rewritten
    assert decode_anchor(stream_state(conn).cursor) == order_key(after[-1])


def test_the_first_sync_fetches_only_groups_updated_inside_the_initial_window(
    start_payscore_api: Callable[..., LivePayScore], landing: Path, warehouse_file: Path, open_warehouse: Any
) -> None:
    config = payscore_generation_config()
    land_screening_group_days(landing, config, 4)
    api = start_payscore_api(landing)
    since = dt.datetime.combine(config.start_date + dt.timedelta(days=2), dt.time(12), _UTC)

    summary = payscore_sync_into(warehouse_file, api.base_url, api.api_key, page_size=25, initial_since=since)

    window = expected_screening_groups(landing, updated_since=since)
    everything = expected_screening_groups(landing)
    assert 0 < len(window) < len(everything) / 4  # the opening day's groups lie before the window
    assert table_rows(open_warehouse(warehouse_file)) == window
    assert summary.records == summary.inserted == len(window)


# --------------------------------------------------------------------------- page drift


def test_a_sync_over_a_drifting_feed_ends_at_its_stable_state_where_a_page_walker_does_not(
    start_payscore_api: Callable[..., LivePayScore], landing: Path, warehouse_file: Path, open_warehouse: Any
) -> None:
    land_screening_group_days(landing, payscore_generation_config(), 3)
    source = expected_screening_groups(landing)
    drift = {"drift_updates": 3, "drift_requests": 8, "drift_seed": 1}
    api = start_payscore_api(landing, **drift)

    summary = payscore_sync_into(warehouse_file, api.base_url, api.api_key, page_size=20, checkpoint_every=40)

    # The drift budget was spent while the sync paged, so what it read last is the final state.
    assert summary.requests > drift["drift_requests"] and api.health()["drift_requests_left"] == 0
    stable = stable_state(api)
    synced = table_rows(open_warehouse(warehouse_file))
    assert synced == stable
    drifted = [g for g in synced if g["updated_at"] > source[-1]["updated_at"]]
    assert len(drifted) > drift["drift_updates"], "groups changed mid-sync should have been fetched again"
    assert summary.updated + summary.duplicates_in_batch > 0  # groups met twice: once before their drift

    # The vendor document's own loop, fixed updated_since and pages 1..total_pages, over the same drift.
    walker_api = start_payscore_api(landing, **drift)
    walked = naive_walk(walker_api, per_page=20)
    walker_stable = stable_state(walker_api)
    seen = Counter(g["id"] for g in walked)
    missed = {g["id"] for g in walker_stable} - set(seen)
    repeated = {gid for gid, count in seen.items() if count > 1}
    assert missed or repeated, "a naive page walker should miss or repeat groups while the feed drifts"
    assert {g["id"]: g for g in walked} != {g["id"]: g for g in walker_stable}


def _groups(day: dt.date, versions: list[tuple[str, dt.time]]) -> pa.Table:
    """Hand-built screening groups: (id, time of day of updated_at) each, the other fields fixed."""
    rows = []
    for gid, at in versions:
        moment = dt.datetime.combine(day, at, _UTC)
        rows.append(
            {
                "id": gid,
                "name": f"Group {gid}",
                "description": None,
                "status": "active",
                "created_at": dt.datetime.combine(day, dt.time(8), _UTC),
                "updated_at": moment,
                "organization_id": "org_00000000000a",
                "settings": json.dumps({"verification_type": "income"}),
                "member_count": len(rows),
            }
        )
    return pa.Table.from_pylist(rows, schema=SCREENING_GROUPS)


def _sync_a_tie_updated_mid_walk(
    start_payscore_api: Callable[..., LivePayScore],
    landing: Path,
    warehouse_file: Path,
    open_warehouse: Any,
    source: RestSource | None = None,
) -> tuple[list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Five groups sharing one updated_at and a sixth after them, synced two to a page while the
    tie's first group gets a new version after the second request (a day lands; the server serves
    it from its next request on). Returns the tie's ids, the source's latest state and the table."""
    first_day, next_day = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
    tie = [f"sg_{c * 16}" for c in "abcde"]
    write_partition(
        landing,
        "screening_groups",
        first_day,
        _groups(first_day, [(g, dt.time(9)) for g in tie] + [("sg_" + "f" * 16, dt.time(10))]),
    )
    api = start_payscore_api(landing)

    def update_first_of_tie(pages: int, _records: int) -> None:
        if pages == 2:  # the second request found nothing new: the next one asks past it
            write_partition(landing, "screening_groups", next_day, _groups(next_day, [(tie[0], dt.time(9))]))

    payscore_sync_into(
        warehouse_file, api.base_url, api.api_key, page_size=2, on_page=update_first_of_tie, source=source
    )
    return tie, expected_screening_groups(landing), table_rows(open_warehouse(warehouse_file))


def test_a_group_updated_while_the_sync_steps_through_a_tie_larger_than_a_page_is_not_skipped(
    start_payscore_api: Callable[..., LivePayScore], landing: Path, warehouse_file: Path, open_warehouse: Any
) -> None:
    # Five groups share one updated_at (a bulk import), more than a page of two, so the engine
    # steps through the tie by page number. The tie's first group gets a new version between two
    # of those requests (a day lands; the server serves it from its next request on), which moves
    # it to the end of the feed and shifts the rest of the tie one place towards the start.
    tie, expected, synced = _sync_a_tie_updated_mid_walk(start_payscore_api, landing, warehouse_file, open_warehouse)
    assert len(expected) == 6 and expected[-1]["id"] == tie[0]
    assert [g["id"] for g in synced] == [g["id"] for g in expected], "a group of the tie was skipped"
    assert synced == expected


def test_a_tie_beyond_the_apis_largest_page_is_stepped_through_and_read_again_until_none_is_missed(
    start_payscore_api: Callable[..., LivePayScore], landing: Path, warehouse_file: Path, open_warehouse: Any
) -> None:
    # A vendor whose pages hold at most two groups: the tie of five cannot be read in one answer,
    # so the engine steps through it by page number. The tie's first group is updated between two
    # of those requests, which shifts the rest one place and makes the walk skip one; the engine
    # must find it when it reads the tie again on leaving it.
    capped = dataclasses.replace(
        sources.screening_groups(), paging=PageNumberPaging(max_page_size=2), default_page_size=2
    )
    tie, expected, synced = _sync_a_tie_updated_mid_walk(
        start_payscore_api, landing, warehouse_file, open_warehouse, source=capped
    )
    assert len(expected) == 6 and expected[-1]["id"] == tie[0]
    assert [g["id"] for g in synced] == [g["id"] for g in expected], "a group of the tie was skipped"


# --------------------------------------------------------------------------- kill -9 and resume


def test_a_sync_killed_at_any_point_resumes_to_the_same_table(
    start_payscore_api: Callable[..., LivePayScore],
    tmp_path: Path,
    landing: Path,
    warehouse_file: Path,
    open_warehouse: Any,
) -> None:
    land_screening_group_days(landing, payscore_generation_config(screening_groups=3000), 2)
    api = start_payscore_api(landing)
    expected = expected_screening_groups(landing)
    total = len(expected)
    # A checkpoint about every third page and a merge about every fourth checkpoint: kills land
    # while pages arrive, right after checkpoints are appended and while merges commit.
    page_size, checkpoint_every, merge_every = 50, 120, 500

    reference = tmp_path / "reference.duckdb"
    payscore_sync_into(reference, api.base_url, api.api_key, page_size=page_size, checkpoint_every=checkpoint_every)

    env = {**os.environ, CHILD_KEY_ENV["payscore"]: api.api_key, "PYTHONPATH": str(REPO_ROOT)}
    command = child_sync_command(
        warehouse_file,
        api.base_url,
        page_size=page_size,
        checkpoint_every=checkpoint_every,
        merge_every=merge_every,
        source="payscore",
    )
    kills = [
        ("page", 1, 0.0),
        ("checkpoint", 1, 0.0),
        ("page", 4, 0.0),
        ("checkpoint", 2, 0.003),
        ("page", 5, 0.001),
        ("checkpoint", 4, 0.006),
        ("page", 7, 0.0),
        ("checkpoint", 1, 0.0),
    ]
    outcomes = []
    warehouse_file.parent.mkdir(parents=True, exist_ok=True)
    for trigger, k, pause in kills:
        run_and_kill(command, env, REPO_ROOT, trigger, k, pause)

        # What survived is consistent: once the log is merged, the table holds each group once,
        # exactly as the source has it, and exactly the groups up to the stored watermark.
        conn = open_warehouse(warehouse_file)
        recover(conn, SG, log_dir=checkpoint_dir(warehouse_file))
        state = stream_state(conn)
        if state is None:
            assert not table_exists(conn, "raw", "screening_group") or table_rows(conn) == []
            outcomes.append(0)
        else:
            watermark = decode_anchor(state.cursor)
            assert_no_duplicate_ids(conn)
            assert table_rows(conn) == [g for g in expected if order_key(g) <= watermark]
            outcomes.append(conn.execute(f"select count(*) from {SG_TABLE}").fetchone()[0])
        conn.close()

    # Kills landed at many different points, before the first checkpoint and mid-stream.
    assert outcomes[0] == 0 and len(set(outcomes)) >= 5 and max(outcomes) < total, outcomes
    finished = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines()[-1].split()[-1] == str(total)

    conn = open_warehouse(warehouse_file)
    conn.execute(f"attach '{reference}' as reference (read_only)")
    assert_same_table(conn, "reference.raw.screening_group")
    assert table_rows(conn) == expected


# --------------------------------------------------------------------------- retries and keys


def _expected_faults(config: FaultConfig, successes: int) -> dict[str, int]:
    """The faults the server injects before ``successes`` requests pass, by kind."""
    counts = {"drop": 0, "rate_limit": 0, "error": 0}
    n = passed = 0
    while passed < successes:
        kind = fault_fate(config, n).kind
        if kind == "pass":
            passed += 1
        else:
            counts[kind] += 1
        n += 1
    return counts


def test_injected_429s_5xx_and_dropped_connections_are_retried_and_lose_nothing(
    start_payscore_api: Callable[..., LivePayScore], landing: Path, warehouse_file: Path, open_warehouse: Any
) -> None:
    land_screening_group_days(landing, payscore_generation_config(), 3)
    faults = dict(seed=4, rate_limit=0.08, error_rate=0.15, drop_rate=0.1, latency_ms=2, retry_after=1)
    api = start_payscore_api(landing, **faults)

    summary = payscore_sync_into(warehouse_file, api.base_url, api.api_key, page_size=25, checkpoint_every=50)

    assert table_rows(open_warehouse(warehouse_file)) == expected_screening_groups(landing)
    # One client in sequence: the n-th request meets the n-th seeded fault, so the count is exact.
    injected = _expected_faults(FaultConfig(**faults), summary.pages)
    assert min(injected.values()) >= 1, injected
    assert summary.retries == sum(injected.values())
    assert summary.requests == summary.pages + summary.retries
    assert summary.wait_s >= 0.9 * injected["rate_limit"]  # each 429 asked for a second


def test_retries_that_run_out_fail_the_sync_and_a_rerun_resumes_from_the_watermark(
    start_payscore_api: Callable[..., LivePayScore], landing: Path, warehouse_file: Path, open_warehouse: Any
) -> None:
    land_screening_group_days(landing, payscore_generation_config(), 3)
    flaky = start_payscore_api(landing, seed=5, error_rate=0.5)

    with pytest.raises(RetriesExhausted, match=r"gave up after 2 attempts .* HTTP 5\d\d"):
        payscore_sync_into(
            warehouse_file,
            flaky.base_url,
            flaky.api_key,
            page_size=10,
            checkpoint_every=10,
            policy=RetryPolicy(max_attempts=2, base_delay_s=0.01),
        )
    conn = open_warehouse(warehouse_file)
    state = stream_state(conn)
    if state is not None:  # the checkpoints before the failure were kept, each group once
        assert_no_duplicate_ids(conn)
        assert table_rows(conn) == [
            g for g in expected_screening_groups(landing) if order_key(g) <= decode_anchor(state.cursor)
        ]
    conn.close()

    healthy = start_payscore_api(landing)
    summary = payscore_sync_into(warehouse_file, healthy.base_url, healthy.api_key, page_size=10)

    assert summary.cursor_before == (state.cursor if state else None)
    assert table_rows(open_warehouse(warehouse_file)) == expected_screening_groups(landing)


def test_a_wrong_key_fails_at_once_naming_the_variable_and_writes_nothing(
    start_payscore_api: Callable[..., LivePayScore], landing: Path, warehouse_file: Path, open_warehouse: Any
) -> None:
    land_screening_group_days(landing, payscore_generation_config(), 1)
    api = start_payscore_api(landing)
    resource = PayScoreApiResource(api_key="not-the-key", base_url=api.base_url, retry_attempts=5)
    conn = open_warehouse(warehouse_file)

    with pytest.raises(AuthError) as failure:
        resource.sync(conn, log_dir=checkpoint_dir(warehouse_file))

    message = str(failure.value)
    assert "FINMATCH_PAYSCORE_API_KEY" in message and "HTTP 401" in message
    assert "not-the-key" not in message and PAYSCORE_TEST_API_KEY not in message
    assert failure.value.attempts == 1 and failure.value.status == 401
    assert conn.execute("select count(*) from duckdb_tables()").fetchone() == (0,)
    assert conn.execute("select count(*) from duckdb_schemas() where schema_name in ('raw', 'meta')").fetchone() == (0,)
