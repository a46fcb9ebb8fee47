"""The checkpoint log: each checkpoint's rows and position, appended as one checksummed record.

A checkpoint is durable once its record is written and synced to disk. Writing and syncing run
on the log's own thread, so the next page is fetched while the disk confirms (records queued
together are synced together). The engine merges the log into the warehouse in bulk, and
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
    bodies: list[bytes] = field(default_factory=list)  # clean pages' response bodies, as received

    def encode(self) -> bytes:
        """The fields as one JSON line, then the bodies as they came (their lengths in the line)."""
        fields = [self.position, self.pages, self.received, self.reset, self.records, self.quarantine]
        fields.append([len(b) for b in self.bodies])
        try:
            head = orjson.dumps(fields, default=str)
        except TypeError:  # an integer past 64 bits, which only the standard encoder writes
            head = json.dumps(fields, default=str).encode("utf-8")
        return b"".join([head, b"\n", *self.bodies])

    @classmethod
    def decode(cls, seq: int, body: bytes) -> Entry:
        end = body.index(b"\n")
        try:
            position, pages, received, reset, records, quarantine, lengths = orjson.loads(body[:end])
        except orjson.JSONDecodeError:
            position, pages, received, reset, records, quarantine, lengths = json.loads(body[:end])
        bodies, offset = [], end + 1
        for length in lengths:
            bodies.append(body[offset : offset + length])
            offset += length
        quarantined = [tuple(q) for q in quarantine]
        return cls(seq, position, pages, received, records, quarantined, reset, bodies)  # type: ignore[arg-type]


class CheckpointLog:
    """One stream's log. One thread appends; the log's own thread encodes, writes and syncs."""

    def __init__(self, directory: Path, stream: str, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.stream = stream
        self.fsync = fsync
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = None
        self._open_segments: list[Path] = []  # written since the last hand-over to a merge
        self._pending: list[Entry] = []  # appended, not yet written
        self.written_seq = 0  # appended (queued) so far
        self.durable_seq = 0  # written and synced
        self._cond = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name=f"{stream}-log", daemon=True)
        self._writer.start()

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
        """Queue one record; it is durable once ``durable_seq`` reaches its seq."""
        with self._cond:
            self._raise_error()
            self._pending.append(entry)
            self.written_seq = entry.seq
            self._cond.notify_all()

    def hand_over(self) -> list[Path]:
        """Close the current segment once durable; its records go to a merge, new ones elsewhere."""
        self.wait_durable(self.written_seq)
        with self._cond:
            if self._file is not None:
                self._file.close()
                self._file = None
            handed, self._open_segments = self._open_segments, []
        return handed

    def wait_durable(self, seq: int) -> None:
        with self._cond:
            while self.durable_seq < seq and self._error is None:
                self._cond.wait()
            self._raise_error()

    def remove(self, segments: list[Path]) -> None:
        for path in segments:
            path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Drop every segment (a reset, or records already merged)."""
        self.hand_over()
        self.remove(self.segments())

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _write_loop(self) -> None:
        # Encoding holds the GIL, but the checksum, the write and the sync release it: the
        # appending thread fetches the next page meanwhile. Records queued together are
        # synced together.
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
            try:
                for entry in batch:
                    body = entry.encode()
                    if self._file is None:
                        path = self.directory / f"{self.stream}.{entry.seq}.ckpt"
                        self._file = open(path, "ab")  # noqa: SIM115 - closed by hand_over()/close()
                        self._open_segments.append(path)
                    self._file.write(_HEADER.pack(MAGIC, entry.seq, len(body), zlib.crc32(body)) + body)
                assert self._file is not None
                self._file.flush()
                if self.fsync:
                    os.fdatasync(self._file.fileno())
            except BaseException as exc:  # noqa: BLE001 - raised on the appending thread
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self.durable_seq = batch[-1].seq
                self._cond.notify_all()
