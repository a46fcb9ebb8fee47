"""Rendering: SVG charts, Markdown to HTML, and the standalone page in a real headless browser."""

from __future__ import annotations

import contextlib
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest

from finmatch_platform.lib.insights import narrate_request, run_report
from finmatch_platform.lib.insights.evidence import Chart
from finmatch_platform.lib.insights.render import PALETTE, chart_svg, markdown_to_html
from finmatch_platform.lib.llm import OfflineProvider
from finmatch_platform_tests.helpers.browser import chromium_args
from finmatch_platform_tests.helpers.insights import InsightsWarehouse

SVG = "{http://www.w3.org/2000/svg}"


def _chart(kind: str, series: int = 1, n: int = 4) -> Chart:
    labels = tuple(f"2026-10-{i + 1:02d}" for i in range(n))
    return Chart(
        key=f"c_{kind}",
        title=f"A {kind} chart",
        kind=kind,  # type: ignore[arg-type]
        unit="share",
        labels=labels,
        series=tuple((f"series {s}", tuple(0.1 * (i + 1) + 0.05 * s for i in range(n))) for s in range(series)),
        source="marts.x",
    )


@pytest.mark.parametrize("kind", ["bar", "hbar", "line"])
def test_each_chart_kind_is_well_formed_svg_with_a_mark_per_value(kind: str) -> None:
    chart = _chart(kind, series=1 if kind == "hbar" else 2, n=5)
    root = ET.fromstring(chart_svg(chart))
    assert root.tag == f"{SVG}svg" and root.get("data-chart") == chart.key
    if kind == "line":
        assert len(root.findall(f".//{SVG}polyline")) == 2
        assert len(root.findall(f".//{SVG}circle")) == 10
    else:
        bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
        assert len(bars) == (5 if kind == "hbar" else 10)
        assert all(float(b.get("width", 0)) > 0 and float(b.get("height", 0)) > 0 for b in bars)
    # Every value is readable as a tooltip, written like the report writes it.
    assert "50.0%" in chart_svg(chart)


def test_a_negative_value_draws_below_the_axis() -> None:
    chart = Chart("neg", "Change", "bar", "share", ("a", "b"), (("change", (0.2, -0.1)),), source="x")
    root = ET.fromstring(chart_svg(chart))
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert float(bars[1].get("y")) > float(bars[0].get("y"))


def test_markdown_becomes_html_with_lists_emphasis_citations_and_escaping() -> None:
    html = markdown_to_html(
        "## Summary\n\nAcceptance is **14.9%** [F09] for *Rural* customers.\n\n"
        "1. First\n   - Why: <script>alert(1)</script>\n   - Next: act\n2. Second ⚠ unverified\n"
    )
    assert "<h3>Summary</h3>" in html
    assert "<strong>14.9%</strong>" in html and "<em>Rural</em>" in html
    assert '<a class="cite" href="#F09">F09</a>' in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert html.count("<ol>") == 1 and html.count("<ul>") == 1 and html.count("<li>") == 4
    assert '<mark class="unverified">⚠ unverified</mark>' in html


# --------------------------------------------------------------------------------------------
# The page in a real browser
# --------------------------------------------------------------------------------------------


def decode_png(data: bytes) -> np.ndarray:
    """A minimal PNG decoder (8-bit RGB/RGBA, no interlace): height x width x channels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: a running sum per channel, mod 256
            row = (np.cumsum(line.reshape(width, bpp).astype(np.int64), axis=0) % 256).astype(np.uint8).reshape(stride)
        elif kind == 2:  # Up
            row = (line.astype(np.int16) + prev).astype(np.uint8)
        else:  # Average (3) and Paeth (4) depend on the pixel just decoded: byte by byte
            row = bytearray(stride)
            up = prev.tolist()
            cur = line.tolist()
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    row[i] = (cur[i] + ((a + b) >> 1)) & 0xFF
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    row[i] = (cur[i] + predictor) & 0xFF
            row = np.frombuffer(bytes(row), dtype=np.uint8)
        out[y] = row
        prev = row
    return out.reshape(height, width, bpp)


@pytest.fixture(scope="module")
def report_html(insights_warehouse: InsightsWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Overall Performance report, rendered from the seeded warehouse."""

    @contextlib.contextmanager
    def connect() -> Iterator[duckdb.DuckDBPyConnection]:
        conn = duckdb.connect(str(insights_warehouse.path), read_only=True)
        try:
            yield conn
        finally:
            conn.close()

    reports = tmp_path_factory.mktemp("reports")
    report = run_report(
        "overall_performance", connect, OfflineProvider(narrate_request), reports_dir=reports, write_history=False
    )
    assert report.latest_html_path is not None
    return Path(report.latest_html_path)


def test_the_page_is_standalone_no_script_no_external_resource(report_html: Path) -> None:
    page = report_html.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert page.count("http://") == page.count('xmlns="http://www.w3.org/2000/svg"')
    assert "https://" not in page


def test_the_report_opens_in_headless_chromium_and_its_charts_render(
    report_html: Path, tmp_path: Path, chromium: str
) -> None:
    binary = chromium
    page = report_html.read_text(encoding="utf-8")
    expected_charts = page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"')
    assert expected_charts >= 6

    dom = subprocess.run(
        [*chromium_args(binary, tmp_path / "profile-dom"), "--dump-dom", report_html.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The browser parsed every chart into SVG elements, bars and lines included.
    assert dom.stdout.count('class="chart"') == expected_charts
    assert dom.stdout.count('class="bar"') >= 20
    assert '<polyline class="series"' in dom.stdout

    png = tmp_path / "report.png"
    shot = subprocess.run(
        [*chromium_args(binary, tmp_path / "profile-shot"), f"--screenshot={png}", report_html.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    pixels = decode_png(png.read_bytes())
    assert pixels.shape[:2] == (1600, 1200)
    rgb = pixels[:, :, :3].reshape(-1, 3)
    colors = np.unique(rgb[::7], axis=0)
    assert len(colors) > 50, "the screenshot is (nearly) blank"
    # Bars are filled with the palette's first colour: a chart really was painted.
    bar = np.array([int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
    bar_pixels = int(np.all(rgb == bar, axis=1).sum())
    assert bar_pixels > 5_000, f"only {bar_pixels} pixels in the bar colour"
