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

Only a contiguous prefix of the listed days is ever published. At the first day that cannot be
served (its file missing while later days have theirs, unreadable, or holding a timestamp outside
what a client can parse) loading stops: the days after it are held back and the snapshot carries
a :class:`Gap` naming the file, which ``/health`` reports. Serving the later days would move
clients' cursors past the gap, and once the file was repaired its records would sort before those
cursors and never be delivered. When the file is repaired (a new signature) the next refresh loads
it and the days after it.
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import anyio.to_thread
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finmatch_platform.landing_zone.layout import PART_FILE
from finmatch_platform.lib.gc_pause import gc_paused
from finmatch_platform.simulator.pagination import Position

_DAY_DIR = re.compile(r"date=\d{4}-\d{2}-\d{2}")
ISO_UTC_MICROS = "%Y-%m-%dT%H:%M:%SZ"  # Arrow's %S carries the fraction: 09:30:00.000000
TS_US_UTC = pa.timestamp("us", tz="UTC")

# (st_mtime_ns, st_size, st_ino): a rename gives a new inode, so a replaced day is noticed even
# when its size and mtime happen to match.
FileSignature = tuple[int, int, int]
Entry = tuple[Position, bytes]
# One listed day: its file and the file's signature, None when the day's folder has no file.
Listed = tuple[Path, FileSignature | None]

# What Python's datetime (and so every client parsing the ISO text) can represent, in microseconds
# since the epoch; cursors carry the same integers.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MIN_US = (dt.datetime.min.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
MAX_US = (dt.datetime.max.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
TIME_RANGE_TEXT = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z"
_US_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}  # ns: an int64 of nanoseconds always fits
_REASON_MAX = 300


class UnservableFile(ValueError):
    """A landed file whose rows cannot be served as they are; the message says why, without values."""


@dataclass(frozen=True, slots=True)
class Gap:
    """The first listed day that cannot be served: ``file`` relative to the landing root."""

    file: str
    reason: str
    held_back_days: int  # listed days after it, not served until it is repaired


def check_time_range(table: pa.Table) -> None:
    """UnservableFile if any timestamp or date lies outside what the API can render and a client
    parse (years 1 to 9999); checked on the stored integers, before any cast could overflow."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_timestamp(kind):
            per_unit = _US_PER_UNIT.get(kind.unit)
            if per_unit is None:
                continue
            low, high = -(-MIN_US // per_unit), MAX_US // per_unit
        elif pa.types.is_date32(kind):
            low, high = MIN_US // 86_400_000_000, MAX_US // 86_400_000_000
        elif pa.types.is_date64(kind):
            low, high = MIN_US // 1000, MAX_US // 1000
        else:
            continue
        # Arrow casts a date32 only to its own width.
        values = pc.cast(column, pa.int32() if pa.types.is_date32(kind) else pa.int64())
        outside = pc.sum(pc.or_(pc.less(values, low), pc.greater(values, high))).as_py() or 0
        if outside:
            raise UnservableFile(f"column {name!r} has {outside} value(s) outside {TIME_RANGE_TEXT}")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The feed at one moment: ``keys`` sorted, ``payloads[i]`` the JSON of ``keys[i]``."""

    keys: Sequence[Position]
    payloads: Sequence[bytes]
    files: int
    version: int
    gap: Gap | None = None  # set while a listed day cannot be served and later days are held back

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


