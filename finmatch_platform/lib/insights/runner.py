"""Running one report: the focus area's steps in order, the model, grounding, outputs, history.

``run_report`` is what an asset calls. It opens the warehouse twice: once for the data steps
(and the previous report, for the comparison), once at the end to append the history row. The
model is asked in between with no connection open, so a slow endpoint never holds DuckDB's
single write lock.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import duckdb

from finmatch_platform.lib.llm import ChatRequest, LlmProvider

from . import history
from .evidence import Evidence
from .grounding import annotate, ground
from .model import FocusArea, Step, StepContext
from .prompts import build_messages
from .render import render_html, render_markdown
from .report import InsightReport, StepRun
from .steps import FOCUS_AREAS

# Any number that traces to nothing fails the check by default; a run may allow some slack.
DEFAULT_MAX_UNVERIFIED_SHARE = 0.0

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
Log = Callable[[str], None]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def focus_area(focus: FocusArea | str) -> FocusArea:
    if isinstance(focus, FocusArea):
        return focus
    try:
        return FOCUS_AREAS[focus]
    except KeyError:
        raise KeyError(f"unknown focus area {focus!r}; expected one of {sorted(FOCUS_AREAS)}") from None


class _Progress:
    """Logs each step as it starts and ends, and records its timing."""

    def __init__(self, focus: FocusArea, evidence: Evidence, log: Log) -> None:
        self.focus = focus
        self.evidence = evidence
        self.log = log
        self.runs: list[StepRun] = []

    def run(self, index: int, step: Step, work: Callable[[], str]) -> str:
        total = len(self.focus.steps)
        self.log(f"{self.focus.title} · step {index}/{total} {step.title}: started")
        figures, charts = len(self.evidence.figures), len(self.evidence.charts)
        started = time.perf_counter()
        summary = work()
        seconds = time.perf_counter() - started
        run = StepRun(
            index=index,
            key=step.key,
            title=step.title,
            kind=step.kind,
            seconds=seconds,
            figures=len(self.evidence.figures) - figures,
            charts=len(self.evidence.charts) - charts,
            summary=summary,
        )
        self.runs.append(run)
        self.log(
            f"{self.focus.title} · step {index}/{total} {step.title}: done in {seconds:.2f} s "
            f"({run.figures} figures, {run.charts} charts): {summary}"
        )
        return summary


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report_paths(reports_dir: Path, focus_key: str, generated_at: dt.datetime, report_id: str) -> tuple[Path, Path]:
    """``<reports_dir>/<focus>/<UTC timestamp>-<id>.html`` and ``<reports_dir>/<focus>/latest.html``."""
    folder = reports_dir / focus_key
    stamp = generated_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return folder / f"{stamp}-{report_id[:8]}.html", folder / "latest.html"


def run_report(
    focus: FocusArea | str,
    connect: Connect,
    provider: LlmProvider,
    *,
    reports_dir: Path | None = None,
    max_unverified_share: float = DEFAULT_MAX_UNVERIFIED_SHARE,
    log: Log = lambda message: None,
    run_id: str | None = None,
    now: Callable[[], dt.datetime] = _utcnow,
    write_history: bool = True,
) -> InsightReport:
    """Run every step of a focus area and return the compiled report.

    Raises ``EvidenceError`` when the marts cannot support the report and ``LlmError`` when the
    model fails; nothing is written to the history or the reports folder in either case.
    """
    focus = focus_area(focus)
    if not 0.0 <= max_unverified_share <= 1.0:
        raise ValueError(f"max_unverified_share must be between 0 and 1, got {max_unverified_share}")
    evidence = Evidence()
    progress = _Progress(focus, evidence, log)
    report = InsightReport(
        report_id=uuid.uuid4().hex,
        focus=focus,
        generated_at=now(),
        model=provider.model,
        provider=provider.provider,
        endpoint=provider.name,
        evidence=evidence,
        max_unverified_share=max_unverified_share,
        run_id=run_id,
    )
    steps = list(enumerate(focus.steps, start=1))

    with connect() as conn:
        cache: dict[str, list[dict]] = {}
        for index, step in steps:
            if step.kind != "data":
                continue
            ctx = StepContext(conn=conn, evidence=evidence, focus=focus, step=step, cache=cache)
            assert step.run is not None
            progress.run(index, step, lambda ctx=ctx, step=step: step.run(ctx))  # type: ignore[misc]
        previous = history.latest_report(conn, focus.key)

    for index, step in steps:
        if step.kind == "model":
            progress.run(index, step, lambda: _model(report, provider))
        elif step.kind == "compile":
            progress.run(index, step, lambda: _compile(report, previous))

    # Final render, now that the compile step's own timing is known.
    report.steps = list(progress.runs)
    report.markdown = render_markdown(report)
    report.html = render_html(report)
    if reports_dir is not None:
        path, latest = report_paths(Path(reports_dir), focus.key, report.generated_at, report.report_id)
        report.html_path, report.latest_html_path = str(path), str(latest)
        _write_atomic(path, report.html)
        _write_atomic(latest, report.html)
        log(f"{focus.title}: HTML report written to {path} (and {latest.name})")
    if write_history:
        with connect() as conn:
            history.append_report(conn, report)
        log(f"{focus.title}: appended report {report.report_id} to {history.HISTORY_TABLE}")
    return report


def _model(report: InsightReport, provider: LlmProvider) -> str:
    report.messages = build_messages(report.focus, report.evidence)
    request = ChatRequest(
        messages=tuple(report.messages),
        context={"focus": report.focus.key, "evidence": report.evidence},
        purpose=f"insight report: {report.focus.key}",
    )
    completion = provider.complete(request)
    report.narrative = completion.text
    report.model = completion.model
    report.llm_attempts = completion.attempts
    report.llm_seconds = completion.seconds
    report.llm_usage = dict(completion.usage)
    words = len(completion.text.split())
    return (
        f"{provider.name} ({completion.provider}, model {completion.model}) wrote {words} words"
        f"{f' after {completion.attempts} attempts' if completion.attempts > 1 else ''}"
    )


def _compile(report: InsightReport, previous: dict | None) -> str:
    grounding = ground(report.narrative, report.evidence)
    report.grounding = grounding
    report.annotated_narrative = annotate(report.narrative, grounding)
    before = history.previous_evidence(previous)
    if before is not None and previous is not None:
        report.changes = history.compare(before, report.evidence)
        report.previous_report_id = previous.get("report_id")
        report.previous_generated_at = history.when(previous)
    report.markdown = render_markdown(report)
    report.html = render_html(report)
    verdict = "grounded" if report.grounded else "NOT grounded"
    return (
        f"{grounding.verified}/{grounding.checked} numbers traced to the evidence, "
        f"{len(grounding.unverified)} unverified ({verdict})"
    )
