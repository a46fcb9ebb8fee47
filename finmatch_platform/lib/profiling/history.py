"""Profile history in ``meta.profile_history`` and drift between two profiles of a table."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import duckdb

from finmatch_platform.lib.profiling.profiles import ColumnProfile, TableProfile, TopValue, short_value
from finmatch_platform.lib.sql import ensure_schema, quote_ident, quote_table, table_columns, transaction

HISTORY_TABLE = "meta.profile_history"

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
    ensure_schema(conn, history_table)
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
                        f"{name}.{metric} changed {described} ({short_value(was)} -> {short_value(now)})",
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
            f"| {f.column or '(table)'} | {f.metric} | {short_value(f.previous)} | {short_value(f.current)} | {change} |"
        )
    return "\n".join(lines)
