"""The synthetic bank generator: contract, realism, planted effects and day-by-day semantics.

Small configs keep the file fast; the statistical tests use a 16-day history of 1,500 customers
(generated once per module) and assert tolerances several standard errors wide.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone.schemas import ENTITIES, PRIMARY_KEYS
from finmatch_platform.simulator.generation import (
    ConfigError,
    GenerationConfig,
    clear_caches,
    customer_latents,
    days_between,
    fraud_bursts,
    generate_customers,
    generate_day,
    write_day,
)
from finmatch_platform.simulator.generation import reference as ref
from finmatch_platform.simulator.generation.fpr import FPR_HORIZON_DAYS, WINDOW_DAYS

START = dt.date(2026, 10, 1)
HISTORY_DAYS = 16
# Enough recommendations and updates in a short window for the statistics to be stable.
HISTORY_CONFIG = GenerationConfig(
    seed=7,
    start_date=START,
    customers=1500,
    daily_new_customers=5,
    fpr_opening_recommendations=1500,
    fpr_recommendations_per_day=60,
    fpr_deletion_rate=0.05,
    fraud_bursts_per_day=3,
    customer_update_rate=0.01,
    defect_rate=0.0,
)
SMALL_CONFIG = GenerationConfig(
    seed=3, start_date=START, customers=300, daily_new_customers=3, fpr_opening_recommendations=60
)
IMPOSSIBLE_KM = 500.0
IMPOSSIBLE_MINUTES = 60
CITY_INDEX = {c.name: i for i, c in enumerate(ref.CITIES)}


def _day(k: int) -> dt.date:
    return START + dt.timedelta(days=k)


@pytest.fixture(scope="module")
def history() -> dict[dt.date, dict[str, pa.Table]]:
    return {day: generate_day(HISTORY_CONFIG, day) for day in days_between(START, _day(HISTORY_DAYS - 1))}


def _frame(history: dict[dt.date, dict[str, pa.Table]], entity: str) -> pd.DataFrame:
    frames = []
    for day, tables in history.items():
        frame = tables[entity].to_pandas()
        frame["file_day"] = day
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    """A 30,000-customer clean opening book for distribution checks."""
    config = GenerationConfig(seed=11, start_date=START, customers=30_000, defect_rate=0.0)
    return generate_customers(config, config.customers).to_pandas()


def _age_on(dob: pd.Series, on: pd.Series) -> pd.Series:
    dob = pd.to_datetime(dob)
    on = pd.to_datetime(on)
    before_birthday = (on.dt.month * 100 + on.dt.day) < (dob.dt.month * 100 + dob.dt.day)
    return on.dt.year - dob.dt.year - before_birthday.astype(int)


# --- determinism and the contract ------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 3])
def test_the_same_seed_and_day_write_byte_identical_files(tmp_path: Path, offset: int) -> None:
    first = write_day(SMALL_CONFIG, tmp_path / "a", _day(offset))
    clear_caches()
    second = write_day(SMALL_CONFIG, tmp_path / "b", _day(offset))
    assert set(first) == set(ENTITIES)
    for entity in ENTITIES:
        assert first[entity].read_bytes() == second[entity].read_bytes(), entity


def test_a_different_seed_gives_different_data() -> None:
    one = generate_day(SMALL_CONFIG, START)
    other = generate_day(GenerationConfig(**{**SMALL_CONFIG.to_dict(), "seed": 4}), START)
    for entity in ("customers", "accounts", "transactions", "login_activity", "fpr_records"):
        assert not one[entity].equals(other[entity]), entity


def test_every_table_matches_its_landing_schema_exactly(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    for day in (START, _day(1), _day(HISTORY_DAYS - 1)):
        for entity, schema in ENTITIES.items():
            assert history[day][entity].schema.equals(schema, check_metadata=True), (day, entity)


def test_write_day_lands_every_entity_including_empty_ones(tmp_path: Path) -> None:
    paths = write_day(SMALL_CONFIG, tmp_path, _day(1))
    assert set(paths) == set(ENTITIES)
    for entity, path in paths.items():
        assert path == landing.partition_file(tmp_path, entity, _day(1))
        assert landing.read_partition(tmp_path, entity, _day(1)).schema.equals(ENTITIES[entity])
    assert landing.read_partition(tmp_path, "products", _day(1)).num_rows == 0
    assert landing.list_partitions(tmp_path, "products") == [_day(1)]


def test_rerunning_a_day_replaces_its_files(tmp_path: Path) -> None:
    first = {e: p.read_bytes() for e, p in write_day(SMALL_CONFIG, tmp_path, _day(2)).items()}
    again = {e: p.read_bytes() for e, p in write_day(SMALL_CONFIG, tmp_path, _day(2)).items()}
    assert first == again
    assert sorted(p.name for p in landing.partition_dir(tmp_path, "customers", _day(2)).iterdir()) == [
        landing.PART_FILE
    ]


def test_a_day_does_not_depend_on_the_days_generated_before_it(tmp_path: Path) -> None:
    clear_caches()
    alone = {e: p.read_bytes() for e, p in write_day(SMALL_CONFIG, tmp_path / "alone", _day(9)).items()}
    clear_caches()
    for day in reversed(days_between(START, _day(8))):
        generate_day(SMALL_CONFIG, day)
    after = {e: p.read_bytes() for e, p in write_day(SMALL_CONFIG, tmp_path / "after", _day(9)).items()}
    assert alone == after


def test_output_does_not_depend_on_the_number_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from finmatch_platform.simulator.generation import activity, customers, strings

    config = GenerationConfig(seed=9, start_date=START, customers=3000, defect_rate=0.05)
    monkeypatch.setattr(customers, "SUB_BLOCK", 1000)  # several seeded sub-blocks, even for a small book

    def run(workers: int, parallel_min: int) -> dict[str, pa.Table]:
        for module in (activity, strings):
            monkeypatch.setattr(module, "WORKERS", workers)
        monkeypatch.setattr(activity, "PARALLEL_MIN_CUSTOMERS", parallel_min)
        clear_caches()
        return {day: generate_day(config, day) for day in (START, _day(1))}

    single, threaded = run(1, 10**9), run(3, 0)
    clear_caches()
    for day in single:
        for entity in ENTITIES:
            assert threaded[day][entity].equals(single[day][entity]), (day, entity)


def test_output_does_not_depend_on_how_a_day_is_sliced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large days are drawn, ordered and rendered in cache-sized slices: the slicing never shows."""
    from finmatch_platform.simulator.generation import active, activity, strings

    config = GenerationConfig(
        seed=9, start_date=START, customers=3000, daily_new_customers=20, fraud_bursts_per_day=4, defect_rate=0.05
    )
    days = (START, _day(1), _day(70))  # day 70: a second block of new customers, some not yet onboarded

    def run() -> dict[dt.date, dict[str, pa.Table]]:
        clear_caches()
        return {day: generate_day(config, day) for day in days}

    whole = run()
    for name, size in (("DRAW_SLICE", 97), ("RENDER_SLICE", 61), ("MASK_SLICE", 257)):
        monkeypatch.setattr(activity, name, size)
    monkeypatch.setattr(active, "MASK_SLICE", 257)
    monkeypatch.setattr(strings, "PACK_ROWS", 50)
    sliced = run()
    clear_caches()
    for day in days:
        for entity in ENTITIES:
            assert sliced[day][entity].equals(whole[day][entity]), (day, entity)


