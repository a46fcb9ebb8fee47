"""The connector engine on the FPR source: connector semantics, first against a scripted feed (fast,
every edge), then against the real FPR API server on loopback with generated change logs."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone import schemas
from finmatch_platform.lib.connectors import sources
from finmatch_platform.lib.connectors.columns import infer_sql_type
from finmatch_platform.lib.connectors.http import (
    AuthError,
    ClientStats,
    ProtocolError,
    RequestRejected,
    RetriesExhausted,
)
from finmatch_platform.lib.connectors.paging import Page, RestPager
from finmatch_platform.lib.connectors.sync import CheckpointProgress, SyncError, recover, sync_source
from finmatch_platform.lib.connectors.writer import read_state as read_stream_state
from finmatch_platform.lib.retry import RetryPolicy
from finmatch_platform.simulator.api.faults import FaultConfig
from finmatch_platform.simulator.api.faults import decide as fault_fate
from finmatch_platform_tests.helpers.api import FPR_TEST_API_KEY, LiveApi
from finmatch_platform_tests.helpers.core import REPO_ROOT
from finmatch_platform_tests.helpers.extraction import (
    FAST_RETRIES,
    FPR_COLUMNS,
    assert_table_equals,
    checkpoint_dir,
    checksum,
    child_sync_command,
    fpr_client,
    generation_config,
    land_days,
    latest_state_sql,
    run_and_kill,
    sync_into,
    table_exists,
)

FPR = sources.fpr_records()
T0 = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)


# =========================================================================== a scripted feed


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(n: int, minute: int = 0, **fields: Any) -> dict[str, Any]:
    """A feed record as the API renders it (JSON types), with a few fields set."""
    out: dict[str, Any] = {name: None for name in FPR_COLUMNS}
    out.update(
        record_id=f"FPR{n:010d}",
        customer_id=f"C{n:09d}",
        account_balance=100.5 + n,
        customer_transaction_count=n % 7,
        product_recommendation_date="2026-10-01",
        updated_at=_iso(T0 + dt.timedelta(minutes=minute, microseconds=n)),
        _deleted=False,
    )
    out.update(fields)
    return out


def tombstone(n: int, minute: int) -> dict[str, Any]:
    out: dict[str, Any] = {name: None for name in FPR_COLUMNS}
    out.update(record_id=f"FPR{n:010d}", updated_at=_iso(T0 + dt.timedelta(minutes=minute)), _deleted=True)
    return out


class ScriptedFeed:
    """A change feed in memory with the API's paging contract; cursors are plain offsets."""

    def __init__(self, records: list[Any] | None = None) -> None:
        self.records: list[Any] = list(records or [])
        self.stats = ClientStats()
        self.requests: list[tuple[str | None, int]] = []
        self.page_size = 100

    def fetch_page(self, cursor: str | None, page_size: int) -> tuple[list[Any], str, bool]:
        self.requests.append((cursor, page_size))
        start = int(cursor[1:]) if cursor else 0
        stop = min(start + page_size, len(self.records))
        return list(self.records[start:stop]), f"@{stop}", stop < len(self.records)

    def pages(self, position: str | None) -> Any:
        while True:
            records, position, more = self.fetch_page(position, self.page_size)
            yield Page(records, position)
            if not more:
                return


def read_state(conn: duckdb.DuckDBPyConnection) -> Any:
    return read_stream_state(conn, "fpr_records")


@pytest.fixture
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "unit.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def sync(tmp_path: Path) -> Any:
    """sync(conn, feed, page_size=..., **options): one sync of a scripted feed, its log under tmp_path."""

    def run(conn: duckdb.DuckDBPyConnection, feed: ScriptedFeed, *, page_size: int = 100, **options: Any) -> Any:
        feed.page_size = page_size
        return sync_source(conn, FPR, feed, log_dir=tmp_path / "checkpoints", **options)

    return run


def _rows(
    conn: duckdb.DuckDBPyConnection, sql: str = "select record_id, _deleted from raw.fpr_records order by 1"
) -> list[tuple[Any, ...]]:
    return conn.execute(sql).fetchall()


