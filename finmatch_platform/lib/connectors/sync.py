"""The connector engine's entry point: sync one declared source into ``raw.<table>``.

- **Checkpoints** go to the stream's checkpoint log (``checkpoint_log.py``): every
  ``checkpoint_every`` records, at the first page boundary at or after it, the records received
  and the position after them are appended as one checksummed record and synced to disk. The
  position is always that of the last page whose records are all in the log, so a process
  killed at any moment resumes with no record lost and none doubled.
- **Merges** apply the log to the warehouse in bulk, in one DuckDB transaction (rows, new or
  widened columns, quarantine, the stream's position and the log sequence merged), every
  ``merge_every`` records and at the end. A sync starts by merging whatever an interrupted one
  left in the log. The merge is where the per-transaction cost of the warehouse is paid, once
  per many pages instead of once per page.
- **State**: ``meta.extraction_state``. ``full_refresh`` starts from the beginning and, in the
  first merge, drops the table, the position and the stream's quarantine rows (a reset).
- **Upsert by primary key**, with ``_synced_at`` stamped per merge; a tombstone is a soft
  delete (the row keeps its last values, flagged deleted); a later live version revives it.
- **Quarantine and schema drift**: see ``planner.py``. Payloads are masked before they are
  written (``mask``), so no raw PII reaches ``meta.quarantine``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from finmatch_platform.lib.connectors.bulk import bulk_columns, bulk_plan, parse_bodies, write_bulk
from finmatch_platform.lib.connectors.checkpoint_log import CheckpointLog, Entry
from finmatch_platform.lib.connectors.declaration import RestSource
from finmatch_platform.lib.connectors.http import ClientStats, ExtractionError, RequestRejected
from finmatch_platform.lib.connectors.paging import Page, PageSource
from finmatch_platform.lib.connectors.planner import Batch, Planner
from finmatch_platform.lib.connectors.screening import Screener
from finmatch_platform.lib.connectors.writer import (
    duckdb_setting,
    ensure_meta,
    fold_wal,
    quarantine_table,
    read_state,
    row_count,
    table_view,
    write_plan,
)
from finmatch_platform.lib.gc_pause import gc_paused

log = logging.getLogger("finmatch.extraction")

# One DuckDB row group: a merge at least this large is written straight to the database file as
# compressed row groups instead of through the WAL, about a third of the cost per row.
DEFAULT_MERGE_EVERY = 122_880
# Automatic WAL checkpoints rewrite the table's open row group; the sync folds the WAL once at its end.
SYNC_CHECKPOINT_THRESHOLD = "256MB"


class SyncError(ExtractionError):
    """The sync cannot proceed for a reason of its own (e.g. the stored position is rejected)."""


@dataclass(frozen=True)
class CheckpointProgress:
    """Passed to ``on_checkpoint`` after each checkpoint is durable: the running totals."""

    checkpoint: int
    records: int  # records received so far (all durable at this point)
    pages: int
    batch_records: int
    position: str | None
    elapsed_s: float


@dataclass
class SyncSummary:
    """What one sync did (the operation summary). ``upserts`` = inserted + updated."""

    stream: str
    full_refresh: bool
    cursor_before: str | None
    cursor_after: str | None = None
    pages: int = 0
    records: int = 0  # records received from the API, quarantined ones included
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    truncates: int = 0  # resets: the table dropped and reloaded
    duplicates_in_batch: int = 0
    quarantined: int = 0
    checkpoints: int = 0
    merges: int = 0
    replayed_checkpoints: int = 0  # left in the log by an interrupted sync, merged first
    schema_changes: int = 0
    new_columns: list[str] = field(default_factory=list)
    widened_columns: list[str] = field(default_factory=list)
    retries: int = 0
    wait_s: float = 0.0
    requests: int = 0
    rows_in_table: int = 0
    started_at: dt.datetime | None = None
    duration_s: float = 0.0

    @property
    def upserts(self) -> int:
        return self.inserted + self.updated

    @property
    def records_per_s(self) -> float:
        return self.records / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def quarantined_share(self) -> float:
        return self.quarantined / self.records if self.records else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["upserts"] = self.upserts
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        return data


def _keep(record: Any) -> Any:
    return record


class _Merger:
    """Merges on a thread of its own, one at a time and in order, so the next pages are fetched
    while DuckDB commits (it releases the GIL). Between merges it parses each clean checkpoint's
    bodies as they arrive (Arrow's reader, off the GIL too), so the merge at the end of a sync
    only has to write. A failed merge stops the sync: its records stay in the log for the next run."""

    def __init__(
        self,
        merge: Callable[[Batch, int, list[pa.Table] | None], None],
        parse: Callable[[list[bytes]], pa.Table | None],
        cp_log: CheckpointLog,
    ) -> None:
        self._merge = merge
        self._parse = parse
        self._log = cp_log
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._merges_queued = threading.Semaphore(1)  # one merge waiting at most: bounds memory
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="connector-merge", daemon=True)
        self._thread.start()

    def parse(self, bodies: list[bytes]) -> None:
        self._queue.put(("parse", bodies))

    def submit(self, batch: Batch, seq: int) -> None:
        segments = self._log.hand_over()
        self.raise_if_failed()
        while not self._merges_queued.acquire(timeout=0.05):
            self.raise_if_failed()
        self._queue.put(("merge", (batch, seq, segments)))

    def finish(self) -> None:
        """Wait for every submitted merge (or the first failure)."""
        self._queue.put(None)
        self._thread.join()

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        parsed: list[pa.Table] | None = []
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, payload = item
            if self.error is not None:
                continue  # drain: nothing runs after a failure
            try:
                if kind == "parse":
                    bodies = list(payload)
                    while self._queue.qsize():  # parse what queued meanwhile in one call
                        following = self._queue.queue[0]
                        if following is None or following[0] != "parse":
                            break
                        bodies += self._queue.get()[1]  # type: ignore[index]
                    table = self._parse(bodies) if parsed is not None else None
                    parsed = None if table is None else [*(parsed or []), table]
                    continue
                batch, seq, segments = payload
                self._merges_queued.release()
                self._merge(batch, seq, parsed)
                self._log.remove(segments)
                parsed = []
            except BaseException as exc:  # noqa: BLE001 - re-raised on the syncing thread
                self.error = exc


def sync_source(
    conn: duckdb.DuckDBPyConnection,
    source: RestSource,
    pages: PageSource,
    *,
    log_dir: Path,
    checkpoint_every: int | None = None,
    merge_every: int = DEFAULT_MERGE_EVERY,
    full_refresh: bool = False,
    mask: Callable[[Any], Any] = _keep,
    fsync: bool = True,
    on_checkpoint: Callable[[CheckpointProgress], None] | None = None,
    on_page: Callable[[int, int], None] | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    recover_only: bool = False,
) -> SyncSummary:
    """Sync ``source`` from its stored position; see the module docstring.

    Raises an ``ExtractionError`` when the API cannot be synced, after merging every checkpoint
    made before the failure, so the next run resumes after them. ``recover_only`` merges what an
    interrupted sync left in the log and stops there, without a request. ``on_checkpoint`` is
    called on the caller's thread once a checkpoint is durable.
    """
    checkpoint_every = checkpoint_every or source.checkpoint_every
    if checkpoint_every < 1 or merge_every < 1:
        raise ValueError(f"checkpoint_every and merge_every must be at least 1, got {checkpoint_every}, {merge_every}")
    started = time.monotonic()
    stats = pages.stats
    retries_before, wait_before, requests_before = stats.retries, stats.wait_s, stats.requests
    state = read_state(conn, source.name)
    view = table_view(conn, source)
    summary = SyncSummary(source.name, full_refresh, state.cursor if state else None, started_at=now())
    summary.cursor_after = summary.cursor_before
    with CheckpointLog(Path(log_dir), source.name, fsync=fsync) as cp_log:
        pending = [e for e in cp_log.replay() if not state or e.seq > state.log_seq]
        if full_refresh:
            pending = []
            cp_log.clear()
        stored = state.cursor if state else None
        reset = full_refresh
        if not full_refresh and state is not None and state.cursor and not view.exists and not pending:
            # A position without its table would skip every record before it: start over instead.
            log.warning(
                "raw.%s is missing but a position is stored for %r: syncing from the beginning",
                source.table,
                source.name,
            )
            reset = True
        planner = Planner(source, view, has_state_row=state is not None, reset=reset, now=now)
        run = _Run(conn, source, planner, cp_log, summary, mask, started, on_checkpoint, on_page)
        run.seq = max([e.seq for e in pending] + [state.log_seq if state else 0])
        durable_position = run.replay(pending, stored) if pending else stored
        if recover_only:
            summary.rows_in_table = row_count(conn, source)
            return summary
        start = None if reset else durable_position
        summary.cursor_before = start if not reset else summary.cursor_before
        log.info(
            "syncing %s from %s (checkpoint every %d records, merge every %d)",
            source.name,
            "the beginning" if start is None else "the stored position",
            checkpoint_every,
            merge_every,
        )
        with (
            duckdb_setting(conn, "checkpoint_threshold", SYNC_CHECKPOINT_THRESHOLD),
            # Fetching, screening and the log keep a core busy: DuckDB's workers get the others.
            duckdb_setting(conn, "threads", str(_duckdb_threads(conn))),
            gc_paused(),
        ):
            failure = run.fetch(pages, start, reset, first_sync=state is None, every=(checkpoint_every, merge_every))
    if failure is not None:
        _raise_sync_failure(failure, source, start)
    fold_wal(conn)
    summary.retries = stats.retries - retries_before
    summary.wait_s = round(stats.wait_s - wait_before, 3)
    summary.requests = stats.requests - requests_before
    summary.rows_in_table = row_count(conn, source)
    summary.duration_s = round(time.monotonic() - started, 3)
    _log_summary(summary)
    return summary


class _Run:
    """One sync's moving parts: the checkpoint being filled, the merge being gathered, the merger."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        source: RestSource,
        planner: Planner,
        cp_log: CheckpointLog,
        summary: SyncSummary,
        mask: Callable[[Any], Any],
        started: float,
        on_checkpoint: Callable[[CheckpointProgress], None] | None,
        on_page: Callable[[int, int], None] | None,
    ) -> None:
        self.conn, self.source, self.planner, self.cp_log = conn, source, planner, cp_log
        self.summary, self.mask, self.started = summary, mask, started
        self.on_checkpoint, self.on_page = on_checkpoint, on_page
        self.seq = 0
        self.first_checkpoint_seq = 0
        self.received_pages = self.received_records = 0
        self.unreported: list[CheckpointProgress] = []
        self.checkpoint = Batch(position=None)
        self.merge_batch = Batch(position=None)
        self.merger: _Merger | None = None

    def merge(self, batch: Batch, seq: int, parsed: list[pa.Table] | None = None) -> None:
        _merge(self.conn, self.source, self.planner, batch, seq, self.mask, self.summary, parsed)

    def parse(self, bodies: list[bytes]) -> pa.Table | None:
        return parse_bodies(bodies, self.source, bulk_columns(self.planner))

    def replay(self, pending: list[Entry], stored: str | None) -> str | None:
        """Merge the checkpoints an interrupted sync left in the log; the position after them."""
        self.summary.replayed_checkpoints = len(pending)
        replayed = Batch(position=stored)
        for entry in pending:
            _add_entry(replayed, entry, self.source.paging.records_field)
        log.info("%s: merging %d checkpoints left by an interrupted sync", self.source.name, len(pending))
        self.merge(replayed, self.seq)
        self.cp_log.clear()
        return replayed.position

    def fetch(
        self, pages: PageSource, start: str | None, reset: bool, *, first_sync: bool, every: tuple[int, int]
    ) -> BaseException | None:
        """Page from ``start``, checkpointing and merging as it goes; the failure, if any.

        Every complete checkpoint is merged before the failure is returned, so the next run
        resumes after them; a merge that fails leaves its records in the log.
        """
        checkpoint_every, merge_every = every
        screener = Screener(self.source, self.planner.columns)
        self.checkpoint = Batch(position=start, reset=reset)
        self.merge_batch = Batch(position=start)
        self.first_checkpoint_seq = self.seq + 1
        merger = self.merger = _Merger(self.merge, self.parse, self.cp_log)
        failure: BaseException | None = None
        try:
            for page in pages.pages(start):
                screener.add_page(self.checkpoint, page.records, page.position, page.non_finite, page.raw)
                self.received_pages += 1
                self.received_records += len(page.records)
                if self.on_page is not None:
                    self.on_page(self.received_pages, self.received_records)
                if self.checkpoint.received >= checkpoint_every:
                    self.flush_checkpoint()
                    if self.merge_batch.received >= merge_every:
                        merger.submit(self.merge_batch, self.seq)
                        self.merge_batch = Batch(position=self.merge_batch.position)
                    self.report()
            self.flush_tail(first_sync)
        except BaseException as exc:
            failure = exc
        try:
            if self.merge_batch.pages and merger.error is None:
                merger.submit(self.merge_batch, self.seq)
        except BaseException as exc:
            failure = failure or exc
        merger.finish()
        if merger.error is not None and merger.error is not failure:
            if failure is None:
                raise merger.error
            raise merger.error from failure
        self.report(final=failure is None)
        return failure

    def flush_tail(self, first_sync: bool) -> None:
        """The tail: fewer than checkpoint_every records, a reset, or only a new position."""
        checkpoint = self.checkpoint
        first = first_sync and self.summary.checkpoints == 0
        if checkpoint.pages and (
            checkpoint.received or checkpoint.reset or first or checkpoint.position != self.merge_batch.position
        ):
            self.flush_checkpoint()
        else:
            self.summary.pages += checkpoint.pages

    def flush_checkpoint(self) -> None:
        assert self.merger is not None
        self.seq += 1
        checkpoint = self.checkpoint
        entry = _entry(self.seq, checkpoint)
        self.cp_log.append(entry)
        _add_entry(self.merge_batch, entry, self.source.paging.records_field, checkpoint.new_keys)
        if entry.bodies and self.merge_batch.clean():
            self.merger.parse(entry.bodies)
        self.summary.checkpoints += 1
        self.unreported.append(
            CheckpointProgress(
                self.summary.checkpoints,
                self.received_records,
                self.received_pages,
                checkpoint.received,
                checkpoint.position,
                time.monotonic() - self.started,
            )
        )
        self.checkpoint = Batch(position=checkpoint.position)

    def report(self, final: bool = False) -> None:
        """Progress for the checkpoints the disk has confirmed (all of them when ``final``)."""
        if final:
            self.cp_log.wait_durable(self.cp_log.written_seq)
        while (
            self.unreported and self.unreported[0].checkpoint + self.first_checkpoint_seq - 1 <= self.cp_log.durable_seq
        ):
            progress = self.unreported.pop(0)
            if self.on_checkpoint is not None:
                self.on_checkpoint(progress)


