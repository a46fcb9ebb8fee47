"""A customer as numbers (:class:`Latents`), the constants its codes refer to, and id arithmetic."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .config import MAX_CUSTOMER_ID, ConfigError, GenerationConfig
from .strings import fixed_width

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


def device_ids(bits: np.ndarray) -> pa.Array:
    """Opaque device ids "D" + 12 digits derived from (customer, device number)."""
    return fixed_width("D", (bits >> np.uint64(16)).astype(np.int64) % 10**12, 12)
