"""What ``make run`` loads on start, and how it reports progress (pure; no Dagster, no HTTP).

On a fresh instance every day from the start date to yesterday is missing: the initial history.
After a restart only the days the platform was offline are. The load has two steps:

1. **Land** the missing days: one asset backfill of the source chain (synthetic source systems
   and their raw tables), in the UI's Backfills tab like any other.
2. **Build** everything from the raw layer: one run of the ``refresh_warehouse`` job over the day
   range whose daily facts are missing (extraction, masking, dbt, reports), instead of a backfill
   of the whole graph, which the backfill daemon would walk level by level, 30 s per level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadPlan:
    land: tuple[str, str] | None  # days to land: first missing .. last; None when all are landed
    build: tuple[str, str] | None  # day range of the build run; None when nothing is missing
    days_to_land: int
    unmaterialized: tuple[str, ...]  # assets never materialized (labels)

    @property
    def needed(self) -> bool:
        return self.build is not None

    def describe(self) -> str:
        if self.build is None:
            return "every day is landed and every asset materialized: nothing to load"
        if self.land is not None:
            first, last = self.land
            return f"landing {self.days_to_land} day(s), {first} to {last}, then building every asset from them"
        first, last = self.build
        return f"every day is landed; building the warehouse for {first} to {last}"


def _first_missing(all_days: Sequence[str], done: Iterable[str]) -> int | None:
    present = set(done)
    return next((i for i, day in enumerate(all_days) if day not in present), None)


def plan_load(
    all_days: Sequence[str],
    landed_days: Iterable[str],
    built_days: Iterable[str],
    unmaterialized: Iterable[str],
) -> LoadPlan:
    """Ranges from the first day missing to the last day, contiguous on purpose: the partitioned
    assets have single-run backfill policies (a range is one run), and rebuilding a day that was
    there already is idempotent (the landing rewrites the same files, the facts replace the window).
    """
    never = tuple(sorted(unmaterialized))
    if not all_days:
        return LoadPlan(None, None, 0, never)
    first_unlanded = _first_missing(all_days, landed_days)
    first_unbuilt = _first_missing(all_days, built_days)
    land = None if first_unlanded is None else (all_days[first_unlanded], all_days[-1])
    starts = [i for i in (first_unlanded, first_unbuilt) if i is not None]
    if starts:
        build: tuple[str, str] | None = (all_days[min(starts)], all_days[-1])
    elif never:
        build = (all_days[-1], all_days[-1])  # only unpartitioned assets missing: the latest day suffices
    else:
        build = None
    days_to_land = 0 if first_unlanded is None else len(all_days) - first_unlanded
    return LoadPlan(land, build, days_to_land, never)


def format_elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def progress_line(
    elapsed_s: float,
    step: str,
    status: str,
    materialized: int,
    total: int,
    running_groups: Sequence[str] = (),
) -> str:
    """One line of load progress for a terminal, e.g.
    ``[1:05] assets 18/62 materialized | build: STARTED | now: customers, staging``."""
    line = f"[{format_elapsed(elapsed_s)}] assets {materialized}/{total} materialized | {step}: {status}"
    if running_groups:
        line += f" | now: {', '.join(running_groups)}"
    return line
