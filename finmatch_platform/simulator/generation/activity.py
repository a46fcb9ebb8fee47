"""A day's activity: transactions, logins and the planted fraud bursts.

Organic transactions are keyed by (customer, day): the same customer-day gives the same
transactions whoever else is generated, so the FPR feed can recompute a customer's last 30 days
exactly. A customer spends the whole day in one place (home, or one city when travelling) and
organic activity happens between 06:00 and 23:00, so two organic card payments are never in
distant cities within an hour: impossible travel comes only from the planted fraud bursts.

Speed (a day of transactions at 1,000,000 customers, ~340,000 rows, in ~0.1 s on one core):
customers are drawn in cache-sized slices, in customer order, into packed records; the records
are put in time order with one gather; ids and timestamps are written straight into Arrow
buffers. Day-independent per-customer numbers (thresholds, active spans, weights) are derived
once per cached population, and the hot categorical draws compare 24-bit integers with exact
integer thresholds. Every shortcut gives the same values as the plain NumPy formula, bit for bit
(the tests check them against it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from finmatch_platform.landing_zone.schemas import LOGIN_ACTIVITY, TRANSACTIONS, TS

from . import reference as ref
from .config import MAX_CUSTOMER_ID, GenerationConfig
from .customers import (
    CITY_LOOKUP_BINS,
    CITY_NAMES,
    INDIA_CITY_LOOKUP,
    SLOT_CARD,
    SLOT_SAVINGS,
    Latents,
    _population_of_blocks,
    account_ids,
    customer_ids,
    home_city,
    population,
    population_blocks,
)
from .dates import MICROS_PER_DAY, MICROS_PER_SECOND, NEVER, SECONDS_PER_DAY, age_years, shift_years, yyyymmdd
from .pools import build_pools
from .rng import (
    STREAM_DEVICE,
    STREAM_FRAUD,
    STREAM_LOCATION,
    STREAM_LOGINS,
    STREAM_TRANSACTIONS,
    choose,
    derive,
    generator,
    keyed_bits,
    normal_from_uniform,
    to_unit,
)
from .strings import (
    WORKERS,
    Records,
    arrow_empty,
    check_range,
    constant,
    constant_fields,
    digit_fields,
    fixed_width,
    parallel_map,
)

# Organic activity happens from 06:00 to 22:59 (UTC, like every timestamp here), peaking at lunch and evening.
_HOUR_CDF = np.cumsum([2, 4, 5, 6, 7, 7, 8, 8, 6, 6, 6, 7, 8, 9, 8, 6, 3])
_FIRST_HOUR = 6
# Share of customer-days spent away from home, before the travel-affinity tilt.
AWAY_BASE_PROB = 0.03
AWAY_MAX_PROB = 0.35
CARD_ON_CREDIT_ACCOUNT = 0.75  # card payments charged to the credit card (the rest: debit card on savings)
LOGIN_SUCCESS = 0.97
PRIMARY_DEVICE_SHARE = 0.93
SECONDARY_DEVICES = 3
# Below this many customers (or rows) a day is generated on one thread: threads cost more than they save.
PARALLEL_MIN_CUSTOMERS = 50_000
# Organic transactions are drawn for this many active customers at a time (~50,000 transactions):
# a slice's temporaries stay in cache and are recycled by the allocator, where a whole day's
# arrays (megabytes each) would be fresh mappings that page-fault on every allocation. Keyed draws
# make the result independent of the slicing (a test checks it).
DRAW_SLICE = 1 << 17
# Fraud rows use sequence numbers from here, after any organic sequence of the day.
FRAUD_SEQ_BASE = 900_000_000
FRAUD_SEQ_STRIDE = 100
# Fraud-burst geometry (see docs/SYNTHETIC_DATA.md for the planted effect's definition).
FRAUD_LOGIN_MIN_KM = 800.0  # login city at least this far from the victim's home
FRAUD_HOP_MIN_KM = 500.0  # consecutive fraud payments at least this far apart
FRAUD_FAILED_LOGINS = (4, 8)
FRAUD_PAYMENTS = (3, 5)
FRAUD_LOGIN_WINDOW_S = 15 * 60  # failed logins within the 15 minutes before the first payment
FRAUD_PAYMENT_GAP_S = (60, 8 * 60)  # seconds between consecutive fraud payments
FRAUD_DEVICE_KEY = 1_000_000  # device keys from here are never a customer's own devices
_MODE_CDF = np.cumsum(
    (ref.MODE_BY_AGE_GROUP[:, None, :] * ref.MODE_TILT_BY_REASON[None, :, :]).reshape(-1, len(ref.MODES)), axis=1
)
_DEVICE_CDF = np.cumsum(ref.DEVICE_TYPE_WEIGHTS)

# --- exact shortcuts for the hot draws -------------------------------------------------------------
# A 24-bit uniform u = k / 2**24 is exact in float32 and float64, so ``u >= c`` (c a float64) holds
# exactly when ``k >= ceil(c * 2**24)``: categorical draws compare small integers instead of
# converting, scaling and promoting every uniform. Same results, bit for bit (the golden-file and
# slicing tests pin them).
_UNIT24 = np.float32(2.0**-24)
_SHIFT_HIGH24 = np.uint64(40)
_LOW24 = np.uint64(0xFFFFFF)
# (u_card < CARD_ON_CREDIT_ACCOUNT) with u_card a float32 uniform: k < 0.75 * 2**24.
_CARD_ON_CREDIT_K = int(np.ceil(np.float64(np.float32(CARD_ON_CREDIT_ACCOUNT)) * 2**24))
# choose(u_mode, _MODE_CDF, rows): one row of integer thresholds per (age group, reason).
_MODE_K = np.ceil(_MODE_CDF[:, :-1] / _MODE_CDF[:, -1:] * 2**24).astype(np.int32).T.copy()
# u_sec * 3600 in float32 is k * (3600 / 2**24) rounded once: the same float32, one multiply.
_SECONDS_PER_K = np.float32(3600 * 2.0**-24)
# REASON_MEDIAN_INR[reason] * AFFLUENCE_SPEND[affluence], the same float64 products, one gather.
_MEDIAN_BY_REASON_AFFLUENCE = (ref.REASON_MEDIAN_INR[:, None] * ref.AFFLUENCE_SPEND[None, :]).ravel()
_REASON_WEIGHTS = ref.REASON_BASE_WEIGHTS.astype(np.float32)
# Per-transaction choices between two constants are gathers from 2- or 4-entry tables indexed by
# booleans: np.where and masked updates branch on random data, several times slower. Each entry
# is the float32 the original element-wise expression gives (x * 1 == x exactly).
_W_EXAM = _REASON_WEIGHTS[ref.R_EXAM]
_EXAM_BY_STUDENT_YOUNG = np.array(  # np.where(student, 10 * w, w), then * 4 under 25
    [_W_EXAM, _W_EXAM * np.float32(4.0), 10 * _W_EXAM, (10 * _W_EXAM) * np.float32(4.0)], dtype=np.float32
)
_TRAVEL_FACTOR_BY_MINOR = np.array([1.0, 0.3], dtype=np.float32)
_FUEL_BY_MINOR = np.array([_REASON_WEIGHTS[ref.R_FUEL], 0.0], dtype=np.float32)
_SPEND_FACTOR_BY_MINOR = np.array([1.0, 0.4])  # np.where(age < ADULT_AGE, 0.4, 1.0)
assert (SLOT_SAVINGS, SLOT_CARD) == (0, 1)  # slot = on_card as int8


def _by_flag(table: np.ndarray, flag: np.ndarray) -> np.ndarray:
    return table[flag.view(np.uint8).astype(np.intp)]


def _high24(bits: np.ndarray) -> np.ndarray:
    return (bits >> _SHIFT_HIGH24).astype(np.int32)


def _low24(bits: np.ndarray) -> np.ndarray:
    return (bits & _LOW24).astype(np.int32)


def _unit(k: np.ndarray) -> np.ndarray:
    """The float32 uniform of a 24-bit integer: what rng.to_unit32_pair returns, bit for bit
    (int32 -> float32 is a vector instruction; uint64 -> float32 is not)."""
    return k.astype(np.float32) * _UNIT24


class _StepCount:
    """``searchsorted(cdf, u, side="right")`` for uniforms u in [0, 1) in two gathers: the count
    of thresholds at or below each of BINS bin starts, plus a comparison with the one threshold
    (at most) strictly inside u's bin. u * BINS is exact (a power of two), so this is exact."""

    BINS = 4096

    def __init__(self, cdf: np.ndarray) -> None:
        cdf = np.asarray(cdf, dtype=np.float64)
        starts = np.arange(self.BINS) / self.BINS
        self._base = np.searchsorted(cdf, starts, side="right").astype(np.intp)
        self._inside = np.full(self.BINS, np.inf)
        for c in cdf[cdf < 1.0]:
            b = int(c * self.BINS)
            if c > starts[b]:
                assert np.isinf(self._inside[b]), "two thresholds in one bin: use more bins"
                self._inside[b] = c
        # The same for 24-bit integers k (u = k / 2**24): bin k >> 12, threshold ceil(c * 2**24).
        assert self.BINS == 1 << 12
        self._inside24 = np.where(np.isinf(self._inside), 1 << 25, np.ceil(self._inside * 2**24)).astype(np.int32)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        b = (u * self.BINS).astype(np.intp)
        return self._base[b] + (u >= self._inside[b])

    def of24(self, k: np.ndarray) -> np.ndarray:
        b = (k >> 12).astype(np.intp)
        return self._base[b] + (k >= self._inside24[b])


