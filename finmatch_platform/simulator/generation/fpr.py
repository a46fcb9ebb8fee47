"""The FPR product-recommendation feed: daily batches and their lifecycles, as a change log.

A batch of recommendations is created each day (the opening batch on the go-live). Everything a
record will ever do is drawn when it is created: whether and when it is viewed, its outcome
(Accepted / Rejected / Expired) and day, and a rare deletion. The file of day D therefore needs
only the batches of D-FPR_HORIZON_DAYS..D, never the days before: it holds every version whose
updated_at falls on D (new records, status changes, tombstones).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finmatch_platform.landing_zone.schemas import FPR_RECORDS

from . import reference as ref
from .activity import organic_transactions
from .config import MAX_RECORD_ID, ConfigError, GenerationConfig
from .customer_latents import Latents, customer_ids
from .customer_state import status_at
from .customers import population, render_customers
from .dates import NEVER, age_years, dates, timestamps
from .rng import STREAM_FPR, generator, normal_cdf, sigmoid
from .strings import fixed_width, ints, join, take

# A record reaches a final status within this many days of its creation (Expired on the last).
FPR_HORIZON_DAYS = 14
# customer_transaction_value/count and transaction_history cover the 30 days before creation.
WINDOW_DAYS = 30
MAX_VIEW_DELAY_DAYS = 4
CHURN_AT_RISK = 0.6
_PRODUCT_IDS = pa.array([ref.product_id(i) for i in range(len(ref.PRODUCTS))], pa.string())
_PRODUCT_NAMES = pa.array([p.name for p in ref.PRODUCTS], pa.string())
_PRODUCT_TYPES = pa.array([p.product_type for p in ref.PRODUCTS], pa.string())
_PRODUCT_TERMS = pa.array([p.terms for p in ref.PRODUCTS], pa.string())
_SPENDS_ON = pa.array([f"Based on your {r} spends: " for r in ref.REASONS] + [""], pa.string())
_PITCH = {
    ref.PT_CARD: ("Pre-approved ", " with welcome benefits"),
    ref.PT_LOAN: ("Instant in-principle approval on the ", " at a preferential rate"),
    ref.PT_INSURANCE: ("Protect what matters with ", ", cover in minutes"),
    ref.PT_DEPOSIT: ("Grow your savings with the ", " at a special rate"),
    ref.PT_INVESTMENT: ("Start investing with the ", " from INR 500 a month"),
}
_PITCH_HEAD = pa.array([_PITCH[int(t)][0] for t in ref.PRODUCT_TYPE], pa.string())
_PITCH_TAIL = pa.array([_PITCH[int(t)][1] for t in ref.PRODUCT_TYPE], pa.string())


def record_numbers(config: GenerationConfig, day_index: int) -> tuple[int, int]:
    """[first, last) record numbers of the batch created on a day (closed form: no state)."""
    if day_index == 0:
        first, end = 1, config.fpr_opening_recommendations + 1
    else:
        first = config.fpr_opening_recommendations + (day_index - 1) * config.fpr_recommendations_per_day + 1
        end = first + config.fpr_recommendations_per_day
    if end - 1 > MAX_RECORD_ID:
        raise ConfigError(
            f"fpr_recommendations_per_day={config.fpr_recommendations_per_day} exhausts the record id "
            f"space (FPR + 10 digits) {day_index} days after start_date"
        )
    return first, end


@dataclass(frozen=True)
class Batch:
    """One day's recommendations: the static columns and the drawn lifecycle of each record."""

    static: pa.Table  # FPR_RECORDS columns that never change after creation
    created_epoch: int
    created_sec: np.ndarray
    view_epoch: np.ndarray  # NEVER: not viewed
    view_sec: np.ndarray
    final_epoch: np.ndarray  # day of Accepted / Rejected / Expired
    final_status: np.ndarray
    final_sec: np.ndarray
    delete_epoch: np.ndarray  # NEVER: not deleted; no event on or after it
    delete_sec: np.ndarray
    sales_amount: np.ndarray


_STATIC_COLUMNS = [
    name
    for name in FPR_RECORDS.names
    if name
    not in ("product_recommendation_status", "product_sales_amount", "product_sales_date", "updated_at", "_deleted")
]


