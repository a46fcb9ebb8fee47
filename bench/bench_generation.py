"""Benchmark: vectorised generation against per-row Faker on the same fields.

Run: ``.venv/bin/python bench/bench_generation.py [--customers N] [--faker-rows N] [--repeat N]``

Measures, in one process:

* ``generate_customers`` for 1,000,000 customers, cold (every cache and pool dropped first, so
  the Faker pool build is included): the 33 KYC columns, exactly the landing schema;
* one day of transactions at that scale, including the day's fraud bursts, as a daily run
  produces them:
  - **cold**: the day after the go-live with every cache dropped first, so the 1,000,000-customer
    blocks (and the Faker pools) are drawn inside the timed run: what a run's first day pays once;
  - **warm**, the figure compared with Faker: the next day, right after it. The customer blocks
    (and what is derived from them once per block) are cached, as on every day of a run after its
    first; nothing of the timed day itself is (it has never been generated);
* that warm day's logins right after its transactions (as ``generate_day`` does), for information;
* per-row Faker producing the same customer fields (and a per-row transaction generator), timed on
  ``--faker-rows`` rows (default 10,000 per round, 50,000 in all) and extrapolated.

Each of ``--repeat`` rounds times the vectorised runs and then the Faker runs back to back, so both
see the same machine load (other processes only ever add time); the table reports the best round
of each (the usual benchmark convention) and the JSON also keeps every round, the per-round
ratios and the CPU seconds. Results are written to ``bench/results/bench_generation.json``.

Targets: >= 80x the per-row Faker rate (customers, and warm transactions), and 1,000,000
customers in under 5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from faker import Faker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finmatch_platform.simulator.generation import GenerationConfig, clear_caches, generate_customers  # noqa: E402
from finmatch_platform.simulator.generation import reference as ref  # noqa: E402
from finmatch_platform.simulator.generation.activity import logins_table, transactions_table  # noqa: E402
from finmatch_platform.simulator.generation.strings import WORKERS  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_generation.json"
TARGET_RATIO = 80.0
TARGET_SECONDS_1M = 5.0


def _timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads) and the row count of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, rows


def faker_customers(n: int, seed: int = 42) -> list[dict[str, object]]:
    """The KYC fields of generate_customers, one Faker call per field per row."""
    fake = Faker("en_IN")
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    start = dt.date(2026, 10, 1)
    rows = []
    for i in range(1, n + 1):
        male = rnd.random() < 0.52
        first = fake.first_name_male() if male else fake.first_name_female()
        last = fake.last_name()
        dob = fake.date_of_birth(minimum_age=1, maximum_age=85)
        age = (start - dob).days // 365
        married = age >= 25 and rnd.random() < 0.7
        created = fake.date_time_between(start_date="-10y", end_date="-1d", tzinfo=dt.UTC)
        rows.append(
            {
                "customer_id": f"C{i:09d}",
                "title": ("Master" if age < 18 else "Mr")
                if male
                else ("Miss" if age < 18 else "Mrs" if married else "Ms"),
                "first_name": first,
                "middle_name": fake.first_name_male() if rnd.random() < 0.35 else None,
                "last_name": last,
                "gender": "Male" if male else "Female",
                "date_of_birth": dob,
                "is_minor": age < 18,
                "is_senior_citizen": age >= 60,
                "marital_status": "Married" if married else "Single",
                "nationality": "Indian",
                "segment": fake.random_element(("Urban", "Semi-Urban", "Rural")),
                "category": fake.random_element(("Resident", "Non Resident")),
                "privilege": fake.random_element(("Regular", "Silver", "Gold", "Platinum")),
                "customer_type": fake.random_element(("Personal", "Corporate", "Merchant")),
                "occupation": "Student" if age < 18 else fake.job(),
                "sourcing_channel": fake.random_element(("Branch", "Partner", "Online")),
                "status": fake.random_element(("Active", "Dormant", "Deceased")),
                "risk_category": fake.random_element(("Low", "Medium", "High")),
                "affluence_level": fake.random_element(("Mass", "Mass Affluent", "Affluent", "HNI")),
                "email": f"{first.lower()}.{last.lower()}{i}@{fake.free_email_domain()}",
                "dialling_code": "+91",
                "mobile": fake.msisdn()[3:],
                "address_line1": fake.street_address(),
                "address_line2": fake.street_name(),
                "city": fake.city(),
                "state": fake.state(),
                "postcode": fake.postcode(),
                "country": "India",
                "cibil_score": fake.random_int(310, 900),
                "cibil_check_date": fake.date_between(start_date="-1y", end_date="today"),
                "created_at": created,
                "modified_at": created,
            }
        )
    return rows


def faker_transactions(n: int, seed: int = 42) -> list[dict[str, object]]:
    """The transaction fields, one Faker call per field per row."""
    fake = Faker("en_IN")
    fake.seed_instance(seed)
    day = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    return [
        {
            "transaction_id": f"T20261002{i:09d}",
            "account_id": f"A{fake.random_int(10, 9_999_999_999):010d}",
            "customer_id": f"C{fake.random_int(1, 999_999_999):09d}",
            "transaction_ts": fake.date_time_between(
                start_date=day, end_date=day + dt.timedelta(days=1), tzinfo=dt.UTC
            ),
            "amount": round(fake.pyfloat(min_value=10, max_value=50_000), 2),
            "currency": "INR",
            "mode": fake.random_element(ref.MODES),
            "reason": fake.random_element(ref.REASONS),
            "merchant": fake.company(),
            "city": fake.city(),
        }
        for i in range(1, n + 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--faker-rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config = GenerationConfig(customers=args.customers)
    day = config.start_date + dt.timedelta(days=1)  # cold: the first day of a run after the go-live
    next_day = day + dt.timedelta(days=1)  # warm: the day after it

    rounds: list[dict[str, float]] = []
    for _ in range(args.repeat):
        clear_caches()  # cold: blocks and Faker pools are rebuilt inside the timed run
        c_wall, c_cpu, customers_rows = _timed(lambda: generate_customers(config, config.customers).num_rows)
        f_wall, f_cpu, faker_c_rows = _timed(lambda: len(faker_customers(args.faker_rows)))
        clear_caches()  # cold transactions: the day's customer blocks are drawn inside the timed run
        k_wall, k_cpu, cold_rows = _timed(lambda: transactions_table(config, day).num_rows)
        # Warm: the next day, with the blocks cached by the day before (a daily run after its first day).
        t_wall, t_cpu, tx_rows = _timed(lambda: transactions_table(config, next_day).num_rows)
        l_wall, l_cpu, login_rows = _timed(lambda: logins_table(config, next_day).num_rows)
        g_wall, g_cpu, faker_t_rows = _timed(lambda: len(faker_transactions(args.faker_rows)))
        rounds.append(
            {
                "customers_s": round(c_wall, 3),
                "customers_cpu_s": round(c_cpu, 3),
                "faker_customers_s": round(f_wall, 3),
                "transactions_warm_s": round(t_wall, 4),
                "transactions_warm_cpu_s": round(t_cpu, 4),
                "transactions_cold_s": round(k_wall, 3),
                "logins_warm_s": round(l_wall, 4),
                "faker_transactions_s": round(g_wall, 3),
                "ratio_customers": round((customers_rows / c_wall) / (faker_c_rows / f_wall), 1),
                "ratio_transactions_warm": round((tx_rows / t_wall) / (faker_t_rows / g_wall), 1),
            }
        )
    customers_s = min(r["customers_s"] for r in rounds)
    tx_s = min(r["transactions_warm_s"] for r in rounds)
    tx_cold_s = min(r["transactions_cold_s"] for r in rounds)
    logins_s = min(r["logins_warm_s"] for r in rounds)
    faker_c_s = min(r["faker_customers_s"] for r in rounds)
    faker_t_s = min(r["faker_transactions_s"] for r in rounds)

    customers_rate = customers_rows / customers_s
    tx_rate = tx_rows / tx_s
    tx_cold_rate = cold_rows / tx_cold_s
    faker_c_rate = faker_c_rows / faker_c_s
    faker_t_rate = faker_t_rows / faker_t_s
    seconds_1m = 1_000_000 / customers_rate
    results = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "threads_used": WORKERS,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "repeat": args.repeat,
        "customers": {"rows": customers_rows, "seconds": round(customers_s, 3), "rows_per_s": round(customers_rate)},
        "transactions_one_day": {
            "day": next_day.isoformat(),
            "rows": tx_rows,
            "seconds": round(tx_s, 4),
            "rows_per_s": round(tx_rate),
            "caches": "warm: the day after a generated day, customer blocks cached, nothing of the day itself",
        },
        "transactions_one_day_cold": {
            "day": day.isoformat(),
            "rows": cold_rows,
            "seconds": round(tx_cold_s, 3),
            "rows_per_s": round(tx_cold_rate),
            "caches": "cold: every cache dropped, the customer blocks drawn in the timed run",
        },
        "logins_one_day": {
            "rows": login_rows,
            "seconds": round(logins_s, 4),
            "rows_per_s": round(login_rows / logins_s),
        },
        "faker_customers_per_row": {
            "rows": faker_c_rows,
            "seconds": round(faker_c_s, 3),
            "rows_per_s": round(faker_c_rate),
        },
        "faker_transactions_per_row": {
            "rows": faker_t_rows,
            "seconds": round(faker_t_s, 3),
            "rows_per_s": round(faker_t_rate),
        },
        "ratio_customers_vs_faker": round(customers_rate / faker_c_rate, 1),
        "ratio_transactions_vs_faker": round(tx_rate / faker_t_rate, 1),
        "ratio_transactions_cold_vs_faker": round(tx_cold_rate / faker_t_rate, 1),
        "seconds_for_1m_customers": round(seconds_1m, 3),
        "faker_seconds_for_1m_customers_extrapolated": round(1_000_000 / faker_c_rate, 1),
        "median_round_ratio_customers": float(np.median([r["ratio_customers"] for r in rounds])),
        "median_round_ratio_transactions": float(np.median([r["ratio_transactions_warm"] for r in rounds])),
        "cpu_seconds_for_1m_customers": round(
            min(r["customers_cpu_s"] for r in rounds) * 1_000_000 / customers_rows, 3
        ),
        "load_average": os.getloadavg()[0],
        "rounds": rounds,
        "targets": {"ratio": TARGET_RATIO, "seconds_for_1m_customers": TARGET_SECONDS_1M},
    }
    results["targets_met"] = (
        results["ratio_customers_vs_faker"] >= TARGET_RATIO
        and results["ratio_transactions_vs_faker"] >= TARGET_RATIO
        and seconds_1m < TARGET_SECONDS_1M
    )

    width = 50
    print(f"{'measure':<{width}} {'rows':>10} {'seconds':>9} {'rows/s':>12}")
    for label, key in (
        (f"generate_customers ({customers_rows:,}, cold)", "customers"),
        ("transactions, one day, warm (blocks cached)", "transactions_one_day"),
        ("transactions, one day, cold (blocks drawn)", "transactions_one_day_cold"),
        ("logins, the warm day (after its transactions)", "logins_one_day"),
        ("Faker per row: customer fields", "faker_customers_per_row"),
        ("Faker per row: transaction fields", "faker_transactions_per_row"),
    ):
        r = results[key]
        print(f"{label:<{width}} {r['rows']:>10,} {r['seconds']:>9.3f} {r['rows_per_s']:>12,}")
    print(
        f"ratio customers vs Faker: {results['ratio_customers_vs_faker']}x best-of (target >= {TARGET_RATIO:.0f}x); "
        f"median of paired rounds {results['median_round_ratio_customers']}x"
    )
    print(
        f"ratio transactions vs Faker (warm: the day after a generated day, customer blocks cached as on "
        f"every day of a run after its first, nothing of the day itself): {results['ratio_transactions_vs_faker']}x "
        f"best-of (target >= {TARGET_RATIO:.0f}x); median of paired rounds {results['median_round_ratio_transactions']}x"
    )
    print(
        f"ratio transactions vs Faker, cold (the first day of a run: its {config.customers:,}-customer blocks "
        f"drawn in the timed run): {results['ratio_transactions_cold_vs_faker']}x"
    )
    print(
        f"1,000,000 customers: {seconds_1m:.2f} s (target < {TARGET_SECONDS_1M:.0f} s); Faker would take {results['faker_seconds_for_1m_customers_extrapolated']} s"
    )
    print(
        f"targets met: {results['targets_met']}  ({os.cpu_count()} CPUs, {WORKERS} threads, "
        f"CPU time for 1M customers {results['cpu_seconds_for_1m_customers']} s, load average {results['load_average']:.2f})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
