"""The connector's promises on bad input, over the wire: one bad record in the middle of an
otherwise good FPR feed, for every shape of bad record we know of.

The feed comes from a tiny scripted HTTP server on loopback that speaks the FPR contract
(``{"fpr_records": [...], "next_cursor": ..., "has_more": ...}``, cursor paging) and sends each
record as the exact JSON text scripted for it, so NaN and Infinity literals, integers past 64
bits and megabyte strings reach the client as a vendor would send them. Whatever the shape, the
sync must succeed, store every good record, move its cursor to the end of the feed and never
see the bad record again; the bad record is either quarantined with its reason (its payload
masked: no raw name or email) or stored with its column widened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finmatch_platform.lib.connectors import sources
from finmatch_platform.lib.connectors.sync import SyncSummary
from finmatch_platform.lib.connectors.writer import read_state
from finmatch_platform.lib.masking import load_policy
from finmatch_platform.lib.quarantine_masking import payload_masker
from finmatch_platform_tests.helpers.core import TEST_MASKING_KEY
from finmatch_platform_tests.helpers.extraction import sync_into
from finmatch_platform_tests.helpers.feeds import (
    POISON_EMAIL,
    POISON_NAME,
    FeedServer,
    as_json,
    good_record,
    quarantine_text,
    serve_feed,
)

POISON_ID = "FPR0000000500"
GOOD_RECORDS = 9
PAGE_SIZE = 4
POISON_AT = 5  # the poison is the second record of the second page
TWO_MB = 2 * 1024 * 1024


# =========================================================================== a scripted vendor


def poison_base() -> dict[str, Any]:
    """The good record the poison shapes start from, carrying the distinctive name and email."""
    return {
        **good_record(500, minute=30),
        "record_id": POISON_ID,
        "customer_name": POISON_NAME,
        "customer_email": POISON_EMAIL,
    }


# =========================================================================== the poison table


@dataclass(frozen=True)
class Quarantined:
    """The record cannot be stored: it goes to meta.quarantine with this rule and reason."""

    rule: str
    reason: str  # words the reason contains


@dataclass(frozen=True)
class Stored:
    """The record is stored; ``column`` holds ``value`` (JSON-decoded when stored as text)."""

    column: str
    value: Any
    widened: bool  # the column's type changed to hold it: one schema change


Shape = Callable[[dict[str, Any]], Any]


def _with(name: str, value: Any) -> Shape:
    return lambda record: {**record, name: value}


def _without(name: str) -> Shape:
    return lambda record: {k: v for k, v in record.items() if k != name}


def _tombstone_with_bad_time(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "record_id": record["record_id"],
        "customer_name": POISON_NAME,
        "updated_at": "last tuesday",
        "_deleted": True,
    }


NO_KEY = "missing_primary_key"
UNSTORABLE = "unstorable_record"

POISON_SHAPES = [
    # Not an object at all: the whole value is redacted in the payload.
    pytest.param(lambda r: [POISON_NAME, POISON_EMAIL], Quarantined(NO_KEY, "not a JSON object but list"), id="a-list"),
    pytest.param(
        lambda r: f"{POISON_NAME} <{POISON_EMAIL}>", Quarantined(NO_KEY, "not a JSON object but str"), id="a-string"
    ),
    pytest.param(lambda r: 42, Quarantined(NO_KEY, "not a JSON object but int"), id="a-number"),
    pytest.param(lambda r: None, Quarantined(NO_KEY, "not a JSON object"), id="null"),
    # No usable primary key.
    pytest.param(_without("record_id"), Quarantined(NO_KEY, "record_id is missing"), id="record_id-missing"),
    pytest.param(_with("record_id", None), Quarantined(NO_KEY, "record_id is null"), id="record_id-null"),
    pytest.param(_with("record_id", ""), Quarantined(NO_KEY, "record_id is empty"), id="record_id-empty"),
    pytest.param(_with("record_id", "   "), Quarantined(NO_KEY, "record_id is empty"), id="record_id-blank"),
    pytest.param(
        _with("record_id", 500), Quarantined(NO_KEY, "record_id must be a string, got int"), id="record_id-number"
    ),
    pytest.param(
        _with("record_id", {"id": POISON_ID}),
        Quarantined(NO_KEY, "record_id must be a string, got dict"),
        id="record_id-object",
    ),
    # Field names no table can hold (the PII rides in the odd names too: they must be masked).
    pytest.param(
        _with("Customer_Name", POISON_NAME),
        Quarantined(UNSTORABLE, "collide when case is ignored"),
        id="names-collide-ignoring-case",
    ),
    pytest.param(_with("", POISON_EMAIL), Quarantined(UNSTORABLE, "a field name is empty"), id="empty-field-name"),
    pytest.param(_with("   ", POISON_NAME), Quarantined(UNSTORABLE, "a field name is empty"), id="blank-field-name"),
    pytest.param(
        _with("customer\x07name", POISON_NAME),
        Quarantined(UNSTORABLE, "has control characters"),
        id="control-character-in-name",
    ),
    pytest.param(
        _with("note\x7f", POISON_EMAIL),
        Quarantined(UNSTORABLE, "has control characters"),
        id="delete-character-in-name",
    ),
    # The change order cannot be placed.
    pytest.param(
        _tombstone_with_bad_time,
        Quarantined(UNSTORABLE, "updated_at does not fit TIMESTAMP WITH TIME ZONE"),
        id="tombstone-with-bad-updated_at",
    ),
    pytest.param(_without("updated_at"), Quarantined(UNSTORABLE, "updated_at is missing"), id="updated_at-missing"),
    pytest.param(_with("updated_at", None), Quarantined(UNSTORABLE, "updated_at is missing"), id="updated_at-null"),
    pytest.param(
        _with("updated_at", "10000-01-01T00:00:00Z"),
        Quarantined(UNSTORABLE, "updated_at does not fit TIMESTAMP WITH TIME ZONE"),
        id="updated_at-past-year-9999",
    ),
    pytest.param(
        _with("_deleted", "yes"), Quarantined(UNSTORABLE, "_deleted does not fit BOOLEAN"), id="_deleted-text"
    ),
    pytest.param(_with("_deleted", 1), Quarantined(UNSTORABLE, "_deleted does not fit BOOLEAN"), id="_deleted-number"),
    # Values JSON cannot carry (the raw body holds NaN / Infinity literals).
    pytest.param(_with("account_balance", float("nan")), Quarantined(UNSTORABLE, "NaN or Infinity"), id="NaN-literal"),
    pytest.param(
        _with("account_balance", float("inf")), Quarantined(UNSTORABLE, "NaN or Infinity"), id="Infinity-literal"
    ),
    pytest.param(
        _with("recommendation_score", float("-inf")),
        Quarantined(UNSTORABLE, "NaN or Infinity"),
        id="minus-Infinity-literal",
    ),
    pytest.param(
        _with("score_history", [0.5, float("nan")]),
        Quarantined(UNSTORABLE, "NaN or Infinity"),
        id="NaN-nested-in-a-new-field",
    ),
    # Values that do not fit their column: stored, the column widened (as Fivetran does).
    pytest.param(
        _with("account_balance", {"amount": 1.5, "currency": "INR"}),
        Stored("account_balance", {"amount": 1.5, "currency": "INR"}, widened=True),
        id="object-in-a-numeric-field",
    ),
    pytest.param(
        _with("customer_transaction_count", 2**70 + 1),
        Stored("customer_transaction_count", 2**70 + 1, widened=True),
        id="integer-past-64-bits",
    ),
    pytest.param(
        _with("product_recommendation_date", ["2026-10-01"]),
        Stored("product_recommendation_date", ["2026-10-01"], widened=True),
        id="array-in-a-date-field",
    ),
    pytest.param(
        _with("product_sales_date", "2026-02-30"),
        Stored("product_sales_date", "2026-02-30", widened=True),
        id="impossible-date",
    ),
    pytest.param(
        _with("product_terms", "x" * TWO_MB), Stored("product_terms", "x" * TWO_MB, widened=False), id="a-2MB-string"
    ),
]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "poison.duckdb"


@pytest.fixture
def mask() -> Callable[[Any], Any]:
    return payload_masker(load_policy(), TEST_MASKING_KEY, "fpr_records")


def _sync(db_path: Path, feed: FeedServer, mask: Callable[[Any], Any]) -> SyncSummary:
    return sync_into(db_path, feed.base_url, "scripted-key", page_size=PAGE_SIZE, checkpoint_every=PAGE_SIZE, mask=mask)


def _decoded(value: Any) -> Any:
    """A stored cell as JSON when the column is text, so a widened value compares with what was sent."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _column_types(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'fpr_records'"
        ).fetchall()
    )


