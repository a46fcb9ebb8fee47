"""SQL for the masking operators, and the masking SELECT of one role over a table's columns.

Every operator is a SQL expression over a column: ``hmac`` (a keyed token), ``bucket_quarter``
(a date truncated to its quarter), ``partial`` (a partial mask), ``redact`` and ``pass``.
Python only builds the statements; DuckDB runs them set-based.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from finmatch_platform.lib.masking.policy import Policy, PolicyError, Role, TablePolicy, Tag
from finmatch_platform.lib.masking.tokens import _hashable_text, _hmac_of_text, hmac_params
from finmatch_platform.lib.sql import is_temporal_type, is_text_type, literal, quote_ident, quote_table


def version_text_sql(expr: str, dtype: str) -> str:
    """A version value as stable text (timestamps in UTC ISO form), whatever the session time zone."""
    upper = dtype.upper()
    if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"strftime(timezone('UTC', {expr}), '%Y-%m-%dT%H:%M:%S.%fZ')"
    if upper.startswith("TIMESTAMP"):
        return f"strftime({expr}, '%Y-%m-%dT%H:%M:%S.%f')"
    return f"cast({expr} as varchar)"


def _partial_sql(expr: str, style: str) -> str:
    if style == "email":
        at = f"strpos({expr}, '@')"
        return f"(case when {expr} is null then null when {at} > 1 then left({expr}, 1) || '***' || substr({expr}, {at}) else '***' end)"
    if style == "last4":
        return (
            f"(case when {expr} is null then null when length({expr}) > 4 "
            f"then repeat('*', length({expr}) - 4) || right({expr}, 4) else repeat('*', length({expr})) end)"
        )
    return f"(case when {expr} is null then null else left({expr}, 1) || '***' end)"


def operator_sql(
    policy: Policy,
    operator: str,
    tag: Tag,
    column: str,
    dtype: str,
    expr: str,
    token_expr: str | None = None,
) -> str:
    """SQL for one operator applied to ``expr`` (a column of type ``dtype``)."""
    if operator == "pass":
        return expr
    if operator == "redact":
        return literal(policy.redact_text) if is_text_type(dtype) else f"cast(null as {dtype})"
    if operator == "hmac":
        return token_expr or _hmac_of_text(_hashable_text(expr, dtype, tag.normalize), policy)
    if operator == "bucket_quarter":
        if not is_temporal_type(dtype):
            raise PolicyError(f"bucket_quarter needs a date or timestamp column; {column!r} is {dtype}")
        return f"cast(date_trunc('quarter', {expr}) as {dtype})"
    if operator == "partial":
        if not is_text_type(dtype):
            raise PolicyError(f"partial needs a text column; {column!r} is {dtype} (use bucket_quarter or redact)")
        return _partial_sql(expr, tag.partial)
    raise PolicyError(f"unknown operator {operator!r}")


@dataclass(frozen=True)
class MaskedSelect:
    """A masking SELECT and the parameters to bind with it (the key blocks, when tokens are made).

    ``sql`` holds no key material and is safe to log; ``params`` must never be logged.
    """

    sql: str
    params: Mapping[str, bytes]
    operators: Mapping[str, str]  # tagged column -> operator applied
    dropped_columns: tuple[str, ...]

    def __str__(self) -> str:
        return self.sql

    def __repr__(self) -> str:
        return f"MaskedSelect(sql={self.sql!r}, params=<{len(self.params)} redacted>)"


def kept_columns(table: TablePolicy, columns: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The (name, type) pairs the masked output keeps, and the names it drops (unlisted columns
    of a table whose ``unknown_columns`` is ``drop``)."""
    kept, dropped = [], []
    for name, dtype in columns:
        if name in table.columns or table.unknown_columns == "pass":
            kept.append((name, dtype))
        else:
            dropped.append(name)
    return kept, dropped


@dataclass(frozen=True)
class MaskOutput:
    """One output column: a source column through one operator (``tag`` None: not PII)."""

    name: str  # output column name
    column: str  # source column
    operator: str
    tag: Tag | None


def _output_type(out: MaskOutput, dtype: str) -> str:
    if out.operator in ("hmac", "partial") or (out.operator == "redact" and is_text_type(dtype)):
        return "VARCHAR"
    return dtype


