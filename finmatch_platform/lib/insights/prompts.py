"""The messages a model receives: instructions and the evidence, aggregates only.

A prompt carries the focus area, the data window, the steps that ran and the evidence table
(citation id, label, formatted value, sample size, definition). Nothing row-level is ever in
it: the evidence is built from aggregate queries over masked marts. ``check_prompt_privacy``
is a last guard before anything leaves the process: it refuses a prompt holding anything that
looks like an e-mail address, a mobile number or a customer, account or record id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .evidence import Evidence
from .model import FocusArea

SYSTEM_PROMPT = """\
You are a senior retail-banking analyst at FinMatch, writing one section of an insight report \
for business analysts. You are given evidence computed from the bank's data marts; every figure \
has an id (F01, F02, ...), a value, a sample size and a definition.

Rules:
1. Use only figures from the evidence. Quote each number exactly as its value is written and put \
its id in square brackets right after it, for example "14.9% [F09]".
2. Do not compute new numbers (no sums, differences, ratios or projections of your own): the \
evidence already holds the comparisons that matter. Write small counts in words.
3. Say what the figures mean for the bank and what to do about them; name the segment, product \
type, lifecycle stage or archetype a figure is about.
4. The data is aggregated and masked. Never mention or ask about individual customers.
5. Write Markdown: "## " headings for sections, short paragraphs and bullet points, no tables, \
no preamble.
"""

# What each report must cover, in the order its sections should appear.
SECTIONS: dict[str, tuple[str, ...]] = {
    "overall_performance": (
        "Summary: the window covered, recommendations, acceptance, sales and churn in two or three sentences.",
        "Recommendation performance: status mix and the campaign funnel.",
        "Patterns across segments, products and lifecycle stages: where acceptance is highest and lowest.",
        "Customer health, spend and fraud: how churn moves with satisfaction, spend trend and mix, fraud bursts.",
    ),
    "optimization_opportunities": (
        "Summary: the three places to act.",
        "Where conversion leaks: funnel, archetypes and product types.",
        "Cross-sell: credit-card acceptance by travel spend and the top prospects.",
        "Retention: churn against satisfaction, the needs-attention list and churn risk.",
        "Where to act first: a short numbered list.",
    ),
    "financial_impact": (
        "Summary: revenue, its mix and sales from recommendations.",
        "Revenue: interchange and loan interest, by month and product type.",
        "Sales from recommendations: by product type and archetype.",
        "Value at stake: cross-sell, retention, fraud and conversion, each with its figure.",
    ),
    "strategic_recommendations": (
        "Summary: the starting point and the first priority.",
        "Recommendations, in priority order (use the order in the context's priorities): for each, the value at stake, why (evidence) and the next step.",
        "How to tell it worked: the figures to track.",
    ),
}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_MOBILE = re.compile(r"(?<![\d.,])(?:\+?91[\s-]?)?[6-9]\d{9}(?![\d.,])")
_IDS = re.compile(r"\b(?:C\d{9}|A\d{10}|FPR\d{10})\b")


class PrivacyError(RuntimeError):
    """A prompt holds something that looks like personal data; it is not sent."""


def evidence_table(evidence: Evidence) -> str:
    lines = ["id | figure | value | n | definition"]
    for f in evidence.figures:
        n = "" if f.sample_size is None else f"n={f.sample_size:,}"
        lines.append(f"{f.ref} | {f.label} | {f.display} | {n} | {f.definition}")
    return "\n".join(lines)


def _context_lines(evidence: Evidence) -> list[str]:
    skip = {"marts", "first_day", "last_day"}
    lines = []
    for key, value in evidence.context.items():
        if key in skip or value in (None, "", [], {}):
            continue
        if key == "priorities":
            value = "; ".join(f"{p['rank']}. {p['title']} (value at stake: {p['figure']})" for p in value)
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        lines.append(f"- {key.replace('_', ' ')}: {value}")
    return lines


def build_messages(focus: FocusArea, evidence: Evidence) -> list[dict[str, str]]:
    """The chat messages of a report: system instructions, then the focus and its evidence."""
    steps = [f"{i}. {s.title}: {s.description}" for i, s in enumerate(focus.steps, start=1) if s.kind == "data"]
    sections = "\n".join(f"- {s}" for s in SECTIONS[focus.key])
    context = _context_lines(evidence)
    user = "\n".join(
        [
            f"Report: {focus.title}. Question: {focus.question} {focus.description}",
            f"Data window: {evidence.context.get('first_day', '?')} to {evidence.context.get('last_day', '?')}.",
            "",
            "Analysis steps already run:",
            *steps,
            "",
            "Evidence:",
            evidence_table(evidence),
            "",
            *(["Context:", *context, ""] if context else []),
            "Write these sections:",
            sections,
        ]
    )
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    check_prompt_privacy(messages)
    return messages


def check_prompt_privacy(messages: Sequence[dict[str, Any]]) -> None:
    """Refuse a prompt that holds anything shaped like personal data (never echoing it)."""
    for message in messages:
        content = str(message.get("content", ""))
        for name, pattern in (("an e-mail address", _EMAIL), ("a mobile number", _MOBILE), ("a record id", _IDS)):
            if pattern.search(content):
                raise PrivacyError(
                    f"the {message.get('role', '?')} message holds {name}; prompts may carry only masked or "
                    "aggregated data, so nothing was sent"
                )
