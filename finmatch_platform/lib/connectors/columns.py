"""Columns of a synced table: Arrow arrays built from JSON values, types inferred and widened.

A field the table has not seen becomes a column typed from its values (BOOLEAN, BIGINT, DOUBLE,
DATE, TIMESTAMP[TZ], else VARCHAR; objects and arrays kept as JSON text). A value that does not
fit its column widens the column (BIGINT to DOUBLE, anything else to VARCHAR), as Fivetran
does: the warehouse keeps every value and the models cast what they need.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

TS_UTC = pa.timestamp("us", tz="UTC")
TS_NAIVE = pa.timestamp("us")
TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_TS_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?")
_TZ_SUFFIX = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)")
_NUMERIC = {"DOUBLE": pa.float64(), "INTEGER": pa.int32(), "BIGINT": pa.int64()}
_NUMBER_LIKE = (pa.null(), pa.int64(), pa.float64())

ARROW_TO_SQL = {
    pa.string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.float64(): "DOUBLE",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    TS_UTC: TIMESTAMPTZ,
}


def sql_columns(schema: pa.Schema, skip: Sequence[str] = ()) -> dict[str, str]:
    """A declared source's column types from its Arrow schema."""
    return {f.name: ARROW_TO_SQL[f.type] for f in schema if f.name not in skip}


class DoesNotFit(ValueError):
    pass


def strict_array(values: Sequence[Any], sql_type: str) -> pa.Array:
    """An Arrow array of the column's type; raises DoesNotFit if a value does not convert."""
    try:
        if sql_type == "VARCHAR":
            return pa.array(values, pa.string())
        if sql_type in _NUMERIC:
            # Infer, then cast safely: pa.array(values, int32) would silently truncate 1.5 to 1,
            # and pa.array(values, float64) would take True as 1.0.
            array = pa.array(values)
            if array.type not in _NUMBER_LIKE:
                raise DoesNotFit(f"{array.type} values are not {sql_type}")
            return array.cast(_NUMERIC[sql_type])
        if sql_type == "BOOLEAN":
            return pa.array(values, pa.bool_())
        if sql_type == "DATE":
            return pa.array(values, pa.string()).cast(pa.date32())
        if sql_type == TIMESTAMPTZ:
            return pa.array(values, pa.string()).cast(TS_UTC)
        if sql_type == "TIMESTAMP":
            return pa.array(values, pa.string()).cast(TS_NAIVE)
        # A type this engine never creates (someone altered the table): let DuckDB cast text.
        return pa.array([None if v is None else as_text(v) for v in values], pa.string())
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        pa.ArrowNotImplementedError,
        TypeError,
        ValueError,
        OverflowError,
    ) as exc:
        raise DoesNotFit(str(exc)) from None


def as_text(value: Any) -> str:
    """Text for a VARCHAR cell: a string as it is, anything else as its JSON."""
    return value if isinstance(value, str) else json_text(value)


def json_text(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode("utf-8")
    except TypeError:  # an integer past 64 bits, which only the standard encoder writes
        return json.dumps(value, default=str)


def infer_sql_type(values: Sequence[Any]) -> str:
    """The DuckDB type for a new field, from the JSON values seen for it."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return "VARCHAR"  # only nulls so far: text is the one type every later value fits
    if kinds == {bool}:
        return "BOOLEAN"
    if kinds == {int}:
        return "BIGINT" if all(-(2**63) <= v < 2**63 for v in values if v is not None) else "VARCHAR"
    if kinds <= {int, float}:
        return "DOUBLE"
    if kinds == {str}:
        texts = [v for v in values if v is not None]
        if all(_DATE_TEXT.fullmatch(v) for v in texts):
            return "DATE" if fits(texts, "DATE") else "VARCHAR"
        if all(_TS_TEXT.match(v) for v in texts):
            rests = [v[_TS_TEXT.match(v).end() :] for v in texts]  # type: ignore[union-attr]
            if all(_TZ_SUFFIX.fullmatch(r) for r in rests):
                return TIMESTAMPTZ if fits(texts, TIMESTAMPTZ) else "VARCHAR"
            if all(r == "" for r in rests):
                return "TIMESTAMP" if fits(texts, "TIMESTAMP") else "VARCHAR"
    return "VARCHAR"


def fits(values: list[Any], sql_type: str) -> bool:
    try:
        strict_array(values, sql_type)
    except DoesNotFit:
        return False
    return True


def widen(current: str, values: Sequence[Any]) -> str:
    """The type a column must become to hold ``values`` as well."""
    if current in ("BIGINT", "INTEGER") and infer_sql_type(values) in ("BIGINT", "DOUBLE"):
        return "DOUBLE"
    return "VARCHAR"


@dataclass
class Column:
    name: str
    sql_type: str
    json: bool = False  # a nested object the source declares: always stored as JSON text

    def build(self, values: Sequence[Any]) -> pa.Array:
        if self.json:
            return pa.array([None if v is None else as_text(v) for v in values], pa.string())
        if self.sql_type == "VARCHAR":
            # Text takes anything; objects, arrays, numbers and booleans are kept as JSON text.
            try:
                return pa.array(values, pa.string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return pa.array([None if v is None else as_text(v) for v in values], pa.string())
        return strict_array(values, self.sql_type)
