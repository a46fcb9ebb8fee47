"""Drawing primitives shared by a customer's first draw and later life events (a move, a new mobile).

Uniforms come either from a sub-block's generator (:class:`Uniforms`) or keyed by customer
(:class:`KeyedUniforms`), and the place and mobile draws accept both.
"""

from __future__ import annotations

import numpy as np

from . import reference as ref
from .config import GenerationConfig
from .pools import Pools
from .rng import STREAM_ATTRIBUTES, choose, derive, keyed_bits, to_unit


class LookupTable:
    """Categorical draws with per-row weights in one gather instead of one comparison per category:
    each weight row is quantised into BINS bins (probabilities exact to 1/1024, ample here)."""

    BINS = 1024

    def __init__(self, weights: list[list[float]] | np.ndarray) -> None:
        cdf = np.cumsum(np.asarray(weights, dtype=np.float64), axis=1)
        cdf /= cdf[:, -1:]
        mids = (np.arange(self.BINS) + 0.5) / self.BINS
        self._table = np.stack([np.searchsorted(row, mids, side="right") for row in cdf]).astype(np.int8).ravel()

    def draw(self, u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self._table[rows.astype(np.int32) * self.BINS + (u * self.BINS).astype(np.int32)]


SEGMENT_BY_TIER = LookupTable(ref.SEGMENT_BY_TIER)
# Categorical draws over many categories: a 65,536-bin lookup table instead of a binary search.
CITY_LOOKUP_BINS = 1 << 16
_CITY_CDF_BY_COUNTRY = [
    (
        np.nonzero(c == ref.CITY_COUNTRY)[0],
        np.cumsum([ref.CITIES[i].weight for i in np.nonzero(c == ref.CITY_COUNTRY)[0]]),
    )
    for c in range(len(ref.COUNTRIES))
]


INDIA_CITY_LOOKUP = _CITY_CDF_BY_COUNTRY[ref.INDIA][0][
    choose((np.arange(CITY_LOOKUP_BINS) + 0.5) / CITY_LOOKUP_BINS, _CITY_CDF_BY_COUNTRY[ref.INDIA][1])
].astype(np.int16)


class Uniforms:
    """float32 uniforms, one array per call: half the cost of float64 and precise enough here."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self._rng = rng
        self._n = n

    def __call__(self) -> np.ndarray:
        return self._rng.random(self._n, dtype=np.float32)

    def normals(self, count: int) -> list[np.ndarray]:
        """Standard normals by Box-Muller from float32 uniforms (cheaper than the ziggurat here)."""
        out: list[np.ndarray] = []
        while len(out) < count:
            radius = np.sqrt(np.float32(-2.0) * np.log1p(-self()))
            angle = np.float32(2 * np.pi) * self()
            out += [radius * np.cos(angle), radius * np.sin(angle)]
        return out[:count]


class KeyedUniforms:
    """Uniforms keyed by customer: the same customer gets the same numbers in any subset."""

    def __init__(self, config: GenerationConfig, ids: np.ndarray, purpose: int) -> None:
        self._bits = keyed_bits(config.seed, STREAM_ATTRIBUTES, purpose, ids)
        self._next = 0

    def __call__(self) -> np.ndarray:
        self._next += 1
        return to_unit(derive(self._bits, self._next))


def draw_city(uc: np.ndarray, country: np.ndarray) -> np.ndarray:
    """A city of each customer's country, weighted, from one uniform each."""
    city = INDIA_CITY_LOOKUP[(uc * CITY_LOOKUP_BINS).astype(np.int32)]
    for c in range(1, len(ref.COUNTRIES)):
        rows = np.nonzero(country == c)[0]
        if rows.size:
            candidates, cdf = _CITY_CDF_BY_COUNTRY[c]
            city[rows] = candidates[choose(uc[rows], cdf)]
    return city


def draw_address(u: Uniforms | KeyedUniforms, pools: Pools, country: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """City, segment, street, house number, locality and postcode randomness."""
    city = draw_city(u(), country)
    tier = ref.CITY_TIER[city] - 1
    segment = SEGMENT_BY_TIER.draw(u(), tier)
    segment[country != ref.INDIA] = 0  # expatriates live in cities
    street = pools.streets.pick(country, u())
    house = pools.houses.pick(country, u())
    locality = (u() * len(pools.localities)).astype(np.int32)
    locality[(country != ref.INDIA) | (u() < 0.35)] = -1
    postcode_num = (u() * 2**24).astype(np.int32)
    return city, segment, street, house, locality, postcode_num


def draw_mobile(u: Uniforms | KeyedUniforms, country: np.ndarray) -> np.ndarray:
    """National mobile numbers: India 10 digits from 6-9, UAE 5x + 7, UK 7 + 9, US NXX + 7, SG 8/9 + 7."""
    lead = u()
    rest = (u().astype(np.float64) * 1e9 + u() * 1e3).astype(np.int64) % 1_000_000_000
    out = (6 + (lead * 4).astype(np.int64)) * 1_000_000_000 + rest  # India
    abroad = np.nonzero(country != ref.INDIA)[0]
    if abroad.size:  # a few percent: format them on the subset only
        c, lead_a, rest7 = country[abroad], lead[abroad], rest[abroad] % 10_000_000
        uae = np.array([50, 52, 54, 55, 56, 58])[(lead_a * 6).astype(np.int64)] * 10_000_000 + rest7
        us = (
            np.array([201, 212, 646, 408, 713, 312, 732, 917])[(lead_a * 8).astype(np.int64)] * 10_000_000
            + 2_000_000
            + rest7 % 8_000_000
        )
        sg = (8 + (lead_a * 2).astype(np.int64)) * 10_000_000 + rest7
        out[abroad] = np.select([c == ref.UAE, c == ref.UK, c == ref.USA], [uae, 7_000_000_000 + rest[abroad], us], sg)
    return out
