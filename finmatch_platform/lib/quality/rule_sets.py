"""The bank's rule sets: raw customers and raw FPR records.

The vocabularies are the bank's reference lists; a test keeps them equal to the synthetic
generator's (``finmatch_platform.simulator.generation.reference``).
"""

from __future__ import annotations

from collections.abc import Mapping

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
from finmatch_platform.lib.quality.rules import (
    BLOCKING,
    NAME_PATTERN,
    WARNING,
    Rule,
    RuleSet,
    accepted_values_rule,
    blank_sql,
    id_rule,
    name_rule,
    range_rule,
)
from finmatch_platform.lib.sql import literal

COUNTRIES = ("India", "United Arab Emirates", "United Kingdom", "United States", "Singapore")
NATIONALITIES = ("Indian", "British", "American", "Singaporean")
DIALLING_CODES = ("+91", "+971", "+44", "+1", "+65")

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


def _mobile_invalid_sql() -> str:
    cases = " ".join(
        f'when {literal(code)} then regexp_full_match("mobile", {literal(pattern)})'
        for code, pattern in MOBILE_PATTERNS.items()
    )
    return (
        f'"mobile" is not null and trim("mobile") <> \'\' and not (case "dialling_code" {cases} '
        f'else regexp_full_match("mobile", {literal(MOBILE_FALLBACK_PATTERN)}) end)'
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
            missing_sql=f"{blank_sql('first_name')} or {blank_sql('last_name')}",
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
            missing_sql=blank_sql("email"),
            invalid_sql=f'"email" is not null and trim("email") <> \'\' and not regexp_full_match("email", {literal(EMAIL_PATTERN)})',
            missing_reason="email is missing",
            invalid_reason="email is not local@domain.tld",
        ),
        Rule(
            "mobile_format",
            WARNING,
            "mobile is present and a national number of its dialling code (+91: 10 digits from 6-9; "
            "+971, +44, +1, +65: their mobile formats; others: 7-12 digits)",
            ("mobile", "dialling_code"),
            missing_sql=blank_sql("mobile"),
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
            missing_sql=blank_sql("record_id"),
            unique_by=("record_id",),
            missing_reason="record_id is missing",
            duplicate_reason="record_id is not unique",
        ),
        Rule(
            "record_id_format",
            WARNING,
            "record_id is FPR + 10 digits, the simulator's ids (a vendor may use its own, e.g. UUIDs)",
            ("record_id",),
            invalid_sql=f'"record_id" is not null and not regexp_full_match("record_id", {literal(_SIMULATOR_RECORD_ID)})',
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
            invalid_sql=f'"customer_name" is not null and not regexp_full_match("customer_name", {literal(NAME_PATTERN)})',
            invalid_reason="customer_name has characters other than letters, spaces, apostrophes, hyphens or dots",
        ),
        Rule(
            "fpr_customer_email_format",
            WARNING,
            "customer_email looks like local@domain.tld",
            ("customer_email",),
            invalid_sql=(
                f'"customer_email" is not null and not regexp_full_match("customer_email", {literal(EMAIL_PATTERN)})'
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
