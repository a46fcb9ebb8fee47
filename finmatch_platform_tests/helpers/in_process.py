"""The vendor feeds as their APIs serve them, paged in-process: a warehouse without a server.

Benchmarks and model tests build warehouses with the platform's own extraction engine; these page
sources read the APIs' own stores (latest version per record, in change order) so the engine runs
unchanged, minus HTTP. Positions are what the real APIs would leave: for PayScore the
``(updated_at, id)`` watermark, so a later sync over HTTP resumes from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import orjson

from finmatch_platform.lib.connectors import sources
from finmatch_platform.lib.connectors.http import ClientStats
from finmatch_platform.lib.connectors.paging import Page, encode_anchor
from finmatch_platform.lib.connectors.sync import SyncSummary, sync_source
from finmatch_platform.simulator.api.landed import Snapshot
from finmatch_platform.simulator.api.payscore import PayScoreStore
from finmatch_platform.simulator.api.storage import FprStore
from finmatch_platform.simulator.pagination import Position


class StorePages:
    """A ``PageSource`` over a loaded store; ``position`` renders the key after a page."""

    def __init__(self, store: FprStore, position: Callable[[int, Position], str], page_size: int = 200) -> None:
        self.stats = ClientStats()
        self.page_size = page_size
        store.refresh()
        self._snapshot: Snapshot = store.current
        self._position = position

    def pages(self, position: str | None) -> Iterator[Page]:
        start = int(position.partition("@")[0]) if position and position[0].isdigit() else 0
        keys, payloads = self._snapshot.keys, self._snapshot.payloads
        while True:
            stop = min(start + self.page_size, len(keys))
            self.stats.requests += 1
            records = [orjson.loads(p) for p in payloads[start:stop]]
            yield Page(records, self._position(stop, keys[stop - 1]) if stop else None)
            if stop >= len(keys):
                return
            start = stop


def fpr_pages(landing_root: Path, page_size: int = 200) -> StorePages:
    """FPR's feed; positions are record offsets (this page source's own cursor)."""
    return StorePages(FprStore(landing_root, refresh_interval=0), lambda stop, _key: str(stop), page_size)


def payscore_pages(landing_root: Path, page_size: int = 1000) -> StorePages:
    """PayScore's screening groups; positions are the engine's ``(updated_at, id)`` watermarks."""

    def watermark(_stop: int, key: Position) -> str:
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=key.updated_at_us)
        return encode_anchor((moment, key.record_id))

    return StorePages(PayScoreStore(landing_root, refresh_interval=0), watermark, page_size)


def sync_landed_feeds(conn: duckdb.DuckDBPyConnection, landing_root: Path, log_dir: Path) -> list[SyncSummary]:
    """Both vendor feeds from the landing zone into ``raw.*``, as the extraction assets load them."""
    return [
        sync_source(conn, sources.fpr_records(), fpr_pages(landing_root), log_dir=log_dir, checkpoint_every=1_000),
        sync_source(
            conn, sources.screening_groups(), payscore_pages(landing_root), log_dir=log_dir, checkpoint_every=1_000
        ),
    ]


def load_landed_warehouse(
    conn: duckdb.DuckDBPyConnection, landing_root: Path, days: list[dt.date], log_dir: Path, masking_key: str
) -> None:
    """raw.*, the vendor feeds and masked.* from a landing zone, with the platform's own libraries
    (what the ingestion, extraction and masking assets run), for warehouses built without Dagster."""
    from finmatch_platform.landing_zone.schemas import BULK_LOADED_ENTITIES
    from finmatch_platform.lib import masking
    from finmatch_platform.lib.raw_load import load_window

    for schema in ("raw", "meta", "masked"):
        conn.execute(f"create schema if not exists {schema}")
    for entity in BULK_LOADED_ENTITIES:
        load_window(conn, landing_root, entity, days)
    sync_landed_feeds(conn, landing_root, log_dir)
    policy = masking.load_policy()
    masking.build_masked_customers(conn, policy, masking_key)
    masking.build_masked_fpr(conn, policy, masking_key)