class LandedStore(abc.ABC):
    """Reads one entity's change log under ``landing_root`` and publishes snapshots of its latest state.

    A vendor's store names its ``entity`` and says how a landed file becomes entries
    (:meth:`serialise`); ``log`` and ``loaded_message`` word its log lines.
    """

    entity: str
    log: logging.Logger
    loaded_message: str  # a %-format of (records, files)

    def __init__(self, landing_root: Path, refresh_interval: float = 1.0) -> None:
        self.landing_root = Path(landing_root)
        self.root = self.landing_root / self.entity
        self.refresh_interval = refresh_interval
        self.current: Snapshot = EMPTY
        self._lock = threading.Lock()
        self._files: dict[Path, FileSignature] = {}
        self._latest: dict[str, Position] = {}
        self._checked_at = float("-inf")
        self._listing: tuple[Listed, ...] | None = None
        self._gap: Gap | None = None
        # The last file that failed: (path, signature, reason, worth re-reading unchanged). Its bytes
        # fail the same way until they change, but an OSError may be the disk's, not the file's.
        self._failed: tuple[Path, FileSignature, str, bool] | None = None

    @abc.abstractmethod
    def serialise(self, table: pa.Table) -> tuple[list[Position], list[bytes]]:
        """Positions and JSON payloads of a landed file's rows (UnservableFile if it cannot be served)."""

    def rebuild_entries(self) -> list[Entry]:
        """Versions that are not in the files but must survive a rebuild of the feed (none here)."""
        return []

    def refresh_due(self) -> bool:
        return time.monotonic() - self._checked_at >= self.refresh_interval

    def _scan(self) -> tuple[Listed, ...]:
        """The listed days in day order; a day whose folder has no file yet counts only before others."""
        try:
            children = sorted(os.scandir(self.root), key=lambda child: child.name)
        except FileNotFoundError:
            return ()  # nothing landed yet: an empty feed, not an error
        listed: list[Listed] = []
        for child in children:
            if not _DAY_DIR.fullmatch(child.name):
                continue
            path = Path(child.path) / PART_FILE
            try:
                stat = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                listed.append((path, None))
                continue
            listed.append((path, (stat.st_mtime_ns, stat.st_size, stat.st_ino)))
        while listed and listed[-1][1] is None:
            listed.pop()  # the newest day's file has not been renamed into place yet: not landed
        return tuple(listed)

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.landing_root).as_posix()

    def _read(self, path: Path, signature: FileSignature | None) -> list[Entry] | str:
        """The file's entries, or why it cannot be served (no data values, no absolute paths)."""
        if signature is None:
            return f"the day's folder has no {PART_FILE} while later days have theirs"
        failed = self._failed
        if failed is not None and failed[:2] == (path, signature) and not failed[3]:
            return failed[2]  # the same bytes fail the same way: not read again
        transient = False
        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid or OSError on a damaged file
            message = str(exc).replace(str(path), self._relative(path))
            reason = f"not a readable Parquet file: {message}"[:_REASON_MAX]
            transient = isinstance(exc, OSError)
        else:
            try:
                check_time_range(table)
                return list(zip(*self.serialise(table), strict=True))
            except UnservableFile as exc:
                reason = str(exc)[:_REASON_MAX]
            except Exception as exc:  # noqa: BLE001 - Arrow's messages may quote values: name the type only
                reason = f"its rows could not be served ({type(exc).__name__})"
        self._failed = (path, signature, reason, transient)
        return reason

    def _load_new(
        self, listing: tuple[Listed, ...], entries: list[Entry]
    ) -> tuple[dict[Path, FileSignature], Gap | None]:
        """Read the listed days not loaded yet, in day order, up to the first that cannot be served."""
        loaded: dict[Path, FileSignature] = {}
        for index, (path, signature) in enumerate(listing):
            if path in self._files:
                continue
            result = self._read(path, signature)
            if isinstance(result, str):
                held_back = sum(1 for later, _ in listing[index + 1 :] if later not in self._files)
                return loaded, Gap(self._relative(path), result, held_back)
            assert signature is not None  # _read answers a reason for a day without a file
            entries.extend(result)
            loaded[path] = signature
        return loaded, None

    def refresh(self) -> bool:
        """Load whatever landed since the last refresh; True if a new snapshot was published."""
        with self._lock, gc_paused():
            self._checked_at = time.monotonic()
            listing = self._scan()
            failed = self._failed
            gap_file = self._gap.file if self._gap is not None else None
            retry = failed is not None and failed[3] and self._relative(failed[0]) == gap_file
            if listing == self._listing and not retry:
                return False
            self._listing = listing
            listed = dict(listing)
            stale = any(listed.get(path) != sig for path, sig in self._files.items())
            keys: Sequence[Position] = self.current.keys
            payloads: Sequence[bytes] = self.current.payloads
            entries: list[Entry] = []
            if stale:
                self.log.info("a loaded %s file changed or vanished: rebuilding the feed", self.entity)
                self._files, self._latest, keys, payloads = {}, {}, (), ()
                entries.extend(self.rebuild_entries())
            loaded, gap = self._load_new(listing, entries)
            if not loaded and not stale and gap == self._gap:
                return False
            keys, payloads = merge_latest(keys, payloads, self._latest, entries)
            del entries
            self._files.update(loaded)
            self._report_gap(gap)
            self._publish(keys, payloads)
            self.log.info(self.loaded_message, len(keys), len(self._files))
            return True

    def _report_gap(self, gap: Gap | None) -> None:
        previous, self._gap = self._gap, gap
        if previous is not None and (gap is None or gap.file != previous.file):
            self.log.info("%s is served again", previous.file)
        if gap is not None and gap != previous:
            self.log.error(
                "%s cannot be served (%s): serving the days before it only, %d later day(s) held back "
                "until it is repaired",
                gap.file,
                gap.reason,
                gap.held_back_days,
            )

    def _publish(self, keys: Sequence[Position], payloads: Sequence[bytes]) -> None:
        self.current = Snapshot(keys, payloads, files=len(self._files), version=self.current.version + 1, gap=self._gap)

    def refresh_if_due(self) -> None:
        if self.refresh_due():
            self.refresh()

    async def current_snapshot(self) -> Snapshot:
        """The snapshot a request reads, refreshed first when due."""
        if self.refresh_due():
            # Listing and any loading happen off the event loop; requests keep the old snapshot meanwhile.
            await anyio.to_thread.run_sync(self.refresh_if_due)
        return self.current