_HOUR_STEPS = _StepCount(_HOUR_CDF / _HOUR_CDF[-1])  # what choose(u, _HOUR_CDF) computes (17 > 16 categories)
# Organic seconds lie in [06:00, 23:00): 61,200 values, so one 16-bit radix pass orders them.
assert len(_HOUR_CDF) * 3600 <= 1 << 16


def time_order(seconds: np.ndarray) -> np.ndarray:
    """Stable argsort of seconds of the day (< 2**17): 16-bit radix passes (NumPy's stable sort of
    16-bit keys) instead of a comparison sort, 5-10x faster on a day of transactions. One pass when
    the seconds span less than 2**16 (organic activity: 06:00-23:00), else two."""
    if seconds.size:
        low, high = int(seconds.min()), int(seconds.max())
        if low >= 0 and high - low < 1 << 16:
            key = arrow_empty(seconds.size, np.uint16)
            np.subtract(seconds, low, out=key, casting="unsafe")
            return np.argsort(key, kind="stable")
    low = np.argsort((seconds & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((seconds[low] >> 16).astype(np.uint16), kind="stable")]


def _seconds(u_hour: np.ndarray, u_sec: np.ndarray) -> np.ndarray:
    """Second of the day: an hour by _HOUR_CDF from 06:00, then a uniform second within it."""
    return ((_FIRST_HOUR + _HOUR_STEPS(u_hour)) * 3600 + u_sec * 3600).astype(np.int64)


# Population-wide masks are built this many customers at a time (temporaries stay in cache).
MASK_SLICE = 1 << 16


def _active_mask(lat: Latents, epoch: int, rows: slice) -> np.ndarray:
    """``(created_epoch < epoch) & (status_at(lat, epoch) == ACTIVE)`` for the customers at
    ``rows``, in boolean algebra (np.where branches on random data)."""
    changed = lat.status_event_epoch[rows] <= epoch
    before = (lat.status0_epoch[rows] > epoch) | (lat.status0[rows] == ref.ACTIVE)
    after = lat.status_after[rows] == ref.ACTIVE
    return (lat.created_epoch[rows] < epoch) & ((changed & after) | (before & ~changed))


def _slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)] or [slice(0, 0)]


