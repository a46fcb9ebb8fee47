"""Freshness checks on the marts: an analyst should see at a glance that a number is current.

The bank closes a day at midnight UTC; the schedule lands it at 00:15 and automation rebuilds the
marts within minutes. A mart not updated for 26 hours (a day plus slack) has missed a day, and
its check fails (severity WARN: the data is still correct, only late). The checks are evaluated
by their own sensor, on by default, and show in each mart's Checks tab.

Checks rather than the preview ``FreshnessPolicy``, which supersedes them: they need no instance
flag and appear with every other check on the asset. The mart keys come from the built dbt assets
(``DbtAssets.mart_keys``), so this module reads no manifest.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence

import dagster as dg

MART_MAX_AGE = dt.timedelta(hours=26)
FRESHNESS_SENSOR_INTERVAL_S = 600


def build_mart_freshness(
    mart_keys: Sequence[dg.AssetKey],
) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """One last-update check per mart, and the sensor that evaluates them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.SupersessionWarning)
        checks = list(dg.build_last_update_freshness_checks(assets=list(mart_keys), lower_bound_delta=MART_MAX_AGE))
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name="mart_freshness_checks",
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=FRESHNESS_SENSOR_INTERVAL_S,
        )
    return checks, sensor
