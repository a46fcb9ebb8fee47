"""Pausing Python's cyclic garbage collector around bulk work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect nothing during the block, then restore the collector as it was.

    Bulk loads and syncs make millions of container objects (records as dicts) that live until
    the block ends; the collector's passes over them cost a sizeable share of the time and free
    nothing, since such data has no reference cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
