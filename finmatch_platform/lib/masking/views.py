"""Role views: ``role_<role>.<table>``, one schema of views per role, generated from the policy.

Each view is a projection of ``masked.<table>``, ``masked.<table>_variants`` and, for columns a
role passes through, the raw table. No view holds key material or computes a token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import duckdb

from finmatch_platform.lib.masking.operators import operator_sql
from finmatch_platform.lib.masking.policy import Policy
from finmatch_platform.lib.sql import quote_ident, quote_table, relation_exists, table_columns


@dataclass(frozen=True)
class RoleViewsResult:
    views: tuple[str, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)  # table -> why no views were made

    def as_metadata(self) -> dict[str, object]:
        return {
            "views": ", ".join(self.views) or "-",
            "view_count": len(self.views),
            "skipped": "; ".join(f"{t}: {why}" for t, why in self.skipped.items()) or "-",
        }


def role_view_sql(conn: duckdb.DuckDBPyConnection, policy: Policy, role: str, table: str) -> str:
    """The SELECT behind ``<role schema>.<table>``: a projection, never a keyed computation."""
    table_policy = policy.table(table)
    role_obj = policy.role(role)
    masked_cols = table_columns(conn, table_policy.target)
    if not masked_cols:
        raise ValueError(f"{table_policy.target} does not exist: build the masked table first")
    raw_types = dict(table_columns(conn, table_policy.source))
    variant_names = {n for n, _ in table_columns(conn, table_policy.variants_table)}
    needs_raw = needs_variants = False
    exprs: list[str] = []
    for name, masked_type in masked_cols:
        tag = policy.governing_tag(table, name) if name in table_policy.columns else None
        out = quote_ident(name)
        if tag is None:
            exprs.append(f"m.{out}")
            continue
        operator = role_obj.operators[tag.name]
        default = policy.roles[policy.default_role].operators[tag.name]
        if operator == default:
            exprs.append(f"m.{out}")
        elif operator == "pass":
            needs_raw = True
            exprs.append(f"r.{out}")
        elif operator == "redact":
            dtype = raw_types.get(name, masked_type)
            exprs.append(f"{operator_sql(policy, operator, tag, name, dtype, f'r.{out}')} as {out}")
        else:
            variant = f"{name}__{operator}"
            if variant not in variant_names:
                raise ValueError(
                    f"{table_policy.variants_table} lacks {variant}: rebuild the masked table with this policy"
                )
            needs_variants = True
            exprs.append(f"v.{quote_ident(variant)} as {out}")
    row_id = [c for c in (table_policy.key, table_policy.version_column) if c and c in dict(masked_cols)]
    joins = []
    if needs_variants:
        on = " and ".join(f"v.{quote_ident(c)} is not distinct from m.{quote_ident(c)}" for c in row_id)
        joins.append(f"left join {quote_table(table_policy.variants_table)} v on {on}")
    if needs_raw:
        if not raw_types:
            raise ValueError(f"{table_policy.source} does not exist: role {role!r} passes raw values through")
        on = " and ".join(f"r.{quote_ident(c)} is not distinct from m.{quote_ident(c)}" for c in row_id)
        joins.append(f"left join {quote_table(table_policy.source)} r on {on}")
    return f"select {', '.join(exprs)} from {quote_table(table_policy.target)} m {' '.join(joins)}"


def build_role_views(
    conn: duckdb.DuckDBPyConnection,
    policy: Policy,
    *,
    tables: Sequence[str] | None = None,
    roles: Sequence[str] | None = None,
) -> RoleViewsResult:
    """One schema of views per role (``role_<role>.<table>``), generated from the policy.

    Needs no key: keyed outputs were materialised by the masked-table builds. A table whose masked
    table does not exist yet is skipped (and named in the result).
    """
    views: list[str] = []
    skipped: dict[str, str] = {}
    for table in tables or list(policy.tables):
        table_policy = policy.table(table)
        if not relation_exists(conn, table_policy.target):
            skipped[table] = f"{table_policy.target} does not exist yet"
            continue
        for role in roles or list(policy.roles):
            schema = policy.view_schema(role)
            conn.execute(f"create schema if not exists {quote_ident(schema)}")
            view = f"{schema}.{table}"
            conn.execute(f"create or replace view {quote_table(view)} as {role_view_sql(conn, policy, role, table)}")
            views.append(view)
    return RoleViewsResult(tuple(views), skipped)
