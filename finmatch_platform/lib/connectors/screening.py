"""Screening records as pages arrive: what cannot be stored at all goes aside, with its reason.

A record is refused here when it is not an object; its primary key is missing, null, blank or
not a string; a field name is empty, blank or has control characters; two field names collide
when case is ignored; or (for a body that needed the lenient parser) a value is NaN or
Infinity. A field that matches a known column but for case is renamed to it, as the
warehouse's case-insensitive identifiers would read it anyway. The planner refuses the rest
(values that cannot be ordered) when the records are merged.

The screener runs on the fetching thread with its own set of known field names, so it never
reads the planner's state while a merge changes it on another thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from finmatch_platform.lib.connectors.declaration import RestSource
from finmatch_platform.lib.connectors.http import parse_exact
from finmatch_platform.lib.connectors.planner import SYNCED_AT, Batch

_MISSING = object()


class Screener:
    def __init__(self, source: RestSource, names: Iterable[str]) -> None:
        self.source = source
        self.names = set(names)
        self.lower = {name.lower(): name for name in self.names}
        self._get_key = itemgetter(source.primary_key)
        self.records_field = source.paging.records_field

    def add_page(
        self,
        batch: Batch,
        records: list[Any],
        position: str | None,
        non_finite: bool = False,
        raw: bytes | None = None,
    ) -> None:
        """Screen a page into ``batch``; ``raw`` (the response body) is kept instead of the records
        when every record passes untouched and the batch holds nothing else."""
        batch.pages += 1
        batch.received += len(records)
        batch.position = position
        if not records:
            return
        known = self.names
        # Fast path, all in C: every record an object with a non-blank string key, no new field.
        try:
            ids = list(map(self._get_key, records))
        except (KeyError, TypeError):
            ids = None
        if (
            not non_finite
            and ids is not None
            and set(map(type, ids)) == {str}
            and "" not in set(map(str.strip, ids))
            and all(r.keys() <= known for r in records)
        ):
            if raw is not None and batch.clean():
                batch.bodies.append(raw)
            else:
                batch.unpack_bodies(self.records_field)
                batch.records.extend(records)
            return
        batch.unpack_bodies(self.records_field)
        if raw is not None:  # the slow path stores Python objects: read the body exactly
            body, non_finite = parse_exact(raw)
            records = body[self.records_field]
        for record in records:
            reason = self.key_problem(record) or self._name_problem(record)
            if reason is None and non_finite:
                reason = _non_finite_problem(record)
            if reason is not None:
                batch.quarantine.append((reason, record))
                continue
            if not record.keys() <= known:
                record = self._fold_case(record)
                new = record.keys() - known - {SYNCED_AT}  # _synced_at is ours to stamp
                batch.new_keys |= new
                self.names |= new
                self.lower.update((n.lower(), n) for n in new)
            batch.records.append(record)

    def key_problem(self, record: Any) -> str | None:
        """Why a record cannot be keyed, or None if its primary key is usable."""
        pk = self.source.primary_key
        if type(record) is not dict:
            return f"record is not a JSON object but {type(record).__name__}"
        value = record.get(pk, _MISSING)
        if type(value) is str:
            return None if value.strip() else f"{pk} is empty"
        if value is _MISSING:
            return f"{pk} is missing"
        if value is None:
            return f"{pk} is null"
        return f"{pk} must be a string, got {type(value).__name__}"

    def _name_problem(self, record: dict[str, Any]) -> str | None:
        seen: dict[str, str] = {}
        for name in record:
            if not name.strip():
                return "a field name is empty"
            if any(ord(c) < 32 or ord(c) == 127 for c in name):
                return f"field name {name!r} has control characters"
            folded = name.lower()
            if folded in seen:
                return f"field names {seen[folded]!r} and {name!r} collide when case is ignored"
            seen[folded] = name
        return None

    def _fold_case(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with any field named like a known column but for case renamed to it."""
        if not any(n not in self.names and n.lower() in self.lower for n in record):
            return record
        return {(self.lower.get(n.lower(), n) if n not in self.names else n): v for n, v in record.items()}


def _non_finite_problem(record: dict[str, Any]) -> str | None:
    for name, value in record.items():
        if _non_finite(value) or (isinstance(value, (dict, list)) and _nested_non_finite(value)):
            return f"field {name!r} holds NaN or Infinity, which JSON cannot carry"
    return None


def _nested_non_finite(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_nested_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_nested_non_finite(v) for v in value)
    return _non_finite(value)


def _non_finite(value: Any) -> bool:
    return type(value) is float and not math.isfinite(value)
