"""The masking policy: tags, roles and tables, loaded from ``masking_policy.yaml`` and validated.

A column carries tags; a role maps every tag to an operator; a column with several tags gets the
operator of its highest-priority tag. Validation fails loudly (``PolicyError``) on anything the
builders could not apply: an unknown operator, tag or key, a role missing a tag, shared priorities.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[2] / "masking_policy.yaml"

OPERATORS = ("hmac", "bucket_quarter", "partial", "redact", "pass")
PARTIAL_STYLES = ("email", "last4", "initial")
NORMALIZERS = ("none", "lower_trim")
UNKNOWN_COLUMN_ACTIONS = ("drop", "pass")
# Operators whose output is stored in masked.<table>_variants for the role views.
STORED_OPERATORS = ("hmac", "bucket_quarter", "partial")

VARIANTS_SUFFIX = "_variants"


class PolicyError(ValueError):
    """The masking policy is invalid; the message names the offending role, tag, column or operator."""


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


_TOP_LEVEL_KEYS = frozenset(
    {"version", "default_role", "token", "tags", "roles", "tables", "redact_text", "view_schema_prefix"}
)
_TAG_KEYS = frozenset({"priority", "partial", "normalize", "description"})
_ROLE_KEYS = frozenset({"operators", "description"})
_TOKEN_KEYS = frozenset({"prefix", "hex_chars"})
_TABLE_KEYS = frozenset({"source", "target", "key", "latest_by", "columns", "unknown_columns"})


def parse_policy(raw: Any, origin: str = "<policy>") -> Policy:
    """Validate a policy mapping (as loaded from YAML) into a ``Policy``."""
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{origin}: the policy must be a mapping, got {type(raw).__name__}")
    _reject_unknown(raw, _TOP_LEVEL_KEYS, f"{origin}: unknown top-level key")
    tags = _parse_tags(_mapping(raw.get("tags"), f"{origin}: tags"), origin)
    roles_raw = _mapping(raw.get("roles"), f"{origin}: roles")
    roles = {str(name): _parse_role(name, spec, tags, origin) for name, spec in roles_raw.items()}
    default_role = raw.get("default_role")
    if default_role not in roles:
        raise PolicyError(f"default_role {default_role!r} is not a defined role; roles: {sorted(roles)}")
    prefix, hex_chars = _parse_token(_mapping(raw.get("token", {}), f"{origin}: token"))
    tables_raw = _mapping(raw.get("tables"), f"{origin}: tables")
    tables = {str(name): _parse_table(name, spec, tags, origin) for name, spec in tables_raw.items()}
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


def _parse_tags(tags_raw: Mapping[str, Any], origin: str) -> dict[str, Tag]:
    """Every tag, with distinct priorities so a column with several tags has one operator."""
    tags = {str(name): _parse_tag(name, spec, origin) for name, spec in tags_raw.items()}
    by_priority: dict[int, str] = {}
    for tag in tags.values():
        if tag.priority in by_priority:
            raise PolicyError(
                f"tags {by_priority[tag.priority]!r} and {tag.name!r} share priority {tag.priority}; "
                "priorities must be distinct so a column with several tags has one operator"
            )
        by_priority[tag.priority] = tag.name
    return tags


def _parse_tag(name: Any, spec: Any, origin: str) -> Tag:
    spec = _mapping(spec, f"{origin}: tag {name!r}")
    _reject_unknown(spec, _TAG_KEYS, f"tag {name!r}: unknown key")
    priority = spec.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise PolicyError(f"tag {name!r}: priority must be an integer, got {priority!r}")
    partial = spec.get("partial", "initial")
    if partial not in PARTIAL_STYLES:
        raise PolicyError(f"tag {name!r}: unknown partial style {partial!r}; allowed: {', '.join(PARTIAL_STYLES)}")
    normalize = spec.get("normalize", "none")
    if normalize not in NORMALIZERS:
        raise PolicyError(f"tag {name!r}: unknown normalizer {normalize!r}; allowed: {', '.join(NORMALIZERS)}")
    return Tag(str(name), priority, partial, normalize, str(spec.get("description", "")))


def _parse_role(name: Any, spec: Any, tags: Mapping[str, Tag], origin: str) -> Role:
    """A role gives a known operator for every tag, and its name can name a schema."""
    spec = _mapping(spec, f"{origin}: role {name!r}")
    _reject_unknown(spec, _ROLE_KEYS, f"role {name!r}: unknown key")
    operators = _mapping(spec.get("operators"), f"role {name!r}: operators")
    for tag_name, operator in operators.items():
        if tag_name not in tags:
            raise PolicyError(f"role {name!r} names unknown tag {tag_name!r}; known tags: {sorted(tags)}")
        if operator not in OPERATORS:
            raise PolicyError(
                f"role {name!r}: unknown operator {operator!r} for tag {tag_name!r}; allowed: {', '.join(OPERATORS)}"
            )
    missing = [t for t in tags if t not in operators]
    if missing:
        raise PolicyError(f"role {name!r} gives no operator for tag(s) {', '.join(missing)}")
    if not str(name).replace("_", "").isalnum():
        raise PolicyError(f"role name {name!r} must be letters, digits and underscores (it names a schema)")
    return Role(str(name), dict(operators), str(spec.get("description", "")))


def _parse_token(token: Mapping[str, Any]) -> tuple[str, int]:
    """The token format: (prefix, number of hex characters kept)."""
    _reject_unknown(token, _TOKEN_KEYS, "token: unknown key")
    prefix = str(token.get("prefix", "tok_"))
    hex_chars = token.get("hex_chars", 20)
    if isinstance(hex_chars, bool) or not isinstance(hex_chars, int) or not 16 <= hex_chars <= 64:
        raise PolicyError(f"token.hex_chars must be an integer between 16 and 64, got {hex_chars!r}")
    return prefix, hex_chars


def _parse_table(name: Any, spec: Any, tags: Mapping[str, Tag], origin: str) -> TablePolicy:
    spec = _mapping(spec, f"{origin}: table {name!r}")
    _reject_unknown(spec, _TABLE_KEYS, f"table {name!r}: unknown key")
    columns = _parse_columns(name, _mapping(spec.get("columns"), f"table {name!r}: columns"), tags)
    key = spec.get("key")
    if key not in columns:
        raise PolicyError(f"table {name!r}: key {key!r} must be one of its listed columns")
    latest_by = tuple(spec.get("latest_by") or ())
    for column in (key, *latest_by):
        if columns.get(column):
            raise PolicyError(f"table {name!r}: {column!r} identifies rows (key or version) and cannot carry PII tags")
    unknown = spec.get("unknown_columns", "drop")
    if unknown not in UNKNOWN_COLUMN_ACTIONS:
        raise PolicyError(
            f"table {name!r}: unknown_columns must be one of {', '.join(UNKNOWN_COLUMN_ACTIONS)}, got {unknown!r}"
        )
    for attr in ("source", "target"):
        if not isinstance(spec.get(attr), str) or "." not in spec[attr]:
            raise PolicyError(f"table {name!r}: {attr} must be 'schema.table', got {spec.get(attr)!r}")
    return TablePolicy(str(name), spec["source"], spec["target"], str(key), latest_by, columns, unknown)


def _parse_columns(table: Any, columns_raw: Mapping[str, Any], tags: Mapping[str, Tag]) -> dict[str, tuple[str, ...]]:
    """Column -> its tags (none, one as a string, or a list), every tag known."""
    columns: dict[str, tuple[str, ...]] = {}
    for column, column_tags in columns_raw.items():
        column_tags = [] if column_tags is None else column_tags
        if isinstance(column_tags, str):
            column_tags = [column_tags]
        for tag_name in column_tags:
            if tag_name not in tags:
                raise PolicyError(
                    f"table {table!r} column {column!r}: unknown tag {tag_name!r}; known tags: {sorted(tags)}"
                )
        columns[str(column)] = tuple(column_tags)
    return columns


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise PolicyError(f"{where} must be a non-empty mapping")
    return value


def _reject_unknown(spec: Mapping[str, Any], allowed: Collection[str], message: str) -> None:
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise PolicyError(f"{message} {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
