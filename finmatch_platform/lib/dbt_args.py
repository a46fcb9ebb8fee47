"""The dbt CLI arguments of a run, built from its partition window: pure, so tested without dbt.

The daily facts read two dbt vars, ``min_date`` and ``max_date`` (ISO days, both included), and
replace exactly that window. Dagster hands a run a half-open time window ``[start, end)`` at
midnight UTC; a single-run backfill of 30 days is one window of 30 days, so it becomes one
``dbt build`` with ``min_date`` = first day and ``max_date`` = last day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_DATE_VAR = "min_date"
MAX_DATE_VAR = "max_date"


@dataclass(frozen=True)
class DateWindow:
    """Whole days, both ends included (what the dbt models filter on)."""

    min_date: dt.date
    max_date: dt.date

    def __post_init__(self) -> None:
        if self.max_date < self.min_date:
            raise ValueError(f"max_date {self.max_date.isoformat()} is before min_date {self.min_date.isoformat()}")

    @property
    def days(self) -> int:
        return (self.max_date - self.min_date).days + 1

    def as_vars(self) -> dict[str, str]:
        return {MIN_DATE_VAR: self.min_date.isoformat(), MAX_DATE_VAR: self.max_date.isoformat()}


def window_from_time_window(start: dt.datetime, end: dt.datetime) -> DateWindow:
    """The inclusive days of a daily partition range ``[start, end)``.

    Only whole days make sense for facts keyed by date: a window that does not start and end at
    midnight (an hourly calendar, a bad partition definition) is refused rather than rounded,
    because rounding would silently rebuild or skip a day.
    """
    for name, value in (("start", start), ("end", end)):
        if value.time() != dt.time(0, 0):
            raise ValueError(f"partition window {name} {value.isoformat()} is not at midnight")
    if end <= start:
        raise ValueError(f"empty partition window: start {start.isoformat()}, end {end.isoformat()}")
    return DateWindow(start.date(), (end - dt.timedelta(days=1)).date())


def dbt_build_args(
    window: DateWindow | None = None,
    *,
    full_refresh: bool = False,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """``dbt build`` arguments: the date vars of a partitioned run, none for the rest.

    Without a window the incremental facts rebuild every day they find, which is what a plain
    ``dbt build`` on the command line does too.
    """
    args = ["build"]
    if window is not None:
        # JSON is valid YAML, and dbt parses --vars as YAML: no quoting surprises with dates.
        args += ["--vars", json.dumps(window.as_vars(), sort_keys=True)]
    if full_refresh:
        args.append("--full-refresh")
    args += list(extra_args)
    return args


_BUILT = ("model", "seed", "snapshot")


def select_outside_ancestors_of_tag(manifest: Mapping[str, Any], tag: str) -> str:
    """A dbt ``select`` naming every model, seed and snapshot that is neither tagged ``tag`` nor
    an ancestor of one, as explicit ``fqn:`` selectors.

    Explicit, not ``--exclude +tag:...``: dbt's exclusion is eager for tests, so excluding the
    ancestors would also drop every test that touches one of them (a mart's relationship test
    to a dimension), and that test would then belong to no asset definition at all.
    """
    nodes = manifest["nodes"]
    tagged = [uid for uid, node in nodes.items() if node["resource_type"] in _BUILT and tag in node.get("tags", [])]
    ancestors: set[str] = set()
    stack = list(tagged)
    while stack:
        for parent in manifest["parent_map"].get(stack.pop(), []):
            if parent not in ancestors:
                ancestors.add(parent)
                stack.append(parent)
    excluded = ancestors | set(tagged)
    chosen = sorted(
        "fqn:" + ".".join(node["fqn"])
        for uid, node in nodes.items()
        if node["resource_type"] in _BUILT and uid not in excluded
    )
    return " ".join(chosen)