def test_the_fast_paths_equal_the_reference_draws_bit_for_bit() -> None:
    """The hot paths use exact equivalents of the straightforward NumPy draws (integer thresholds on
    24-bit uniforms, the weighted sample without its argument checks, status as day spans)."""
    from types import SimpleNamespace

    from finmatch_platform.simulator.generation import active as day_active
    from finmatch_platform.simulator.generation import activity, customers, fraud
    from finmatch_platform.simulator.generation import rng as keyed
    from finmatch_platform.simulator.generation.customer_state import status_at
    from finmatch_platform.simulator.generation.dates import age_years

    gen = np.random.default_rng(0)
    for seed in range(200):  # rng.choice(n, m, replace=False, p): same sample, same generator state after
        n = int(gen.integers(1, 40))
        m = int(gen.integers(1, n + 1))
        weight = np.exp(3 * gen.normal(size=n))
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        expected = a.choice(n, size=m, replace=False, p=weight / weight.sum())
        assert np.array_equal(fraud.weighted_sample(b, m, weight / weight.sum()), expected)
        assert a.random() == b.random()

    k = gen.integers(0, 2**24, 50_000).astype(np.int32)  # 24-bit uniforms u = k / 2**24
    u = k.astype(np.float32) * np.float32(2.0**-24)
    spend = np.exp(1.5 * gen.normal(size=k.size)).astype(np.float32)
    for rate in (0.0, 0.4, 20.0):  # 20: counts up to the cap
        config = GenerationConfig(transactions_per_customer_day=rate)
        counts = keyed.poisson_from_uniform(np.float32(rate) * spend, u)
        for spend_k in (None, day_active.spend_k_of(config, spend)):
            idx, positive = activity._transacting(
                config, SimpleNamespace(spend_rate=spend), np.arange(k.size), k, spend_k
            )
            assert np.array_equal(idx, np.nonzero(counts)[0]) and np.array_equal(positive, counts[idx])

    travel = (2 * gen.normal(size=k.size)).astype(np.float32)
    p_away = np.minimum(day_active.AWAY_BASE_PROB * np.exp(0.8 * travel - 0.32), day_active.AWAY_MAX_PROB)
    away_k = day_active.away_k_of(travel)
    for shift in (-1, 0, 1, None):  # thresholds themselves, their neighbours, and random draws
        kk = k if shift is None else np.clip(away_k + shift, 0, 2**24 - 1)
        assert np.array_equal(kk < away_k, kk.astype(np.float32) * np.float32(2.0**-24) < p_away)

    hour_k = np.ceil(activity._HOUR_CDF / activity._HOUR_CDF[-1] * 2**24).astype(np.int64)
    kk = np.clip(np.concatenate([k, hour_k - 1, hour_k, hour_k + 1]), 0, 2**24 - 1).astype(np.int32)
    uu = kk.astype(np.float32) * np.float32(2.0**-24)
    assert np.array_equal(activity._HOUR_STEPS.of24(kk), keyed.choose(uu, activity._HOUR_CDF))
    assert np.array_equal(activity._HOUR_STEPS(uu), keyed.choose(uu, activity._HOUR_CDF))
    assert np.array_equal(
        activity._HOUR_STEPS(uu.astype(np.float64)), keyed.choose(uu.astype(np.float64), activity._HOUR_CDF)
    )
    table = gen.integers(0, len(activity._MODE_CDF), kk.size)
    mode = sum((kk >= thresholds[table]).astype(np.int8) for thresholds in activity._MODE_K)
    assert np.array_equal(mode, keyed.choose(uu, activity._MODE_CDF, table))

    config = GenerationConfig(
        seed=2, start_date=START, customers=20_000, daily_new_customers=50, customer_update_rate=0.05
    )
    lat = customers.population(config, 70)
    first, until, again = day_active.active_spans(lat)
    for epoch in ref.epoch_day(START) + np.array([-400, 0, 1, 30, 69, 70, 71, 500, 5000]):
        active = (lat.created_epoch < epoch) & (status_at(lat, epoch) == ref.ACTIVE)
        assert np.array_equal(((first <= epoch) & (until > epoch)) | (again <= epoch), active), epoch
        dob = np.arange(epoch - 20 * 366, epoch - 16 * 365)  # every birthday around the 18th, leap days too
        adult = age_years(dob, np.full(dob.size, epoch)) >= ref.ADULT_AGE
        assert np.array_equal(dob <= day_active.adult_dob_cutoff(int(epoch)), adult), epoch


