"""The checkpoint log: each checkpoint's rows and position, appended as one checksummed record.

A checkpoint is durable once its record is written and synced to disk. Syncing runs on a thread
of its own, so the next page is fetched while the disk confirms (a sync that finds several
records written syncs them together). The engine merges the log into the warehouse in bulk, and
the merge's transaction stores the sequence number of the last record it applied, so a crash
between that commit and removing the merged records replays nothing twice.

The log is a folder of segment files, ``<stream>.<first seq>.ckpt``: the engine closes a
segment when it hands its records to a merge, and removes it once the merge has committed,
while new checkpoints go to the next segment. On resume the segments are read back in order; a
torn last record (a kill mid-write) fails its length or checksum and is cut off, with
everything before it kept.

Record layout: ``FMCK`` | seq (u64) | body length (u32) | CRC-32 of the body (u32) | body, where
the body is the JSON of one :class:`Entry`.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

log = logging.getLogger("finmatch.extraction")

MAGIC = b"FMCK"
_HEADER = struct.Struct("<4sQII")


@dataclass
class Entry:
    seq: int
    position: str | None
    pages: int
    received: int
    records: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[tuple[str, Any]] = field(default_factory=list)  # (reason, record)
    reset: bool = False

    def encode(self) -> bytes:
        fields = [self.position, self.pages, self.received, self.reset, self.records, self.quarantine]
        try:
            return orjson.dumps(fields, default=str)
        except TypeError:  # an integer past 64 bits, which only the standard encoder writes
            return json.dumps(fields, default=str).encode("utf-8")

    @classmethod
    def decode(cls, seq: int, body: bytes) -> Entry:
        try:
            position, pages, received, reset, records, quarantine = orjson.loads(body)
        except orjson.JSONDecodeError:
            position, pages, received, reset, records, quarantine = json.loads(body)
        return cls(seq, position, pages, received, records, [tuple(q) for q in quarantine], reset)  # type: ignore[misc]


class CheckpointLog:
    """One stream's log. One thread appends; a syncer thread makes appends durable."""

    def __init__(self, directory: Path, stream: str, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.stream = stream
        self.fsync = fsync
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = None
        self._open_segments: list[Path] = []  # written since the last hand-over to a merge
        self.written_seq = 0
        self.durable_seq = 0
        self._cond = threading.Condition()
        self._closing = False
        self._sync_error: BaseException | None = None
        self._syncer = threading.Thread(target=self._sync_loop, name=f"{stream}-log-sync", daemon=True)
        if fsync:
            self._syncer.start()

    def __enter__(self) -> CheckpointLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def segments(self) -> list[Path]:
        found = self.directory.glob(f"{self.stream}.*.ckpt")
        return sorted(found, key=lambda p: int(p.name[len(self.stream) + 1 : -len(".ckpt")]))

    def replay(self) -> list[Entry]:
        """Every whole record in order; a torn or corrupt tail is cut off, later segments dropped."""
        entries: list[Entry] = []
        segments = self.segments()
        for index, path in enumerate(segments):
            data = path.read_bytes()
            offset = 0
            while offset + _HEADER.size <= len(data):
                magic, seq, length, crc = _HEADER.unpack_from(data, offset)
                start, end = offset + _HEADER.size, offset + _HEADER.size + length
                if magic != MAGIC or end > len(data) or zlib.crc32(data[start:end]) != crc:
                    break
                entries.append(Entry.decode(seq, data[start:end]))
                offset = end
            if offset < len(data):
                log.warning("%s: discarding %d bytes of a torn checkpoint record", path, len(data) - offset)
                with open(path, "r+b") as torn:
                    torn.truncate(offset)
                    os.fsync(torn.fileno())
                for later in segments[index + 1 :]:
                    later.unlink()
                break
        return entries

    def append(self, entry: Entry) -> None:
        """Write one record; it is durable once ``durable_seq`` reaches its seq."""
        self._raise_sync_error()
        body = entry.encode()
        if self._file is None:
            path = self.directory / f"{self.stream}.{entry.seq}.ckpt"
            self._file = open(path, "ab")  # noqa: SIM115 - closed by hand_over()/close()
            self._open_segments.append(path)
        self._file.write(_HEADER.pack(MAGIC, entry.seq, len(body), zlib.crc32(body)) + body)
        self._file.flush()
        with self._cond:
            self.written_seq = entry.seq
            if not self.fsync:
                self.durable_seq = entry.seq
            self._cond.notify_all()

    def hand_over(self) -> list[Path]:
        """Close the current segment once durable; its records go to a merge, new ones elsewhere."""
        self.wait_durable(self.written_seq)
        if self._file is not None:
            self._file.close()
            self._file = None
        handed, self._open_segments = self._open_segments, []
        return handed

    def wait_durable(self, seq: int) -> None:
        with self._cond:
            while self.durable_seq < seq and self._sync_error is None:
                self._cond.wait()
        self._raise_sync_error()

    def remove(self, segments: list[Path]) -> None:
        for path in segments:
            path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Drop every segment (a reset, or records already merged)."""
        self.hand_over()
        self.remove(self.segments())

    def close(self) -> None:
        if self._file is not None:
            self.wait_durable(self.written_seq)
            self._file.close()
            self._file = None
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._syncer.is_alive():
            self._syncer.join()

    def _raise_sync_error(self) -> None:
        if self._sync_error is not None:
            raise self._sync_error

    def _sync_loop(self) -> None:
        while True:
            with self._cond:
                while self.written_seq <= self.durable_seq and not self._closing:
                    self._cond.wait()
                if self.written_seq <= self.durable_seq:
                    return
                target, handle = self.written_seq, self._file
            try:
                if handle is not None:
                    os.fdatasync(handle.fileno())  # releases the GIL: the next page is fetched meanwhile
            except BaseException as exc:  # noqa: BLE001 - raised on the appending thread
                with self._cond:
                    self._sync_error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self.durable_seq = max(self.durable_seq, target)
                self._cond.notify_all()
