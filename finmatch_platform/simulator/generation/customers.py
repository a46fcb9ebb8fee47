"""Customers: latent factors, KYC attributes, accounts and credit-score history, all vectorised.

A customer is drawn once, as numbers (``Latents``): codes into the reference tables and pools,
latent factors, and the days on which life events happen (a move, a marriage, dormancy, a new
mobile, bureau checks). The row of any version is then *rendered* from those numbers as of the
version's day, so day D can be generated without replaying days before it: the state on D is a
closed-form function of the event days.

Blocks: block 0 is the opening book (ids 1..customers, created before the go-live); block b >= 1
holds the customers onboarded on days (b-1)*CHUNK_DAYS+1 .. b*CHUNK_DAYS. Blocks are cached per
(config, block), so a day's updates index the cached numbers instead of regenerating them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from finmatch_platform.landing_zone.schemas import ACCOUNTS, CREDIT_SCORES, CUSTOMERS

from . import reference as ref
from .config import MAX_CUSTOMER_ID, ConfigError, GenerationConfig
from .dates import NEVER, age_years, dates, shift_years, timestamps
from .pools import LONG_NAMES, Pools, build_pools
from .rng import (
    STREAM_ATTRIBUTES,
    STREAM_CREDIT,
    STREAM_CUSTOMERS,
    STREAM_UPDATES,
    choose,
    derive,
    generator,
    keyed_bits,
    normal_cdf,
    normal_from_uniform,
    sigmoid,
    to_unit,
    to_unit32_pair,
)
from .strings import constant, fixed_width, ints, join, parallel_map, take

# New customers of this many consecutive days share one cached block.
CHUNK_DAYS = 64
OPENING_MEAN_TENURE_DAYS = 1100
OPENING_MAX_TENURE_DAYS = 3650
# Bureau history landed with the opening book: every check of the 360 days up to the go-live (at
# most 12 at the shortest cadence, "12 monthly scores") and always the latest one.
CREDIT_HISTORY_DAYS = 360
CIBIL_LOW_SHARE = 0.03  # share of scores in 310-650
CIBIL_LOW = (310, 650)
CIBIL_HIGH = (651, 900)
CREDIT_NOISE_SD = 0.01  # per-check wobble, on the quantile scale
CREDIT_TREND_SD = 0.015  # per-year drift of a customer's quantile
# Split of customer_update_rate across kinds of change (status, marital, address, mobile).
UPDATE_SHARES = {"status": 0.30, "marital": 0.15, "address": 0.30, "mobile": 0.25}
DEFECT_KINDS = ("malformed_email", "digit_in_name", "long_name", "malformed_mobile", "missing_cibil_check_date")
DEFECT_NONE, DEFECT_EMAIL, DEFECT_DIGIT, DEFECT_LONG_NAME, DEFECT_MOBILE, DEFECT_CIBIL_DATE = range(6)
# Working hours (seconds of day) for branch and back-office timestamps.
OFFICE_OPEN_S = 9 * 3600
OFFICE_HOURS_S = 11 * 3600
# Account id = "A" + 10 digits of customer number * 10 + slot.
SLOT_SAVINGS, SLOT_CARD, SLOT_OTHER = 0, 1, 2


@dataclass(frozen=True)
class Latents:
    """Struct of arrays: one element per customer. Never mutated once built (cached)."""

    ids: np.ndarray  # int64 customer number
    created_epoch: np.ndarray  # int32
    created_sec: np.ndarray  # int32
    first_version_epoch: np.ndarray  # int32: modified day of the first landed version
    first_version_sec: np.ndarray
    gender: np.ndarray  # int8
    dob_epoch: np.ndarray  # int32
    marital: np.ndarray  # int8, as of the first version
    occupation: np.ndarray
    customer_type: np.ndarray
    channel: np.ndarray
    country: np.ndarray
    nationality: np.ndarray  # index into COUNTRIES
    city: np.ndarray  # int16 index into CITIES
    segment: np.ndarray
    street: np.ndarray  # int32 indices into pools
    house: np.ndarray  # index into the house-number pool
    locality: np.ndarray  # -1: no address_line2
    postcode_num: np.ndarray
    mobile: np.ndarray  # int64 national number
    first_name: np.ndarray
    middle_name: np.ndarray  # -1: none
    last_name: np.ndarray
    email_domain: np.ndarray
    health: np.ndarray  # float32 latent factors, standard normal
    engagement: np.ndarray
    travel: np.ndarray
    fraud_exposure: np.ndarray
    satisfaction: np.ndarray  # float32 in [1, 10]
    spend_rate: np.ndarray  # float32 multiplier of transactions_per_customer_day
    affluence: np.ndarray
    privilege: np.ndarray
    risk: np.ndarray
    device_type: np.ndarray
    status0: np.ndarray  # status as of the first version
    status0_epoch: np.ndarray  # day status0 began
    status_event_epoch: np.ndarray  # NEVER or the day status changes to status_after
    status_after: np.ndarray
    marital_event_epoch: np.ndarray  # day a Single customer marries
    address_event_epoch: np.ndarray
    mobile_event_epoch: np.ndarray
    credit_u: np.ndarray  # float64 CIBIL quantile
    credit_trend: np.ndarray  # quantile drift per year
    credit_cadence: np.ndarray  # int32 days between bureau checks (first check on created day)
    defect: np.ndarray  # int8 DEFECT_*
    defect_aux: np.ndarray  # int32 extra randomness for the defect
    savings_type: np.ndarray  # ACC_SAVINGS or ACC_CURRENT
    savings_balance: np.ndarray  # float64
    card_product: np.ndarray  # int8, -1: no credit card
    card_limit: np.ndarray
    card_balance: np.ndarray
    card_open_epoch: np.ndarray
    other_product: np.ndarray  # int8 loan/deposit/investment, -1: none
    other_balance: np.ndarray
    other_open_epoch: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.size)

    def slice(self, piece: slice) -> Latents:
        return Latents(**{f.name: getattr(self, f.name)[piece] for f in dataclasses.fields(self)})

    def take(self, index: np.ndarray) -> Latents:
        return Latents(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    @staticmethod
    def concat(parts: list[Latents]) -> Latents:
        if len(parts) == 1:
            return parts[0]
        return Latents(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Latents)}
        )

    def freeze(self) -> Latents:
        for f in dataclasses.fields(self):
            getattr(self, f.name).flags.writeable = False
        return self


PRODUCT_IDS = pa.array([ref.product_id(i) for i in range(len(ref.PRODUCTS))], pa.string())


# --- id arithmetic -------------------------------------------------------------------------------


def new_customer_ids(config: GenerationConfig, day_index: int) -> tuple[int, int]:
    """[first, last) customer numbers created on day ``day_index`` (0 is the opening book)."""
    if day_index == 0:
        first, end = 1, config.customers + 1
    else:
        first = config.customers + (day_index - 1) * config.daily_new_customers + 1
        end = first + config.daily_new_customers
    if end - 1 > MAX_CUSTOMER_ID:
        raise ConfigError(
            f"daily_new_customers={config.daily_new_customers} exhausts the customer id space "
            f"(C + 9 digits) {day_index} days after start_date; lower daily_new_customers"
        )
    return first, end


def customer_ids(numbers: np.ndarray) -> pa.Array:
    return fixed_width("C", numbers, 9)


def account_ids(customer_numbers: np.ndarray, slot: np.ndarray | int) -> pa.Array:
    return fixed_width("A", np.asarray(customer_numbers, dtype=np.int64) * 10 + slot, 10)


# --- drawing a block -----------------------------------------------------------------------------

# Blocks larger than this are drawn and rendered in sub-blocks of this size, on a few threads.
# Each sub-block has its own seed, so the output never depends on the number of threads.
SUB_BLOCK = 1 << 17


def _event_day(u: np.ndarray, base: np.ndarray, rate: np.ndarray | float) -> np.ndarray:
    """First day after ``base`` on which a daily-hazard event happens (exponential waiting time)."""
    wait = -np.log1p(-u)
    with np.errstate(divide="ignore", over="ignore"):
        days = np.floor(wait / np.float32(rate) if np.isscalar(rate) else wait / np.asarray(rate, dtype=np.float32))
    # float32 is exact to 2**24 days (45,000 years); anything later never happens.
    days = np.where(days < 2**24, days, np.inf)
    out = base + 1 + days
    return np.where(out < NEVER, out, NEVER).astype(np.int32)


class _LookupTable:
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


# Age groups for the attribute tables: <18, 18-25, 25-30, 30-45, 45-60, 60+.
_AGE_GROUP_EDGES = (18, 25, 30, 45, 60)


def _bucket(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Index of the interval of sorted ``edges`` each value falls in (few edges: comparisons win)."""
    out = np.zeros(values.shape, dtype=np.int8)
    for edge in edges:
        out += values >= edge
    return out


