"""The dbt arguments of a run follow from its partition window alone."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from finmatch_platform.lib.dbt_args import DateWindow, dbt_build_args, window_from_time_window

UTC = dt.UTC


def _midnight(day: int) -> dt.datetime:
    return dt.datetime(2026, 10, day, tzinfo=UTC)


def test_one_daily_partition_is_a_window_of_that_single_day() -> None:
    window = window_from_time_window(_midnight(5), _midnight(6))
    assert window == DateWindow(dt.date(2026, 10, 5), dt.date(2026, 10, 5))
    assert window.days == 1


def test_a_thirty_day_backfill_is_one_window_whose_last_day_is_included() -> None:
    window = window_from_time_window(_midnight(1), _midnight(31))
    assert (window.min_date, window.max_date, window.days) == (dt.date(2026, 10, 1), dt.date(2026, 10, 30), 30)


def test_a_window_across_a_month_end_keeps_whole_days() -> None:
    window = window_from_time_window(_midnight(30), dt.datetime(2026, 11, 2, tzinfo=UTC))
    assert window.as_vars() == {"min_date": "2026-10-30", "max_date": "2026-11-01"}


def test_a_partitioned_build_passes_the_window_as_json_vars() -> None:
    args = dbt_build_args(DateWindow(dt.date(2026, 10, 1), dt.date(2026, 10, 30)))
    assert args[:2] == ["build", "--vars"]
    assert json.loads(args[2]) == {"min_date": "2026-10-01", "max_date": "2026-10-30"}
    assert len(args) == 3


def test_an_unpartitioned_build_passes_no_vars_so_every_day_is_built() -> None:
    assert dbt_build_args() == ["build"]


def test_full_refresh_and_extra_arguments_come_after_the_vars() -> None:
    args = dbt_build_args(
        DateWindow(dt.date(2026, 10, 1), dt.date(2026, 10, 1)), full_refresh=True, extra_args=["--fail-fast"]
    )
    assert args[0] == "build" and args[-2:] == ["--full-refresh", "--fail-fast"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.datetime(2026, 10, 1, 6, tzinfo=UTC), _midnight(2)),  # hourly start
        (_midnight(1), dt.datetime(2026, 10, 2, 12, tzinfo=UTC)),  # hourly end
    ],
)
def test_a_window_that_is_not_whole_days_is_refused_rather_than_rounded(start: dt.datetime, end: dt.datetime) -> None:
    with pytest.raises(ValueError, match="midnight"):
        window_from_time_window(start, end)


def test_an_empty_or_inverted_window_is_refused() -> None:
    with pytest.raises(ValueError, match="empty partition window"):
        window_from_time_window(_midnight(2), _midnight(2))
    with pytest.raises(ValueError, match="before min_date"):
        DateWindow(dt.date(2026, 10, 2), dt.date(2026, 10, 1))
