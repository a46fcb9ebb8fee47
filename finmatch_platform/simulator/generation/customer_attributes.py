"""Drawing a sub-block of customers: one function per group of attributes, in a fixed draw order.

Every group reads the sub-block's uniforms in turn, so the groups run in the order of
:func:`draw_sub_block` and a change to any group's draws changes every later group's values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import reference as ref
from .config import GenerationConfig
from .customer_draws import LookupTable, Uniforms, draw_address, draw_mobile
from .customer_latents import DEFECT_KINDS, OFFICE_HOURS_S, OFFICE_OPEN_S, Latents
from .dates import NEVER, age_years, shift_years
from .pools import Pools, build_pools
from .rng import STREAM_CUSTOMERS, choose, generator, normal_cdf, sigmoid

OPENING_MEAN_TENURE_DAYS = 1100
OPENING_MAX_TENURE_DAYS = 3650
CREDIT_TREND_SD = 0.015  # per-year drift of a customer's quantile
# Split of customer_update_rate across kinds of change (status, marital, address, mobile).
UPDATE_SHARES = {"status": 0.30, "marital": 0.15, "address": 0.30, "mobile": 0.25}


def _event_day(u: np.ndarray, base: np.ndarray, rate: np.ndarray | float) -> np.ndarray:
    """First day after ``base`` on which a daily-hazard event happens (exponential waiting time)."""
    wait = -np.log1p(-u)
    with np.errstate(divide="ignore", over="ignore"):
        days = np.floor(wait / np.float32(rate) if np.isscalar(rate) else wait / np.asarray(rate, dtype=np.float32))
    # float32 is exact to 2**24 days (45,000 years); anything later never happens.
    days = np.where(days < 2**24, days, np.inf)
    out = base + 1 + days
    return np.where(out < NEVER, out, NEVER).astype(np.int32)


# Age groups for the attribute tables: <18, 18-25, 25-30, 30-45, 45-60, 60+.
_AGE_GROUP_EDGES = (18, 25, 30, 45, 60)


def _bucket(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Index of the interval of sorted ``edges`` each value falls in (few edges: comparisons win)."""
    out = np.zeros(values.shape, dtype=np.int8)
    for edge in edges:
        out += values >= edge
    return out


