"""Policy-driven masking of PII inside DuckDB: tokens, buckets, partial masks and role views.

Everything is set-based SQL run by DuckDB; Python only builds the statements. The policy lives
in ``finmatch_platform/masking_policy.yaml`` (its header documents the design); this module
loads and validates it, and builds:

* ``masked.<table>``: the newest version of every record masked for the default role, quarantined
  versions excluded (``build_masked_customers``, ``build_masked_fpr``);
* ``masked.<table>_variants``: the row key plus every other operator output a role needs
  (tokens, buckets, partial masks; never a raw value);
* ``role_<role>.<table>``: one view per role and table, projections of the two tables above and,
  for pass-through columns, the raw table (``build_role_views``). No view holds key material.

HMAC-SHA256 in SQL: DuckDB has ``sha256`` over BLOBs but no keyed hash, so the standard
construction ``H((K ^ opad) || H((K ^ ipad) || m))`` is spelled out with the two key blocks
bound as statement parameters (never written into the SQL text). The bulk builds call the same
HMAC as a vectorised DuckDB function instead (``finmatch_hmac_sha256``, registered per
connection by ``register_hmac_function``): C over each Arrow vector of values, with the CPU's SHA
extensions, about five times less CPU than four software-SHA blocks a value in SQL. Same key
blocks, same bytes in, same tokens out. ``token()`` is the Python reference the tests compare
both against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from finmatch_platform.lib.quarantine import QUARANTINE_TABLE

try:  # built by `pip install -e .` (setup.py); without it tokens are computed in plain SQL
    from finmatch_platform.lib import _hmac_sha256
except ImportError:  # pragma: no cover - a machine without a C compiler
    _hmac_sha256 = None

DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[1] / "masking_policy.yaml"
KEY_ENV_VAR = "FINMATCH_MASKING_KEY"
# A short key can be brute-forced from a single known (value, token) pair.
MIN_KEY_BYTES = 16

OPERATORS = ("hmac", "bucket_quarter", "partial", "redact", "pass")
PARTIAL_STYLES = ("email", "last4", "initial")
NORMALIZERS = ("none", "lower_trim")
UNKNOWN_COLUMN_ACTIONS = ("drop", "pass")
# Operators whose output is stored in masked.<table>_variants for the role views.
STORED_OPERATORS = ("hmac", "bucket_quarter", "partial")

VARIANTS_SUFFIX = "_variants"

# Tokenise a column through a dictionary of its distinct values (one HMAC per distinct value and
# a hash join) when it has fewer distinct values than this share of rows: names, postcodes and
# dates of birth repeat a lot, and the HMAC (four SHA-256 blocks) is the expensive part.
_DICTIONARY_MAX_DISTINCT_SHARE = 0.5
# Below this many rows the plain per-row form is fast enough and the cardinality probe is skipped.
_DICTIONARY_MIN_ROWS = 50_000

# How timestamps are tokenised (Python and DuckDB share these strftime formats).
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
_TS_TZ_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"
_IPAD_PARAM = "finmatch_hmac_ipad"
_OPAD_PARAM = "finmatch_hmac_opad"
_BLOCK_BYTES = 64
HMAC_FUNCTION = "finmatch_hmac_sha256"
# Unicode category Zs: what DuckDB's trim() removes.
_SPACE_SEPARATORS = " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"


class PolicyError(ValueError):
    """The masking policy is invalid; the message names the offending role, tag, column or operator."""


class MaskingKeyError(ValueError):
    """The HMAC key is missing, empty or too short (its value is never part of the message)."""


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    name: str
    priority: int
    partial: str = "initial"
    normalize: str = "none"
    description: str = ""


@dataclass(frozen=True)
class Role:
    name: str
    operators: Mapping[str, str]  # tag -> operator
    description: str = ""


@dataclass(frozen=True)
class TablePolicy:
    name: str
    source: str
    target: str
    key: str
    latest_by: tuple[str, ...]
    columns: Mapping[str, tuple[str, ...]]  # every known column -> its tags ([] = not PII)
    unknown_columns: str = "drop"

    @property
    def variants_table(self) -> str:
        return self.target + VARIANTS_SUFFIX

    @property
    def version_column(self) -> str | None:
        return self.latest_by[0] if self.latest_by else None

    @property
    def tagged_columns(self) -> tuple[str, ...]:
        return tuple(c for c, tags in self.columns.items() if tags)


@dataclass(frozen=True)
class Policy:
    version: int
    default_role: str
    token_prefix: str
    token_hex_chars: int
    redact_text: str
    view_schema_prefix: str
    tags: Mapping[str, Tag]
    roles: Mapping[str, Role]
    tables: Mapping[str, TablePolicy]

    def table(self, name: str) -> TablePolicy:
        if name not in self.tables:
            raise PolicyError(f"table {name!r} is not in the masking policy; known: {sorted(self.tables)}")
        return self.tables[name]

    def role(self, name: str) -> Role:
        if name not in self.roles:
            raise PolicyError(f"unknown role {name!r}; the policy defines {sorted(self.roles)}")
        return self.roles[name]

    def governing_tag(self, table: str, column: str) -> Tag | None:
        """The highest-priority tag of a column, or None for an untagged column."""
        tags = self.table(table).columns.get(column, ())
        if not tags:
            return None
        return max((self.tags[t] for t in tags), key=lambda t: t.priority)

    def operator(self, role: str, table: str, column: str) -> str:
        """The operator a role applies to a column (``pass`` for untagged columns)."""
        tag = self.governing_tag(table, column)
        return "pass" if tag is None else self.role(role).operators[tag.name]

    def view_schema(self, role: str) -> str:
        return f"{self.view_schema_prefix}{self.role(role).name}"


def pii_columns(policy: Policy, table: str) -> frozenset[str]:
    """Columns of a table that carry at least one tag: profiles skip their min/max/top values."""
    return frozenset(policy.table(table).tagged_columns)


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate the policy file (the repository's ``masking_policy.yaml`` by default)."""
    policy_path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    with policy_path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return parse_policy(raw, origin=str(policy_path))


