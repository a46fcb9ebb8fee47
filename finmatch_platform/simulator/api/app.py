"""The FPR API: the vendor feed the extraction syncs from (contract: DESIGN.md, "FPR API").

``GET /fpr_data`` pages the latest version of every record in keyset order
``(updated_at, record_id)`` with signed opaque cursors; ``GET /fpr_data/changes`` tells a sensor
how much lies past a cursor without paging; ``GET /health`` needs no key. Every error is JSON
(:class:`ErrorBody`), and validation errors are 400, not FastAPI's 422, because that is what
connectors written for this feed expect.

Two profiles. ``simulator`` (the default) is the feed as the platform's connectors have known it:
either key header, ``has_more`` on every page, the changes endpoint. ``vendor`` follows the vendor's
document to the letter, so the platform can be tested against exactly what it promises: only the
``api_key`` header, no ``has_more`` (a client stops on an empty page), no changes endpoint, and
ids in the vendor's shapes (a UUID record_id, ``CUST_`` + 6 digits; see :mod:`.storage`).

The hot path avoids per-request JSON work: records are pre-serialised per snapshot, the page is
found by bisection and the body is a join of bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Annotated, Any

import orjson
import pyarrow as pa
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.responses import Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, create_model

from finmatch_platform.landing_zone.schemas import FPR_RECORDS
from finmatch_platform.simulator.pagination import (
    MAX_CURSOR_LENGTH,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    PAGE_SIZE_MIN,
    PAGE_SIZE_RULE,
    START,
    InvalidCursor,
    Position,
    count_after,
    decode_cursor,
    derive_cursor_secret,
    encode_cursor,
    high_water_mark,
    select_page,
)

from .errors import JSON, ApiError, check_key, drop_unused_422, error_responses, install_error_handlers
from .faults import FaultConfig, FaultInjector
from .health import GAP_DESCRIPTION, OK, STATUS_DESCRIPTION, HealthGap, Status, gap_fields
from .landed import Snapshot
from .storage import FprStore, vendor_record_id

log = logging.getLogger("finmatch.api")

API_TITLE = "FinMatch FPR API"
API_VERSION = "1.0.0"

SIMULATOR = "simulator"
VENDOR = "vendor"
PROFILES = (SIMULATOR, VENDOR)


_ARROW_TO_PYTHON: dict[str, type] = {
    "string": str,
    "date32[day]": dt.date,
    "double": float,
    "int32": int,
    "bool": bool,
}


_FIELD_NOTES: dict[str, str] = {
    "customer_product_usage": 'The usage share in [0, 1] as decimal text, e.g. "0.4231" (the vendor '
    "documents a string).",
}
_ID_NOTES: dict[str, tuple[str, str]] = {  # profile -> (record_id, customer_id)
    SIMULATOR: ('"FPR" + 10 digits; the primary key.', '"C" + 9 digits.'),
    VENDOR: ("A UUID; the primary key.", '"CUST_" + 6 digits.'),
}


def _validate_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown API profile {profile!r}; expected one of {', '.join(PROFILES)}")


@functools.cache
def page_model(profile: str) -> type[BaseModel]:
    """The page (and record) schema of a profile for the OpenAPI document, from the landing contract.

    Built on first use, once per profile: pydantic model creation is not free at import time.
    """
    _validate_profile(profile)
    record_note, customer_note = _ID_NOTES[profile]
    definitions: dict[str, Any] = {}
    for field in FPR_RECORDS:
        if field.name in ("record_id", "updated_at", "_deleted"):
            continue
        python_type = dt.datetime if pa.types.is_timestamp(field.type) else _ARROW_TO_PYTHON[str(field.type)]
        note = customer_note if field.name == "customer_id" else _FIELD_NOTES.get(field.name)
        definitions[field.name] = (python_type | None, Field(default=None, description=note))
    record = create_model(
        "FprRecord",
        __config__=ConfigDict(extra="allow", populate_by_name=True),
        __doc__="One FPR record at its latest version. A tombstone has record_id, updated_at and "
        "_deleted=true, the other fields null. Fields added to the feed later appear as extra keys.",
        record_id=(str, Field(description=record_note)),
        updated_at=(
            dt.datetime,
            Field(description="When this version was made: ISO-8601 UTC with microseconds."),
        ),
        deleted=(bool, Field(alias="_deleted", description="True for a tombstone: the record was deleted.")),
        **definitions,
    )
    page_fields: dict[str, Any] = {
        "fpr_records": (
            list[record],  # type: ignore[valid-type]
            Field(description="Records after the cursor, in change order; empty once the feed is exhausted."),
        ),
        "next_cursor": (
            str,
            Field(
                description="Opaque; points after the last record of this page (the request's position when "
                "the page is empty). Store it: a later request with it returns exactly what was added or "
                "changed since."
            ),
        ),
    }
    if profile == SIMULATOR:
        page_fields["has_more"] = (bool, Field(description="True if more records lie past next_cursor right now."))
    return create_model("FprPage", **page_fields)


class FprChanges(BaseModel):
    count: int = Field(description="Records (latest versions) past the cursor.", ge=0)
    high_water_mark: str | None = Field(
        description="The latest change as '<updated_at ISO>/<record_id>'; null while the feed is empty. "
        "Stable until new data lands, so it makes a good run key."
    )
    cursor: str = Field(description="The next_cursor a sync from the given cursor would end with right now.")


class Health(BaseModel):
    status: Status = Field(examples=[OK], description=STATUS_DESCRIPTION)
    records: int = Field(ge=0)
    files: int = Field(ge=0)
    high_water_mark: str | None
    gap: HealthGap | None = Field(description=GAP_DESCRIPTION)


# Module-level: with postponed annotations FastAPI resolves Annotated metadata in module globals.
X_API_KEY_HEADER = APIKeyHeader(name="x-api-key", scheme_name="ApiKeyHeader", auto_error=False)
API_KEY_HEADER = APIKeyHeader(
    name="api_key",
    scheme_name="ApiKeyHeaderLegacy",
    auto_error=False,
    description="The same key under its older header name.",
)
# The vendor profile documents only this one.
VENDOR_API_KEY_HEADER = APIKeyHeader(
    name="api_key",
    scheme_name="ApiKeyHeader",
    auto_error=False,
    description="The API key, as the vendor documents it.",
)


def _cursor_query() -> Any:
    return Query(
        description="Opaque cursor from a previous response's next_cursor (or the changes endpoint's "
        "cursor). Omit to start from the beginning.",
        max_length=MAX_CURSOR_LENGTH,
    )


_RULES = {
    "page_size": PAGE_SIZE_RULE,
    "cursor": f"cursor must be at most {MAX_CURSOR_LENGTH} characters: pass back a next_cursor as returned",
}
_ERROR_CODES = (400, 401, 429, 500, 502, 503, 504)
_BAD_INPUT = "Bad input: page_size out of range, a malformed or tampered cursor, a wrongly typed parameter."
_UNAUTHORIZED = "Missing or wrong API key."
_DESCRIPTIONS = {
    SIMULATOR: "The FPR product-recommendation change feed. Page with `cursor` while `has_more`; "
    "store `next_cursor` to resume later with only what changed.",
    VENDOR: "The FPR product-recommendation feed. Page with `cursor` until a page comes back empty; "
    "store `next_cursor` to resume later with only what changed.",
}


def create_api(store: FprStore, api_key: str, cursor_secret: bytes | None = None, profile: str = SIMULATOR) -> FastAPI:
    """The FastAPI application of a profile (without fault injection; see :func:`create_app`)."""
    if not api_key:
        raise ValueError("an API key is required")
    _validate_profile(profile)
    vendor = profile == VENDOR
    if vendor and not store.vendor_ids:
        # Serving landed ids would break the vendor profile's contract without a visible error.
        raise ValueError("the vendor profile needs an FprStore built with vendor_ids=True")
    feed = _Feed(store, cursor_secret or derive_cursor_secret(api_key), vendor)
    app = FastAPI(title=API_TITLE, version=API_VERSION, description=_DESCRIPTIONS[profile])
    install_error_handlers(app, _RULES, log)
    authenticated = [Depends(_key_dependency(api_key.encode("utf-8"), vendor))]
    _add_health(app, feed)
    _add_pages(app, feed, authenticated, page_model(profile))
    if not vendor:  # the vendor documents no such endpoint: a client must find new data by paging
        _add_changes(app, feed, authenticated)
    drop_unused_422(app)
    return app


class _Feed:
    """What the routes of one app share: the store, the cursor secret and the profile's id shapes."""

    def __init__(self, store: FprStore, secret: bytes, vendor: bool) -> None:
        self.store, self.secret, self.vendor = store, secret, vendor

    def parse_cursor(self, cursor: str | None) -> Position:
        if cursor is None or cursor == "":
            return START
        try:
            return decode_cursor(cursor, self.secret)
        except InvalidCursor as exc:
            raise ApiError(400, "invalid_cursor", str(exc), "cursor") from None

    def shown_high_water(self, snapshot: Snapshot) -> str | None:
        high = snapshot.high_water
        if high is None:
            return None
        # Keys hold landed ids; the vendor profile names the record as its clients know it.
        return high_water_mark(Position(high.updated_at_us, vendor_record_id(high.record_id)) if self.vendor else high)

    def page_tail(self, has_more: bool) -> bytes:
        """The end of a page's body: has_more is the simulator's addition to the documented contract."""
        if self.vendor:
            return b'"}'
        return b'","has_more":true}' if has_more else b'","has_more":false}'