def test_records_land_typed_with_sync_stamp_and_cursor(conn, sync) -> None:
    feed = ScriptedFeed([record(i, minute=i) for i in range(1, 6)])

    summary = sync(conn, feed, page_size=2, checkpoint_every=2, now=lambda: T0)

    assert (summary.records, summary.inserted, summary.updated, summary.deleted) == (5, 5, 0, 0)
    assert (summary.pages, summary.checkpoints, summary.rows_in_table) == (3, 3, 5)
    assert (summary.cursor_before, summary.cursor_after) == (None, "@5")
    types = dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns where table_name = 'fpr_records'"
        ).fetchall()
    )
    assert types["account_balance"] == "DOUBLE" and types["customer_transaction_count"] == "INTEGER"
    assert types["product_recommendation_date"] == "DATE" and types["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["_deleted"] == "BOOLEAN" and types["_synced_at"] == "TIMESTAMP WITH TIME ZONE"
    row = conn.execute(
        "select account_balance, product_recommendation_date, updated_at, _synced_at from raw.fpr_records where record_id = 'FPR0000000003'"
    ).fetchone()
    assert row == (103.5, dt.date(2026, 10, 1), T0 + dt.timedelta(minutes=3, microseconds=3), T0)
    assert read_state(conn).cursor == "@5"


@pytest.mark.parametrize(
    ("page_size", "checkpoint_every", "commits_after_records"),
    [
        (10, 10, [10, 20, 30, 35]),  # a page is exactly a checkpoint
        (10, 25, [30, 35]),  # boundaries round up to the next page: the cursor is opaque
        (10, 1, [10, 20, 30, 35]),  # pages bigger than the interval: one checkpoint per page
        (100, 100, [35]),  # everything in the tail
    ],
)
def test_checkpoints_fall_on_the_first_page_boundary_at_or_after_n_records(
    conn, sync, page_size: int, checkpoint_every: int, commits_after_records: list[int]
) -> None:
    feed = ScriptedFeed([record(i, minute=i) for i in range(35)])
    seen: list[CheckpointProgress] = []

    summary = sync(conn, feed, page_size=page_size, checkpoint_every=checkpoint_every, on_checkpoint=seen.append)

    assert [p.records for p in seen] == commits_after_records
    assert [p.checkpoint for p in seen] == list(range(1, len(seen) + 1))
    assert seen[-1].position == "@35" and summary.checkpoints == len(commits_after_records)


def test_changes_upsert_by_record_id_and_tombstones_soft_delete(conn, sync) -> None:
    feed = ScriptedFeed([record(i, minute=i) for i in range(1, 5)])
    sync(conn, feed, checkpoint_every=2, page_size=2)

    feed.records += [
        record(2, minute=10, account_balance=999.0),  # update
        tombstone(3, minute=11),  # delete a known record: keep its values, flag it
        tombstone(77, minute=12),  # delete a record never seen: a tombstone row
        record(5, minute=13),  # insert
        record(4, minute=14, account_balance=1.0),
        record(4, minute=15, account_balance=2.0),  # twice in one batch: the later version wins
    ]
    summary = sync(conn, feed, checkpoint_every=100, page_size=50)

    assert summary.cursor_before == "@4" and summary.cursor_after == "@10"
    assert (summary.records, summary.inserted, summary.updated, summary.deleted) == (6, 1, 2, 2)
    assert summary.duplicates_in_batch == 1 and summary.upserts == 3
    rows = {
        r[0]: r[1:]
        for r in conn.execute("select record_id, account_balance, _deleted, updated_at from raw.fpr_records").fetchall()
    }
    assert len(rows) == 6
    assert rows["FPR0000000002"][:2] == (999.0, False)
    assert rows["FPR0000000003"][:2] == (103.5, True)  # soft delete keeps the last values
    assert rows["FPR0000000003"][2] == T0 + dt.timedelta(minutes=11)  # ... with the tombstone's time
    assert rows["FPR0000000077"][:2] == (None, True)
    assert rows["FPR0000000004"][:2] == (2.0, False)

    feed.records.append(record(3, minute=20, account_balance=5.0))  # a deleted record comes back
    revived = sync(conn, feed)
    assert (revived.updated, revived.inserted) == (1, 0)
    assert conn.execute(
        "select account_balance, _deleted from raw.fpr_records where record_id = 'FPR0000000003'"
    ).fetchone() == (5.0, False)


def test_a_sync_with_nothing_new_writes_nothing(conn, sync) -> None:
    feed = ScriptedFeed([record(i) for i in range(3)])
    sync(conn, feed)
    stamp = read_state(conn).updated_at

    summary = sync(conn, feed)

    assert (summary.records, summary.checkpoints, summary.pages) == (0, 0, 1)
    assert summary.cursor_before == summary.cursor_after == "@3"
    assert read_state(conn).updated_at == stamp


def test_an_empty_feed_still_stores_its_cursor(conn, sync) -> None:
    summary = sync(conn, ScriptedFeed([]))
    assert (summary.records, summary.checkpoints, summary.rows_in_table) == (0, 1, 0)
    assert read_state(conn).cursor == "@0"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"record_id": None}, "record_id is null"),
        ({"record_id": ""}, "record_id is empty"),
        ({"record_id": "   "}, "record_id is empty"),
        ({"record_id": 12345}, "record_id must be a string, got int"),
        ("drop", "record_id is missing"),
    ],
)
def test_a_record_without_a_usable_key_goes_to_quarantine_not_the_table(conn, sync, bad: Any, reason: str) -> None:
    broken = record(2, minute=2)
    if bad == "drop":
        del broken["record_id"]
    else:
        broken.update(bad)
    feed = ScriptedFeed([record(1, minute=1), broken, record(3, minute=3)])

    summary = sync(conn, feed)

    assert (summary.records, summary.inserted, summary.quarantined) == (3, 2, 1)
    assert _rows(conn) == [("FPR0000000001", False), ("FPR0000000003", False)]
    source, why, raw, when = conn.execute(
        "select source, reason, payload, quarantined_at from meta.quarantine"
    ).fetchone()
    assert (source, why) == ("fpr_records", reason)
    assert json.loads(raw) == broken and when is not None


