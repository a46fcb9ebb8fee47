"""``meta.quarantine``: one table for every record a load refused, with the rule and the reason.

Shared by the extraction (records a vendor API sent that cannot be stored at all) and the quality gate (rows failing a blocking validation rule), so operators look in
one place. Each writer creates or widens the table through :func:`quarantine_ddl`.
"""

from __future__ import annotations

QUARANTINE_TABLE = "meta.quarantine"

QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_table", "VARCHAR"),  # the table the record was headed for, e.g. raw.fpr_records
    ("record_key", "VARCHAR"),  # its primary key when it has one
    ("record_version", "VARCHAR"),
    ("rule", "VARCHAR"),  # the rule that failed, e.g. missing_primary_key, email_format
    ("reason", "VARCHAR"),  # why, naming columns, never values
    ("payload", "JSON"),  # the record (masked for customer rows)
    ("load_id", "VARCHAR"),
    ("quarantined_at", "TIMESTAMP WITH TIME ZONE"),
    ("source", "VARCHAR"),  # the writer's stream or rule-set name
)


def quarantine_ddl() -> list[str]:
    """Statements that create the table, or add any column an older table lacks."""
    schema = QUARANTINE_TABLE.partition(".")[0]
    columns = ", ".join(f'"{name}" {dtype}' for name, dtype in QUARANTINE_COLUMNS)
    return [
        f"create schema if not exists {schema}",
        f"create table if not exists {QUARANTINE_TABLE} ({columns})",
        *(
            f'alter table {QUARANTINE_TABLE} add column if not exists "{name}" {dtype}'
            for name, dtype in QUARANTINE_COLUMNS
        ),
    ]
