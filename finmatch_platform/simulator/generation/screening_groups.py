"""PayScore screening groups: the vendor's organisational units, landed as a change log.

The opening set of ``screening_groups`` groups is created on the go-live. Each later day creates
``screening_groups_per_day`` groups and updates ``screening_group_updates_per_day`` of the groups
created before it (fewer while fewer exist). Every update changes ``member_count`` (members join
or leave) and may also change the status, the settings or the description; name, organisation
and ``created_at`` never change. The file of day D holds every version whose ``updated_at``
falls on D, in change order ``(updated_at, id)``, the order the PayScore API serves.

A group's state on day D depends on its earlier updates. Rather than read earlier files, the
state is replayed from the seeded per-day draws (cached per process): a few NumPy operations per
earlier day, so the output stays a pure function of (config, day).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finmatch_platform.landing_zone.schemas import SCREENING_GROUPS

from . import reference as ref
from .config import GenerationConfig
from .rng import generator, keyed_bits
from .strings import ints, join, take

# A stream code of its own, distinct from those in rng.py, so no other entity shares its numbers.
STREAM_SCREENING_GROUPS = 11
_CREATE, _UPDATE, _IDS, _ORGS = 0, 1, 2, 3  # sub-streams

MICROS_PER_DAY = 86_400_000_000
_HOUR_US = 3_600_000_000
# Groups are created in office hours; updates (membership syncs, admin edits) at any time of day.
_CREATE_FROM_US, _CREATE_SPAN_US = 8 * _HOUR_US, 10 * _HOUR_US
# Share of the opening groups created in the same bulk import as the previous one (same
# created_at), so ties on updated_at exist and the id must break them.
_BULK_TIE_SHARE = 0.15

STATUSES = ("active", "inactive", "archived")
ACTIVE, INACTIVE, ARCHIVED = 0, 1, 2
_OPENING_STATUS_CDF = np.array([0.80, 0.94, 1.0])
_NEW_STATUS_CDF = np.array([0.90, 1.0, 1.0])
# A status change moves to one of the two other statuses: [from] -> (first, second), P(first).
_NEXT_STATUS = np.array([[INACTIVE, ARCHIVED], [ACTIVE, ARCHIVED], [ACTIVE, INACTIVE]], dtype=np.int8)
_P_FIRST = np.array([0.7, 0.6, 0.7])

# What an update changes besides member_count; an archived group's update always restores it.
MEMBERS_ONLY, STATUS_CHANGE, SETTINGS_CHANGE, DESCRIPTION_CHANGE = 0, 1, 2, 3
_KIND_CDF = np.array([0.40, 0.60, 0.80, 1.0])

PURPOSES = (
    "Income Verification",
    "Employment Check",
    "Rental Applicants",
    "Auto Loan Applicants",
    "Personal Loan Screening",
    "Credit Card Onboarding",
    "Mortgage Pre-Qualification",
    "Gig Worker Review",
    "Student Housing",
    "Small Business Owners",
)
AUDIENCES = ("North", "South", "East", "West", "Central", "Metro", "Online", "Branch Network")
DESCRIPTIONS = (
    "Applicants verified against recent paystubs.",
    "Bank-statement based income checks for self-employed applicants.",
    "Rental applications screened before lease approval.",
    "Loan applicants needing income and employment confirmation.",
    "High-volume onboarding queue; auto-approval above the threshold.",
    "Manual review queue for applications flagged by underwriting.",
    "Applicants with variable or gig income; two months of statements required.",
    "Co-signers and guarantors for pending applications.",
    "Pilot group for the new verification workflow.",
    "Seasonal campaign applicants; reviewed weekly.",
    "Existing customers re-verified at renewal.",
    "Branch-referred applicants awaiting documents.",
)
_NULL_DESCRIPTION_SHARE = 0.08

# The settings object: every combination of these, numbered in mixed radix (see _settings_pool).
VERIFICATION_TYPES = ("income", "employment", "income_and_employment", "identity")
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
DOCUMENT_SETS = (
    ("paystub",),
    ("paystub", "bank_statement"),
    ("bank_statement",),
    ("paystub", "w2"),
    ("bank_statement", "tax_return"),
    ("paystub", "bank_statement", "w2"),
    ("offer_letter",),
    ("1099", "bank_statement"),
)
NOTIFICATIONS = ((True, False), (True, True), (False, False), (False, True))
LOOKBACK_DAYS = (30, 60, 90)
_SETTINGS_AXES = (VERIFICATION_TYPES, THRESHOLDS, DOCUMENT_SETS, NOTIFICATIONS, LOOKBACK_DAYS)
SETTINGS_CODES = int(np.prod([len(axis) for axis in _SETTINGS_AXES]))

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@functools.lru_cache(maxsize=1)
def _settings_pool() -> pa.Array:
    """The JSON text of every settings combination, indexed by its code (built once per process)."""
    texts = []
    for vtype, threshold, documents, (email, sms), lookback in itertools.product(*_SETTINGS_AXES):
        settings = {
            "verification_type": vtype,
            "auto_approve_threshold": threshold,
            "required_documents": list(documents),
            "notifications": {"email": email, "sms": sms},
            "income_lookback_days": lookback,
        }
        texts.append(json.dumps(settings))
    return pa.array(texts, pa.string())


def _hex_ids(prefix: str, bits: np.ndarray, digits: int) -> pa.Array:
    """``prefix`` + the top ``digits`` hex digits of each 64-bit value, written straight into an
    Arrow string buffer (cheaper than a Python f-string per row)."""
    n = bits.size
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    width = head.size + digits
    out = np.empty((n, width), dtype=np.uint8)
    out[:, : head.size] = head
    nibbles = np.asarray(bits, dtype=np.uint64)[:, None] >> (
        np.uint64(4) * np.arange(15, 15 - digits, -1, dtype=np.uint64)
    )
    out[:, head.size :] = _HEX[(nibbles & np.uint64(15)).astype(np.intp)]
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))


def group_ids(config: GenerationConfig, numbers: np.ndarray) -> pa.Array:
    """``sg_`` + 16 hex digits. The keyed hash is a bijection of the group number (splitmix64 of
    an odd multiple), so ids never collide."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size == 0:
        return pa.array([], pa.string())
    return _hex_ids("sg_", keyed_bits(config.seed, STREAM_SCREENING_GROUPS, _IDS, numbers), 16)


