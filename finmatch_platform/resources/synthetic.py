"""The simulated bank's source systems: what they generate and where they land it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
from pydantic import Field

from finmatch_platform.resources.deployment import FixedByDeployment
from finmatch_platform.simulator.generation import GenerationConfig
from finmatch_platform.simulator.generation.config import MAX_CUSTOMERS, MAX_DAILY_NEW_CUSTOMERS, MAX_SEED


class SyntheticSourceResource(FixedByDeployment, dg.ConfigurableResource):
    """Seeded generator settings and the landing directory it writes to.

    The sizes carry the generator's ranges as ``Field`` bounds, so a bad value fails when the
    resource is made, naming the field and its bound; the whole ``GenerationConfig`` (the start
    date included) is checked again when a run initialises the resource, before any file is written.
    """

    landing_dir: str = Field(description="Root of the landing zone (Parquet per entity and day).")
    start_date: str = Field(description="The bank's go-live day (YYYY-MM-DD): the opening book lands on it.")
    seed: int = Field(
        default=42, ge=0, le=MAX_SEED, description="Seed: the same seed and day give byte-identical files."
    )
    customers: int = Field(
        default=2_000, ge=1, le=MAX_CUSTOMERS, description="Customers in the opening book (1-5,000,000)."
    )
    daily_new_customers: int = Field(
        default=5, ge=0, le=MAX_DAILY_NEW_CUSTOMERS, description="Customers onboarded per later day (0-100,000)."
    )

    def generation_config(self) -> GenerationConfig:
        return GenerationConfig.from_mapping(
            {
                "seed": self.seed,
                "start_date": self.start_date,
                "customers": self.customers,
                "daily_new_customers": self.daily_new_customers,
            }
        )

    @property
    def landing_root(self) -> Path:
        return Path(self.landing_dir)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Fail at resource initialisation, before an asset writes anything.
        self.generation_config()

    @property
    def first_day(self) -> dt.date:
        return dt.date.fromisoformat(self.start_date)
