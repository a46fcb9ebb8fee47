"""meta.quarantine is one table for the extraction and the quality gate, whichever writes first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb

from finmatch_platform.lib.connectors import sources
from finmatch_platform.lib.connectors.http import ClientStats
from finmatch_platform.lib.connectors.paging import Page
from finmatch_platform.lib.connectors.sync import sync_source
from finmatch_platform.lib.quality import ensure_quarantine_table


class _OnePage:
    """A page source with one page: a keyless record and a good one."""

    def __init__(self) -> None:
        self.stats = ClientStats()

    def pages(self, position: str | None) -> Iterator[Page]:
        records = [
            {"customer_id": "C000000001", "updated_at": "2026-10-01T10:00:00.000000Z", "_deleted": False},
            {"record_id": "FPR0000000001", "updated_at": "2026-10-01T10:00:01.000000Z", "_deleted": False},
        ]
        yield Page(records, "after-first-page")


def test_the_extraction_quarantines_into_a_table_the_quality_gate_created_first(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        ensure_quarantine_table(conn)

        summary = sync_source(conn, sources.fpr_records(), _OnePage(), log_dir=tmp_path / "checkpoints")

        rows = conn.execute(
            "select source_table, record_key, rule, reason, json_extract_string(payload, '$.customer_id') "
            "from meta.quarantine"
        ).fetchall()
    assert summary.quarantined == 1 and summary.inserted == 1
    assert rows == [("raw.fpr_records", None, "missing_primary_key", "record_id is missing", "C000000001")]


def test_the_quality_gate_widens_a_quarantine_table_the_extraction_created_first(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        sync_source(conn, sources.fpr_records(), _OnePage(), log_dir=tmp_path / "checkpoints")

        ensure_quarantine_table(conn)

        columns = {r[0] for r in conn.execute("describe meta.quarantine").fetchall()}
        count = conn.execute("select count(*) from meta.quarantine").fetchone()[0]
    assert {"source_table", "record_key", "rule", "reason", "payload", "load_id"} <= columns
    assert count == 1
