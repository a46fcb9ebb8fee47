"""The FPR feed as the API serves it, paged in-process: for loading a warehouse without a server.

Benchmarks and model tests build warehouses with the platform's own extraction engine; this page
source reads the API's own store (latest version per record, in change order) so the engine runs
unchanged, minus HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from finmatch_platform.api.storage import FprStore
from finmatch_platform.lib.connectors.http import ClientStats
from finmatch_platform.lib.connectors.paging import Page


class StorePages:
    """A ``PageSource`` over the landing zone's FPR change log; positions are record offsets."""

    def __init__(self, landing_root: Path, page_size: int = 200) -> None:
        self.stats = ClientStats()
        self.page_size = page_size
        store = FprStore(landing_root, refresh_interval=0)
        store.refresh()
        self._snapshot = store.current

    def pages(self, position: str | None) -> Iterator[Page]:
        start = int(position or 0)
        while True:
            stop = min(start + self.page_size, len(self._snapshot))
            self.stats.requests += 1
            yield Page([orjson.loads(p) for p in self._snapshot.payloads[start:stop]], str(stop))
            if stop >= len(self._snapshot):
                return
            start = stop
