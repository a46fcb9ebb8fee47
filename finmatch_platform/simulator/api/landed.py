"""A vendor's change log as its API serves it: immutable snapshots of the landed files, refreshed
incrementally.

The generator lands ``<landing>/<entity>/date=YYYY-MM-DD/part-0.parquet`` and publishes each file
by rename. A :class:`Snapshot` holds the latest version of every record in keyset order
``(updated_at, id)``, each serialised to JSON once per load, so a page is a join of ready bytes.

A snapshot is never mutated once published, and each request reads the store's current snapshot
exactly once, so a page is never torn by a day arriving mid-request. Refreshing lists the folder
(cheap), reads only files it has not seen, and swaps in a new snapshot with one attribute
assignment. A file that changed in place or disappeared forces a full rebuild, since the versions
it held may no longer be the latest.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import anyio.to_thread
import pyarrow as pa
import pyarrow.parquet as pq

from finmatch_platform.landing_zone.layout import PART_FILE
from finmatch_platform.lib.gc_pause import gc_paused
from finmatch_platform.simulator.pagination import Position

_DATE_PREFIX = "date="
ISO_UTC_MICROS = "%Y-%m-%dT%H:%M:%SZ"  # Arrow's %S carries the fraction: 09:30:00.000000
TS_US_UTC = pa.timestamp("us", tz="UTC")

# (st_mtime_ns, st_size, st_ino): a rename gives a new inode, so a replaced day is noticed even
# when its size and mtime happen to match.
FileSignature = tuple[int, int, int]
Entry = tuple[Position, bytes]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The feed at one moment: ``keys`` sorted, ``payloads[i]`` the JSON of ``keys[i]``."""

    keys: Sequence[Position]
    payloads: Sequence[bytes]
    files: int
    version: int

    @property
    def high_water(self) -> Position | None:
        return self.keys[-1] if self.keys else None

    def __len__(self) -> int:
        return len(self.keys)


EMPTY = Snapshot(keys=(), payloads=(), files=0, version=0)


def merge_latest(
    keys: Sequence[Position],
    payloads: Sequence[bytes],
    latest: dict[str, Position],
    entries: Sequence[Entry],
) -> tuple[list[Position], list[bytes]]:
    """Fold new versions into a sorted feed, keeping only each record's latest version.

    ``latest`` (record_id -> position in the feed) is updated in place. A new day's changes are
    normally all later than the feed, so the merge is a filter plus an append: Timsort sees two
    sorted runs and merges them in linear time even when they overlap.
    """
    changed: dict[str, Entry] = {}
    for position, payload in entries:
        record_id = position.record_id
        current = changed.get(record_id)
        if current is None:
            previous = latest.get(record_id)
            if previous is not None and previous >= position:
                continue  # an older (or the same) version arriving late: the feed already has newer
        elif current[0] >= position:
            continue
        changed[record_id] = (position, payload)
    if not changed:
        return list(keys), list(payloads)

    replaced = {rid for rid in changed if rid in latest}
    if replaced:
        kept = [(k, p) for k, p in zip(keys, payloads, strict=True) if k.record_id not in replaced]
    else:
        kept = list(zip(keys, payloads, strict=True))
    added = sorted(changed.values(), key=itemgetter(0))
    merged = kept + added
    if kept and added[0][0] < kept[-1][0]:
        merged.sort(key=itemgetter(0))
    for record_id, (position, _payload) in changed.items():
        latest[record_id] = position
    return [k for k, _ in merged], [p for _, p in merged]


class LandedStore:
    """Reads one entity's change log under ``landing_root`` and publishes snapshots of its latest state.

    A vendor's store names its ``entity`` and says how a landed file becomes entries
    (:meth:`serialise`); ``log`` and ``loaded_message`` word its log lines.
    """

    entity: str
    log: logging.Logger
    loaded_message: str  # a %-format of (records, files)

    def __init__(self, landing_root: Path, refresh_interval: float = 1.0) -> None:
        self.root = Path(landing_root) / self.entity
        self.refresh_interval = refresh_interval
        self.current: Snapshot = EMPTY
        self._lock = threading.Lock()
        self._files: dict[Path, FileSignature] = {}
        self._latest: dict[str, Position] = {}
        self._checked_at = float("-inf")

    def serialise(self, table: pa.Table) -> tuple[list[Position], list[bytes]]:
        """Positions and JSON payloads of a landed file's rows."""
        raise NotImplementedError

    def rebuild_entries(self) -> list[Entry]:
        """Versions that are not in the files but must survive a rebuild of the feed (none here)."""
        return []

    def refresh_due(self) -> bool:
        return time.monotonic() - self._checked_at >= self.refresh_interval

    def _scan(self) -> dict[Path, FileSignature]:
        found: dict[Path, FileSignature] = {}
        try:
            children = list(os.scandir(self.root))
        except FileNotFoundError:
            return found  # nothing landed yet: an empty feed, not an error
        for child in children:
            if not child.name.startswith(_DATE_PREFIX):
                continue
            path = Path(child.path) / PART_FILE
            try:
                stat = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                continue  # a day folder whose file has not been renamed into place yet
            found[path] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        return found

    def refresh(self) -> bool:
        """Load whatever landed since the last refresh; True if a new snapshot was published."""
        with self._lock, gc_paused():
            self._checked_at = time.monotonic()
            found = self._scan()
            if found == self._files:
                return False
            stale = any(found.get(path) != sig for path, sig in self._files.items())
            keys: Sequence[Position] = self.current.keys
            payloads: Sequence[bytes] = self.current.payloads
            entries: list[Entry] = []
            if stale:
                self.log.info("a loaded %s file changed or vanished: rebuilding the feed", self.entity)
                self._files, self._latest, keys, payloads = {}, {}, (), ()
                entries.extend(self.rebuild_entries())
            loaded: dict[Path, FileSignature] = {}
            for path in sorted(p for p in found if p not in self._files):  # day order: a cheap append
                try:
                    entries.extend(zip(*self.serialise(pq.read_table(path)), strict=True))
                except Exception:  # noqa: BLE001 - one unreadable file must not take the feed down
                    self.log.exception("could not read %s; will retry on the next refresh", path)
                    continue
                loaded[path] = found[path]
            if not loaded and not stale:
                return False
            keys, payloads = merge_latest(keys, payloads, self._latest, entries)
            del entries
            self._files.update(loaded)
            self._publish(keys, payloads)
            self.log.info(self.loaded_message, len(keys), len(self._files))
            return True

    def _publish(self, keys: Sequence[Position], payloads: Sequence[bytes]) -> None:
        self.current = Snapshot(keys, payloads, files=len(self._files), version=self.current.version + 1)

    def refresh_if_due(self) -> None:
        if self.refresh_due():
            self.refresh()

    async def current_snapshot(self) -> Snapshot:
        """The snapshot a request reads, refreshed first when due."""
        if self.refresh_due():
            # Listing and any loading happen off the event loop; requests keep the old snapshot meanwhile.
            await anyio.to_thread.run_sync(self.refresh_if_due)
        return self.current
