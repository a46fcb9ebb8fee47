"""The FPR change log as the API serves it (snapshots and refresh: :mod:`.landed`).

The generator lands ``<landing>/fpr_records/date=YYYY-MM-DD/part-0.parquet``, each file holding
every record version whose ``updated_at`` falls on that day. The API serves the latest version of
each record in keyset order ``(updated_at, record_id)``.

With ``vendor_ids`` (the API's ``vendor`` profile) record_id and customer_id are rewritten into the
shapes the vendor's documentation shows (a UUID, ``CUST_`` + 6 digits) when a file is loaded, so
requests pay nothing for it. Keys, and so cursors, keep the landed record_id: the keyset order and
a stored cursor do not depend on the profile.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from finmatch_platform.simulator.pagination import Position

from .landed import ISO_UTC_MICROS, TS_US_UTC, LandedStore, UnservableFile

ENTITY = "fpr_records"

log = logging.getLogger("finmatch.api.storage")

# uuid5(NAMESPACE_URL, "https://finmatch.example/simulator/fpr/record_id"): fixed, so a record's
# vendor id is the same on every request, restart and machine.
VENDOR_ID_NAMESPACE = uuid.UUID("670a3482-3504-5a81-95d1-d251eb5bf1d8")
_NAMESPACE_BYTES = VENDOR_ID_NAMESPACE.bytes
_SIMULATOR_CUSTOMER_ID = r"^C\d{9}$"


def vendor_record_id(record_id: str) -> str:
    """The record's id as the vendor profile serves it: uuid5(VENDOR_ID_NAMESPACE, record_id).

    Computed like :func:`uuid.uuid5` without building UUID objects (they dominate a cold load).
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + record_id.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def vendor_customer_ids(customer_ids: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``C`` + 9 digits -> ``CUST_`` + the number in (at least) 6 digits: C000000042 -> CUST_000042.

    Bijective, so customers still group and join among FPR records; any other value is left as it is.
    """
    simulator = pc.match_substring_regex(customer_ids, _SIMULATOR_CUSTOMER_ID)
    # Up to three leading zeros go, so six digits remain (more for numbers of a million and above).
    rewritten = pc.replace_substring_regex(customer_ids, r"^C0{0,3}(\d{6,9})$", r"CUST_\1")
    result = pc.if_else(simulator, rewritten, customer_ids)
    return result.combine_chunks() if isinstance(result, pa.ChunkedArray) else result


def _default(value: object) -> object:
    # Decimal and other exotic Arrow types in a future column: a string beats a 500.
    return str(value)


def serialise_table(table: pa.Table, vendor_ids: bool = False) -> tuple[list[Position], list[bytes]]:
    """Positions and JSON bytes, row by row; rows without a record_id or updated_at are skipped.

    Dates become ISO strings and timestamps ISO-8601 UTC with microseconds (vectorised in Arrow,
    far cheaper than building datetime objects); ``_deleted`` is a boolean on every record. With
    ``vendor_ids`` the payloads carry the vendor-shaped ids; the positions keep the landed ones.
    """
    if "_deleted" not in table.column_names:
        table = table.append_column("_deleted", pa.array([False] * table.num_rows, pa.bool_()))
    if "record_id" not in table.column_names or "updated_at" not in table.column_names:
        raise UnservableFile("an fpr_records file needs record_id and updated_at columns")
    if not pa.types.is_string(table["record_id"].type):
        table = table.set_column(
            table.column_names.index("record_id"), "record_id", pc.cast(table["record_id"], pa.string())
        )
    updated_at = table["updated_at"]
    if updated_at.type != TS_US_UTC:
        updated_at = pc.cast(updated_at, TS_US_UTC)
        table = table.set_column(table.column_names.index("updated_at"), "updated_at", updated_at)
    valid = pc.and_(pc.is_valid(table["record_id"]), pc.is_valid(updated_at))
    if not pc.all(valid).as_py():
        log.warning(
            "skipping %d fpr_records rows without record_id or updated_at",
            table.num_rows - pc.sum(valid).as_py(),
        )
        table = table.filter(valid)
        updated_at = table["updated_at"]

    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name == "_deleted":
            column = pc.fill_null(column, False)
        elif pa.types.is_timestamp(column.type):
            column = pc.strftime(pc.cast(column, TS_US_UTC), format=ISO_UTC_MICROS)
        elif pa.types.is_date(column.type):
            column = pc.cast(column, pa.string())
        columns.append(column)
    rendered = pa.table(columns, names=table.column_names)

    micros = pc.cast(updated_at, pa.int64()).to_pylist()
    record_ids = table["record_id"].to_pylist()
    if vendor_ids:
        names = rendered.column_names
        rendered = rendered.set_column(
            names.index("record_id"), "record_id", pa.array([vendor_record_id(r) for r in record_ids], pa.string())
        )
        if "customer_id" in names and pa.types.is_string(rendered["customer_id"].type):
            customer_ids = vendor_customer_ids(rendered["customer_id"])
            rendered = rendered.set_column(names.index("customer_id"), "customer_id", customer_ids)
    dumps = orjson.dumps
    payloads: list[bytes] = []
    # Row dicts batch by batch: building them column-wise and zipping is slower (cache misses).
    for batch in rendered.to_batches(max_chunksize=2048):
        payloads.extend([dumps(row, default=_default) for row in batch.to_pylist()])
    return [Position(us, rid) for us, rid in zip(micros, record_ids, strict=True)], payloads


class FprStore(LandedStore):
    """The FPR change log under ``landing_root``, published as snapshots of the latest state.

    With ``vendor_ids`` (the API's ``vendor`` profile) the payloads carry the vendor-shaped ids.
    """

    entity = ENTITY
    log = logging.getLogger("finmatch.api.storage")
    loaded_message = "fpr feed: %d records from %d files"

    def __init__(self, landing_root: Path, refresh_interval: float = 1.0, vendor_ids: bool = False) -> None:
        super().__init__(landing_root, refresh_interval=refresh_interval)
        self.vendor_ids = vendor_ids

    def serialise(self, table: pa.Table) -> tuple[list[Position], list[bytes]]:
        return serialise_table(table, self.vendor_ids)