def test_generate_customers_is_the_opening_book() -> None:
    clear_caches()
    block = generate_customers(SMALL_CONFIG, SMALL_CONFIG.customers)
    assert block.equals(generate_day(SMALL_CONFIG, START)["customers"])
    assert generate_customers(SMALL_CONFIG, 10, first_id=500).column("customer_id")[0].as_py() == "C000000500"


# --- customers: realistic and internally consistent -------------------------------------------------


def test_age_bands_match_a_retail_book(book: pd.DataFrame) -> None:
    age = _age_on(book.date_of_birth, book.modified_at.dt.date)
    bands = pd.cut(age, [-1, 17, 29, 44, 59, 200], labels=["minor", "18-30", "30-45", "45-59", "60+"])
    shares = bands.value_counts(normalize=True)
    expected = {"minor": 0.10, "18-30": 0.30, "30-45": 0.35, "45-59": 0.10, "60+": 0.15}
    for band, share in expected.items():
        assert shares[band] == pytest.approx(share, abs=0.015), band


def test_minor_and_senior_flags_follow_date_of_birth_on_the_version_day(
    history: dict[dt.date, dict[str, pa.Table]],
) -> None:
    customers = _frame(history, "customers")
    age = _age_on(customers.date_of_birth, customers.modified_at.dt.date)
    assert (customers.is_minor == (age < 18)).all()
    assert (customers.is_senior_citizen == (age >= 60)).all()


def test_minors_are_single_students_with_personal_accounts_and_junior_titles(book: pd.DataFrame) -> None:
    minors = book[book.is_minor]
    assert len(minors) > 2000
    assert (minors.marital_status == "Single").all()
    assert (minors.occupation == "Student").all()
    assert (minors.customer_type == "Personal").all()
    assert (minors.category == "Resident").all()
    assert set(minors.title) == {"Master", "Miss"}
    assert not (book.is_minor & (book.occupation == "Salaried")).any()


def test_titles_match_gender_marital_status_and_age(book: pd.DataFrame) -> None:
    male, female, adult = book.gender == "Male", book.gender == "Female", ~book.is_minor
    married = book.marital_status.isin(["Married", "Widowed"])
    assert (book[male & adult].title == "Mr").all()
    assert (book[male & ~adult].title == "Master").all()
    assert (book[female & ~adult].title == "Miss").all()
    assert (book[female & adult & married].title == "Mrs").all()
    assert (book[female & adult & ~married].title == "Ms").all()


