"""Column profiles of warehouse tables, computed in DuckDB.

A profile is two SQL passes whatever the width of the table: one aggregate over every column
(counts, nulls, distinct, min/max, mean, stddev, quantiles, format-rule failures), then one
``histogram`` pass for the top values of the low-cardinality text and boolean columns.

For columns tagged in the masking policy (``pii_columns``) min, max and top values are not
computed at all, so even a profile pointed at a raw table by mistake holds only counts and
shares for them.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from finmatch_platform.lib.masking import load_policy
from finmatch_platform.lib.profiling.formats import FormatRule
from finmatch_platform.lib.sql import is_temporal_type, is_text_type, quote_ident, quote_table, table_columns

QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)
# Exact distinct counts up to this many rows; HyperLogLog (about 2% error) above, where an exact
# count over a million near-unique tokens would cost more than the rest of the profile.
EXACT_DISTINCT_MAX_ROWS = 100_000
# Top values for text/boolean columns with at most this many distinct values (categories);
# near-unique columns (ids, tokens) have no meaningful top values.
TOP_VALUES_MAX_DISTINCT = 1_000
TOP_VALUES = 5

KIND_NUMERIC = "numeric"
KIND_TEMPORAL = "temporal"
KIND_BOOLEAN = "boolean"
KIND_TEXT = "text"
KIND_OTHER = "other"

_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)


def column_kind(dtype: str) -> str:
    """numeric, temporal, boolean, text or other: which statistics a column of ``dtype`` gets."""
    upper = dtype.upper()
    if upper in _NUMERIC_TYPES or upper.startswith("DECIMAL"):
        return KIND_NUMERIC
    if is_temporal_type(dtype):
        return KIND_TEMPORAL
    if upper == "BOOLEAN":
        return KIND_BOOLEAN
    if is_text_type(dtype):
        return KIND_TEXT
    return KIND_OTHER


@dataclass(frozen=True)
class TopValue:
    value: str | None
    count: int
    share: float


@dataclass(frozen=True)
class ColumnProfile:
    column: str
    dtype: str
    kind: str
    rows: int
    count: int  # non-null values, as pandas' describe counts
    nulls: int
    null_share: float
    distinct: int
    distinct_share: float  # distinct / non-null values
    distinct_exact: bool
    pii: bool = False
    min: float | str | None = None  # numbers as float; dates, timestamps and text as ISO/text
    max: float | str | None = None
    mean: float | None = None
    stddev: float | None = None  # sample standard deviation (ddof=1), as pandas
    p01: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p99: float | None = None
    top_values: tuple[TopValue, ...] = ()
    format_rule: str | None = None
    format_checked: int = 0
    format_failures: int = 0
    format_fail_share: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["top_values"] = [asdict(t) for t in self.top_values]
        return data


@dataclass(frozen=True)
class TableProfile:
    table: str
    rows: int
    columns: tuple[ColumnProfile, ...]
    profiled_at: dt.datetime | None = None
    seconds: float = 0.0

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.column == name:
                return column
        raise KeyError(f"{self.table} has no profiled column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns)

    def format_failures(self) -> dict[str, float]:
        """Columns whose values break their format rule, with the failing share."""
        return {c.column: c.format_fail_share or 0.0 for c in self.columns if c.format_failures}

    def to_markdown(self) -> str:
        """A compact Markdown table for asset metadata (no top values: they can be long)."""
        lines = [
            "| column | type | nulls | null share | distinct | min | max | mean | format fails |",
            "|---|---|---:|---:|---:|---|---|---:|---:|",
        ]
        for c in self.columns:
            mean = "" if c.mean is None else f"{c.mean:.4g}"
            fails = "" if c.format_rule is None else f"{c.format_failures}"
            lines.append(
                f"| {c.column} | {c.dtype} | {c.nulls} | {c.null_share:.2%} | {c.distinct} | "
                f"{short_value(c.min)} | {short_value(c.max)} | {mean} | {fails} |"
            )
        return "\n".join(lines)

    def as_metadata(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "columns": len(self.columns),
            "columns_failing_format": ", ".join(sorted(self.format_failures())) or "-",
            "max_null_share": round(max((c.null_share for c in self.columns), default=0.0), 4),
            "seconds": round(self.seconds, 3),
        }


def short_value(value: object) -> str:
    """A value shortened for a Markdown cell (numbers to 4 significant digits, text to 24 characters)."""
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def _policy_pii_columns(table: str) -> frozenset[str]:
    """Tagged columns of the policy table whose source or target is ``table`` (none if unknown)."""
    policy = load_policy()  # a broken policy fails the profile: never fall back to "nothing is PII"
    for table_policy in policy.tables.values():
        if table in (table_policy.source, table_policy.target):
            return frozenset(table_policy.tagged_columns)
    return frozenset()


def profile_table(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    format_rules: Mapping[str, FormatRule] | None = None,
    pii_columns: Collection[str] | None = None,
    exact_distinct_max_rows: int = EXACT_DISTINCT_MAX_ROWS,
    top_values: int = TOP_VALUES,
) -> TableProfile:
    """Profile every column of ``table`` (``schema.name``) in two SQL passes.

    ``pii_columns`` defaults to the columns the masking policy tags for this table (matched on
    its source or target name); for them min, max and top values are never computed.
    """
    started = time.perf_counter()
    columns = table_columns(conn, table)
    if not columns:
        raise ValueError(f"{table} does not exist")
    rules = dict(format_rules or {})
    pii = frozenset(pii_columns) if pii_columns is not None else _policy_pii_columns(table)
    rows = int(conn.execute(f"select count(*) from {quote_table(table)}").fetchall()[0][0])
    exact = rows <= exact_distinct_max_rows

    # Pass 1: one aggregate over every column. Each column contributes a fixed list of
    # expressions; `layout` remembers where each column's values land in the result row.
    exprs: list[str] = []
    layout: list[tuple[str, str, str, dict[str, int]]] = []
    for name, dtype in columns:
        kind = column_kind(dtype)
        col = quote_ident(name)
        wanted: dict[str, str] = {"count": f"count({col})"}
        distinct_of = f"cast({col} as varchar)" if kind == KIND_OTHER else col
        wanted["distinct"] = f"count(distinct {distinct_of})" if exact else f"approx_count_distinct({distinct_of})"
        if name not in pii and kind in (KIND_NUMERIC, KIND_TEMPORAL, KIND_TEXT):
            wanted["min"], wanted["max"] = f"min({col})", f"max({col})"
        if kind == KIND_NUMERIC and name not in pii:
            wanted["mean"] = f"avg({col})"
            wanted["stddev"] = f"stddev_samp({col})"
            wanted["quantiles"] = f"quantile_cont({col}, [{', '.join(str(q) for q in QUANTILES)}])"
        rule = rules.get(name)
        if rule is not None:
            check = rule.check_sql(col)
            wanted["format_failures"] = f"count(*) filter (where {col} is not null and not coalesce({check}, false))"
        slots = {stat: len(exprs) + i for i, stat in enumerate(wanted)}
        exprs.extend(wanted.values())
        layout.append((name, dtype, kind, slots))
    values = conn.execute(f"select {', '.join(exprs)} from {quote_table(table)}").fetchall()[0]

    # Pass 2: exact value counts of the categorical columns, one histogram per column.
    categorical = [
        name
        for name, _dtype, kind, slots in layout
        if kind in (KIND_TEXT, KIND_BOOLEAN)
        and name not in pii
        and 0 < values[slots["distinct"]] <= TOP_VALUES_MAX_DISTINCT
    ]
    histograms: dict[str, list[TopValue]] = {}
    if categorical and top_values > 0:
        hist_sql = ", ".join(
            f"histogram({quote_ident(c)}), count(*) filter (where {quote_ident(c)} is null)" for c in categorical
        )
        hist_row = conn.execute(f"select {hist_sql} from {quote_table(table)}").fetchall()[0]
        for i, name in enumerate(categorical):
            counts: dict[Any, int] = dict(hist_row[2 * i] or {})
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:top_values]
            histograms[name] = [
                TopValue(None if v is None else str(v), int(n), n / rows if rows else 0.0) for v, n in ordered
            ]

    profiles = []
    for name, dtype, kind, slots in layout:
        count = int(values[slots["count"]])
        nulls = rows - count
        distinct = int(values[slots["distinct"]] or 0)
        if not exact:
            distinct = min(distinct, count)  # HyperLogLog can overshoot slightly
        quantiles = values[slots["quantiles"]] if "quantiles" in slots else None
        rule = rules.get(name)
        failures = int(values[slots["format_failures"]]) if "format_failures" in slots else 0
        profiles.append(
            ColumnProfile(
                column=name,
                dtype=dtype,
                kind=kind,
                rows=rows,
                count=count,
                nulls=nulls,
                null_share=nulls / rows if rows else 0.0,
                distinct=distinct,
                distinct_share=distinct / count if count else 0.0,
                distinct_exact=exact,
                pii=name in pii,
                min=_scalar(values[slots["min"]]) if "min" in slots else None,
                max=_scalar(values[slots["max"]]) if "max" in slots else None,
                mean=_float(values[slots["mean"]]) if "mean" in slots else None,
                stddev=_float(values[slots["stddev"]]) if "stddev" in slots else None,
                p01=_float(quantiles[0]) if quantiles else None,
                p25=_float(quantiles[1]) if quantiles else None,
                p50=_float(quantiles[2]) if quantiles else None,
                p75=_float(quantiles[3]) if quantiles else None,
                p99=_float(quantiles[4]) if quantiles else None,
                top_values=tuple(histograms.get(name, ())),
                format_rule=rule.label() if rule is not None else None,
                format_checked=count if rule is not None else 0,
                format_failures=failures,
                format_fail_share=(failures / count if count else 0.0) if rule is not None else None,
            )
        )
    return TableProfile(table, rows, tuple(profiles), None, time.perf_counter() - started)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _scalar(value: Any) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float) or hasattr(value, "as_integer_ratio"):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)