def _product_weights(lat: Latents, age: np.ndarray) -> np.ndarray:
    """Propensity of each customer towards each product: who would a bank pitch what to."""
    n = len(lat)
    w = np.zeros((n, len(ref.PRODUCTS)))
    aff = lat.affluence.astype(np.float64)
    travel = lat.travel.astype(np.float64)
    student = lat.occupation == ref.STUDENT
    w[:, ref.CARD_CLASSIC] = 1.0
    w[:, ref.CARD_REWARDS] = 0.6 + 0.4 * aff
    w[:, ref.CARD_TRAVEL] = 0.6 * np.exp(1.0 * travel)
    w[:, ref.CARD_FUEL] = 0.5
    w[:, ref.CARD_PLATINUM] = np.where(aff >= 2, 1.2, 0.05)
    w[:, ref.CARD_CAMPUS] = np.where(student, 2.0, 0.0)
    w[:, ref.LOAN_PERSONAL] = 0.8
    w[:, ref.LOAN_HOME] = np.where((age >= 27) & (age < 55), 0.5 + 0.3 * aff, 0.05)
    w[:, ref.LOAN_AUTO] = np.where((age >= 23) & (age < 60), 0.5, 0.1)
    w[:, ref.LOAN_EDUCATION] = np.where(age < 30, 0.6 + 1.5 * student, 0.0)
    w[:, ref.LOAN_GOLD] = 0.25
    w[:, ref.INS_TERM] = np.where((age >= 25) & (age < 55), 0.6, 0.1)
    w[:, ref.INS_HEALTH] = np.where(age >= 45, 0.9, 0.5)
    w[:, ref.INS_MOTOR] = 0.3
    w[:, ref.INS_TRAVEL] = 0.2 * np.exp(0.8 * travel)
    w[:, ref.FD_1Y] = 0.4 + 0.1 * aff
    w[:, ref.FD_3Y] = 0.3 + 0.1 * aff
    w[:, ref.FD_SENIOR] = np.where(age >= 60, 1.5, 0.0)
    w[:, ref.RD] = np.where(age < 35, 0.6, 0.2)
    w[:, ref.FD_TAX] = np.where(lat.occupation == ref.SALARIED, 0.5, 0.15)
    w[:, ref.MF_EQUITY] = np.where(age < 55, 0.3 + 0.2 * aff, 0.1)
    w[:, ref.MF_DEBT] = 0.2 + 0.1 * aff
    w[:, ref.MF_ELSS] = np.where(lat.occupation == ref.SALARIED, 0.4, 0.1)
    w[:, ref.MF_INDEX] = np.where(age < 40, 0.4, 0.15)
    w[:, ref.SGB] = 0.15 + 0.1 * aff
    # Never pitch a product the customer already holds.
    rows = np.arange(n)
    held_card = lat.card_product >= 0
    w[rows[held_card], lat.card_product[held_card]] = 0.0
    held_other = lat.other_product >= 0
    w[rows[held_other], lat.other_product[held_other]] = 0.0
    return w


