"""Test helpers."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

# Distinctive, so any trace of them in meta.quarantine is found by a plain text search.
POISON_NAME = "Zebulon Quintavius-Marchetti"


POISON_EMAIL = "zebulon.quintavius.poison@example.org"


@dataclass
class FeedServer:
    """What the scripted server serves: each record as raw JSON bytes, paged by offset cursors."""

    base_url: str
    records: list[bytes]
    requests: list[str] = field(default_factory=list)
    # When set, every /fpr_data request is answered with this status (an outage at the vendor).
    outage: int | None = None

    @property
    def end_cursor(self) -> str:
        return f"c{len(self.records)}"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # closing never waits on a handler a client abandoned
    feed: FeedServer


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        feed = self.server.feed
        feed.requests.append(self.path)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/fpr_data":
            # As the vendor: no changes endpoint, so a sensor must fall back to a probe.
            self._send(404, b'{"error": "not_found"}')
        elif feed.outage is not None:
            self._send(feed.outage, b'{"error": "internal_error"}')
        else:
            cursor = query.get("cursor", "c0")
            if not (cursor.startswith("c") and cursor[1:].isdigit()):
                self._send(400, b'{"error": "invalid_cursor"}')
                return
            start = min(int(cursor[1:]), len(feed.records))
            stop = min(start + int(query.get("page_size", "100")), len(feed.records))
            more = b"true" if stop < len(feed.records) else b"false"
            self._send(
                200,
                b'{"fpr_records": ['
                + b", ".join(feed.records[start:stop])
                + f'], "next_cursor": "c{stop}", "has_more": '.encode()
                + more
                + b"}",
            )

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def serve_feed(records: list[bytes]) -> Iterator[FeedServer]:
    """A scripted FPR API on a free loopback port, serving ``records`` (mutable while it runs)."""
    server = _Server(("127.0.0.1", 0), _FeedHandler)
    server.feed = FeedServer(f"http://127.0.0.1:{server.server_address[1]}", list(records))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.feed
    finally:
        server.shutdown()
        server.server_close()


def as_json(value: Any) -> bytes:
    """A record as a vendor might send it: Python's encoder writes NaN and Infinity as literals."""
    return json.dumps(value).encode("utf-8")


def good_record(n: int, minute: int | None = None) -> dict[str, Any]:
    """A record every rule of the platform accepts, with all the documented fields."""
    return {
        "record_id": f"FPR{n:010d}",
        "customer_id": f"C{n:09d}",
        "customer_name": f"Customer {n}",
        "customer_email": f"customer{n}@example.com",
        "customer_segment": "Urban",
        "customer_lifecycle_stage": "Growing",
        "customer_lifecycle_stage_transition_date": "2026-09-01",
        "account_balance": 1000.5 + n,
        "transaction_history": "Travel:1;Food & Grocery:3",
        "customer_transaction_value": 250.25,
        "customer_transaction_count": n,
        "product_id": "P0001",
        "product_name": "Travel Card",
        "product_type": "Credit Card",
        "product_terms": "Standard terms apply",
        "product_sales_amount": None,
        "product_sales_date": None,
        "product_recommendation": "A product picked for you",
        "product_recommendation_date": "2026-10-01",
        "product_recommendation_status": "Recommended",
        "recommendation_score": 0.5,
        "customer_product_usage": "0.4231",
        "customer_product_affinity": 0.3,
        "customer_product_affinity_trend": "Stable",
        "customer_product_usage_trend": "Stable",
        "customer_product_interests": "travel,dining",
        "customer_satisfaction_score": 7.5,
        "customer_churn_probability": 0.1,
        "updated_at": f"2026-10-01T09:{n if minute is None else minute:02d}:00.000000Z",
        "_deleted": False,
    }


def quarantine_text(conn: duckdb.DuckDBPyConnection) -> str:
    """Every cell of meta.quarantine as one lower-case text, to search for leaks."""
    rows = conn.execute("select * from meta.quarantine").fetchall()
    return " ".join(str(value) for row in rows for value in row).lower()
