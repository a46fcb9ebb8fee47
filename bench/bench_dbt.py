"""Benchmark: the full dbt build at 100,000 customers and 90 days of activity.

Run: ``.venv/bin/python bench/bench_dbt.py [--customers N] [--days N] [--workdir DIR]``

Phases, timed separately so the dbt figure is the dbt figure:

1. generation: every day's landing files from the real generator (``write_day``);
2. loading: raw.* with the ingestion loader (one window of all days), raw.fpr_records with the
   extraction engine (paging the API's own change-log store in process), masked.* with the
   masking library;
3. ``dbt build`` once, as a user runs it (the dbt CLI, a fresh process, every model and test);
4. one daily partition (the last day) rebuilt with ``--vars`` min_date/max_date, as the Dagster
   daily run does, and a 30-day window as a single-run backfill does: the incremental cost.

Prints a table and writes ``bench/results/bench_dbt.json`` (per-phase seconds, row counts, the
slowest dbt nodes, machine and load average).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finmatch_platform.lib.dbt_args import DateWindow, dbt_build_args  # noqa: E402
from finmatch_platform.resources.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR, WAREHOUSE_PATH_ENV  # noqa: E402
from finmatch_platform.simulator.generation import GenerationConfig, days_between, fraud_bursts, write_day  # noqa: E402
from finmatch_platform_tests.helpers.in_process import load_landed_warehouse  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
START_DAY = dt.date(2026, 10, 1)
BENCH_MASKING_KEY = "bench-dbt-masking-key-0a9b8c7d"


def _dbt(warehouse: Path, target: Path, args: list[str]) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, WAREHOUSE_PATH_ENV: str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [
        DBT_EXECUTABLE,
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(target),
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"dbt {' '.join(args)} failed:\n{completed.stdout[-5000:]}\n{completed.stderr[-2000:]}")
    return seconds, json.loads((target / "run_results.json").read_text())


def _counts(warehouse: Path, tables: list[str]) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return {t: int(conn.execute(f"select count(*) from {t}").fetchone()[0]) for t in tables}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the landing zone and warehouse here")
    options = parser.parse_args()

    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="bench-dbt-"))
    workdir.mkdir(parents=True, exist_ok=True)
    landing, warehouse = workdir / "landing", workdir / "warehouse.duckdb"
    shutil.rmtree(landing, ignore_errors=True)
    warehouse.unlink(missing_ok=True)
    config = GenerationConfig(
        seed=42, start_date=START_DAY, customers=options.customers, daily_new_customers=max(5, options.customers // 400)
    )
    days = days_between(START_DAY, START_DAY + dt.timedelta(days=options.days - 1))
    print(f"bench_dbt: {options.customers:,} customers, {options.days} days, workdir {workdir}", flush=True)

    started = time.perf_counter()
    for day in days:
        write_day(config, landing, day)
    generation_s = time.perf_counter() - started
    print(f"  generation {generation_s:8.1f} s", flush=True)

    started = time.perf_counter()
    with duckdb.connect(str(warehouse)) as conn:
        load_landed_warehouse(conn, landing, days, warehouse.parent / "checkpoints", BENCH_MASKING_KEY)
    loading_s = time.perf_counter() - started
    print(f"  loading    {loading_s:8.1f} s (raw.*, the vendor feeds and masking)", flush=True)

    build_s, results = _dbt(warehouse, workdir / "target-build", dbt_build_args())
    nodes = results["results"]
    models = [r for r in nodes if r["unique_id"].startswith("model.")]
    tests = [r for r in nodes if r["unique_id"].startswith("test.")]
    dbt_elapsed = float(results.get("elapsed_time", build_s))
    print(
        f"  dbt build  {build_s:8.1f} s wall ({dbt_elapsed:.1f} s inside dbt): {len(models)} models, {len(tests)} tests",
        flush=True,
    )

    last = days[-1]
    day_s, _ = _dbt(
        warehouse, workdir / "target-day", dbt_build_args(DateWindow(last, last), extra_args=["--select", "tag:daily"])
    )
    window = DateWindow(days[-30] if len(days) >= 30 else days[0], last)
    window_s, _ = _dbt(
        warehouse, workdir / "target-window", dbt_build_args(window, extra_args=["--select", "tag:daily"])
    )
    print(f"  daily facts, 1 day   {day_s:6.1f} s;  {window.days}-day window {window_s:6.1f} s", flush=True)

    # The fraud marts against the generator's ground truth, at full scale.
    planted = {(b["customer_id"], day) for day in days for b in fraud_bursts(config, day)}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        alerts = set(
            conn.execute("select customer_id, activity_date from marts.fraud_customer_days where is_alert").fetchall()
        )
    fraud = {"planted_bursts": len(planted), "alerts": len(alerts), "planted_bursts_alerted": len(planted & alerts)}
    print(
        f"  fraud: {fraud['planted_bursts_alerted']}/{fraud['planted_bursts']} planted bursts alerted, {fraud['alerts']} alerts in all"
    )

    slowest = sorted(nodes, key=lambda r: r["execution_time"], reverse=True)[:10]
    rows = _counts(
        warehouse,
        [
            "raw.transactions",
            "raw.login_activity",
            "masked.customers",
            "masked.fpr_records",
            "marts.fct_transactions",
            "marts.fct_logins",
            "marts.fraud_suspicious_transactions",
            "marts.fraud_customer_days",
        ],
    )
    report = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "load_average_1m": os.getloadavg()[0],
        "customers": options.customers,
        "days": options.days,
        "generation_s": round(generation_s, 2),
        "loading_s": round(loading_s, 2),
        "dbt_build_s": round(build_s, 2),
        "dbt_build_elapsed_inside_dbt_s": round(dbt_elapsed, 2),
        "dbt_models": len(models),
        "dbt_tests": len(tests),
        "daily_facts_one_day_s": round(day_s, 2),
        "daily_facts_window_days": window.days,
        "daily_facts_window_s": round(window_s, 2),
        "rows": rows,
        "fraud": fraud,
        "slowest_nodes": [{"node": r["unique_id"], "seconds": round(r["execution_time"], 2)} for r in slowest],
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "bench_dbt.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"  rows: {', '.join(f'{k}={v:,}' for k, v in rows.items())}")
    print(
        "  slowest dbt nodes: "
        + ", ".join(f"{r['unique_id'].split('.')[-1]} {r['execution_time']:.1f}s" for r in slowest[:5])
    )
    print(f"wrote {RESULTS_DIR / 'bench_dbt.json'}")
    if options.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
