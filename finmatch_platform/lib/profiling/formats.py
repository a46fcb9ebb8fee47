"""Format rules: what a well-formed value of a column looks like, checked by a profile.

``default_format_rules`` gives the rules of the two masked tables: tokens where the default role
tokenises, quarter starts where it buckets, and the ids and scores of each table.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from finmatch_platform.lib.masking import Policy
from finmatch_platform.lib.sql import literal, literal_list


@dataclass(frozen=True)
class FormatRule:
    """What a well-formed value of a column looks like; checked on non-null values only.

    kinds: ``regex`` (full match), ``range`` (low <= value <= high, either bound optional),
    ``values`` (one of), ``sql`` (a boolean expression with ``{col}`` for the column).
    """

    kind: str
    pattern: str | None = None
    low: float | None = None
    high: float | None = None
    values: tuple[str, ...] = ()
    expression: str | None = None
    description: str = ""

    def check_sql(self, column_sql: str) -> str:
        """SQL that is true when a (non-null) value conforms."""
        if self.kind == "regex":
            return f"regexp_full_match(cast({column_sql} as varchar), {literal(self.pattern or '')})"
        if self.kind == "range":
            parts = []
            if self.low is not None:
                parts.append(f"{column_sql} >= {self.low!r}")
            if self.high is not None:
                parts.append(f"{column_sql} <= {self.high!r}")
            return " and ".join(parts) or "true"
        if self.kind == "values":
            return f"cast({column_sql} as varchar) in {literal_list(self.values)}"
        if self.kind == "sql":
            return f"({(self.expression or 'true').replace('{col}', column_sql)})"
        raise ValueError(f"unknown format rule kind {self.kind!r}; expected regex, range, values or sql")

    def label(self) -> str:
        if self.description:
            return self.description
        if self.kind == "regex":
            return f"matches {self.pattern}"
        if self.kind == "range":
            return f"within [{self.low}, {self.high}]"
        if self.kind == "values":
            return f"one of {', '.join(self.values)}"
        return self.expression or self.kind


def regex(pattern: str, description: str = "") -> FormatRule:
    return FormatRule("regex", pattern=pattern, description=description)


def value_range(low: float | None, high: float | None, description: str = "") -> FormatRule:
    return FormatRule("range", low=low, high=high, description=description)


def one_of(values: Collection[str], description: str = "") -> FormatRule:
    return FormatRule("values", values=tuple(values), description=description)


def sql_check(expression: str, description: str = "") -> FormatRule:
    return FormatRule("sql", expression=expression, description=description)


def token_rule(policy: Policy) -> FormatRule:
    return regex(
        f"{re.escape(policy.token_prefix)}[0-9a-f]{{{policy.token_hex_chars}}}",
        f"a {policy.token_prefix}<{policy.token_hex_chars} hex> token",
    )


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

QUARTER_START = sql_check("day({col}) = 1 and month({col}) in (1, 4, 7, 10)", "the first day of a quarter")


def default_format_rules(policy: Policy, table: str) -> dict[str, FormatRule]:
    """Format rules for a masked table: tokens where the default role tokenises, plus the ids,
    scores and buckets of the two masked tables."""
    rules: dict[str, FormatRule] = {}
    table_policy = policy.table(table)
    for column in table_policy.tagged_columns:
        operator = policy.operator(policy.default_role, table, column)
        if operator == "hmac":
            rules[column] = token_rule(policy)
        elif operator == "bucket_quarter":
            rules[column] = QUARTER_START
    if table == "customers":
        rules.update(
            customer_id=regex(r"C\d{9}", "C + 9 digits"),
            cibil_score=value_range(300, 900, "a CIBIL score, 300-900"),
        )
    elif table == "fpr_records":
        unit = value_range(0, 1, "a probability or score in [0, 1]")
        rules.update(
            # The simulator's ids or the vendor's documented shapes (UUID, CUST_ + 6 digits).
            record_id=regex(rf"FPR\d{{10}}|{_UUID}", "FPR + 10 digits, or a UUID"),
            customer_id=regex(r"C\d{9}|CUST_\d{6,}", "C + 9 digits, or CUST_ + 6 digits"),
            recommendation_score=unit,
            # Decimal text, as the vendor documents a string; text that is not a number fails.
            customer_product_usage=sql_check(
                "try_cast({col} as double) between 0 and 1", "a share in [0, 1] as decimal text"
            ),
            customer_product_affinity=unit,
            customer_churn_probability=unit,
            customer_satisfaction_score=value_range(1, 10, "a satisfaction score in [1, 10]"),
        )
    return rules