def _key_dependency(expected_key: bytes, vendor: bool) -> Callable[..., None]:
    """The dependency checking a request's API key: either header, or the vendor's api_key only."""

    def require_api_key(
        x_api_key: Annotated[str | None, Security(X_API_KEY_HEADER)],
        legacy_key: Annotated[str | None, Security(API_KEY_HEADER)],
    ) -> None:
        check_key(
            x_api_key if x_api_key is not None else legacy_key,
            expected_key,
            "missing API key: send it in the x-api-key header (api_key also works)",
        )

    def require_documented_api_key(
        request: Request, given: Annotated[str | None, Security(VENDOR_API_KEY_HEADER)]
    ) -> None:
        # A client written for the simulator sends x-api-key: say what to change, not just "missing".
        wrong_header = not given and request.headers.get("x-api-key")
        check_key(
            given,
            expected_key,
            "missing API key: send it in the api_key header; this API does not read x-api-key"
            if wrong_header
            else "missing API key: send it in the api_key header",
        )

    return require_documented_api_key if vendor else require_api_key


def _add_health(app: FastAPI, feed: _Feed) -> None:
    @app.get(
        "/health",
        response_model=Health,
        summary="Liveness, feed size and any landed day that stops the feed (no key needed)",
    )
    async def health() -> Response:
        snapshot = await feed.store.current_snapshot()
        body = {
            **gap_fields(snapshot),
            "records": len(snapshot),
            "files": snapshot.files,
            "high_water_mark": feed.shown_high_water(snapshot),
        }
        return Response(orjson.dumps(body), media_type=JSON)


