"""Benchmark the FPR extraction against the ceiling (paging alone) and a dlt ``rest_api`` pipeline.

Run: ``.venv/bin/python bench/bench_extraction.py [--records N] [--rounds R]``. Generates N FPR
records with the project's generator, starts the real ``finmatch-api`` (fault injection off) on
a free loopback port, and at page_size 200 measures, in the same run:

- **ceiling**: the connector's client paging the whole feed and parsing every page, no database;
- **engine**: ``sync_source`` into a fresh DuckDB file, a checkpoint every 100 records (with
  200-record pages, each page's rows and cursor appended to the checkpoint log and synced to
  disk), merged into DuckDB in bulk every 122,880 records (a DuckDB row group);
- **per-page transactions**: the same engine merging at every checkpoint, so each page is one
  DuckDB transaction (the design before the checkpoint log), for comparison;
- **dlt**: a ``rest_api`` source (cursor paginator on next_cursor/has_more), merge on
  ``record_id`` into DuckDB with ``loader_file_format="parquet"``, fully offline.

The ceiling and the engine alternate for ``--rounds`` rounds (dlt runs ``--dlt-rounds`` times)
and each is scored by its best round, as ``timeit`` does: on a shared machine the slower rounds
measure the neighbours, not the code. Medians are reported too. Prints a table; writes JSON
under ``bench/results/``. Targets: engine >= 4x dlt and >= 0.5x the ceiling.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# dlt must not phone home: set before it is imported anywhere.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

import duckdb  # noqa: E402
import requests  # noqa: E402

from finmatch_platform.landing_zone import layout as landing  # noqa: E402
from finmatch_platform.lib.connectors import sources  # noqa: E402
from finmatch_platform.lib.connectors.http import RestClient  # noqa: E402
from finmatch_platform.lib.connectors.paging import RestPager  # noqa: E402
from finmatch_platform.lib.connectors.sync import sync_source  # noqa: E402
from finmatch_platform.simulator.generation import GenerationConfig, generate_day  # noqa: E402

PAGE_SIZE = 200
CHECKPOINT_EVERY = 100
MERGE_EVERY = 122_880  # the engine's default: one DuckDB row group
TARGET_VS_DLT = 4.0
SOURCE = sources.fpr_records("api_key")
TARGET_VS_CEILING = 0.5
API_KEY = "bench-extraction-key"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
FINMATCH_API = Path(sys.executable).with_name("finmatch-api")


def generate(landing_dir: Path, records: int) -> None:
    """``records`` FPR recommendations from the project generator, landed as one day."""
    config = GenerationConfig(seed=1, customers=max(2_000, records // 10), fpr_opening_recommendations=records)
    table = generate_day(config, config.start_date)["fpr_records"]
    landing.write_partition(landing_dir, "fpr_records", config.start_date, table)


def start_api_server(
    executable: Path, env: dict[str, str], log_path: Path, *args: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A simulated vendor API on a free loopback port, once its /health answers (fault injection off)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(executable), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{base_url}/health", timeout=1).ok:
                return process, base_url
        except requests.ConnectionError:
            time.sleep(0.05)
    process.terminate()
    raise SystemExit(f"{executable.name} did not start:\n{log_path.read_text()}")


def start_server(landing_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINMATCH_FAULT_", "FINMATCH_API_"))}
    env.update(FINMATCH_LANDING_DIR=str(landing_dir), FINMATCH_API_KEY=API_KEY, FINMATCH_API_REFRESH_SECONDS="3600")
    return start_api_server(FINMATCH_API, env, log_path)


def client(base_url: str) -> RestClient:
    return RestClient(base_url, API_KEY, SOURCE.auth)


def run_ceiling(base_url: str) -> dict[str, Any]:
    started = time.perf_counter()
    records = pages = 0
    with client(base_url) as api:
        for page in RestPager(api, SOURCE, page_size=PAGE_SIZE).pages(None):
            records += len(page.records)
            pages += 1
    seconds = time.perf_counter() - started
    return {"records": records, "pages": pages, "seconds": seconds, "records_per_s": records / seconds}


def run_engine(base_url: str, db_path: Path, merge_every: int) -> dict[str, Any]:
    log_dir = db_path.with_name(db_path.stem + ".checkpoints")
    for leftover in (db_path, db_path.with_name(db_path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(log_dir, ignore_errors=True)
    conn = duckdb.connect(str(db_path))
    try:
        started = time.perf_counter()
        with client(base_url) as api:
            summary = sync_source(
                conn,
                SOURCE,
                RestPager(api, SOURCE, page_size=PAGE_SIZE),
                log_dir=log_dir,
                checkpoint_every=CHECKPOINT_EVERY,
                merge_every=merge_every,
            )
        seconds = time.perf_counter() - started
        rows = conn.execute("select count(*), count(distinct record_id) from raw.fpr_records").fetchone()
    finally:
        conn.close()
    return {
        "records": summary.records,
        "pages": summary.pages,
        "checkpoints": summary.checkpoints,
        "merges": summary.merges,
        "rows": rows[0],
        "distinct_ids": rows[1],
        "seconds": seconds,
        "records_per_s": summary.records / seconds,
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
                "headers": {"api_key": API_KEY},
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_cursor",
                    "cursor_param": "cursor",
                    "has_more_path": "has_more",
                },
            },
            "resources": [
                {
                    "name": "fpr_records",
                    "primary_key": "record_id",
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": "fpr_data",
                        "params": {"page_size": PAGE_SIZE},
                        "data_selector": "fpr_records",
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_fpr_extraction",
        destination=dlt.destinations.duckdb(str(db_path)),
        dataset_name="raw",
        pipelines_dir=str(work_dir / "dlt_pipelines"),
    )
    started = time.perf_counter()
    pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - started
    with duckdb.connect(str(db_path), read_only=True) as conn:
        rows, distinct = conn.execute("select count(*), count(distinct record_id) from raw.fpr_records").fetchone()
    return {
        "records": rows,
        "rows": rows,
        "distinct_ids": distinct,
        "seconds": seconds,
        "records_per_s": rows / seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating ceiling/engine rounds (best taken)")
    parser.add_argument("--dlt-rounds", type=int, default=2, help="dlt runs (best taken); 0 leaves dlt out")
    args = parser.parse_args()

    work_dir = Path(tempfile.mkdtemp(prefix="bench-extraction-"))
    try:
        t0 = time.perf_counter()
        generate(work_dir / "landing", args.records)
        generate_s = time.perf_counter() - t0
        process, base_url = start_server(work_dir / "landing", work_dir / "server.log")
        try:
            served = requests.get(f"{base_url}/health", timeout=5).json()["records"]
            assert served == args.records, f"server holds {served} records, expected {args.records}"
            run_ceiling(base_url)  # warm-up: connection, server caches, allocator
            ceilings, engines, per_page = [], [], []
            for _ in range(args.rounds):
                ceilings.append(run_ceiling(base_url))
                engines.append(run_engine(base_url, work_dir / "engine.duckdb", MERGE_EVERY))
                per_page.append(run_engine(base_url, work_dir / "per-page.duckdb", CHECKPOINT_EVERY))
            dlt_runs = [run_dlt(base_url, work_dir / f"dlt-{i}") for i in range(args.dlt_rounds)]
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    for run in ceilings:
        assert run["records"] == args.records, f"ceiling paged {run['records']} records"
    for run in engines + per_page:
        assert run["rows"] == run["distinct_ids"] == args.records, f"engine loaded {run['rows']} rows"
        assert run["checkpoints"] >= args.records // PAGE_SIZE
    for run in dlt_runs:
        assert run["rows"] == run["distinct_ids"] == args.records, f"dlt loaded {run['rows']} rows"

    def best(runs: list[dict[str, Any]]) -> float:
        return max(r["records_per_s"] for r in runs)

    def median(runs: list[dict[str, Any]]) -> float:
        return statistics.median(r["records_per_s"] for r in runs)

    ceiling_rate, engine_rate = best(ceilings), best(engines)
    dlt_rate = best(dlt_runs) if dlt_runs else None
    vs_ceiling = engine_rate / ceiling_rate
    vs_dlt = engine_rate / dlt_rate if dlt_rate else None

    print(
        f"FPR extraction bench: {args.records:,} records, page_size {PAGE_SIZE}, checkpoint every "
        f"{CHECKPOINT_EVERY} records; generated in {generate_s:.1f}s; best of {args.rounds} rounds "
        f"(dlt: {args.dlt_rounds}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'run':<40} {'best s':>7} {'records/s':>10} {'median r/s':>11}")
    rows = [
        ("ceiling (client paging + JSON, no DB)", ceilings),
        ("engine (checkpoint log, bulk merges)", engines),
        ("engine, a DuckDB transaction per page", per_page),
    ]
    if dlt_runs:
        rows.append(("dlt rest_api (merge, parquet, DuckDB)", dlt_runs))
    for label, runs in rows:
        print(f"{label:<40} {min(r['seconds'] for r in runs):>7.2f} {best(runs):>10,.0f} {median(runs):>11,.0f}")
    print(f"checkpoint log vs a transaction per page = {engine_rate / best(per_page):.2f}x")
    print(
        f"engine / ceiling = {vs_ceiling:.2f} (target >= {TARGET_VS_CEILING}) -> "
        f"{'meets' if vs_ceiling >= TARGET_VS_CEILING else 'MISSES'}"
    )
    if vs_dlt is not None:
        print(
            f"engine / dlt     = {vs_dlt:.2f} (target >= {TARGET_VS_DLT}) -> {'meets' if vs_dlt >= TARGET_VS_DLT else 'MISSES'}"
        )

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "fpr_extraction",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1m": os.getloadavg()[0],
        },
        "records": args.records,
        "page_size": PAGE_SIZE,
        "checkpoint_every": CHECKPOINT_EVERY,
        "rounds": args.rounds,
        "dlt_rounds": args.dlt_rounds,
        "records_per_s": {
            "ceiling": round(ceiling_rate),
            "engine": round(engine_rate),
            "engine_transaction_per_page": round(best(per_page)),
            "dlt": round(dlt_rate) if dlt_rate else None,
        },
        "median_records_per_s": {
            "ceiling": round(median(ceilings)),
            "engine": round(median(engines)),
            "dlt": round(median(dlt_runs)) if dlt_runs else None,
        },
        "ratios": {"engine_vs_ceiling": round(vs_ceiling, 3), "engine_vs_dlt": round(vs_dlt, 2) if vs_dlt else None},
        "targets": {"engine_vs_ceiling": TARGET_VS_CEILING, "engine_vs_dlt": TARGET_VS_DLT},
        "meets_targets": vs_ceiling >= TARGET_VS_CEILING and (vs_dlt is None or vs_dlt >= TARGET_VS_DLT),
        "runs": {"ceiling": ceilings, "engine": engines, "engine_transaction_per_page": per_page, "dlt": dlt_runs},
    }
    out = RESULTS_DIR / "bench_extraction.json"
    out.write_text(json.dumps(result, indent=2, default=round) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
