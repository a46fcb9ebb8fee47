"""How a REST source is declared: what the one connector engine needs to know about a vendor API.

A source is data, not code: endpoint, auth scheme, paging style, primary key, incremental field
and the columns the vendor documents. Adding a source means writing a declaration and its tests
(see ``sources.py``). The shapes follow dlt's ``rest_api`` and Airbyte's low-code CDK, cut down to
the two paging styles the bank's vendors use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ApiKeyHeader:
    """The key in a header of its own (FPR documents ``api_key``; some deployments want ``x-api-key``)."""

    header: str = "api_key"

    def headers(self, key: str) -> dict[str, str]:
        return {self.header: key}


@dataclass(frozen=True)
class BearerToken:
    """``Authorization: Bearer <key>`` (PayScore)."""

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


Auth = ApiKeyHeader | BearerToken


@dataclass(frozen=True)
class CursorPaging:
    """An opaque cursor: pass back ``next_cursor`` until a page comes back empty.

    ``has_more`` is read when the API sends it and never required: a vendor that omits it is
    paged until an empty page. ``changes_path`` is an optional cheap endpoint that counts what
    lies past a cursor (the simulator has one; the vendor documents none).
    """

    records_field: str
    max_page_size: int
    cursor_param: str = "cursor"
    next_cursor_field: str = "next_cursor"
    has_more_field: str = "has_more"
    page_size_param: str = "page_size"
    changes_path: str | None = None


@dataclass(frozen=True)
class PageNumberPaging:
    """``page`` from 1 plus an ``updated_since`` watermark, rows ordered by the incremental field.

    The engine never walks page numbers over a fixed watermark (records updated mid-sync move
    to the end and a walker skips some): every request is re-anchored on the last
    ``(updated_at, id)`` seen, and a page number only advances inside a tie larger than a page.
    ``lookback`` re-reads a window before the stored watermark at the start of each sync, for
    vendor clocks and late commits; the upsert by primary key makes the overlap harmless.
    """

    records_field: str = "data"
    max_page_size: int = 1000
    page_param: str = "page"
    page_size_param: str = "per_page"
    since_param: str = "updated_since"
    lookback: dt.timedelta = dt.timedelta(minutes=5)


Paging = CursorPaging | PageNumberPaging


@dataclass(frozen=True)
class RestSource:
    """One stream of one vendor API, synced into ``raw.<table>``.

    ``columns`` are the documented fields with the types the table starts with (DuckDB type
    names); fields the vendor adds later become columns as they arrive, and a value that does
    not fit its column widens it. ``json_fields`` are nested objects kept as JSON text.
    ``deleted_field`` names a tombstone flag (soft delete), when the API sends tombstones.
    """

    name: str
    table: str
    path: str
    auth: Auth
    paging: Paging
    primary_key: str
    incremental_field: str
    columns: Mapping[str, str] = field(default_factory=dict)
    json_fields: tuple[str, ...] = ()
    deleted_field: str | None = None
    default_page_size: int = 100
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        if self.primary_key not in self.columns or self.incremental_field not in self.columns:
            raise ValueError(f"{self.name}: the primary key and incremental field must be declared columns")
        if not 1 <= self.default_page_size <= self.paging.max_page_size:
            raise ValueError(f"{self.name}: default_page_size must be 1-{self.paging.max_page_size}")