def role_outputs(
    policy: Policy, role: Role, table: str, kept: Sequence[tuple[str, str]]
) -> tuple[list[MaskOutput], dict[str, str]]:
    """The output of each kept column for ``role``, and the operator it applies to each tagged column."""
    table_policy = policy.table(table)
    outputs: list[MaskOutput] = []
    operators: dict[str, str] = {}
    for name, _dtype in kept:
        tag = policy.governing_tag(table, name) if name in table_policy.columns else None
        operator = "pass" if tag is None else role.operators[tag.name]
        if tag is not None:
            operators[name] = operator
        outputs.append(MaskOutput(name, name, operator, tag))
    return outputs, operators


def select_with_tokens(
    policy: Policy,
    outputs: Sequence[MaskOutput],
    types: Mapping[str, str],
    dictionary: Collection[str],
    source_sql: str,
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Select expressions over ``_src s``, dictionary CTEs and their joins, and column definitions.

    Dictionaries take the distinct values of the whole source (older versions included): a
    superset is harmless and spares recomputing the row selection per dictionary.
    """
    exprs: list[str] = []
    ctes: list[str] = []
    joins: list[str] = []
    columns: list[str] = []
    dict_alias: dict[str, str] = {}
    for out in outputs:
        col = "s." + quote_ident(out.column)
        dtype = types[out.column]
        column_def = f"{quote_ident(out.name)} {_output_type(out, dtype)}"
        if out.tag is None or out.operator == "pass":
            exprs.append(f"{col} as {quote_ident(out.name)}")
            columns.append(column_def)
            continue
        token_expr = None
        if out.operator == "hmac" and out.column in dictionary:
            alias = dict_alias.get(out.column)
            if alias is None:
                alias = f"_tok_{len(dict_alias)}"
                dict_alias[out.column] = alias
                text = _hashable_text(quote_ident(out.column), dtype, out.tag.normalize)
                ctes.append(
                    f"{alias} as (select v, {_hmac_of_text('v', policy)} as t "
                    f"from (select distinct {text} as v from {source_sql}) where v is not null)"
                )
                joins.append(f"left join {alias} on {alias}.v = {_hashable_text(col, dtype, out.tag.normalize)}")
            token_expr = f"{alias}.t"
        elif out.operator == "hmac":
            token_expr = _hmac_of_text(_hashable_text(col, dtype, out.tag.normalize), policy)
            # Near-unique random tokens: DuckDB's string compression finds nothing in them, and
            # analysing them for it is not free.
            column_def += " using compression uncompressed"
        expr = operator_sql(policy, out.operator, out.tag, out.column, dtype, col, token_expr)
        exprs.append(f"{expr} as {quote_ident(out.name)}")
        columns.append(column_def)
    return exprs, ctes, joins, columns


def masked_select_sql(
    policy: Policy,
    role: str,
    table: str,
    columns: Sequence[tuple[str, str]] | Mapping[str, str],
    key: str | bytes | None = None,
    source: str | None = None,
    dictionary_columns: Collection[str] = (),
) -> MaskedSelect:
    """``select <masked columns> from <source>`` for one role, row by row (no dedupe, no filter).

    ``columns`` are the source's (name, DuckDB type) pairs, in order; columns the policy does not
    list are dropped (or passed, per the table's ``unknown_columns``). ``source`` defaults to the
    table's source and may be any relation (``(select ...)``). The key is needed only when the
    role tokenises something. ``dictionary_columns`` are tokenised once per distinct value and
    joined back (same tokens, faster for repetitive columns).
    """
    table_policy = policy.table(table)
    role_obj = policy.role(role)
    pairs = list(columns.items()) if isinstance(columns, Mapping) else list(columns)
    kept, dropped = kept_columns(table_policy, pairs)
    outputs, operators = role_outputs(policy, role_obj, table, kept)
    exprs, ctes, joins, _ = select_with_tokens(policy, outputs, dict(pairs), dictionary_columns, "_src")
    relation = source or quote_table(table_policy.source)
    sql = (
        f"with {', '.join([f'_src as (select * from {relation})', *ctes])} "
        f"select {', '.join(exprs)} from _src s {' '.join(joins)}"
    )
    params = hmac_params(key) if "hmac" in operators.values() else {}
    return MaskedSelect(sql, params, operators, tuple(dropped))
