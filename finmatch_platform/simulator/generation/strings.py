"""Vectorised string building on Arrow arrays: the hot spot of row generation.

Columns are built with Arrow compute (``take`` from small pools, int-to-string casts, joins), never
a Python loop per row. Fixed-width ids are built as packed records (prefix bytes, then 4-digit
words from a lookup table) written straight into the Arrow data buffer, cheaper than cast + pad +
join.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_DIGITS4 = np.array([list(f"{i:04d}".encode()) for i in range(10_000)], dtype=np.uint8)
_DIGITS4_WORDS = _DIGITS4.view(np.uint32).ravel()  # the four ASCII digits of i as one word
_DIGITS2_WORDS = _DIGITS4[:100, 2:].copy().view(np.uint16).ravel()  # the two ASCII digits of i < 100
# NumPy and Arrow release the GIL in their kernels, so threads scale on the 2-core target machine.
WORKERS = max(1, min(os.cpu_count() or 1, 4))

T = TypeVar("T")
R = TypeVar("R")

Fields = list[tuple[str, object]]  # (NumPy dtype, a constant or one value per row)
# Records are written this many rows at a time: the digit arithmetic of a slice stays in cache.
PACK_ROWS = 1 << 14


def digit_fields(numbers: np.ndarray, width: int) -> Fields:
    """The zero-padded decimal digits of ``numbers`` (0 <= x < 10**width) as fields for ``pack``:
    the leading ``width % 4`` digits as bytes, then four digits per uint32 word (one gather from a
    10,000-entry table). Floor division by a constant, not ``%``: NumPy divides by a scalar several
    times faster than it takes a remainder."""
    x = np.asarray(numbers).astype(np.int64)  # int64 indices gather fastest
    words = []
    for _ in range(width // 4):
        q = x // 10_000
        x -= q * 10_000
        words.append(_DIGITS4_WORDS[x])
        x = q
    fields: Fields = []
    lead = width % 4
    if lead == 3:
        q = x // 100
        fields += [("u1", (q + 48).astype(np.uint8)), ("<u2", _DIGITS2_WORDS[x - q * 100])]
    elif lead == 2:
        fields.append(("<u2", _DIGITS2_WORDS[x]))
    elif lead == 1:
        fields.append(("u1", (x + 48).astype(np.uint8)))
    return fields + [("<u4", w) for w in reversed(words)]


def arrow_empty(n: int, dtype: np.typing.DTypeLike) -> np.ndarray:
    """An uninitialised NumPy array in Arrow's memory pool.

    NumPy takes large arrays from fresh memory maps that page-fault on first touch (a day of
    transactions at 1,000,000 customers took ~10,000 faults, 10-15% of its time on the 2-core VM),
    while Arrow's pool (mimalloc) keeps freed memory for the next allocation. Used for output
    buffers (they end up in Arrow arrays anyway) and the large intermediates of a day."""
    dtype = np.dtype(dtype)
    return np.frombuffer(pa.allocate_buffer(n * dtype.itemsize), dtype=dtype, count=n)


def fixed_offsets(n: int, width: int) -> pa.Buffer:
    """Arrow offsets 0, width, 2 * width, .. of n strings of ``width`` bytes."""
    out = arrow_empty(n + 1, np.int32)
    for i in range(0, n + 1, 1 << 16):
        stop = min(i + (1 << 16), n + 1)
        out[i:stop] = np.arange(i * width, stop * width, width, dtype=np.int32)
    return pa.py_buffer(out)


class Records:
    """n fixed-width strings stored as packed records (one NumPy field per part, no padding) that
    become the Arrow data buffer as is. ``layout`` gives the fields (dtype, value) of any row, e.g.
    ``constant_fields("C") + digit_fields(np.empty(0), 9)``; ``write`` fills a slice of rows
    (strided 1-D copies: no per-byte work, no Python per row), from any thread for disjoint slices."""

    def __init__(self, n: int, layout: Fields) -> None:
        self._buf = arrow_empty(n, np.dtype([(f"f{i}", kind) for i, (kind, _) in enumerate(layout)]))

    def write(self, rows: slice, fields: Fields) -> None:
        view = self._buf[rows]
        for i, (_, values) in enumerate(fields):
            view[f"f{i}"] = values

    def to_arrow(self) -> pa.Array:
        n, width = self._buf.size, self._buf.dtype.itemsize
        return pa.StringArray.from_buffers(n, fixed_offsets(n, width), pa.py_buffer(self._buf))


def pack(n: int, producers: Sequence[Callable[[slice], Fields]]) -> pa.Array:
    """n fixed-width strings, each the concatenation of the fields the producers return for a
    slice of rows, written PACK_ROWS rows at a time (the digit arithmetic of a slice stays in cache)."""
    pieces = [slice(i, min(i + PACK_ROWS, n)) for i in range(0, n, PACK_ROWS)] or [slice(0, 0)]
    records = None
    for piece in pieces:
        fields = [field for produce in producers for field in produce(piece)]
        if records is None:
            records = Records(n, fields)
        records.write(piece, fields)
    return records.to_arrow()


def check_range(numbers: np.ndarray, width: int, prefix: str) -> None:
    x = np.asarray(numbers)
    if x.size and (x.min() < 0 or x.max() >= 10**width):
        raise ValueError(f"numbers out of range for {width} digits after {prefix!r}")


def fixed_width(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal, e.g. fixed_width("C", [42], 9) -> "C000000042"."""
    x = np.asarray(numbers, dtype=np.int64)
    check_range(x, width, prefix)
    head = constant_fields(prefix)
    return pack(x.size, [lambda _: head, lambda rows: digit_fields(x[rows], width)])


def constant_fields(text: str) -> Fields:
    """A constant string as record fields for ``pack``: little-endian words of 8, 4, 2 and 1 bytes
    (NumPy broadcasts an integer into a strided field several times faster than a bytes value)."""
    data = text.encode("utf-8")
    fields: Fields = []
    i = 0
    for size in (8, 4, 2, 1):
        while len(data) - i >= size:
            fields.append((f"<u{size}", int.from_bytes(data[i : i + size], "little")))
            i += size
    return fields


def constant(value: str, n: int) -> pa.Array:
    """n copies of one string, built from buffers (no per-row conversion)."""
    if not value:
        return pa.StringArray.from_buffers(n, pa.py_buffer(np.zeros(n + 1, dtype=np.int32)), pa.py_buffer(b""))
    fields = constant_fields(value)
    records = Records(n, fields)
    for piece in range(0, n, 1 << 16):
        records.write(slice(piece, piece + (1 << 16)), fields)
    return records.to_arrow()


def ints(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def take(values: Sequence[str] | pa.Array, codes: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    """values[codes] as a string array; rows in ``null_mask`` are null."""
    array = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    idx = np.asarray(codes, dtype=np.int32)
    return array.take(pa.array(idx, mask=null_mask) if null_mask is not None else pa.array(idx))


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def parallel_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """fn over items on a few threads, results in input order (so output never depends on timing)."""
    if len(items) <= 1 or WORKERS == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(fn, items))
