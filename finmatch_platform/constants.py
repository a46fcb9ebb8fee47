"""Names shared across the code location: asset groups, warehouse schemas, owners."""

from __future__ import annotations

# Asset groups, in the order data flows through them.
GROUP_SYNTHETIC = "synthetic"
GROUP_INGESTION = "ingestion"
GROUP_EXTRACTION = "extraction"
GROUP_CUSTOMERS = "customers"
GROUP_INSIGHTS = "insights"
# dbt's groups follow its folders: staging/ (with the seeds) and intermediate/ are groups of their
# name, and marts/<domain>/... becomes the group marts_<domain>.
GROUP_STAGING = "staging"
MARTS_GROUP_PREFIX = "marts_"
# The kind dagster-dbt gives every dbt model and seed: how jobs select them without loading dbt.
KIND_DBT = "dbt"

# Warehouse schemas (dbt adds staging and marts).
SCHEMA_RAW = "raw"
SCHEMA_META = "meta"
SCHEMA_MASKED = "masked"

# Asset key prefixes: Python raw assets share dbt's source('raw', ...) names, so lineage joins.
LANDING_PREFIX = "landing"
RAW_PREFIX = "raw"

OWNER_DATA_PLATFORM = "team:data-platform"

# Every run that writes the warehouse takes a slot in this pool (DuckDB has a single writer).
WAREHOUSE_POOL = "duckdb_warehouse"