def parse_policy(raw: Any, origin: str = "<policy>") -> Policy:
    """Validate a policy mapping (as loaded from YAML) into a ``Policy``."""
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{origin}: the policy must be a mapping, got {type(raw).__name__}")
    allowed_top = {
        "version",
        "default_role",
        "token",
        "tags",
        "roles",
        "tables",
        "redact_text",
        "view_schema_prefix",
    }
    _reject_unknown(raw, allowed_top, f"{origin}: unknown top-level key")

    tags_raw = _mapping(raw.get("tags"), f"{origin}: tags")
    tags: dict[str, Tag] = {}
    for name, spec in tags_raw.items():
        spec = _mapping(spec, f"{origin}: tag {name!r}")
        _reject_unknown(spec, {"priority", "partial", "normalize", "description"}, f"tag {name!r}: unknown key")
        priority = spec.get("priority")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise PolicyError(f"tag {name!r}: priority must be an integer, got {priority!r}")
        partial = spec.get("partial", "initial")
        if partial not in PARTIAL_STYLES:
            raise PolicyError(f"tag {name!r}: unknown partial style {partial!r}; allowed: {', '.join(PARTIAL_STYLES)}")
        normalize = spec.get("normalize", "none")
        if normalize not in NORMALIZERS:
            raise PolicyError(f"tag {name!r}: unknown normalizer {normalize!r}; allowed: {', '.join(NORMALIZERS)}")
        tags[str(name)] = Tag(str(name), priority, partial, normalize, str(spec.get("description", "")))
    by_priority: dict[int, str] = {}
    for tag in tags.values():
        if tag.priority in by_priority:
            raise PolicyError(
                f"tags {by_priority[tag.priority]!r} and {tag.name!r} share priority {tag.priority}; "
                "priorities must be distinct so a column with several tags has one operator"
            )
        by_priority[tag.priority] = tag.name

    roles_raw = _mapping(raw.get("roles"), f"{origin}: roles")
    roles: dict[str, Role] = {}
    for name, spec in roles_raw.items():
        spec = _mapping(spec, f"{origin}: role {name!r}")
        _reject_unknown(spec, {"operators", "description"}, f"role {name!r}: unknown key")
        operators = _mapping(spec.get("operators"), f"role {name!r}: operators")
        for tag_name, operator in operators.items():
            if tag_name not in tags:
                raise PolicyError(f"role {name!r} names unknown tag {tag_name!r}; known tags: {sorted(tags)}")
            if operator not in OPERATORS:
                raise PolicyError(
                    f"role {name!r}: unknown operator {operator!r} for tag {tag_name!r}; "
                    f"allowed: {', '.join(OPERATORS)}"
                )
        missing = [t for t in tags if t not in operators]
        if missing:
            raise PolicyError(f"role {name!r} gives no operator for tag(s) {', '.join(missing)}")
        if not str(name).replace("_", "").isalnum():
            raise PolicyError(f"role name {name!r} must be letters, digits and underscores (it names a schema)")
        roles[str(name)] = Role(str(name), dict(operators), str(spec.get("description", "")))

    default_role = raw.get("default_role")
    if default_role not in roles:
        raise PolicyError(f"default_role {default_role!r} is not a defined role; roles: {sorted(roles)}")

    token = _mapping(raw.get("token", {}), f"{origin}: token")
    _reject_unknown(token, {"prefix", "hex_chars"}, "token: unknown key")
    prefix = str(token.get("prefix", "tok_"))
    hex_chars = token.get("hex_chars", 20)
    if isinstance(hex_chars, bool) or not isinstance(hex_chars, int) or not 16 <= hex_chars <= 64:
        raise PolicyError(f"token.hex_chars must be an integer between 16 and 64, got {hex_chars!r}")

    tables_raw = _mapping(raw.get("tables"), f"{origin}: tables")
    tables: dict[str, TablePolicy] = {}
    for name, spec in tables_raw.items():
        spec = _mapping(spec, f"{origin}: table {name!r}")
        _reject_unknown(
            spec, {"source", "target", "key", "latest_by", "columns", "unknown_columns"}, f"table {name!r}: unknown key"
        )
        columns_raw = _mapping(spec.get("columns"), f"table {name!r}: columns")
        columns: dict[str, tuple[str, ...]] = {}
        for column, column_tags in columns_raw.items():
            column_tags = [] if column_tags is None else column_tags
            if isinstance(column_tags, str):
                column_tags = [column_tags]
            for tag_name in column_tags:
                if tag_name not in tags:
                    raise PolicyError(
                        f"table {name!r} column {column!r}: unknown tag {tag_name!r}; known tags: {sorted(tags)}"
                    )
            columns[str(column)] = tuple(column_tags)
        key = spec.get("key")
        if key not in columns:
            raise PolicyError(f"table {name!r}: key {key!r} must be one of its listed columns")
        latest_by = tuple(spec.get("latest_by") or ())
        for column in (key, *latest_by):
            if columns.get(column):
                raise PolicyError(
                    f"table {name!r}: {column!r} identifies rows (key or version) and cannot carry PII tags"
                )
        unknown = spec.get("unknown_columns", "drop")
        if unknown not in UNKNOWN_COLUMN_ACTIONS:
            raise PolicyError(
                f"table {name!r}: unknown_columns must be one of {', '.join(UNKNOWN_COLUMN_ACTIONS)}, got {unknown!r}"
            )
        for attr in ("source", "target"):
            if not isinstance(spec.get(attr), str) or "." not in spec[attr]:
                raise PolicyError(f"table {name!r}: {attr} must be 'schema.table', got {spec.get(attr)!r}")
        tables[str(name)] = TablePolicy(
            str(name), spec["source"], spec["target"], str(key), latest_by, columns, unknown
        )

    return Policy(
        version=int(raw.get("version", 1)),
        default_role=str(default_role),
        token_prefix=prefix,
        token_hex_chars=hex_chars,
        redact_text=str(raw.get("redact_text", "[REDACTED]")),
        view_schema_prefix=str(raw.get("view_schema_prefix", "role_")),
        tags=tags,
        roles=roles,
        tables=tables,
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise PolicyError(f"{where} must be a non-empty mapping")
    return value


def _reject_unknown(spec: Mapping[str, Any], allowed: Collection[str], message: str) -> None:
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise PolicyError(f"{message} {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


# --------------------------------------------------------------------------------------------
# Key and tokens
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KeyBlocks:
    ipad: bytes
    opad: bytes

    def __repr__(self) -> str:  # never show key material in a traceback or a log
        return "_KeyBlocks(<redacted>)"

    def params(self) -> dict[str, bytes]:
        return {_IPAD_PARAM: self.ipad, _OPAD_PARAM: self.opad}


def _key_bytes(key: str | bytes | None) -> bytes:
    if key is None or (isinstance(key, str | bytes) and not key.strip()):
        raise MaskingKeyError(
            f"the masking key is missing or empty: set {KEY_ENV_VAR} to a secret of at least "
            f"{MIN_KEY_BYTES} characters (make run generates a local one)"
        )
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_BYTES:
        raise MaskingKeyError(f"the masking key in {KEY_ENV_VAR} is too short: use at least {MIN_KEY_BYTES} bytes")
    return raw


def _key_blocks(key: str | bytes | None) -> _KeyBlocks:
    raw = _key_bytes(key)
    if len(raw) > _BLOCK_BYTES:  # RFC 2104: longer keys are hashed first
        raw = hashlib.sha256(raw).digest()
    padded = raw.ljust(_BLOCK_BYTES, b"\0")
    return _KeyBlocks(bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded))


def hmac_params(key: str | bytes | None) -> dict[str, bytes]:
    """The statement parameters the token SQL needs (the two HMAC key blocks). Never log them."""
    return _key_blocks(key).params()


def key_id(key: str | bytes | None) -> str:
    """A short keyed fingerprint of the key: equal for the same key, reveals nothing about it."""
    return hmac.new(_key_bytes(key), b"finmatch-masking-key-id", hashlib.sha256).hexdigest()[:12]


def token(
    key: str | bytes | None,
    value: object,
    *,
    prefix: str = "tok_",
    hex_chars: int = 20,
    normalize: str = "none",
) -> str | None:
    """The token the SQL produces for one value: the Python reference implementation.

    Text is hashed as UTF-8; dates as ISO text (YYYY-MM-DD); timestamps with microseconds, in UTC
    when they carry a time zone; ``normalize="lower_trim"`` trims spaces and lower-cases first,
    exactly as DuckDB does.
    NULL stays NULL.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            text = value.astimezone(dt.UTC).strftime(_TS_TZ_FORMAT)
        else:
            text = value.strftime(_TS_FORMAT)
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    if normalize == "lower_trim":
        text = _lower_trim(text)
    digest = hmac.new(_key_bytes(key), text.encode("utf-8"), hashlib.sha256).hexdigest()
    return prefix + digest[:hex_chars]


def _lower_trim(text: str) -> str:
    """DuckDB's ``lower(trim(text))``, which str.strip/str.lower only approximate: trim removes
    every Unicode space separator (no-break and thin spaces too), lower maps one code point to one
    (İ -> i, and Σ -> σ even at the end of a word)."""
    return "".join("i" if ch == "\u0130" else ch.lower() for ch in text.strip(_SPACE_SEPARATORS))


def policy_token(policy: Policy, key: str | bytes | None, tag: str, value: object) -> str | None:
    """``token()`` with the policy's format and the tag's normalisation."""
    return token(
        key,
        value,
        prefix=policy.token_prefix,
        hex_chars=policy.token_hex_chars,
        normalize=policy.tags[tag].normalize,
    )


# --------------------------------------------------------------------------------------------
# SQL building
# --------------------------------------------------------------------------------------------


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_table(name: str) -> str:
    """``schema.table`` (or a bare table) with each part quoted."""
    return ".".join(quote_ident(part) for part in name.split("."))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_text(dtype: str) -> bool:
    return dtype.upper().startswith("VARCHAR")


def _is_temporal(dtype: str) -> bool:
    upper = dtype.upper()
    return upper == "DATE" or upper.startswith("TIMESTAMP")


def version_text_sql(expr: str, dtype: str) -> str:
    """A version value as stable text (timestamps in UTC ISO form), whatever the session time zone."""
    upper = dtype.upper()
    if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"strftime(timezone('UTC', {expr}), '%Y-%m-%dT%H:%M:%S.%fZ')"
    if upper.startswith("TIMESTAMP"):
        return f"strftime({expr}, '%Y-%m-%dT%H:%M:%S.%f')"
    return f"cast({expr} as varchar)"


def _hashable_text(expr: str, dtype: str, normalize: str) -> str:
    """The text a value is tokenised as (must match ``token()``)."""
    upper = dtype.upper()
    if _is_text(dtype):
        text = expr
    elif upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        text = f"strftime(timezone('UTC', {expr}), '{_TS_TZ_FORMAT}')"
    elif upper.startswith("TIMESTAMP"):
        text = f"strftime({expr}, '{_TS_FORMAT}')"
    else:
        text = f"cast({expr} as varchar)"
    return f"lower(trim({text}))" if normalize == "lower_trim" else text


def _hmac_of_text(text_expr: str, policy: Policy, native: bool = False) -> str:
    """The token of ``text_expr``: in plain SQL, or (``native``) through ``finmatch_hmac_sha256``,
    which the connection must have registered (``register_hmac_function``)."""
    if native:
        digest = f"{HMAC_FUNCTION}(${_IPAD_PARAM}, ${_OPAD_PARAM}, {text_expr})"
    else:
        digest = f"sha256(${_OPAD_PARAM} || unhex(sha256(${_IPAD_PARAM} || encode({text_expr}))))"
    return f"({_literal(policy.token_prefix)} || left({digest}, {policy.token_hex_chars}))"


def _hmac_vector(ipad: pa.ChunkedArray, opad: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.Array:
    """The body of ``finmatch_hmac_sha256``: one call per DuckDB vector, the hashing in C."""
    text = values.combine_chunks()
    if text.type != pa.string():
        text = text.cast(pa.string())
    n = len(text)
    if n == 0:
        return pa.array([], pa.string())
    _, offsets, data = text.buffers()
    # The key blocks are statement parameters: every row of a vector carries the same two.
    digests = _hmac_sha256.hex(ipad[0].as_py(), opad[0].as_py(), offsets, data or b"", text.offset, n)
    out = pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(np.arange(0, 64 * (n + 1), 64, dtype=np.int32)), pa.py_buffer(digests)]
    )
    return pc.if_else(text.is_valid(), out, pa.scalar(None, pa.string())) if text.null_count else out


def hmac_engine() -> str:
    """Which HMAC the bulk builds use: "sha-ni" or "portable" (the C function), else "sql"."""
    return "sql" if _hmac_sha256 is None else str(_hmac_sha256.IMPLEMENTATION)


def register_hmac_function(conn: duckdb.DuckDBPyConnection) -> bool:
    """Make ``finmatch_hmac_sha256(ipad, opad, text)`` (hex HMAC-SHA256) callable on ``conn``.

    False when the C extension is not built (the SQL spelling is used then). The function holds
    no key: the key blocks come in as statement parameters, like the SQL spelling's. They must be
    constants: each vector is hashed with the key blocks of its first row.
    """
    if _hmac_sha256 is None:
        return False
    try:
        conn.create_function(
            HMAC_FUNCTION,
            _hmac_vector,
            ["BLOB", "BLOB", "VARCHAR"],
            "VARCHAR",
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
    except duckdb.NotImplementedException as exc:  # registered on this connection already
        if "already" not in str(exc).lower():
            raise
    return True


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
        return _literal(policy.redact_text) if _is_text(dtype) else f"cast(null as {dtype})"
    if operator == "hmac":
        return token_expr or _hmac_of_text(_hashable_text(expr, dtype, tag.normalize), policy)
    if operator == "bucket_quarter":
        if not _is_temporal(dtype):
            raise PolicyError(f"bucket_quarter needs a date or timestamp column; {column!r} is {dtype}")
        return f"cast(date_trunc('quarter', {expr}) as {dtype})"
    if operator == "partial":
        if not _is_text(dtype):
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


def _kept_columns(table: TablePolicy, columns: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    kept, dropped = [], []
    for name, dtype in columns:
        if name in table.columns or table.unknown_columns == "pass":
            kept.append((name, dtype))
        else:
            dropped.append(name)
    return kept, dropped


def masked_select_sql(
    policy: Policy,
    role: str,
    table: str,
    columns: Sequence[tuple[str, str]] | Mapping[str, str],
    key: str | bytes | None = None,
    source: str | None = None,
    dictionary_columns: Collection[str] = (),
    native: bool = False,
) -> MaskedSelect:
    """``select <masked columns> from <source>`` for one role, row by row (no dedupe, no filter).

    ``columns`` are the source's (name, DuckDB type) pairs, in order; columns the policy does not
    list are dropped (or passed, per the table's ``unknown_columns``). ``source`` defaults to the
    table's source and may be any relation (``(select ...)``). The key is needed only when the
    role tokenises something. ``dictionary_columns`` are tokenised once per distinct value and
    joined back (same tokens, faster for repetitive columns). ``native`` uses the C HMAC function,
    which the connection that runs the SQL must have registered (``register_hmac_function``).
    """
    table_policy = policy.table(table)
    role_obj = policy.role(role)
    pairs = list(columns.items()) if isinstance(columns, Mapping) else list(columns)
    kept, dropped = _kept_columns(table_policy, pairs)
    outputs, operators = [], {}
    for name, _dtype in kept:
        tag = policy.governing_tag(table, name) if name in table_policy.columns else None
        operator = "pass" if tag is None else role_obj.operators[tag.name]
        if tag is not None:
            operators[name] = operator
        outputs.append(_Output(name, name, operator, tag))
    exprs, ctes, joins, _ = _select_with_tokens(policy, outputs, dict(pairs), dictionary_columns, "_src", native)
    relation = source or quote_table(table_policy.source)
    sql = (
        f"with {', '.join([f'_src as (select * from {relation})', *ctes])} "
        f"select {', '.join(exprs)} from _src s {' '.join(joins)}"
    )
    params = _key_blocks(key).params() if "hmac" in operators.values() else {}
    return MaskedSelect(sql, params, operators, tuple(dropped))


# --------------------------------------------------------------------------------------------
# Building masked tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskingStats:
    """What one masked-table build did, for asset metadata (counts and names only, no values)."""

    table: str
    role: str
    source: str
    target: str
    variants_table: str | None
    source_rows: int
    rows_written: int
    superseded_versions: int
    quarantined_excluded: int
    operators: Mapping[str, str]
    variant_columns: tuple[str, ...]
    dropped_columns: tuple[str, ...]
    dictionary_columns: tuple[str, ...]
    key_id: str
    seconds: float
    hmac_engine: str = "sql"  # how tokens were computed: "sql", or the C function's "sha-ni"/"portable"

    def as_metadata(self) -> dict[str, object]:
        return {
            "source": self.source,
            "target": self.target,
            "role": self.role,
            "source_rows": self.source_rows,
            "rows_written": self.rows_written,
            "superseded_versions": self.superseded_versions,
            "quarantined_excluded": self.quarantined_excluded,
            "masked_columns": ", ".join(f"{c}: {op}" for c, op in self.operators.items()),
            "variant_columns": ", ".join(self.variant_columns) or "-",
            "dropped_columns": ", ".join(self.dropped_columns) or "-",
            "key_id": self.key_id,
            "hmac_engine": self.hmac_engine,
            "seconds": round(self.seconds, 3),
        }


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


def _in_transaction(conn: duckdb.DuckDBPyConnection) -> bool:
    # In auto-commit mode every statement is its own transaction; inside an explicit one two
    # statements share an id. (A failed BEGIN would abort the caller's transaction, so no probing.)
    first = _one(conn, "select current_transaction_id()")[0]
    return bool(first == _one(conn, "select current_transaction_id()")[0])


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction around a block, or the caller's when one is already open (then the
    caller commits or rolls back)."""
    if _in_transaction(conn):
        yield
        return
    conn.execute("begin transaction")
    try:
        yield
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def _one(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None) -> tuple[Any, ...]:
    """The first row of a query, fetching all of it (DuckDB 2 refuses new work while a result is open)."""
    return tuple(conn.execute(sql, params).fetchall()[0])


def relation_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(table_columns(conn, table))


def _quarantined_versions(conn: duckdb.DuckDBPyConnection, source: str) -> int:
    """How many quarantine entries concern ``source`` (0 when there is no quarantine yet)."""
    names = {n for n, _ in table_columns(conn, QUARANTINE_TABLE)}
    if not {"source_table", "record_key", "record_version"} <= names:
        return 0
    return int(_one(conn, f"select count(*) from {quote_table(QUARANTINE_TABLE)} where source_table = ?", [source])[0])


@dataclass(frozen=True)
class _Probe:
    rows: int
    keys: int  # distinct keys, a NULL key counting as one
    dictionary: frozenset[str]


def _probe(conn: duckdb.DuckDBPyConnection, table: TablePolicy, source: str, hmac_columns: Sequence[str]) -> _Probe:
    """Row and key counts, and which hmac columns repeat enough to be worth tokenising through a
    dictionary of distinct values."""
    src = quote_table(source)
    key = quote_ident(table.key)
    # Two statements on purpose: for a COUNT(DISTINCT) DuckDB first materialises every column the
    # statement reads, so one combined probe copied all the hmac columns and cost twice as much
    # (0.5 vs 0.25 s of CPU per million rows).
    rows, keys = _one(
        conn, f"select count(*), count(distinct {key}) + (count(*) filter (where {key} is null) > 0)::int from {src}"
    )
    if rows < _DICTIONARY_MIN_ROWS or not hmac_columns:
        return _Probe(int(rows), int(keys), frozenset())
    estimates = ", ".join(f"approx_count_distinct({quote_ident(c)})" for c in hmac_columns)
    counts = _one(conn, f"select {estimates} from {src}")
    dictionary = frozenset(
        c for c, d in zip(hmac_columns, counts, strict=True) if d < rows * _DICTIONARY_MAX_DISTINCT_SHARE
    )
    return _Probe(int(rows), int(keys), dictionary)


def _selected_rows_sql(
    table: TablePolicy,
    source: str,
    types: Mapping[str, str],
    dedupe: bool,
    exclude_quarantined: bool,
) -> str | None:
    """The rowids of the rows to mask: newest version per key, quarantined versions left out.

    Only (rowid, key, version) go through the window, so the sort stays narrow; the wide rows are
    then fetched by rowid. None when every row is selected.
    """
    if not (dedupe or exclude_quarantined):
        return None
    src = quote_table(source)
    key = quote_ident(table.key)
    version = table.version_column if table.version_column in types else None
    candidates = f"select rowid as rid, {key} as k{', ' + quote_ident(version) + ' as v' if version else ''} from {src}"
    if dedupe:
        order = [f"{quote_ident(c)} desc nulls last" for c in table.latest_by if c in types]
        # rowid last: among exact ties the row loaded last wins, so reruns pick the same row. Such
        # ties are duplicates, which the blocking uniqueness rule quarantines anyway.
        order.append("rowid desc")
        candidates += f" qualify row_number() over (partition by {key} order by {', '.join(order)}) = 1"
    if not exclude_quarantined:
        return f"select rid from ({candidates})"
    version_match = (
        f"q.record_version is not distinct from {version_text_sql('l.v', types[version])}" if version else "true"
    )
    return (
        f"select rid from ({candidates}) l where not exists (select 1 from {quote_table(QUARANTINE_TABLE)} q "
        f"where q.source_table = {_literal(source)} and q.record_key is not distinct from cast(l.k as varchar) "
        f"and {version_match})"
    )


@dataclass(frozen=True)
class _Output:
    name: str  # output column name
    column: str  # source column
    operator: str
    tag: Tag | None


def _output_type(out: _Output, dtype: str) -> str:
    if out.operator in ("hmac", "partial") or (out.operator == "redact" and _is_text(dtype)):
        return "VARCHAR"
    return dtype


def _select_with_tokens(
    policy: Policy,
    outputs: Sequence[_Output],
    types: Mapping[str, str],
    dictionary: Collection[str],
    source_sql: str,
    native: bool = False,
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Select expressions over ``_src s``, dictionary CTEs and their joins, and column definitions.

    Dictionaries take the distinct values of the whole source (older versions included): a
    superset is harmless and spares recomputing the row selection per dictionary. ``native``
    tokenises through ``finmatch_hmac_sha256`` (registered on the connection that runs the SQL).
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
                    f"{alias} as (select v, {_hmac_of_text('v', policy, native)} as t "
                    f"from (select distinct {text} as v from {source_sql}) where v is not null)"
                )
                joins.append(f"left join {alias} on {alias}.v = {_hashable_text(col, dtype, out.tag.normalize)}")
            token_expr = f"{alias}.t"
        elif out.operator == "hmac":
            token_expr = _hmac_of_text(_hashable_text(col, dtype, out.tag.normalize), policy, native)
            # Near-unique random tokens: DuckDB's string compression finds nothing in them and
            # analysing them costs about a quarter of a second per million values.
            column_def += " using compression uncompressed"
        expr = operator_sql(policy, out.operator, out.tag, out.column, dtype, col, token_expr)
        exprs.append(f"{expr} as {quote_ident(out.name)}")
        columns.append(column_def)
    return exprs, ctes, joins, columns


def _write_table(
    conn: duckdb.DuckDBPyConnection,
    target: str,
    columns: Sequence[str],
    select_sql: str,
    params: Mapping[str, bytes] | None,
) -> None:
    """Replace ``target`` with the rows of ``select_sql`` atomically, with explicit column
    definitions so storage can be chosen per column."""
    with transaction(conn):
        try:
            conn.execute(f"create or replace table {quote_table(target)} ({', '.join(columns)})")
        except duckdb.ParserException:
            # A type DuckDB prints but cannot parse back: let CTAS derive the columns.
            conn.execute(f"create or replace table {quote_table(target)} as {select_sql}", params)
        else:
            conn.execute(f"insert into {quote_table(target)} {select_sql}", params)


def build_masked_table(
    conn: duckdb.DuckDBPyConnection,
    policy: Policy,
    table: str,
    key: str | bytes | None,
    source: str | None = None,
    target: str | None = None,
    exclude_quarantined: bool = True,
    variants: bool = True,
) -> MaskingStats:
    """Write ``target``, the default role's masking of the newest version of every record, and
    (``variants``) the variants table the role views read, each with CREATE OR REPLACE TABLE AS.

    Versions quarantined by a blocking quality rule (in ``meta.quarantine``) are left out. The key
    is checked before anything is written.
    """
    started = time.perf_counter()
    blocks = _key_blocks(key)
    table_policy = policy.table(table)
    source = source or table_policy.source
    target = target or table_policy.target
    variants_table = target + VARIANTS_SUFFIX
    pairs = table_columns(conn, source)
    if not pairs:
        raise ValueError(f"{source} does not exist: load it before masking")
    types = dict(pairs)
    if table_policy.key not in types:
        raise ValueError(f"{source} has no {table_policy.key!r} column, the key of {table}")
    kept, dropped = _kept_columns(table_policy, pairs)

    role = policy.roles[policy.default_role]
    outputs: list[_Output] = []
    operators: dict[str, str] = {}
    for name, _ in kept:
        tag = policy.governing_tag(table, name) if name in table_policy.columns else None
        operator = "pass" if tag is None else role.operators[tag.name]
        if tag is not None:
            operators[name] = operator
        outputs.append(_Output(name, name, operator, tag))

    # Other roles' stored operators go to the variants table the role views read.
    row_id = [c for c in (table_policy.key, table_policy.version_column) if c and c in types]
    variant_outputs: list[_Output] = []
    for name, _ in kept:
        tag = policy.governing_tag(table, name) if name in table_policy.columns else None
        if tag is None:
            continue
        needed = {r.operators[tag.name] for r in policy.roles.values()} & set(STORED_OPERATORS)
        for operator in sorted(needed - {operators[name]}):
            variant_outputs.append(_Output(f"{name}__{operator}", name, operator, tag))
    if not variants:
        variant_outputs = []

    native = register_hmac_function(conn)
    hmac_columns = sorted({o.column for o in (*outputs, *variant_outputs) if o.operator == "hmac"})
    probe = _probe(conn, table_policy, source, hmac_columns)
    quarantined = exclude_quarantined and _quarantined_versions(conn, source) > 0
    # A source with one row per key needs no newest-version window (the opening book, the FPR
    # table upserted by record_id): skipping it saves a sort of every row.
    rows_sql = _selected_rows_sql(table_policy, source, types, probe.rows > probe.keys, quarantined)
    _ensure_schema(conn, target)
    rows_table = f"_finmatch_rows_{table}"
    jobs = [(target, outputs)]
    if variant_outputs:
        jobs.append((variants_table, [_Output(c, c, "pass", None) for c in row_id] + variant_outputs))
    # One transaction: the masked table and its variants are replaced together or not at all.
    with transaction(conn):
        if not variant_outputs:
            conn.execute(f"drop table if exists {quote_table(variants_table)}")
        if rows_sql is None:
            src_cte = f"_src as (select * from {quote_table(source)})"
        else:
            conn.execute(f"create or replace temp table {quote_ident(rows_table)} as {rows_sql}")
            src_cte = f"_src as (select * from {quote_table(source)} where rowid in (select rid from {quote_ident(rows_table)}))"
        params = blocks.params()
        for rel, outs in jobs:
            exprs, dict_ctes, joins, columns = _select_with_tokens(
                policy, outs, types, probe.dictionary, quote_table(source), native
            )
            sql = f"with {', '.join([src_cte, *dict_ctes])} select {', '.join(exprs)} from _src s {' '.join(joins)}"
            _write_table(conn, rel, columns, sql, params if f"${_IPAD_PARAM}" in sql else None)
        conn.execute(f"drop table if exists temp.{quote_ident(rows_table)}")

    rows_written = int(_one(conn, f"select count(*) from {quote_table(target)}")[0])
    return MaskingStats(
        table=table,
        role=role.name,
        source=source,
        target=target,
        variants_table=variants_table if variant_outputs else None,
        source_rows=probe.rows,
        rows_written=rows_written,
        superseded_versions=probe.rows - probe.keys,
        quarantined_excluded=probe.keys - rows_written,
        operators=operators,
        variant_columns=tuple(v.name for v in variant_outputs),
        dropped_columns=tuple(dropped),
        dictionary_columns=tuple(sorted(probe.dictionary)),
        key_id=key_id(key),
        seconds=time.perf_counter() - started,
        hmac_engine=hmac_engine(),
    )


def build_masked_customers(
    conn: duckdb.DuckDBPyConnection,
    policy: Policy,
    key: str | bytes | None,
    source: str = "raw.customers",
    target: str = "masked.customers",
    exclude_quarantined: bool = True,
    variants: bool = True,
) -> MaskingStats:
    """masked.customers: the newest version of each customer, masked for the default role."""
    return build_masked_table(conn, policy, "customers", key, source, target, exclude_quarantined, variants)


def build_masked_fpr(
    conn: duckdb.DuckDBPyConnection,
    policy: Policy,
    key: str | bytes | None,
    source: str = "raw.fpr_records",
    target: str = "masked.fpr_records",
    exclude_quarantined: bool = True,
    variants: bool = True,
) -> MaskingStats:
    """masked.fpr_records: every FPR record (tombstones included, as in raw), masked for the default role."""
    return build_masked_table(conn, policy, "fpr_records", key, source, target, exclude_quarantined, variants)


def _ensure_schema(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    schema, _, _ = table.rpartition(".")
    if schema:
        conn.execute(f"create schema if not exists {quote_ident(schema)}")


# --------------------------------------------------------------------------------------------
# Role views
# --------------------------------------------------------------------------------------------


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
            exprs.append(f"{_literal(policy.redact_text) if _is_text(dtype) else f'cast(null as {dtype})'} as {out}")
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
