"""A day's activity: transactions, logins and the planted fraud bursts.

Organic transactions are keyed by (customer, day): the same customer-day gives the same
transactions whoever else is generated, so the FPR feed can recompute a customer's last 30 days
exactly. A customer spends the whole day in one place (home, or one city when travelling) and
organic activity happens between 06:00 and 23:00, so two organic card payments are never in
distant cities within an hour: impossible travel comes only from the planted fraud bursts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from finmatch_platform.lib.schemas import LOGIN_ACTIVITY, TRANSACTIONS

from . import reference as ref
from .config import GenerationConfig
from .customers import (
    CITY_LOOKUP_BINS,
    CITY_NAMES,
    INDIA_CITY_LOOKUP,
    SLOT_CARD,
    SLOT_SAVINGS,
    Latents,
    account_ids,
    customer_ids,
    home_city,
    population,
    status_at,
)
from .dates import SECONDS_PER_DAY, age_years, timestamps, yyyymmdd
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
    poisson_from_uniform,
    to_unit,
    to_unit32_pair,
)
from .strings import WORKERS, constant, fixed_width, parallel_map, take

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


def time_order(seconds: np.ndarray) -> np.ndarray:
    """Stable argsort of seconds of the day (< 2**17): two 16-bit radix passes instead of a
    comparison sort, 5-10x faster on a day of transactions."""
    low = np.argsort((seconds & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((seconds[low] >> 16).astype(np.uint16), kind="stable")]


def _seconds(u_hour: np.ndarray, u_sec: np.ndarray) -> np.ndarray:
    return ((_FIRST_HOUR + choose(u_hour, _HOUR_CDF)) * 3600 + u_sec * 3600).astype(np.int64)


def active_on(lat: Latents, epoch: int) -> np.ndarray:
    """Customers who can transact and log in on the day: onboarded before it and Active on it."""
    return np.nonzero((lat.created_epoch < epoch) & (status_at(lat, epoch) == ref.ACTIVE))[0]


def location(config: GenerationConfig, lat: Latents, rows: np.ndarray, epoch: int) -> np.ndarray:
    """Where each customer at ``rows`` is on the day: home, or one Indian city all day when away."""
    home = home_city(config, lat, rows, epoch)
    bits = keyed_bits(config.seed, STREAM_LOCATION, epoch, lat.ids[rows])
    u_away, u_city = to_unit32_pair(bits)
    p_away = np.minimum(AWAY_BASE_PROB * np.exp(0.8 * lat.travel[rows] - 0.32), AWAY_MAX_PROB)
    elsewhere = INDIA_CITY_LOOKUP[(u_city * CITY_LOOKUP_BINS).astype(np.int32)]
    return np.where(u_away < p_away, elsewhere, home).astype(np.int16)


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
    from them (a handful of element-wise ops) instead of a per-customer table.
    """
    w = ref.REASON_BASE_WEIGHTS.astype(np.float32)
    minor = age < ref.ADULT_AGE
    travel = w[ref.R_TRAVEL] * np.exp(np.float32(1.3) * lat.travel[rows] - np.float32(0.85))
    travel[minor] *= np.float32(0.3)
    exam = np.where(lat.occupation[rows] == ref.STUDENT, 10 * w[ref.R_EXAM], w[ref.R_EXAM])
    exam[age < 25] *= np.float32(4.0)
    fuel = np.where(minor, np.float32(0.0), w[ref.R_FUEL])
    weights = [w[ref.R_FOOD], travel, w[ref.R_ECOM], exam, w[ref.R_UTILITIES], fuel, w[ref.R_ENTERTAINMENT], w[ref.R_HEALTH]]
    x = u * sum(weights)
    reason = np.zeros(u.shape, dtype=np.int8)
    threshold = np.zeros(u.shape, dtype=np.float32)
    for weight in weights[:-1]:
        threshold += weight
        reason += x >= threshold
    return reason


