"""A customer's state as of a day, in closed form from the event days: status, address, mobile,
bureau checks and scores, and which customers change on a day."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference as ref
from .config import GenerationConfig
from .customer_draws import KeyedUniforms, draw_address, draw_city, draw_mobile
from .customer_latents import OFFICE_HOURS_S, OFFICE_OPEN_S, Latents
from .dates import NEVER
from .pools import build_pools
from .rng import STREAM_CREDIT, STREAM_UPDATES, keyed_bits, normal_from_uniform, to_unit, to_unit32_pair

CIBIL_LOW_SHARE = 0.03  # share of scores in 310-650
CIBIL_LOW = (310, 650)
CIBIL_HIGH = (651, 900)
CREDIT_NOISE_SD = 0.01  # per-check wobble, on the quantile scale
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
    u = KeyedUniforms(config, lat.ids[moved], _MOVE_KEY)
    other_city = u() < _MOVE_TO_OTHER_CITY
    new = draw_address(u, build_pools(config.seed), lat.country[moved], moved.size)
    fields = dict(zip(("city", "segment", "street", "house", "locality", "postcode_num"), new, strict=True))
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
        u = KeyedUniforms(config, lat.ids[who], _MOVE_KEY)
        other_city = u() < _MOVE_TO_OTHER_CITY  # the same draws, in the same order, as address_at
        new_city = draw_city(u(), lat.country[who])  # the first draw of draw_address: the city
        city[moved] = np.where(other_city, new_city, city[moved])
    return city


def mobile_at(config: GenerationConfig, lat: Latents, epoch: np.ndarray | int) -> np.ndarray:
    mobile = lat.mobile.copy()
    changed = np.nonzero(np.asarray(epoch) >= lat.mobile_event_epoch)[0]
    if changed.size:
        mobile[changed] = draw_mobile(KeyedUniforms(config, lat.ids[changed], _NEW_MOBILE_KEY), lat.country[changed])
    return mobile


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