def _raise_sync_failure(failure: BaseException, source: RestSource, start: str | None) -> None:
    if isinstance(failure, RequestRejected) and start is not None and "invalid_cursor" in str(failure):
        raise SyncError(
            f"{failure}. The stored position of {source.name!r} is no longer accepted (was the API key or cursor "
            "secret rotated?): run the extraction with full_refresh to start over",
            status=failure.status,
            attempts=failure.attempts,
        ) from failure
    raise failure


def _log_summary(summary: SyncSummary) -> None:
    log.info(
        "synced %s: %d records in %d pages, %d inserted, %d updated, %d deleted, %d quarantined, "
        "%d checkpoints, %d merges, %d schema changes, %d retries (%.1f s waiting) in %.1f s",
        summary.stream,
        summary.records,
        summary.pages,
        summary.inserted,
        summary.updated,
        summary.deleted,
        summary.quarantined,
        summary.checkpoints,
        summary.merges,
        summary.schema_changes,
        summary.retries,
        summary.wait_s,
        summary.duration_s,
    )


def _duckdb_threads(conn: duckdb.DuckDBPyConnection) -> int:
    configured = int(conn.execute("select current_setting('threads')").fetchone()[0])
    return max(1, min(configured, (os.cpu_count() or 2) - 1))


def _entry(seq: int, batch: Batch) -> Entry:
    return Entry(
        seq, batch.position, batch.pages, batch.received, batch.records, batch.quarantine, batch.reset, batch.bodies
    )


