"""Running a rule set: every rule evaluated in one SQL pass, reported as counts and sample keys.

Results never carry a raw value: each rule reports counts (checked, duplicates, missing, invalid)
and at most ``SAMPLE_KEYS`` offending record keys (surrogate ids, never PII).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from finmatch_platform.lib.masking import version_text_sql
from finmatch_platform.lib.quality.rules import BLOCKING, RuleSet
from finmatch_platform.lib.sql import literal, quote_ident, quote_table, table_columns

SAMPLE_KEYS = 5
MISSING_KEY = "(missing)"


@dataclass(frozen=True)
class RuleResult:
    rule: str
    severity: str
    description: str
    table: str
    checked_rows: int
    duplicates: int  # rows whose key is shared with another checked row (all copies count)
    missing: int
    invalid: int
    failed_rows: int  # rows failing in any way (a row can be both missing and invalid in a multi-column rule)
    sample_keys: tuple[str, ...]  # up to five offending keys, smallest first; never values
    passed: bool

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING

    def as_metadata(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "checked_rows": self.checked_rows,
            "duplicates": self.duplicates,
            "missing": self.missing,
            "invalid": self.invalid,
            "failed_rows": self.failed_rows,
            "sample_keys": ", ".join(self.sample_keys) or "-",
        }


def _checked_sql(rule_set: RuleSet, table: str, types: Mapping[str, str]) -> str:
    src = quote_table(table)
    if rule_set.scope == "latest_versions" and rule_set.version is not None and rule_set.version in types:
        v = quote_ident(rule_set.version)
        return (
            f"select *, rowid as _rid from {src} "
            f"qualify {v} is not distinct from max({v}) over (partition by {quote_ident(rule_set.key)})"
        )
    if rule_set.scope == "live" and "_deleted" in types:
        return f'select *, rowid as _rid from {src} where not coalesce("_deleted", false)'
    return f"select *, rowid as _rid from {src}"


def flags_sql(rule_set: RuleSet, table: str, types: Mapping[str, str]) -> str:
    """One row per checked row: key, version and, per rule i, flags m{i} / i{i} / d{i}."""
    key = quote_ident(rule_set.key)
    version = (
        version_text_sql(quote_ident(rule_set.version), types[rule_set.version])
        if rule_set.version is not None and rule_set.version in types
        else "null"
    )
    cols = ["_rid", f"cast({key} as varchar) as _key", f"{version} as _version"]
    for i, rule in enumerate(rule_set.rules):
        cols.append(f"coalesce({rule.missing_sql}, false) as m{i}" if rule.missing_sql else f"false as m{i}")
        cols.append(f"coalesce({rule.invalid_sql}, false) as i{i}" if rule.invalid_sql else f"false as i{i}")
        if rule.unique_by:
            by = ", ".join(quote_ident(c) for c in rule.unique_by)
            not_null = " and ".join(f"{quote_ident(c)} is not null" for c in rule.unique_by)
            cols.append(f"({not_null} and count(*) over (partition by {by}) > 1) as d{i}")
        else:
            cols.append(f"false as d{i}")
    return f"with checked as ({_checked_sql(rule_set, table, types)}) select {', '.join(cols)} from checked"


def source_types(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The (name -> type) of a table to check; a missing table is an error."""
    types = dict(table_columns(conn, table))
    if not types:
        raise ValueError(f"{table} does not exist: load it before checking it")
    return types


def run_rules(conn: duckdb.DuckDBPyConnection, rules: RuleSet, table: str | None = None) -> list[RuleResult]:
    """Evaluate every rule of ``rules`` on ``table`` (default: the rule set's source) in one pass."""
    table = table or rules.source
    types = source_types(conn, table)
    missing_columns = sorted({c for r in rules.rules for c in r.columns if c not in types})
    if missing_columns:
        raise ValueError(f"{table} lacks column(s) {', '.join(missing_columns)} that the {rules.name} rules read")
    aggregates = ["count(*)"]
    for i, _rule in enumerate(rules.rules):
        failed = f"m{i} or i{i} or d{i}"
        aggregates += [
            f"count(*) filter (where d{i})",
            f"count(*) filter (where m{i})",
            f"count(*) filter (where i{i})",
            f"count(*) filter (where {failed})",
            f"min(coalesce(_key, {literal(MISSING_KEY)}), {SAMPLE_KEYS}) filter (where {failed})",
        ]
    row = conn.execute(f"select {', '.join(aggregates)} from ({flags_sql(rules, table, types)})").fetchall()[0]
    checked = int(row[0])
    results = []
    for i, rule in enumerate(rules.rules):
        duplicates, missing, invalid, failed, keys = row[1 + 5 * i : 6 + 5 * i]
        sample = tuple(dict.fromkeys(keys or ()))[:SAMPLE_KEYS]
        results.append(
            RuleResult(
                rule=rule.name,
                severity=rule.severity,
                description=rule.description,
                table=table,
                checked_rows=checked,
                duplicates=int(duplicates),
                missing=int(missing),
                invalid=int(invalid),
                failed_rows=int(failed),
                sample_keys=sample,
                passed=int(failed) == 0,
            )
        )
    return results


def results_markdown(results: Sequence[RuleResult]) -> str:
    lines = [
        "| rule | severity | checked | duplicates | missing | invalid | sample keys |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.rule} | {r.severity} | {r.checked_rows} | {r.duplicates} | {r.missing} | {r.invalid} | "
            f"{', '.join(r.sample_keys) or '-'} |"
        )
    return "\n".join(lines)
