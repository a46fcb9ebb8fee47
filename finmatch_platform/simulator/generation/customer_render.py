"""Rendering customers' numbers as landed rows: KYC versions, accounts and bureau checks."""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from finmatch_platform.landing_zone.schemas import ACCOUNTS, CREDIT_SCORES, CUSTOMERS

from . import reference as ref
from .config import GenerationConfig
from .customer_latents import (
    DEFECT_CIBIL_DATE,
    DEFECT_DIGIT,
    DEFECT_EMAIL,
    DEFECT_LONG_NAME,
    DEFECT_MOBILE,
    SLOT_CARD,
    SLOT_OTHER,
    SLOT_SAVINGS,
    Latents,
    account_ids,
    customer_ids,
)
from .customer_state import address_at, cibil_score, death_epoch, last_check_epoch, mobile_at, status_at
from .dates import age_years, dates, timestamps
from .pools import LONG_NAMES, build_pools
from .strings import constant, ints, join, take

# Bureau history landed with the opening book: every check of the 360 days up to the go-live (at
# most 12 at the shortest cadence, "12 monthly scores") and always the latest one.
CREDIT_HISTORY_DAYS = 360
PRODUCT_IDS = pa.array([ref.product_id(i) for i in range(len(ref.PRODUCTS))], pa.string())


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


def customer_rows(config: GenerationConfig, lat: Latents, e: np.ndarray, version_sec: np.ndarray) -> pa.Table:
    """KYC rows of the given customers as of each row's version day ``e`` (see customers.render_customers)."""
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