def test_a_record_that_is_not_an_object_is_quarantined(conn, sync) -> None:
    summary = sync(conn, ScriptedFeed([record(1), ["not", "a", "record"], 42]))
    assert summary.quarantined == 2
    reasons = sorted(r[0] for r in conn.execute("select reason from meta.quarantine").fetchall())
    assert reasons == ["record is not a JSON object but int", "record is not a JSON object but list"]


def test_a_value_that_does_not_fit_a_documented_column_widens_it_instead_of_refusing_the_record(conn, sync) -> None:
    feed = ScriptedFeed(
        [record(1), record(2, account_balance="lots"), record(3, product_recommendation_date="31/12/2026")]
    )

    summary = sync(conn, feed)

    assert (summary.inserted, summary.quarantined, summary.schema_changes) == (3, 0, 2)
    assert sorted(summary.widened_columns) == ["account_balance", "product_recommendation_date"]
    types = dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns where table_name = 'fpr_records'"
        ).fetchall()
    )
    assert types["account_balance"] == types["product_recommendation_date"] == "VARCHAR"
    rows = conn.execute(
        "select account_balance, product_recommendation_date from raw.fpr_records order by record_id"
    ).fetchall()
    assert rows == [("101.5", "2026-10-01"), ("lots", "2026-10-01"), ("103.5", "31/12/2026")]


def test_a_new_field_becomes_a_typed_column_counted_as_a_schema_change(conn, sync) -> None:
    feed = ScriptedFeed([record(1, minute=1)])
    sync(conn, feed)
    feed.records += [
        record(
            2,
            minute=2,
            nps=9,
            channel="app",
            consent=True,
            review_on="2026-12-01",
            seen_at="2026-10-02T10:00:00Z",
            meta={"a": 1},
        ),
        record(3, minute=3, nps=7, channel=None, consent=False, review_on=None, seen_at=None, meta=[1, 2]),
    ]

    summary = sync(conn, feed)

    assert summary.schema_changes == 6
    assert sorted(summary.new_columns) == ["channel", "consent", "meta", "nps", "review_on", "seen_at"]
    types = dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns where table_name = 'fpr_records'"
        ).fetchall()
    )
    assert [types[c] for c in ("nps", "channel", "consent", "review_on", "seen_at", "meta")] == [
        "BIGINT",
        "VARCHAR",
        "BOOLEAN",
        "DATE",
        "TIMESTAMP WITH TIME ZONE",
        "VARCHAR",
    ]
    rows = conn.execute(
        "select record_id, nps, channel, consent, review_on, meta from raw.fpr_records order by 1"
    ).fetchall()
    assert rows == [
        ("FPR0000000001", None, None, None, None, None),
        ("FPR0000000002", 9, "app", True, dt.date(2026, 12, 1), '{"a":1}'),
        ("FPR0000000003", 7, None, False, None, "[1,2]"),
    ]
    # Seen again: no further change.
    feed.records.append(record(4, minute=4, nps=3))
    assert sync(conn, feed).schema_changes == 0


def test_an_inferred_column_widens_when_a_value_does_not_fit(conn, sync) -> None:
    feed = ScriptedFeed([record(1, minute=1, score_v2=3)])
    first = sync(conn, feed)
    feed.records.append(record(2, minute=2, score_v2=3.5))
    widened = sync(conn, feed)
    feed.records.append(record(3, minute=3, score_v2="n/a"))
    to_text = sync(conn, feed)

    assert (first.schema_changes, widened.schema_changes, to_text.schema_changes) == (1, 1, 1)
    assert conn.execute(
        "select data_type from information_schema.columns where column_name = 'score_v2'"
    ).fetchone() == ("VARCHAR",)
    assert [r[0] for r in conn.execute("select score_v2 from raw.fpr_records order by record_id").fetchall()] == [
        "3.0",
        "3.5",
        "n/a",
    ]
    assert conn.execute("select count(*) from meta.quarantine").fetchone() == (0,)


@pytest.mark.parametrize(
    ("values", "sql_type"),
    [
        ([1, None, 2], "BIGINT"),
        ([1, 2.5], "DOUBLE"),
        ([True, None], "BOOLEAN"),
        (["2026-10-01"], "DATE"),
        (["2026-10-01T09:30:00.123456Z", "2026-10-01 09:30:00+05:30"], "TIMESTAMP WITH TIME ZONE"),
        (["2026-10-01T09:30:00"], "TIMESTAMP"),
        (["2026-13-45"], "VARCHAR"),
        (["x", 1], "VARCHAR"),
        ([None, None], "VARCHAR"),
        ([{"a": 1}], "VARCHAR"),
        ([2**70], "VARCHAR"),
    ],
)
def test_new_field_types_are_inferred_from_their_values(values: list[Any], sql_type: str) -> None:
    assert infer_sql_type(values) == sql_type


