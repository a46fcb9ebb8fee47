"""Fixtures of the Dagster-layer tests: settings and resources over a temporary warehouse, an
ephemeral instance, the vendor APIs on loopback, and the insights warehouse with its LLM stand-in."""

from finmatch_platform_tests.helpers.api import fpr_api, fpr_landing, start_api  # noqa: F401
from finmatch_platform_tests.helpers.core import instance, resources, settings  # noqa: F401
from finmatch_platform_tests.helpers.insights import insights_warehouse, llm_stand_in, planted_effects, stand_in  # noqa: F401
from finmatch_platform_tests.helpers.payscore import start_payscore_api  # noqa: F401