_MARITAL_BY_AGE = _LookupTable(
    [
        [1.00, 0.00, 0.00, 0.00],
        [0.85, 0.15, 0.00, 0.00],
        [0.45, 0.53, 0.02, 0.00],
        [0.12, 0.83, 0.04, 0.01],
        [0.05, 0.85, 0.05, 0.05],
        [0.03, 0.72, 0.03, 0.22],
    ],
)
# Student, Salaried, Self-Employed, Business, Professional, Homemaker, Retired, Unemployed;
# rows 0-5 for men and 6-11 for women by age group. Minors are always students.
_OCCUPATION_BY_SEX_AGE = _LookupTable(
    [
        [1.00, 0, 0, 0, 0, 0, 0, 0],
        [0.60, 0.25, 0.05, 0.02, 0.02, 0.00, 0, 0.06],
        [0.05, 0.55, 0.14, 0.10, 0.12, 0.00, 0, 0.04],
        [0.01, 0.50, 0.16, 0.15, 0.14, 0.01, 0, 0.03],
        [0.00, 0.45, 0.18, 0.20, 0.13, 0.01, 0.01, 0.02],
        [0.00, 0.03, 0.07, 0.12, 0.06, 0.02, 0.70, 0.00],
        [1.00, 0, 0, 0, 0, 0, 0, 0],
        [0.62, 0.22, 0.03, 0.01, 0.03, 0.03, 0, 0.06],
        [0.05, 0.45, 0.08, 0.05, 0.12, 0.21, 0, 0.04],
        [0.01, 0.38, 0.09, 0.07, 0.12, 0.30, 0, 0.03],
        [0.00, 0.30, 0.09, 0.08, 0.10, 0.41, 0.01, 0.01],
        [0.00, 0.02, 0.03, 0.04, 0.03, 0.28, 0.60, 0.00],
    ],
)
# Branch, Partner, Online by age group.
_CHANNEL_BY_AGE = _LookupTable(
    [
        [0.70, 0.10, 0.20],
        [0.20, 0.15, 0.65],
        [0.25, 0.15, 0.60],
        [0.40, 0.20, 0.40],
        [0.55, 0.20, 0.25],
        [0.75, 0.15, 0.10],
    ],
)
# Android, iOS, Web by age group.
_DEVICE_BY_AGE = _LookupTable(
    [
        [0.75, 0.20, 0.05],
        [0.70, 0.27, 0.03],
        [0.66, 0.28, 0.06],
        [0.64, 0.24, 0.12],
        [0.62, 0.16, 0.22],
        [0.55, 0.10, 0.35],
    ],
)
# Privilege (Regular, Silver, Gold, Platinum) by affluence (Mass .. HNI).
_PRIVILEGE_BY_AFFLUENCE = _LookupTable(
    [[0.90, 0.10, 0.0, 0.0], [0.10, 0.60, 0.30, 0.0], [0.0, 0.10, 0.60, 0.30], [0.0, 0.0, 0.15, 0.85]]
)
_SEGMENT_BY_TIER = _LookupTable(ref.SEGMENT_BY_TIER)
# Mass / Mass Affluent / Affluent / HNI at the 55%, 85% and 97% quantiles of a standard normal score
# (compared on the normal scale: no CDF per row); risk Low / Medium / High at 60% and 90%.
_AFFLUENCE_Z_CUTS = (0.1257, 1.0364, 1.8808)
_RISK_Z_CUTS = (0.2533, 1.2816)
_SAVINGS_MEDIAN_BY_AFFLUENCE = np.array([12_000.0, 60_000.0, 250_000.0, 1_500_000.0])
# Categorical draws over many categories: a 65,536-bin lookup table instead of a binary search.
CITY_LOOKUP_BINS = 1 << 16
_CITY_CDF_BY_COUNTRY = [
    (
        np.nonzero(ref.CITY_COUNTRY == c)[0],
        np.cumsum([ref.CITIES[i].weight for i in np.nonzero(ref.CITY_COUNTRY == c)[0]]),
    )
    for c in range(len(ref.COUNTRIES))
]