def _add_pages(app: FastAPI, feed: _Feed, authenticated: list[Any], page_schema: type[BaseModel]) -> None:
    @app.get(
        "/fpr_data",
        response_model=page_schema,
        responses=error_responses(_ERROR_CODES, _BAD_INPUT, _UNAUTHORIZED),
        dependencies=authenticated,
        summary="One page of the FPR change feed",
        description="The latest version of each record after `cursor`, in change order. A record changed "
        "later reappears after the cursor with its new version; a deleted one arrives once as a tombstone."
        + (" An empty page means the feed is exhausted for now." if feed.vendor else ""),
    )
    async def fpr_data(
        cursor: Annotated[str | None, _cursor_query()] = None,
        page_size: Annotated[
            int,
            Query(
                ge=PAGE_SIZE_MIN,
                le=PAGE_SIZE_MAX,
                description=f"Records per page, {PAGE_SIZE_MIN}-{PAGE_SIZE_MAX}.",
            ),
        ] = PAGE_SIZE_DEFAULT,
    ) -> Response:
        after = feed.parse_cursor(cursor)
        snapshot = await feed.store.current_snapshot()  # one snapshot per request: a page is never torn
        page = select_page(snapshot.keys, after, page_size)
        body = b"".join(
            (
                b'{"fpr_records":[',
                b",".join(snapshot.payloads[page.start : page.stop]),
                b'],"next_cursor":"',
                encode_cursor(page.next_position, feed.secret).encode("ascii"),
                feed.page_tail(page.has_more),
            )
        )
        return Response(body, media_type=JSON)


def _add_changes(app: FastAPI, feed: _Feed, authenticated: list[Any]) -> None:
    @app.get(
        "/fpr_data/changes",
        response_model=FprChanges,
        responses=error_responses(_ERROR_CODES, _BAD_INPUT, _UNAUTHORIZED),
        dependencies=authenticated,
        summary="How many records lie past a cursor (for sensors; no paging)",
    )
    async def fpr_changes(
        cursor: Annotated[str | None, _cursor_query()] = None,
    ) -> Response:
        after = feed.parse_cursor(cursor)
        snapshot = await feed.store.current_snapshot()
        high = snapshot.high_water
        body = {
            "count": count_after(snapshot.keys, after),
            "high_water_mark": feed.shown_high_water(snapshot),
            "cursor": encode_cursor(max(after, high) if high else after, feed.secret),
        }
        return Response(orjson.dumps(body), media_type=JSON)


def create_app(
    store: FprStore,
    api_key: str,
    cursor_secret: bytes | None = None,
    faults: FaultConfig | None = None,
    profile: str = SIMULATOR,
) -> Any:
    """The ASGI application to serve: the API, wrapped in fault injection when any is configured."""
    api = create_api(store, api_key, cursor_secret, profile)
    if faults is not None and faults.active:
        return FaultInjector(api, faults)
    return api
