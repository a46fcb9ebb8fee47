"""Shared fixtures. Each domain keeps its fixtures in a fixtures_<domain>.py plugin module."""

pytest_plugins = [
    "finmatch_platform_tests.fixtures_core",
    "finmatch_platform_tests.fixtures_api",
    "finmatch_platform_tests.fixtures_payscore",
    "finmatch_platform_tests.fixtures_extraction",
    "finmatch_platform_tests.fixtures_insights",
    "finmatch_platform_tests.fixtures_browser",
    "finmatch_platform_tests.fixtures_live",
]
