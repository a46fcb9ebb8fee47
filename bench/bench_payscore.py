"""Benchmark the PayScore extraction against a dlt ``rest_api`` pipeline on the same server.

Run: ``.venv/bin/python bench/bench_payscore.py [--groups N] [--rounds R]``. Generates N
screening groups with the project's generator, starts the real ``finmatch-payscore-api`` on a
free loopback port, and at ``per_page`` 1000 measures, in the same run:

- **engine**: ``sync_source`` of the PayScore declaration into a fresh DuckDB file (Bearer auth,
  ``updated_since`` re-anchored on the last ``(updated_at, id)`` seen, a checkpoint per page);
- **dlt**: a ``rest_api`` source with its ``page_number`` paginator (``total_path``
  ``pagination.total_pages``), Bearer auth, merge on ``id`` into DuckDB, parquet loader files.

Each is scored by its best round; the ratio is quoted from the same run, with the machine's load.
Target: engine >= 3x dlt. Writes JSON under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

import duckdb  # noqa: E402

from finmatch_platform.landing_zone import layout as landing  # noqa: E402
from finmatch_platform.lib.connectors import sources  # noqa: E402
from finmatch_platform.lib.connectors.http import RestClient  # noqa: E402
from finmatch_platform.lib.connectors.paging import RestPager  # noqa: E402
from finmatch_platform.lib.connectors.sync import sync_source  # noqa: E402
from finmatch_platform.simulator.generation import GenerationConfig  # noqa: E402
from finmatch_platform.simulator.generation.screening_groups import screening_groups_table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_extraction import start_api_server  # noqa: E402

PER_PAGE = 1000
TARGET_VS_DLT = 3.0
API_KEY = "bench-payscore-key"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVER = Path(sys.executable).with_name("finmatch-payscore-api")
SOURCE = sources.screening_groups()
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def generate(landing_dir: Path, groups: int) -> int:
    config = GenerationConfig(seed=1, screening_groups=groups)
    table = screening_groups_table(config, config.start_date)
    landing.write_partition(landing_dir, "screening_groups", config.start_date, table)
    return table.num_rows


def start_server(landing_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_PAYSCORE_")}
    env.update(FINMATCH_LANDING_DIR=str(landing_dir), FINMATCH_PAYSCORE_API_KEY=API_KEY)
    return start_api_server(SERVER, env, log_path, "--refresh-seconds", "3600")


def run_engine(base_url: str, db_path: Path) -> dict[str, Any]:
    log_dir = db_path.with_name(db_path.stem + ".checkpoints")
    for leftover in (db_path, db_path.with_name(db_path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(log_dir, ignore_errors=True)
    conn = duckdb.connect(str(db_path))
    try:
        started = time.perf_counter()
        with RestClient(base_url, API_KEY, SOURCE.auth) as client:
            pager = RestPager(client, SOURCE, page_size=PER_PAGE, initial_since=EPOCH)
            summary = sync_source(conn, SOURCE, pager, log_dir=log_dir)
        seconds = time.perf_counter() - started
        rows, distinct = conn.execute("select count(*), count(distinct id) from raw.screening_group").fetchone()
    finally:
        conn.close()
    return {
        "records": rows,
        "rows": rows,
        "distinct_ids": distinct,
        "requests": summary.requests,
        "checkpoints": summary.checkpoints,
        "seconds": seconds,
        "records_per_s": rows / seconds,
    }


def run_dlt(base_url: str, work_dir: Path) -> dict[str, Any]:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    work_dir.mkdir(parents=True, exist_ok=True)
    db_path = work_dir / "dlt.duckdb"
    source = rest_api_source(
        {
            "client": {
                "base_url": base_url,
                "auth": {"type": "bearer", "token": API_KEY},
                "paginator": {
                    "type": "page_number",
                    "page_param": "page",
                    "base_page": 1,
                    "total_path": "pagination.total_pages",
                },
            },
            "resources": [
                {
                    "name": "screening_group",
                    "primary_key": "id",
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": "api/v1/screening-groups",
                        "params": {"per_page": PER_PAGE, "updated_since": "1970-01-01T00:00:00Z"},
                        "data_selector": "data",
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_payscore",
        destination=dlt.destinations.duckdb(str(db_path)),
        dataset_name="raw",
        pipelines_dir=str(work_dir / "dlt_pipelines"),
    )
    started = time.perf_counter()
    pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - started
    with duckdb.connect(str(db_path), read_only=True) as conn:
        rows, distinct = conn.execute("select count(*), count(distinct id) from raw.screening_group").fetchone()
    return {
        "records": rows,
        "rows": rows,
        "distinct_ids": distinct,
        "seconds": seconds,
        "records_per_s": rows / seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dlt-rounds", type=int, default=2)
    args = parser.parse_args()

    work_dir = Path(tempfile.mkdtemp(prefix="bench-payscore-"))
    try:
        total = generate(work_dir / "landing", args.groups)
        process, base_url = start_server(work_dir / "landing", work_dir / "server.log")
        try:
            engines = [run_engine(base_url, work_dir / "engine.duckdb") for _ in range(args.rounds)]
            dlt_runs = [run_dlt(base_url, work_dir / f"dlt-{i}") for i in range(args.dlt_rounds)]
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    for run in engines + dlt_runs:
        assert run["rows"] == run["distinct_ids"] == total, f"loaded {run['rows']} rows of {total}"
    engine_rate = max(r["records_per_s"] for r in engines)
    dlt_rate = max(r["records_per_s"] for r in dlt_runs)
    ratio = engine_rate / dlt_rate
    load = os.getloadavg()[0]
    print(
        f"PayScore extraction bench: {total:,} screening groups, per_page {PER_PAGE}; best of {args.rounds} rounds "
        f"(dlt: {args.dlt_rounds}); load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'run':<44} {'best s':>7} {'records/s':>10}")
    for label, runs in (
        ("engine (sync_source, re-anchored paging)", engines),
        ("dlt rest_api (page_number, merge)", dlt_runs),
    ):
        print(f"{label:<44} {min(r['seconds'] for r in runs):>7.2f} {max(r['records_per_s'] for r in runs):>10,.0f}")
    print(
        f"engine / dlt = {ratio:.2f} (target >= {TARGET_VS_DLT}) -> {'meets' if ratio >= TARGET_VS_DLT else 'MISSES'}"
    )

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "bench_payscore.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "payscore_extraction",
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "groups": total,
                "per_page": PER_PAGE,
                "load_average_1m": load,
                "cpus": os.cpu_count(),
                "records_per_s": {"engine": round(engine_rate), "dlt": round(dlt_rate)},
                "ratio_engine_vs_dlt": round(ratio, 2),
                "target": TARGET_VS_DLT,
                "meets_target": ratio >= TARGET_VS_DLT,
                "runs": {"engine": engines, "dlt": dlt_runs},
            },
            indent=2,
            default=round,
        )
        + "\n"
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