@functools.lru_cache(maxsize=64)
def organization_ids(config: GenerationConfig) -> pa.Array:
    """``org_`` + 12 hex digits for each of the vendor organisations."""
    numbers = np.arange(config.screening_group_organizations, dtype=np.int64)
    return _hex_ids("org_", keyed_bits(config.seed, STREAM_SCREENING_GROUPS, _ORGS, numbers), 12)


def groups_before(config: GenerationConfig, day_index: int) -> int:
    """How many groups exist before day ``day_index`` (closed form: no state)."""
    if day_index <= 0:
        return 0
    return config.screening_groups + (day_index - 1) * config.screening_groups_per_day


@dataclass(frozen=True)
class _Groups:
    """Groups by number (``first`` onwards): static attributes and the state of their latest version."""

    first: int
    org: np.ndarray
    purpose: np.ndarray
    audience: np.ndarray
    created_us: np.ndarray  # since the epoch, UTC
    status: np.ndarray
    members: np.ndarray
    settings: np.ndarray
    description: np.ndarray  # -1: null

    def __len__(self) -> int:
        return int(self.org.size)

    def copy(self) -> _Groups:
        arrays = {name: getattr(self, name).copy() for name in _ARRAY_FIELDS}
        return _Groups(first=self.first, **arrays)


_ARRAY_FIELDS = ("org", "purpose", "audience", "created_us", "status", "members", "settings", "description")


