"""Evidence: the figures a report is written from, each with its definition and sample size.

A ``Figure`` is one number computed from the marts (an acceptance rate, a count, an amount),
together with what it means, how many rows it rests on and which tables it came from. A
``Chart`` is a series of numbers drawn in the HTML report. ``Evidence`` collects both in the
order the steps produced them and gives every figure a short citation id (``F01``, ``F02``...)
that the narrative quotes, so each number in the report can be traced back to a query.

Values are kept in base units: shares and probabilities as fractions (0.149), money in INR,
counts as integers. ``format_value`` is the one place that turns them into text; the narrator,
the Markdown and HTML renderers and the prompt all use it, so the narrative quotes exactly the
strings the grounding later parses.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# The unit says how a value is written and how grounding reads a written number back.
Unit = Literal["count", "share", "pp", "inr", "score", "ratio", "days", "number"]
UNITS: tuple[str, ...] = ("count", "share", "pp", "inr", "score", "ratio", "days", "number")
# Units written as a percentage (14.9%); "pp" is a difference of two shares (3.2 pp).
PERCENT_UNITS = frozenset({"share", "pp"})

_LAKH = 100_000.0
_CRORE = 10_000_000.0


class EvidenceError(RuntimeError):
    """The marts cannot support a report: a table is missing or empty, or a query failed."""


@dataclass(frozen=True)
class Figure:
    """One number of the evidence.

    ``key`` is stable across runs (``overall.acceptance_rate``) so reports can be compared;
    ``ref`` is the citation id within one report (``F07``), given by ``Evidence.add``.
    """

    key: str
    label: str
    value: float | int | None
    unit: Unit
    definition: str
    sample_size: int | None
    source: str
    step: str = ""
    ref: str = ""
    headline: bool = False

    @property
    def display(self) -> str:
        return format_value(self.value, self.unit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Chart:
    """A chart of the evidence: categories (or periods) and one or more named series."""

    key: str
    title: str
    kind: Literal["bar", "hbar", "line"]
    unit: Unit
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]
    source: str
    note: str = ""
    step: str = ""

    def __post_init__(self) -> None:
        for name, values in self.series:
            if len(values) != len(self.labels):
                raise ValueError(
                    f"chart {self.key}: series {name!r} has {len(values)} values for {len(self.labels)} labels"
                )

    def values(self) -> Iterator[float]:
        for _, values in self.series:
            for value in values:
                if value is not None and math.isfinite(value):
                    yield value

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "kind": self.kind,
            "unit": self.unit,
            "labels": list(self.labels),
            "series": [[name, list(values)] for name, values in self.series],
            "source": self.source,
            "note": self.note,
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Chart:
        return cls(
            key=raw["key"],
            title=raw["title"],
            kind=raw["kind"],
            unit=raw["unit"],
            labels=tuple(raw["labels"]),
            series=tuple((name, tuple(values)) for name, values in raw["series"]),
            source=raw.get("source", ""),
            note=raw.get("note", ""),
            step=raw.get("step", ""),
        )


@dataclass
class Evidence:
    """Figures and charts in the order the steps produced them, plus the data context."""

    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    # Facts about the data that are not figures: the window covered, table row counts.
    context: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        key: str,
        label: str,
        value: float | int | None,
        unit: Unit,
        definition: str,
        *,
        sample_size: int | None,
        source: str,
        step: str = "",
        headline: bool = False,
    ) -> Figure:
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")
        if any(f.key == key for f in self.figures):
            raise ValueError(f"figure {key!r} is already in the evidence")
        value = _clean(value)
        figure = Figure(
            key=key,
            label=label,
            value=value,
            unit=unit,
            definition=definition,
            sample_size=None if sample_size is None else int(sample_size),
            source=source,
            step=step,
            ref=f"F{len(self.figures) + 1:02d}",
            headline=headline,
        )
        self.figures.append(figure)
        return figure

    def add_chart(self, chart: Chart) -> Chart:
        if any(c.key == chart.key for c in self.charts):
            raise ValueError(f"chart {chart.key!r} is already in the evidence")
        self.charts.append(chart)
        return chart

    def get(self, key: str) -> Figure:
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise KeyError(f"no figure {key!r} in the evidence")

    def find(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)

    def by_step(self, step: str) -> list[Figure]:
        return [f for f in self.figures if f.step == step]

    def with_prefix(self, prefix: str) -> list[Figure]:
        return [f for f in self.figures if f.key.startswith(prefix)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "figures": [f.to_dict() for f in self.figures],
            "charts": [c.to_dict() for c in self.charts],
            "context": dict(self.context),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Evidence:
        return cls(
            figures=[Figure(**f) for f in raw.get("figures", [])],
            charts=[Chart.from_dict(c) for c in raw.get("charts", [])],
            context=dict(raw.get("context", {})),
        )


def _clean(value: float | int | None) -> float | int | None:
    """Plain Python numbers (DuckDB hands back Decimals and numpy scalars); NaN becomes None."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------------------
# Formatting: the one place numbers become text
# --------------------------------------------------------------------------------------------


def format_value(value: float | int | None, unit: str) -> str:
    """How a value of a unit is written everywhere (report, prompt, charts).

    count 12,345 · share 14.9% · pp 3.2 pp · inr ₹12,345 / ₹12.35 lakh / ₹2.62 Cr ·
    score 7.17 · ratio 3.9× · days 12.5 · number 10.1 / -0.91
    """
    if value is None:
        return "n/a"
    v = float(value)
    if unit == "count":
        return f"{round(v):,}"
    if unit == "share":
        return f"{_round_half_up(v * 100, 1):.1f}%"
    if unit == "pp":
        return f"{_round_half_up(abs(v) * 100, 1):.1f} pp"
    if unit == "inr":
        return format_inr(v)
    if unit == "score":
        return f"{v:.2f}"
    if unit == "ratio":
        return f"{v:.1f}×"
    if unit == "days":
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"
    return f"{v:,.1f}" if abs(v) >= 1 else f"{v:.2f}"


def format_inr(value: float) -> str:
    """Indian conventions: crore (10^7) and lakh (10^5) for large amounts, rupees below."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= _CRORE:
        return f"{sign}₹{v / _CRORE:,.2f} Cr"
    if v >= _LAKH:
        return f"{sign}₹{v / _LAKH:.2f} lakh"
    return f"{sign}₹{v:,.0f}"


def _round_half_up(value: float, digits: int) -> float:
    # Python's round() is banker's rounding on binary floats; reports round half up, as people do.
    scale = 10**digits
    return math.floor(abs(value) * scale + 0.5 + 1e-9) / scale * (1 if value >= 0 else -1)


def cite(figure: Figure) -> str:
    """A figure as the narrative quotes it: the formatted value and its citation id."""
    return f"{figure.display} [{figure.ref}]"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; pipes in cells are escaped."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
