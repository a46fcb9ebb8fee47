"""DuckDB SQL helpers shared by masking, profiling, quality and the connector engine's writer.

Quoting for SQL text built in Python (identifiers, ``schema.table`` names, string literals),
catalog look-ups, and the transaction wrapper every multi-statement write goes through.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb


def quote_ident(name: str) -> str:
    """An identifier in double quotes, embedded double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_table(name: str) -> str:
    """``schema.table`` (or a bare table) with each part quoted."""
    return ".".join(quote_ident(part) for part in name.split("."))


def literal(text: str) -> str:
    """A string literal in single quotes, embedded single quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def literal_list(values: Sequence[str]) -> str:
    """``('a', 'b')``: string literals for an ``in`` list."""
    return "(" + ", ".join(literal(v) for v in values) + ")"


def nullable_literal(value: str | None) -> str:
    """``literal(value)``, or the SQL ``null`` for None (state values that may be absent)."""
    return "null" if value is None else literal(value)


def is_text_type(dtype: str) -> bool:
    """A DuckDB text type (``VARCHAR``, with or without a collation)."""
    return dtype.upper().startswith("VARCHAR")


def is_temporal_type(dtype: str) -> bool:
    """A DuckDB date or timestamp type (with or without a time zone or precision)."""
    upper = dtype.upper()
    return upper == "DATE" or upper.startswith("TIMESTAMP")


def table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(name, type) of a table or view, in order; empty when it does not exist."""
    schema, _, name = table.rpartition(".")
    rows = conn.execute(
        """
        select column_name, data_type from information_schema.columns
        where table_name = ? and (? = '' or table_schema = ?)
        order by ordinal_position
        """,
        [name, schema, schema],
    ).fetchall()
    return [(str(n), str(t)) for n, t in rows]


def relation_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether a table or view ``schema.table`` (or a bare name, in any schema) exists."""
    return bool(table_columns(conn, table))


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether a base table (not a view) exists in ``schema`` of the current database."""
    return bool(
        conn.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def first_row(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None) -> tuple[Any, ...]:
    """The first row of a query, fetching all of it (DuckDB 2 refuses new work while a result is open)."""
    return tuple(conn.execute(sql, params).fetchall()[0])


def in_transaction(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether an explicit transaction is open on ``conn``."""
    # In auto-commit mode every statement is its own transaction; inside an explicit one two
    # statements share an id. (A failed BEGIN would abort the caller's transaction, so no probing.)
    first = first_row(conn, "select current_transaction_id()")[0]
    return bool(first == first_row(conn, "select current_transaction_id()")[0])


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction around a block, or the caller's when one is already open (then the
    caller commits or rolls back)."""
    if in_transaction(conn):
        yield
        return
    conn.execute("begin transaction")
    try:
        yield
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def ensure_schema(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create the schema of ``schema.table`` if it is missing (nothing for a bare table name)."""
    schema, _, _ = table.rpartition(".")
    if schema:
        conn.execute(f"create schema if not exists {quote_ident(schema)}")
