"""raw_load: a window of landed days replaces the same window in the warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone.schemas import CREDIT_SCORES
from finmatch_platform.lib.raw_load import MissingLandingData, load_window

DAY1, DAY2, DAY3 = dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 3)


def _scores(day: dt.date, n: int) -> pa.Table:
    return pa.Table.from_pylist(
        [{"customer_id": f"C{i:09d}", "check_date": day, "score": 700 + i, "bureau": "CIBIL"} for i in range(n)],
        schema=CREDIT_SCORES,
    )


@pytest.fixture()
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "wh.duckdb"))
    connection.execute("create schema raw")
    yield connection
    connection.close()


def _count(conn: duckdb.DuckDBPyConnection) -> int:
    return conn.execute("select count(*) from raw.credit_scores").fetchone()[0]


def test_a_window_loads_every_landed_row_with_its_landed_date(tmp_path: Path, conn) -> None:
    landing.write_partition(tmp_path, "credit_scores", DAY1, _scores(DAY1, 3))
    landing.write_partition(tmp_path, "credit_scores", DAY2, _scores(DAY2, 5))

    result = load_window(conn, tmp_path, "credit_scores", [DAY1, DAY2])

    assert (result.rows_loaded, result.rows_replaced, result.table_rows) == (8, 0, 8)
    by_day = dict(conn.execute("select _landed_date, count(*) from raw.credit_scores group by 1").fetchall())
    assert by_day == {DAY1: 3, DAY2: 5}


def test_reloading_a_window_replaces_it_instead_of_doubling_rows(tmp_path: Path, conn) -> None:
    for day, n in ((DAY1, 3), (DAY2, 5), (DAY3, 2)):
        landing.write_partition(tmp_path, "credit_scores", day, _scores(day, n))
    load_window(conn, tmp_path, "credit_scores", [DAY1, DAY2, DAY3])

    # The source re-lands day 2 with fewer rows; the reload of that day alone must reflect it.
    landing.write_partition(tmp_path, "credit_scores", DAY2, _scores(DAY2, 1))
    result = load_window(conn, tmp_path, "credit_scores", [DAY2])

    assert (result.rows_loaded, result.rows_replaced) == (1, 5)
    assert _count(conn) == 3 + 1 + 2


def test_a_window_with_a_missing_day_loads_nothing_and_names_the_day(tmp_path: Path, conn) -> None:
    landing.write_partition(tmp_path, "credit_scores", DAY1, _scores(DAY1, 3))
    load_window(conn, tmp_path, "credit_scores", [DAY1])

    with pytest.raises(MissingLandingData, match="2026-10-02"):
        load_window(conn, tmp_path, "credit_scores", [DAY1, DAY2])

    assert _count(conn) == 3


def test_an_unknown_entity_is_rejected_with_the_allowed_names(tmp_path: Path, conn) -> None:
    with pytest.raises(ValueError, match="unknown entity 'cards'.*customers"):
        load_window(conn, tmp_path, "cards", [DAY1])
