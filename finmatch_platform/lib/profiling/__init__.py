"""Column profiles of warehouse tables, computed in DuckDB, with history and drift detection.

Profiles run on masked tables and must never carry raw PII: for columns tagged in the masking
policy min, max and top values are not computed at all. Modules: ``formats`` (format rules),
``profiles`` (profiling a table) and ``history`` (``meta.profile_history`` and drift).
"""

from finmatch_platform.lib.profiling.formats import (
    QUARTER_START,
    FormatRule,
    default_format_rules,
    one_of,
    regex,
    sql_check,
    token_rule,
    value_range,
)
from finmatch_platform.lib.profiling.history import (
    HISTORY_TABLE,
    DriftFinding,
    DriftThresholds,
    drift,
    ensure_history_table,
    findings_markdown,
    load_profile,
    previous_profile,
    save_profile,
)
from finmatch_platform.lib.profiling.profiles import (
    EXACT_DISTINCT_MAX_ROWS,
    KIND_BOOLEAN,
    KIND_NUMERIC,
    KIND_OTHER,
    KIND_TEMPORAL,
    KIND_TEXT,
    QUANTILES,
    TOP_VALUES,
    TOP_VALUES_MAX_DISTINCT,
    ColumnProfile,
    TableProfile,
    TopValue,
    column_kind,
    profile_table,
)

__all__ = [
    "EXACT_DISTINCT_MAX_ROWS",
    "HISTORY_TABLE",
    "KIND_BOOLEAN",
    "KIND_NUMERIC",
    "KIND_OTHER",
    "KIND_TEMPORAL",
    "KIND_TEXT",
    "QUANTILES",
    "QUARTER_START",
    "TOP_VALUES",
    "TOP_VALUES_MAX_DISTINCT",
    "ColumnProfile",
    "DriftFinding",
    "DriftThresholds",
    "FormatRule",
    "TableProfile",
    "TopValue",
    "column_kind",
    "default_format_rules",
    "drift",
    "ensure_history_table",
    "findings_markdown",
    "load_profile",
    "one_of",
    "previous_profile",
    "profile_table",
    "regex",
    "save_profile",
    "sql_check",
    "token_rule",
    "value_range",
]
