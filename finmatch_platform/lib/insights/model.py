"""The data types of an insight report: a focus area, its steps, and the context a data step runs in.

A data step is a function of a ``StepContext`` that adds figures and charts to the report's
evidence and returns a one-line summary for the run log. This module imports no analysis, so
every analysis module and the registry (``steps``) can import it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb

from . import queries as q
from .evidence import Chart, Evidence, EvidenceError, Figure, Unit

StepKind = Literal["data", "model", "compile"]


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class StepContext:
    conn: duckdb.DuckDBPyConnection
    evidence: Evidence
    focus: FocusArea
    step: Step
    # Query results shared by the steps of one report: each query runs at most once.
    cache: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def rows(self, name: str) -> list[dict[str, Any]]:
        if name not in self.cache:
            self.cache[name] = q.run(self.conn, name)
        return self.cache[name]

    def one(self, name: str) -> dict[str, Any]:
        rows = self.rows(name)
        if len(rows) != 1:
            raise EvidenceError(f"query {name!r} returned {len(rows)} rows, expected one")
        return rows[0]

    def add(
        self,
        key: str,
        label: str,
        value: float | int | None,
        unit: Unit,
        definition: str,
        *,
        n: int | None,
        query: str | None = None,
        source: str | None = None,
        headline: bool = False,
    ) -> Figure | None:
        """Add a figure unless another step of this report already did (shared helpers)."""
        existing = self.evidence.find(key)
        if existing is not None:
            return existing
        return self.evidence.add(
            key,
            label,
            value,
            unit,
            definition,
            sample_size=n,
            source=source if source is not None else q.QUERIES[query].source if query else "",
            step=self.step.key,
            headline=headline,
        )

    def chart(
        self,
        key: str,
        title: str,
        kind: Literal["bar", "hbar", "line"],
        unit: Unit,
        labels: Sequence[str],
        series: Sequence[tuple[str, Sequence[float | None]]],
        *,
        query: str | None = None,
        source: str | None = None,
        note: str = "",
    ) -> None:
        if any(c.key == key for c in self.evidence.charts) or not labels:
            return
        if source is None:
            source = q.QUERIES[query].source if query else ""
        self.evidence.add_chart(
            Chart(
                key=key,
                title=title,
                kind=kind,
                unit=unit,
                labels=tuple(str(label) for label in labels),
                series=tuple((name, tuple(_num(v) for v in values)) for name, values in series),
                source=source,
                note=note,
                step=self.step.key,
            )
        )


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    description: str
    kind: StepKind
    run: Callable[[StepContext], str] | None = None
    queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class FocusArea:
    key: str
    title: str
    question: str
    description: str
    steps: tuple[Step, ...]

    @property
    def queries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for step in self.steps for name in step.queries))

    @property
    def tables(self) -> tuple[str, ...]:
        """The marts this report reads: its asset's upstream dependencies."""
        return q.tables_for(self.queries)
