"""Fixtures of the live tests: the whole platform as `make run` starts it, and headless Chromium."""

from finmatch_platform_tests.helpers.browser import chromium  # noqa: F401
from finmatch_platform_tests.helpers.live import live_platform  # noqa: F401