def active_on(lat: Latents, epoch: int) -> np.ndarray:
    """Customers who can transact and log in on the day: onboarded before it and Active on it."""
    pieces = _slices(len(lat), MASK_SLICE)
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
class _DayCustomers:
    active: np.ndarray  # rows of population(config, k) onboarded before the day and Active on it
    eligible: np.ndarray  # the adults among them (fraud-burst victims are drawn here)


@functools.lru_cache(maxsize=2)
def _day_customers(config: GenerationConfig, day: dt.date) -> _DayCustomers:
    """Who is active on the day (shared by the day's transactions, logins and fraud bursts), from
    the population's active spans; the row lists live in Arrow's pool."""
    lat = population(config, config.day_index(day))
    per = per_customer(config, day)
    epoch = ref.epoch_day(day)
    adult_dob = adult_dob_cutoff(epoch)
    active_parts, adult_parts = [], []
    for piece in _slices(len(lat), MASK_SLICE):
        active = ((per.first[piece] <= epoch) & (per.until[piece] > epoch)) | (per.again[piece] <= epoch)
        active_parts.append(np.nonzero(active)[0] + piece.start)
        adult_parts.append(np.nonzero(active & (lat.dob_epoch[piece] <= adult_dob))[0] + piece.start)
    day_customers = _DayCustomers(_concatenate(active_parts), _concatenate(adult_parts))
    day_customers.active.flags.writeable = day_customers.eligible.flags.writeable = False
    return day_customers


def _concatenate(parts: list[np.ndarray], dtype: np.typing.DTypeLike | None = None) -> np.ndarray:
    """np.concatenate into Arrow's pool (see strings.arrow_empty)."""
    out = arrow_empty(sum(p.size for p in parts), dtype or np.result_type(*parts))
    if out.dtype.names:  # records: copy them as opaque bytes (NumPy copies structs field by field)
        raw = np.dtype((np.void, out.dtype.itemsize))
        np.concatenate([p.view(raw) for p in parts], out=out.view(raw))
    elif parts:
        np.concatenate(parts, out=out)
    return out


def clear_day_caches() -> None:
    """Drop what is cached per day (who is active, the fraud bursts), keeping the customer blocks."""
    _day_customers.cache_clear()
    _bursts.cache_clear()


def clear_population_caches() -> None:
    """Drop what is derived from the cached customer blocks."""
    _per_customer.cache_clear()


def _spend_k(config: GenerationConfig, spend_rate: np.ndarray) -> np.ndarray:
    """A customer has a transaction on a day when the day's count uniform u exceeds P(0) =
    exp(-lam) (float32, as poisson_from_uniform computes it), that is when its 24-bit integer k
    exceeds floor(P(0) * 2**24)."""
    lam = np.float32(config.transactions_per_customer_day) * spend_rate
    return np.floor(np.exp(-lam) * 2**24).astype(np.int32)


def _away_k(travel: np.ndarray) -> np.ndarray:
    """A customer is away on a day when the day's away uniform u is below p_away (float32), that
    is when its 24-bit integer k is below ceil(p_away * 2**24)."""
    p_away = np.minimum(AWAY_BASE_PROB * np.exp(0.8 * travel - 0.32), AWAY_MAX_PROB)
    return np.ceil(p_away * 2**24).astype(np.int32)


@dataclass(frozen=True)
class _PerCustomer:
    """Day-independent numbers of every customer of a cached population, derived once."""

    spend_k: np.ndarray  # _spend_k
    away_k: np.ndarray  # _away_k
    login_rate: np.ndarray  # float64 login_rate * e^(0.6 engagement - 0.18), before the minors' halving
    fraud_weight: np.ndarray  # float64 e^(fraud exposure), a fraud victim's selection weight
    # Active on day e (onboarded before it and Active on it) iff first <= e < until or e >= again.
    first: np.ndarray
    until: np.ndarray
    again: np.ndarray