def organic_transactions(config: GenerationConfig, lat: Latents, epoch: int) -> TransactionDraw:
    """Each active customer's transactions of the day, keyed by (day, customer).

    Large days run in slices of customers on a few threads; keyed draws make the result the same
    as one pass, in the same (customer) order.
    """
    active = active_on(lat, epoch)
    if active.size <= PARALLEL_MIN_CUSTOMERS or WORKERS == 1:
        return _organic(config, lat, active, epoch)
    pieces = np.array_split(active, WORKERS)
    parts = parallel_map(lambda rows: _organic(config, lat, rows, epoch), pieces)
    return TransactionDraw(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(TransactionDraw)}
    )


def _organic(config: GenerationConfig, lat: Latents, active: np.ndarray, epoch: int) -> TransactionDraw:
    base = keyed_bits(config.seed, STREAM_TRANSACTIONS, epoch, lat.ids[active])
    # float32 is ample for a count uniform and halves the memory traffic over a million customers.
    lam = np.float32(config.transactions_per_customer_day) * lat.spend_rate[active]
    count = poisson_from_uniform(lam, to_unit32_pair(base)[0])
    spenders = np.nonzero(count)[0]
    counts = count[spenders]
    rows = np.repeat(active[spenders], counts)  # the customer of each transaction
    j = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    bits = derive(np.repeat(base[spenders], counts), j + 1)
    # Two float32 uniforms per 64 random bits: four mixes give the eight draws of a transaction.
    u_reason, u_mode = to_unit32_pair(derive(bits, 1))
    u_z1, u_z2 = to_unit32_pair(derive(bits, 2))
    u_card, u_merchant = to_unit32_pair(derive(bits, 3))
    u_hour, u_sec = to_unit32_pair(derive(bits, 4))

    age = (epoch - lat.dob_epoch[rows]).astype(np.float32) / np.float32(365.25)
    reason = _reasons(lat, rows, age, u_reason)
    z = normal_from_uniform(u_z1, u_z2)
    amount = (
        ref.REASON_MEDIAN_INR[reason]
        * ref.AFFLUENCE_SPEND[lat.affluence[rows]]
        * np.exp(0.15 * lat.health[rows] + ref.REASON_SIGMA[reason] * z)
        * np.where(age < ref.ADULT_AGE, 0.4, 1.0)
    )
    group = (age >= 30).astype(np.int8) + (age >= 60)
    mode = choose(u_mode, _MODE_CDF, group * len(ref.REASONS) + reason).astype(np.int8)
    on_card = (mode == ref.MODE_CARD) & (lat.card_product[rows] >= 0) & (u_card < CARD_ON_CREDIT_ACCOUNT)
    customers = active[spenders]
    return TransactionDraw(
        rows=rows,
        reason=reason,
        amount=np.maximum(np.round(amount, 2), 10.0),
        mode=mode,
        slot=np.where(on_card, SLOT_CARD, SLOT_SAVINGS).astype(np.int8),
        merchant=build_pools(config.seed).merchants.pick(reason, u_merchant),
        city=np.repeat(location(config, lat, customers, epoch), counts),
        seconds=_seconds(u_hour, u_sec),
    )


def transactions_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    """The day's transactions in transaction_id order: organic ones numbered in time order, then
    the fraud-burst payments (sequence numbers from FRAUD_SEQ_BASE)."""
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    lat = population(config, k)
    draw = organic_transactions(config, lat, epoch)
    # Rows are in customer order, so a stable sort on the clock orders ties by customer.
    order = time_order(draw.seconds)
    fraud = _bursts(config, day)
    cat = lambda organic, key: np.concatenate([organic[order], *(b.payments[key] for b in fraud)])  # noqa: E731
    ids = cat(lat.ids[draw.rows], "customer")
    seq = np.concatenate([np.arange(1, order.size + 1), *(b.payments["seq"] for b in fraud)])
    pools = build_pools(config.seed)
    # Columns are independent: build them on a few threads (Arrow and NumPy release the GIL).
    columns: list[Callable[[], pa.Array]] = [
        lambda: fixed_width("T" + yyyymmdd(epoch), seq, 9),
        lambda: account_ids(ids, cat(draw.slot, "slot")),
        lambda: customer_ids(ids),
        lambda: timestamps(np.full(ids.size, epoch), cat(draw.seconds, "seconds")),
        lambda: pa.array(cat(draw.amount, "amount"), pa.float64()),
        lambda: constant(ref.CURRENCY, ids.size),
        lambda: take(ref.MODES, cat(draw.mode, "mode")),
        lambda: take(ref.REASONS, cat(draw.reason, "reason")),
        lambda: pools.merchants.values.take(pa.array(cat(draw.merchant, "merchant"))),
        lambda: CITY_NAMES.take(pa.array(cat(draw.city, "city").astype(np.int32))),
    ]
    return pa.Table.from_arrays(_build(columns, ids.size), schema=TRANSACTIONS)


