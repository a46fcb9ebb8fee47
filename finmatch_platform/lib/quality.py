"""The bank's validation rules on raw customers and FPR records, and the quarantine they feed.

Format rules (names, email, mobile) only mean something on raw values, since masked values are
tokens, so the rules run on ``raw.*``. Their results never carry a raw value: each rule reports
counts (checked, duplicates, missing, invalid) and at most five offending record KEYS
(customer_id / record_id: surrogate ids, the bank's or the FPR vendor's, never PII). Quarantine payloads are masked
with the default role of the masking policy before they are written.

What blocks
- Blocking rules make a record unusable: a bad or duplicate customer id, a missing or duplicate
  FPR record_id, a customer without a name, a CIBIL score outside 300-900, FPR scores outside
  their ranges. Failing versions go to
  ``meta.quarantine`` and are left out of ``masked.*`` (the masked builders exclude them), so
  analytics never sees them; the check fails so the run shows it.
- Warning rules flag what a data steward should fix but analytics can live with: name
  characters and length, email and mobile formats, a missing CIBIL check date, values outside an
  enumeration, dates out of order, and the shape of the FPR vendor's ids (record_id, customer_id):
  a vendor owns its ids, so a UUID record_id is news, not a defect. Those records stay in, and
  the asset check warns.

Order for a load (``gate_and_mask``): run the rules on raw -> quarantine blocking failures ->
build the masked table without the quarantined versions.

The vocabularies below are the bank's reference lists; a test keeps them equal to the synthetic
generator's (``finmatch_platform.simulator.generation.reference``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import duckdb

from finmatch_platform.landing_zone.vocabulary import (
    AFFLUENCE_LEVELS,
    CATEGORIES,
    CUSTOMER_TYPES,
    FPR_STATUSES,
    GENDERS,
    LIFECYCLE_STAGES,
    MARITAL_STATUSES,
    OCCUPATIONS,
    PRIVILEGES,
    RISK_CATEGORIES,
    SEGMENTS,
    SOURCING_CHANNELS,
    STATUSES,
    TITLES,
    TRENDS,
)
from finmatch_platform.lib.masking import (
    MaskingStats,
    Policy,
    build_masked_table,
    hmac_params,
    operator_sql,
    quote_ident,
    quote_table,
    table_columns,
    transaction,
    version_text_sql,
)
from finmatch_platform.lib.quarantine import QUARANTINE_TABLE, quarantine_ddl

BLOCKING = "blocking"
WARNING = "warning"
SAMPLE_KEYS = 5
MAX_NAME_CHARS = 35
MISSING_KEY = "(missing)"

COUNTRIES = ("India", "United Arab Emirates", "United Kingdom", "United States", "Singapore")
NATIONALITIES = ("Indian", "British", "American", "Singaporean")
DIALLING_CODES = ("+91", "+971", "+44", "+1", "+65")

# Letters (any script), then letters, spaces, apostrophes, hyphens and dots.
NAME_PATTERN = r"[\p{L}][\p{L} .'\-]*"
EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# National mobile numbers by dialling code; any other code: 7-12 digits.
MOBILE_PATTERNS: Mapping[str, str] = {
    "+91": r"[6-9]\d{9}",  # India: 10 digits from 6-9
    "+971": r"5\d{8}",  # UAE: 5x + 7 digits
    "+44": r"7\d{9}",  # UK mobiles: 07xxx without the trunk 0
    "+1": r"[2-9]\d{9}",  # NANP: area code + 7 digits
    "+65": r"[89]\d{7}",  # Singapore mobiles
}
MOBILE_FALLBACK_PATTERN = r"\d{7,12}"


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


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


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _blank(column: str) -> str:
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
        missing_sql=_blank(column),
        invalid_sql=f"{c} is not null and trim({c}) <> '' and not regexp_full_match({c}, {_lit(pattern)})",
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
            f"{c} is not null and (not regexp_full_match({c}, {_lit(NAME_PATTERN)}) or length({c}) > {MAX_NAME_CHARS})"
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
        missing_sql=_blank(column),
        invalid_sql=f"{c} is not null and trim({c}) <> '' and {c} not in {_in(values)}",
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


def _mobile_invalid_sql() -> str:
    cases = " ".join(
        f'when {_lit(code)} then regexp_full_match("mobile", {_lit(pattern)})'
        for code, pattern in MOBILE_PATTERNS.items()
    )
    return (
        f'"mobile" is not null and trim("mobile") <> \'\' and not (case "dialling_code" {cases} '
        f'else regexp_full_match("mobile", {_lit(MOBILE_FALLBACK_PATTERN)}) end)'
    )


CUSTOMER_RULES = RuleSet(
    name="customers",
    source="raw.customers",
    key="customer_id",
    version="modified_at",
    scope="latest_versions",
    policy_table="customers",
    load_marker="_landed_date",
    rules=(
        id_rule("customer_id_valid", "customer_id", r"C\d{9}", "customer_id is present, C + 9 digits, and unique"),
        Rule(
            "customer_name_present",
            BLOCKING,
            "first_name and last_name are present",
            ("first_name", "last_name"),
            missing_sql=f"{_blank('first_name')} or {_blank('last_name')}",
            missing_reason="first_name or last_name is missing",
        ),
        name_rule("first_name_format", "first_name"),
        name_rule("middle_name_format", "middle_name"),
        name_rule("last_name_format", "last_name"),
        Rule(
            "email_format",
            WARNING,
            "email is present and looks like local@domain.tld",
            ("email",),
            missing_sql=_blank("email"),
            invalid_sql=f'"email" is not null and trim("email") <> \'\' and not regexp_full_match("email", {_lit(EMAIL_PATTERN)})',
            missing_reason="email is missing",
            invalid_reason="email is not local@domain.tld",
        ),
        Rule(
            "mobile_format",
            WARNING,
            "mobile is present and a national number of its dialling code (+91: 10 digits from 6-9; "
            "+971, +44, +1, +65: their mobile formats; others: 7-12 digits)",
            ("mobile", "dialling_code"),
            missing_sql=_blank("mobile"),
            invalid_sql=_mobile_invalid_sql(),
            missing_reason="mobile is missing",
            invalid_reason="mobile does not fit the format of its dialling code",
        ),
        range_rule("cibil_score_range", ["cibil_score"], 300, 900, BLOCKING),
        Rule(
            "cibil_check_date_present",
            WARNING,
            "a CIBIL score has a check date, not later than the record's modification",
            ("cibil_score", "cibil_check_date", "modified_at"),
            missing_sql='"cibil_score" is not null and "cibil_check_date" is null',
            invalid_sql='"cibil_check_date" > cast(timezone(\'UTC\', "modified_at") as date)',
            missing_reason="cibil_check_date is missing for a CIBIL score",
            invalid_reason="cibil_check_date is after modified_at",
        ),
        accepted_values_rule("title", TITLES),
        accepted_values_rule("gender", GENDERS),
        accepted_values_rule("marital_status", MARITAL_STATUSES),
        accepted_values_rule("segment", SEGMENTS),
        accepted_values_rule("category", CATEGORIES),
        accepted_values_rule("privilege", PRIVILEGES),
        accepted_values_rule("customer_type", CUSTOMER_TYPES),
        accepted_values_rule("occupation", OCCUPATIONS),
        accepted_values_rule("sourcing_channel", SOURCING_CHANNELS),
        accepted_values_rule("status", STATUSES),
        accepted_values_rule("risk_category", RISK_CATEGORIES),
        accepted_values_rule("affluence_level", AFFLUENCE_LEVELS),
        accepted_values_rule("country", COUNTRIES),
        accepted_values_rule("nationality", NATIONALITIES),
        accepted_values_rule("dialling_code", DIALLING_CODES),
    ),
)

_SIMULATOR_RECORD_ID = r"FPR\d{10}"
_UNIT_SCORES = (
    "recommendation_score",
    "customer_product_usage",
    "customer_product_affinity",
    "customer_churn_probability",
)
# Served as decimal text ("0.4231"), as the vendor documents the field as a string.
_NUMERIC_TEXT = ("customer_product_usage",)

FPR_RULES = RuleSet(
    name="fpr_records",
    source="raw.fpr_records",
    key="record_id",
    version="updated_at",
    scope="live",
    policy_table="fpr_records",
    load_marker="_synced_at",
    rules=(
        # Presence and uniqueness make the primary key; the shape of a vendor's ids is its own.
        Rule(
            "record_id_present_and_unique",
            BLOCKING,
            "record_id is present and unique",
            ("record_id",),
            missing_sql=_blank("record_id"),
            unique_by=("record_id",),
            missing_reason="record_id is missing",
            duplicate_reason="record_id is not unique",
        ),
        Rule(
            "record_id_format",
            WARNING,
            "record_id is FPR + 10 digits, the simulator's ids (a vendor may use its own, e.g. UUIDs)",
            ("record_id",),
            invalid_sql=f'"record_id" is not null and not regexp_full_match("record_id", {_lit(_SIMULATOR_RECORD_ID)})',
            invalid_reason=f"record_id does not match {_SIMULATOR_RECORD_ID}",
        ),
        range_rule("fpr_scores_in_unit_interval", _UNIT_SCORES, 0, 1, BLOCKING, numeric_text=_NUMERIC_TEXT),
        # The vendor documents customer_product_usage as a string; text that is not a number is a
        # vendor defect to report, not a reason to drop the recommendation.
        Rule(
            "customer_product_usage_numeric",
            WARNING,
            "customer_product_usage is a decimal number (the feed sends it as text)",
            ("customer_product_usage",),
            invalid_sql='"customer_product_usage" is not null and try_cast("customer_product_usage" as double) is null',
            invalid_reason="customer_product_usage is not a decimal number",
        ),
        range_rule("satisfaction_score_range", ["customer_satisfaction_score"], 1, 10, BLOCKING),
        id_rule(
            "fpr_customer_id_valid",
            "customer_id",
            r"C\d{9}",
            "customer_id is present and C + 9 digits (the bank's ids; a vendor may use its own)",
            WARNING,
            unique=False,
        ),
        # The feed copies the KYC name and email as they are, defects included.
        Rule(
            "fpr_customer_name_format",
            WARNING,
            "customer_name has only letters, spaces, apostrophes, hyphens and dots",
            ("customer_name",),
            invalid_sql=f'"customer_name" is not null and not regexp_full_match("customer_name", {_lit(NAME_PATTERN)})',
            invalid_reason="customer_name has characters other than letters, spaces, apostrophes, hyphens or dots",
        ),
        Rule(
            "fpr_customer_email_format",
            WARNING,
            "customer_email looks like local@domain.tld",
            ("customer_email",),
            invalid_sql=(
                f'"customer_email" is not null and not regexp_full_match("customer_email", {_lit(EMAIL_PATTERN)})'
            ),
            invalid_reason="customer_email is not local@domain.tld",
        ),
        accepted_values_rule("product_recommendation_status", FPR_STATUSES),
        accepted_values_rule("customer_lifecycle_stage", LIFECYCLE_STAGES),
        accepted_values_rule("customer_product_affinity_trend", TRENDS),
        accepted_values_rule("customer_product_usage_trend", TRENDS),
        accepted_values_rule("customer_segment", SEGMENTS),
        Rule(
            "recommendation_before_sale",
            WARNING,
            "product_recommendation_date <= product_sales_date",
            ("product_recommendation_date", "product_sales_date"),
            invalid_sql='"product_sales_date" < "product_recommendation_date"',
            invalid_reason="product_sales_date is before product_recommendation_date",
        ),
        Rule(
            "lifecycle_transition_before_update",
            WARNING,
            "customer_lifecycle_stage_transition_date <= the date of updated_at (UTC)",
            ("customer_lifecycle_stage_transition_date", "updated_at"),
            invalid_sql='"customer_lifecycle_stage_transition_date" > cast(timezone(\'UTC\', "updated_at") as date)',
            invalid_reason="customer_lifecycle_stage_transition_date is after updated_at",
        ),
    ),
)

RULE_SETS: Mapping[str, RuleSet] = {"customers": CUSTOMER_RULES, "fpr_records": FPR_RULES}


# --------------------------------------------------------------------------------------------
# Running rules
# --------------------------------------------------------------------------------------------


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


def _flags_sql(rule_set: RuleSet, table: str, types: Mapping[str, str]) -> str:
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


def _source_types(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    types = dict(table_columns(conn, table))
    if not types:
        raise ValueError(f"{table} does not exist: load it before checking it")
    return types


def run_rules(conn: duckdb.DuckDBPyConnection, rules: RuleSet, table: str | None = None) -> list[RuleResult]:
    """Evaluate every rule of ``rules`` on ``table`` (default: the rule set's source) in one pass."""
    table = table or rules.source
    types = _source_types(conn, table)
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
            f"min(coalesce(_key, {_lit(MISSING_KEY)}), {SAMPLE_KEYS}) filter (where {failed})",
        ]
    row = conn.execute(f"select {', '.join(aggregates)} from ({_flags_sql(rules, table, types)})").fetchall()[0]
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


