"""The simulated PayScore API: screening groups as the vendor documents them (``sources/001_*``).

``GET /api/v1/screening-groups`` (``Authorization: Bearer <key>``) pages the latest version of
each group with ``updated_at >= updated_since``, ordered by ``(updated_at, id)``, by page number:
``{"data": [...], "pagination": {"page", "per_page", "total_pages", "total"}}``. ``GET /health``
needs no key. Every error is JSON and bad input is a 400 naming the parameter, never a 422.

Serving works like the FPR API (:mod:`.landed`): the landing zone's change log is loaded into
immutable snapshots, each row serialised once per load, so a request is a bisection for
``updated_since``, a slice and a join of bytes. New landing days are picked up without a restart.

Page drift (off by default) stands in for a vendor database that changes while a client pages:
after each of the first ``drift_requests`` data requests (0: every request), ``drift_updates``
groups get a new version later than every other, half of them among the rows the request's
client has already been served and half among those it has not reached. A naive page walker
(fixed ``updated_since``, pages 1..total_pages) then both misses rows and sees rows twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import Depends, FastAPI, Query, Security
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from finmatch_platform.simulator.pagination import Position

from .errors import JSON, ApiError, check_key, drop_unused_422, error_responses, install_error_handlers
from .faults import FaultConfig, FaultInjector
from .health import GAP_DESCRIPTION, OK, STATUS_DESCRIPTION, HealthGap, Status, gap_fields
from .landed import ISO_UTC_MICROS, MAX_US, TS_US_UTC, Entry, LandedStore, UnservableFile, merge_latest

log = logging.getLogger("finmatch.payscore")

ENTITY = "screening_groups"
DATA_PATH = "/api/v1/screening-groups"
API_TITLE = "FinMatch PayScore API (simulated)"
API_VERSION = "1.0.0"
PER_PAGE_MIN, PER_PAGE_MAX, PER_PAGE_DEFAULT = 1, 1000, 100
# An int32, as vendors' page numbers usually are; beyond it JSON integers would need care.
PAGE_MAX = 2**31 - 1
_PAGE_RULE = f"page must be an integer between 1 and {PAGE_MAX}"
_PER_PAGE_RULE = f"per_page must be an integer between {PER_PAGE_MIN} and {PER_PAGE_MAX}"
_SINCE_RULE = (
    "updated_since must be an ISO 8601 date or timestamp, e.g. 2026-10-01T00:00:00Z or "
    "2026-10-01T05:30:00+05:30 (without an offset it is taken as UTC)"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso_micros(micros: int) -> str:
    """ISO 8601 UTC with microseconds and ``Z``, as every timestamp is served."""
    return (_EPOCH + dt.timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_updated_since(raw: str) -> int:
    """Microseconds since the epoch; ``Z``, offsets and naive (UTC) values; ApiError if unreadable."""
    try:
        # RFC 3339 allows a lower-case t and z; Python reads only the upper-case ones.
        moment = dt.datetime.fromisoformat(raw.strip().upper())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return (moment - _EPOCH) // dt.timedelta(microseconds=1)
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_parameter", f"{_SINCE_RULE}; got {raw[:64]!r}", "updated_since") from None


def _settings_value(text: object) -> object:
    # Stored as JSON text, served nested. Text that is not JSON is served as it is, not dropped.
    if not isinstance(text, str):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def serialise_groups(table: pa.Table) -> tuple[list[Position], list[bytes]]:
    """Positions ``(updated_at, id)`` and JSON bytes per row; rows without id or updated_at are skipped."""
    if "id" not in table.column_names or "updated_at" not in table.column_names:
        raise UnservableFile("a screening_groups file needs id and updated_at columns")
    if not pa.types.is_string(table["id"].type):
        table = table.set_column(table.column_names.index("id"), "id", pc.cast(table["id"], pa.string()))
    if table["updated_at"].type != TS_US_UTC:
        index = table.column_names.index("updated_at")
        table = table.set_column(index, "updated_at", pc.cast(table["updated_at"], TS_US_UTC))
    valid = pc.and_(pc.is_valid(table["id"]), pc.is_valid(table["updated_at"]))
    if not pc.all(valid).as_py():
        log.warning("skipping %d screening_groups rows without id or updated_at", pc.sum(pc.invert(valid)).as_py())
        table = table.filter(valid)
    columns = [
        pc.strftime(pc.cast(column, TS_US_UTC), format=ISO_UTC_MICROS) if pa.types.is_timestamp(column.type) else column
        for column in table.columns
    ]
    rendered = pa.table(columns, names=table.column_names)
    micros = pc.cast(table["updated_at"], pa.int64()).to_pylist()
    ids = table["id"].to_pylist()
    dumps = orjson.dumps
    payloads: list[bytes] = []
    for batch in rendered.to_batches(max_chunksize=2048):
        rows = batch.to_pylist()
        for row in rows:
            if "settings" in row:
                row["settings"] = _settings_value(row["settings"])
        payloads.extend([dumps(row, default=str) for row in rows])
    return [Position(us, gid) for us, gid in zip(micros, ids, strict=True)], payloads


class PayScoreStore(LandedStore):
    """The screening-group change log under ``landing_root``, published as snapshots of the latest
    state (see :class:`.landed.LandedStore`), plus drift."""

    entity = ENTITY
    log = log
    loaded_message = "screening groups: %d from %d files"

    def __init__(self, landing_root: Path, refresh_interval: float = 1.0) -> None:
        super().__init__(landing_root, refresh_interval=refresh_interval)
        # Drift versions by id: kept so a rebuild from the files does not undo them.
        self._drifted: dict[str, Entry] = {}

    def serialise(self, table: pa.Table) -> tuple[list[Position], list[bytes]]:
        return serialise_groups(table)

    def rebuild_entries(self) -> list[Entry]:
        return list(self._drifted.values())

    def drift(self, served: range, ahead: range, count: int, rng: random.Random) -> list[str]:
        """Give ``count`` groups a new version after every other: half among the ``served`` feed
        indices, the rest among those ``ahead``. Returns the ids changed."""
        with self._lock:
            snapshot = self.current
            # Indices from the request's snapshot; a refresh in between may have shortened the feed.
            served = range(served.start, min(served.stop, len(snapshot.keys)))
            ahead = range(ahead.start, min(ahead.stop, len(snapshot.keys)))
            behind_n = min(len(served), count // 2)
            ahead_n = min(len(ahead), count - behind_n)
            behind_n = min(len(served), count - ahead_n)
            chosen = rng.sample(served, behind_n) + rng.sample(ahead, ahead_n)
            if not chosen:
                return []
            high = snapshot.keys[-1].updated_at_us
            if high > MAX_US - len(chosen):
                return []  # no room left for later versions a client could parse
            entries: list[Entry] = []
            for step, index in enumerate(chosen, start=1):
                row = orjson.loads(snapshot.payloads[index])
                row["updated_at"] = iso_micros(high + step)
                members = row.get("member_count")
                if isinstance(members, int):
                    row["member_count"] = members + rng.randint(1, 5)
                position = Position(high + step, snapshot.keys[index].record_id)
                entries.append((position, orjson.dumps(row)))
            keys, payloads = merge_latest(snapshot.keys, snapshot.payloads, self._latest, entries)
            self._drifted.update((position.record_id, (position, payload)) for position, payload in entries)
            self._publish(keys, payloads)
            return [position.record_id for position, _ in entries]


@dataclass(frozen=True)
class DriftConfig:
    """Page drift: ``updates`` groups changed after each of the first ``requests`` data requests."""

    updates: int = 0
    requests: int = 0  # 0: no limit (every data request drifts while updates > 0)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.updates < 0 or self.requests < 0:
            raise ValueError("drift updates and requests must not be negative")

    @property
    def active(self) -> bool:
        return self.updates > 0


class _DriftState:
    def __init__(self, config: DriftConfig) -> None:
        self.config = config
        self.served = 0  # data requests answered 200 so far

    def requests_left(self) -> int | None:
        if not self.config.active:
            return 0
        if self.config.requests == 0:
            return None
        return max(0, self.config.requests - self.served)

    def take(self) -> int | None:
        """The number of the request to drift after, or None when the budget is spent."""
        number = self.served
        self.served += 1
        left = self.config.requests - number
        if not self.config.active or (self.config.requests and left <= 0):
            return None
        return number


# --------------------------------------------------------------------------- documented shapes


class ScreeningGroup(BaseModel):
    """One screening group at its latest version."""

    id: str = Field(description='The primary key: "sg_" + 16 hex digits.')
    name: str | None = None
    description: str | None = None
    status: Literal["active", "inactive", "archived"] | None = None
    created_at: dt.datetime | None = Field(default=None, description="ISO 8601 UTC; never changes.")
    updated_at: dt.datetime = Field(description="When this version was made: ISO 8601 UTC with microseconds.")
    organization_id: str | None = None
    settings: dict[str, Any] | None = Field(default=None, description="The group's configuration (nested JSON).")
    member_count: int | None = None


class Pagination(BaseModel):
    page: int = Field(ge=1)
    per_page: int = Field(ge=PER_PAGE_MIN, le=PER_PAGE_MAX)
    total_pages: int = Field(ge=0, description="ceil(total / per_page); a page past it has empty data.")
    total: int = Field(ge=0, description="Groups updated at or after updated_since (all when it is absent).")


class ScreeningGroupPage(BaseModel):
    data: list[ScreeningGroup] = Field(description="This page's groups in (updated_at, id) order.")
    pagination: Pagination


class PayScoreHealth(BaseModel):
    status: Status = Field(examples=[OK], description=STATUS_DESCRIPTION)
    records: int = Field(ge=0, description="Screening groups served (latest versions).")
    files: int = Field(ge=0)
    high_water_updated_at: str | None = Field(description="The latest updated_at; null while empty.")
    drift_requests_left: int | None = Field(
        description="Data requests that will still drift the feed: 0 when stable, null when unlimited."
    )
    gap: HealthGap | None = Field(description=GAP_DESCRIPTION)


_RULES = {"page": _PAGE_RULE, "per_page": _PER_PAGE_RULE, "updated_since": _SINCE_RULE}
_ERRORS = error_responses(
    (400, 401, 429, 500, 502, 503, 504),
    bad_input="Bad input: page, per_page or updated_since out of range or unreadable.",
    unauthorized="Missing or wrong bearer token.",
)


# Module-level: with postponed annotations FastAPI resolves Annotated metadata in module globals.
BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <PayScore API key>")


def create_api(store: PayScoreStore, api_key: str, drift: DriftConfig | None = None) -> FastAPI:
    """The FastAPI application (without fault injection; see :func:`create_app`)."""
    if not api_key:
        raise ValueError("an API key is required")
    expected = api_key.encode("utf-8")
    drift_state = _DriftState(drift or DriftConfig())
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description="Screening groups by page. Page with `page` until a page is empty or past "
        "`total_pages`; sync incrementally with `updated_since` (inclusive).",
    )

    def require_bearer(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> None:
        check_key(
            credentials.credentials if credentials is not None else None,
            expected,
            "missing bearer token: send the header Authorization: Bearer <key>",
        )

    install_error_handlers(app, _RULES, log, unauthorized_headers={"WWW-Authenticate": "Bearer"})

    @app.get(
        "/health",
        response_model=PayScoreHealth,
        summary="Liveness, feed size and any landed day that stops the feed (no key needed)",
    )
    async def health() -> Response:
        snapshot = await store.current_snapshot()
        high = snapshot.high_water
        body = {
            **gap_fields(snapshot),
            "records": len(snapshot),
            "files": snapshot.files,
            "high_water_updated_at": iso_micros(high.updated_at_us) if high else None,
            "drift_requests_left": drift_state.requests_left(),
        }
        return Response(orjson.dumps(body), media_type=JSON)

    @app.get(
        DATA_PATH,
        response_model=ScreeningGroupPage,
        responses=_ERRORS,
        dependencies=[Depends(require_bearer)],
        summary="One page of screening groups",
        description="The latest version of each group updated at or after `updated_since`, in (updated_at, id) order.",
    )
    async def screening_groups(
        page: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Page number, from 1.")] = 1,
        per_page: Annotated[
            int, Query(ge=PER_PAGE_MIN, le=PER_PAGE_MAX, description=f"Groups per page, {PER_PAGE_MIN}-{PER_PAGE_MAX}.")
        ] = PER_PAGE_DEFAULT,
        updated_since: Annotated[
            str | None,
            Query(
                max_length=64,
                json_schema_extra={"format": "date-time"},
                description="ISO 8601; only groups with updated_at at or after it (inclusive). With `Z`, an "
                "offset, or none (UTC). Omit (or leave empty) for every group.",
            ),
        ] = None,
    ) -> Response:
        since = parse_updated_since(updated_since) if updated_since else None
        snapshot = await store.current_snapshot()  # one snapshot per request: a page is never torn
        keys = snapshot.keys
        first = bisect_left(keys, Position(since, "")) if since is not None else 0
        total = len(keys) - first
        start = min(first + (page - 1) * per_page, len(keys))
        stop = min(start + per_page, len(keys))
        pagination = {"page": page, "per_page": per_page, "total_pages": -(-total // per_page), "total": total}
        body = b"".join(
            (
                b'{"data":[',
                b",".join(snapshot.payloads[start:stop]),
                b'],"pagination":',
                orjson.dumps(pagination),
                b"}",
            )
        )
        number = drift_state.take()
        if number is not None:
            rng = random.Random(f"{drift_state.config.seed}/{number}")
            served, ahead = range(first, stop), range(stop, len(keys))
            await anyio.to_thread.run_sync(store.drift, served, ahead, drift_state.config.updates, rng)
        return Response(body, media_type=JSON)

    drop_unused_422(app)
    return app


def create_app(
    store: PayScoreStore, api_key: str, faults: FaultConfig | None = None, drift: DriftConfig | None = None
) -> Any:
    """The ASGI application to serve: the API, wrapped in fault injection on the data path when configured."""
    api = create_api(store, api_key, drift)
    if faults is not None and faults.active:
        return FaultInjector(api, faults, path_prefixes=(DATA_PATH,))
    return api
