"""The simulated bank's source systems: what they generate and where they land it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
from pydantic import Field

from finmatch_platform.simulator.generation import GenerationConfig


class SyntheticSourceResource(dg.ConfigurableResource):
    """Seeded generator settings and the landing directory it writes to.

    Values are validated by ``GenerationConfig`` so a bad setting fails before any file is
    written, with a message naming the field and its allowed range.
    """

    landing_dir: str = Field(description="Root of the landing zone (Parquet per entity and day).")
    start_date: str = Field(description="The bank's go-live day (YYYY-MM-DD): the opening book lands on it.")
    seed: int = Field(default=42, description="Seed: the same seed and day give byte-identical files.")
    customers: int = Field(default=2_000, description="Customers in the opening book (1-5,000,000).")
    daily_new_customers: int = Field(default=5, description="Customers onboarded per later day (>= 0).")

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