def test_cibil_scores_are_three_percent_subprime_and_the_rest_prime(book: pd.DataFrame) -> None:
    assert book.cibil_score.between(310, 900).all()
    low = book.cibil_score.between(310, 650).mean()
    assert low == pytest.approx(0.03, abs=0.008)
    assert book.cibil_check_date.notna().all()
    assert (pd.to_datetime(book.cibil_check_date) <= pd.to_datetime(book.modified_at.dt.date)).all()


def test_places_phones_and_postcodes_agree_with_the_country(book: pd.DataFrame) -> None:
    by_city = {c.name: c for c in ref.CITIES}
    country_names = [c.name for c in ref.COUNTRIES]
    assert all(by_city[c].state == s for c, s in zip(book.city, book.state, strict=True))
    assert all(country_names[by_city[c].country] == k for c, k in zip(book.city, book.country, strict=True))
    phone = {
        "India": ("+91", r"[6-9]\d{9}", r"[1-9]\d{5}"),
        "United Arab Emirates": ("+971", r"5\d{8}", r"00000"),
        "United Kingdom": ("+44", r"7\d{9}", r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}"),
        "United States": ("+1", r"[2-9]\d{9}", r"\d{5}"),
        "Singapore": ("+65", r"[89]\d{7}", r"\d{6}"),
    }
    for country, (code, mobile, postcode) in phone.items():
        rows = book[book.country == country]
        assert len(rows) > 10, country
        assert (rows.dialling_code == code).all(), country
        assert rows.mobile.str.fullmatch(mobile).all(), country
        assert rows.postcode.str.fullmatch(postcode).all(), country
    india = book.country == "India"
    assert india.mean() == pytest.approx(0.96, abs=0.01)
    assert ((book.category == "Resident") == india).all()
    # A city's PIN codes share its 3-digit prefix.
    prefix = book[india].city.map({c.name: c.postcode_key for c in ref.CITIES})
    assert (book[india].postcode.str[:3] == prefix).all()


def test_emails_derive_from_the_name_and_are_unique(book: pd.DataFrame) -> None:
    assert book.email.is_unique
    assert book.email.str.fullmatch(r"[a-z]+\.[a-z]+\d+@[a-z.]+").all()
    local = book.first_name.str.lower() + "." + book.last_name.str.lower()
    assert all(email.startswith(prefix) for email, prefix in zip(book.email, local, strict=True))


def test_status_is_mostly_active_and_death_comes_to_seniors(book: pd.DataFrame) -> None:
    shares = book.status.value_counts(normalize=True)
    assert shares["Active"] > 0.8
    assert 0.0 < shares["Deceased"] < 0.02
    deceased = book.status == "Deceased"
    assert deceased[book.is_senior_citizen].mean() > 5 * max(deceased[~book.is_senior_citizen].mean(), 1e-4)
    assert set(book.segment) == {"Urban", "Semi-Urban", "Rural"}


def test_clean_data_has_no_defects_and_defect_rate_plants_each_kind() -> None:
    clean = generate_customers(GenerationConfig(customers=5000, defect_rate=0.0), 5000).to_pandas()
    dirty = generate_customers(GenerationConfig(customers=5000, defect_rate=0.2), 5000).to_pandas()

    def defects(frame: pd.DataFrame) -> dict[str, int]:
        india = frame.country == "India"
        return {
            "malformed_email": int((~frame.email.str.contains("@")).sum()),
            "digit_in_name": int(frame.first_name.str.contains(r"\d").sum()),
            "long_name": int((frame.last_name.str.len() > 35).sum()),
            "malformed_mobile": int((india & ~frame.mobile.str.fullmatch(r"[6-9]\d{9}")).sum()),
            "missing_cibil_check_date": int(frame.cibil_check_date.isna().sum()),
        }

    assert all(count == 0 for count in defects(clean).values())
    found = defects(dirty)
    assert all(count > 100 for count in found.values()), found
    assert sum(found.values()) == pytest.approx(0.2 * 5000, rel=0.15)


# --- products and accounts --------------------------------------------------------------------------


