"""Test helpers."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from finmatch_platform.resources.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR, WAREHOUSE_PATH_ENV
from finmatch_platform.simulator.generation import (
    GenerationConfig,
    days_between,
    write_day,
)
from finmatch_platform_tests.helpers.in_process import load_landed_warehouse

START = dt.date(2026, 10, 1)


DAYS = 10


# Big enough for the planted effects to stand out of the noise, small enough for seconds. The FPR
# batches are raised from the defaults because recommendations take days to be decided: ten
# default days hold about 60 decided card offers, too few to measure an acceptance rate on.
CONFIG = GenerationConfig(
    seed=7,
    start_date=START,
    customers=2000,
    daily_new_customers=5,
    fpr_opening_recommendations=3000,
    fpr_recommendations_per_day=200,
)


MASKING_TEST_KEY = "dbt-marts-test-masking-key-5f1c"


@dataclass(frozen=True)
class SeededWarehouse:
    config: GenerationConfig
    days: list[dt.date]
    landing: Path
    path: Path


def build_seeded_warehouse(root: Path, config: GenerationConfig = CONFIG, days: int = DAYS) -> SeededWarehouse:
    """Generate ``days`` days, land them, and load raw.*, raw.fpr_records and masked.* with the
    platform's own libraries (what the ingestion, extraction and masking assets run)."""
    landing, path = root / "landing", root / "warehouse.duckdb"
    window = days_between(config.start_date, config.start_date + dt.timedelta(days=days - 1))
    for day in window:
        write_day(config, landing, day)
    with duckdb.connect(str(path)) as conn:
        load_landed_warehouse(conn, landing, window, path.parent / "checkpoints", MASKING_TEST_KEY)
    return SeededWarehouse(config, window, landing, path)


def run_dbt(warehouse: Path, target: Path, *args: str) -> dict:
    """``dbt <args>`` as a user runs it from the repository root; returns run_results.json."""
    env = {**os.environ, WAREHOUSE_PATH_ENV: str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(
        [
            DBT_EXECUTABLE,
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target),
            "--log-path",
            str(target),
        ],
        cwd=DBT_PROJECT_DIR.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if completed.returncode != 0:
        problems = [
            line for line in completed.stdout.splitlines() if any(w in line for w in ("ERROR", "FAIL", "Error"))
        ]
        pytest.fail("dbt " + " ".join(args) + " failed:\n" + "\n".join(problems[:40]) + completed.stderr[-2000:])
    return json.loads((target / "run_results.json").read_text())
