"""The landing-zone contract: one Arrow schema per source entity.

The generator must produce exactly these schemas, the loaders and the FPR API read them, and the
dbt sources describe them. Changing a column here is a contract change for every layer.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

CUSTOMERS = pa.schema(
    [
        ("customer_id", pa.string()),  # "C" + 9 digits, e.g. C000000042
        ("title", pa.string()),  # Mr/Mrs/Ms/Miss/Master
        ("first_name", pa.string()),
        ("middle_name", pa.string()),  # nullable
        ("last_name", pa.string()),
        ("gender", pa.string()),  # Male/Female
        ("date_of_birth", pa.date32()),
        ("is_minor", pa.bool_()),
        ("is_senior_citizen", pa.bool_()),
        ("marital_status", pa.string()),  # Single/Married/Divorced/Widowed
        ("nationality", pa.string()),
        ("segment", pa.string()),  # Urban/Rural/Semi-Urban
        ("category", pa.string()),  # Resident/Non Resident
        ("privilege", pa.string()),  # Regular/Silver/Gold/Platinum
        ("customer_type", pa.string()),  # Personal/Corporate/Merchant
        ("occupation", pa.string()),
        ("sourcing_channel", pa.string()),  # Branch/Partner/Online
        ("status", pa.string()),  # Active/Dormant/Deceased
        ("risk_category", pa.string()),  # Low/Medium/High
        ("affluence_level", pa.string()),  # Mass/Mass Affluent/Affluent/HNI
        ("email", pa.string()),
        ("dialling_code", pa.string()),  # "+91"
        ("mobile", pa.string()),  # national number, digits only
        ("address_line1", pa.string()),
        ("address_line2", pa.string()),  # nullable
        ("city", pa.string()),
        ("state", pa.string()),
        ("postcode", pa.string()),
        ("country", pa.string()),
        ("cibil_score", pa.int16()),  # 300-900
        ("cibil_check_date", pa.date32()),
        ("created_at", TS),
        ("modified_at", TS),
    ]
)

PRODUCTS = pa.schema(
    [
        ("product_id", pa.string()),  # "P" + 4 digits
        ("product_name", pa.string()),
        ("product_type", pa.string()),  # Credit Card/Loan/Insurance/Deposit/Investment
        ("product_subtype", pa.string()),  # e.g. Travel, Personal Loan, Term Life, Fixed Deposit
        ("interest_rate_pct", pa.float64()),  # annual; nullable where not applicable
        ("annual_fee", pa.float64()),
        ("interchange_rate_pct", pa.float64()),  # cards only; nullable
        ("tenure_months", pa.int32()),  # nullable
        ("min_amount", pa.float64()),
        ("max_amount", pa.float64()),
        ("product_terms", pa.string()),
        ("launched_on", pa.date32()),
    ]
)

ACCOUNTS = pa.schema(
    [
        ("account_id", pa.string()),  # "A" + 10 digits
        ("customer_id", pa.string()),
        ("product_id", pa.string()),  # nullable for plain savings/current accounts
        ("account_type", pa.string()),  # Savings/Current/Credit Card/Loan/Deposit/Investment
        ("open_date", pa.date32()),
        ("balance", pa.float64()),  # INR; outstanding amount for cards and loans
        ("credit_limit", pa.float64()),  # cards only; nullable
        ("currency", pa.string()),
        ("status", pa.string()),  # Open/Closed
    ]
)

TRANSACTIONS = pa.schema(
    [
        ("transaction_id", pa.string()),  # "T" + yyyymmdd + 9 digits
        ("account_id", pa.string()),
        ("customer_id", pa.string()),
        ("transaction_ts", TS),
        ("amount", pa.float64()),  # INR, > 0
        ("currency", pa.string()),
        ("mode", pa.string()),  # UPI/QR/Card/NetBanking
        ("reason", pa.string()),  # Food & Grocery/Travel/Ecom/Exam/Utilities/Fuel/Entertainment/Health
        ("merchant", pa.string()),
        ("city", pa.string()),
    ]
)

LOGIN_ACTIVITY = pa.schema(
    [
        ("login_id", pa.string()),  # "L" + yyyymmdd + 9 digits
        ("customer_id", pa.string()),
        ("login_ts", TS),
        ("success", pa.bool_()),
        ("device_id", pa.string()),
        ("device_type", pa.string()),  # Android/iOS/Web
        ("city", pa.string()),
    ]
)

CREDIT_SCORES = pa.schema(
    [
        ("customer_id", pa.string()),
        ("check_date", pa.date32()),  # primary key: (customer_id, check_date)
        ("score", pa.int16()),
        ("bureau", pa.string()),  # CIBIL
    ]
)

# The FPR product-recommendation feed: the 28 fields of the vendor's documented table, with its
# names, order and types (string/float/integer/date), plus the change-log columns updated_at and
# _deleted (a tombstone has record_id, updated_at, _deleted=True, the rest null).
FPR_RECORDS = pa.schema(
    [
        ("record_id", pa.string()),  # the simulator's "FPR" + 10 digits; opaque to the platform
        ("customer_id", pa.string()),
        ("customer_name", pa.string()),
        ("customer_email", pa.string()),
        ("customer_segment", pa.string()),
        ("customer_lifecycle_stage", pa.string()),  # New/Growing/Mature/At Risk/Dormant
        ("customer_lifecycle_stage_transition_date", pa.date32()),
        ("account_balance", pa.float64()),
        ("transaction_history", pa.string()),  # "reason:count;..." over the last 30 days
        ("customer_transaction_value", pa.float64()),  # spend over the last 30 days
        ("customer_transaction_count", pa.int32()),
        ("product_id", pa.string()),
        ("product_name", pa.string()),
        ("product_type", pa.string()),
        ("product_terms", pa.string()),
        ("product_sales_amount", pa.float64()),  # null until accepted
        ("product_sales_date", pa.date32()),  # null until accepted
        ("product_recommendation", pa.string()),  # the pitch shown to the customer
        ("product_recommendation_date", pa.date32()),
        ("product_recommendation_status", pa.string()),  # Recommended/Viewed/Accepted/Rejected/Expired
        ("recommendation_score", pa.float64()),  # [0, 1]
        # The vendor documents a string: the simulator writes the usage share as decimal text, "0.4231".
        ("customer_product_usage", pa.string()),
        ("customer_product_affinity", pa.float64()),  # [0, 1]
        ("customer_product_affinity_trend", pa.string()),  # Increasing/Stable/Decreasing
        ("customer_product_usage_trend", pa.string()),  # Increasing/Stable/Decreasing
        ("customer_product_interests", pa.string()),  # comma-separated
        ("customer_satisfaction_score", pa.float64()),  # [1, 10]
        ("customer_churn_probability", pa.float64()),  # [0, 1]
        ("updated_at", TS),
        ("_deleted", pa.bool_()),
    ]
)

# PayScore screening groups (the vendor's organisational units for verification requests), as a
# change log like fpr_records: each day holds every group version whose updated_at falls on it.
SCREENING_GROUPS = pa.schema(
    [
        ("id", pa.string()),  # "sg_" + 16 hex digits
        ("name", pa.string()),
        ("description", pa.string()),  # nullable
        ("status", pa.string()),  # active/inactive/archived
        ("created_at", TS),  # never changes for a group
        ("updated_at", TS),
        ("organization_id", pa.string()),  # "org_" + 12 hex digits
        ("settings", pa.string()),  # the JSON text of an object; the API serves it nested
        ("member_count", pa.int32()),
    ]
)

# Entity name -> schema. The names are the landing folders and the raw.<entity> table names.
ENTITIES: dict[str, pa.Schema] = {
    "customers": CUSTOMERS,
    "products": PRODUCTS,
    "accounts": ACCOUNTS,
    "transactions": TRANSACTIONS,
    "login_activity": LOGIN_ACTIVITY,
    "credit_scores": CREDIT_SCORES,
    "fpr_records": FPR_RECORDS,
    "screening_groups": SCREENING_GROUPS,
}

# The vendor feeds (FPR, PayScore) reach the warehouse through their APIs and the extraction, not
# the bulk loader.
BULK_LOADED_ENTITIES: tuple[str, ...] = tuple(e for e in ENTITIES if e not in ("fpr_records", "screening_groups"))

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "modified_at"),  # a change log: one row per version
    "products": ("product_id",),
    "accounts": ("account_id",),
    "transactions": ("transaction_id",),
    "login_activity": ("login_id",),
    "credit_scores": ("customer_id", "check_date"),
    "fpr_records": ("record_id", "updated_at"),
    "screening_groups": ("id", "updated_at"),
}
