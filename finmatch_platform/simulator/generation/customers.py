"""Customers: latent factors, KYC attributes, accounts and credit-score history, all vectorised.

A customer is drawn once, as numbers (``Latents``): codes into the reference tables and pools,
latent factors, and the days on which life events happen (a move, a marriage, dormancy, a new
mobile, bureau checks). The row of any version is then *rendered* from those numbers as of the
version's day, so day D can be generated without replaying days before it: the state on D is a
closed-form function of the event days.

Blocks: block 0 is the opening book (ids 1..customers, created before the go-live); block b >= 1
holds the customers onboarded on days (b-1)*CHUNK_DAYS+1 .. b*CHUNK_DAYS. Blocks are cached per
(config, block), so a day's updates index the cached numbers instead of regenerating them.

The customer modules: ``customer_latents`` (the numbers and id arithmetic), ``customer_attributes``
(drawing a sub-block, one function per attribute group), ``customer_draws`` (drawing primitives),
``customer_state`` (the state as of a day) and ``customer_render`` (landed rows). This module
holds the cached blocks and the sub-block fan-out of drawing and rendering.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from . import reference as ref
from .config import MAX_CUSTOMER_ID, ConfigError, GenerationConfig
from .customer_attributes import draw_sub_block
from .customer_latents import Latents, new_customer_ids
from .customer_render import customer_rows
from .strings import parallel_map

# New customers of this many consecutive days share one cached block.
CHUNK_DAYS = 64

# Blocks larger than this are drawn and rendered in sub-blocks of this size, on a few threads.
# Each sub-block has its own seed, so the output never depends on the number of threads.
SUB_BLOCK = 1 << 17


def draw_latents(
    config: GenerationConfig, ids: np.ndarray, created_epoch: np.ndarray | None, key: tuple[int, ...]
) -> Latents:
    """Draw a block of customers, in seeded sub-blocks on a few threads.

    ``created_epoch`` None means opening book: created before start_date, snapshot as of the
    go-live. Otherwise each customer is onboarded on its given day and snapshot then.
    """
    pieces = [slice(i, min(i + SUB_BLOCK, ids.size)) for i in range(0, max(ids.size, 1), SUB_BLOCK)]

    def draw(j_piece: tuple[int, slice]) -> Latents:
        j, piece = j_piece
        created = None if created_epoch is None else created_epoch[piece]
        return draw_sub_block(config, ids[piece], created, (*key, j))

    return Latents.concat(parallel_map(draw, list(enumerate(pieces)))).freeze()


# --- cached blocks and the population of a day ---------------------------------------------------


@functools.lru_cache(maxsize=4)
def opening_latents(config: GenerationConfig) -> Latents:
    first, end = new_customer_ids(config, 0)
    return draw_latents(config, np.arange(first, end, dtype=np.int64), None, (0, first, end - first))


@functools.lru_cache(maxsize=256)
def chunk_latents(config: GenerationConfig, block: int) -> Latents:
    """Customers onboarded on days (block-1)*CHUNK_DAYS+1 .. block*CHUNK_DAYS."""
    first_day, last_day = (block - 1) * CHUNK_DAYS + 1, block * CHUNK_DAYS
    first, _ = new_customer_ids(config, first_day)
    _, end = new_customer_ids(config, last_day)
    ids = np.arange(first, end, dtype=np.int64)
    day_index = 1 + (ids - config.customers - 1) // max(config.daily_new_customers, 1)
    created = (ref.epoch_day(config.start_date) + day_index).astype(np.int32)
    return draw_latents(config, ids, created, (1, block))


def population(config: GenerationConfig, day_index: int) -> Latents:
    """Every customer created on or before the day, and possibly some created later in the same
    chunk: consumers always mask by created_epoch (and status), never by position."""
    return population_of_blocks(config, population_blocks(config, day_index))


def population_blocks(config: GenerationConfig, day_index: int) -> int:
    """How many blocks of new customers population(config, day_index) holds (its cache key)."""
    return (day_index + CHUNK_DAYS - 1) // CHUNK_DAYS if config.daily_new_customers else 0


@functools.lru_cache(maxsize=2)
def population_of_blocks(config: GenerationConfig, blocks: int) -> Latents:
    parts = [opening_latents(config)] + [chunk_latents(config, b) for b in range(1, blocks + 1)]
    return Latents.concat(parts).freeze()


def generate_customers(config: GenerationConfig, n: int, first_id: int = 1) -> pa.Table:
    """A block of ``n`` opening-book customers (created before start_date), rendered as KYC rows.

    ``generate_customers(config, config.customers)`` is exactly the opening book landed on the
    start day. Rows are a pure function of (config, n, first_id).
    """
    if n < 0 or first_id < 1 or first_id + n - 1 > MAX_CUSTOMER_ID:
        raise ConfigError(
            f"n must be >= 0 and first_id >= 1 with ids up to {MAX_CUSTOMER_ID}, got n={n}, first_id={first_id}"
        )
    if first_id == 1 and n == config.customers:
        lat = opening_latents(config)
    else:
        lat = draw_latents(config, np.arange(first_id, first_id + n, dtype=np.int64), None, (0, first_id, n))
    return render_customers(config, lat, lat.first_version_epoch, lat.first_version_sec)


def render_customers(
    config: GenerationConfig, lat: Latents, version_epoch: np.ndarray, version_sec: np.ndarray
) -> pa.Table:
    """KYC rows of the given customers as of each row's version day (exactly schemas.CUSTOMERS).

    Everything that can change (status, marital status and title, address and segment, mobile,
    CIBIL score, minor/senior flags) is evaluated on the version day, so any version of any
    customer can be rendered without the versions before it. Large inputs render in sub-blocks on
    a few threads.
    """
    n = len(lat)
    epoch = np.broadcast_to(np.asarray(version_epoch, dtype=np.int64), (n,))
    sec = np.broadcast_to(np.asarray(version_sec, dtype=np.int64), (n,))
    if n <= SUB_BLOCK:
        return customer_rows(config, lat, epoch, sec)
    pieces = [slice(i, min(i + SUB_BLOCK, n)) for i in range(0, n, SUB_BLOCK)]
    tables = parallel_map(lambda p: customer_rows(config, lat.slice(p), epoch[p], sec[p]), pieces)
    return pa.concat_tables(tables)