def test_full_refresh_resets_table_cursor_and_quarantine_then_reloads(conn, sync) -> None:
    feed = ScriptedFeed([record(1), {"record_id": None}, record(2, extra_field=1)])
    sync(conn, feed)
    conn.execute("alter table raw.fpr_records add column stale_column varchar")

    summary = sync(conn, feed, full_refresh=True)

    assert summary.full_refresh and summary.cursor_before == "@3" and feed.requests[-1][0] is None
    assert (summary.inserted, summary.quarantined, summary.schema_changes) == (2, 1, 1)
    columns = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_name = 'fpr_records'"
        ).fetchall()
    }
    assert "stale_column" not in columns and "extra_field" in columns
    assert conn.execute("select count(*) from meta.quarantine").fetchone() == (1,)


def test_a_failing_full_refresh_leaves_the_old_table_in_place(conn, sync) -> None:
    feed = ScriptedFeed([record(1), record(2)])
    sync(conn, feed)

    class Broken(ScriptedFeed):
        def fetch_page(self, cursor: str | None, page_size: int) -> Any:
            raise AuthError("GET /fpr_data: the FPR API refused the API key (HTTP 401): check FINMATCH_API_KEY")

    with pytest.raises(AuthError):
        sync(conn, Broken(), full_refresh=True)
    assert _rows(conn) == [("FPR0000000001", False), ("FPR0000000002", False)]
    assert read_state(conn).cursor == "@2"


def test_a_cursor_without_its_table_starts_over(conn, sync) -> None:
    feed = ScriptedFeed([record(1), record(2)])
    sync(conn, feed)
    conn.execute("drop table raw.fpr_records")

    summary = sync(conn, feed)

    assert summary.inserted == 2 and feed.requests[-1][0] is None


def test_lost_meta_tables_are_recreated_and_the_table_resynced_without_doubles(conn, sync) -> None:
    feed = ScriptedFeed([record(1), record(2)])
    sync(conn, feed)
    conn.execute("drop schema meta cascade")
    feed.records.append({"record_id": None})

    summary = sync(conn, feed)

    assert summary.cursor_before is None and (summary.updated, summary.quarantined) == (2, 1)
    assert _rows(conn) == [("FPR0000000001", False), ("FPR0000000002", False)]
    assert read_state(conn).cursor == "@3"


@pytest.mark.parametrize("merge_every", [1, 25, 1000])
def test_a_failure_mid_sync_keeps_every_complete_checkpoint_and_raises(conn, sync, merge_every: int) -> None:
    class FailsAt(ScriptedFeed):
        def fetch_page(self, cursor: str | None, page_size: int) -> Any:
            if cursor == "@30":
                raise RetriesExhausted("GET /fpr_data: gave up after 5 attempts")
            return super().fetch_page(cursor, page_size)

    feed = FailsAt([record(i, minute=i) for i in range(50)])
    with pytest.raises(RetriesExhausted, match="gave up"):
        sync(conn, feed, page_size=10, checkpoint_every=10, merge_every=merge_every)

    assert read_state(conn).cursor == "@30"
    assert conn.execute("select count(*) from raw.fpr_records").fetchone() == (30,)


def test_the_sync_restores_the_duckdb_and_interpreter_settings_it_tunes(conn, sync) -> None:
    import gc

    conn.execute("set threads = 2")
    sync(conn, ScriptedFeed([record(i) for i in range(30)]), page_size=10, checkpoint_every=10)
    with pytest.raises(RetriesExhausted):
        sync(conn, _FailingFeed(), page_size=10)

    assert conn.execute("select current_setting('checkpoint_threshold')").fetchone() == ("16.0 MiB",)
    assert conn.execute("select current_setting('threads')").fetchone() == (2,)
    assert gc.isenabled()


class _FailingFeed(ScriptedFeed):
    def fetch_page(self, cursor: str | None, page_size: int) -> Any:
        raise RetriesExhausted("GET /fpr_data: gave up after 5 attempts")


def test_a_rejected_stored_cursor_says_to_run_a_full_refresh(conn, sync) -> None:
    sync(conn, ScriptedFeed([record(1)]))

    class RejectsCursor(ScriptedFeed):
        def fetch_page(self, cursor: str | None, page_size: int) -> Any:
            raise RequestRejected(
                "GET /fpr_data: the FPR API rejected the request (HTTP 400: invalid_cursor: ...)", status=400
            )

    with pytest.raises(SyncError, match="full_refresh"):
        sync(conn, RejectsCursor())


# =========================================================================== the real server