# --------------------------------------------------------------------------------------------
# Quarantine
# --------------------------------------------------------------------------------------------

# meta.quarantine is shared with the FPR extraction, which writes (source, reason, record,
# quarantined_at) for records it cannot load; the columns below are added next to those.


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
    types = _source_types(conn, table)
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
    types = _source_types(conn, table)
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
    rules_in = _in([r.name for r in blocking]) if blocking else "(null)"

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
                    f"case when m{i} then {_lit(rule.missing_reason)} end",
                    f"case when d{i} then {_lit(rule.duplicate_reason)} end",
                    f"case when i{i} then {_lit(rule.invalid_reason)} end",
                ]
                failures.append(
                    f"select _rid, _key, _version, {_lit(rule.name)} as rule, concat_ws('; ', {', '.join(parts)}) as reason "
                    f"from flags where m{i} or i{i} or d{i}"
                )
            conn.execute(
                f"""
                insert into _finmatch_quarantine_new
                with flags as ({_flags_sql(subset, table, types)}),
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
            f"select min(coalesce(record_key, {_lit(MISSING_KEY)}), {SAMPLE_KEYS}) from {q} "
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


# --------------------------------------------------------------------------------------------
# The gate: check raw -> quarantine -> mask
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateOutcome:
    results: tuple[RuleResult, ...]
    quarantine: QuarantineResult
    masking: MaskingStats
    seconds: float

    @property
    def blocking_failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.blocking and not r.passed)

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if not r.blocking and not r.passed)

    def as_metadata(self) -> dict[str, object]:
        return {
            **self.masking.as_metadata(),
            **self.quarantine.as_metadata(),
            "rules_checked": len(self.results),
            "blocking_rules_failed": ", ".join(r.rule for r in self.blocking_failures) or "-",
            "warning_rules_failed": ", ".join(r.rule for r in self.warnings) or "-",
            "rule_results": results_markdown(self.results),
            "gate_seconds": round(self.seconds, 3),
        }


def gate_and_mask(
    conn: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    policy: Policy,
    key: str | bytes | None,
    load_id: str | None = None,
) -> GateOutcome:
    """The order a load must follow: run the rules on raw, quarantine blocking failures, then
    build the masked table (and its role variants) without the quarantined versions."""
    started = time.perf_counter()
    hmac_params(key)  # a missing key fails before any work
    results = run_rules(conn, rules)
    quarantine = quarantine_failures(conn, rules, policy, key, load_id, results=results)
    masking = build_masked_table(conn, policy, rules.policy_table, key)
    return GateOutcome(tuple(results), quarantine, masking, time.perf_counter() - started)


def gate_and_mask_customers(
    conn: duckdb.DuckDBPyConnection, policy: Policy, key: str | bytes | None, load_id: str | None = None
) -> GateOutcome:
    return gate_and_mask(conn, CUSTOMER_RULES, policy, key, load_id)


def gate_and_mask_fpr(
    conn: duckdb.DuckDBPyConnection, policy: Policy, key: str | bytes | None, load_id: str | None = None
) -> GateOutcome:
    return gate_and_mask(conn, FPR_RULES, policy, key, load_id)