INDIA_CITY_LOOKUP = _CITY_CDF_BY_COUNTRY[ref.INDIA][0][
    choose((np.arange(CITY_LOOKUP_BINS) + 0.5) / CITY_LOOKUP_BINS, _CITY_CDF_BY_COUNTRY[ref.INDIA][1])
].astype(np.int16)


class _Uniforms:
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


class _KeyedUniforms:
    """Uniforms keyed by customer: the same customer gets the same numbers in any subset."""

    def __init__(self, config: GenerationConfig, ids: np.ndarray, purpose: int) -> None:
        self._bits = keyed_bits(config.seed, STREAM_ATTRIBUTES, purpose, ids)
        self._next = 0

    def __call__(self) -> np.ndarray:
        self._next += 1
        return to_unit(derive(self._bits, self._next))


_MOVE_KEY, _NEW_MOBILE_KEY = 1, 2
_MOVE_TO_OTHER_CITY = 0.3


@dataclass(frozen=True)
class Address:
    city: np.ndarray
    segment: np.ndarray
    street: np.ndarray
    house: np.ndarray
    locality: np.ndarray
    postcode_num: np.ndarray


def address_at(config: GenerationConfig, lat: Latents, epoch: np.ndarray | int) -> Address:
    """Address as of a day. The address after a move is keyed by customer and drawn only for
    customers who have moved by then, so the cached blocks stay small."""
    current = Address(lat.city, lat.segment, lat.street, lat.house, lat.locality, lat.postcode_num)
    moved = np.nonzero(np.asarray(epoch) >= lat.address_event_epoch)[0]
    if not moved.size:
        return current
    u = _KeyedUniforms(config, lat.ids[moved], _MOVE_KEY)
    other_city = u() < _MOVE_TO_OTHER_CITY
    new = _draw_address(u, build_pools(config.seed), lat.country[moved], moved.size)
    fields = dict(zip(("city", "segment", "street", "house", "locality", "postcode_num"), new))
    fields["city"] = np.where(other_city, fields["city"], lat.city[moved])
    fields["segment"] = np.where(other_city, fields["segment"], lat.segment[moved])
    out = {}
    for name, values in fields.items():
        column = getattr(current, name).copy()
        column[moved] = values
        out[name] = column
    return Address(**out)


def home_city(config: GenerationConfig, lat: Latents, rows: np.ndarray, epoch: int) -> np.ndarray:
    """``address_at(...).city`` for the customers at ``rows``, without gathering the other fields."""
    city = lat.city[rows]
    moved = np.nonzero(epoch >= lat.address_event_epoch[rows])[0]
    if moved.size:
        who = rows[moved]
        u = _KeyedUniforms(config, lat.ids[who], _MOVE_KEY)
        other_city = u() < _MOVE_TO_OTHER_CITY  # the same draws, in the same order, as address_at
        new_city = _draw_city(u(), lat.country[who])  # the first draw of _draw_address: the city
        city[moved] = np.where(other_city, new_city, city[moved])
    return city


def mobile_at(config: GenerationConfig, lat: Latents, epoch: np.ndarray | int) -> np.ndarray:
    mobile = lat.mobile.copy()
    changed = np.nonzero(np.asarray(epoch) >= lat.mobile_event_epoch)[0]
    if changed.size:
        mobile[changed] = _draw_mobile(_KeyedUniforms(config, lat.ids[changed], _NEW_MOBILE_KEY), lat.country[changed])
    return mobile


def _draw_city(uc: np.ndarray, country: np.ndarray) -> np.ndarray:
    """A city of each customer's country, weighted, from one uniform each."""
    city = INDIA_CITY_LOOKUP[(uc * CITY_LOOKUP_BINS).astype(np.int32)]
    for c in range(1, len(ref.COUNTRIES)):
        rows = np.nonzero(country == c)[0]
        if rows.size:
            candidates, cdf = _CITY_CDF_BY_COUNTRY[c]
            city[rows] = candidates[choose(uc[rows], cdf)]
    return city