def _active_spans(lat: Latents, rows: slice = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_active_mask as intervals: active on e iff created < e and either Active after the status
    event (e >= sev) or, before it, Active at first (status0) or not yet in status0 (e < s0e)."""
    first = lat.created_epoch[rows] + 1
    sev = lat.status_event_epoch[rows]
    until = np.where(lat.status0[rows] == ref.ACTIVE, sev, np.minimum(sev, lat.status0_epoch[rows]))
    again = np.where(lat.status_after[rows] == ref.ACTIVE, np.maximum(first, sev), NEVER)
    return first, until, again


@functools.lru_cache(maxsize=2)
def _per_customer(config: GenerationConfig, blocks: int) -> _PerCustomer:
    lat = _population_of_blocks(config, blocks)
    n = len(lat)
    kinds = {
        f.name: np.float64 if f.name in ("login_rate", "fraud_weight") else np.int32
        for f in dataclasses.fields(_PerCustomer)
    }
    out = _PerCustomer(**{name: arrow_empty(n, kind) for name, kind in kinds.items()})
    for piece in _slices(n, MASK_SLICE):  # in cache-sized slices, straight into Arrow's pool
        out.spend_k[piece] = _spend_k(config, lat.spend_rate[piece])
        out.away_k[piece] = _away_k(lat.travel[piece])
        out.login_rate[piece] = config.login_rate * np.exp(0.6 * lat.engagement[piece].astype(np.float64) - 0.18)
        out.fraud_weight[piece] = np.exp(lat.fraud_exposure[piece].astype(np.float64))
        out.first[piece], out.until[piece], out.again[piece] = _active_spans(lat, piece)
    for f in dataclasses.fields(out):
        getattr(out, f.name).flags.writeable = False
    return out


def per_customer(config: GenerationConfig, day: dt.date) -> _PerCustomer:
    return _per_customer(config, population_blocks(config, config.day_index(day)))


def location(
    config: GenerationConfig, lat: Latents, rows: np.ndarray, epoch: int, away_k: np.ndarray | None = None
) -> np.ndarray:
    """Where each customer at ``rows`` is on the day: home, or one Indian city all day when away.
    Keyed by (day, customer): rows may repeat a customer, in any order. ``away_k``: the
    population's _away_k, when known."""
    home = home_city(config, lat, rows, epoch)
    bits = keyed_bits(config.seed, STREAM_LOCATION, epoch, lat.ids[rows])
    away = _high24(bits) < (_away_k(lat.travel[rows]) if away_k is None else away_k[rows])
    # (u_city * CITY_LOOKUP_BINS) truncated: u_city is k / 2**24, so that is k >> 8 exactly.
    elsewhere = INDIA_CITY_LOOKUP[(_low24(bits) >> 8).astype(np.intp)]
    return (home + (elsewhere - home) * away).astype(np.int16, copy=False)  # np.where(away, elsewhere, home)


assert CITY_LOOKUP_BINS == 1 << 16


@dataclass(frozen=True)
class TransactionDraw:
    """Organic transactions of one day as arrays, in customer order (row = index into Latents)."""

    rows: np.ndarray
    reason: np.ndarray
    amount: np.ndarray
    mode: np.ndarray
    slot: np.ndarray
    merchant: np.ndarray
    city: np.ndarray
    seconds: np.ndarray


def _reasons(lat: Latents, rows: np.ndarray, age: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Reason of each transaction: the base mix with the customer's Travel, Exam and Fuel weights.

    Only three weights vary by customer, so the cumulative thresholds are built per transaction
    from them (a handful of element-wise ops) instead of a per-customer table. The thresholds are
    the running float32 sums of the weights in category order and u is scaled by their total.
    """
    w = _REASON_WEIGHTS
    minor = age < ref.ADULT_AGE
    travel = w[ref.R_TRAVEL] * np.exp(np.float32(1.3) * lat.travel[rows] - np.float32(0.85))
    travel *= _by_flag(_TRAVEL_FACTOR_BY_MINOR, minor)
    student_young = 2 * (lat.occupation[rows] == ref.STUDENT).view(np.uint8) + (age < 25).view(np.uint8)
    exam = _EXAM_BY_STUDENT_YOUNG[student_young.astype(np.intp)]
    fuel = _by_flag(_FUEL_BY_MINOR, minor)
    weights = [
        w[ref.R_FOOD],
        travel,
        w[ref.R_ECOM],
        exam,
        w[ref.R_UTILITIES],
        fuel,
        w[ref.R_ENTERTAINMENT],
        w[ref.R_HEALTH],
    ]
    thresholds = [weights[0]]
    for weight in weights[1:-1]:
        thresholds.append(thresholds[-1] + weight)
    x = u * (thresholds[-1] + weights[-1])
    reason = (x >= thresholds[0]).view(np.int8)
    for t in thresholds[1:]:
        reason += (x >= t).view(np.int8)
    return reason


def _transacting(
    config: GenerationConfig, lat: Latents, active: np.ndarray, k: np.ndarray, spend_k: np.ndarray | None, cap: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(indices into ``active``, counts) of the nonzero counts of ``poisson_from_uniform(lam,
    k / 2**24, cap)``: the same float32 steps, settled for the few customers with a transaction."""
    threshold = _spend_k(config, lat.spend_rate[active]) if spend_k is None else spend_k[active]
    idx = np.nonzero(k > threshold)[0]  # count >= 1: u above P(0)
    lam = np.float32(config.transactions_per_customer_day) * lat.spend_rate[active[idx]]
    u = _unit(k[idx])
    cdf = np.exp(-lam)
    p = cdf * lam
    cdf += p
    more = u > cdf
    counts = 1 + more.astype(np.int64)
    # The rest (a few percent) iterate. cdf never decreases from step to step, so a count stops at
    # its first miss: the subset need not shrink as it does in poisson_from_uniform.
    sub = np.nonzero(more)[0]
    p, cdf, u, lam = p[sub], cdf[sub], u[sub], lam[sub]
    extra = np.zeros(sub.size, dtype=np.int64)
    j = 2
    while sub.size and j <= cap:
        p *= lam / j
        cdf += p
        more = u > cdf
        if not more.any():
            break
        extra += more
        j += 1
    counts[sub] += extra
    return idx, counts


def _draw(
    config: GenerationConfig, lat: Latents, active: np.ndarray, epoch: int, per: _PerCustomer | None = None
) -> TransactionDraw:
    """The day's transactions of the customers at ``active``, in customer order (so every read of
    the customer arrays is sequential). Keyed by (day, customer): any subset of customers gives
    the same transactions for each. ``per``: the population's _PerCustomer, when lat is one."""
    base = keyed_bits(config.seed, STREAM_TRANSACTIONS, epoch, lat.ids[active])
    spenders, counts = _transacting(config, lat, active, _high24(base), per and per.spend_k)
    customers = active[spenders]
    # np.repeat is slow per element: repeat the spender index once and gather everything by it.
    spender = np.repeat(np.arange(counts.size), counts)  # of each transaction
    rows = customers[spender]  # the customer of each transaction
    j = np.arange(1, rows.size + 1) - (np.cumsum(counts) - counts)[spender]  # 1, 2, .. per customer
    bits = derive(base[spenders][spender], j)
    # Eight 24-bit uniforms from four mixes: (reason, mode), (z1, z2), (card, merchant), (hour, second).
    b_reason, b_normal, b_card, b_clock = (derive(bits, f) for f in (1, 2, 3, 4))
    age = (epoch - lat.dob_epoch[rows]).astype(np.float32) / np.float32(365.25)
    reason = _reasons(lat, rows, age, _unit(_high24(b_reason)))
    r = reason.astype(np.intp)
    z = normal_from_uniform(_unit(_high24(b_normal)), _unit(_low24(b_normal)))
    amount = _MEDIAN_BY_REASON_AFFLUENCE[r * len(ref.AFFLUENCE_SPEND) + lat.affluence[rows]]
    amount *= np.exp(0.15 * lat.health[rows] + ref.REASON_SIGMA[r] * z)
    amount *= _by_flag(_SPEND_FACTOR_BY_MINOR, age < ref.ADULT_AGE)
    np.round(amount, 2, out=amount)
    np.maximum(amount, 10.0, out=amount)
    table = ((age >= 30).view(np.uint8) + (age >= 60).view(np.uint8)).astype(np.intp) * len(ref.REASONS) + r
    k_mode = _low24(b_reason)
    mode = (k_mode >= _MODE_K[0][table]).view(np.int8)
    for thresholds in _MODE_K[1:]:
        mode += (k_mode >= thresholds[table]).view(np.int8)
    on_card = (mode == ref.MODE_CARD) & (lat.card_product[rows] >= 0) & (_high24(b_card) < _CARD_ON_CREDIT_K)
    seconds = (_FIRST_HOUR + _HOUR_STEPS.of24(_high24(b_clock))) * 3600
    seconds += (_low24(b_clock).astype(np.float32) * _SECONDS_PER_K).astype(np.intp)
    return TransactionDraw(
        rows=rows,
        reason=reason,
        amount=amount,
        mode=mode,
        slot=on_card.view(np.int8),
        merchant=build_pools(config.seed).merchants.pick(r, _unit(_low24(b_card))),
        city=location(config, lat, customers, epoch, per and per.away_k)[spender],
        seconds=seconds,
    )


def organic_transactions(
    config: GenerationConfig, lat: Latents, epoch: int, active: np.ndarray | None = None
) -> TransactionDraw:
    """Each active customer's transactions of the day, keyed by (day, customer).

    Drawn in slices of DRAW_SLICE customers (on a few threads for a large day); keyed draws make
    the result the same as one pass, in the same (customer) order.
    """
    if active is None:
        active = active_on(lat, epoch)
    pieces = _slices(active.size, DRAW_SLICE)
    draw = lambda piece: _draw(config, lat, active[piece], epoch)  # noqa: E731
    parts = parallel_map(draw, pieces) if active.size > PARALLEL_MIN_CUSTOMERS else [draw(p) for p in pieces]
    if len(parts) == 1:
        return parts[0]
    return TransactionDraw(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(TransactionDraw)}
    )


# A transaction as one packed record: the draw (customer order) is put in time order with one
# gather of these instead of one gather per field.
_RECORD = np.dtype(
    [
        ("customer", "<i4"),
        ("seconds", "<i4"),
        ("amount", "<f8"),
        ("merchant", "<i2"),
        ("city", "i1"),
        ("reason", "i1"),
        ("mode", "i1"),
        ("slot", "i1"),
    ]
)
_RECORD_BYTES = np.dtype((np.void, _RECORD.itemsize))
assert MAX_CUSTOMER_ID < 2**31 and len(ref.CITIES) < 2**7
_MODE_NAMES = pa.array(ref.MODES, pa.string())
_REASON_NAMES = pa.array(ref.REASONS, pa.string())
# Transactions are rendered in time order this many rows at a time.
RENDER_SLICE = 1 << 14


def _records(draw: TransactionDraw, customer: np.ndarray) -> np.ndarray:
    out = np.empty(draw.rows.size, _RECORD)
    out["customer"] = customer
    for name in _RECORD.names[1:]:
        out[name] = getattr(draw, name)
    return out


def transactions_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    """The day's transactions in transaction_id order: organic ones numbered in time order, then
    the fraud-burst payments (sequence numbers from FRAUD_SEQ_BASE).

    Drawn in slices of customers (sequential reads of the customer arrays) into packed records,
    ordered by time with one stable 16-bit radix pass, then rendered slice by slice of the time
    order straight into the output buffers. Only the small-pool string columns are left to Arrow.
    """
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    lat = population(config, k)
    active = _day_customers(config, day).active
    per = per_customer(config, day)
    parallel = active.size > PARALLEL_MIN_CUSTOMERS and WORKERS > 1

    def task(piece: slice | None) -> np.ndarray | tuple[_Burst, ...]:
        if piece is None:
            return _bursts(config, day)
        draw = _draw(config, lat, active[piece], epoch, per)
        return _records(draw, lat.ids[draw.rows])

    tasks = [None, *_slices(active.size, DRAW_SLICE)]  # the fraud bursts overlap the draw
    fraud, *parts = parallel_map(task, tasks) if parallel else [task(t) for t in tasks]
    records = _concatenate(parts, _RECORD)
    # Records are in customer order, so a stable sort on the clock orders ties by customer.
    order = time_order(records["seconds"])
    n_organic = order.size
    tail = np.empty(0, _RECORD)
    if fraud:
        payments = {key: np.concatenate([b.payments[key] for b in fraud]) for key in fraud[0].payments}
        tail = np.empty(payments["seq"].size, _RECORD)
        for name in _RECORD.names:
            tail[name] = payments[name]
    n = n_organic + tail.size

    date_prefix = constant_fields("T" + yyyymmdd(epoch))
    customer_prefix, account_prefix = constant_fields("C"), constant_fields("A")
    no_digits = np.empty(0, dtype=np.int64)
    transaction_ids = Records(n, date_prefix + digit_fields(no_digits, 9))
    customer_ids_ = Records(n, customer_prefix + digit_fields(no_digits, 9))
    # "A" + 10 digits of customer * 10 + slot: "A", the customer's 9 digits, then the slot digit.
    account_ids_ = Records(n, account_prefix + digit_fields(no_digits, 9) + digit_fields(no_digits, 1))
    micros = arrow_empty(n, np.int64)
    amount = arrow_empty(n, np.float64)
    codes = {name: arrow_empty(n, _RECORD[name]) for name in ("mode", "reason", "merchant", "city")}

    def render(piece: slice, seq: np.ndarray, rec: np.ndarray) -> None:
        digits = digit_fields(rec["customer"], 9)
        transaction_ids.write(piece, date_prefix + digit_fields(seq, 9))
        customer_ids_.write(piece, customer_prefix + digits)
        account_ids_.write(piece, account_prefix + digits + digit_fields(rec["slot"], 1))
        np.add(rec["seconds"].astype(np.int64) * MICROS_PER_SECOND, epoch * MICROS_PER_DAY, out=micros[piece])
        amount[piece] = rec["amount"]
        for name, out in codes.items():
            out[piece] = rec[name]

    def render_organic(piece: slice) -> None:
        rec = np.take(records.view(_RECORD_BYTES), order[piece]).view(_RECORD)  # one gather per record
        render(piece, np.arange(piece.start + 1, piece.stop + 1), rec)

    for rec in (records, tail):
        check_range(rec["customer"], 9, "C")
        check_range(rec["slot"], 1, "A")
    check_range(np.asarray([n_organic]), 9, "T")
    pieces = _slices(n_organic, RENDER_SLICE)
    if parallel:
        parallel_map(render_organic, pieces)
    else:
        for piece in pieces:
            render_organic(piece)
    if fraud:
        check_range(payments["seq"], 9, "T")
        render(slice(n_organic, n), payments["seq"], tail)
    pools = build_pools(config.seed)
    # The small-pool string columns are Arrow takes: independent, so on a few threads.
    takes: list[Callable[[], pa.Array]] = [
        lambda: _MODE_NAMES.take(pa.array(codes["mode"])),
        lambda: _REASON_NAMES.take(pa.array(codes["reason"])),
        lambda: pools.merchants.values.take(pa.array(codes["merchant"])),
        lambda: CITY_NAMES.take(pa.array(codes["city"])),
    ]
    mode_s, reason_s, merchant_s, city_s = _build(takes, n)
    columns = [
        transaction_ids.to_arrow(),
        account_ids_.to_arrow(),
        customer_ids_.to_arrow(),
        pa.Array.from_buffers(TS, n, [None, pa.py_buffer(micros)]),
        pa.Array.from_buffers(pa.float64(), n, [None, pa.py_buffer(amount)]),
        constant(ref.CURRENCY, n),
        mode_s,
        reason_s,
        merchant_s,
        city_s,
    ]
    return pa.Table.from_arrays(columns, schema=TRANSACTIONS)


def _in_order(organic: np.ndarray, order: np.ndarray, tail: list[np.ndarray]) -> np.ndarray:
    """organic[order] followed by the tail arrays, gathered straight into one output array."""
    n = order.size
    out = arrow_empty(n + sum(t.size for t in tail), np.result_type(organic, *tail))
    if out.dtype == organic.dtype:
        np.take(organic, order, out=out[:n])
    else:
        out[:n] = organic[order]
    for t in tail:
        out[n : n + t.size] = t
        n += t.size
    return out


_LOGIN_FACTOR_BY_MINOR = np.array([1.0, 0.5])  # np.where(age < ADULT_AGE, 0.5, 1.0)
_LOGIN_SUCCESS_BY_SENIOR = LOGIN_SUCCESS - 0.03 * np.array([False, True])
_DEVICE_TYPE_NAMES = pa.array(ref.DEVICE_TYPES, pa.string())


def logins_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    """The day's logins in login_id order: organic ones in time order, then the fraud bursts' failures."""
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    lat = population(config, k)
    active = _day_customers(config, day).active
    per = per_customer(config, day)
    rng = generator(config.seed, STREAM_LOGINS, k)
    # lam = login_rate * exp(0.6 * engagement - 0.18) * (0.5 for minors), in slices into Arrow's pool.
    lam = arrow_empty(active.size, np.float64)
    senior = arrow_empty(active.size, np.bool_)
    for piece in _slices(active.size, MASK_SLICE):
        age = (epoch - lat.dob_epoch[active[piece]]) / 365.25
        np.multiply(
            per.login_rate[active[piece]], _by_flag(_LOGIN_FACTOR_BY_MINOR, age < ref.ADULT_AGE), out=lam[piece]
        )
        np.greater_equal(age, ref.SENIOR_AGE, out=senior[piece])
    count = rng.poisson(lam)
    loggers = np.nonzero(count > 0)[0]
    count = count[loggers]  # np.repeat drops the customers without a login: so can everything else
    rows = np.repeat(active[loggers], count)
    m = rows.size
    success = rng.random(m) < np.repeat(_by_flag(_LOGIN_SUCCESS_BY_SENIOR, senior[loggers]), count)
    secondary = rng.random(m) >= PRIMARY_DEVICE_SHARE
    device = secondary * (1 + (rng.random(m) * SECONDARY_DEVICES).astype(np.int64))  # 0: the primary device
    seconds = _seconds(rng.random(m), rng.random(m))
    ids = lat.ids[rows]
    device_bits = keyed_bits(config.seed, STREAM_DEVICE, ids, device)
    device_type = lat.device_type[rows].astype(np.int16)
    other = np.nonzero(secondary)[0]  # a secondary device's type is keyed by (customer, device)
    device_type[other] = choose(to_unit(derive(device_bits[other], 1)), _DEVICE_CDF)
    city = np.repeat(location(config, lat, active[loggers], epoch, per.away_k), count)
    order = time_order(seconds)
    fraud = _bursts(config, day)
    cat = lambda organic, key: _in_order(organic, order, [b.logins[key] for b in fraud])  # noqa: E731
    seq = np.concatenate([np.arange(1, m + 1), *(b.logins["seq"] for b in fraud)])
    n = seq.size

    def timestamps() -> pa.Array:
        micros = cat(seconds, "seconds")
        np.multiply(micros, MICROS_PER_SECOND, out=micros)
        micros += epoch * MICROS_PER_DAY
        return pa.Array.from_buffers(TS, n, [None, pa.py_buffer(micros)])

    columns: list[Callable[[], pa.Array]] = [
        lambda: fixed_width("L" + yyyymmdd(epoch), seq, 9),
        lambda: customer_ids(cat(ids, "customer")),
        timestamps,
        lambda: pa.array(_in_order(success, order, [np.zeros(b.logins["seq"].size, dtype=bool) for b in fraud])),
        lambda: device_ids(cat(device_bits, "device_bits")),
        lambda: _DEVICE_TYPE_NAMES.take(pa.array(cat(device_type, "device_type"))),
        lambda: CITY_NAMES.take(pa.array(cat(city, "city"))),
    ]
    return pa.Table.from_arrays(_build(columns, n), schema=LOGIN_ACTIVITY)


def _build(columns: list[Callable[[], pa.Array]], rows: int) -> list[pa.Array]:
    """Evaluate column builders, on threads when the day is large enough to pay for them."""
    if rows < PARALLEL_MIN_CUSTOMERS:
        return [build() for build in columns]
    return parallel_map(lambda build: build(), columns)


def device_ids(bits: np.ndarray) -> pa.Array:
    """Opaque device ids "D" + 12 digits derived from (customer, device number)."""
    return fixed_width("D", (bits >> np.uint64(16)).astype(np.int64) % 10**12, 12)


# --- fraud bursts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Burst:
    truth: dict[str, object]  # what fraud_bursts() returns
    payments: dict[str, np.ndarray]  # transaction rows, by field
    logins: dict[str, np.ndarray]  # failed-login rows, by field


def fraud_bursts(config: GenerationConfig, day: dt.date) -> list[dict[str, object]]:
    """Ground truth of the fraud bursts planted on a day (see docs/SYNTHETIC_DATA.md).

    Each burst: ``customer_id``, ``account_id`` (the card charged), ``home_city``, ``device_id``
    (new to the customer), ``login_city``, ``failed_login_ids``, ``transaction_ids``, ``cities``
    (of the payments, in time order), ``window_start``/``window_end`` (first failed login, last
    payment; UTC datetimes).
    """
    return [{k: list(v) if isinstance(v, list) else v for k, v in b.truth.items()} for b in _bursts(config, day)]


def weighted_sample(rng: np.random.Generator, m: int, p: np.ndarray) -> np.ndarray:
    """``rng.choice(len(p), size=m, replace=False, p=p)``: the same draws and the same result
    (NumPy's algorithm: draw, drop repeats, zero the found weights, redraw the missing), without
    its argument checks, which cost more than the sample (p is a valid distribution here)."""
    found: list[int] = []
    while len(found) < m:
        x = rng.random(m - len(found))
        if found:  # a repeat: redraw the missing ones without the found
            p = p.copy()
            p[found] = 0
            if np.count_nonzero(p) < m - len(found):
                raise ValueError("Fewer non-zero entries in p than size")
        cdf = np.cumsum(p, out=arrow_empty(p.size, np.float64))
        cdf /= cdf[-1]
        new = cdf.searchsorted(x, side="right")
        _, first = np.unique(new, return_index=True)
        found += new[np.sort(first)].tolist()
    return np.array(found, dtype=np.int64)


@functools.lru_cache(maxsize=64)
def _bursts(config: GenerationConfig, day: dt.date) -> tuple[_Burst, ...]:
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    if config.fraud_bursts_per_day == 0:
        return ()
    lat = population(config, k)
    eligible = _day_customers(config, day).eligible  # adults onboarded before the day and Active on it
    m = min(config.fraud_bursts_per_day, eligible.size)
    if m == 0:
        return ()
    rng = generator(config.seed, STREAM_FRAUD, k)
    # np.exp(fraud_exposure.astype(float64)) / its sum, computed in place in Arrow's pool.
    weight = arrow_empty(eligible.size, np.float64)
    np.take(per_customer(config, day).fraud_weight, eligible, out=weight)
    np.divide(weight, weight.sum(), out=weight)
    victims = np.sort(eligible[weighted_sample(rng, m, weight)])
    home = home_city(config, lat, victims, epoch)
    day_start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    pools = build_pools(config.seed)
    every_city = np.arange(len(ref.CITIES))
    bursts = []
    for b, victim in enumerate(victims):
        cid = int(lat.ids[victim])
        # Failed logins from a new device in a city far from home, then payments hopping between
        # distant cities minutes apart: no one can travel that fast.
        far = np.nonzero(ref.city_distance_km(every_city, int(home[b])) > FRAUD_LOGIN_MIN_KM)[0]
        login_city = int(rng.choice(far))
        n_pay = int(rng.integers(FRAUD_PAYMENTS[0], FRAUD_PAYMENTS[1] + 1))
        cities = [login_city]
        for _ in range(n_pay - 1):
            hop = np.nonzero(ref.city_distance_km(every_city, cities[-1]) > FRAUD_HOP_MIN_KM)[0]
            cities.append(int(rng.choice(hop[~np.isin(hop, cities)])))
        first_pay = int(rng.integers(1 * 3600 + FRAUD_LOGIN_WINDOW_S, 21 * 3600))
        gaps = rng.integers(FRAUD_PAYMENT_GAP_S[0], FRAUD_PAYMENT_GAP_S[1] + 1, n_pay - 1)
        pay_s = first_pay + np.concatenate([[0], np.cumsum(gaps)])
        n_fail = int(rng.integers(FRAUD_FAILED_LOGINS[0], FRAUD_FAILED_LOGINS[1] + 1))
        fail_s = np.sort(first_pay - rng.integers(30, FRAUD_LOGIN_WINDOW_S, n_fail))
        reason = rng.choice([ref.R_ECOM, ref.R_TRAVEL, ref.R_ENTERTAINMENT], n_pay).astype(np.int8)
        amount = np.round(np.exp(rng.normal(np.log(25_000), 0.6, n_pay)), 2)
        merchant = pools.merchants.pick(reason, rng.random(n_pay))
        slot = SLOT_CARD if lat.card_product[victim] >= 0 else SLOT_SAVINGS
        device_bits = keyed_bits(config.seed, STREAM_DEVICE, np.array([cid]), FRAUD_DEVICE_KEY + k)
        device_type = int(rng.integers(0, len(ref.DEVICE_TYPES)))
        seq_t = FRAUD_SEQ_BASE + b * FRAUD_SEQ_STRIDE + np.arange(1, n_pay + 1)
        seq_l = FRAUD_SEQ_BASE + b * FRAUD_SEQ_STRIDE + np.arange(1, n_fail + 1)
        payments = {
            "customer": np.full(n_pay, cid, dtype=np.int64),
            "seq": seq_t,
            "slot": np.full(n_pay, slot, dtype=np.int8),
            "seconds": pay_s.astype(np.int64),
            "amount": amount,
            "mode": np.full(n_pay, ref.MODE_CARD, dtype=np.int8),
            "reason": reason,
            "merchant": merchant,
            "city": np.array(cities, dtype=np.int16),
        }
        logins = {
            "customer": np.full(n_fail, cid, dtype=np.int64),
            "seq": seq_l,
            "seconds": fail_s.astype(np.int64),
            "device_bits": np.repeat(device_bits, n_fail),
            "device_type": np.full(n_fail, device_type),
            "city": np.full(n_fail, login_city, dtype=np.int16),
        }
        truth = {
            "customer_id": customer_ids(np.array([cid]))[0].as_py(),
            "account_id": account_ids(np.array([cid]), slot)[0].as_py(),
            "home_city": ref.CITIES[int(home[b])].name,
            "device_id": device_ids(device_bits)[0].as_py(),
            "login_city": ref.CITIES[login_city].name,
            "failed_login_ids": fixed_width("L" + yyyymmdd(epoch), seq_l, 9).to_pylist(),
            "transaction_ids": fixed_width("T" + yyyymmdd(epoch), seq_t, 9).to_pylist(),
            "cities": [ref.CITIES[c].name for c in cities],
            "window_start": day_start + dt.timedelta(seconds=int(fail_s[0])),
            "window_end": day_start + dt.timedelta(seconds=int(pay_s[-1])),
        }
        bursts.append(_Burst(truth, payments, logins))
    return tuple(bursts)


assert SECONDS_PER_DAY > 21 * 3600 + FRAUD_PAYMENTS[1] * FRAUD_PAYMENT_GAP_S[1]  # bursts end within the day
