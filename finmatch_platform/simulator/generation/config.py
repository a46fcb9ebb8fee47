"""Generator configuration: every knob, its allowed range, and the calendar helpers.

A ``GenerationConfig`` is frozen and hashable: it is part of the cache key of every cached block,
so two configs that differ in any field never share cached data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

# Largest opening book the id space and a 2-core laptop are sized for.
MAX_CUSTOMERS = 5_000_000
MAX_DAILY_NEW_CUSTOMERS = 100_000
# customer_id is "C" + 9 digits; account ids reserve one decimal digit per customer for the slot.
MAX_CUSTOMER_ID = 999_999_999
# record_id is "FPR" + 10 digits.
MAX_RECORD_ID = 9_999_999_999
MAX_SEED = 2**63 - 1


class ConfigError(ValueError):
    """A generator setting is outside its allowed values; the message names the field."""


@dataclass(frozen=True)
class _IntRange:
    low: int
    high: int


@dataclass(frozen=True)
class _FloatRange:
    low: float
    high: float


@dataclass(frozen=True)
class GenerationConfig:
    """Settings of the synthetic bank. Output is a pure function of (config, day).

    Rates are per day; "share" fields are fractions in [0, 1].
    """

    seed: int = 42
    # The bank's go-live: the opening book, the product catalogue and the first FPR batch land on it.
    start_date: dt.date = dt.date(2026, 10, 1)
    # Size of the opening book (customers created before start_date).
    customers: int = 2000
    # Customers onboarded on each later day (ids continue sequentially).
    daily_new_customers: int = 5
    # Mean card/UPI/... transactions per active customer and day (scaled by each customer's latent spend rate).
    transactions_per_customer_day: float = 0.4
    # Mean digital-banking logins per active customer and day.
    login_rate: float = 0.25
    # Expected share of existing customers with an attribute change (status, marital status,
    # address, mobile) per day; bureau refreshes come on top (credit_check_interval_days).
    customer_update_rate: float = 0.002
    # Mean days between two CIBIL checks of a customer (each customer has its own fixed cadence).
    credit_check_interval_days: int = 90
    # FPR recommendations created on the start day, and on each later day.
    fpr_opening_recommendations: int = 500
    fpr_recommendations_per_day: int = 40
    # Share of recommendations deleted (tombstoned) within their 14-day lifecycle.
    fpr_deletion_rate: float = 0.01
    # Planted fraud bursts (impossible travel after failed logins) per day.
    fraud_bursts_per_day: int = 2
    # Share of customers whose KYC row carries one data-quality defect; 0 gives clean data.
    defect_rate: float = 0.002
    # PayScore screening groups: created on the start day, created and updated on each later day
    # (each update changes member_count and maybe status, settings or description), spread over
    # a handful of vendor organisations.
    screening_groups: int = 300
    screening_groups_per_day: int = 3
    screening_group_updates_per_day: int = 8
    screening_group_organizations: int = 6

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            _validate(field.name, value)
            if isinstance(_RANGES.get(field.name), _FloatRange):
                # Store 1 and 1.0 alike so equal configs hash (and cache) alike.
                object.__setattr__(self, field.name, float(value))  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> GenerationConfig:
        """Build a config from plain values (YAML, env, Dagster config).

        Unknown keys are rejected (a typo must not silently fall back to a default) and ISO date
        strings are accepted for ``start_date``.
        """
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in mapping if k not in allowed)
        if unknown:
            raise ConfigError(f"unknown generation setting(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        values = dict(mapping)
        if isinstance(values.get("start_date"), str):
            raw = values["start_date"]
            try:
                values["start_date"] = dt.date.fromisoformat(str(raw))
            except ValueError:
                raise ConfigError(f"start_date must be an ISO date (YYYY-MM-DD), got {raw!r}") from None
        return cls(**values)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def day_index(self, day: dt.date) -> int:
        """Days since the go-live (0 on start_date); a day before the go-live is a ConfigError."""
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise ConfigError(f"day must be a datetime.date, got {day!r}")
        if day < self.start_date:
            raise ConfigError(
                f"day must be on or after start_date {self.start_date.isoformat()}, got {day.isoformat()}"
            )
        return (day - self.start_date).days


_RANGES: dict[str, _IntRange | _FloatRange] = {
    "seed": _IntRange(0, MAX_SEED),
    "customers": _IntRange(1, MAX_CUSTOMERS),
    "daily_new_customers": _IntRange(0, MAX_DAILY_NEW_CUSTOMERS),
    "transactions_per_customer_day": _FloatRange(0.0, 20.0),
    "login_rate": _FloatRange(0.0, 10.0),
    "customer_update_rate": _FloatRange(0.0, 0.1),
    "credit_check_interval_days": _IntRange(30, 3650),
    "fpr_opening_recommendations": _IntRange(0, 10_000_000),
    "fpr_recommendations_per_day": _IntRange(0, 1_000_000),
    "fpr_deletion_rate": _FloatRange(0.0, 1.0),
    "fraud_bursts_per_day": _IntRange(0, 1000),
    "defect_rate": _FloatRange(0.0, 0.5),
    "screening_groups": _IntRange(0, 1_000_000),
    "screening_groups_per_day": _IntRange(0, 100_000),
    "screening_group_updates_per_day": _IntRange(0, 1_000_000),
    "screening_group_organizations": _IntRange(1, 1000),
}


def _validate(name: str, value: object) -> None:
    if name == "start_date":
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise ConfigError(f"start_date must be a datetime.date or an ISO date string, got {value!r}")
        return
    allowed = _RANGES[name]
    if isinstance(allowed, _IntRange):
        # bool is an int subclass: True must not pass as 1 customer.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer between {allowed.low} and {allowed.high}, got {value!r}")
        if not allowed.low <= value <= allowed.high:
            raise ConfigError(f"{name} must be between {allowed.low} and {allowed.high}, got {value}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number between {allowed.low} and {allowed.high}, got {value!r}")
    if not allowed.low <= float(value) <= allowed.high:  # also rejects NaN
        raise ConfigError(f"{name} must be between {allowed.low} and {allowed.high}, got {value}")


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both included."""
    if end < start:
        raise ConfigError(f"end must be on or after start: start={start.isoformat()}, end={end.isoformat()}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