@pytest.fixture
def generated_landing(tmp_path: Path) -> Path:
    """Three generated days: openings, then updates, new records and tombstones."""
    root = tmp_path / "landing"
    land_days(root, generation_config(), days=3)
    return root


def test_a_full_sync_equals_the_sources_latest_state(
    start_api, generated_landing: Path, warehouse_file: Path, open_warehouse
) -> None:
    api = start_api(generated_landing)

    summary = sync_into(warehouse_file, api.base_url, api.api_key, page_size=200, checkpoint_every=100)

    conn = open_warehouse(warehouse_file)
    expected = latest_state_sql(generated_landing)
    assert_table_equals(conn, expected)
    count, _ = checksum(conn, expected)
    tombstones = conn.execute(f"select count(*) from ({expected}) where _deleted").fetchone()[0]
    assert tombstones > 0, "the generated source should contain tombstones"
    assert (summary.records, summary.rows_in_table) == (count, count)
    assert summary.inserted == count - tombstones and summary.deleted == tombstones
    assert summary.retries == 0 and summary.checkpoints == -(-count // 200)


def test_a_full_sync_of_a_hand_built_change_log_with_ties_equals_its_latest_state(
    fpr_api: LiveApi, fpr_landing: Path, warehouse_file: Path, open_warehouse
) -> None:
    sync_into(warehouse_file, fpr_api.base_url, fpr_api.api_key, page_size=7, checkpoint_every=20)
    assert_table_equals(open_warehouse(warehouse_file), latest_state_sql(fpr_landing))


def test_an_incremental_sync_after_a_new_day_upserts_exactly_the_changes(
    start_api, tmp_path: Path, warehouse_file: Path, open_warehouse
) -> None:
    root = tmp_path / "landing"
    config = generation_config()
    first_days = land_days(root, config, days=2)
    api = start_api(root)
    sync_into(warehouse_file, api.base_url, api.api_key)
    conn = open_warehouse(warehouse_file)
    assert_table_equals(conn, latest_state_sql(root))
    cursor = read_state(conn).cursor
    first_synced = conn.execute("select max(_synced_at) from raw.fpr_records").fetchone()[0]
    conn.close()

    new_day = land_days(root, config, days=1, first=2)
    with fpr_client(api.base_url, api.api_key) as client:
        pending = RestPager(client, FPR).changes(cursor).count
    summary = sync_into(warehouse_file, api.base_url, api.api_key)

    conn = open_warehouse(warehouse_file)
    before = latest_state_sql(root, first_days)
    day = latest_state_sql(root, new_day)
    # Independent expectation: the state after the first sync, with the new day's versions applied
    # and its tombstones flagging (not blanking) rows that were already there.
    expected = f"""
        select * from ({latest_state_sql(root)}) as l
        where not (l._deleted and l.record_id in (select record_id from ({before})))
        union all
        select b.* replace (l.updated_at as updated_at, true as _deleted)
        from ({before}) as b join ({latest_state_sql(root)}) as l using (record_id)
        where l._deleted
    """
    assert_table_equals(conn, expected)
    known = f"select record_id from ({before})"
    new_live, updates, deletes = conn.execute(
        f"""select count(*) filter (where not _deleted and record_id not in ({known})),
                   count(*) filter (where not _deleted and record_id in ({known})),
                   count(*) filter (where _deleted)
            from ({day})"""
    ).fetchone()
    assert deletes > 0 and updates > 0 and new_live > 0
    assert (summary.records, summary.inserted, summary.updated, summary.deleted) == (
        pending,
        new_live,
        updates,
        deletes,
    )
    assert summary.cursor_before == cursor != summary.cursor_after
    touched = conn.execute("select count(*) from raw.fpr_records where _synced_at > ?", [first_synced]).fetchone()[0]
    assert touched == pending  # and nothing else was rewritten


def test_an_extraction_killed_at_any_point_resumes_to_the_same_table(
    start_api, tmp_path: Path, warehouse_file: Path, open_warehouse
) -> None:
    root = tmp_path / "landing"
    land_days(root, generation_config(fpr_opening_recommendations=5000), days=2)
    api = start_api(root)
    # A checkpoint every third page and a merge every fourth checkpoint: kills land between
    # checkpoints, during appends to the log and during merges into the warehouse.
    page_size, checkpoint_every, merge_every = 50, 120, 500

    # The page boundaries a sync from the start goes through, to check each stored cursor against.
    boundaries: dict[str, set[str]] = {}
    seen: set[str] = set()
    with fpr_client(api.base_url, api.api_key) as client:
        for page in RestPager(client, FPR, page_size=page_size).pages(None):
            seen |= {r["record_id"] for r in page.records}
            boundaries[page.position] = set(seen)
    total = len(seen)

    reference = tmp_path / "reference.duckdb"
    sync_into(reference, api.base_url, api.api_key, page_size=page_size, checkpoint_every=checkpoint_every)

    env = {**os.environ, "FINMATCH_API_KEY": api.api_key, "PYTHONPATH": str(REPO_ROOT)}
    command = child_sync_command(
        warehouse_file, api.base_url, page_size=page_size, checkpoint_every=checkpoint_every, merge_every=merge_every
    )
    # Each run is killed when its k-th page arrives or its k-th checkpoint commits, some after a
    # short pause, so the kill lands while a page is planned, a checkpoint commits, a request is
    # in flight or pages wait in the read-ahead queue.
    kills = [
        ("page", 1, 0.0),
        ("checkpoint", 1, 0.0),
        ("page", 4, 0.0),
        ("checkpoint", 2, 0.003),
        ("page", 5, 0.001),
        ("checkpoint", 1, 0.006),
        ("page", 7, 0.0),
        ("checkpoint", 1, 0.0),
    ]
    outcomes = []
    warehouse_file.parent.mkdir(parents=True, exist_ok=True)
    for trigger, k, pause in kills:
        run_and_kill(command, env, REPO_ROOT, trigger, k, pause)
        # What survived is consistent: once the log is merged, the stored cursor is a page boundary
        # and the table holds exactly the records before it, each once.
        conn = open_warehouse(warehouse_file)
        recover(conn, FPR, log_dir=checkpoint_dir(warehouse_file))
        state = read_state(conn)
        if state is None:
            assert not table_exists(conn, "raw", "fpr_records") or conn.execute(
                "select count(*) from raw.fpr_records"
            ).fetchone() == (0,)
            outcomes.append(0)
        else:
            ids = [r[0] for r in conn.execute("select record_id from raw.fpr_records").fetchall()]
            assert state.cursor in boundaries, "the stored cursor is not a page boundary"
            assert len(ids) == len(set(ids)) and set(ids) == boundaries[state.cursor]
            outcomes.append(len(ids))
        conn.close()

    # Kills landed at many different points, before the first checkpoint and mid-stream.
    assert outcomes[0] == 0 and len(set(outcomes)) >= 5 and max(outcomes) < total, outcomes
    finished = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines()[-1].split()[-1] == str(total)

    conn = open_warehouse(warehouse_file)
    conn.execute(f"attach '{reference}' as reference (read_only)")
    assert_table_equals(conn, "select * from reference.raw.fpr_records")
    assert_table_equals(conn, latest_state_sql(root))


def _expected_retries(config: FaultConfig, successes: int) -> dict[str, int]:
    """The faults the server will inject before ``successes`` requests pass, by kind."""
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


@pytest.mark.parametrize("retry_after_format", ["seconds", "http-date"])
def test_injected_faults_are_retried_counted_and_change_nothing(
    start_api, generated_landing: Path, warehouse_file: Path, open_warehouse, retry_after_format: str
) -> None:
    faults = dict(
        seed=13,
        rate_limit=0.06,
        error_rate=0.15,
        drop_rate=0.1,
        latency_ms=3,
        latency_jitter_ms=4,
        retry_after=1,
        retry_after_format=retry_after_format,
    )
    api = start_api(generated_landing, **faults)
    expected_rows = (
        duckdb.connect().execute(f"select count(*) from ({latest_state_sql(generated_landing)})").fetchone()[0]
    )
    page_size = 50
    pages = -(-expected_rows // page_size)
    expected = _expected_retries(FaultConfig(**faults), pages)
    assert expected["rate_limit"] >= 1 and expected["error"] >= 1 and expected["drop"] >= 1

    summary = sync_into(warehouse_file, api.base_url, api.api_key, page_size=page_size)

    assert_table_equals(open_warehouse(warehouse_file), latest_state_sql(generated_landing))
    assert summary.retries == sum(expected.values())
    assert summary.requests == pages + summary.retries
    # Each 429 asked for a second (an HTTP date for up to two, being whole seconds).
    assert summary.wait_s >= 0.9 * expected["rate_limit"]


def test_retries_that_run_out_fail_the_sync_and_a_rerun_resumes(
    start_api, generated_landing: Path, warehouse_file: Path, open_warehouse
) -> None:
    flaky = start_api(generated_landing, seed=5, error_rate=0.5)
    # Two attempts per request against a 50% error rate: some request soon fails twice in a row.
    with pytest.raises(RetriesExhausted, match=r"gave up after 2 attempts .* HTTP 5\d\d"):
        sync_into(
            warehouse_file,
            flaky.base_url,
            flaky.api_key,
            page_size=20,
            checkpoint_every=20,
            policy=RetryPolicy(max_attempts=2, base_delay_s=0.01),
        )
    conn = open_warehouse(warehouse_file)
    partial = (
        conn.execute("select count(*) from raw.fpr_records").fetchone()[0]
        if table_exists(conn, "raw", "fpr_records")
        else 0
    )
    conn.close()

    healthy = start_api(generated_landing)
    summary = sync_into(warehouse_file, healthy.base_url, healthy.api_key, page_size=20)

    assert summary.cursor_before is not None or partial == 0
    assert_table_equals(open_warehouse(warehouse_file), latest_state_sql(generated_landing))


def test_a_wrong_key_fails_at_once_with_the_message_and_writes_nothing(
    fpr_api: LiveApi, warehouse_file: Path, open_warehouse
) -> None:
    started = time.monotonic()
    with pytest.raises(AuthError) as failure:
        sync_into(warehouse_file, fpr_api.base_url, "not-the-key", policy=RetryPolicy())

    assert time.monotonic() - started < 5
    message = str(failure.value)
    assert "check FINMATCH_API_KEY" in message and "HTTP 401" in message
    assert "not-the-key" not in message and FPR_TEST_API_KEY not in message
    assert failure.value.attempts == 1
    conn = open_warehouse(warehouse_file)
    assert conn.execute("select count(*) from duckdb_tables()").fetchone() == (0,)
    assert conn.execute("select count(*) from duckdb_schemas() where schema_name in ('raw', 'meta')").fetchone() == (0,)


def test_a_new_field_and_a_record_without_a_key_over_the_wire(
    start_api, tmp_path: Path, warehouse_file: Path, open_warehouse
) -> None:
    root = tmp_path / "landing"
    config = generation_config()
    land_days(root, config, days=1)
    api = start_api(root)
    sync_into(warehouse_file, api.base_url, api.api_key)

    # The vendor starts sending two new fields, and one record with an empty key.
    day = config.start_date + dt.timedelta(days=1)
    base = pa.Table.from_pylist(
        [
            {
                "record_id": "FPR9000000001",
                "customer_id": "C000000001",
                "account_balance": 10.0,
                "updated_at": dt.datetime.combine(day, dt.time(8), dt.UTC),
                "_deleted": False,
            },
            {
                "record_id": "FPR9000000002",
                "customer_id": "C000000002",
                "account_balance": 20.0,
                "updated_at": dt.datetime.combine(day, dt.time(9), dt.UTC),
                "_deleted": False,
            },
            {
                "record_id": "",
                "customer_id": "C000000003",
                "account_balance": 30.0,
                "updated_at": dt.datetime.combine(day, dt.time(10), dt.UTC),
                "_deleted": False,
            },
        ],
        schema=schemas.FPR_RECORDS,
    )
    extended = base.append_column("offer_channel", pa.array(["app", None, "web"])).append_column(
        "nps_score", pa.array([9, 4, 1], pa.int64())
    )
    landing.write_partition(root, "fpr_records", day, extended)

    summary = sync_into(warehouse_file, api.base_url, api.api_key)

    assert (summary.records, summary.inserted, summary.quarantined, summary.schema_changes) == (3, 2, 1, 2)
    assert sorted(summary.new_columns) == ["nps_score", "offer_channel"]
    conn = open_warehouse(warehouse_file)
    assert_table_equals(
        conn,
        latest_state_sql(root, columns=(*FPR_COLUMNS, "offer_channel", "nps_score")),
        columns=(*FPR_COLUMNS, "offer_channel", "nps_score"),
    )
    source, reason, raw = conn.execute("select source, reason, payload from meta.quarantine").fetchone()
    assert (source, reason) == ("fpr_records", "record_id is empty")
    assert json.loads(raw)["customer_id"] == "C000000003" and json.loads(raw)["offer_channel"] == "web"
    conn.close()

    again = sync_into(warehouse_file, api.base_url, api.api_key)
    conn = open_warehouse(warehouse_file)
    assert (again.records, again.schema_changes) == (0, 0)
    assert conn.execute("select count(*) from meta.quarantine").fetchone() == (1,)


def test_the_client_reports_changes_past_a_cursor_for_sensors(fpr_api: LiveApi, fpr_landing: Path) -> None:
    with fpr_client(fpr_api.base_url, fpr_api.api_key) as client:
        pager = RestPager(client, FPR, page_size=200)
        everything = pager.changes(None)
        pages = list(pager.pages(None))
        after_all = pager.changes(pages[-1].position)

    total = duckdb.connect().execute(f"select count(*) from ({latest_state_sql(fpr_landing)})").fetchone()[0]
    assert everything.count == total and everything.mark
    assert after_all.count == 0


def test_the_client_does_not_retry_a_bad_request(fpr_api: LiveApi) -> None:
    with (
        fpr_client(fpr_api.base_url, fpr_api.api_key) as client,
        pytest.raises(RequestRejected, match="invalid_cursor") as failure,
    ):
        next(RestPager(client, FPR, page_size=10).pages("forged.cursor-value-AAAAAAAAAAAAAAAAAAAAAA"))
    assert failure.value.attempts == 1 and failure.value.status == 400
    assert client.stats.retries == 0


def test_the_client_never_shows_its_key(fpr_api: LiveApi) -> None:
    with fpr_client(fpr_api.base_url, fpr_api.api_key) as client:
        assert fpr_api.api_key not in repr(client)


# =========================================================================== a misbehaving vendor


class _Vendor(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the next scripted (status, body, delay_s); records the requests."""

    script: list[tuple[int, bytes, float]] = []
    seen: list[tuple[str, str | None, str | None]] = []  # path, x-api-key, api_key

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        status, body, delay_s = self.script.pop(0) if self.script else (500, b"{}", 0.0)
        type(self).seen.append((self.path, self.headers.get("x-api-key"), self.headers.get("api_key")))
        time.sleep(delay_s)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def vendor() -> Any:
    _Vendor.script, _Vendor.seen = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Vendor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Vendor
    server.shutdown()
    server.server_close()


def test_a_body_that_is_not_json_is_retried_as_an_unreadable_response(vendor) -> None:
    url, handler = vendor
    page = json.dumps({"fpr_records": [], "next_cursor": "c", "has_more": False}).encode()
    handler.script = [(200, b'{"fpr_records": [', 0.0), (200, page, 0.0)]

    with fpr_client(url, "k", policy=FAST_RETRIES) as client:
        assert next(RestPager(client, FPR, page_size=10).pages(None)).position == "c"
    assert client.stats.retries == 1 and client.stats.retried_by_reason == {"unreadable response": 1}


def test_a_page_that_breaks_the_contract_stops_the_sync_without_retrying(vendor) -> None:
    url, handler = vendor
    handler.script = [(200, b'{"fpr_records": [], "has_more": "no"}', 0.0)]

    with (
        fpr_client(url, "k", policy=FAST_RETRIES) as client,
        pytest.raises(ProtocolError, match="breaks the API contract"),
    ):
        next(RestPager(client, FPR, page_size=10).pages(None))
    assert len(handler.seen) == 1


def test_timeouts_are_retried_and_then_fail_the_request(vendor) -> None:
    url, handler = vendor
    handler.script = [(200, b"{}", 1.0)] * 3

    with (
        fpr_client(url, "k", timeout_s=0.2, policy=RetryPolicy(max_attempts=3, base_delay_s=0.01)) as client,
        pytest.raises(RetriesExhausted, match=r"gave up after 3 attempts .* timeout"),
    ):
        next(RestPager(client, FPR, page_size=10).pages(None))
    assert client.stats.retries == 2 and client.stats.retried_by_reason == {"timeout": 2}


@pytest.mark.parametrize(("header", "seen"), [("api_key", (None, "secret-key")), ("x-api-key", ("secret-key", None))])
def test_the_key_goes_in_the_configured_header_and_nowhere_else(vendor, header: str, seen: tuple[Any, Any]) -> None:
    url, handler = vendor
    handler.script = [(200, json.dumps({"fpr_records": [], "next_cursor": "c", "has_more": False}).encode(), 0.0)]
    with fpr_client(url, "secret-key", header=header) as client:
        next(RestPager(client, sources.fpr_records(header), page_size=5).pages("cur"))
    assert handler.seen == [("/fpr_data?page_size=5&cursor=cur", *seen)]


def test_a_feed_without_has_more_is_paged_until_an_empty_page(vendor) -> None:
    url, handler = vendor
    pages = [{"fpr_records": [record(1)], "next_cursor": "c1"}, {"fpr_records": [], "next_cursor": "c1"}]
    handler.script = [(200, json.dumps(p).encode(), 0.0) for p in pages]
    with fpr_client(url, "k") as client:
        got = list(RestPager(client, FPR, page_size=1).pages(None))
    assert [(len(p.records), p.position) for p in got] == [(1, "c1"), (0, "c1")]
    assert len(handler.seen) == 2


def test_a_redirect_is_refused_so_the_key_never_follows_it(vendor) -> None:
    url, handler = vendor
    handler.script = [(302, b"{}", 0.0)]
    with fpr_client(url, "secret-key", policy=FAST_RETRIES) as client, pytest.raises(RequestRejected, match="HTTP 302"):
        next(RestPager(client, FPR, page_size=5).pages(None))
    assert len(handler.seen) == 1


def test_without_a_changes_endpoint_the_probe_answers_and_then_is_the_only_request(vendor) -> None:
    url, handler = vendor
    page = json.dumps({"fpr_records": [record(7)], "next_cursor": "c7"}).encode()
    handler.script = [(404, b'{"error": "not_found"}', 0.0), (200, page, 0.0), (200, page, 0.0)]

    with fpr_client(url, "k", header="api_key") as client:
        pager = RestPager(client, sources.fpr_records("api_key"))
        first = pager.changes("c6")
        assert (
            len(handler.seen) == 2
            and first.probed
            and (first.count, first.mark) == (1, f"{record(7)['updated_at']}/FPR0000000007")
        )
        remembered = pager.changes("c6", probe=True)

    assert len(handler.seen) == 3 and remembered == first
    assert [path.split("?")[0] for path, *_ in handler.seen] == ["/fpr_data/changes", "/fpr_data", "/fpr_data"]
