"""The checkpoint log: each checkpoint's rows and position, appended as one checksummed record.

A checkpoint is durable once its record is written and synced to disk (about a tenth of a
millisecond here, against a few milliseconds for a warehouse transaction). The engine merges
the log into the warehouse in bulk, and the merge's transaction stores the sequence number of
the last record it applied, so a crash between that commit and clearing the log replays
nothing twice. On resume the log is read back; a torn last record (a kill mid-write) fails its
length or checksum and is cut off, with everything before it kept.

Record layout: ``FMCK`` | seq (u64) | body length (u32) | CRC-32 of the body (u32) | body, where
the body is the JSON of one :class:`Entry`.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    """One stream's log file. Not thread-safe: one sync appends at a time."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed by close()

    def __enter__(self) -> CheckpointLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def replay(self) -> list[Entry]:
        """Every whole record in order; a torn or corrupt tail is cut off the file."""
        data = self.path.read_bytes()
        entries: list[Entry] = []
        offset = 0
        while offset + _HEADER.size <= len(data):
            magic, seq, length, crc = _HEADER.unpack_from(data, offset)
            start, end = offset + _HEADER.size, offset + _HEADER.size + length
            if magic != MAGIC or end > len(data) or zlib.crc32(data[start:end]) != crc:
                break
            entries.append(Entry.decode(seq, data[start:end]))
            offset = end
        if offset < len(data):
            log.warning("%s: discarding %d bytes of a torn last checkpoint record", self.path, len(data) - offset)
            self._file.truncate(offset)
            self._sync()
        return entries

    def append(self, entry: Entry) -> None:
        body = entry.encode()
        self._file.write(_HEADER.pack(MAGIC, entry.seq, len(body), zlib.crc32(body)) + body)
        self._file.flush()
        self._sync()

    def clear(self) -> None:
        """Empty the log once its records are merged (and their sequence committed)."""
        self._file.truncate(0)
        self._sync()

    def _sync(self) -> None:
        if self.fsync:
            os.fdatasync(self._file.fileno())


def remove(path: Path) -> None:
    Path(path).unlink(missing_ok=True)