@functools.lru_cache(maxsize=4096)
def _created(config: GenerationConfig, day_index: int) -> _Groups:
    """The groups created on a day, as created (cached read-only: copy before changing)."""
    opening = day_index == 0
    first = groups_before(config, day_index)
    n = config.screening_groups if opening else config.screening_groups_per_day
    rng = generator(config.seed, STREAM_SCREENING_GROUPS, _CREATE, day_index)
    orgs = config.screening_group_organizations
    org_weight = 1.0 / np.arange(1, orgs + 1)  # a few large organisations and a tail of small ones
    org = np.minimum(np.searchsorted(np.cumsum(org_weight) / org_weight.sum(), rng.random(n), side="right"), orgs - 1)
    purpose = rng.integers(0, len(PURPOSES), n)
    audience = rng.integers(0, len(AUDIENCES), n)
    status = np.searchsorted(_OPENING_STATUS_CDF if opening else _NEW_STATUS_CDF, rng.random(n), side="right")
    if opening:  # established groups migrated at the go-live: a long-tailed size
        members = np.minimum(np.round(25.0 * np.exp(1.1 * rng.standard_normal(n))), 50_000)
    else:
        members = rng.integers(0, 11, n).astype(np.float64)
    settings = rng.integers(0, SETTINGS_CODES, n)
    description = np.where(rng.random(n) < _NULL_DESCRIPTION_SHARE, -1, rng.integers(0, len(DESCRIPTIONS), n))
    # Numbered in creation order: sorted times, some opening groups tied to the previous one.
    offsets = np.sort(_CREATE_FROM_US + (rng.random(n) * _CREATE_SPAN_US).astype(np.int64))
    if opening and n > 1:
        tied = np.nonzero(rng.random(n - 1) < _BULK_TIE_SHARE)[0] + 1
        keep = np.ones(n, dtype=bool)
        keep[tied] = False
        offsets = offsets[np.maximum.accumulate(np.where(keep, np.arange(n), 0))]
    day_us = (ref.epoch_day(config.start_date) + day_index) * MICROS_PER_DAY
    return _Groups(
        first=first,
        org=org.astype(np.int32),
        purpose=purpose.astype(np.int32),
        audience=audience.astype(np.int32),
        created_us=day_us + offsets,
        status=status.astype(np.int8),
        members=members.astype(np.int64),
        settings=settings.astype(np.int64),
        description=description.astype(np.int64),
    )


@dataclass(frozen=True)
class _Updates:
    """The updates drawn for a day: which groups, and the uniforms that decide what changes."""

    numbers: np.ndarray  # group numbers, distinct
    kind_u: np.ndarray
    change_u: np.ndarray  # picks the new status, settings or description
    delta_u: np.ndarray  # size of the membership change
    sign_u: np.ndarray  # members join (65%) or leave
    micros: np.ndarray  # time of day of the new version


@functools.lru_cache(maxsize=4096)
def _updates(config: GenerationConfig, day_index: int) -> _Updates:
    existing = groups_before(config, day_index)
    m = min(config.screening_group_updates_per_day, existing) if day_index > 0 else 0
    rng = generator(config.seed, STREAM_SCREENING_GROUPS, _UPDATE, day_index)
    numbers = rng.choice(existing, size=m, replace=False).astype(np.int64) if m else np.zeros(0, dtype=np.int64)
    u = rng.random((4, m))
    micros = (rng.random(m) * MICROS_PER_DAY).astype(np.int64)
    return _Updates(numbers, u[0], u[1], u[2], u[3], micros)


def _apply(groups: _Groups, updates: _Updates) -> None:
    """Apply one day's updates to the groups' latest state, in place."""
    rows = updates.numbers - groups.first
    status = groups.status[rows]
    kind = np.searchsorted(_KIND_CDF, updates.kind_u, side="right")
    kind = np.where(status == ARCHIVED, STATUS_CHANGE, kind)
    u = updates.change_u

    change = kind == STATUS_CHANGE
    s = status[change]
    second = u[change] >= _P_FIRST[s]
    groups.status[rows[change]] = _NEXT_STATUS[s, second.astype(np.intp)]

    # A new settings object or description, never the one the group has (a shift of 1..n-1).
    change = kind == SETTINGS_CHANGE
    shift = 1 + (u[change] * (SETTINGS_CODES - 1)).astype(np.int64)
    groups.settings[rows[change]] = (groups.settings[rows[change]] + shift) % SETTINGS_CODES
    change = kind == DESCRIPTION_CHANGE
    current = np.maximum(groups.description[rows[change]], 0)
    shift = 1 + (u[change] * (len(DESCRIPTIONS) - 1)).astype(np.int64)
    groups.description[rows[change]] = (current + shift) % len(DESCRIPTIONS)

    # Every update moves the membership by 1..10: join or leave, never below zero.
    delta = 1 + (updates.delta_u * 10).astype(np.int64)
    delta = np.where(updates.sign_u < 0.65, delta, -delta)
    members = groups.members[rows]
    groups.members[rows] = np.where(members + delta >= 0, members + delta, members - delta)