def _draw_address(u: _Uniforms | _KeyedUniforms, pools: Pools, country: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """City, segment, street, house number, locality and postcode randomness."""
    city = _draw_city(u(), country)
    tier = ref.CITY_TIER[city] - 1
    segment = _SEGMENT_BY_TIER.draw(u(), tier)
    segment[country != ref.INDIA] = 0  # expatriates live in cities
    street = pools.streets.pick(country, u())
    house = pools.houses.pick(country, u())
    locality = (u() * len(pools.localities)).astype(np.int32)
    locality[(country != ref.INDIA) | (u() < 0.35)] = -1
    postcode_num = (u() * 2**24).astype(np.int32)
    return city, segment, street, house, locality, postcode_num


def _draw_mobile(u: _Uniforms | _KeyedUniforms, country: np.ndarray) -> np.ndarray:
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


def draw_latents(
    config: GenerationConfig, ids: np.ndarray, created_epoch: np.ndarray | None, key: tuple[int, ...]
) -> Latents:
    """Draw a block of customers, in seeded sub-blocks on a few threads.

    ``created_epoch`` None means opening book: created before start_date, snapshot as of the
    go-live. Otherwise each customer is onboarded on its given day and snapshot then.
    """
    pieces = [slice(i, min(i + SUB_BLOCK, ids.size)) for i in range(0, max(ids.size, 1), SUB_BLOCK)]

    def draw(j_piece: tuple[int, slice]) -> Latents:
        j, piece = j_piece
        created = None if created_epoch is None else created_epoch[piece]
        return _draw_sub_block(config, ids[piece], created, (*key, j))

    return Latents.concat(parallel_map(draw, list(enumerate(pieces)))).freeze()


def _draw_sub_block(
    config: GenerationConfig, ids: np.ndarray, created_epoch: np.ndarray | None, key: tuple[int, ...]
) -> Latents:
    rng = generator(config.seed, STREAM_CUSTOMERS, *key)
    pools = build_pools(config.seed)
    n = ids.size
    u = _Uniforms(rng, n)
    normals = u.normals(12)
    start = ref.epoch_day(config.start_date)
    opening = created_epoch is None
    as_of = np.full(n, start, dtype=np.int32) if opening else created_epoch.astype(np.int32)

    # Who: gender, age band (as of the snapshot), latent factors.
    gender = (u() < 0.48).astype(np.int8)
    band = choose(u(), np.cumsum([b[2] for b in ref.AGE_BANDS]))
    lo = np.array([b[0] for b in ref.AGE_BANDS])[band]
    hi = np.array([b[1] for b in ref.AGE_BANDS])[band]
    lo = np.where(band == 1, lo + 0.1, lo)  # adults at least a month past 18: they joined as adults
    age = lo + u() * (hi - lo)
    dob = (as_of - np.round(age * 365.2425)).astype(np.int32)
    health = normals[0]
    engagement = 0.3 * health + math.sqrt(1 - 0.09) * normals[1]
    travel = normals[2]
    fraud_exposure = normals[3]
    minor = band == 0
    senior = band == 4
    group = _bucket(age, _AGE_GROUP_EDGES)

    # Where: Non Residents are adults living abroad.
    nr = (~minor) & (u() < ref.NON_RESIDENT_SHARE)
    country = np.where(nr, choose(u(), np.cumsum(ref.NON_RESIDENT_COUNTRY_WEIGHTS)), ref.INDIA).astype(np.int8)
    nationality = np.where((country >= ref.UK) & (u() < ref.FOREIGN_NATIONALITY_SHARE), country, ref.INDIA).astype(
        np.int8
    )
    city, segment, street, house, locality, postcode_num = _draw_address(u, pools, country, n)
    mobile = _draw_mobile(u, country)

    # What: marital status, occupation, type, channel, device by age group (minors fixed).
    marital = _MARITAL_BY_AGE.draw(u(), group)
    occupation = _OCCUPATION_BY_SEX_AGE.draw(u(), group + 6 * gender)
    uc = u()
    customer_type = np.where(occupation == ref.BUSINESS, np.where(uc < 0.4, 2, np.where(uc < 0.55, 1, 0)), 0).astype(
        np.int8
    )
    channel = _CHANNEL_BY_AGE.draw(u(), group)
    device_type = _DEVICE_BY_AGE.draw(u(), group)

    # Wealth: affluence from health, working age, occupation and NR status; privilege follows.
    wealth = (
        health
        + 0.4 * np.isin(occupation, (ref.BUSINESS, ref.PROFESSIONAL))
        + 0.3 * ((age >= 30) & (age < 60))
        + 0.5 * nr
        - 0.8 * minor
        + 0.5 * normals[4]
    )
    affluence = _bucket((wealth - 0.15) / 1.2, _AFFLUENCE_Z_CUTS)
    privilege = _PRIVILEGE_BY_AFFLUENCE.draw(u(), affluence)
    risk = _bucket(-0.8 * health + 0.5 * nr + 0.5 * normals[5], _RISK_Z_CUTS)
    satisfaction = np.clip(6.3 + 1.4 * engagement + 0.5 * health + 0.6 * normals[6], 1.0, 10.0)
    spend_rate = np.exp(0.45 * engagement + 0.25 * health - 0.13) * np.where(minor, 0.35, np.where(senior, 0.7, 1.0))

    # When: created day, go-live status, bureau cadence, first version day.
    u_tenure = u()
    if opening:
        tenure = np.minimum(
            np.floor(-np.log1p(-u_tenure.astype(np.float64)) * OPENING_MEAN_TENURE_DAYS) + 1, OPENING_MAX_TENURE_DAYS
        )
        # 18 years never exceed 6575 days: a day more guarantees the customer joined as an adult.
        earliest = np.where(minor, dob + 30, dob + 6576)
        created = np.minimum(np.maximum(start - tenure, earliest), start - 1).astype(np.int32)
    else:
        created = as_of.copy()
    created_sec = (OFFICE_OPEN_S + u() * OFFICE_HOURS_S).astype(np.int32)
    credit_cadence = np.maximum(30, np.round(config.credit_check_interval_days * (0.6 + 0.8 * u()))).astype(np.int32)
    credit_u = normal_cdf(0.8 * health + 0.6 * normals[7]).astype(np.float64)
    credit_trend = CREDIT_TREND_SD * normals[8].astype(np.float64)

    status0 = np.full(n, ref.ACTIVE, dtype=np.int8)
    status0_epoch = created.copy()
    u_dead, u_dormant, u_when = u(), u(), u()
    if opening:
        dead = senior & (u_dead < 0.02 + 0.004 * np.maximum(age - 60, 0))
        dormant = (~dead) & (u_dormant < sigmoid(-2.6 - 1.2 * engagement))
        status0[dormant] = ref.DORMANT
        status0[dead] = ref.DECEASED
        span = np.maximum(start - 1 - created, 0)
        status0_epoch = np.where(status0 != ref.ACTIVE, created + np.floor(u_when * (span + 1)), created)
        status0_epoch = np.minimum(status0_epoch, start - 1).astype(np.int32)
        death = np.where(dead, status0_epoch, NEVER)
        last_check = created + ((np.minimum(start, death) - created) // credit_cadence) * credit_cadence
        first_version = np.maximum(np.maximum(created, last_check), status0_epoch).astype(np.int32)
    else:
        first_version = created.copy()
    first_version_sec = np.where(first_version == created, created_sec, OFFICE_OPEN_S + u() * OFFICE_HOURS_S).astype(
        np.int32
    )
    # A senior at the go-live must already be one on an earlier first version: move the birthday back.
    rows = np.nonzero(senior)[0]
    rows = rows[age_years(dob[rows], first_version[rows]) < ref.SENIOR_AGE]
    dob[rows] = shift_years(first_version[rows], -ref.SENIOR_AGE)

    # Life events after the snapshot. Each kind happens at most once per customer.
    rate = config.customer_update_rate
    base = np.maximum(first_version, start if opening else created).astype(np.int32)
    status_after = np.where(status0 == ref.DORMANT, ref.ACTIVE, ref.DORMANT).astype(np.int8)
    status_after[senior & (u() < 0.15) & (status0 == ref.ACTIVE)] = ref.DECEASED
    status_hazard = (
        rate
        * UPDATE_SHARES["status"]
        * np.where(status0 == ref.DORMANT, np.exp(0.5 * engagement), np.exp(-1.0 * engagement))
    )
    status_event = _event_day(u(), base, status_hazard)
    # Marriages only happen to Single adults (a third of the book): scale so the overall share holds.
    marital_event = _event_day(u(), base, rate * UPDATE_SHARES["marital"] / 0.3)
    address_event = _event_day(u(), base, rate * UPDATE_SHARES["address"])
    mobile_event = _event_day(u(), base, rate * UPDATE_SHARES["mobile"])
    marital_event[marital != ref.SINGLE] = NEVER
    rows = np.nonzero(marital_event < NEVER)[0]
    marital_event[rows[age_years(dob[rows], marital_event[rows]) < ref.MARRIAGE_MIN_AGE]] = NEVER
    dead_at_start = status0 == ref.DECEASED
    status_event = np.where(dead_at_start, NEVER, status_event).astype(np.int32)
    death_day = np.where(status_after == ref.DECEASED, status_event, NEVER)
    for event in (marital_event, address_event, mobile_event):
        event[dead_at_start | (event > death_day)] = NEVER

    # Names, email, defects.
    first_name = np.where(
        gender == ref.MALE, u() * len(pools.first_male), len(pools.first_male) + u() * len(pools.first_female)
    ).astype(np.int32)
    middle_name = (u() * len(pools.first_male)).astype(np.int32)
    middle_name[u() >= 0.35] = -1
    last_name = (u() * pools.last_count).astype(np.int32)
    email_domain = choose(u(), pools.email_domain_cdf).astype(np.int16)
    defect = np.where(u() < config.defect_rate, 1 + (u() * len(DEFECT_KINDS)).astype(np.int8), 0).astype(np.int8)
    defect_aux = (u() * 2**24).astype(np.int32)

    # Accounts: savings/current always; a card and one more product by latent factors.
    adult = ~minor
    savings_type = np.where(customer_type == 0, ref.ACC_SAVINGS, ref.ACC_CURRENT).astype(np.int8)
    savings_balance = _SAVINGS_MEDIAN_BY_AFFLUENCE[affluence] * np.exp(0.3 * health + 0.9 * normals[9])
    savings_balance = np.where(minor, 5_000.0 * np.exp(0.8 * normals[9]), savings_balance)
    savings_balance = np.where(status0 == ref.DORMANT, savings_balance * 0.2, savings_balance)
    has_card = adult & (u() < sigmoid(-0.9 + 0.7 * health + 0.4 * engagement + 0.6 * travel + 0.4 * affluence))
    card = np.where(affluence >= 2, ref.CARD_REWARDS, ref.CARD_CLASSIC)
    card = np.where(u() < 0.15, ref.CARD_FUEL, card)
    card = np.where(occupation == ref.STUDENT, ref.CARD_CAMPUS, card)
    card = np.where(travel > 0.9, ref.CARD_TRAVEL, card)
    card = np.where(affluence == 3, ref.CARD_PLATINUM, card)
    card_product = np.where(has_card, card, -1).astype(np.int8)
    cp = np.maximum(card_product, 0)
    limit_q = sigmoid(1.702 * (health + 0.5 * normals[10]))  # logistic approximation of the normal CDF
    card_limit = np.round(ref.PRODUCT_MIN[cp] + (ref.PRODUCT_MAX[cp] - ref.PRODUCT_MIN[cp]) * limit_q, -3)
    card_balance = np.round(card_limit * u() * u(), 2)  # outstanding: mostly a small share of the limit
    other_product = _other_product(u, age, occupation, affluence, health, minor, n)
    op = np.maximum(other_product, 0)
    scale = sigmoid(1.702 * (0.7 * health + 0.6 * affluence - 0.8 + 0.5 * normals[11])) ** 2
    other_balance = np.round(ref.PRODUCT_MIN[op] + (ref.PRODUCT_MAX[op] - ref.PRODUCT_MIN[op]) * 0.3 * scale, 2)
    open_span = np.maximum(start - 1 - created, 0) if opening else np.zeros(n)
    card_open = (created + np.floor(u() * (open_span + 1))).astype(np.int32)
    other_open = (created + np.floor(u() * (open_span + 1))).astype(np.int32)
    # The deceased keep the accounts they had; nothing opens after death.
    card_product = np.where(dead_at_start & (card_open > status0_epoch), -1, card_product).astype(np.int8)
    other_product = np.where(dead_at_start & (other_open > status0_epoch), -1, other_product).astype(np.int8)

    return Latents(
        ids=ids.astype(np.int64),
        created_epoch=created,
        created_sec=created_sec,
        first_version_epoch=first_version,
        first_version_sec=first_version_sec,
        gender=gender,
        dob_epoch=dob,
        marital=marital,
        occupation=occupation,
        customer_type=customer_type,
        channel=channel,
        country=country,
        nationality=nationality,
        city=city,
        segment=segment,
        street=street,
        house=house,
        locality=locality,
        postcode_num=postcode_num,
        mobile=mobile,
        first_name=first_name,
        middle_name=middle_name,
        last_name=last_name,
        email_domain=email_domain,
        health=health.astype(np.float32),
        engagement=engagement.astype(np.float32),
        travel=travel.astype(np.float32),
        fraud_exposure=fraud_exposure.astype(np.float32),
        satisfaction=satisfaction.astype(np.float32),
        spend_rate=spend_rate.astype(np.float32),
        affluence=affluence,
        privilege=privilege,
        risk=risk,
        device_type=device_type,
        status0=status0,
        status0_epoch=status0_epoch,
        status_event_epoch=status_event,
        status_after=status_after,
        marital_event_epoch=marital_event,
        address_event_epoch=address_event,
        mobile_event_epoch=mobile_event,
        credit_u=credit_u,
        credit_trend=credit_trend,
        credit_cadence=credit_cadence,
        defect=defect,
        defect_aux=defect_aux,
        savings_type=savings_type,
        savings_balance=np.round(savings_balance, 2),
        card_product=card_product,
        card_limit=card_limit,
        card_balance=card_balance,
        card_open_epoch=card_open,
        other_product=other_product,
        other_balance=other_balance,
        other_open_epoch=other_open,
    )


_OTHER_PRODUCT_OPTIONS = [
    [ref.RD],
    [ref.LOAN_EDUCATION, ref.RD, ref.MF_INDEX],
    [ref.LOAN_PERSONAL, ref.RD, ref.MF_INDEX, ref.LOAN_AUTO],
    [ref.LOAN_HOME, ref.LOAN_AUTO, ref.LOAN_PERSONAL, ref.FD_1Y, ref.MF_EQUITY, ref.MF_ELSS, ref.FD_TAX],
    [ref.FD_3Y, ref.LOAN_HOME, ref.MF_EQUITY, ref.SGB, ref.LOAN_GOLD, ref.MF_DEBT],
    [ref.FD_SENIOR, ref.FD_1Y, ref.MF_DEBT, ref.SGB],
]
_OTHER_PRODUCT_COUNTS = np.array([len(o) for o in _OTHER_PRODUCT_OPTIONS])
_OTHER_PRODUCTS = np.array([o + [o[0]] * (7 - len(o)) for o in _OTHER_PRODUCT_OPTIONS], dtype=np.int8)


def _other_product(
    u: _Uniforms,
    age: np.ndarray,
    occupation: np.ndarray,
    affluence: np.ndarray,
    health: np.ndarray,
    minor: np.ndarray,
    n: int,
) -> np.ndarray:
    """A loan, deposit or investment for about half the adults (a recurring deposit for some minors)."""
    # Life stage: 0 minor, 1 young student, 2 young, 3 30-45, 4 45-60, 5 60+.
    stage = np.where(
        minor, 0, np.where(age < 30, np.where(occupation == ref.STUDENT, 1, 2), 3 + (age >= 45) + (age >= 60))
    )
    pick = _OTHER_PRODUCTS.ravel()[
        stage * _OTHER_PRODUCTS.shape[1] + (u() * _OTHER_PRODUCT_COUNTS[stage]).astype(np.int64)
    ]
    owns = u() < np.where(minor, 0.2, sigmoid(0.1 + 0.5 * health + 0.3 * affluence))
    return np.where(owns, pick, -1).astype(np.int8)


# --- cached blocks and the population of a day ---------------------------------------------------


@functools.lru_cache(maxsize=4)
def opening_latents(config: GenerationConfig) -> Latents:
    first, end = new_customer_ids(config, 0)
    return draw_latents(config, np.arange(first, end, dtype=np.int64), None, (0, first, end - first))


@functools.lru_cache(maxsize=256)
def chunk_latents(config: GenerationConfig, block: int) -> Latents:
    """Customers onboarded on days (block-1)*CHUNK_DAYS+1 .. block*CHUNK_DAYS."""
    first_day, last_day = (block - 1) * CHUNK_DAYS + 1, block * CHUNK_DAYS
    first, _ = new_customer_ids(config, first_day)
    _, end = new_customer_ids(config, last_day)
    ids = np.arange(first, end, dtype=np.int64)
    day_index = 1 + (ids - config.customers - 1) // max(config.daily_new_customers, 1)
    created = (ref.epoch_day(config.start_date) + day_index).astype(np.int32)
    return draw_latents(config, ids, created, (1, block))


def population(config: GenerationConfig, day_index: int) -> Latents:
    """Every customer created on or before the day, and possibly some created later in the same
    chunk: consumers always mask by created_epoch (and status), never by position."""
    return _population_of_blocks(config, population_blocks(config, day_index))


def population_blocks(config: GenerationConfig, day_index: int) -> int:
    """How many blocks of new customers population(config, day_index) holds (its cache key)."""
    return (day_index + CHUNK_DAYS - 1) // CHUNK_DAYS if config.daily_new_customers else 0


@functools.lru_cache(maxsize=2)
def _population_of_blocks(config: GenerationConfig, blocks: int) -> Latents:
    parts = [opening_latents(config)] + [chunk_latents(config, b) for b in range(1, blocks + 1)]
    return Latents.concat(parts).freeze()


def generate_customers(config: GenerationConfig, n: int, first_id: int = 1) -> pa.Table:
    """A block of ``n`` opening-book customers (created before start_date), rendered as KYC rows.

    ``generate_customers(config, config.customers)`` is exactly the opening book landed on the
    start day. Rows are a pure function of (config, n, first_id).
    """
    if n < 0 or first_id < 1 or first_id + n - 1 > MAX_CUSTOMER_ID:
        raise ConfigError(
            f"n must be >= 0 and first_id >= 1 with ids up to {MAX_CUSTOMER_ID}, got n={n}, first_id={first_id}"
        )
    if first_id == 1 and n == config.customers:
        lat = opening_latents(config)
    else:
        lat = draw_latents(config, np.arange(first_id, first_id + n, dtype=np.int64), None, (0, first_id, n))
    return render_customers(config, lat, lat.first_version_epoch, lat.first_version_sec)


# --- state as of a day ---------------------------------------------------------------------------


def status_at(lat: Latents, epoch: np.ndarray | int) -> np.ndarray:
    return np.where(
        epoch >= lat.status_event_epoch,
        lat.status_after,
        np.where(epoch >= lat.status0_epoch, lat.status0, ref.ACTIVE),
    ).astype(np.int8)


def death_epoch(lat: Latents) -> np.ndarray:
    return np.where(
        lat.status0 == ref.DECEASED,
        lat.status0_epoch,
        np.where(lat.status_after == ref.DECEASED, lat.status_event_epoch, NEVER),
    ).astype(np.int64)


def last_check_epoch(lat: Latents, epoch: np.ndarray | int) -> np.ndarray:
    """Day of the latest bureau check on or before ``epoch`` (checks stop at death)."""
    until = np.minimum(np.asarray(epoch, dtype=np.int64), death_epoch(lat))
    cadence = lat.credit_cadence.astype(np.int64)
    return lat.created_epoch + ((until - lat.created_epoch) // cadence) * cadence


def cibil_score(
    config: GenerationConfig, lat: Latents, check_epoch: np.ndarray, rows: np.ndarray | slice = slice(None)
) -> np.ndarray:
    """Score of a check: the customer's quantile, drifted and wobbled, mapped onto the CIBIL bands.

    ``rows`` selects the customers of ``lat`` the checks belong to (gathering 3 fields, not 50).
    """
    ids, credit_u, trend = lat.ids[rows], lat.credit_u[rows], lat.credit_trend[rows]
    z = normal_from_uniform(*_credit_uniforms(config, ids, check_epoch))
    # Drift is anchored at the go-live, so the band shares hold for the opening book.
    years = (check_epoch - ref.epoch_day(config.start_date)) / 365.25
    u = np.clip(credit_u + trend * years + CREDIT_NOISE_SD * z, 0.0, 1.0 - 1e-9)
    low = CIBIL_LOW[0] + u / CIBIL_LOW_SHARE * (CIBIL_LOW[1] - CIBIL_LOW[0])
    high = CIBIL_HIGH[0] + (u - CIBIL_LOW_SHARE) / (1 - CIBIL_LOW_SHARE) * (CIBIL_HIGH[1] - CIBIL_HIGH[0])
    return np.round(np.where(u < CIBIL_LOW_SHARE, low, high)).astype(np.int16)


def _credit_uniforms(config: GenerationConfig, ids: np.ndarray, epoch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return to_unit32_pair(keyed_bits(config.seed, STREAM_CREDIT, ids, epoch))


def update_seconds(config: GenerationConfig, ids: np.ndarray, epoch: int) -> np.ndarray:
    """Time of day of a customer's update version: back-office hours, keyed by (customer, day)."""
    u = to_unit(keyed_bits(config.seed, STREAM_UPDATES, epoch, ids))
    return (OFFICE_OPEN_S + u * OFFICE_HOURS_S).astype(np.int32)


def updated_on(lat: Latents, epoch: int) -> np.ndarray:
    """Customers (created before the day) whose KYC row changes on the day: events or a bureau check."""
    existing = lat.created_epoch < epoch
    event = (
        (lat.status_event_epoch == epoch)
        | (lat.marital_event_epoch == epoch)
        | (lat.address_event_epoch == epoch)
        | (lat.mobile_event_epoch == epoch)
    )
    check = ((epoch - lat.created_epoch) % lat.credit_cadence == 0) & (epoch < death_epoch(lat))
    return np.nonzero(existing & (event | check))[0]


def checked_on(lat: Latents, epoch: int) -> np.ndarray:
    """Customers with a bureau check on the day (including the onboarding check of new customers)."""
    alive = epoch < death_epoch(lat)
    return np.nonzero((lat.created_epoch <= epoch) & ((epoch - lat.created_epoch) % lat.credit_cadence == 0) & alive)[0]


# --- rendering rows ------------------------------------------------------------------------------


_NATIONALITIES = tuple(c.nationality for c in ref.COUNTRIES)
_DIALLING_CODES = tuple(c.dialling_code for c in ref.COUNTRIES)
_COUNTRY_NAMES = tuple(c.name for c in ref.COUNTRIES)
CITY_NAMES = pa.array([c.name for c in ref.CITIES], pa.string())
_CITY_STATES = pa.array([c.state for c in ref.CITIES], pa.string())
_UK_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_SINGAPORE_POSTCODES = 5000


def _city_postcodes(city: ref.City) -> list[str]:
    """Every postcode a customer of the city can have, in the country's format."""
    if city.country == ref.INDIA:  # 6-digit PIN with the city's 3-digit prefix
        return [f"{city.postcode_key}{s:03d}" for s in range(1, 1000)]
    if city.country == ref.UK:  # "E14 3AB"
        return [
            f"{o} {d}{a}{b}"
            for o in city.postcode_key.split("|")
            for d in range(1, 10)
            for a in _UK_LETTERS
            for b in _UK_LETTERS
        ]
    if city.country == ref.USA:  # 5-digit ZIP with the city's prefix
        return [f"{city.postcode_key}{s:02d}" for s in range(1, 100)]
    if city.country == ref.SINGAPORE:  # 6 digits, districts 01-82
        return [f"{10_000 + (i * 7919) % 820_000:06d}" for i in range(_SINGAPORE_POSTCODES)]
    return ["00000"]  # the UAE has no postcodes; forms carry zeros


@functools.cache
def _postcode_pool() -> tuple[pa.Array, np.ndarray, np.ndarray]:
    groups = [_city_postcodes(c) for c in ref.CITIES]
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return pa.array([p for g in groups for p in g], pa.string()), offsets, sizes


def _postcodes(city: np.ndarray, num: np.ndarray) -> pa.Array:
    """Postcodes in each country's format, one take from a pool of every city's postcodes."""
    values, offsets, sizes = _postcode_pool()
    c = city.astype(np.int64)
    return values.take(pa.array(offsets[c] + num.astype(np.int64) % sizes[c]))


def _title_table() -> np.ndarray:
    """Title by (gender, marital status, minor): Master/Miss for minors, Mr, Mrs for married or
    widowed women, Ms for other adult women."""
    table = np.empty((2, len(ref.MARITAL_STATUSES), 2), dtype=np.int8)
    for marital in range(len(ref.MARITAL_STATUSES)):
        table[ref.MALE, marital] = (ref.TITLE_MR, ref.TITLE_MASTER)
        wed = marital in (ref.MARRIED, ref.WIDOWED)
        table[ref.FEMALE, marital] = (ref.TITLE_MRS if wed else ref.TITLE_MS, ref.TITLE_MISS)
    return table.ravel()


_TITLE_BY_GENDER_MARITAL_MINOR = _title_table()


def _titles(gender: np.ndarray, marital: np.ndarray, minor: np.ndarray) -> np.ndarray:
    index = (gender.astype(np.int32) * len(ref.MARITAL_STATUSES) + marital) * 2 + minor
    return _TITLE_BY_GENDER_MARITAL_MINOR[index]


def render_customers(
    config: GenerationConfig, lat: Latents, version_epoch: np.ndarray, version_sec: np.ndarray
) -> pa.Table:
    """KYC rows of the given customers as of each row's version day (exactly schemas.CUSTOMERS).

    Everything that can change (status, marital status and title, address and segment, mobile,
    CIBIL score, minor/senior flags) is evaluated on the version day, so any version of any
    customer can be rendered without the versions before it. Large inputs render in sub-blocks on
    a few threads.
    """
    n = len(lat)
    epoch = np.broadcast_to(np.asarray(version_epoch, dtype=np.int64), (n,))
    sec = np.broadcast_to(np.asarray(version_sec, dtype=np.int64), (n,))
    if n <= SUB_BLOCK:
        return _render_customers(config, lat, epoch, sec)
    pieces = [slice(i, min(i + SUB_BLOCK, n)) for i in range(0, n, SUB_BLOCK)]
    tables = parallel_map(lambda p: _render_customers(config, lat.slice(p), epoch[p], sec[p]), pieces)
    return pa.concat_tables(tables)


def _render_customers(config: GenerationConfig, lat: Latents, e: np.ndarray, version_sec: np.ndarray) -> pa.Table:
    pools = build_pools(config.seed)
    age = age_years(lat.dob_epoch, e)
    minor = age < ref.ADULT_AGE
    marital = np.where(e >= lat.marital_event_epoch, ref.MARRIED, lat.marital)
    address = address_at(config, lat, e)
    city = address.city
    mobile_number = mobile_at(config, lat, e)
    check = last_check_epoch(lat, e)

    # Defective rows index the defect variants kept in the pools (see pools.Pools).
    defect = lat.defect
    first_shift = np.where(defect == DEFECT_DIGIT, (1 + lat.defect_aux % 10) * pools.first_count, 0)
    first = pools.first_all.take(pa.array(lat.first_name + first_shift))
    last_idx = np.where(defect == DEFECT_LONG_NAME, pools.last_count + lat.defect_aux % LONG_NAMES, lat.last_name)
    last = pools.last.take(pa.array(last_idx))
    domain = lat.email_domain.astype(np.int32) + np.where(defect == DEFECT_EMAIL, pools.domain_count, 0)
    email = join(
        pools.first_email.take(pa.array(lat.first_name)),
        pools.last_email.take(pa.array(lat.last_name)),
        ints(lat.ids),
        pools.email_domains.take(pa.array(domain)),
    )
    mobile = ints(np.where(defect == DEFECT_MOBILE, mobile_number // 10, mobile_number))  # a digit short
    locality = address.locality
    line1 = join(pools.houses.values.take(pa.array(address.house)), pools.streets.values.take(pa.array(address.street)))

    columns = [
        customer_ids(lat.ids),
        take(ref.TITLES, _titles(lat.gender, marital, minor)),
        first,
        take(pools.first_all, np.maximum(lat.middle_name, 0), lat.middle_name < 0),
        last,
        take(ref.GENDERS, lat.gender),
        dates(lat.dob_epoch),
        pa.array(minor),
        pa.array(age >= ref.SENIOR_AGE),
        take(ref.MARITAL_STATUSES, marital),
        take(_NATIONALITIES, lat.nationality),
        take(ref.SEGMENTS, address.segment),
        take(ref.CATEGORIES, lat.country != ref.INDIA),
        take(ref.PRIVILEGES, lat.privilege),
        take(ref.CUSTOMER_TYPES, lat.customer_type),
        take(ref.OCCUPATIONS, lat.occupation),
        take(ref.SOURCING_CHANNELS, lat.channel),
        take(ref.STATUSES, status_at(lat, e)),
        take(ref.RISK_CATEGORIES, lat.risk),
        take(ref.AFFLUENCE_LEVELS, lat.affluence),
        email,
        take(_DIALLING_CODES, lat.country),
        mobile,
        line1,
        take(pools.localities, np.maximum(locality, 0), locality < 0),
        take(CITY_NAMES, city),
        take(_CITY_STATES, city),
        _postcodes(city, address.postcode_num),
        take(_COUNTRY_NAMES, lat.country),
        pa.array(cibil_score(config, lat, check), pa.int16()),
        dates(check, defect == DEFECT_CIBIL_DATE),
        timestamps(lat.created_epoch, lat.created_sec),
        timestamps(e, version_sec),
    ]
    return pa.Table.from_arrays(columns, schema=CUSTOMERS)


def render_accounts(lat: Latents) -> pa.Table:
    """The accounts of the given customers (landed on the customer's created day), in id order."""
    has_card = lat.card_product >= 0
    has_other = lat.other_product >= 0
    counts = 1 + has_card.astype(np.int64) + has_other
    rows = np.repeat(np.arange(len(lat)), counts)
    j = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)  # 0, 1, 2 within a customer
    slot = np.where(j == 0, SLOT_SAVINGS, np.where((j == 1) & has_card[rows], SLOT_CARD, SLOT_OTHER))
    is_card, is_other = slot == SLOT_CARD, slot == SLOT_OTHER
    product = np.where(is_card, lat.card_product[rows], np.where(is_other, lat.other_product[rows], -1))
    account_type = np.where(
        slot == SLOT_SAVINGS,
        lat.savings_type[rows],
        ref.ACCOUNT_TYPE_OF_PRODUCT_TYPE[ref.PRODUCT_TYPE[np.maximum(product, 0)]],
    )
    open_epoch = np.where(
        is_card, lat.card_open_epoch[rows], np.where(is_other, lat.other_open_epoch[rows], lat.created_epoch[rows])
    )
    balance = np.where(
        is_card, lat.card_balance[rows], np.where(is_other, lat.other_balance[rows], lat.savings_balance[rows])
    )
    closed = lat.status0[rows] == ref.DECEASED
    n = rows.size
    columns = [
        account_ids(lat.ids[rows], slot),
        customer_ids(lat.ids[rows]),
        take(PRODUCT_IDS, np.maximum(product, 0), product < 0),
        take(ref.ACCOUNT_TYPES, account_type),
        dates(open_epoch),
        pa.array(np.round(balance, 2), pa.float64()),
        pa.array(lat.card_limit[rows], pa.float64(), mask=~is_card),
        constant(ref.CURRENCY, n),
        take(ref.ACCOUNT_STATUSES, closed),
    ]
    return pa.Table.from_arrays(columns, schema=ACCOUNTS)


def render_credit_scores(config: GenerationConfig, lat: Latents, rows: np.ndarray, check_epoch: np.ndarray) -> pa.Table:
    """Checks of the customers at ``rows`` (in customer order, then check date) on the given days."""
    n = rows.size
    return pa.Table.from_arrays(
        [
            customer_ids(lat.ids[rows]),
            dates(check_epoch),
            pa.array(cibil_score(config, lat, check_epoch, rows), pa.int16()),
            constant("CIBIL", n),
        ],
        schema=CREDIT_SCORES,
    )


def opening_credit_history(config: GenerationConfig, lat: Latents) -> pa.Table:
    """Bureau checks of the opening book in the 360 days up to the go-live (always the latest one)."""
    start = ref.epoch_day(config.start_date)
    cadence = lat.credit_cadence.astype(np.int64)
    last_m = (np.minimum(start, death_epoch(lat)) - lat.created_epoch) // cadence
    first_m = np.maximum(0, -((-(start - CREDIT_HISTORY_DAYS + 1 - lat.created_epoch)) // cadence))
    first_m = np.minimum(first_m, last_m)
    counts = (last_m - first_m + 1).astype(np.int64)
    rows = np.repeat(np.arange(len(lat)), counts)
    step = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    check = lat.created_epoch[rows] + (first_m[rows] + step) * cadence[rows]
    return render_credit_scores(config, lat, rows, check)