def test_the_catalogue_lands_on_the_start_day_only(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    products = history[START]["products"].to_pandas()
    assert 20 <= len(products) <= 30
    assert set(products.product_type) == {"Credit Card", "Loan", "Insurance", "Deposit", "Investment"}
    cards = products[products.product_type == "Credit Card"]
    assert cards.interchange_rate_pct.notna().all() and (cards.annual_fee >= 0).all()
    assert "Travel" in set(cards.product_subtype)
    loans = products[products.product_type == "Loan"]
    assert {"Personal Loan", "Home Loan", "Auto Loan", "Education Loan"} <= set(loans.product_subtype)
    assert loans.interest_rate_pct.notna().all() and loans.tenure_months.notna().all()
    assert (pd.to_datetime(products.launched_on) < pd.Timestamp(START)).all()
    assert all(history[day]["products"].num_rows == 0 for day in history if day != START)


def test_every_customer_has_one_to_three_accounts_starting_with_savings(
    history: dict[dt.date, dict[str, pa.Table]],
) -> None:
    accounts = _frame(history, "accounts")
    per_customer = accounts.groupby("customer_id").size()
    assert per_customer.between(1, 3).all()
    first = accounts.sort_values("account_id").groupby("customer_id").account_type.first()
    assert first.isin(["Savings", "Current"]).all()
    cards = accounts.account_type == "Credit Card"
    assert accounts[cards].credit_limit.notna().all() and accounts[~cards].credit_limit.isna().all()
    assert accounts[cards].balance.le(accounts[cards].credit_limit).all()
    assert (accounts.balance >= 0).all() and (accounts.currency == "INR").all()


# --- referential integrity and keys -----------------------------------------------------------------


def test_references_point_to_rows_landed_on_the_same_or_an_earlier_day(
    history: dict[dt.date, dict[str, pa.Table]],
) -> None:
    customers = _frame(history, "customers").groupby("customer_id").file_day.min()
    accounts = _frame(history, "accounts").set_index("account_id")
    products = set(history[START]["products"].column("product_id").to_pylist())

    def landed_before(ids: pd.Series, first_day: pd.Series, file_day: pd.Series) -> bool:
        first = ids.map(first_day)
        return bool(first.notna().all() and (first <= file_day).all())

    assert landed_before(accounts.customer_id, customers, accounts.file_day)
    tx = _frame(history, "transactions")
    assert landed_before(tx.customer_id, customers, tx.file_day)
    assert landed_before(tx.account_id, accounts.file_day, tx.file_day)
    assert (tx.account_id.map(accounts.customer_id) == tx.customer_id).all()  # an account of that customer
    for entity in ("login_activity", "credit_scores"):
        frame = _frame(history, entity)
        assert landed_before(frame.customer_id, customers, frame.file_day), entity
    fpr = _frame(history, "fpr_records")
    live = fpr[~fpr._deleted]
    assert landed_before(live.customer_id, customers, live.file_day)
    assert live.product_id.isin(products).all()


def test_primary_keys_are_unique_across_days(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    for entity, keys in PRIMARY_KEYS.items():
        frame = _frame(history, entity)
        assert not frame.duplicated(list(keys)).any(), entity
        assert frame[list(keys)].notna().all().all(), entity


def test_each_file_holds_only_its_days_events(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    for day, tables in history.items():
        for entity, column in (
            ("transactions", "transaction_ts"),
            ("login_activity", "login_ts"),
            ("fpr_records", "updated_at"),
        ):
            values = tables[entity].column(column).to_pandas()
            assert (values.dt.date == day).all(), (day, entity)
        if day != START:
            assert (tables["customers"].column("modified_at").to_pandas().dt.date == day).all()
            assert (tables["credit_scores"].column("check_date").to_pandas() == day).all()


def test_transaction_amounts_modes_and_reasons_are_plausible(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    tx = _frame(history, "transactions")
    assert (tx.amount > 0).all()
    assert set(tx["mode"]) == set(ref.MODES) and set(tx.reason) == set(ref.REASONS)
    assert tx.transaction_id.str.fullmatch(r"T\d{8}\d{9}").all()
    median = tx.groupby("reason").amount.median()
    assert median["Travel"] > 3 * median["Food & Grocery"]
    customers = _frame(history, "customers").drop_duplicates("customer_id").set_index("customer_id")
    city = tx.customer_id.map(customers.city)
    assert (tx.city == city).mean() > 0.8  # mostly the home city
    students = tx.customer_id.map(customers.occupation) == "Student"
    assert (tx[students].reason == "Exam").mean() > 3 * (tx[~students].reason == "Exam").mean()


def test_logins_mostly_succeed_from_a_stable_device(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    logins = _frame(history, "login_activity")
    assert logins.success.mean() > 0.9
    top_device_share = logins.groupby("customer_id").device_id.agg(lambda d: d.value_counts(normalize=True).iloc[0])
    assert top_device_share.mean() > 0.85
    assert set(logins.device_type) <= set(ref.DEVICE_TYPES)


# --- planted effects ------------------------------------------------------------------------------


def test_churn_probability_rises_as_satisfaction_falls(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    fpr = _frame(history, "fpr_records")
    live = fpr[~fpr._deleted]
    assert live.customer_satisfaction_score.between(1, 10).all()
    assert live.customer_churn_probability.between(0, 1).all()
    correlation = np.corrcoef(live.customer_satisfaction_score, live.customer_churn_probability)[0, 1]
    assert correlation < -0.5


def test_high_travel_spenders_accept_credit_card_offers_at_least_twice_as_often(
    history: dict[dt.date, dict[str, pa.Table]],
) -> None:
    tx = _frame(history, "transactions")
    spend = tx.pivot_table(index="customer_id", columns="reason", values="amount", aggfunc="sum", fill_value=0)
    travel_share = spend["Travel"] / spend.sum(axis=1)
    fpr = _frame(history, "fpr_records")
    decided = fpr[
        (fpr.product_type == "Credit Card")
        & fpr.product_recommendation_status.isin(["Accepted", "Rejected", "Expired"])
    ]
    high = decided.customer_id.map(travel_share).fillna(0) >= 0.25
    accepted = decided.product_recommendation_status == "Accepted"
    assert high.sum() > 40 and (~high).sum() > 200
    assert accepted[high].mean() >= 2 * accepted[~high].mean()


def _impossible_travel(tx: pd.DataFrame) -> set[str]:
    cards = tx[tx["mode"] == "Card"].sort_values(["customer_id", "transaction_ts"])
    flagged = set()
    for customer, rows in cards.groupby("customer_id"):
        cities = rows.city.map(CITY_INDEX).to_numpy()
        times = rows.transaction_ts.to_numpy()
        km = ref.city_distance_km(cities[1:], cities[:-1])
        minutes = (times[1:] - times[:-1]) / np.timedelta64(1, "m")
        if ((km > IMPOSSIBLE_KM) & (minutes < IMPOSSIBLE_MINUTES)).any():
            flagged.add(customer)
    return flagged


def test_impossible_travel_flags_exactly_the_planted_fraud_bursts(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    for day, tables in history.items():
        bursts = fraud_bursts(HISTORY_CONFIG, day)
        assert len(bursts) == HISTORY_CONFIG.fraud_bursts_per_day
        assert _impossible_travel(tables["transactions"].to_pandas()) == {b["customer_id"] for b in bursts}, day


def test_fraud_bursts_start_with_failed_logins_from_a_new_device_in_a_new_city(
    history: dict[dt.date, dict[str, pa.Table]],
) -> None:
    logins = _frame(history, "login_activity")
    tx = _frame(history, "transactions").set_index("transaction_id")
    for day in history:
        for burst in fraud_bursts(HISTORY_CONFIG, day):
            mine = logins[logins.customer_id == burst["customer_id"]]
            failed = mine[mine.login_id.isin(burst["failed_login_ids"])]
            first_payment = tx.loc[burst["transaction_ids"]].transaction_ts.min()
            assert len(failed) >= 4 and not failed.success.any()
            assert (failed.device_id == burst["device_id"]).all()
            assert (failed.city == burst["login_city"]).all() and burst["login_city"] != burst["home_city"]
            assert ((first_payment - failed.login_ts) <= pd.Timedelta(minutes=15)).all()
            assert (failed.login_ts < first_payment).all()
            earlier = mine[mine.login_ts < failed.login_ts.min()]
            assert burst["device_id"] not in set(earlier.device_id)
            payments = tx.loc[burst["transaction_ids"]]
            assert (payments["mode"] == "Card").all() and (payments.account_id == burst["account_id"]).all()


def test_latent_financial_health_drives_credit_score_and_balance(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    latents = customer_latents(HISTORY_CONFIG, START).to_pandas().set_index("customer_id")
    customers = history[START]["customers"].to_pandas().set_index("customer_id")
    savings = (
        history[START]["accounts"].to_pandas().query("account_type in ['Savings', 'Current']").set_index("customer_id")
    )
    health = latents.financial_health.rank()  # rank correlation: balances are lognormal
    assert health.corr(customers.cibil_score.reindex(health.index).rank()) > 0.5
    assert health.corr(savings.balance.reindex(health.index).rank()) > 0.2


# --- FPR records ------------------------------------------------------------------------------------


def test_fpr_status_changes_reuse_the_record_id_with_later_timestamps(
    history: dict[dt.date, dict[str, pa.Table]],
) -> None:
    fpr = _frame(history, "fpr_records").sort_values(["record_id", "updated_at"])
    allowed = {
        ("Recommended", "Viewed"),
        ("Recommended", "Expired"),
        ("Viewed", "Accepted"),
        ("Viewed", "Rejected"),
        ("Viewed", "Expired"),
    }
    changed = 0
    for _, versions in fpr.groupby("record_id"):
        statuses = versions.product_recommendation_status.tolist()
        assert versions.updated_at.is_monotonic_increasing
        live = [s for s, d in zip(statuses, versions._deleted, strict=True) if not d]
        if versions._deleted.any():
            assert versions._deleted.iloc[-1] and versions._deleted.sum() == 1  # a tombstone ends the record
        assert all((a, b) in allowed for a, b in zip(live, live[1:], strict=False)), statuses
        changed += len(live) > 1
    assert changed > 1000
    accepted = fpr[fpr.product_recommendation_status == "Accepted"]
    assert accepted.product_sales_amount.gt(0).all()
    assert (accepted.product_sales_date == accepted.updated_at.dt.date).all()
    assert fpr[fpr.product_recommendation_status != "Accepted"].product_sales_amount.isna().all()


def test_opening_recommendations_reach_a_final_status_within_the_horizon(
    history: dict[dt.date, dict[str, pa.Table]],
) -> None:
    assert HISTORY_DAYS > FPR_HORIZON_DAYS
    fpr = _frame(history, "fpr_records")
    opening = fpr[fpr.record_id.isin(history[START]["fpr_records"].column("record_id").to_pylist())]
    last = opening.sort_values("updated_at").groupby("record_id").last()
    final = last._deleted | last.product_recommendation_status.isin(["Accepted", "Rejected", "Expired"])
    assert final.all()
    assert (last.updated_at.dt.date <= _day(FPR_HORIZON_DAYS)).all()


def test_deleted_recommendations_leave_tombstones_with_only_the_key(
    history: dict[dt.date, dict[str, pa.Table]],
) -> None:
    fpr = _frame(history, "fpr_records")
    tombstones = fpr[fpr._deleted]
    assert len(tombstones) > 20
    others = [c for c in fpr.columns if c not in ("record_id", "updated_at", "_deleted", "file_day")]
    assert tombstones[others].isna().all().all()
    assert tombstones.record_id.notna().all() and tombstones.updated_at.notna().all()


def test_fpr_account_balance_is_the_customers_savings_balance(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    accounts = _frame(history, "accounts")
    savings = accounts[accounts.account_type.isin(["Savings", "Current"])].groupby("customer_id").balance.sum()
    fpr = _frame(history, "fpr_records")
    live = fpr[~fpr._deleted]
    assert np.allclose(live.account_balance, live.customer_id.map(savings))
    for column in ("recommendation_score", "customer_product_affinity"):
        assert live[column].between(0, 1).all(), column
    # The vendor documents customer_product_usage as a string: the share is 4-decimal text.
    assert live.customer_product_usage.str.fullmatch(r"[01]\.\d{4}").all()
    assert live.customer_product_usage.astype(float).between(0, 1).all()


def test_fpr_spend_figures_equal_the_landed_transactions_of_the_last_30_days() -> None:
    config = GenerationConfig(
        seed=5,
        start_date=START,
        customers=200,
        daily_new_customers=2,
        fpr_opening_recommendations=20,
        fpr_recommendations_per_day=40,
    )
    days = days_between(START, _day(WINDOW_DAYS))
    tables = {day: generate_day(config, day) for day in days}
    fraud_ids = {t for day in days for burst in fraud_bursts(config, day) for t in burst["transaction_ids"]}
    tx = pd.concat([tables[d]["transactions"].to_pandas() for d in days[:-1]])
    tx = tx[~tx.transaction_id.isin(fraud_ids)]  # the vendor's feed leaves out fraud-burst payments
    records = tables[days[-1]]["fpr_records"].to_pandas()
    records = records[records.product_recommendation_status == "Recommended"]
    assert len(records) == 40
    grouped = tx.groupby("customer_id")
    value = records.customer_id.map(grouped.amount.sum()).fillna(0.0)
    count = records.customer_id.map(grouped.size()).fillna(0).astype(int)
    assert np.allclose(records.customer_transaction_value, value)
    assert (records.customer_transaction_count == count).all()
    history = records.transaction_history.str.findall(r":(\d+)").map(lambda xs: sum(map(int, xs)))
    assert (history == count).all()


# --- day by day -------------------------------------------------------------------------------------


def test_customer_updates_reuse_the_id_with_a_later_modified_at(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    customers = _frame(history, "customers").sort_values(["customer_id", "modified_at"])
    versions = customers.groupby("customer_id").size()
    updated = versions[versions > 1].index
    assert len(updated) > 100
    changed_columns = set()
    for _, rows in customers[customers.customer_id.isin(updated)].groupby("customer_id"):
        assert rows.modified_at.is_monotonic_increasing and rows.modified_at.is_unique
        assert rows.created_at.nunique() == 1 and (rows.created_at <= rows.modified_at).all()
        for column in ("status", "marital_status", "city", "address_line1", "mobile", "cibil_score", "title"):
            if rows[column].nunique() > 1:
                changed_columns.add(column)
    assert {"status", "marital_status", "address_line1", "mobile", "cibil_score"} <= changed_columns
    first_versions = customers.groupby("customer_id").first()
    onboarded = first_versions[first_versions.created_at.dt.date > START]
    assert len(onboarded) == HISTORY_CONFIG.daily_new_customers * (HISTORY_DAYS - 1)
    assert (onboarded.modified_at == onboarded.created_at).all()  # a new customer's first version


def test_new_customer_ids_continue_sequentially_day_by_day(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    for k in range(1, HISTORY_DAYS):
        customers = history[_day(k)]["customers"].to_pandas()
        created_today = customers[customers.created_at.dt.date == _day(k)].customer_id
        first = HISTORY_CONFIG.customers + (k - 1) * HISTORY_CONFIG.daily_new_customers + 1
        expected = [f"C{i:09d}" for i in range(first, first + HISTORY_CONFIG.daily_new_customers)]
        assert created_today.tolist() == expected
        assert history[_day(k)]["accounts"].num_rows >= HISTORY_CONFIG.daily_new_customers


def test_credit_score_history_ends_in_the_customers_current_score(history: dict[dt.date, dict[str, pa.Table]]) -> None:
    scores = _frame(history, "credit_scores").sort_values(["customer_id", "check_date"])
    opening = history[START]["credit_scores"].to_pandas()
    assert opening.customer_id.nunique() == HISTORY_CONFIG.customers  # everyone has a latest check
    assert opening.groupby("customer_id").size().max() <= 12
    assert (pd.to_datetime(opening.check_date) <= pd.Timestamp(START)).all()
    assert (scores.bureau == "CIBIL").all() and scores.score.between(300, 900).all()
    latest = scores.groupby("customer_id").last()
    customers = _frame(history, "customers").sort_values("modified_at").groupby("customer_id").last()
    joined = customers.merge(latest, left_index=True, right_index=True, suffixes=("", "_bureau"))
    assert (joined.cibil_score == joined.score).all()
    assert (joined.cibil_check_date == joined.check_date).all()


def test_the_opening_bureau_history_holds_at_most_twelve_monthly_scores() -> None:
    config = GenerationConfig(start_date=START, customers=300, credit_check_interval_days=30)
    opening = generate_day(config, START)["credit_scores"].to_pandas()
    per_customer = opening.groupby("customer_id").size()
    assert per_customer.max() == 12
    recent = pd.to_datetime(opening.check_date) > pd.Timestamp(START) - pd.Timedelta(days=360)
    # Older checks only where they are a customer's latest (checks stop at death).
    assert (recent | (opening.customer_id.map(per_customer) == 1)).all()


# --- configuration errors ---------------------------------------------------------------------------


def test_a_negative_size_names_the_field_and_its_range() -> None:
    with pytest.raises(ConfigError, match=r"customers must be between 1 and 5000000, got -3"):
        GenerationConfig(customers=-3)
    with pytest.raises(ConfigError, match=r"daily_new_customers must be between 0 and 100000, got -1"):
        GenerationConfig(daily_new_customers=-1)
    with pytest.raises(ConfigError, match=r"defect_rate must be between 0.0 and 0.5, got 0.9"):
        GenerationConfig(defect_rate=0.9)


@pytest.mark.parametrize("value", [True, "10", 2.5, math.nan])
def test_a_wrongly_typed_size_is_rejected(value: object) -> None:
    with pytest.raises(ConfigError, match="customers must be"):
        GenerationConfig(customers=value)  # type: ignore[arg-type]


def test_unknown_settings_are_named_with_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as error:
        GenerationConfig.from_mapping({"customer": 10, "seed": 1})
    message = str(error.value)
    assert "unknown generation setting(s) customer" in message
    assert "allowed: seed, start_date, customers, daily_new_customers" in message


def test_from_mapping_accepts_iso_dates_and_rejects_bad_ones() -> None:
    config = GenerationConfig.from_mapping({"start_date": "2027-01-15", "customers": 10})
    assert config.start_date == dt.date(2027, 1, 15) and config.customers == 10
    with pytest.raises(ConfigError, match="start_date must be an ISO date"):
        GenerationConfig.from_mapping({"start_date": "2027-13-01"})


def test_an_end_before_the_start_names_both() -> None:
    with pytest.raises(ConfigError, match=r"end must be on or after start: start=2026-10-05, end=2026-10-01"):
        days_between(_day(4), START)
    assert days_between(START, _day(2)) == [START, _day(1), _day(2)]


def test_a_day_before_the_start_date_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"day must be on or after start_date 2026-10-01, got 2026-09-30"):
        generate_day(SMALL_CONFIG, START - dt.timedelta(days=1))
    with pytest.raises(ConfigError, match="start_date"):
        fraud_bursts(SMALL_CONFIG, START - dt.timedelta(days=1))


def test_zero_sized_knobs_give_empty_but_valid_tables() -> None:
    config = GenerationConfig(
        customers=1,
        daily_new_customers=0,
        transactions_per_customer_day=0.0,
        login_rate=0.0,
        fpr_opening_recommendations=0,
        fpr_recommendations_per_day=0,
        fraud_bursts_per_day=0,
        customer_update_rate=0.0,
    )
    for day in (START, _day(1)):
        tables = generate_day(config, day)
        for entity, schema in ENTITIES.items():
            assert tables[entity].schema.equals(schema), entity
        assert tables["transactions"].num_rows == 0 and tables["fpr_records"].num_rows == 0
    assert re.fullmatch(r"C0{8}1", generate_day(config, START)["customers"].column("customer_id")[0].as_py())
