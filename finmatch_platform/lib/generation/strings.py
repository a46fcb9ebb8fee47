"""Vectorised string building on Arrow arrays: the hot spot of row generation.

Rules of thumb measured on 1,000,000 rows: ``take`` from a small pool ~10 ms, int-to-string cast
~35 ms, a string join ~35-50 ms, while a Python loop would take seconds. Fixed-width ids are built
as a byte matrix from a 4-digit lookup table, ~4x cheaper than cast + pad + join.
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
# NumPy and Arrow release the GIL in their kernels, so threads scale on the 2-core target machine.
WORKERS = max(1, min(os.cpu_count() or 1, 4))

T = TypeVar("T")
R = TypeVar("R")


def fixed_width(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal, e.g. fixed_width("C", [42], 9) -> "C000000042"."""
    x = np.asarray(numbers, dtype=np.int64)
    n = x.size
    if n and (x.min() < 0 or x.max() >= 10**width):
        raise ValueError(f"numbers out of range for {width} digits after {prefix!r}")
    groups = -(-width // 4)
    # Four digits at a time: a 1-D gather of uint32 words, most significant group first.
    words = np.empty((n, groups), dtype=np.uint32)
    x = x.astype(np.int32) if width <= 9 else x.copy()
    for g in range(groups - 1, -1, -1):
        words[:, g] = _DIGITS4_WORDS[x % 10_000]
        x //= 10_000
    digits = words.view(np.uint8).reshape(n, groups * 4)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    buf = np.empty((n, head.size + width), dtype=np.uint8)
    buf[:, : head.size] = head
    buf[:, head.size :] = digits[:, groups * 4 - width :]
    offsets = np.arange(0, (n + 1) * buf.shape[1], buf.shape[1], dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def constant(value: str, n: int) -> pa.Array:
    """n copies of one string, built from buffers (no per-row conversion)."""
    data = value.encode("utf-8")
    offsets = np.arange(0, (n + 1) * len(data), len(data), dtype=np.int32) if data else np.zeros(n + 1, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


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
