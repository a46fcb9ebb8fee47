"""The landing zone: append-only Parquet, one folder per entity and day.

Layout: ``<root>/<entity>/date=YYYY-MM-DD/part-0.parquet``. Files are written to a temporary name
in the same folder and renamed, so a reader (the loaders, the FPR API) never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_FILE = "part-0.parquet"
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")

# Fixed writer options: together with a deterministic table they give byte-identical files.
_WRITE_OPTIONS = {"compression": "zstd", "use_dictionary": True, "write_statistics": True}


def partition_dir(root: Path, entity: str, day: dt.date) -> Path:
    return Path(root) / entity / f"date={day.isoformat()}"


def partition_file(root: Path, entity: str, day: dt.date) -> Path:
    return partition_dir(root, entity, day) / PART_FILE


def write_partition(root: Path, entity: str, day: dt.date, table: pa.Table) -> Path:
    """Atomically write (or replace) one entity's file for one day."""
    folder = partition_dir(root, entity, day)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PART_FILE
    tmp = folder / f".{PART_FILE}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp, **_WRITE_OPTIONS)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def list_partitions(root: Path, entity: str) -> list[dt.date]:
    """Days that have a complete file for the entity, in order."""
    base = Path(root) / entity
    if not base.is_dir():
        return []
    days = []
    for child in base.iterdir():
        match = _DATE_DIR.match(child.name)
        if match and (child / PART_FILE).is_file():
            days.append(dt.date.fromisoformat(match.group(1)))
    return sorted(days)


def partition_files(root: Path, entity: str, days: Iterable[dt.date]) -> list[Path]:
    """The existing files for the given days (days without a file are skipped)."""
    return [p for p in (partition_file(root, entity, d) for d in days) if p.is_file()]


def read_partition(root: Path, entity: str, day: dt.date) -> pa.Table:
    return pq.read_table(partition_file(root, entity, day))
