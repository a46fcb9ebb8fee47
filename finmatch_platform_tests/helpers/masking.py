"""Test helpers."""

from __future__ import annotations

import datetime as dt
import functools

import duckdb
import pyarrow as pa
import pytest

from finmatch_platform.landing_zone.schemas import CUSTOMERS, FPR_RECORDS

KEY = "test-masking-key-0123456789"


START = dt.date(2026, 10, 1)


FIRST_NAMES = ("Asha", "Ravi", "Zoë", "Anil", "Priya", "Karthik", "Meera", "Rahul", "Sneha", "Vikram", "Ishaan")


LAST_NAMES = ("Rao", "Sharma", "Iyer", "D'Souza", "Nair", "Gupta", "Reddy", "Das", "Menon", "Kulkarni")


STREETS = ("MG Road", "Link Road", "Church Street", "Nehru Marg", "Park Avenue")


CITIES = (("Mumbai", "Maharashtra", "400"), ("Chennai", "Tamil Nadu", "600"), ("Pune", "Maharashtra", "411"))


def _ascii(name: str) -> str:
    return name.lower().replace("ë", "e").replace("'", "")


@functools.lru_cache(maxsize=8)  # Arrow tables are immutable: many tests share a few
def synthetic_customers(n: int = 200, seed: int = 3) -> pa.Table:
    """A small raw.customers table built here: every CUSTOMERS column plus _landed_date, clean
    values, unicode names, nullable columns, and a second version for every fourth customer."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, pin = rng.choice(CITIES)
        dob = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(25_000))
        created = dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(2_000_000))
        row = {
            "customer_id": f"C{i:09d}",
            "title": "Ms" if i % 2 else "Mr",
            "first_name": first,
            "middle_name": rng.choice(FIRST_NAMES) if i % 3 == 0 else None,
            "last_name": last,
            "gender": "Female" if i % 2 else "Male",
            "date_of_birth": dob,
            "is_minor": False,
            "is_senior_citizen": dob.year < 1966,
            "marital_status": rng.choice(("Single", "Married")),
            "nationality": "Indian",
            "segment": rng.choice(("Urban", "Semi-Urban", "Rural")),
            "category": "Resident",
            "privilege": rng.choice(("Regular", "Gold")),
            "customer_type": "Personal",
            "occupation": rng.choice(("Salaried", "Business", "Student")),
            "sourcing_channel": "Branch",
            "status": "Active",
            "risk_category": "Low",
            "affluence_level": "Mass",
            "email": f"{_ascii(first)}.{_ascii(last)}{i}@example.in",
            "dialling_code": "+91",
            "mobile": str(rng.randrange(6_000_000_000, 9_999_999_999)),
            "address_line1": f"{rng.randrange(1, 500)}, {rng.choice(STREETS)}",
            "address_line2": f"{last} Nagar" if i % 2 else None,
            "city": city,
            "state": state,
            "postcode": f"{pin}{rng.randrange(1, 999):03d}",
            "country": "India",
            "cibil_score": rng.randrange(300, 901),
            "cibil_check_date": dt.date(2026, 9, 1),
            "created_at": created,
            "modified_at": dt.datetime(2026, 9, 30, 12, tzinfo=dt.UTC),
            "_landed_date": START,
        }
        rows.append(row)
        if i % 4 == 0:  # a later version: moved and changed mobile
            rows.append(
                {
                    **row,
                    "mobile": str(rng.randrange(6_000_000_000, 9_999_999_999)),
                    "address_line1": f"{rng.randrange(500, 999)}, {rng.choice(STREETS)}",
                    "modified_at": dt.datetime(2026, 10, 1, 15, tzinfo=dt.UTC),
                    "_landed_date": START + dt.timedelta(days=1),
                }
            )
    schema = CUSTOMERS.append(pa.field("_landed_date", pa.date32()))
    return pa.Table.from_pylist(rows, schema=schema)


def synthetic_fpr(customers: pa.Table, per_customer: int = 1) -> pa.Table:
    """raw.fpr_records for the latest version of every other customer; some emails upper-cased,
    as feeds do, and one tombstone."""
    latest = {r["customer_id"]: r for r in customers.to_pylist()}
    rows = []
    for n, (cid, c) in enumerate(sorted(latest.items())):
        if n % 2:
            continue
        for _k in range(per_customer):
            rows.append(
                {
                    "record_id": f"FPR{len(rows) + 1:010d}",
                    "customer_id": cid,
                    "customer_name": f"{c['first_name']} {c['last_name']}",
                    "customer_email": c["email"].upper() if n % 4 == 0 else c["email"],
                    "customer_segment": c["segment"],
                    "customer_lifecycle_stage": "Mature",
                    "customer_lifecycle_stage_transition_date": dt.date(2025, 1, 1),
                    "account_balance": 1000.0 + n,
                    "transaction_history": "Ecom:2;Fuel:1",
                    "customer_transaction_value": 2500.0,
                    "customer_transaction_count": 3,
                    "product_id": "P0001",
                    "product_name": "FinMatch Classic Credit Card",
                    "product_type": "Credit Card",
                    "product_terms": "Annual fee INR 499",
                    "product_sales_amount": None,
                    "product_sales_date": None,
                    "product_recommendation": "Based on your Ecom spends: a card",
                    "product_recommendation_date": dt.date(2026, 10, 1),
                    "product_recommendation_status": "Recommended",
                    "recommendation_score": 0.5,
                    "customer_product_usage": "0.2500",  # decimal text, as the vendor documents a string
                    "customer_product_affinity": 0.75,
                    "customer_product_affinity_trend": "Stable",
                    "customer_product_usage_trend": "Increasing",
                    "customer_product_interests": "Travel,Dining",
                    "customer_satisfaction_score": 7.5,
                    "customer_churn_probability": 0.1,
                    "updated_at": dt.datetime(2026, 10, 1, 8, tzinfo=dt.UTC),
                    "_deleted": False,
                    "_synced_at": dt.datetime(2026, 10, 2, 6, tzinfo=dt.UTC),
                }
            )
    tomb = {name: None for name in FPR_RECORDS.names} | {
        "record_id": f"FPR{len(rows) + 1:010d}",
        "updated_at": dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC),
        "_deleted": True,
        "_synced_at": dt.datetime(2026, 10, 2, 6, tzinfo=dt.UTC),
    }
    rows.append(tomb)
    schema = FPR_RECORDS.append(pa.field("_synced_at", pa.timestamp("us", tz="UTC")))
    return pa.Table.from_pylist(rows, schema=schema)


@functools.lru_cache(maxsize=8)
def _synthetic_pair(n: int) -> tuple[pa.Table, pa.Table]:
    customers = synthetic_customers(n)
    return customers, synthetic_fpr(customers)


def load_synthetic(conn: duckdb.DuckDBPyConnection, n: int = 200) -> None:
    customers, fpr = _synthetic_pair(n)
    for name, table in (("customers", customers), ("fpr_records", fpr)):
        conn.register("_arrow", table)
        conn.execute(f"create table raw.{name} as select * from _arrow")
        conn.unregister("_arrow")


def load_generated(
    conn: duckdb.DuckDBPyConnection, days: int = 4, customers: int = 300, defect_rate: float = 0.02
) -> None:
    """raw.customers (every version, with _landed_date) and raw.fpr_records (upserted by
    record_id, as the extraction does) from the synthetic bank's generator."""
    generation = pytest.importorskip("finmatch_platform.simulator.generation")
    config = generation.GenerationConfig(
        seed=11,
        customers=customers,
        defect_rate=defect_rate,
        customer_update_rate=0.05,
        fpr_opening_recommendations=150,
        fpr_deletion_rate=0.1,
    )
    customer_parts, fpr_parts = [], []
    for i in range(days):
        day = START + dt.timedelta(days=i)
        tables = generation.generate_day(config, day)
        customer_parts.append(
            tables["customers"].append_column("_landed_date", pa.array([day] * tables["customers"].num_rows))
        )
        fpr_parts.append(tables["fpr_records"])
    conn.register("_customers", pa.concat_tables(customer_parts))
    conn.register("_fpr", pa.concat_tables(fpr_parts))
    conn.execute("create table raw.customers as select * from _customers")
    conn.execute(
        "create table raw.fpr_records as select *, timestamptz '2026-10-05 06:00:00+00' as _synced_at from _fpr "
        "qualify row_number() over (partition by record_id order by updated_at desc) = 1"
    )