@pytest.mark.parametrize(("shape", "expected"), POISON_SHAPES)
def test_a_bad_record_mid_feed_is_quarantined_or_stored_and_never_stops_the_feed(
    db_path: Path, mask: Callable[[Any], Any], shape: Shape, expected: Quarantined | Stored
) -> None:
    goods = [good_record(n) for n in range(1, GOOD_RECORDS + 1)]
    poison = shape(poison_base())
    feed_bytes = [as_json(r) for r in goods]
    feed_bytes.insert(POISON_AT, as_json(poison))

    with serve_feed(feed_bytes) as feed:
        first = _sync(db_path, feed, mask)
        second = _sync(db_path, feed, mask)

    conn = duckdb.connect(str(db_path), read_only=True)
    try:
        # The feed went through to its end and the position is stored there.
        assert first.records == GOOD_RECORDS + 1 and first.cursor_after == feed.end_cursor
        assert read_state(conn, "fpr_records").cursor == feed.end_cursor
        stored_ids = {r[0] for r in conn.execute("select record_id from raw.fpr_records").fetchall()}
        assert {g["record_id"] for g in goods} <= stored_ids
        # A second sync starts past the bad record: nothing fetched, nothing quarantined again.
        assert (second.records, second.quarantined, second.cursor_before) == (0, 0, feed.end_cursor)
        quarantined = conn.execute("select source, rule, reason, record_key from meta.quarantine").fetchall()

        if isinstance(expected, Quarantined):
            assert first.quarantined == 1 and first.inserted == GOOD_RECORDS
            assert stored_ids == {g["record_id"] for g in goods}
            ((source, rule, reason, record_key),) = quarantined
            assert (source, rule) == ("fpr_records", expected.rule)
            assert expected.reason in reason, reason
            assert record_key == (POISON_ID if expected.rule == UNSTORABLE else None)
        else:
            assert first.quarantined == 0 and quarantined == []
            assert first.inserted == GOOD_RECORDS + 1 and POISON_ID in stored_ids
            (value,) = conn.execute(
                f'select "{expected.column}" from raw.fpr_records where record_id = ?', [POISON_ID]
            ).fetchone()
            assert _decoded(value) == expected.value
            if expected.widened:
                assert first.schema_changes == 1 and first.widened_columns == [expected.column]
                assert _column_types(conn)[expected.column] != _documented_type(expected.column)
            else:
                assert first.schema_changes == 0

        # The payload was masked before it was written: neither the name nor the email is there.
        text = quarantine_text(conn)
        assert POISON_NAME.lower() not in text and POISON_EMAIL.lower() not in text
    finally:
        conn.close()


