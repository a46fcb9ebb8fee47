"""When a sensor should request an extraction run: a pure function of what it saw and remembers.

A run is requested once per new mark (the API's high-water mark, or the first record past the
stored position), with the mark as its run key, so the same data never triggers two runs. If
the run for a mark failed, the mark is requested again after an exponential backoff (with a
run key of its own: Dagster never reruns a run key), until the data moves on. The sensor's
memory is its cursor, the JSON of :class:`SensorMemory`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import orjson

from finmatch_platform.lib.connectors.paging import Changes

BASE_BACKOFF_S = 60.0
MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True)
class SensorMemory:
    mark: str | None = None  # the mark last requested
    attempt: int = 0  # runs requested for that mark
    requested_at: float = 0.0  # epoch seconds of the last request
    probe: bool = False  # the API has no changes endpoint: probe it directly, one request a tick

    def encode(self) -> str:
        return orjson.dumps(asdict(self)).decode("utf-8")

    @classmethod
    def decode(cls, cursor: str | None) -> SensorMemory:
        if not cursor:
            return cls()
        try:
            data = orjson.loads(cursor)
            return cls(
                data.get("mark"),
                int(data.get("attempt", 0)),
                float(data.get("requested_at", 0.0)),
                bool(data.get("probe", False)),
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            # A cursor from before this format held the bare mark.
            return cls(mark=cursor, attempt=1)


@dataclass(frozen=True)
class Decision:
    run_key: str | None  # None: skip
    memory: SensorMemory
    reason: str


def backoff_s(attempt: int, base_s: float = BASE_BACKOFF_S, cap_s: float = MAX_BACKOFF_S) -> float:
    """The wait before request number ``attempt + 1`` for a mark whose run failed."""
    # The exponent is capped: past about 1,000 failed runs 2**n no longer fits a float.
    return min(cap_s, base_s * 2.0 ** min(64, max(0, attempt - 1)))


def decide(changes: Changes, memory: SensorMemory, last_run_failed: bool, now: float) -> Decision:
    """Whether to request a run for ``changes``, given the last request and how its run ended."""
    memory = replace(memory, probe=memory.probe or changes.probed)
    if changes.count == 0 or changes.mark is None:
        return Decision(None, memory, f"nothing past the stored position (mark {changes.mark or 'none'})")
    if changes.mark != memory.mark:
        return Decision(
            changes.mark,
            replace(memory, mark=changes.mark, attempt=1, requested_at=now),
            f"{changes.count} new record(s)",
        )
    if not last_run_failed:
        return Decision(None, memory, f"a run was already requested for mark {changes.mark}")
    wait = backoff_s(memory.attempt) - (now - memory.requested_at)
    if wait > 0:
        return Decision(None, memory, f"the run for mark {changes.mark} failed; retrying in {wait:.0f} s")
    attempt = memory.attempt + 1
    return Decision(
        f"{changes.mark}#retry{attempt - 1}",
        replace(memory, attempt=attempt, requested_at=now),
        f"the run for mark {changes.mark} failed; retry {attempt - 1}",
    )