def _window_activity(config: GenerationConfig, lat: Latents, created_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: transaction counts per reason and total spend over the window before creation.

    Recomputed from the keyed transaction generator, so it equals the landed organic transactions
    (fraud-burst payments excluded) on the days at or after the go-live; days before the go-live
    are the bank's pre-go-live history, generated by the same model but not landed.
    """
    counts = np.zeros((len(lat), len(ref.REASONS)), dtype=np.int64)
    spend = np.zeros(len(lat))
    for epoch in range(created_epoch - WINDOW_DAYS, created_epoch):
        draw = organic_transactions(config, lat, epoch)
        np.add.at(counts, (draw.rows, draw.reason), 1)
        spend += np.bincount(draw.rows, weights=draw.amount, minlength=len(lat))
    return counts, np.round(spend, 2)


def _history_strings(counts: np.ndarray) -> pa.Array:
    # Arrow's binary_join with null_handling="skip" drops all-null rows (pyarrow 26), so each piece
    # is "Reason:n;" or "" and the trailing ";" is trimmed.
    pieces = [
        pc.if_else(pa.array(counts[:, r] > 0), join(f"{reason}:", ints(counts[:, r]), ";"), "")
        for r, reason in enumerate(ref.REASONS)
    ]
    return pc.utf8_rtrim(join(*pieces), characters=";")


def _interests(lat: Latents, age: np.ndarray, u: np.ndarray) -> pa.Array:
    flags = [
        lat.travel > 0.5,
        lat.engagement > 0.3,
        (age < 40) & (u[0] < 0.6),
        lat.affluence >= 2,
        (age < 25) | (lat.occupation == ref.STUDENT),
        age >= 50,
        (age < 35) & (u[1] < 0.5),
        (lat.card_product == ref.CARD_FUEL) | (u[2] < 0.15),
    ]
    pieces = [pc.if_else(pa.array(flag), f"{name},", "") for flag, name in zip(flags, ref.INTERESTS, strict=True)]
    joined = pc.utf8_rtrim(join(*pieces), characters=",")
    return pc.if_else(pc.equal(joined, ""), "Banking", joined)


def _decimal_text(share: np.ndarray) -> pa.Array:
    """A share in [0, 1] as 4-decimal text ("0.4231"): the vendor documents customer_product_usage as
    a string, so the feed serves text and staging casts it back to a number."""
    ten_thousandths = np.clip(np.round(share * 10_000), 0, 10_000).astype(np.int64)
    return pc.if_else(
        pa.array(ten_thousandths == 10_000), "1.0000", fixed_width("0.", np.minimum(ten_thousandths, 9_999), 4)
    )


def _trend(score: np.ndarray) -> pa.Array:
    return take(ref.TRENDS, np.where(score > 0.5, 0, np.where(score < -0.5, 2, 1)))


@functools.lru_cache(maxsize=32)
def fpr_batch(config: GenerationConfig, day_index: int) -> Batch:
    """The recommendations created on a day and their whole drawn lifecycle."""
    first, end = record_numbers(config, day_index)
    n = end - first
    created = ref.epoch_day(config.start_date) + day_index
    rng = generator(config.seed, STREAM_FPR, day_index)
    pop = population(config, day_index)
    status = status_at(pop, created)
    adult = age_years(pop.dob_epoch, created) >= ref.ADULT_AGE
    eligible = np.nonzero((pop.created_epoch < created) & adult & (status != ref.DECEASED))[0]
    if n == 0 or eligible.size == 0:
        n = 0
        chosen = np.zeros(0, dtype=np.int64)
    else:
        weight = np.where(
            status[eligible] == ref.ACTIVE, np.exp(0.5 * pop.engagement[eligible].astype(np.float64)), 0.2
        )
        chosen = rng.choice(eligible, size=n, replace=True, p=weight / weight.sum())
    unique, inverse = np.unique(chosen, return_inverse=True)
    customers = pop.take(unique)
    lat = customers.take(inverse)
    age = (created - lat.dob_epoch) / 365.25
    dormant = status_at(lat, created) == ref.DORMANT

    # Product: drawn by propensity, then the acceptance model that plants effect (2).
    product = np.zeros(n, dtype=np.int64)
    if n:
        cdf = np.cumsum(_product_weights(lat, age), axis=1)
        product = np.minimum((cdf < (rng.random(n) * cdf[:, -1])[:, None]).sum(axis=1), len(ref.PRODUCTS) - 1)
    ptype = ref.PRODUCT_TYPE[product]
    is_card = ptype == ref.PT_CARD
    travel = lat.travel.astype(np.float64)
    health = lat.health.astype(np.float64)
    engagement = lat.engagement.astype(np.float64)
    affinity_logit = np.where(
        is_card, 0.9 * travel + 0.3 * engagement, 0.4 * health + 0.3 * engagement
    ) + 0.5 * rng.standard_normal(n)
    affinity = sigmoid(affinity_logit)
    accept_logit = (
        np.where(
            is_card,
            -2.3 + 1.5 * travel + 0.3 * health + 0.3 * engagement + 0.6 * ((product == ref.CARD_TRAVEL) & (travel > 0)),
            -1.7 + 0.4 * health + 0.3 * engagement + 1.0 * (affinity - 0.5),
        )
        - 1.0 * dormant
    )
    score = sigmoid(accept_logit + 0.6 * rng.standard_normal(n) + 1.0)
    holds_type = ((ptype == ref.PT_CARD) & (lat.card_product >= 0)) | (
        (lat.other_product >= 0) & (ptype == ref.PRODUCT_TYPE[np.maximum(lat.other_product, 0)])
    )
    usage = sigmoid(-1.0 + 2.0 * holds_type + 0.5 * engagement + 0.4 * rng.standard_normal(n))

    # Effect (1): satisfaction from engagement and financial health; churn falls as it rises.
    satisfaction = np.round(np.clip(lat.satisfaction + 0.3 * rng.standard_normal(n), 1.0, 10.0), 1)
    churn = sigmoid(2.4 - 0.6 * satisfaction - 0.3 * engagement + 0.8 * dormant + 0.3 * rng.standard_normal(n))

    # Lifecycle, drawn now: view, outcome, deletion.
    viewed = rng.random(n) < sigmoid(0.8 + 0.9 * engagement - 1.5 * dormant)
    view_delay = 1 + (rng.random(n) * MAX_VIEW_DELAY_DAYS).astype(np.int64)
    accepted = viewed & (rng.random(n) < sigmoid(accept_logit))
    rejected = viewed & ~accepted & (rng.random(n) < 0.7)
    decide_delay = view_delay + 1 + (rng.random(n) * (FPR_HORIZON_DAYS - 1 - view_delay)).astype(np.int64)
    final_status = np.where(accepted, ref.ST_ACCEPTED, np.where(rejected, ref.ST_REJECTED, ref.ST_EXPIRED))
    final_delay = np.where(accepted | rejected, decide_delay, FPR_HORIZON_DAYS)
    deleted = rng.random(n) < config.fpr_deletion_rate
    delete_delay = 1 + (rng.random(n) * FPR_HORIZON_DAYS).astype(np.int64)
    secs = (rng.random((3, n)) * 86_399).astype(np.int64)  # times of the view, outcome and deletion
    created_sec = (7 * 3600 + rng.random(n) * 15 * 3600).astype(np.int64)
    sales_u = rng.random(n)

    pmin, pmax = ref.PRODUCT_MIN[product], ref.PRODUCT_MAX[product]
    q = normal_cdf(0.8 * health + 0.3 * lat.affluence) * (0.5 + 0.5 * sales_u)
    sales = np.select(
        [ptype == ref.PT_CARD, ptype == ref.PT_LOAN, ptype == ref.PT_INSURANCE],
        [
            np.round(pmin + (pmax - pmin) * q, -3),
            np.round(pmin + (pmax - pmin) * q**3, -3),
            np.round(ref.PRODUCT_FEE[product] * (0.7 + 0.9 * sales_u), 2),
        ],
        np.round(np.clip(lat.savings_balance * (0.1 + 0.4 * sales_u), pmin, pmax), 2),
    )

    # Customer snapshot and activity as the vendor saw them on the creation day.
    kyc = render_customers(
        config, customers, np.full(len(customers), created), np.zeros(len(customers), dtype=np.int64)
    )
    kyc = kyc.take(pa.array(inverse))
    counts, spend = _window_activity(config, customers, created)
    counts, spend = counts[inverse], spend[inverse]
    top_reason = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), len(ref.REASONS))
    tenure = created - lat.created_epoch
    became_dormant = np.where(
        (lat.status_event_epoch <= created) & (lat.status_after == ref.DORMANT),
        lat.status_event_epoch,
        lat.status0_epoch,
    )
    stage = np.select(
        [dormant, churn > CHURN_AT_RISK, tenure < 90, tenure < 730],
        [ref.STAGE_DORMANT, ref.STAGE_AT_RISK, ref.STAGE_NEW, ref.STAGE_GROWING],
        ref.STAGE_MATURE,
    )
    at_risk_since = np.maximum(created - 1 - (rng.random(n) * 60).astype(np.int64), lat.created_epoch)
    transition = np.select(
        [stage == ref.STAGE_DORMANT, stage == ref.STAGE_AT_RISK, stage == ref.STAGE_NEW, stage == ref.STAGE_GROWING],
        [became_dormant, at_risk_since, lat.created_epoch, lat.created_epoch + 90],
        lat.created_epoch + 730,
    )
    product_idx = pa.array(product.astype(np.int32))
    columns = {
        "record_id": fixed_width("FPR", np.arange(first, end), 10),
        "customer_id": customer_ids(lat.ids),
        "customer_name": join(
            kyc.column("first_name").combine_chunks(), kyc.column("last_name").combine_chunks(), sep=" "
        ),
        "customer_email": kyc.column("email").combine_chunks(),
        "customer_segment": kyc.column("segment").combine_chunks(),
        "customer_lifecycle_stage": take(ref.LIFECYCLE_STAGES, stage),
        "customer_lifecycle_stage_transition_date": dates(transition),
        # Every customer has exactly one savings or current account.
        "account_balance": pa.array(lat.savings_balance.astype(np.float64)),
        "transaction_history": _history_strings(counts),
        "customer_transaction_value": pa.array(spend),
        "customer_transaction_count": pa.array(counts.sum(axis=1).astype(np.int32)),
        "product_id": _PRODUCT_IDS.take(product_idx),
        "product_name": _PRODUCT_NAMES.take(product_idx),
        "product_type": _PRODUCT_TYPES.take(product_idx),
        "product_terms": _PRODUCT_TERMS.take(product_idx),
        "product_recommendation": join(
            _SPENDS_ON.take(pa.array(top_reason.astype(np.int32))),
            _PITCH_HEAD.take(product_idx),
            _PRODUCT_NAMES.take(product_idx),
            _PITCH_TAIL.take(product_idx),
        ),
        "product_recommendation_date": dates(np.full(n, created)),
        "recommendation_score": pa.array(np.round(score, 4)),
        "customer_product_usage": _decimal_text(usage),
        "customer_product_affinity": pa.array(np.round(affinity, 4)),
        "customer_product_affinity_trend": _trend(affinity_logit),
        "customer_product_usage_trend": _trend(0.8 * engagement + 0.6 * rng.standard_normal(n)),
        "customer_product_interests": _interests(lat, age, rng.random((3, n))),
        "customer_satisfaction_score": pa.array(satisfaction),
        "customer_churn_probability": pa.array(np.round(churn, 4)),
    }
    static = pa.Table.from_arrays(
        [columns[name] for name in _STATIC_COLUMNS], schema=pa.schema([FPR_RECORDS.field(c) for c in _STATIC_COLUMNS])
    )
    view_epoch = np.where(viewed, created + view_delay, NEVER).astype(np.int64)
    delete_epoch = np.where(deleted, created + delete_delay, NEVER).astype(np.int64)
    return Batch(
        static=static,
        created_epoch=created,
        created_sec=created_sec,
        view_epoch=view_epoch,
        view_sec=secs[0],
        final_epoch=(created + final_delay).astype(np.int64),
        final_status=final_status.astype(np.int8),
        final_sec=secs[1],
        delete_epoch=delete_epoch,
        delete_sec=secs[2],
        sales_amount=sales,
    )


def _versions(
    batch: Batch, rows: np.ndarray, status: int | np.ndarray, epoch: int, seconds: np.ndarray, sales: bool
) -> pa.Table:
    n = rows.size
    status_codes = np.broadcast_to(np.asarray(status), (n,))
    accepted = status_codes == ref.ST_ACCEPTED if sales else np.zeros(n, dtype=bool)
    static = batch.static.take(pa.array(rows))
    extra = {
        "product_recommendation_status": take(ref.FPR_STATUSES, status_codes),
        "product_sales_amount": pa.array(batch.sales_amount[rows], pa.float64(), mask=~accepted),
        "product_sales_date": dates(np.full(n, epoch), ~accepted),
        "updated_at": timestamps(np.full(n, epoch), seconds),
        "_deleted": pa.array(np.zeros(n, dtype=bool)),
    }
    arrays = [static.column(name) if name in _STATIC_COLUMNS else extra[name] for name in FPR_RECORDS.names]
    return pa.Table.from_arrays(
        [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays], schema=FPR_RECORDS
    )


def _tombstones(batch: Batch, rows: np.ndarray, epoch: int) -> pa.Table:
    n = rows.size
    arrays = []
    for field in FPR_RECORDS:
        if field.name == "record_id":
            arrays.append(batch.static.column("record_id").take(pa.array(rows)).combine_chunks())
        elif field.name == "updated_at":
            arrays.append(timestamps(np.full(n, epoch), batch.delete_sec[rows]))
        elif field.name == "_deleted":
            arrays.append(pa.array(np.ones(n, dtype=bool)))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=FPR_RECORDS)


def fpr_records_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    """Every FPR version whose updated_at falls on the day, in change order (updated_at, record_id)."""
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    parts: list[pa.Table] = []
    for c in range(max(0, k - FPR_HORIZON_DAYS), k + 1):
        batch = fpr_batch(config, c)
        alive = epoch < batch.delete_epoch
        if c == k:
            rows = np.arange(batch.static.num_rows)
            parts.append(_versions(batch, rows, ref.ST_RECOMMENDED, epoch, batch.created_sec, sales=False))
        rows = np.nonzero((batch.view_epoch == epoch) & alive)[0]
        parts.append(_versions(batch, rows, ref.ST_VIEWED, epoch, batch.view_sec[rows], sales=False))
        rows = np.nonzero((batch.final_epoch == epoch) & alive)[0]
        parts.append(_versions(batch, rows, batch.final_status[rows], epoch, batch.final_sec[rows], sales=True))
        parts.append(_tombstones(batch, np.nonzero(batch.delete_epoch == epoch)[0], epoch))
    table = pa.concat_tables(parts).combine_chunks()
    order = pc.sort_indices(table, sort_keys=[("updated_at", "ascending"), ("record_id", "ascending")])
    return table.take(order)
