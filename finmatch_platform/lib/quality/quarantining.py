"""Quarantine of the rows failing blocking rules, with payloads masked by the policy's default role.

``meta.quarantine`` is shared with the FPR extraction, which writes (source, reason, record,
quarantined_at) for records it cannot load; the columns this module needs are added next to those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import duckdb

from finmatch_platform.lib.masking import Policy, hmac_params, operator_sql
from finmatch_platform.lib.quality.rules import RuleSet
from finmatch_platform.lib.quality.run import MISSING_KEY, SAMPLE_KEYS, RuleResult, flags_sql, source_types
from finmatch_platform.lib.quarantine import QUARANTINE_TABLE, quarantine_ddl
from finmatch_platform.lib.sql import literal, literal_list, quote_ident, quote_table, transaction


@dataclass(frozen=True)
class QuarantineResult:
    source_table: str
    load_id: str
    inserted: int  # new (key, version, rule) entries for this load
    removed: int  # entries of this load whose failure no longer reproduces
    total: int  # entries of this load now
    by_rule: Mapping[str, int] = field(default_factory=dict)
    sample_keys: tuple[str, ...] = ()

    def as_metadata(self) -> dict[str, object]:
        return {
            "load_id": self.load_id,
            "quarantined_new": self.inserted,
            "quarantined_removed": self.removed,
            "quarantined_total": self.total,
            "quarantined_by_rule": ", ".join(f"{r}: {n}" for r, n in self.by_rule.items()) or "-",
            "quarantined_sample_keys": ", ".join(self.sample_keys) or "-",
        }


def ensure_quarantine_table(conn: duckdb.DuckDBPyConnection) -> None:
    """Create ``meta.quarantine``, or add the columns this module needs to an existing one."""
    for statement in quarantine_ddl():
        conn.execute(statement)


def default_load_id(conn: duckdb.DuckDBPyConnection, rules: RuleSet, table: str | None = None) -> str:
    """A name for the current load: the day of the newest load marker (landed date, or the UTC
    day of the last sync, so the several syncs of a day share one load), else today (UTC)."""
    table = table or rules.source
    types = source_types(conn, table)
    marker = rules.load_marker
    if marker and marker in types:
        value = conn.execute(f"select max({quote_ident(marker)}) from {quote_table(table)}").fetchall()[0][0]
        if isinstance(value, dt.datetime):
            value = (value.astimezone(dt.UTC) if value.tzinfo else value).date()
        if value is not None:
            text = value.isoformat() if isinstance(value, dt.date) else str(value)
            return f"{marker}={text}"
    return f"date={dt.datetime.now(dt.UTC).date().isoformat()}"


def _payload_sql(policy: Policy, rule_set: RuleSet, types: Mapping[str, str], alias: str) -> str:
    """``to_json(struct_pack(...))`` of a raw row masked with the default role (tokens, buckets)."""
    table_policy = policy.table(rule_set.policy_table)
    role = policy.roles[policy.default_role]
    fields = []
    for name, dtype in types.items():
        if name not in table_policy.columns and table_policy.unknown_columns == "drop":
            continue
        col = f"{alias}.{quote_ident(name)}"
        tag = policy.governing_tag(rule_set.policy_table, name) if name in table_policy.columns else None
        expr = col if tag is None else operator_sql(policy, role.operators[tag.name], tag, name, dtype, col)
        fields.append(f"{quote_ident(name)} := {expr}")
    return f"to_json(struct_pack({', '.join(fields)}))"


def quarantine_failures(
    conn: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    policy: Policy,
    key: str | bytes | None,
    load_id: str | None = None,
    results: Sequence[RuleResult] | None = None,
    table: str | None = None,
    quarantined_at: dt.datetime | None = None,
) -> QuarantineResult:
    """Write the rows failing blocking rules to ``meta.quarantine`` with their rule and reason.

    Idempotent per load: an entry is identified by (source_table, record_key, record_version,
    rule, load_id), so a rerun adds nothing new, and entries of this load whose failure no longer
    reproduces are removed. Payloads are the rows masked with the policy's default role. Given
    ``results``, only blocking rules that failed are evaluated again.
    """
    table = table or rules.source
    types = source_types(conn, table)
    params = hmac_params(key)  # fail on a missing key before touching anything
    load = load_id or default_load_id(conn, rules, table)
    stamp = quarantined_at or dt.datetime.now(dt.UTC)
    blocking = [r for r in rules.rules if r.blocking]
    if results is not None:
        failed = {r.rule for r in results if not r.passed}
        evaluate = [r for r in blocking if r.name in failed]
    else:
        evaluate = blocking
    ensure_quarantine_table(conn)
    q = quote_table(QUARANTINE_TABLE)
    rules_in = literal_list([r.name for r in blocking]) if blocking else "(null)"

    with transaction(conn):
        conn.execute(
            "create or replace temp table _finmatch_quarantine_new "
            "(record_key varchar, record_version varchar, rule varchar, reason varchar, payload json)"
        )
        if evaluate:
            subset = rules.subset([r.name for r in evaluate])
            failures = []
            for i, rule in enumerate(subset.rules):
                parts = [
                    f"case when m{i} then {literal(rule.missing_reason)} end",
                    f"case when d{i} then {literal(rule.duplicate_reason)} end",
                    f"case when i{i} then {literal(rule.invalid_reason)} end",
                ]
                failures.append(
                    f"select _rid, _key, _version, {literal(rule.name)} as rule, concat_ws('; ', {', '.join(parts)}) as reason "
                    f"from flags where m{i} or i{i} or d{i}"
                )
            conn.execute(
                f"""
                insert into _finmatch_quarantine_new
                with flags as ({flags_sql(subset, table, types)}),
                failures as ({" union all ".join(failures)})
                select f._key, f._version, f.rule, f.reason, {_payload_sql(policy, rules, types, "r")}
                from failures f join {quote_table(table)} r on r.rowid = f._rid
                """,
                params,
            )
        removed = conn.execute(
            f"""
            delete from {q} q
            where q.source_table = ? and q.load_id = ? and q.rule in {rules_in}
              and not exists (
                select 1 from _finmatch_quarantine_new n
                where n.record_key is not distinct from q.record_key
                  and n.record_version is not distinct from q.record_version and n.rule = q.rule)
            """,
            [table, load],
        ).fetchall()[0][0]
        inserted = conn.execute(
            f"""
            insert into {q} (source_table, record_key, record_version, rule, reason, payload, load_id, quarantined_at, source)
            select ?, n.record_key, n.record_version, n.rule, n.reason, n.payload, ?, ?, ?
            from _finmatch_quarantine_new n
            where not exists (
                select 1 from {q} q
                where q.source_table = ? and q.load_id = ? and q.rule = n.rule
                  and q.record_key is not distinct from n.record_key
                  and q.record_version is not distinct from n.record_version)
            """,
            [table, load, stamp, table, table, load],
        ).fetchall()[0][0]
        by_rule = dict(
            conn.execute(
                f"select rule, count(*) from {q} where source_table = ? and load_id = ? group by rule order by rule",
                [table, load],
            ).fetchall()
        )
        sample = conn.execute(
            f"select min(coalesce(record_key, {literal(MISSING_KEY)}), {SAMPLE_KEYS}) from {q} "
            "where source_table = ? and load_id = ?",
            [table, load],
        ).fetchall()[0][0]
        conn.execute("drop table if exists temp._finmatch_quarantine_new")
    return QuarantineResult(
        source_table=table,
        load_id=load,
        inserted=int(inserted),
        removed=int(removed),
        total=int(sum(by_rule.values())),
        by_rule={str(k): int(v) for k, v in by_rule.items()},
        sample_keys=tuple(dict.fromkeys(sample or ())),
    )
