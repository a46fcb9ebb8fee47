"""Vectorised calendar arithmetic on epoch days (days since 1970-01-01, the date32 encoding)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from finmatch_platform.landing_zone.schemas import TS

SECONDS_PER_DAY = 86_400
MICROS_PER_SECOND = 1_000_000
MICROS_PER_DAY = SECONDS_PER_DAY * MICROS_PER_SECOND
# "Never happens" for event days held in int32 arrays.
NEVER = np.int32(np.iinfo(np.int32).max)


def civil_from_days(epoch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of epoch days (H. Hinnant's integer algorithm, cheaper than datetime64)."""
    z = np.asarray(epoch, dtype=np.int64) + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Epoch days of a calendar date; a day past the month's end rolls into the next month."""
    y = np.asarray(year, dtype=np.int64) - (np.asarray(month) <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = np.where(np.asarray(month) > 2, np.asarray(month) - 3, np.asarray(month) + 9)
    doy = (153 * mp + 2) // 5 + np.asarray(day, dtype=np.int64) - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


# Year and month*100+day of every day from 1900 to 2199: a gather beats the integer algorithm ~10x.
_TABLE_FIRST = -25_567  # 1900-01-01
_TABLE_DAYS = 109_573  # to 2199-12-31
_y, _m, _d = civil_from_days(np.arange(_TABLE_FIRST, _TABLE_FIRST + _TABLE_DAYS))
_YEAR_TABLE = _y.astype(np.int16)
_MONTH_DAY_TABLE = (_m * 100 + _d).astype(np.int16)


def _year_month_day(epoch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(epoch, dtype=np.int64)
    if e.size and e.min() >= _TABLE_FIRST and e.max() < _TABLE_FIRST + _TABLE_DAYS:
        i = e - _TABLE_FIRST
        return _YEAR_TABLE[i].astype(np.int32), _MONTH_DAY_TABLE[i]
    y, m, d = civil_from_days(e)
    return y, m * 100 + d


def age_years(dob_epoch: np.ndarray, at_epoch: np.ndarray) -> np.ndarray:
    """Completed years of age on a date (a 29 February birthday counts from 1 March)."""
    y_dob, md_dob = _year_month_day(dob_epoch)
    y_at, md_at = _year_month_day(at_epoch)
    return y_at - y_dob - (md_at < md_dob)


def shift_years(epoch: np.ndarray, years: int) -> np.ndarray:
    """The same calendar day ``years`` later (earlier if negative); 29 February rolls to 1 March.

    Consistent with ``age_years``: ``age_years(dob, shift_years(dob, n)) == n``.
    """
    y, m, d = civil_from_days(epoch)
    return (days_from_civil(y + years, m, 1) + d - 1).astype(np.int32)


def timestamps(epoch: np.ndarray, seconds: np.ndarray) -> pa.Array:
    """UTC microsecond timestamps from epoch days and seconds within the day."""
    micros = (
        np.asarray(epoch, dtype=np.int64) * MICROS_PER_DAY + np.asarray(seconds, dtype=np.int64) * MICROS_PER_SECOND
    )
    return pa.array(micros, type=TS)


def dates(epoch: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(epoch, dtype=np.int32), type=pa.date32(), mask=null_mask)


def yyyymmdd(epoch: int) -> str:
    return str(np.datetime64(int(epoch), "D")).replace("-", "")
