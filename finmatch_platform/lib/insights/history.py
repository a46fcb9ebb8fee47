"""``meta.insight_history``: one row per report run, so earlier reports can be compared.

Each row keeps what is needed to re-read and re-check a report later: the focus area, the model,
the time, every step with its timing, the full evidence, the prompt sent, the narrative as the
model wrote it, the report as rendered, and the grounding result. The grounding asset checks
re-run grounding on the stored narrative against the stored evidence.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import duckdb

from .evidence import PERCENT_UNITS, Evidence, Figure
from .report import FigureChange, InsightReport

HISTORY_TABLE = "meta.insight_history"

# (name, type): new columns are added to an existing table, so old history stays readable.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("report_id", "varchar primary key"),
    ("focus_area", "varchar not null"),
    ("focus_title", "varchar"),
    ("model", "varchar"),
    ("provider", "varchar"),
    ("endpoint", "varchar"),
    ("run_id", "varchar"),
    ("generated_at", "timestamptz not null"),
    ("data_first_day", "date"),
    ("data_last_day", "date"),
    ("steps", "json"),
    ("step_seconds", "json"),
    ("evidence", "json"),
    ("prompt", "json"),
    ("narrative", "varchar"),
    ("report_markdown", "varchar"),
    ("grounding", "json"),
    ("numbers_checked", "integer"),
    ("numbers_unverified", "integer"),
    ("unverified_share", "double"),
    ("max_unverified_share", "double"),
    ("grounded", "boolean"),
    ("llm_attempts", "integer"),
    ("llm_seconds", "double"),
    ("html_path", "varchar"),
)


def ensure_history_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema if not exists meta")
    columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    conn.execute(f"create table if not exists {HISTORY_TABLE} ({columns})")
    existing = {
        name
        for (name,) in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'meta' and table_name = 'insight_history'"
        ).fetchall()
    }
    for name, kind in COLUMNS:
        if name not in existing:
            conn.execute(
                f"alter table {HISTORY_TABLE} add column {name} {kind.replace(' primary key', '').replace(' not null', '')}"
            )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def append_report(conn: duckdb.DuckDBPyConnection, report: InsightReport) -> None:
    ensure_history_table(conn)
    g = report.grounding
    row: dict[str, Any] = {
        "report_id": report.report_id,
        "focus_area": report.focus.key,
        "focus_title": report.focus.title,
        "model": report.model,
        "provider": report.provider,
        "endpoint": report.endpoint,
        "run_id": report.run_id,
        "generated_at": report.generated_at,
        "data_first_day": report.evidence.context.get("first_day"),
        "data_last_day": report.evidence.context.get("last_day"),
        "steps": _json([s.to_dict() for s in report.steps]),
        "step_seconds": _json(report.step_seconds),
        "evidence": _json(report.evidence.to_dict()),
        "prompt": _json(report.messages),
        "narrative": report.narrative,
        "report_markdown": report.markdown,
        "grounding": _json(g.to_dict(report.max_unverified_share) if g else None),
        "numbers_checked": g.checked if g else 0,
        "numbers_unverified": len(g.unverified) if g else 0,
        "unverified_share": g.unverified_share if g else 0.0,
        "max_unverified_share": report.max_unverified_share,
        "grounded": report.grounded,
        "llm_attempts": report.llm_attempts,
        "llm_seconds": report.llm_seconds,
        "html_path": report.html_path,
    }
    names = list(row)
    conn.execute(
        f"insert into {HISTORY_TABLE} ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
        [row[n] for n in names],
    )


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    if not _exists(conn):
        return []
    cursor = conn.execute(sql, list(params))
    columns = [d[0] for d in cursor.description]
    out = []
    for values in cursor.fetchall():
        row = dict(zip(columns, values, strict=True))
        for name in ("steps", "step_seconds", "evidence", "prompt", "grounding"):
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
        out.append(row)
    return out


def _exists(conn: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        conn.execute(
            "select 1 from information_schema.tables where table_schema = 'meta' and table_name = 'insight_history'"
        ).fetchall()
    )


def latest_report(conn: duckdb.DuckDBPyConnection, focus_key: str, run_id: str | None = None) -> dict[str, Any] | None:
    """The report of a run (when given and present), else the newest report of the focus area."""
    if run_id:
        rows = _rows(
            conn,
            f"select * from {HISTORY_TABLE} where focus_area = ? and run_id = ? order by generated_at desc limit 1",
            [focus_key, run_id],
        )
        if rows:
            return rows[0]
    rows = _rows(
        conn, f"select * from {HISTORY_TABLE} where focus_area = ? order by generated_at desc limit 1", [focus_key]
    )
    return rows[0] if rows else None


def report_history(conn: duckdb.DuckDBPyConnection, focus_key: str | None = None) -> list[dict[str, Any]]:
    where = "where focus_area = ?" if focus_key else ""
    return _rows(
        conn,
        f"select * from {HISTORY_TABLE} {where} order by generated_at, report_id",
        [focus_key] if focus_key else [],
    )


def _change(previous: Figure, current: Figure) -> str:
    if previous.value is None or current.value is None:
        return "n/a"
    delta = float(current.value) - float(previous.value)
    if current.unit in PERCENT_UNITS:
        return f"{delta * 100:+.1f} pp"
    if float(previous.value) == 0:
        return f"{delta:+,.0f}" if current.unit == "count" else "new"
    relative = delta / abs(float(previous.value))
    if current.unit == "count":
        return f"{delta:+,.0f} ({relative:+.1%})"
    return f"{relative:+.1%}"


def compare(previous: Evidence, current: Evidence, limit: int = 15) -> list[FigureChange]:
    """Headline figures (always) and the other figures whose written value changed, largest first."""
    before = {f.key: f for f in previous.figures}
    headline: list[FigureChange] = []
    moved: list[tuple[float, FigureChange]] = []
    for figure in current.figures:
        old = before.get(figure.key)
        if old is None:
            continue
        change = FigureChange(figure.key, figure.label, old.display, figure.display, _change(old, figure))
        if figure.headline:
            headline.append(change)
        elif old.display != figure.display and old.value is not None and figure.value is not None:
            size = abs(float(figure.value) - float(old.value)) / max(abs(float(old.value)), 1e-9)
            moved.append((size, change))
    moved.sort(key=lambda item: (-item[0], item[1].key))
    return (headline + [c for _, c in moved])[:limit]


def describe_changes(changes: Sequence[FigureChange]) -> str:
    return "; ".join(f"{c.label}: {c.previous} → {c.current}" for c in changes[:5])


def previous_evidence(row: dict[str, Any] | None) -> Evidence | None:
    if not row or not row.get("evidence"):
        return None
    return Evidence.from_dict(row["evidence"])


def when(row: dict[str, Any] | None) -> str | None:
    if not row:
        return None
    value = row.get("generated_at")
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value) if value else None
