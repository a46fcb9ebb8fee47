"""One day of the synthetic bank: every entity's table, and landing them as Parquet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

from finmatch_platform.landing_zone import layout as landing
from finmatch_platform.landing_zone.schemas import ENTITIES, PRODUCTS

from . import reference as ref
from .activity import logins_table, transactions_table
from .config import GenerationConfig
from .customer_render import opening_credit_history, render_accounts, render_credit_scores
from .customer_state import checked_on, update_seconds, updated_on
from .customers import opening_latents, population, render_customers
from .fpr import fpr_records_table
from .screening_groups import screening_groups_table


def products_table(config: GenerationConfig) -> pa.Table:
    """The product catalogue, launched before the go-live."""
    rows = [
        {
            "product_id": ref.product_id(i),
            "product_name": p.name,
            "product_type": p.product_type,
            "product_subtype": p.subtype,
            "interest_rate_pct": p.interest_rate_pct,
            "annual_fee": p.annual_fee,
            "interchange_rate_pct": p.interchange_rate_pct,
            "tenure_months": p.tenure_months,
            "min_amount": float(p.min_amount),
            "max_amount": float(p.max_amount),
            "product_terms": p.terms,
            "launched_on": ref.launched_on(i, config.start_date),
        }
        for i, p in enumerate(ref.PRODUCTS)
    ]
    return pa.Table.from_pylist(rows, schema=PRODUCTS)


def customers_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    """First versions of the customers created on the day, then updated versions of older ones."""
    k = config.day_index(day)
    epoch = ref.epoch_day(day)
    if k == 0:
        lat = opening_latents(config)
        return render_customers(config, lat, lat.first_version_epoch, lat.first_version_sec)
    lat = population(config, k)
    new = lat.take(np.nonzero(lat.created_epoch == epoch)[0])
    changed = lat.take(updated_on(lat, epoch))
    return pa.concat_tables(
        [
            render_customers(config, new, new.first_version_epoch, new.first_version_sec),
            render_customers(config, changed, np.full(len(changed), epoch), update_seconds(config, changed.ids, epoch)),
        ]
    ).combine_chunks()


def accounts_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    k = config.day_index(day)
    if k == 0:
        return render_accounts(opening_latents(config))
    lat = population(config, k)
    return render_accounts(lat.take(np.nonzero(lat.created_epoch == ref.epoch_day(day))[0]))


def credit_scores_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    """Opening bureau history on the start day; later, the checks made on the day."""
    k = config.day_index(day)
    if k == 0:
        return opening_credit_history(config, opening_latents(config))
    epoch = ref.epoch_day(day)
    lat = population(config, k)
    rows = checked_on(lat, epoch)
    return render_credit_scores(config, lat, rows, np.full(rows.size, epoch))


def generate_day(config: GenerationConfig, day: dt.date) -> dict[str, pa.Table]:
    """Every entity's table for the day, each exactly its schema in schemas.ENTITIES (maybe empty).

    A pure function of (config, day): it never reads earlier days, so days can be generated in
    any order and rerun at will.
    """
    k = config.day_index(day)  # validates the day
    tables = {
        "customers": customers_table(config, day),
        "products": products_table(config) if k == 0 else PRODUCTS.empty_table(),
        "accounts": accounts_table(config, day),
        "transactions": transactions_table(config, day),
        "login_activity": logins_table(config, day),
        "credit_scores": credit_scores_table(config, day),
        "fpr_records": fpr_records_table(config, day),
        "screening_groups": screening_groups_table(config, day),
    }
    for entity, schema in ENTITIES.items():
        if not tables[entity].schema.equals(schema, check_metadata=True):
            raise AssertionError(f"{entity} does not match its landing schema")  # a bug, not bad input
    return tables


def write_day(config: GenerationConfig, landing_root: Path, day: dt.date) -> dict[str, Path]:
    """Generate the day and land every entity (0-row files too, so the day is complete)."""
    tables = generate_day(config, day)
    return {entity: landing.write_partition(Path(landing_root), entity, day, tables[entity]) for entity in ENTITIES}
