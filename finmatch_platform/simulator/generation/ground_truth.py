"""Ground truth for tests and for validating downstream analyses of the planted effects."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from . import reference as ref
from .active import clear_population_caches
from .activity import clear_day_caches
from .config import GenerationConfig
from .customer_latents import customer_ids
from .customer_state import status_at
from .customers import chunk_latents, opening_latents, population, population_of_blocks
from .fpr import fpr_batch
from .pools import build_pools


def customer_latents(config: GenerationConfig, day: dt.date) -> pa.Table:
    """The latent factors of every customer created on or before the day (standard normal scale).

    Columns: customer_id, financial_health, engagement, travel_affinity, fraud_exposure,
    satisfaction (1-10, before per-record noise), status (as of the day).
    """
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    lat = population(config, k)
    lat = lat.take(np.nonzero(lat.created_epoch <= epoch)[0])
    return pa.table(
        {
            "customer_id": customer_ids(lat.ids),
            "financial_health": pa.array(lat.health.astype(np.float64)),
            "engagement": pa.array(lat.engagement.astype(np.float64)),
            "travel_affinity": pa.array(lat.travel.astype(np.float64)),
            "fraud_exposure": pa.array(lat.fraud_exposure.astype(np.float64)),
            "satisfaction": pa.array(lat.satisfaction.astype(np.float64)),
            "status": pa.array([ref.STATUSES[s] for s in status_at(lat, epoch)], pa.string()),
        }
    )


def clear_caches() -> None:
    """Drop every cached block, batch and pool (benchmarks measure cold generation)."""
    for cached in (opening_latents, chunk_latents, population_of_blocks, fpr_batch, build_pools):
        cached.cache_clear()
    clear_day_caches()
    clear_population_caches()
