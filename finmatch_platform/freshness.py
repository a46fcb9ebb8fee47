"""Freshness checks on the marts: an analyst should see at a glance that a number is current.

The bank closes a day at midnight UTC; the schedule lands it at 00:15 and automation rebuilds the
marts within minutes. A mart not updated for 26 hours (a day plus slack) has missed a day, and
its check fails (severity WARN: the data is still correct, only late). The checks are evaluated
by their own sensor, on by default, and show in each mart's Checks tab.

Dagster 1.12 superseded these checks by the preview FreshnessPolicy; checks are kept because
they need no instance flag and appear with every other check on the asset.
"""

import datetime as dt
import warnings

import dagster as dg

from finmatch_platform.assets.dbt import MARTS_GROUP_PREFIX, dbt_assets_defs

MART_MAX_AGE = dt.timedelta(hours=26)

MART_KEYS: list[dg.AssetKey] = sorted(
    key
    for assets_def in dbt_assets_defs
    for key, group in assets_def.group_names_by_key.items()
    if group.startswith(MARTS_GROUP_PREFIX)
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=dg.SupersessionWarning)
    mart_freshness_checks = dg.build_last_update_freshness_checks(assets=MART_KEYS, lower_bound_delta=MART_MAX_AGE)
    mart_freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=mart_freshness_checks,
        name="mart_freshness_checks",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=600,
    )
