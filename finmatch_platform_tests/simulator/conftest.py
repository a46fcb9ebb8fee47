"""Fixtures of the simulator tests: landing zones and the vendor API servers on loopback."""

from finmatch_platform_tests.helpers.api import (  # noqa: F401
    fpr_api,
    fpr_handbuilt_api,
    fpr_handbuilt_landing,
    fpr_landing,
    fpr_vendor_api,
    start_api,
)
from finmatch_platform_tests.helpers.payscore import start_payscore_api  # noqa: F401