def logins_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    """The day's logins in login_id order: organic ones in time order, then the fraud bursts' failures."""
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    lat = population(config, k)
    active = active_on(lat, epoch)
    rng = generator(config.seed, STREAM_LOGINS, k)
    age = (epoch - lat.dob_epoch[active]) / 365.25
    lam = config.login_rate * np.exp(0.6 * lat.engagement[active].astype(np.float64) - 0.18) * np.where(age < ref.ADULT_AGE, 0.5, 1.0)
    count = rng.poisson(lam)
    rows = np.repeat(active, count)
    m = rows.size
    success = rng.random(m) < LOGIN_SUCCESS - 0.03 * (np.repeat(age, count) >= ref.SENIOR_AGE)
    device = np.where(rng.random(m) < PRIMARY_DEVICE_SHARE, 0, 1 + (rng.random(m) * SECONDARY_DEVICES).astype(np.int64))
    seconds = _seconds(rng.random(m), rng.random(m))
    ids = lat.ids[rows]
    device_bits = keyed_bits(config.seed, STREAM_DEVICE, ids, device)
    device_type = np.where(device == 0, lat.device_type[rows], choose(to_unit(derive(device_bits, 1)), _DEVICE_CDF))
    city = np.repeat(location(config, lat, active, epoch), count)
    order = time_order(seconds)
    fraud = _bursts(config, day)
    cat = lambda organic, key: np.concatenate([organic[order], *(b.logins[key] for b in fraud)])  # noqa: E731
    seq = np.concatenate([np.arange(1, m + 1), *(b.logins["seq"] for b in fraud)])
    columns: list[Callable[[], pa.Array]] = [
        lambda: fixed_width("L" + yyyymmdd(epoch), seq, 9),
        lambda: customer_ids(cat(ids, "customer")),
        lambda: timestamps(np.full(seq.size, epoch), cat(seconds, "seconds")),
        lambda: pa.array(np.concatenate([success[order], *(np.zeros(b.logins["seq"].size, dtype=bool) for b in fraud)])),
        lambda: device_ids(cat(device_bits, "device_bits")),
        lambda: take(ref.DEVICE_TYPES, cat(device_type, "device_type")),
        lambda: CITY_NAMES.take(pa.array(cat(city, "city").astype(np.int32))),
    ]
    return pa.Table.from_arrays(_build(columns, seq.size), schema=LOGIN_ACTIVITY)


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


@functools.lru_cache(maxsize=64)
def _bursts(config: GenerationConfig, day: dt.date) -> tuple[_Burst, ...]:
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    if config.fraud_bursts_per_day == 0:
        return ()
    lat = population(config, k)
    active = active_on(lat, epoch)
    eligible = active[age_years(lat.dob_epoch[active], epoch) >= ref.ADULT_AGE]
    m = min(config.fraud_bursts_per_day, eligible.size)
    if m == 0:
        return ()
    rng = generator(config.seed, STREAM_FRAUD, k)
    weight = np.exp(lat.fraud_exposure[eligible].astype(np.float64))
    victims = np.sort(rng.choice(eligible, size=m, replace=False, p=weight / weight.sum()))
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