# The latest replayed state per config: a backfill asks for days in order, so each day continues
# from the one before instead of replaying from the go-live (a year: 0.02 s instead of 2 s).
_REPLAYED: dict[GenerationConfig, tuple[int, _Groups]] = {}
_REPLAYED_MAX = 4
_REPLAY_LOCK = threading.Lock()


def _state_before(config: GenerationConfig, day_index: int) -> _Groups:
    """Every group created before the day, at its latest version before the day (a fresh copy)."""
    with _REPLAY_LOCK:
        cached = _REPLAYED.get(config)
    start, state = cached if cached is not None and cached[0] <= day_index else (0, None)
    created = [_created(config, c) for c in range(start, day_index)]
    parts = ([state] if state is not None else []) + created
    groups = _Groups(first=0, **{name: np.concatenate([getattr(g, name) for g in parts]) for name in _ARRAY_FIELDS})
    # The state before day `start` already holds the updates of the days before it.
    for c in range(max(start, 1), day_index):
        _apply(groups, _updates(config, c))
    with _REPLAY_LOCK:
        _REPLAYED.pop(config, None)
        _REPLAYED[config] = (day_index, groups.copy())
        while len(_REPLAYED) > _REPLAYED_MAX:
            del _REPLAYED[next(iter(_REPLAYED))]
    return groups


def _render(config: GenerationConfig, groups: _Groups, rows: np.ndarray, updated_us: np.ndarray) -> pa.Table:
    """Versions of ``groups`` rows (indices into it) as SCREENING_GROUPS rows."""
    rows = np.asarray(rows, dtype=np.int64)
    numbers = groups.first + rows
    description = groups.description[rows]
    columns = {
        "id": group_ids(config, numbers),
        "name": join(
            take(PURPOSES, groups.purpose[rows]), " - ", take(AUDIENCES, groups.audience[rows]), " #", ints(numbers + 1)
        ),
        "description": take(DESCRIPTIONS, np.maximum(description, 0), null_mask=description < 0),
        "status": take(STATUSES, groups.status[rows]),
        "created_at": pa.array(groups.created_us[rows], SCREENING_GROUPS.field("created_at").type),
        "updated_at": pa.array(np.asarray(updated_us, dtype=np.int64), SCREENING_GROUPS.field("updated_at").type),
        "organization_id": organization_ids(config).take(pa.array(groups.org[rows])),
        "settings": _settings_pool().take(pa.array(groups.settings[rows])),
        "member_count": pa.array(groups.members[rows].astype(np.int32)),
    }
    return pa.Table.from_arrays([columns[name] for name in SCREENING_GROUPS.names], schema=SCREENING_GROUPS)


def screening_groups_table(config: GenerationConfig, day: dt.date) -> pa.Table:
    """Every screening-group version whose updated_at falls on the day, in (updated_at, id) order."""
    k = config.day_index(day)
    created = _created(config, k)
    parts = [_render(config, created, np.arange(len(created)), created.created_us)]
    updates = _updates(config, k)
    if updates.numbers.size:
        groups = _state_before(config, k)
        _apply(groups, updates)
        day_us = (ref.epoch_day(day)) * MICROS_PER_DAY
        parts.append(_render(config, groups, updates.numbers, day_us + updates.micros))
    table = pa.concat_tables(parts).combine_chunks()
    order = pc.sort_indices(table, sort_keys=[("updated_at", "ascending"), ("id", "ascending")])
    return table.take(order)


def clear_caches() -> None:
    """Drop the cached draws and replayed states (benchmarks measure cold generation)."""
    for cached in (_created, _updates, organization_ids, _settings_pool):
        cached.cache_clear()
    with _REPLAY_LOCK:
        _REPLAYED.clear()
