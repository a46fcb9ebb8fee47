"""The planted fraud bursts: failed logins from a new device far from home, then card payments
hopping between distant cities minutes apart (see docs/SYNTHETIC_DATA.md)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np

from . import reference as ref
from .active import day_customers, per_customer
from .config import GenerationConfig
from .customer_latents import SLOT_CARD, SLOT_SAVINGS, account_ids, customer_ids, device_ids
from .customer_state import home_city
from .customers import population
from .dates import SECONDS_PER_DAY, yyyymmdd
from .pools import build_pools
from .rng import STREAM_DEVICE, STREAM_FRAUD, generator, keyed_bits
from .strings import arrow_empty, fixed_width

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


@dataclass(frozen=True)
class Burst:
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
    return [{k: list(v) if isinstance(v, list) else v for k, v in b.truth.items()} for b in day_bursts(config, day)]


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
def day_bursts(config: GenerationConfig, day: dt.date) -> tuple[Burst, ...]:
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    if config.fraud_bursts_per_day == 0:
        return ()
    lat = population(config, k)
    eligible = day_customers(config, day).eligible  # adults onboarded before the day and Active on it
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
        bursts.append(Burst(truth, payments, logins))
    return tuple(bursts)


assert 21 * 3600 + FRAUD_PAYMENTS[1] * FRAUD_PAYMENT_GAP_S[1] < SECONDS_PER_DAY  # bursts end within the day
