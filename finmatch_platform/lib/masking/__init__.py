"""Policy-driven masking of PII inside DuckDB: tokens, buckets, partial masks and role views.

Everything is set-based SQL run by DuckDB; Python only builds the statements. The policy lives
in ``finmatch_platform/masking_policy.yaml`` (its header documents the design). Modules:

* ``policy``: loads and validates the policy (tags, roles, tables);
* ``tokens``: the key, HMAC-SHA256 tokens in Python and in DuckDB SQL;
* ``operators``: the SQL of each operator and the masking SELECT of one role;
* ``build``: ``masked.<table>`` (the newest version of every record masked for the default role,
  quarantined versions excluded) and ``masked.<table>_variants`` (the row key plus every other
  operator output a role needs; never a raw value);
* ``views``: ``role_<role>.<table>``, projections of those tables and, for pass-through columns,
  the raw table. No view holds key material.
"""

from finmatch_platform.lib.masking.build import (
    MaskingStats,
    build_masked_customers,
    build_masked_fpr,
    build_masked_table,
)
from finmatch_platform.lib.masking.operators import MaskedSelect, masked_select_sql, operator_sql, version_text_sql
from finmatch_platform.lib.masking.policy import (
    DEFAULT_POLICY_PATH,
    OPERATORS,
    STORED_OPERATORS,
    VARIANTS_SUFFIX,
    Policy,
    PolicyError,
    Role,
    TablePolicy,
    Tag,
    load_policy,
    parse_policy,
    pii_columns,
)
from finmatch_platform.lib.masking.tokens import (
    KEY_ENV_VAR,
    MIN_KEY_BYTES,
    MaskingKeyError,
    hmac_params,
    key_id,
    policy_token,
    token,
)
from finmatch_platform.lib.masking.views import RoleViewsResult, build_role_views, role_view_sql
from finmatch_platform.lib.sql import quote_ident, quote_table, relation_exists, table_columns, transaction

__all__ = [
    "DEFAULT_POLICY_PATH",
    "KEY_ENV_VAR",
    "MIN_KEY_BYTES",
    "OPERATORS",
    "STORED_OPERATORS",
    "VARIANTS_SUFFIX",
    "MaskedSelect",
    "MaskingKeyError",
    "MaskingStats",
    "Policy",
    "PolicyError",
    "Role",
    "RoleViewsResult",
    "TablePolicy",
    "Tag",
    "build_masked_customers",
    "build_masked_fpr",
    "build_masked_table",
    "build_role_views",
    "hmac_params",
    "key_id",
    "load_policy",
    "masked_select_sql",
    "operator_sql",
    "parse_policy",
    "pii_columns",
    "policy_token",
    "quote_ident",
    "quote_table",
    "relation_exists",
    "role_view_sql",
    "table_columns",
    "token",
    "transaction",
    "version_text_sql",
]
