"""Fixtures of the dbt tests: the platform's settings over a temporary warehouse."""

from finmatch_platform_tests.helpers.core import settings  # noqa: F401
