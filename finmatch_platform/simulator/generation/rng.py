"""Deterministic randomness: seeded generators per (seed, stream, block) and keyed hashes.

Two tools, for two access patterns:

* ``generator(seed, stream, *keys)``: a NumPy ``Generator`` from a ``SeedSequence``, for things
  drawn once per block or day (a customer block, a day's FPR batch, logins, fraud bursts).
* ``keyed_bits``: a counter-based hash (splitmix64) of (seed, stream, keys). It gives the same
  number for a (customer, day) whichever other customers are generated alongside, so a subset can
  be regenerated on its own. The FPR feed uses this to recompute a customer's last-30-day
  transactions exactly without generating 30 full days.

Neither touches global state, the wall clock or Python's salted ``hash()``.
"""

from __future__ import annotations

import numpy as np

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN_U64 = np.uint64(_GOLDEN)
_TO_UNIT = 2.0**-53

# Stream codes: one per kind of draw, so two streams never share numbers.
STREAM_CUSTOMERS = 1
STREAM_TRANSACTIONS = 2
STREAM_LOGINS = 3
STREAM_FPR = 4
STREAM_FRAUD = 5
STREAM_CREDIT = 6
STREAM_UPDATES = 7
STREAM_LOCATION = 8
STREAM_DEVICE = 9
STREAM_ATTRIBUTES = 10


def generator(seed: int, stream: int, *keys: int) -> np.random.Generator:
    """A fresh Generator for one (seed, stream, keys) block; keys must be non-negative ints."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream, *keys])))


def _mix_scalar(x: int) -> int:
    x &= _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping multiplication is intended)."""
    x = x ^ (x >> np.uint64(30))
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def keyed_bits(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """64 random bits per element, a pure function of (seed, stream, keys) element-wise.

    Leading scalar keys (a day, a purpose) are folded into the state in pure Python, so call sites
    put them first and pay for one array mix per array key only.
    """
    state = _mix_scalar(_mix_scalar(seed * _GOLDEN + stream) + stream)
    arrays = list(keys)
    while arrays and np.ndim(arrays[0]) == 0:
        state = _mix_scalar(state ^ ((int(arrays.pop(0)) * _GOLDEN) & _MASK64))
    if not arrays:
        return np.array(state, dtype=np.uint64)
    values = [np.asarray(k) for k in arrays]
    shape = np.broadcast_shapes(*(v.shape for v in values))
    h = None
    for v in values:
        word = np.broadcast_to(v.astype(np.int64, copy=False).view(np.uint64), shape) * _GOLDEN_U64
        word ^= np.uint64(state) if h is None else h
        h = _mix(word)
    return h


def derive(bits: np.ndarray, field: int | np.ndarray) -> np.ndarray:
    """Independent bits for a numbered field from one keyed base (cheaper than rehashing keys)."""
    if isinstance(field, int):
        return _mix(bits + np.uint64((field * _GOLDEN) & _MASK64))
    return _mix(bits + np.asarray(field).astype(np.uint64) * _GOLDEN_U64)


def to_unit(bits: np.ndarray) -> np.ndarray:
    """Uniform float64 in [0, 1) from 64 random bits."""
    return (bits >> np.uint64(11)).astype(np.float64) * _TO_UNIT


def to_unit32_pair(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 uniforms in [0, 1) from the high and low 24 bits of each 64-bit value."""
    scale = np.float32(2.0**-24)
    high = (bits >> np.uint64(40)).astype(np.float32) * scale
    low = (bits & np.uint64(0xFFFFFF)).astype(np.float32) * scale
    return high, low


def normal_from_uniform(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Standard normal by Box-Muller; 1 - u1 keeps the log away from zero."""
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def poisson_from_uniform(lam: np.ndarray, u: np.ndarray, cap: int = 64) -> np.ndarray:
    """Poisson(lam) counts by inverting the CDF.

    Counts 0 and 1 (nearly all of them at the rates used here) are settled with whole-array
    comparisons; only the rest iterate, on the shrinking subset still undecided.
    """
    lam = np.asarray(lam)
    if lam.dtype != np.float32:
        lam = lam.astype(np.float64)
    p = np.exp(-lam)
    cdf = p.copy()
    counts = (u > cdf).astype(np.int64)
    p *= lam
    cdf += p
    counts += u > cdf
    idx = np.nonzero(u > cdf)[0]
    p, cdf = p[idx], cdf[idx]
    k = 2
    while idx.size and k <= cap:
        p *= lam[idx] / k
        cdf += p
        more = u[idx] > cdf
        counts[idx[more]] += 1
        idx, p, cdf = idx[more], p[more], cdf[more]
        k += 1
    return counts


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7): NumPy has no erf."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def choose(u: np.ndarray, cumulative: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Categorical draw: the first category whose cumulative weight exceeds u * total.

    ``cumulative`` is one row of cumulative weights shared by all elements, or a table of rows
    indexed by ``rows``. Few categories: a chain of comparisons beats searchsorted several-fold.
    """
    if rows is None:
        cdf = cumulative / cumulative[-1]
        if cdf.size > 16:
            return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)
        out = np.zeros(np.shape(u), dtype=np.int16)
        for c in cdf[:-1]:
            out += u >= c
        return out
    table = cumulative / cumulative[:, -1:]
    out = np.zeros(np.shape(u), dtype=np.int16)
    for j in range(table.shape[1] - 1):
        out += u >= table[:, j][rows]
    return out
