"""Rendering a report: Markdown for the Dagster UI, a standalone HTML page with SVG charts.

The HTML page needs nothing but a browser: styles are inline, charts are SVG drawn here from the
evidence (bar, horizontal bar and line charts), there is no script and no external resource, so
it opens offline, in a mail attachment or from an archive years later. The narrative's Markdown
is converted by a small converter that covers what the narrators write (headings, paragraphs,
bullet and numbered lists, bold, italics, code); everything is HTML-escaped first.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

from .evidence import Chart, Evidence, format_value, markdown_table
from .grounding import UNVERIFIED_MARK
from .report import InsightReport

PALETTE = ("#2f6fb0", "#e0803a", "#3a9a6a", "#b0443c", "#7a5ab0", "#8c8c8c")
_WIDTH = 560
_HEIGHT = 300


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _grounding_line(report: InsightReport) -> str:
    g = report.grounding
    if g is None:
        return "not checked"
    verdict = "passed" if report.grounded else "FAILED"
    unverified = len(g.unverified)
    parts = f"{g.verified} of {g.checked} numbers traced to the evidence"
    if unverified:
        parts += f", {unverified} {UNVERIFIED_MARK}"
    return f"{parts} ({verdict}; threshold {report.max_unverified_share:.0%} unverified)"


def render_markdown(report: InsightReport) -> str:
    ev = report.evidence
    focus = report.focus
    lines = [
        f"# {focus.title}: FinMatch insight report",
        "",
        f"> {focus.question} {focus.description}",
        "",
        f"**Generated** {report.generated_at:%Y-%m-%d %H:%M} UTC · **model** `{report.model}` ({report.provider}) · "
        f"**data** {ev.context.get('first_day', '?')} to {ev.context.get('last_day', '?')} · "
        f"**grounding** {_grounding_line(report)}",
        "",
        report.annotated_narrative.strip(),
        "",
    ]
    if report.changes:
        lines += [
            f"## Since the previous report ({report.previous_generated_at or 'earlier'})",
            "",
            markdown_table(
                ["Figure", "Previous", "Now", "Change"],
                [(c.label, c.previous, c.current, c.change) for c in report.changes],
            ),
            "",
        ]
    lines += [
        "## Evidence",
        "",
        markdown_table(
            ["ID", "Figure", "Value", "n", "Definition", "Source"],
            [
                (
                    f.ref,
                    f.label,
                    f.display,
                    "" if f.sample_size is None else f"{f.sample_size:,}",
                    f.definition,
                    f.source,
                )
                for f in ev.figures
            ],
        ),
        "",
        "## Steps",
        "",
        markdown_table(
            ["#", "Step", "Seconds", "Figures", "Result"],
            [(s.index, s.title, f"{s.seconds:.3f}", s.figures, s.summary) for s in report.steps],
        ),
        "",
        "## Grounding",
        "",
        f"- {_grounding_line(report)}.",
    ]
    g = report.grounding
    if g is not None:
        constants = [m.text for m in g.mentions if m.status == "constant"]
        if constants:
            lines.append(f"- Constants from the figures' definitions: {', '.join(constants)}.")
        if g.unverified:
            lines.append(f"- Unverified: {', '.join(m.text for m in g.unverified)}.")
        if g.ignored:
            reasons: dict[str, int] = {}
            for item in g.ignored:
                reasons[item.reason] = reasons.get(item.reason, 0) + 1
            lines.append(
                "- Not checked (rules in finmatch_platform/lib/insights/grounding.py): "
                + ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(reasons.items()))
                + "."
            )
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# Markdown to HTML (the subset the narratives use)
# --------------------------------------------------------------------------------------------


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", out)
    out = re.sub(r"(?<![\w*])_(?!\s)(.+?)(?<!\s)_(?![\w*])", r"<em>\1</em>", out)
    out = re.sub(r"\[(F\d+)\]", r'<a class="cite" href="#\1">\1</a>', out)
    return out.replace(html.escape(UNVERIFIED_MARK, quote=False), f'<mark class="unverified">{UNVERIFIED_MARK}</mark>')


def markdown_to_html(text: str) -> str:
    """Headings, paragraphs, (nested) bullet and numbered lists and inline emphasis."""
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, "ul" | "ol") of open lists
    paragraph: list[str] = []

    def close_paragraph() -> None:
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    def close_lists(to_indent: int = -1) -> None:
        while stack and stack[-1][0] > to_indent:
            out.append(f"</li></{stack.pop()[1]}>")

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            close_paragraph()
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        item = re.match(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$", line)
        if heading:
            close_paragraph()
            close_lists()
            level = min(len(heading.group(1)) + 1, 6)  # the page's own title is the h1
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif item:
            close_paragraph()
            indent = len(item.group(1).expandtabs(4))
            kind = "ul" if item.group(2) in "-*+" else "ol"
            if stack and indent > stack[-1][0]:
                out.append(f"<{kind}>")
                stack.append((indent, kind))
            else:
                close_lists(indent)
                if stack and stack[-1][0] == indent and stack[-1][1] == kind:
                    out.append("</li>")
                else:
                    if stack and stack[-1][0] == indent:
                        out.append(f"</li></{stack.pop()[1]}>")
                    out.append(f"<{kind}>")
                    stack.append((indent, kind))
            out.append(f"<li>{_inline(item.group(3))}")
        elif stack and raw.startswith(" "):
            out[-1] += " " + _inline(line.strip())
        else:
            close_lists()
            paragraph.append(line.strip())
    close_paragraph()
    close_lists()
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# SVG charts
# --------------------------------------------------------------------------------------------


def _axis_label(value: float, unit: str) -> str:
    """Short tick labels: ₹1.2 Cr, ₹45 lakh, ₹12K, 20%, 1,200."""
    if unit in ("share", "pp"):
        return f"{round(value * 100, 1):g}%"
    if unit == "inr":
        v = abs(value)
        sign = "-" if value < 0 else ""
        if v >= 1e7:
            return f"{sign}₹{v / 1e7:.1f} Cr"
        if v >= 1e5:
            return f"{sign}₹{v / 1e5:.1f} lakh"
        if v >= 1e3:
            return f"{sign}₹{v / 1e3:.0f}K"
        return f"{sign}₹{v:.0f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}" if unit in ("count", "days") else f"{value:.2g}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    base = value / 10**exponent
    # Maxima that split into four ticks with short labels (2 -> 0.5, 1, 1.5, 2).
    for step in (1, 2, 4, 6, 8, 10):
        if base <= step + 1e-9:
            return step * 10**exponent
    return 10 ** (exponent + 1)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _legend(chart: Chart, x: float, y: float) -> list[str]:
    if len(chart.series) < 2:
        return []
    parts = []
    for i, (name, _) in enumerate(chart.series):
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x:.1f}" y="{y + i * 16:.1f}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{y + i * 16 + 9:.1f}" font-size="11">{_e(_truncate(name, 26))}</text>')
    return parts


def _svg(chart: Chart, body: list[str], height: int = _HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{_e(chart.key)}" '
        f'viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" role="img" '
        f'aria-label="{_e(chart.title)}" font-family="Helvetica, Arial, sans-serif" fill="#222">'
        f"<title>{_e(chart.title)}</title>" + "".join(body) + "</svg>"
    )


def _y_axis(lo: float, hi: float, unit: str, left: float, top: float, plot_w: float, plot_h: float) -> list[str]:
    parts = []
    for i in range(5):
        value = lo + (hi - lo) * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_e(_axis_label(value, unit))}</text>'
        )
    return parts


def _bar_svg(chart: Chart) -> str:
    values = [v for _, vs in chart.series for v in vs if v is not None]
    hi = _nice_max(max([0.0, *values]))
    lo = -_nice_max(-min(values)) if values and min(values) < 0 else 0.0
    left, top, right, bottom = 70.0, 20.0, 20.0, 60.0
    if len(chart.series) > 1:
        right = 140.0
    plot_w, plot_h = _WIDTH - left - right, _HEIGHT - top - bottom
    n, k = len(chart.labels), len(chart.series)
    group = plot_w / max(n, 1)
    bar_w = max(2.0, group * 0.7 / k)
    zero_y = top + plot_h * (hi / (hi - lo))
    parts = _y_axis(lo, hi, chart.unit, left, top, plot_w, plot_h)
    for i, label in enumerate(chart.labels):
        gx = left + i * group + group * 0.15
        for j, (name, vs) in enumerate(chart.series):
            value = vs[i]
            if value is None:
                continue
            h = plot_h * abs(value) / (hi - lo)
            y = zero_y - h if value >= 0 else zero_y
            x = gx + j * bar_w
            color = PALETTE[j % len(PALETTE)]
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{max(h, 0.5):.1f}" fill="{color}">'
                f"<title>{_e(label)} · {_e(name)}: {_e(format_value(value, chart.unit))}</title></rect>"
            )
            if n * k <= 12:
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{y - 4 if value >= 0 else y + h + 12:.1f}" font-size="10" '
                    f'text-anchor="middle">{_e(format_value(value, chart.unit))}</text>'
                )
        cx = left + i * group + group / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 16:.1f}" font-size="11" text-anchor="middle">'
            f"{_e(_truncate(label, max(6, int(group / 6.5))))}</text>"
        )
    parts.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{zero_y:.1f}" y2="{zero_y:.1f}" stroke="#555"/>')
    parts += _legend(chart, left + plot_w + 12, top)
    return _svg(chart, parts)


def _hbar_svg(chart: Chart) -> str:
    n = len(chart.labels)
    row = 26.0
    top, bottom, left, right = 10.0, 10.0, 200.0, 90.0
    height = int(top + bottom + row * max(n, 1))
    values = [v for _, vs in chart.series for v in vs if v is not None]
    hi = _nice_max(max([0.0, *[abs(v) for v in values]]))
    plot_w = _WIDTH - left - right
    name, vs = chart.series[0]
    parts = []
    for i, label in enumerate(chart.labels):
        y = top + i * row
        value = vs[i]
        parts.append(
            f'<text x="{left - 8:.1f}" y="{y + row / 2 + 4:.1f}" font-size="12" text-anchor="end">{_e(_truncate(label, 30))}</text>'
        )
        if value is None:
            continue
        w = plot_w * abs(value) / hi
        parts.append(
            f'<rect class="bar" x="{left:.1f}" y="{y + 4:.1f}" width="{max(w, 0.5):.1f}" height="{row - 8:.1f}" '
            f'fill="{PALETTE[0] if value >= 0 else PALETTE[3]}"><title>{_e(label)}: {_e(format_value(value, chart.unit))}</title></rect>'
        )
        parts.append(
            f'<text x="{left + w + 6:.1f}" y="{y + row / 2 + 4:.1f}" font-size="11">{_e(format_value(value, chart.unit))}</text>'
        )
    parts.append(f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top:.1f}" y2="{height - bottom:.1f}" stroke="#555"/>')
    return _svg(chart, parts, height)


def _line_svg(chart: Chart) -> str:
    values = [v for _, vs in chart.series for v in vs if v is not None]
    hi = _nice_max(max([0.0, *values]))
    lo = -_nice_max(-min(values)) if values and min(values) < 0 else 0.0
    left, top, bottom = 70.0, 20.0, 60.0
    right = 175.0 if len(chart.series) > 1 else 20.0
    plot_w, plot_h = _WIDTH - left - right, _HEIGHT - top - bottom
    n = len(chart.labels)
    parts = _y_axis(lo, hi, chart.unit, left, top, plot_w, plot_h)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        return x, top + plot_h - plot_h * (v - lo) / (hi - lo)

    for j, (name, vs) in enumerate(chart.series):
        color = PALETTE[j % len(PALETTE)]
        points = [xy(i, v) for i, v in enumerate(vs) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline class="series" points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for (x, y), (i, v) in zip(points, [(i, v) for i, v in enumerate(vs) if v is not None], strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"><title>{_e(chart.labels[i])} · '
                f"{_e(name)}: {_e(format_value(v, chart.unit))}</title></circle>"
            )
    # At most six evenly spread period labels; ISO dates lose the year the title already implies.
    shown = sorted({round(i * (n - 1) / 5) for i in range(6)}) if n > 6 else range(n)
    for i in shown:
        label = chart.labels[i]
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", label):
            label = label[5:]
        x, _ = xy(i, lo)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16:.1f}" font-size="10" text-anchor="middle">{_e(_truncate(label, 10))}</text>'
        )
    parts.append(
        f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{top + plot_h:.1f}" y2="{top + plot_h:.1f}" stroke="#555"/>'
    )
    parts += _legend(chart, left + plot_w + 12, top)
    return _svg(chart, parts)


def chart_svg(chart: Chart) -> str:
    """One chart as an inline SVG element."""
    if chart.kind == "hbar":
        return _hbar_svg(chart)
    if chart.kind == "line":
        return _line_svg(chart)
    return _bar_svg(chart)


# --------------------------------------------------------------------------------------------
# HTML page
# --------------------------------------------------------------------------------------------

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;background:#f5f6f8;color:#222;line-height:1.45}
main{max-width:1160px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px}h2{margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px}.question{font-size:16px;color:#333}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.kpi{background:#fff;border-radius:6px;padding:12px 16px;min-width:160px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi .value{font-size:24px;font-weight:bold;color:#2f6fb0}.kpi .label{font-size:12px;color:#555}
.narrative,.panel{background:#fff;border-radius:6px;padding:8px 24px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
figure{margin:0;background:#fff;border-radius:6px;padding:12px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
figcaption{font-weight:bold;margin-bottom:6px}figcaption small{display:block;font-weight:normal;color:#666}
table{border-collapse:collapse;width:100%;font-size:12px;background:#fff}
th,td{border-bottom:1px solid #e4e4e4;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;white-space:nowrap}
a.cite{font-size:11px;color:#2f6fb0;text-decoration:none;vertical-align:super}
mark.unverified{background:#ffe08a;color:#7a4b00;padding:0 2px;border-radius:2px;font-weight:bold}
.ok{color:#2b7a4b;font-weight:bold}.fail{color:#b0443c;font-weight:bold}
"""


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    numeric: Sequence[int] = (),
    ids: Sequence[str] | None = None,
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for r, row in enumerate(rows):
        row_id = f' id="{_e(ids[r])}"' if ids else ""
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>" for i, v in enumerate(row)
        )
        body.append(f"<tr{row_id}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kpis(evidence: Evidence) -> str:
    cards = [
        f'<div class="kpi"><div class="value">{_e(f.display)}</div><div class="label">{_e(f.label)} '
        f'<a class="cite" href="#{_e(f.ref)}">{_e(f.ref)}</a></div></div>'
        for f in evidence.figures
        if f.headline and f.value is not None
    ]
    return f'<section class="kpis">{"".join(cards)}</section>' if cards else ""


def _figure(chart: Chart) -> str:
    note = f"<small>{_e(chart.note)}</small>" if chart.note else ""
    caption = f"<figcaption>{_e(chart.title)}{note}<small>Source: {_e(chart.source)}</small></figcaption>"
    return f"<figure>{caption}{chart_svg(chart)}</figure>"


def render_html(report: InsightReport) -> str:
    ev = report.evidence
    focus = report.focus
    verdict = '<span class="ok">grounded</span>' if report.grounded else '<span class="fail">grounding failed</span>'
    charts = "".join(_figure(c) for c in ev.charts)
    changes = ""
    if report.changes:
        rows = [(c.label, c.previous, c.current, c.change) for c in report.changes]
        changes = f"<h2>Since the previous report ({_e(report.previous_generated_at or 'earlier')})</h2>" + _table(
            ["Figure", "Previous", "Now", "Change"], rows, (1, 2, 3)
        )
    evidence_rows = [
        (f.ref, f.label, f.display, "" if f.sample_size is None else f"{f.sample_size:,}", f.definition, f.source)
        for f in ev.figures
    ]
    steps_rows = [(s.index, s.title, f"{s.seconds:.3f}", s.figures, s.summary) for s in report.steps]
    g = report.grounding
    unverified = (
        "<p>Unverified: " + ", ".join(f'<mark class="unverified">{_e(m.text)}</mark>' for m in g.unverified) + "</p>"
        if g is not None and g.unverified
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(focus.title)}: FinMatch insight report</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{_e(focus.title)}</h1>
<p class="question">{_e(focus.question)} {_e(focus.description)}</p>
<p class="meta">Generated {report.generated_at:%Y-%m-%d %H:%M} UTC · model <b>{_e(report.model)}</b> ({_e(report.provider)}) ·
data {_e(ev.context.get("first_day", "?"))} to {_e(ev.context.get("last_day", "?"))} · {verdict}: {_e(_grounding_line(report))}</p>
{_kpis(ev)}
<section class="narrative">
{markdown_to_html(report.annotated_narrative)}
</section>
<h2>Charts</h2>
<section class="charts">{charts}</section>
{changes}
<h2>Evidence</h2>
{_table(["ID", "Figure", "Value", "n", "Definition", "Source"], evidence_rows, (2, 3), [f.ref for f in ev.figures])}
<h2>Steps</h2>
{_table(["#", "Step", "Seconds", "Figures", "Result"], steps_rows, (0, 2, 3))}
<h2>Grounding</h2>
<section class="panel"><p>{_e(_grounding_line(report))}.</p>{unverified}</section>
</main>
</body>
</html>
"""
