"""Small value pools built with Faker once per seed; rows index into them with NumPy.

Faker is slow per call but good at plausible Indian names and streets, so
it is called a few thousand times here and never per generated row. The pools are deterministic
for a given seed and Faker version (Faker's word lists are part of the output: pin Faker to keep
byte-identical files across upgrades).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from faker import Faker

from . import reference as ref

# Faker draws per pool; duplicates are dropped, so pools end up somewhat smaller.
_NAME_DRAWS = 3000
_STREET_DRAWS = 600
_FOREIGN_STREET_DRAWS = 120
_MERCHANTS_PER_SUFFIX = 8
_LOCALITIES = 160
LONG_NAME_MIN_CHARS = 7
LONG_NAMES = 64
# Largest house number per country (India, UAE, UK, US, Singapore).
_HOUSE_MAX = (400, 2999, 250, 9999, 999)

# Prefix of the house number and the separator before the street, per country (India, UAE, UK,
# US, Singapore): "Flat 12, MG Road", "Villa 7, Al Wasl Road", "12 Baker Street", "Blk 123 Ang Mo Kio...".
_HOUSE_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("", "", "", "Flat ", "H.No. ", "Plot ", "Door No. "),
    ("Flat ", "Villa "),
    ("",),
    ("",),
    ("Blk ",),
)
_STREET_SEPARATORS = (", ", ", ", " ", " ", " ")
_EMAIL_DOMAIN_WEIGHTS = {
    "gmail.com": 12.0,
    "yahoo.com": 2.0,
    "hotmail.com": 1.5,
    "yahoo.co.in": 2.0,
    "rediffmail.com": 1.5,
    "outlook.com": 2.0,
    "icloud.com": 0.6,
}


@dataclass(frozen=True)
class Pool:
    """A string pool split into consecutive slices (per country or per reason)."""

    values: pa.Array
    offsets: np.ndarray  # slice start per group
    sizes: np.ndarray  # slice length per group

    def pick(self, group: np.ndarray | int, u: np.ndarray) -> np.ndarray:
        """Global index of a uniformly chosen value within each row's group slice."""
        g = np.asarray(group).astype(np.intp)  # NumPy gathers several times faster with intp indices
        # float32/int32 throughout: these run on every customer row.
        sizes = self.sizes.astype(np.float32)[g]
        chosen = np.minimum((u.astype(np.float32) * sizes).astype(np.int32), self.sizes.astype(np.int32)[g] - 1)
        return self.offsets.astype(np.int32)[g] + chosen


@dataclass(frozen=True)
class Pools:
    first_male: pa.Array
    first_female: pa.Array
    first_all: pa.Array  # male names then female names, then the same with a digit 0-9 appended
    first_count: int  # clean names in first_all
    first_email: pa.Array  # lower-cased first names with the dot: "priya."
    last: pa.Array  # clean surnames, then LONG_NAMES over-long ones (the long-name defect)
    last_count: int
    last_email: pa.Array  # lower-cased last names
    streets: Pool  # grouped by country code, each value led by its country's separator
    houses: Pool  # "Flat 12", "H.No. 7", "Villa 3", "Blk 120": grouped by country code
    localities: pa.Array  # Indian address_line2 values
    email_domains: pa.Array  # "@gmail.com" (the "@" saves a join per row), then the same without "@"
    domain_count: int
    email_domain_cdf: np.ndarray
    merchants: Pool  # grouped by reason code


def _unique(draw: Callable[[], str], count: int, keep: Callable[[str], bool]) -> list[str]:
    seen: dict[str, None] = {}
    for _ in range(count):
        value = draw()
        if keep(value):
            seen.setdefault(value, None)
    return list(seen)


def _is_name(value: str) -> bool:
    # Clean alphabetic names only: the digit-in-name defect must be the only source of digits.
    return value.isascii() and value.isalpha() and len(value) >= 2


