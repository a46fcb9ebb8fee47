"""The declared sources: the bank's two vendor APIs, as their vendors document them.

FPR (``sources/000_*``): ``GET /fpr_data``, the key in the ``api_key`` header, an opaque
cursor, the 28 documented fields; the change-log columns ``updated_at`` and ``_deleted``
(tombstones) come with the feed. PayScore (``sources/001_*``): ``GET /api/v1/screening-groups``,
``Authorization: Bearer``, ``page``/``per_page`` with an ``updated_since`` watermark.
"""

from __future__ import annotations

from finmatch_platform.landing_zone.schemas import FPR_RECORDS
from finmatch_platform.lib.connectors.columns import sql_columns
from finmatch_platform.lib.connectors.declaration import (
    ApiKeyHeader,
    BearerToken,
    CursorPaging,
    PageNumberPaging,
    RestSource,
)

FPR_MAX_PAGE_SIZE = 200
PAYSCORE_MAX_PAGE_SIZE = 1000


def fpr_records(api_key_header: str = "api_key") -> RestSource:
    return RestSource(
        name="fpr_records",
        table="fpr_records",
        path="/fpr_data",
        auth=ApiKeyHeader(api_key_header),
        paging=CursorPaging(
            records_field="fpr_records", max_page_size=FPR_MAX_PAGE_SIZE, changes_path="/fpr_data/changes"
        ),
        primary_key="record_id",
        incremental_field="updated_at",
        columns=sql_columns(FPR_RECORDS),
        deleted_field="_deleted",
        default_page_size=100,
        checkpoint_every=100,
    )


SCREENING_GROUP_COLUMNS: dict[str, str] = {
    "id": "VARCHAR",
    "name": "VARCHAR",
    "description": "VARCHAR",
    "status": "VARCHAR",
    "created_at": "TIMESTAMP WITH TIME ZONE",
    "updated_at": "TIMESTAMP WITH TIME ZONE",
    "organization_id": "VARCHAR",
    "settings": "JSON",
    "member_count": "BIGINT",
}


def screening_groups() -> RestSource:
    return RestSource(
        name="screening_group",
        table="screening_group",
        path="/api/v1/screening-groups",
        auth=BearerToken(),
        paging=PageNumberPaging(max_page_size=PAYSCORE_MAX_PAGE_SIZE),
        primary_key="id",
        incremental_field="updated_at",
        columns=SCREENING_GROUP_COLUMNS,
        json_fields=("settings",),
        default_page_size=100,
        checkpoint_every=100,
    )