_MARITAL_BY_AGE = LookupTable(
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
_OCCUPATION_BY_SEX_AGE = LookupTable(
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
_CHANNEL_BY_AGE = LookupTable(
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
_DEVICE_BY_AGE = LookupTable(
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
_PRIVILEGE_BY_AFFLUENCE = LookupTable(
    [[0.90, 0.10, 0.0, 0.0], [0.10, 0.60, 0.30, 0.0], [0.0, 0.10, 0.60, 0.30], [0.0, 0.0, 0.15, 0.85]]
)
# Mass / Mass Affluent / Affluent / HNI at the 55%, 85% and 97% quantiles of a standard normal score
# (compared on the normal scale: no CDF per row); risk Low / Medium / High at 60% and 90%.
_AFFLUENCE_Z_CUTS = (0.1257, 1.0364, 1.8808)
_RISK_Z_CUTS = (0.2533, 1.2816)
_SAVINGS_MEDIAN_BY_AFFLUENCE = np.array([12_000.0, 60_000.0, 250_000.0, 1_500_000.0])


@dataclass(frozen=True)
class _SubBlock:
    """What every attribute group of a sub-block reads: its uniforms, shared normals and snapshot days."""

    config: GenerationConfig
    u: Uniforms
    normals: list[np.ndarray]  # drawn first, each group reads its own
    pools: Pools
    n: int
    start: int  # the go-live, as an epoch day
    opening: bool  # the opening book (created before the go-live); else onboarded on as_of
    as_of: np.ndarray  # int32 snapshot day of each customer


@dataclass(frozen=True)
class _Person:
    """Who a customer is as of the snapshot: sex, age, latent factors and the age flags."""

    gender: np.ndarray  # int8
    age: np.ndarray  # years
    dob: np.ndarray  # int32 epoch day; _settle_senior_birthdays may move it back
    health: np.ndarray  # latent factors, standard normal
    engagement: np.ndarray
    travel: np.ndarray
    fraud_exposure: np.ndarray
    minor: np.ndarray
    senior: np.ndarray
    group: np.ndarray  # age group of the attribute tables (_AGE_GROUP_EDGES)


def draw_sub_block(
    config: GenerationConfig, ids: np.ndarray, created_epoch: np.ndarray | None, key: tuple[int, ...]
) -> Latents:
    """One seeded sub-block of customers; ``created_epoch`` None means the opening book."""
    n = ids.size
    u = Uniforms(generator(config.seed, STREAM_CUSTOMERS, *key), n)
    normals = u.normals(12)
    start = ref.epoch_day(config.start_date)
    opening = created_epoch is None
    as_of = np.full(n, start, dtype=np.int32) if opening else created_epoch.astype(np.int32)
    block = _SubBlock(config, u, normals, build_pools(config.seed), n, start, opening, as_of)

    who = _who(block)
    nr, where = _where(block, who)
    what = _what(block, who)
    wealth = _wealth(block, who, nr, what["occupation"])
    when = _when(block, who)
    _settle_senior_birthdays(who, when["first_version_epoch"])
    events = _life_events(block, who, what["marital"], when)
    names = _names(block, who)
    accounts = _accounts(block, who, what, wealth["affluence"], when)
    return Latents(
        ids=ids.astype(np.int64),
        gender=who.gender,
        dob_epoch=who.dob,
        health=who.health.astype(np.float32),
        engagement=who.engagement.astype(np.float32),
        travel=who.travel.astype(np.float32),
        fraud_exposure=who.fraud_exposure.astype(np.float32),
        **where,
        **what,
        **wealth,
        **when,
        **events,
        **names,
        **accounts,
    )


def _who(b: _SubBlock) -> _Person:
    """Gender, age band (as of the snapshot) and latent factors."""
    u = b.u
    gender = (u() < 0.48).astype(np.int8)
    band = choose(u(), np.cumsum([age_band[2] for age_band in ref.AGE_BANDS]))
    lo = np.array([age_band[0] for age_band in ref.AGE_BANDS])[band]
    hi = np.array([age_band[1] for age_band in ref.AGE_BANDS])[band]
    lo = np.where(band == 1, lo + 0.1, lo)  # adults at least a month past 18: they joined as adults
    age = lo + u() * (hi - lo)
    health = b.normals[0]
    return _Person(
        gender=gender,
        age=age,
        dob=(b.as_of - np.round(age * 365.2425)).astype(np.int32),
        health=health,
        engagement=0.3 * health + math.sqrt(1 - 0.09) * b.normals[1],
        travel=b.normals[2],
        fraud_exposure=b.normals[3],
        minor=band == 0,
        senior=band == 4,
        group=_bucket(age, _AGE_GROUP_EDGES),
    )


def _where(b: _SubBlock, who: _Person) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(Non Resident flag, country, nationality, address and mobile): Non Residents are adults living abroad."""
    u = b.u
    nr = (~who.minor) & (u() < ref.NON_RESIDENT_SHARE)
    country = np.where(nr, choose(u(), np.cumsum(ref.NON_RESIDENT_COUNTRY_WEIGHTS)), ref.INDIA).astype(np.int8)
    nationality = np.where((country >= ref.UK) & (u() < ref.FOREIGN_NATIONALITY_SHARE), country, ref.INDIA).astype(
        np.int8
    )
    city, segment, street, house, locality, postcode_num = draw_address(u, b.pools, country, b.n)
    return nr, {
        "country": country,
        "nationality": nationality,
        "city": city,
        "segment": segment,
        "street": street,
        "house": house,
        "locality": locality,
        "postcode_num": postcode_num,
        "mobile": draw_mobile(u, country),
    }


def _what(b: _SubBlock, who: _Person) -> dict[str, np.ndarray]:
    """Marital status, occupation, customer type, channel and device by age group (minors fixed)."""
    u = b.u
    marital = _MARITAL_BY_AGE.draw(u(), who.group)
    occupation = _OCCUPATION_BY_SEX_AGE.draw(u(), who.group + 6 * who.gender)
    uc = u()
    customer_type = np.where(occupation == ref.BUSINESS, np.where(uc < 0.4, 2, np.where(uc < 0.55, 1, 0)), 0).astype(
        np.int8
    )
    return {
        "marital": marital,
        "occupation": occupation,
        "customer_type": customer_type,
        "channel": _CHANNEL_BY_AGE.draw(u(), who.group),
        "device_type": _DEVICE_BY_AGE.draw(u(), who.group),
    }


def _wealth(b: _SubBlock, who: _Person, nr: np.ndarray, occupation: np.ndarray) -> dict[str, np.ndarray]:
    """Affluence from health, working age, occupation and NR status; privilege follows; risk,
    satisfaction and spend rate from the latent factors."""
    health, engagement, age, minor = who.health, who.engagement, who.age, who.minor
    wealth = (
        health
        + 0.4 * np.isin(occupation, (ref.BUSINESS, ref.PROFESSIONAL))
        + 0.3 * ((age >= 30) & (age < 60))
        + 0.5 * nr
        - 0.8 * minor
        + 0.5 * b.normals[4]
    )
    affluence = _bucket((wealth - 0.15) / 1.2, _AFFLUENCE_Z_CUTS)
    privilege = _PRIVILEGE_BY_AFFLUENCE.draw(b.u(), affluence)
    risk = _bucket(-0.8 * health + 0.5 * nr + 0.5 * b.normals[5], _RISK_Z_CUTS)
    satisfaction = np.clip(6.3 + 1.4 * engagement + 0.5 * health + 0.6 * b.normals[6], 1.0, 10.0)
    spend_rate = np.exp(0.45 * engagement + 0.25 * health - 0.13) * np.where(
        minor, 0.35, np.where(who.senior, 0.7, 1.0)
    )
    return {
        "affluence": affluence,
        "privilege": privilege,
        "risk": risk,
        "satisfaction": satisfaction.astype(np.float32),
        "spend_rate": spend_rate.astype(np.float32),
    }


def _when(b: _SubBlock, who: _Person) -> dict[str, np.ndarray]:
    """Created day, status at the go-live, bureau cadence and quantile, and the first version's day."""
    u, start, n = b.u, b.start, b.n
    u_tenure = u()
    if b.opening:
        tenure = np.minimum(
            np.floor(-np.log1p(-u_tenure.astype(np.float64)) * OPENING_MEAN_TENURE_DAYS) + 1, OPENING_MAX_TENURE_DAYS
        )
        # 18 years never exceed 6575 days: a day more guarantees the customer joined as an adult.
        earliest = np.where(who.minor, who.dob + 30, who.dob + 6576)
        created = np.minimum(np.maximum(start - tenure, earliest), start - 1).astype(np.int32)
    else:
        created = b.as_of.copy()
    created_sec = (OFFICE_OPEN_S + u() * OFFICE_HOURS_S).astype(np.int32)
    credit_cadence = np.maximum(30, np.round(b.config.credit_check_interval_days * (0.6 + 0.8 * u()))).astype(np.int32)
    credit_u = normal_cdf(0.8 * who.health + 0.6 * b.normals[7]).astype(np.float64)
    credit_trend = CREDIT_TREND_SD * b.normals[8].astype(np.float64)

    status0 = np.full(n, ref.ACTIVE, dtype=np.int8)
    status0_epoch = created.copy()
    u_dead, u_dormant, u_when = u(), u(), u()
    if b.opening:
        dead = who.senior & (u_dead < 0.02 + 0.004 * np.maximum(who.age - 60, 0))
        dormant = (~dead) & (u_dormant < sigmoid(-2.6 - 1.2 * who.engagement))
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
    return {
        "created_epoch": created,
        "created_sec": created_sec,
        "first_version_epoch": first_version,
        "first_version_sec": first_version_sec,
        "status0": status0,
        "status0_epoch": status0_epoch,
        "credit_u": credit_u,
        "credit_trend": credit_trend,
        "credit_cadence": credit_cadence,
    }


def _settle_senior_birthdays(who: _Person, first_version: np.ndarray) -> None:
    """A senior at the go-live must already be one on an earlier first version: move the birthday back."""
    dob = who.dob
    rows = np.nonzero(who.senior)[0]
    rows = rows[age_years(dob[rows], first_version[rows]) < ref.SENIOR_AGE]
    dob[rows] = shift_years(first_version[rows], -ref.SENIOR_AGE)


def _life_events(b: _SubBlock, who: _Person, marital: np.ndarray, when: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Days of the life events after the snapshot; each kind happens at most once per customer."""
    u, rate = b.u, b.config.customer_update_rate
    status0, created = when["status0"], when["created_epoch"]
    base = np.maximum(when["first_version_epoch"], b.start if b.opening else created).astype(np.int32)
    status_after = np.where(status0 == ref.DORMANT, ref.ACTIVE, ref.DORMANT).astype(np.int8)
    status_after[who.senior & (u() < 0.15) & (status0 == ref.ACTIVE)] = ref.DECEASED
    status_hazard = (
        rate
        * UPDATE_SHARES["status"]
        * np.where(status0 == ref.DORMANT, np.exp(0.5 * who.engagement), np.exp(-1.0 * who.engagement))
    )
    status_event = _event_day(u(), base, status_hazard)
    # Marriages only happen to Single adults (a third of the book): scale so the overall share holds.
    marital_event = _event_day(u(), base, rate * UPDATE_SHARES["marital"] / 0.3)
    address_event = _event_day(u(), base, rate * UPDATE_SHARES["address"])
    mobile_event = _event_day(u(), base, rate * UPDATE_SHARES["mobile"])
    marital_event[marital != ref.SINGLE] = NEVER
    rows = np.nonzero(marital_event < NEVER)[0]
    marital_event[rows[age_years(who.dob[rows], marital_event[rows]) < ref.MARRIAGE_MIN_AGE]] = NEVER
    dead_at_start = status0 == ref.DECEASED
    status_event = np.where(dead_at_start, NEVER, status_event).astype(np.int32)
    death_day = np.where(status_after == ref.DECEASED, status_event, NEVER)
    for event in (marital_event, address_event, mobile_event):
        event[dead_at_start | (event > death_day)] = NEVER
    return {
        "status_event_epoch": status_event,
        "status_after": status_after,
        "marital_event_epoch": marital_event,
        "address_event_epoch": address_event,
        "mobile_event_epoch": mobile_event,
    }


def _names(b: _SubBlock, who: _Person) -> dict[str, np.ndarray]:
    """Names, email domain and the data-quality defect (if any) of the KYC row."""
    u, pools = b.u, b.pools
    first_name = np.where(
        who.gender == ref.MALE, u() * len(pools.first_male), len(pools.first_male) + u() * len(pools.first_female)
    ).astype(np.int32)
    middle_name = (u() * len(pools.first_male)).astype(np.int32)
    middle_name[u() >= 0.35] = -1
    last_name = (u() * pools.last_count).astype(np.int32)
    email_domain = choose(u(), pools.email_domain_cdf).astype(np.int16)
    defect = np.where(u() < b.config.defect_rate, 1 + (u() * len(DEFECT_KINDS)).astype(np.int8), 0).astype(np.int8)
    return {
        "first_name": first_name,
        "middle_name": middle_name,
        "last_name": last_name,
        "email_domain": email_domain,
        "defect": defect,
        "defect_aux": (u() * 2**24).astype(np.int32),
    }


def _accounts(
    b: _SubBlock, who: _Person, what: dict[str, np.ndarray], affluence: np.ndarray, when: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Savings/current always; a card and one more product by latent factors."""
    u, normals, n = b.u, b.normals, b.n
    health, minor, occupation = who.health, who.minor, what["occupation"]
    status0, status0_epoch, created = when["status0"], when["status0_epoch"], when["created_epoch"]
    adult = ~minor
    savings_type = np.where(what["customer_type"] == 0, ref.ACC_SAVINGS, ref.ACC_CURRENT).astype(np.int8)
    savings_balance = _SAVINGS_MEDIAN_BY_AFFLUENCE[affluence] * np.exp(0.3 * health + 0.9 * normals[9])
    savings_balance = np.where(minor, 5_000.0 * np.exp(0.8 * normals[9]), savings_balance)
    savings_balance = np.where(status0 == ref.DORMANT, savings_balance * 0.2, savings_balance)
    has_card = adult & (u() < sigmoid(-0.9 + 0.7 * health + 0.4 * who.engagement + 0.6 * who.travel + 0.4 * affluence))
    card = np.where(affluence >= 2, ref.CARD_REWARDS, ref.CARD_CLASSIC)
    card = np.where(u() < 0.15, ref.CARD_FUEL, card)
    card = np.where(occupation == ref.STUDENT, ref.CARD_CAMPUS, card)
    card = np.where(who.travel > 0.9, ref.CARD_TRAVEL, card)
    card = np.where(affluence == 3, ref.CARD_PLATINUM, card)
    card_product = np.where(has_card, card, -1).astype(np.int8)
    cp = np.maximum(card_product, 0)
    limit_q = sigmoid(1.702 * (health + 0.5 * normals[10]))  # logistic approximation of the normal CDF
    card_limit = np.round(ref.PRODUCT_MIN[cp] + (ref.PRODUCT_MAX[cp] - ref.PRODUCT_MIN[cp]) * limit_q, -3)
    card_balance = np.round(card_limit * u() * u(), 2)  # outstanding: mostly a small share of the limit
    other_product = _other_product(u, who.age, occupation, affluence, health, minor, n)
    op = np.maximum(other_product, 0)
    scale = sigmoid(1.702 * (0.7 * health + 0.6 * affluence - 0.8 + 0.5 * normals[11])) ** 2
    other_balance = np.round(ref.PRODUCT_MIN[op] + (ref.PRODUCT_MAX[op] - ref.PRODUCT_MIN[op]) * 0.3 * scale, 2)
    open_span = np.maximum(b.start - 1 - created, 0) if b.opening else np.zeros(n)
    card_open = (created + np.floor(u() * (open_span + 1))).astype(np.int32)
    other_open = (created + np.floor(u() * (open_span + 1))).astype(np.int32)
    # The deceased keep the accounts they had; nothing opens after death.
    dead_at_start = status0 == ref.DECEASED
    card_product = np.where(dead_at_start & (card_open > status0_epoch), -1, card_product).astype(np.int8)
    other_product = np.where(dead_at_start & (other_open > status0_epoch), -1, other_product).astype(np.int8)
    return {
        "savings_type": savings_type,
        "savings_balance": np.round(savings_balance, 2),
        "card_product": card_product,
        "card_limit": card_limit,
        "card_balance": card_balance,
        "card_open_epoch": card_open,
        "other_product": other_product,
        "other_balance": other_balance,
        "other_open_epoch": other_open,
    }


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
    u: Uniforms,
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
