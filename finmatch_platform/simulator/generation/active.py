"""Who is active on a day and where they are, from per-customer numbers derived once per population.

Day-independent per-customer numbers (thresholds, active spans, weights) are derived once per
cached population; a day then finds its active customers and their locations with a few
comparisons. Also the exact 24-bit shortcuts the day's keyed draws share.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np

from . import reference as ref
from .config import GenerationConfig
from .customer_draws import CITY_LOOKUP_BINS, INDIA_CITY_LOOKUP
from .customer_latents import Latents
from .customer_state import home_city
from .customers import population, population_blocks, population_of_blocks
from .dates import NEVER, age_years, shift_years
from .rng import STREAM_LOCATION, keyed_bits
from .strings import arrow_empty

# Share of customer-days spent away from home, before the travel-affinity tilt.
AWAY_BASE_PROB = 0.03
AWAY_MAX_PROB = 0.35

# --- exact shortcuts for the hot draws -------------------------------------------------------------
# A 24-bit uniform u = k / 2**24 is exact in float32 and float64, so ``u >= c`` (c a float64) holds
# exactly when ``k >= ceil(c * 2**24)``: categorical draws compare small integers instead of
# converting, scaling and promoting every uniform. Same results, bit for bit (the golden-file and
# slicing tests pin them).
_UNIT24 = np.float32(2.0**-24)
_SHIFT_HIGH24 = np.uint64(40)
_LOW24 = np.uint64(0xFFFFFF)


def by_flag(table: np.ndarray, flag: np.ndarray) -> np.ndarray:
    return table[flag.view(np.uint8).astype(np.intp)]


def high24(bits: np.ndarray) -> np.ndarray:
    return (bits >> _SHIFT_HIGH24).astype(np.int32)


def low24(bits: np.ndarray) -> np.ndarray:
    return (bits & _LOW24).astype(np.int32)


def unit24(k: np.ndarray) -> np.ndarray:
    """The float32 uniform of a 24-bit integer: what rng.to_unit32_pair returns, bit for bit
    (int32 -> float32 is a vector instruction; uint64 -> float32 is not)."""
    return k.astype(np.float32) * _UNIT24


# Population-wide masks are built this many customers at a time (temporaries stay in cache).
MASK_SLICE = 1 << 16


def _active_mask(lat: Latents, epoch: int, rows: slice) -> np.ndarray:
    """``(created_epoch < epoch) & (status_at(lat, epoch) == ACTIVE)`` for the customers at
    ``rows``, in boolean algebra (np.where branches on random data)."""
    changed = lat.status_event_epoch[rows] <= epoch
    before = (lat.status0_epoch[rows] > epoch) | (lat.status0[rows] == ref.ACTIVE)
    after = lat.status_after[rows] == ref.ACTIVE
    return (lat.created_epoch[rows] < epoch) & ((changed & after) | (before & ~changed))


def slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)] or [slice(0, 0)]


def active_on(lat: Latents, epoch: int) -> np.ndarray:
    """Customers who can transact and log in on the day: onboarded before it and Active on it."""
    pieces = slices(len(lat), MASK_SLICE)
    return np.concatenate([np.nonzero(_active_mask(lat, epoch, p))[0] + p.start for p in pieces])


def adult_dob_cutoff(epoch: int) -> int:
    """The latest date of birth (epoch day) of someone ADULT_AGE or older on the day: age_years
    never increases with the date of birth, so ``age >= ADULT_AGE`` is ``dob <= cutoff``."""
    guess = int(shift_years(np.array([epoch]), -ref.ADULT_AGE)[0])
    dob = np.arange(guess - 4, guess + 5)
    adult = age_years(dob, np.full(dob.size, epoch)) >= ref.ADULT_AGE
    assert adult[0] and not adult[-1] and not np.any(adult[1:] & ~adult[:-1])
    return int(dob[adult][-1])


@dataclass(frozen=True)
class DayCustomers:
    active: np.ndarray  # rows of population(config, k) onboarded before the day and Active on it
    eligible: np.ndarray  # the adults among them (fraud-burst victims are drawn here)


@functools.lru_cache(maxsize=2)
def day_customers(config: GenerationConfig, day: dt.date) -> DayCustomers:
    """Who is active on the day (shared by the day's transactions, logins and fraud bursts), from
    the population's active spans; the row lists live in Arrow's pool."""
    lat = population(config, config.day_index(day))
    per = per_customer(config, day)
    epoch = ref.epoch_day(day)
    adult_dob = adult_dob_cutoff(epoch)
    active_parts, adult_parts = [], []
    for piece in slices(len(lat), MASK_SLICE):
        active = ((per.first[piece] <= epoch) & (per.until[piece] > epoch)) | (per.again[piece] <= epoch)
        active_parts.append(np.nonzero(active)[0] + piece.start)
        adult_parts.append(np.nonzero(active & (lat.dob_epoch[piece] <= adult_dob))[0] + piece.start)
    day_customers = DayCustomers(concatenate(active_parts), concatenate(adult_parts))
    day_customers.active.flags.writeable = day_customers.eligible.flags.writeable = False
    return day_customers


def concatenate(parts: list[np.ndarray], dtype: np.typing.DTypeLike | None = None) -> np.ndarray:
    """np.concatenate into Arrow's pool (see strings.arrow_empty)."""
    out = arrow_empty(sum(p.size for p in parts), dtype or np.result_type(*parts))
    if out.dtype.names:  # records: copy them as opaque bytes (NumPy copies structs field by field)
        raw = np.dtype((np.void, out.dtype.itemsize))
        np.concatenate([p.view(raw) for p in parts], out=out.view(raw))
    elif parts:
        np.concatenate(parts, out=out)
    return out


def clear_population_caches() -> None:
    """Drop what is derived from the cached customer blocks."""
    per_customer_of_blocks.cache_clear()


def spend_k_of(config: GenerationConfig, spend_rate: np.ndarray) -> np.ndarray:
    """A customer has a transaction on a day when the day's count uniform u exceeds P(0) =
    exp(-lam) (float32, as poisson_from_uniform computes it), that is when its 24-bit integer k
    exceeds floor(P(0) * 2**24)."""
    lam = np.float32(config.transactions_per_customer_day) * spend_rate
    return np.floor(np.exp(-lam) * 2**24).astype(np.int32)


def away_k_of(travel: np.ndarray) -> np.ndarray:
    """A customer is away on a day when the day's away uniform u is below p_away (float32), that
    is when its 24-bit integer k is below ceil(p_away * 2**24)."""
    p_away = np.minimum(AWAY_BASE_PROB * np.exp(0.8 * travel - 0.32), AWAY_MAX_PROB)
    return np.ceil(p_away * 2**24).astype(np.int32)


@dataclass(frozen=True)
class PerCustomer:
    """Day-independent numbers of every customer of a cached population, derived once."""

    spend_k: np.ndarray  # spend_k_of
    away_k: np.ndarray  # away_k_of
    login_rate: np.ndarray  # float64 login_rate * e^(0.6 engagement - 0.18), before the minors' halving
    fraud_weight: np.ndarray  # float64 e^(fraud exposure), a fraud victim's selection weight
    # Active on day e (onboarded before it and Active on it) iff first <= e < until or e >= again.
    first: np.ndarray
    until: np.ndarray
    again: np.ndarray


def active_spans(lat: Latents, rows: slice = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_active_mask as intervals: active on e iff created < e and either Active after the status
    event (e >= sev) or, before it, Active at first (status0) or not yet in status0 (e < s0e)."""
    first = lat.created_epoch[rows] + 1
    sev = lat.status_event_epoch[rows]
    until = np.where(lat.status0[rows] == ref.ACTIVE, sev, np.minimum(sev, lat.status0_epoch[rows]))
    again = np.where(lat.status_after[rows] == ref.ACTIVE, np.maximum(first, sev), NEVER)
    return first, until, again


@functools.lru_cache(maxsize=2)
def per_customer_of_blocks(config: GenerationConfig, blocks: int) -> PerCustomer:
    lat = population_of_blocks(config, blocks)
    n = len(lat)
    kinds = {
        f.name: np.float64 if f.name in ("login_rate", "fraud_weight") else np.int32
        for f in dataclasses.fields(PerCustomer)
    }
    out = PerCustomer(**{name: arrow_empty(n, kind) for name, kind in kinds.items()})
    for piece in slices(n, MASK_SLICE):  # in cache-sized slices, straight into Arrow's pool
        out.spend_k[piece] = spend_k_of(config, lat.spend_rate[piece])
        out.away_k[piece] = away_k_of(lat.travel[piece])
        out.login_rate[piece] = config.login_rate * np.exp(0.6 * lat.engagement[piece].astype(np.float64) - 0.18)
        out.fraud_weight[piece] = np.exp(lat.fraud_exposure[piece].astype(np.float64))
        out.first[piece], out.until[piece], out.again[piece] = active_spans(lat, piece)
    for f in dataclasses.fields(out):
        getattr(out, f.name).flags.writeable = False
    return out


def per_customer(config: GenerationConfig, day: dt.date) -> PerCustomer:
    return per_customer_of_blocks(config, population_blocks(config, config.day_index(day)))


def location(
    config: GenerationConfig, lat: Latents, rows: np.ndarray, epoch: int, away_k: np.ndarray | None = None
) -> np.ndarray:
    """Where each customer at ``rows`` is on the day: home, or one Indian city all day when away.
    Keyed by (day, customer): rows may repeat a customer, in any order. ``away_k``: the
    population's away_k_of, when known."""
    home = home_city(config, lat, rows, epoch)
    bits = keyed_bits(config.seed, STREAM_LOCATION, epoch, lat.ids[rows])
    away = high24(bits) < (away_k_of(lat.travel[rows]) if away_k is None else away_k[rows])
    # (u_city * CITY_LOOKUP_BINS) truncated: u_city is k / 2**24, so that is k >> 8 exactly.
    elsewhere = INDIA_CITY_LOOKUP[(low24(bits) >> 8).astype(np.intp)]
    return (home + (elsewhere - home) * away).astype(np.int16, copy=False)  # np.where(away, elsewhere, home)


assert CITY_LOOKUP_BINS == 1 << 16
