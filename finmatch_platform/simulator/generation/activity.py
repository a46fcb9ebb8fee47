"""A day's activity: transactions and logins, with the planted fraud bursts (:mod:`.fraud`) appended.

Organic transactions are keyed by (customer, day): the same customer-day gives the same
transactions whoever else is generated, so the FPR feed can recompute a customer's last 30 days
exactly. A customer spends the whole day in one place (home, or one city when travelling) and
organic activity happens between 06:00 and 23:00, so two organic card payments are never in
distant cities within an hour: impossible travel comes only from the planted fraud bursts.

Customers are drawn in cache-sized slices, in customer order, into packed records; the records
are put in time order with one gather; ids and timestamps are written straight into Arrow
buffers. The hot categorical draws compare 24-bit integers with exact integer thresholds
(:mod:`.active`). Every shortcut gives the same values as the plain NumPy formula, bit for bit
(the tests check them against it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from finmatch_platform.landing_zone.schemas import LOGIN_ACTIVITY, TRANSACTIONS, TS

from . import reference as ref
from .active import (
    MASK_SLICE,
    PerCustomer,
    active_on,
    by_flag,
    concatenate,
    day_customers,
    high24,
    location,
    low24,
    per_customer,
    slices,
    spend_k_of,
    unit24,
)
from .config import MAX_CUSTOMER_ID, GenerationConfig
from .customer_latents import SLOT_CARD, SLOT_SAVINGS, Latents, customer_ids, device_ids
from .customer_render import CITY_NAMES
from .customers import population
from .dates import MICROS_PER_DAY, MICROS_PER_SECOND, yyyymmdd
from .fraud import Burst, day_bursts
from .pools import build_pools
from .rng import (
    STREAM_DEVICE,
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
_MODE_CDF = np.cumsum(
    (ref.MODE_BY_AGE_GROUP[:, None, :] * ref.MODE_TILT_BY_REASON[None, :, :]).reshape(-1, len(ref.MODES)), axis=1
)
_DEVICE_CDF = np.cumsum(ref.DEVICE_TYPE_WEIGHTS)

# --- exact shortcuts for the hot draws (see active.py) --------------------------------------------
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
    16-bit keys) instead of a comparison sort, much faster on a day of transactions. One pass when
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


def clear_day_caches() -> None:
    """Drop what is cached per day (who is active, the fraud bursts), keeping the customer blocks."""
    day_customers.cache_clear()
    day_bursts.cache_clear()


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
    travel *= by_flag(_TRAVEL_FACTOR_BY_MINOR, minor)
    student_young = 2 * (lat.occupation[rows] == ref.STUDENT).view(np.uint8) + (age < 25).view(np.uint8)
    exam = _EXAM_BY_STUDENT_YOUNG[student_young.astype(np.intp)]
    fuel = by_flag(_FUEL_BY_MINOR, minor)
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
    threshold = spend_k_of(config, lat.spend_rate[active]) if spend_k is None else spend_k[active]
    idx = np.nonzero(k > threshold)[0]  # count >= 1: u above P(0)
    lam = np.float32(config.transactions_per_customer_day) * lat.spend_rate[active[idx]]
    u = unit24(k[idx])
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
    config: GenerationConfig, lat: Latents, active: np.ndarray, epoch: int, per: PerCustomer | None = None
) -> TransactionDraw:
    """The day's transactions of the customers at ``active``, in customer order (so every read of
    the customer arrays is sequential). Keyed by (day, customer): any subset of customers gives
    the same transactions for each. ``per``: the population's PerCustomer, when lat is one."""
    base = keyed_bits(config.seed, STREAM_TRANSACTIONS, epoch, lat.ids[active])
    spenders, counts = _transacting(config, lat, active, high24(base), per and per.spend_k)
    customers = active[spenders]
    # np.repeat is slow per element: repeat the spender index once and gather everything by it.
    spender = np.repeat(np.arange(counts.size), counts)  # of each transaction
    rows = customers[spender]  # the customer of each transaction
    j = np.arange(1, rows.size + 1) - (np.cumsum(counts) - counts)[spender]  # 1, 2, .. per customer
    bits = derive(base[spenders][spender], j)
    # Eight 24-bit uniforms from four mixes: (reason, mode), (z1, z2), (card, merchant), (hour, second).
    b_reason, b_normal, b_card, b_clock = (derive(bits, f) for f in (1, 2, 3, 4))
    age = (epoch - lat.dob_epoch[rows]).astype(np.float32) / np.float32(365.25)
    reason = _reasons(lat, rows, age, unit24(high24(b_reason)))
    r = reason.astype(np.intp)
    z = normal_from_uniform(unit24(high24(b_normal)), unit24(low24(b_normal)))
    amount = _MEDIAN_BY_REASON_AFFLUENCE[r * len(ref.AFFLUENCE_SPEND) + lat.affluence[rows]]
    amount *= np.exp(0.15 * lat.health[rows] + ref.REASON_SIGMA[r] * z)
    amount *= by_flag(_SPEND_FACTOR_BY_MINOR, age < ref.ADULT_AGE)
    np.round(amount, 2, out=amount)
    np.maximum(amount, 10.0, out=amount)
    table = ((age >= 30).view(np.uint8) + (age >= 60).view(np.uint8)).astype(np.intp) * len(ref.REASONS) + r
    k_mode = low24(b_reason)
    mode = (k_mode >= _MODE_K[0][table]).view(np.int8)
    for thresholds in _MODE_K[1:]:
        mode += (k_mode >= thresholds[table]).view(np.int8)
    on_card = (mode == ref.MODE_CARD) & (lat.card_product[rows] >= 0) & (high24(b_card) < _CARD_ON_CREDIT_K)
    seconds = (_FIRST_HOUR + _HOUR_STEPS.of24(high24(b_clock))) * 3600
    seconds += (low24(b_clock).astype(np.float32) * _SECONDS_PER_K).astype(np.intp)
    return TransactionDraw(
        rows=rows,
        reason=reason,
        amount=amount,
        mode=mode,
        slot=on_card.view(np.int8),
        merchant=build_pools(config.seed).merchants.pick(r, unit24(low24(b_card))),
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
    pieces = slices(active.size, DRAW_SLICE)
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
    active = day_customers(config, day).active
    per = per_customer(config, day)
    parallel = active.size > PARALLEL_MIN_CUSTOMERS and WORKERS > 1

    def task(piece: slice | None) -> np.ndarray | tuple[Burst, ...]:
        if piece is None:
            return day_bursts(config, day)
        draw = _draw(config, lat, active[piece], epoch, per)
        return _records(draw, lat.ids[draw.rows])

    tasks = [None, *slices(active.size, DRAW_SLICE)]  # the fraud bursts overlap the draw
    fraud, *parts = parallel_map(task, tasks) if parallel else [task(t) for t in tasks]
    records = concatenate(parts, _RECORD)
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
    pieces = slices(n_organic, RENDER_SLICE)
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
    active = day_customers(config, day).active
    per = per_customer(config, day)
    rng = generator(config.seed, STREAM_LOGINS, k)
    # lam = login_rate * exp(0.6 * engagement - 0.18) * (0.5 for minors), in slices into Arrow's pool.
    lam = arrow_empty(active.size, np.float64)
    senior = arrow_empty(active.size, np.bool_)
    for piece in slices(active.size, MASK_SLICE):
        age = (epoch - lat.dob_epoch[active[piece]]) / 365.25
        np.multiply(per.login_rate[active[piece]], by_flag(_LOGIN_FACTOR_BY_MINOR, age < ref.ADULT_AGE), out=lam[piece])
        np.greater_equal(age, ref.SENIOR_AGE, out=senior[piece])
    count = rng.poisson(lam)
    loggers = np.nonzero(count > 0)[0]
    count = count[loggers]  # np.repeat drops the customers without a login: so can everything else
    rows = np.repeat(active[loggers], count)
    m = rows.size
    success = rng.random(m) < np.repeat(by_flag(_LOGIN_SUCCESS_BY_SENIOR, senior[loggers]), count)
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
    fraud = day_bursts(config, day)
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