def _add_entry(batch: Batch, entry: Entry, records_field: str, new_keys: set[str] | None = None) -> None:
    """Add a checkpoint's records to a merge; ``new_keys`` as screened, or found again on replay."""
    batch.pages += entry.pages
    batch.received += entry.received
    batch.position = entry.position
    batch.reset = batch.reset or entry.reset
    if entry.bodies and batch.clean():
        batch.bodies.extend(entry.bodies)
        return
    batch.unpack_bodies(records_field)
    if entry.bodies:
        entry = Entry(entry.seq, entry.position, 0, 0, [], [], entry.reset, entry.bodies)
        held = Batch(bodies=list(entry.bodies))
        held.unpack_bodies(records_field)
        entry.records = held.records
        new_keys = None
    batch.records.extend(entry.records)
    batch.quarantine.extend(entry.quarantine)
    if new_keys is not None:
        batch.new_keys |= new_keys
    else:
        for record in entry.records:
            batch.new_keys.update(record.keys())


def _merge(
    conn: duckdb.DuckDBPyConnection,
    source: RestSource,
    planner: Planner,
    batch: Batch,
    seq: int,
    mask: Callable[[Any], Any],
    summary: SyncSummary,
    parsed: list[pa.Table] | None = None,
) -> None:
    ensure_meta(conn)  # on the first write only: a sync that fails before it leaves no trace
    if batch.bodies:
        bulk = bulk_plan(planner, batch, seq, parsed)
        if bulk is not None:
            inserted, updated, deleted, duplicates = write_bulk(conn, source, bulk)
            planner.known.update(bulk.rows[source.primary_key].to_pylist())
            summary.merges += 1
            summary.pages += batch.pages
            summary.records += batch.received
            summary.inserted += inserted
            summary.updated += updated
            summary.deleted += deleted
            summary.truncates += int(bulk.reset)
            summary.duplicates_in_batch += duplicates
            summary.cursor_after = bulk.position
            return
        batch.unpack_bodies(source.paging.records_field)
    batch.new_keys -= planner.columns.keys()
    batch.new_keys.discard("_synced_at")
    plan = planner.plan(batch, log_seq=seq)
    quarantine = quarantine_table(source, plan.quarantine, plan.synced_at, mask) if plan.quarantine else None
    write_plan(conn, source, plan, quarantine)
    summary.merges += 1
    summary.pages += plan.pages
    summary.records += plan.records
    summary.inserted += plan.inserted
    summary.updated += plan.updated
    summary.deleted += plan.deleted
    summary.truncates += int(plan.reset)
    summary.duplicates_in_batch += plan.duplicates
    summary.quarantined += len(plan.quarantine)
    summary.schema_changes += len(plan.schema_changes)
    for name in plan.schema_changes:
        target = (
            summary.widened_columns
            if name in planner.source.columns or name in summary.new_columns
            else summary.new_columns
        )
        if name not in target:
            target.append(name)
    summary.cursor_after = plan.position


__all__ = ["SyncSummary", "CheckpointProgress", "SyncError", "sync_source", "recover"]


def recover(
    conn: duckdb.DuckDBPyConnection, source: RestSource, *, log_dir: Path, mask: Callable[[Any], Any] = _keep
) -> SyncSummary:
    """Merge whatever an interrupted sync of ``source`` left in its checkpoint log; no request made."""

    class _NoPages:
        stats = ClientStats()

        def pages(self, position: str | None) -> Iterator[Page]:
            return iter(())

    return sync_source(conn, source, _NoPages(), log_dir=log_dir, mask=mask, recover_only=True)
