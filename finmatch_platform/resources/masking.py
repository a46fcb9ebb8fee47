"""The masking policy and its key: what downstream users may see of customer data."""

from functools import cached_property

import dagster as dg
from pydantic import Field

from finmatch_platform.lib.masking import Policy, load_policy
from finmatch_platform.resources.deployment import FixedByDeployment


class MaskingResource(FixedByDeployment, dg.ConfigurableResource):
    """The policy file (YAML, in the repo) and the HMAC key for PII tokens.

    The key comes only from the environment (``FINMATCH_MASKING_KEY``); changing it changes
    every token, so joins stay consistent only within one key.
    """

    key: str = Field(description="HMAC-SHA256 key for tokens. Use dg.EnvVar('FINMATCH_MASKING_KEY').", repr=False)
    policy_path: str | None = Field(default=None, description="Policy YAML; the packaged policy when unset.")

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.policy_path)
