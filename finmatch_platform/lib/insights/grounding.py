"""Grounding: every number in a narrative is checked against the evidence it was written from.

The rules:

Reading numbers
- Digits with optional thousands separators in either the international (2,246,000) or the
  Indian (22,46,000) grouping, and decimals: ``2,246``, ``14.9``, ``.5``.
- Units change the scale: ``%``/``percent``/``per cent`` (÷100), ``pp``/``percentage points``
  (÷100, a difference of shares), ``₹``/``INR``/``Rs``/``rupees`` (money), ``K`` (×10³),
  ``M``/``mn``/``million`` (×10⁶), ``bn``/``billion`` (×10⁹), ``lakh``/``lac`` (×10⁵),
  ``Cr``/``crore`` (×10⁷), ``x``/``×``/``times`` (a multiple).
- A sign is ignored: the narrative says "fell 3.2%" as often as "-3.2%", and the evidence keeps
  the signed value, so magnitudes are compared.

Numbers that are not checked (reported as ignored, with the reason)
- dates and times: ISO dates (2026-10-01, 2026-10), d/m/y dates, "1 October 2026",
  "October 1", "Oct 2026", 10:30;
- years: a bare whole number from 1900 to 2100;
- ordinals: 1st, 2nd, 3rd, 4th...;
- list and step numbers: a number opening a line or heading ("1.", "2)"), or after Step,
  Phase, Priority, Rank, Tier, No., #;
- identifiers: a number glued to letters (F07 citations, Q3, P0001);
- small counts: a bare whole number from 0 to 10 with no unit ("top 3", "two of 5 levers"):
  structural, and too small to tell a real figure from a coincidence.

Matching
- A number matches a figure when they agree to the precision the number was written with: half
  a unit of its last digit (14.9% matches 14.85%..14.95%; ₹2.6 Cr matches ₹2.55..2.65 Cr), or
  the figure truncated to that precision (14.96% written as 14.9%).
- Units must be compatible: a percentage matches shares and percentage-point figures; money
  (₹, INR, lakh, crore) matches INR figures (lakh/crore also counts); a multiple matches ratios;
  a bare number matches counts, days, scores, plain numbers and INR amounts.
- Figures are the report's evidence figures, their sample sizes and the values drawn in its
  charts.
- Constants written in the figures' definitions and chart notes (thresholds like "churn
  probability 0.6 or more", "20% of spend", "30 days") are accepted as such ("constant").
- Anything else is **unverified**: marked "⚠ unverified" in the report and counted; the report's
  asset check fails when the unverified share of checked numbers exceeds its threshold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from .evidence import Evidence

MentionKind = Literal["percent", "pp", "currency", "multiple", "plain"]
Status = Literal["verified", "constant", "unverified"]

UNVERIFIED_MARK = "⚠ unverified"

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
# Regions removed before numbers are read, with the reason they are not checked.
_IGNORED_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("date", re.compile(r"\b\d{4}-\d{2}(?:-\d{2})?(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b")),
    ("date", re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b")),
    ("date", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\b\.?(?:,?\s+\d{{4}})?", re.I)),
    ("date", re.compile(rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b", re.I)),
    ("date", re.compile(rf"\b{_MONTHS}\.?\s+\d{{4}}\b", re.I)),
    ("time", re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")),
    ("citation", re.compile(r"\[(?:F\d+(?:\s*[,;]\s*)?)+\]")),
    ("list_marker", re.compile(r"(?m)^\s*(?:#{1,6}\s*)?(?:[-*+]\s+)?\d{1,3}[.)](?=\s)")),
    (
        "step_number",
        re.compile(
            r"\b(?:step|phase|priority|rank|tier|no\.|number|lever|option|section)\s*#?\d+(?:\s+of\s+\d+)?\b", re.I
        ),
    ),
    ("step_number", re.compile(r"#\d+\b")),
)

_NUMBER = re.compile(
    r"""
    (?P<cur>₹|\bINR\b|\bRs\b\.?)?\s?
    (?P<sign>[-−–+])?
    (?P<num>\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?P<suffix>
        %
      | \s?(?:per\s?cent|percent|percentage\s+points?|pp|p\.p\.)(?![A-Za-z])
      | [x×](?![A-Za-z0-9])
      | \s?(?:×|times)(?![A-Za-z])
      | \s?(?:crores?|Cr|lakhs?|lacs?|million|mn|billion|bn|K|k|M|INR|rupees)(?![A-Za-z])
    )?
    """,
    re.X,
)
_ORDINAL_AFTER = re.compile(r"(?:st|nd|rd|th)\b", re.I)

_SCALES: dict[str, float] = {
    "k": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "bn": 1e9,
    "billion": 1e9,
    "lakh": 1e5,
    "lakhs": 1e5,
    "lac": 1e5,
    "lacs": 1e5,
    "cr": 1e7,
    "crore": 1e7,
    "crores": 1e7,
}
# Which figure units a written number of each kind may match.
_COMPATIBLE: dict[str, frozenset[str]] = {
    "percent": frozenset({"share", "pp"}),
    "pp": frozenset({"pp", "share"}),
    "currency": frozenset({"inr"}),
    "indian_scale": frozenset({"inr", "count"}),
    "multiple": frozenset({"ratio"}),
    "plain": frozenset({"count", "days", "score", "number", "inr", "ratio"}),
}


@dataclass(frozen=True)
class Mention:
    """A number read from the text, in base units, with how precisely it was written."""

    text: str
    start: int
    end: int
    value: float
    kind: str
    tolerance: float  # half a unit of the last digit written, in base units
    ulp: float  # one unit of the last digit written, in base units
    status: Status = "unverified"
    matched: str | None = None  # the figure's ref and key, "chart:<key>", or "definition"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Ignored:
    text: str
    start: int
    reason: str


@dataclass(frozen=True)
class GroundingResult:
    mentions: tuple[Mention, ...]
    ignored: tuple[Ignored, ...] = field(default_factory=tuple)

    @property
    def checked(self) -> int:
        return len(self.mentions)

    @property
    def verified(self) -> int:
        return sum(1 for m in self.mentions if m.status != "unverified")

    @property
    def unverified(self) -> tuple[Mention, ...]:
        return tuple(m for m in self.mentions if m.status == "unverified")

    @property
    def unverified_share(self) -> float:
        return len(self.unverified) / self.checked if self.checked else 0.0

    def passed(self, max_unverified_share: float) -> bool:
        return self.unverified_share <= max_unverified_share + 1e-12

    def to_dict(self, max_unverified_share: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "checked": self.checked,
            "verified": self.verified,
            "unverified": len(self.unverified),
            "unverified_share": self.unverified_share,
            "mentions": [m.to_dict() for m in self.mentions],
            "ignored": [asdict(i) for i in self.ignored],
        }
        if max_unverified_share is not None:
            out["max_unverified_share"] = max_unverified_share
            out["passed"] = self.passed(max_unverified_share)
        return out


@dataclass(frozen=True)
class _Candidate:
    value: float
    unit: str
    label: str


# --------------------------------------------------------------------------------------------
# Reading numbers
# --------------------------------------------------------------------------------------------


def _mask_ignored(text: str) -> tuple[str, list[Ignored]]:
    """The text with ignored regions blanked (offsets kept), and what was ignored."""
    chars = list(text)
    ignored: list[Ignored] = []
    for reason, pattern in _IGNORED_PATTERNS:
        for match in pattern.finditer("".join(chars)):
            if not any(c.isdigit() for c in match.group(0)):
                continue
            ignored.append(Ignored(text[match.start() : match.end()].strip(), match.start(), reason))
            for i in range(match.start(), match.end()):
                if chars[i] != "\n":
                    chars[i] = " "
    return "".join(chars), ignored


def extract_numbers(text: str) -> tuple[list[Mention], list[Ignored]]:
    """Every checkable number in ``text`` and every number left out (with the rule why)."""
    masked, ignored = _mask_ignored(text)
    mentions: list[Mention] = []
    for match in _NUMBER.finditer(masked):
        num = match.group("num")
        start = match.start("cur") if match.group("cur") else match.start("num")
        before = masked[start - 1] if start > 0 else " "
        after_end = match.end()
        after = masked[after_end] if after_end < len(masked) else " "
        raw = text[start:after_end].strip()
        suffix = (match.group("suffix") or "").strip()
        if before.isalnum() or before == "_" or (before == "." and start > 1 and masked[start - 2].isdigit()):
            ignored.append(Ignored(raw, start, "identifier"))
            continue
        if not suffix and _ORDINAL_AFTER.match(masked, match.end("num")):
            ignored.append(Ignored(raw, start, "ordinal"))
            continue
        if not suffix and (after.isalpha() or after == "_"):
            ignored.append(Ignored(raw, start, "identifier"))
            continue
        digits = num.replace(",", "")
        value = float(digits)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        currency = bool(match.group("cur"))
        bare_integer = not suffix and not currency and decimals == 0
        if bare_integer and "," not in num and 1900 <= value <= 2100 and len(digits) == 4:
            ignored.append(Ignored(raw, start, "year"))
            continue
        if bare_integer and value <= 10:
            ignored.append(Ignored(raw, start, "small_integer"))
            continue
        kind, scale = _kind_and_scale(suffix, currency)
        ulp = 10.0**-decimals * scale
        mentions.append(
            Mention(
                text=raw,
                start=start,
                end=after_end,
                value=value * scale,
                kind=kind,
                tolerance=0.5 * ulp,
                ulp=ulp,
            )
        )
    ignored.sort(key=lambda i: i.start)
    return mentions, ignored


def _kind_and_scale(suffix: str, currency: bool) -> tuple[str, float]:
    s = re.sub(r"\s+", " ", suffix.lower())
    if s in ("%", "percent", "per cent", "percent "):
        return "percent", 0.01
    if s.startswith("percentage point") or s in ("pp", "p.p."):
        return "pp", 0.01
    if s in ("x", "×", "times"):
        return "multiple", 1.0
    if s in ("inr", "rupees"):
        return "currency", 1.0
    scale = _SCALES.get(s, 1.0)
    if currency:
        return "currency", scale
    if s in ("lakh", "lakhs", "lac", "lacs", "cr", "crore", "crores"):
        return "indian_scale", scale
    return "plain", scale


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------


def _candidates(evidence: Evidence) -> list[_Candidate]:
    out: list[_Candidate] = []
    for figure in evidence.figures:
        if figure.value is not None and math.isfinite(float(figure.value)):
            out.append(_Candidate(abs(float(figure.value)), figure.unit, f"{figure.ref} {figure.key}"))
        if figure.sample_size is not None:
            # The sample size is part of the evidence: "across 414 customers" is a checked number.
            out.append(_Candidate(float(figure.sample_size), "count", f"{figure.ref} {figure.key} (n)"))
    for chart in evidence.charts:
        for value in chart.values():
            out.append(_Candidate(abs(float(value)), chart.unit, f"chart:{chart.key}"))
    return out


def _constants(evidence: Evidence) -> list[Mention]:
    """Numbers written in definitions, labels and chart notes: thresholds, windows, weights."""
    texts: list[str] = []
    for figure in evidence.figures:
        texts += [figure.definition, figure.label]
    for chart in evidence.charts:
        texts += [chart.note, chart.title]
    mentions: list[Mention] = []
    for text in texts:
        found, _ = extract_numbers(text)
        mentions += found
    return mentions


def _agrees(mention: Mention, value: float) -> bool:
    if abs(mention.value - value) <= mention.tolerance + 1e-9 * max(1.0, abs(value)):
        return True
    # Written truncated rather than rounded (14.96% as 14.9%).
    return 0 <= value - mention.value < mention.ulp - 1e-12 * max(1.0, abs(value))


def ground(text: str, evidence: Evidence) -> GroundingResult:
    """Check every number of ``text`` against ``evidence``."""
    mentions, ignored = extract_numbers(text)
    candidates = _candidates(evidence)
    constants = _constants(evidence)
    checked: list[Mention] = []
    for mention in mentions:
        # A threshold quoted exactly as its definition writes it ("20% of spend") is a constant,
        # even when some figure happens to round to the same value.
        if any(abs(c.value - mention.value) <= 1e-9 * max(1.0, abs(c.value)) for c in constants):
            checked.append(_with(mention, "constant", "definition"))
            continue
        units = _COMPATIBLE[mention.kind]
        match = next((c for c in candidates if c.unit in units and _agrees(mention, c.value)), None)
        if match is not None:
            checked.append(_with(mention, "verified", match.label))
            continue
        if any(_agrees(mention, c.value) for c in constants):
            checked.append(_with(mention, "constant", "definition"))
            continue
        checked.append(mention)
    return GroundingResult(tuple(checked), tuple(ignored))


def _with(mention: Mention, status: Status, matched: str) -> Mention:
    return replace(mention, status=status, matched=matched)


def annotate(text: str, result: GroundingResult, mark: str = UNVERIFIED_MARK) -> str:
    """The text with every unverified number followed by the mark."""
    out: list[str] = []
    position = 0
    for mention in sorted(result.unverified, key=lambda m: m.start):
        out.append(text[position : mention.end])
        out.append(f" {mark}")
        position = mention.end
    out.append(text[position:])
    return "".join(out)


def unverified_summary(result: GroundingResult, limit: int = 10) -> Sequence[str]:
    return [m.text for m in result.unverified[:limit]]


def numbers_in(texts: Iterable[str]) -> list[float]:
    """All checkable numbers of some texts, in base units (a helper for tests and tools)."""
    values: list[float] = []
    for text in texts:
        values += [m.value for m in extract_numbers(text)[0]]
    return values
