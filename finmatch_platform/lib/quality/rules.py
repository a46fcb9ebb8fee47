"""The rule model: a validation rule as SQL over the checked rows of a raw table, and builders
for the common kinds (ids, names, accepted values, ranges)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from finmatch_platform.lib.sql import literal, literal_list, quote_ident

BLOCKING = "blocking"
WARNING = "warning"
MAX_NAME_CHARS = 35

# Letters (any script), then letters, spaces, apostrophes, hyphens and dots.
NAME_PATTERN = r"[\p{L}][\p{L} .'\-]*"


@dataclass(frozen=True)
class Rule:
    """One validation rule, as SQL over the checked rows of a raw table.

    ``missing_sql`` is true when a required value is absent; ``invalid_sql`` when a value that
    is present breaks the rule; ``unique_by`` columns must be unique over the checked rows. The
    reasons name columns and the rule, never a value.
    """

    name: str
    severity: str
    description: str
    columns: tuple[str, ...]
    missing_sql: str | None = None
    invalid_sql: str | None = None
    unique_by: tuple[str, ...] = ()
    missing_reason: str = "required value missing"
    invalid_reason: str = "invalid value"
    duplicate_reason: str = "duplicate key"

    def __post_init__(self) -> None:
        if self.severity not in (BLOCKING, WARNING):
            raise ValueError(f"rule {self.name}: severity must be {BLOCKING!r} or {WARNING!r}, got {self.severity!r}")
        if not (self.missing_sql or self.invalid_sql or self.unique_by):
            raise ValueError(f"rule {self.name} checks nothing")

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING


@dataclass(frozen=True)
class RuleSet:
    """The rules of one raw table and which of its rows they check.

    ``scope``: ``latest_versions`` checks every row at the newest version of its key (ties
    included, so duplicates show); ``live`` skips tombstones (``_deleted``); ``all`` checks every row.
    """

    name: str
    source: str
    key: str
    version: str | None
    scope: str
    policy_table: str  # the masking-policy table used to mask quarantine payloads
    load_marker: str | None  # column whose max() names a load when no load_id is given
    rules: tuple[Rule, ...]

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"{self.name} has no rule {name!r}; rules: {[r.name for r in self.rules]}")

    def subset(self, names: Sequence[str]) -> RuleSet:
        return RuleSet(
            self.name,
            self.source,
            self.key,
            self.version,
            self.scope,
            self.policy_table,
            self.load_marker,
            tuple(self.rule(n) for n in names),
        )


def blank_sql(column: str) -> str:
    """True when ``column`` is null or only spaces."""
    c = quote_ident(column)
    return f"({c} is null or trim(cast({c} as varchar)) = '')"


def id_rule(
    name: str, column: str, pattern: str, description: str, severity: str = BLOCKING, unique: bool = True
) -> Rule:
    c = quote_ident(column)
    return Rule(
        name,
        severity,
        description,
        (column,),
        missing_sql=blank_sql(column),
        invalid_sql=f"{c} is not null and trim({c}) <> '' and not regexp_full_match({c}, {literal(pattern)})",
        unique_by=(column,) if unique else (),
        missing_reason=f"{column} is missing",
        invalid_reason=f"{column} does not match {pattern}",
        duplicate_reason=f"{column} is not unique",
    )


def name_rule(name: str, column: str, severity: str = WARNING) -> Rule:
    c = quote_ident(column)
    return Rule(
        name,
        severity,
        f"{column} has only letters, spaces, apostrophes, hyphens and dots, and at most {MAX_NAME_CHARS} characters",
        (column,),
        invalid_sql=(
            f"{c} is not null and (not regexp_full_match({c}, {literal(NAME_PATTERN)}) or length({c}) > {MAX_NAME_CHARS})"
        ),
        invalid_reason=(
            f"{column} has characters other than letters, spaces, apostrophes, hyphens or dots, "
            f"or more than {MAX_NAME_CHARS} characters"
        ),
    )


def accepted_values_rule(column: str, values: Sequence[str], severity: str = WARNING, name: str | None = None) -> Rule:
    c = quote_ident(column)
    return Rule(
        name or f"{column}_accepted_values",
        severity,
        f"{column} is one of: {', '.join(values)}",
        (column,),
        missing_sql=blank_sql(column),
        invalid_sql=f"{c} is not null and trim({c}) <> '' and {c} not in {literal_list(values)}",
        missing_reason=f"{column} is missing",
        invalid_reason=f"{column} is not an accepted value",
    )


def _number_sql(column: str, numeric_text: Sequence[str]) -> str:
    # try_cast: unparseable text is null here, for a separate warning rule to report.
    return f"try_cast({quote_ident(column)} as double)" if column in numeric_text else quote_ident(column)


def range_rule(
    name: str,
    columns: Sequence[str],
    low: float,
    high: float,
    severity: str = BLOCKING,
    required: bool = False,
    numeric_text: Sequence[str] = (),
) -> Rule:
    """Values within [low, high]; ``numeric_text`` columns hold numbers as text and are cast first."""
    out = " or ".join(
        f"({_number_sql(c, numeric_text)} is not null and not ({_number_sql(c, numeric_text)} between {low} and {high}))"
        for c in columns
    )
    absent = " or ".join(f"{quote_ident(c)} is null" for c in columns)
    listed = ", ".join(columns)
    return Rule(
        name,
        severity,
        f"{listed} within [{low}, {high}]",
        tuple(columns),
        missing_sql=absent if required else None,
        invalid_sql=out,
        missing_reason=f"{listed}: value missing",
        invalid_reason=f"{listed}: value outside [{low}, {high}]",
    )