def _documented_type(column: str) -> str:
    return sources.fpr_records().columns[column]


def test_the_poison_table_covers_every_promised_shape() -> None:
    # A guard on the table itself: twenty shapes at least, both outcomes present.
    outcomes = [p.values[1] for p in POISON_SHAPES]
    assert len(POISON_SHAPES) >= 20
    assert {type(o) for o in outcomes} == {Quarantined, Stored}
    assert {o.rule for o in outcomes if isinstance(o, Quarantined)} == {NO_KEY, UNSTORABLE}


def test_an_unstorable_later_version_does_not_erase_the_good_version_received_in_the_same_sync(
    tmp_path: Path, mask: Callable[[Any], Any]
) -> None:
    # The good version of a record, then (later in the feed) a version whose updated_at cannot
    # be stored. Synced in one go or in two, the table must end the same: the good version kept,
    # the bad one quarantined. How the feed happens to be batched must not decide what survives.
    goods = [good_record(n) for n in range(1, 7)]
    bad_later = {**good_record(2), "updated_at": "10000-01-01T00:00:00Z", "customer_name": POISON_NAME}
    records = [as_json(r) for r in goods]
    records.insert(5, as_json(bad_later))

    with serve_feed(records[:5]) as feed:
        _sync(tmp_path / "two_syncs.duckdb", feed, mask)
        feed.records = records
        _sync(tmp_path / "two_syncs.duckdb", feed, mask)
        one = _sync(tmp_path / "one_sync.duckdb", feed, mask)

    def table(path: Path) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(
                "select record_id, customer_name, updated_at, _deleted from raw.fpr_records order by record_id"
            ).fetchall()

    assert one.quarantined == 1
    assert table(tmp_path / "one_sync.duckdb") == table(tmp_path / "two_syncs.duckdb")
    assert "FPR0000000002" in {r[0] for r in table(tmp_path / "one_sync.duckdb")}