def _grouped(groups: list[list[str]]) -> Pool:
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return Pool(pa.array([v for g in groups for v in g], pa.string()), offsets, sizes)


def _faker(locale: str, seed: int) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


@functools.lru_cache(maxsize=8)
def build_pools(seed: int) -> Pools:
    """All pools for one seed (cached: building them takes thousands of Faker calls)."""
    india = _faker("en_IN", seed)
    first_male = _unique(india.first_name_male, _NAME_DRAWS, _is_name)
    first_female = _unique(india.first_name_female, _NAME_DRAWS, _is_name)
    last = _unique(india.last_name, _NAME_DRAWS, _is_name)
    long_last = [n for n in last if len(n) >= LONG_NAME_MIN_CHARS] or ["Venkataraghavan", "Subramaniam"]
    # Multi-word names only ("Dalal Road"): Faker sometimes yields a bare surname.
    keep_street = lambda s: s.isascii() and " " in s and not any(ch.isdigit() for ch in s)  # noqa: E731
    streets_in = _unique(india.street_name, _STREET_DRAWS, keep_street)
    streets_gb = _unique(_faker("en_GB", seed).street_name, _FOREIGN_STREET_DRAWS, keep_street)
    streets_us = _unique(_faker("en_US", seed).street_name, _FOREIGN_STREET_DRAWS, keep_street)
    street_groups = [streets_in, list(ref.UAE_STREETS), streets_gb, streets_us, list(ref.SINGAPORE_STREETS)]
    streets = _grouped([[sep + s for s in group] for sep, group in zip(_STREET_SEPARATORS, street_groups, strict=True)])
    localities = [
        f"{last[(i * 7919) % len(last)]} {ref.INDIAN_LOCALITY_SUFFIXES[i % len(ref.INDIAN_LOCALITY_SUFFIXES)]}"
        for i in range(_LOCALITIES)
    ]
    domains = _unique(india.free_email_domain, 50, lambda d: d.isascii())
    domains = sorted(set(domains) | set(ref.EMAIL_DOMAINS_INDIA) | set(_EMAIL_DOMAIN_WEIGHTS))
    weights = np.array([_EMAIL_DOMAIN_WEIGHTS.get(d, 0.5) for d in domains])
    merchants: list[list[str]] = []
    for reason in range(len(ref.REASONS)):
        names = []
        for j, suffix in enumerate(ref.MERCHANT_SUFFIXES[reason]):
            for k in range(_MERCHANTS_PER_SUFFIX):
                owner = last[(reason * 1009 + j * 131 + k * 17) % len(last)]
                names.append(f"{owner} {suffix}")
        merchants.append(sorted(set(names)))
    # Defect variants live in the pools, so a defective row costs an index shift, not a string edit.
    first_all = first_male + first_female
    long_names = [" ".join(long_last[(i * 7 + j * 13) % len(long_last)] for j in range(5)) for i in range(LONG_NAMES)]
    houses = [
        [f"{prefix}{number}" for prefix in prefixes for number in range(1, top + 1)]
        for prefixes, top in zip(_HOUSE_PREFIXES, _HOUSE_MAX, strict=True)
    ]
    return Pools(
        first_male=pa.array(first_male, pa.string()),
        first_female=pa.array(first_female, pa.string()),
        first_all=pa.array(first_all + [f"{v}{d}" for d in range(10) for v in first_all], pa.string()),
        first_count=len(first_all),
        first_email=pa.array([f"{v.lower()}." for v in first_all], pa.string()),
        last=pa.array(last + long_names, pa.string()),
        last_count=len(last),
        last_email=pa.array([v.lower() for v in last], pa.string()),
        streets=streets,
        houses=_grouped(houses),
        localities=pa.array(localities, pa.string()),
        email_domains=pa.array([f"@{d}" for d in domains] + domains, pa.string()),
        domain_count=len(domains),
        email_domain_cdf=np.cumsum(weights),
        merchants=_grouped(merchants),
    )
