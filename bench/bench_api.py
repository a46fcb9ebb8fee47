"""Benchmark the FPR API: page through 200,000 records the way a connector does.

Run: ``.venv/bin/python bench/bench_api.py [--records N] [--profile simulator|vendor]``. Generates
a synthetic FPR change log, starts the real ``finmatch-api`` (one uvicorn worker) on a free loopback
port, and pages the whole feed with one ``requests.Session`` at page_size 100 and 200, decoding
every page with ``response.json()`` as connectors do (simulator: while ``has_more``; vendor: until
an empty page, with the ``api_key`` header). Prints a table and writes JSON under ``bench/results/``.

Target: >= 30,000 records/s at page_size 200.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import requests

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone import schemas

TARGET_RECORDS_PER_S = 30_000
API_KEY = "bench-api-key-0123"
START_DAY = dt.date(2026, 10, 1)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _choice(rng: np.random.Generator, values: list[str], n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, len(values), n), pa.int32()), pa.array(values)
    ).dictionary_decode()


def generate_landing(root: Path, records: int, days: int = 20, seed: int = 1) -> None:
    """Synthetic FPR rows, vectorised (a couple of seconds for 200k): ``records`` distinct records
    created over ``days`` days, timestamps spread through each day so keyset order is realistic."""
    rng = np.random.default_rng(seed)
    per_day = -(-records // days)
    for offset in range(days):
        first = offset * per_day
        n = min(per_day, records - first)
        if n <= 0:
            break
        day = START_DAY + dt.timedelta(days=offset)
        ids = np.arange(first + 1, first + n + 1)
        day_start_us = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1_000_000)
        stamps = np.sort(day_start_us + rng.integers(0, 86_400_000_000, n))
        day32 = (day - dt.date(1970, 1, 1)).days
        accepted = rng.random(n) < 0.3
        columns: dict[str, pa.Array] = {
            "record_id": pa.array([f"FPR{i:010d}" for i in ids]),
            "customer_id": pa.array([f"C{i % 50_000:09d}" for i in ids]),
            "customer_name": _choice(rng, ["Asha Rao", "Vikram Nair", "Meera Iyer", "Rahul Gupta"], n),
            "customer_email": pa.array([f"customer{i % 50_000}@example.com" for i in ids]),
            "customer_segment": _choice(rng, ["Urban", "Rural", "Semi-Urban"], n),
            "customer_lifecycle_stage": _choice(rng, ["New", "Growing", "Mature", "At Risk", "Dormant"], n),
            "customer_lifecycle_stage_transition_date": pa.array(day32 - rng.integers(0, 400, n), pa.int32()).cast(
                pa.date32()
            ),
            "account_balance": pa.array(np.round(rng.uniform(0, 500_000, n), 2)),
            "transaction_history": _choice(rng, ["Food & Grocery:3;Travel:1", "Ecom:5", "Fuel:2;Health:1"], n),
            "customer_transaction_value": pa.array(np.round(rng.uniform(0, 80_000, n), 2)),
            "customer_transaction_count": pa.array(rng.integers(0, 60, n), pa.int32()),
            "product_id": pa.array([f"P{k:04d}" for k in rng.integers(1, 40, n)]),
            "product_name": _choice(rng, ["Travel Card", "Home Loan", "Term Life", "Fixed Deposit"], n),
            "product_type": _choice(rng, ["Credit Card", "Loan", "Insurance", "Deposit"], n),
            "product_terms": _choice(rng, ["Standard terms apply", "0% for 12 months, then 36% APR"], n),
            "product_sales_amount": pa.array(np.round(rng.uniform(1_000, 900_000, n), 2), mask=~accepted),
            "product_sales_date": pa.array(np.full(n, day32, np.int32), pa.int32(), mask=~accepted).cast(pa.date32()),
            "product_recommendation": _choice(rng, ["A card for your travels", "Grow your savings"], n),
            "product_recommendation_date": pa.array(np.full(n, day32, np.int32)).cast(pa.date32()),
            "product_recommendation_status": _choice(rng, ["Recommended", "Viewed", "Accepted", "Rejected"], n),
            "recommendation_score": pa.array(np.round(rng.random(n), 4)),
            # Decimal text, as the contract has it (the vendor documents a string).
            "customer_product_usage": pa.array(np.char.mod("%.4f", rng.random(n)).tolist(), pa.string()),
            "customer_product_affinity": pa.array(np.round(rng.random(n), 4)),
            "customer_product_affinity_trend": _choice(rng, ["Increasing", "Stable", "Decreasing"], n),
            "customer_product_usage_trend": _choice(rng, ["Increasing", "Stable", "Decreasing"], n),
            "customer_product_interests": _choice(rng, ["travel,dining", "sports", "gadgets,movies"], n),
            "customer_satisfaction_score": pa.array(np.round(rng.uniform(1, 10, n), 1)),
            "customer_churn_probability": pa.array(np.round(rng.random(n), 4)),
            "updated_at": pa.array(stamps, pa.int64()).cast(schemas.TS),
            "_deleted": pa.array(np.zeros(n, bool)),
        }
        table = pa.table(columns).cast(schemas.FPR_RECORDS)
        landing.write_partition(root, "fpr_records", day, table)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    landing_dir: Path, log_path: Path, profile: str = "simulator"
) -> tuple[subprocess.Popen[bytes], str, float]:
    port = _free_port()
    env = {
        **os.environ,
        "FINMATCH_LANDING_DIR": str(landing_dir),
        "FINMATCH_API_KEY": API_KEY,
        "FINMATCH_API_PROFILE": profile,
    }
    env = {k: v for k, v in env.items() if not k.startswith("FINMATCH_FAULT_")}
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("finmatch-api")), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{base_url}/health", timeout=1).ok:
                return process, base_url, time.perf_counter() - started
        except requests.ConnectionError:
            time.sleep(0.05)
    process.terminate()
    raise SystemExit(f"finmatch-api did not start:\n{log_path.read_text()}")


def page_through(base_url: str, page_size: int, profile: str = "simulator") -> dict[str, Any]:
    """One full sync, as a connector runs it; returns throughput and per-page latency."""
    vendor = profile == "vendor"
    session = requests.Session()
    session.headers["api_key" if vendor else "x-api-key"] = API_KEY
    latencies: list[float] = []
    records = 0
    cursor: str | None = None
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        response = session.get(f"{base_url}/fpr_data", params={"page_size": page_size, "cursor": cursor}, timeout=30)
        response.raise_for_status()
        page = response.json()
        latencies.append(time.perf_counter() - t0)
        records += len(page["fpr_records"])
        cursor = page["next_cursor"]
        # The vendor's document has no has_more: its connector stops on the first empty page.
        if not (page["fpr_records"] if vendor else page["has_more"]):
            break
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "page_size": page_size,
        "records": records,
        "pages": len(latencies),
        "seconds": round(elapsed, 3),
        "records_per_s": round(records / elapsed),
        "page_ms_median": round(statistics.median(latencies) * 1000, 2),
        "page_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--profile", choices=["simulator", "vendor"], default="simulator")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate_landing(root / "landing", args.records)
        generate_s = time.perf_counter() - t0
        process, base_url, startup_s = start_server(root / "landing", root / "server.log", args.profile)
        try:
            served = requests.get(f"{base_url}/health", timeout=5).json()["records"]
            assert served == args.records, f"server holds {served} records, expected {args.records}"
            page_through(base_url, 200, args.profile)  # warm-up: connection, allocator, CPU caches
            runs = [page_through(base_url, size, args.profile) for size in (100, 200)]
        finally:
            process.terminate()
            process.wait(timeout=10)

    for run in runs:
        assert run["records"] == args.records, f"paged {run['records']} records, expected {args.records}"
    print(
        f"FPR API bench ({args.profile} profile): {args.records:,} records; generated in {generate_s:.1f}s, "
        f"server ready in {startup_s:.1f}s"
    )
    print(f"{'page_size':>9} {'pages':>6} {'seconds':>8} {'records/s':>10} {'page ms p50':>12} {'page ms p95':>12}")
    for run in runs:
        print(
            f"{run['page_size']:>9} {run['pages']:>6} {run['seconds']:>8.2f} {run['records_per_s']:>10,}"
            f" {run['page_ms_median']:>12.2f} {run['page_ms_p95']:>12.2f}"
        )
    at_200 = next(run for run in runs if run["page_size"] == 200)["records_per_s"]
    verdict = "meets" if at_200 >= TARGET_RECORDS_PER_S else "MISSES"
    print(f"page_size 200: {at_200:,} records/s {verdict} the target of {TARGET_RECORDS_PER_S:,}")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "fpr_api",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "records": args.records,
        "profile": args.profile,
        "generate_s": round(generate_s, 2),
        "server_ready_s": round(startup_s, 2),
        "target_records_per_s_at_200": TARGET_RECORDS_PER_S,
        "meets_target": at_200 >= TARGET_RECORDS_PER_S,
        "runs": runs,
    }
    out = RESULTS_DIR / ("bench_api.json" if args.profile == "simulator" else f"bench_api_{args.profile}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
