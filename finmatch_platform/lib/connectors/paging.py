"""Paging a declared source: pages of records, each with the position to resume after it.

A position is opaque to the engine and stored as text in the stream's state: the vendor's own
cursor for cursor paging, or ``{"since": <ISO>, "id": <key>}`` (the last ``(updated_at, id)``
seen) for page-number paging. The engine checkpoints the position of a page only once every
record of that page and the pages before it is durable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from finmatch_platform.lib.connectors.columns import as_text
from finmatch_platform.lib.connectors.declaration import CursorPaging, PageNumberPaging, RestSource
from finmatch_platform.lib.connectors.http import ClientStats, ProtocolError, RequestRejected, RestClient, parse_exact


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Any]  # JSON values as parsed; screened by the engine, not here
    position: str | None  # where a later sync resumes once this page is committed
    non_finite: bool = False  # the body had NaN or Infinity literals: values need a closer look
    raw: bytes | None = None  # the response body as received, when the page is the whole body


class PageSource(Protocol):
    """What the engine pages: the REST pager below, or an in-memory feed in tests."""

    stats: ClientStats

    def pages(self, position: str | None) -> Iterator[Page]: ...


@dataclass(frozen=True, slots=True)
class Changes:
    """What lies past a position, for a sensor: one cheap request, no paging.

    ``count`` is exact where the API has a changes endpoint, else 0 or 1 (a one-record probe);
    ``mark`` identifies the newest change seen and is stable until new data arrives.
    """

    count: int
    mark: str | None
    probed: bool = False  # answered by a probe because the API has no changes endpoint


class RestPager:
    """Pages ``source`` through ``client`` from a stored position."""

    def __init__(
        self,
        client: RestClient,
        source: RestSource,
        *,
        page_size: int | None = None,
        initial_since: dt.datetime | None = None,
    ) -> None:
        self.client = client
        self.source = source
        self.page_size = page_size or source.default_page_size
        if not 1 <= self.page_size <= source.paging.max_page_size:
            raise ValueError(f"page_size must be 1-{source.paging.max_page_size}, got {self.page_size}")
        self.initial_since = initial_since
        self.stats = client.stats

    def pages(self, position: str | None) -> Iterator[Page]:
        paging = self.source.paging
        if isinstance(paging, CursorPaging):
            return self._cursor_pages(paging, position)
        return self._anchored_pages(paging, position)

    # -- opaque cursor --------------------------------------------------------------------

    def _cursor_page(self, paging: CursorPaging, cursor: str | None, page_size: int) -> tuple[list[Any], str, bool]:
        params: dict[str, Any] = {paging.page_size_param: page_size}
        if cursor:
            params[paging.cursor_param] = cursor
        body = self.client.get(self.source.path, params)
        records = body.get(paging.records_field) if isinstance(body, dict) else None
        next_cursor = body.get(paging.next_cursor_field) if isinstance(body, dict) else None
        has_more = body.get(paging.has_more_field, True) if isinstance(body, dict) else None
        # A page that breaks the contract must stop the sync: paging on a guessed cursor could
        # skip records or loop forever.
        if not isinstance(records, list) or not isinstance(next_cursor, str) or not isinstance(has_more, bool):
            raise ProtocolError(
                f"GET {self.source.path} answered without a list {paging.records_field} and a string "
                f"{paging.next_cursor_field} (and, if sent, a boolean {paging.has_more_field}): "
                "the server breaks the API contract"
            )
        return records, next_cursor, has_more and bool(records)

    def _cursor_pages(self, paging: CursorPaging, cursor: str | None) -> Iterator[Page]:
        while True:
            records, cursor, more = self._cursor_page(paging, cursor, self.page_size)
            yield Page(records, cursor, self.client.last_non_finite, self.client.last_body)
            if not more:
                return

    # -- page number + updated_since, re-anchored ---------------------------------------------

    def _anchored_pages(self, paging: PageNumberPaging, position: str | None) -> Iterator[Page]:
        field, key = self.source.incremental_field, self.source.primary_key
        if position is None:
            since = self.initial_since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            anchor: tuple[dt.datetime, str] = (since, "")
        else:
            anchor = (decode_anchor(position)[0] - paging.lookback, "")
        size, page = self.page_size, 1
        stepped: dt.datetime | None = None  # an updated_at whose tie was stepped by page number
        delivered: dict[dt.datetime, set[str]] = {}  # ids yielded, for the anchor's updated_at
        while True:
            asked = size
            records = self._number_page(paging, anchor[0], page, asked)
            fresh, newest = _past(records, anchor, field, key)
            for record in fresh:
                if (order := _order_key(record, field, key)) is not None:
                    delivered.setdefault(order[0], set()).add(order[1])
            if newest > anchor:
                if stepped is not None and newest[0] > stepped:
                    # Leaving a tie stepped through by page number: a member updated meanwhile
                    # shifted the rest, so read the tie again until nothing undelivered is left.
                    fresh += list(self._unseen_in_tie(paging, stepped, delivered.get(stepped, set()), field, key))
                    stepped = None
                anchor, size, page = newest, self.page_size, 1
                delivered = {anchor[0]: delivered.get(anchor[0], set())}
            elif size < paging.max_page_size:
                # Nothing past the anchor: a tie on updated_since larger than the page. Read it
                # whole in one answer rather than by page number, which skips rows under updates.
                size = min(paging.max_page_size, size * 2)
            else:
                stepped = anchor[0]  # a tie larger than the API's largest page: step, check after
                page += 1
            yield Page(fresh, encode_anchor(anchor), self.client.last_non_finite)
            if len(records) < asked:  # a short answer: nothing lies past it right now
                return

    def _unseen_in_tie(
        self, paging: PageNumberPaging, moment: dt.datetime, seen: set[str], field: str, key: str
    ) -> Iterator[Any]:
        while True:
            found, page = [], 1
            while True:
                records = self._number_page(paging, moment, page, paging.max_page_size)
                in_tie = [r for r in records if (o := _order_key(r, field, key)) is not None and o[0] == moment]
                found += [r for r in in_tie if r[key] not in seen]
                if len(in_tie) < len(records) or len(records) < paging.max_page_size:
                    break
                page += 1
            if not found:
                return
            seen.update(r[key] for r in found)
            yield from found

    def _number_page(self, paging: PageNumberPaging, since: dt.datetime, page: int, size: int) -> list[Any]:
        params = {
            paging.page_param: page,
            paging.page_size_param: size,
            paging.since_param: since.isoformat().replace("+00:00", "Z"),
        }
        self.client.get(self.source.path, params)
        # Records reach the planner as Python objects: read the body exactly (integers past 64 bits).
        body, non_finite = parse_exact(self.client.last_body)
        self.client.last_non_finite = non_finite
        records = body.get(paging.records_field) if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise ProtocolError(
                f"GET {self.source.path} answered without a list {paging.records_field}: the server breaks the API contract"
            )
        return records

    # -- for sensors -------------------------------------------------------------------------

    def changes(self, position: str | None, probe: bool = False) -> Changes:
        """What lies past ``position``: the changes endpoint where there is one, else a
        one-record probe past it. A 404 from the endpoint means it does not exist: the answer
        then says ``probed``, and a caller that remembers it (``probe=True``) asks with one
        request from then on."""
        paging = self.source.paging
        if isinstance(paging, PageNumberPaging):
            since = decode_anchor(position)[0] if position else self.initial_since
            # Strictly after the stored watermark: the API's updated_since is inclusive.
            after = (since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) + dt.timedelta(microseconds=1)
            records = self._number_page(paging, after, 1, 1)
        else:
            if paging.changes_path and not probe:
                params = {paging.cursor_param: position} if position else {}
                try:
                    body = self.client.get(paging.changes_path, params)
                except RequestRejected as exc:
                    if exc.status != 404:
                        raise
                else:
                    try:
                        return Changes(int(body["count"]), body.get("high_water_mark"))
                    except (KeyError, TypeError, ValueError):
                        raise ProtocolError(
                            f"GET {paging.changes_path} answered without a count: the server breaks the API contract"
                        ) from None
            records, _, _ = self._cursor_page(paging, position, 1)
        probed = isinstance(paging, CursorPaging) and paging.changes_path is not None
        if not records:
            return Changes(0, None, probed)
        return Changes(1, _mark(records[0], self.source), probed)


def _mark(record: Any, source: RestSource) -> str:
    if isinstance(record, dict):
        return f"{record.get(source.incremental_field)}/{record.get(source.primary_key)}"
    return as_text(record)[:200]


def _past(
    records: list[Any], anchor: tuple[dt.datetime, str], field: str, key: str
) -> tuple[list[Any], tuple[dt.datetime, str]]:
    """The records past ``anchor`` (and those that cannot be ordered, to be quarantined), and the newest key."""
    newest, fresh = anchor, []
    for record in records:
        order = _order_key(record, field, key)
        if order is None or order > anchor:
            fresh.append(record)
            if order is not None and order > newest:
                newest = order
    return fresh, newest


def _order_key(record: Any, field: str, key: str) -> tuple[dt.datetime, str] | None:
    if type(record) is not dict:
        return None
    value, ident = record.get(field), record.get(key)
    if not isinstance(value, str) or not isinstance(ident, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)), ident


def encode_anchor(anchor: tuple[dt.datetime, str]) -> str:
    return orjson.dumps({"since": anchor[0].isoformat(), "id": anchor[1]}).decode("utf-8")


def decode_anchor(position: str) -> tuple[dt.datetime, str]:
    try:
        stored = orjson.loads(position)
        return dt.datetime.fromisoformat(stored["since"]), str(stored["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ValueError(f"stored position {position[:80]!r} is not a watermark: run a full refresh") from None
