"""The vectorised synthetic bank: a pure function from (config, day) to that day's source tables.

Public API::

    GenerationConfig, ConfigError      settings with validated ranges
    generate_day(config, day)          {entity: pa.Table} exactly as in schemas.ENTITIES
    write_day(config, root, day)       generate_day + landing.write_partition for every entity
    generate_customers(config, n, first_id=1)
    days_between(start, end)           inclusive list of days
    fraud_bursts(config, day)          ground truth of the planted fraud bursts
    customer_latents(config, day)      ground truth of the latent factors behind the planted effects

No Dagster import here (see docs/SYNTHETIC_DATA.md for the data model and the planted effects).
"""

from __future__ import annotations

from .config import ConfigError, GenerationConfig, days_between
from .customers import generate_customers
from .day import generate_day, write_day
from .fraud import fraud_bursts
from .ground_truth import clear_caches, customer_latents

__all__ = [
    "ConfigError",
    "GenerationConfig",
    "clear_caches",
    "customer_latents",
    "days_between",
    "fraud_bursts",
    "generate_customers",
    "generate_day",
    "write_day",
]
