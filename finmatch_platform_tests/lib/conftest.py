"""Fixtures of the lib/ tests: real API servers on loopback, scratch warehouses, the insights
warehouse and the LLM stand-in, and headless Chromium for the rendered reports."""

from finmatch_platform_tests.helpers.api import fpr_api, fpr_landing, start_api  # noqa: F401
from finmatch_platform_tests.helpers.browser import chromium  # noqa: F401
from finmatch_platform_tests.helpers.extraction import open_warehouse, warehouse_file  # noqa: F401
from finmatch_platform_tests.helpers.insights import (  # noqa: F401
    insights_warehouse,
    insights_warehouse_copy,
    llm_stand_in,
    planted_effects,
    stand_in,
)
from finmatch_platform_tests.helpers.payscore import start_payscore_api  # noqa: F401
