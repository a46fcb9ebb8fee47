"""Column profiles of warehouse tables, computed in DuckDB, with history and drift detection.

A profile is two SQL passes whatever the width of the table: one aggregate over every column
(counts, nulls, distinct, min/max, mean, stddev, quantiles, format-rule failures), then one
``histogram`` pass for the top values of the low-cardinality text and boolean columns.

Profiles run on masked tables and must never carry raw PII: for columns tagged in the masking
policy (``pii_columns``) min, max and top values are not computed at all, so even a profile
pointed at a raw table by mistake holds only counts and shares for them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import duckdb

from finmatch_platform.lib.masking import (
    Policy,
    load_policy,
    quote_ident,
    quote_table,
    table_columns,
    transaction,
)

HISTORY_TABLE = "meta.profile_history"
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
    upper = dtype.upper()
    if upper in _NUMERIC_TYPES or upper.startswith("DECIMAL"):
        return KIND_NUMERIC
    if upper == "DATE" or upper.startswith("TIMESTAMP"):
        return KIND_TEMPORAL
    if upper == "BOOLEAN":
        return KIND_BOOLEAN
    if upper.startswith("VARCHAR"):
        return KIND_TEXT
    return KIND_OTHER


# --------------------------------------------------------------------------------------------
# Format rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormatRule:
    """What a well-formed value of a column looks like; checked on non-null values only.

    kinds: ``regex`` (full match), ``range`` (low <= value <= high, either bound optional),
    ``values`` (one of), ``sql`` (a boolean expression with ``{col}`` for the column).
    """

    kind: str
    pattern: str | None = None
    low: float | None = None
    high: float | None = None
    values: tuple[str, ...] = ()
    expression: str | None = None
    description: str = ""

    def check_sql(self, column_sql: str) -> str:
        """SQL that is true when a (non-null) value conforms."""
        if self.kind == "regex":
            return f"regexp_full_match(cast({column_sql} as varchar), {_literal(self.pattern or '')})"
        if self.kind == "range":
            parts = []
            if self.low is not None:
                parts.append(f"{column_sql} >= {self.low!r}")
            if self.high is not None:
                parts.append(f"{column_sql} <= {self.high!r}")
            return " and ".join(parts) or "true"
        if self.kind == "values":
            return f"cast({column_sql} as varchar) in ({', '.join(_literal(v) for v in self.values)})"
        if self.kind == "sql":
            return f"({(self.expression or 'true').replace('{col}', column_sql)})"
        raise ValueError(f"unknown format rule kind {self.kind!r}; expected regex, range, values or sql")

    def label(self) -> str:
        if self.description:
            return self.description
        if self.kind == "regex":
            return f"matches {self.pattern}"
        if self.kind == "range":
            return f"within [{self.low}, {self.high}]"
        if self.kind == "values":
            return f"one of {', '.join(self.values)}"
        return self.expression or self.kind


def regex(pattern: str, description: str = "") -> FormatRule:
    return FormatRule("regex", pattern=pattern, description=description)


def value_range(low: float | None, high: float | None, description: str = "") -> FormatRule:
    return FormatRule("range", low=low, high=high, description=description)


def one_of(values: Collection[str], description: str = "") -> FormatRule:
    return FormatRule("values", values=tuple(values), description=description)


def sql_check(expression: str, description: str = "") -> FormatRule:
    return FormatRule("sql", expression=expression, description=description)


def token_rule(policy: Policy) -> FormatRule:
    return regex(
        f"{re.escape(policy.token_prefix)}[0-9a-f]{{{policy.token_hex_chars}}}",
        f"a {policy.token_prefix}<{policy.token_hex_chars} hex> token",
    )


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

QUARTER_START = sql_check("day({col}) = 1 and month({col}) in (1, 4, 7, 10)", "the first day of a quarter")


def default_format_rules(policy: Policy, table: str) -> dict[str, FormatRule]:
    """Format rules for a masked table: tokens where the default role tokenises, plus the ids,
    scores and buckets of the two masked tables."""
    rules: dict[str, FormatRule] = {}
    table_policy = policy.table(table)
    for column in table_policy.tagged_columns:
        operator = policy.operator(policy.default_role, table, column)
        if operator == "hmac":
            rules[column] = token_rule(policy)
        elif operator == "bucket_quarter":
            rules[column] = QUARTER_START
    if table == "customers":
        rules.update(
            customer_id=regex(r"C\d{9}", "C + 9 digits"),
            cibil_score=value_range(300, 900, "a CIBIL score, 300-900"),
        )
    elif table == "fpr_records":
        unit = value_range(0, 1, "a probability or score in [0, 1]")
        rules.update(
            # The simulator's ids or the vendor's documented shapes (UUID, CUST_ + 6 digits).
            record_id=regex(rf"FPR\d{{10}}|{_UUID}", "FPR + 10 digits, or a UUID"),
            customer_id=regex(r"C\d{9}|CUST_\d{6,}", "C + 9 digits, or CUST_ + 6 digits"),
            recommendation_score=unit,
            # Decimal text, as the vendor documents a string; text that is not a number fails.
            customer_product_usage=sql_check(
                "try_cast({col} as double) between 0 and 1", "a share in [0, 1] as decimal text"
            ),
            customer_product_affinity=unit,
            customer_churn_probability=unit,
            customer_satisfaction_score=value_range(1, 10, "a satisfaction score in [1, 10]"),
        )
    return rules


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


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
                f"{_short(c.min)} | {_short(c.max)} | {mean} | {fails} |"
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


def _short(value: object) -> str:
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------

_HISTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", "VARCHAR"),
    ("column_name", "VARCHAR"),
    ("profiled_at", "TIMESTAMP WITH TIME ZONE"),
    ("column_type", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("is_pii", "BOOLEAN"),
    ("row_count", "BIGINT"),
    ("non_null_count", "BIGINT"),
    ("null_count", "BIGINT"),
    ("null_share", "DOUBLE"),
    ("distinct_count", "BIGINT"),
    ("distinct_share", "DOUBLE"),
    ("distinct_exact", "BOOLEAN"),
    ("min_value", "VARCHAR"),
    ("max_value", "VARCHAR"),
    ("mean", "DOUBLE"),
    ("stddev", "DOUBLE"),
    ("p01", "DOUBLE"),
    ("p25", "DOUBLE"),
    ("p50", "DOUBLE"),
    ("p75", "DOUBLE"),
    ("p99", "DOUBLE"),
    ("format_rule", "VARCHAR"),
    ("format_failures", "BIGINT"),
    ("format_fail_share", "DOUBLE"),
    ("top_values", "JSON"),
    ("stats", "JSON"),
)


def ensure_history_table(conn: duckdb.DuckDBPyConnection, history_table: str = HISTORY_TABLE) -> None:
    schema, _, _ = history_table.rpartition(".")
    if schema:
        conn.execute(f"create schema if not exists {quote_ident(schema)}")
    ddl = ", ".join(f"{quote_ident(n)} {t}" for n, t in _HISTORY_COLUMNS)
    conn.execute(f"create table if not exists {quote_table(history_table)} ({ddl})")


def save_profile(
    conn: duckdb.DuckDBPyConnection,
    profile: TableProfile,
    profiled_at: dt.datetime | None = None,
    history_table: str = HISTORY_TABLE,
) -> TableProfile:
    """Store one row per column in ``meta.profile_history``; saving the same (table,
    profiled_at) again replaces those rows. Returns the profile stamped with ``profiled_at``."""
    stamp = profiled_at or profile.profiled_at or dt.datetime.now(dt.UTC)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    ensure_history_table(conn, history_table)
    rows = []
    for c in profile.columns:
        rows.append(
            [
                profile.table,
                c.column,
                stamp,
                c.dtype,
                c.kind,
                c.pii,
                c.rows,
                c.count,
                c.nulls,
                c.null_share,
                c.distinct,
                c.distinct_share,
                c.distinct_exact,
                None if c.min is None else str(c.min),
                None if c.max is None else str(c.max),
                c.mean,
                c.stddev,
                c.p01,
                c.p25,
                c.p50,
                c.p75,
                c.p99,
                c.format_rule,
                c.format_failures,
                c.format_fail_share,
                json.dumps([{"value": t.value, "count": t.count, "share": t.share} for t in c.top_values]),
                json.dumps(c.as_dict(), default=str),
            ]
        )
    placeholders = ", ".join("?" for _ in _HISTORY_COLUMNS)
    with transaction(conn):
        conn.execute(
            f"delete from {quote_table(history_table)} where table_name = ? and profiled_at = ?", [profile.table, stamp]
        )
        if rows:
            conn.executemany(f"insert into {quote_table(history_table)} values ({placeholders})", rows)
    return replace(profile, profiled_at=stamp)


def load_profile(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    profiled_at: dt.datetime | None = None,
    before: dt.datetime | None = None,
    history_table: str = HISTORY_TABLE,
) -> TableProfile | None:
    """A stored profile: at ``profiled_at``, else the latest one (strictly ``before``, if given)."""
    if not table_columns(conn, history_table):
        return None
    hist = quote_table(history_table)
    if profiled_at is None:
        condition = "table_name = ?"
        params: list[object] = [table]
        if before is not None:
            condition += " and profiled_at < ?"
            params.append(before if before.tzinfo else before.replace(tzinfo=dt.UTC))
        found = conn.execute(f"select max(profiled_at) from {hist} where {condition}", params).fetchall()[0][0]
        if found is None:
            return None
        profiled_at = found
    records = conn.execute(
        f"select stats, profiled_at from {hist} where table_name = ? and profiled_at = ? order by rowid",
        [table, profiled_at],
    ).fetchall()
    if not records:
        return None
    columns = []
    for stats, _ in records:
        data = json.loads(stats)
        data["top_values"] = tuple(TopValue(**t) for t in data.get("top_values", ()))
        columns.append(ColumnProfile(**data))
    return TableProfile(table, columns[0].rows, tuple(columns), records[0][1])


def previous_profile(
    conn: duckdb.DuckDBPyConnection, table: str, before: dt.datetime, history_table: str = HISTORY_TABLE
) -> TableProfile | None:
    """The latest stored profile of ``table`` taken before ``before`` (for drift against a new one)."""
    return load_profile(conn, table, before=before, history_table=history_table)


# --------------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftThresholds:
    """When a change between two profiles is worth a finding.

    Shares are compared in absolute points (0.05 = five percentage points), because a relative
    rule explodes near zero (0.1% -> 0.3% nulls is "+200%" but harmless). Means are compared
    relative to the previous mean (0.10 = 10%), because they carry the column's unit. A finding
    needs a change strictly beyond the threshold; None disables a check.
    """

    null_share_abs: float | None = 0.05
    distinct_share_abs: float | None = 0.10
    mean_rel: float | None = 0.10
    format_fail_share_abs: float | None = 0.01
    row_count_rel: float | None = 0.50


@dataclass(frozen=True)
class DriftFinding:
    table: str
    column: str | None  # None for table-level findings (row count)
    metric: str  # null_share, distinct_share, mean, format_fail_share, row_count, column_added, column_removed
    previous: float | str | None
    current: float | str | None
    change: float | None
    threshold: float | None
    message: str


def drift(
    previous: TableProfile | None,
    current: TableProfile,
    thresholds: DriftThresholds | None = None,
) -> list[DriftFinding]:
    """Changes from ``previous`` to ``current`` beyond ``thresholds`` (none without a previous profile)."""
    if previous is None:
        return []
    limits = thresholds or DriftThresholds()
    findings: list[DriftFinding] = []
    table = current.table

    if limits.row_count_rel is not None and previous.rows:
        change = (current.rows - previous.rows) / previous.rows
        if abs(change) > limits.row_count_rel:
            findings.append(
                DriftFinding(
                    table,
                    None,
                    "row_count",
                    previous.rows,
                    current.rows,
                    change,
                    limits.row_count_rel,
                    f"row count changed {change:+.1%} ({previous.rows} -> {current.rows})",
                )
            )

    before = {c.column: c for c in previous.columns}
    after = {c.column: c for c in current.columns}
    for name in after.keys() - before.keys():
        findings.append(
            DriftFinding(table, name, "column_added", None, after[name].dtype, None, None, f"new column {name}")
        )
    for name in before.keys() - after.keys():
        findings.append(
            DriftFinding(
                table, name, "column_removed", before[name].dtype, None, None, None, f"column {name} disappeared"
            )
        )

    for name in [c.column for c in current.columns if c.column in before]:
        old, new = before[name], after[name]
        checks: list[tuple[str, float | None, float | None, float | None, bool]] = [
            ("null_share", old.null_share, new.null_share, limits.null_share_abs, False),
            ("distinct_share", old.distinct_share, new.distinct_share, limits.distinct_share_abs, False),
            ("format_fail_share", old.format_fail_share, new.format_fail_share, limits.format_fail_share_abs, False),
            ("mean", old.mean, new.mean, limits.mean_rel, True),
        ]
        for metric, was, now, limit, relative in checks:
            if limit is None or was is None or now is None:
                continue
            if relative:
                change = (now - was) / abs(was) if was else (math.inf if now else 0.0)
                described = f"{change:+.1%}" if math.isfinite(change) else "from 0"
            else:
                change = now - was
                described = f"{change:+.2%} points"
            if abs(change) > limit:
                findings.append(
                    DriftFinding(
                        table,
                        name,
                        metric,
                        was,
                        now,
                        change,
                        limit,
                        f"{name}.{metric} changed {described} ({_short(was)} -> {_short(now)})",
                    )
                )
    return findings


def findings_markdown(findings: Sequence[DriftFinding]) -> str:
    if not findings:
        return "No drift beyond thresholds."
    lines = ["| column | metric | previous | current | change |", "|---|---|---:|---:|---:|"]
    for f in findings:
        change = "" if f.change is None else f"{f.change:+.4g}"
        lines.append(
            f"| {f.column or '(table)'} | {f.metric} | {_short(f.previous)} | {_short(f.current)} | {change} |"
        )
    return "\n".join(lines)
