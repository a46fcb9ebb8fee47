"""When the extraction sensor asks for a run: ``sensing.decide``, its backoff and its memory (the
sensor's cursor), table by table. Pure functions: no Dagster, no clock (``now`` is passed in)."""

from __future__ import annotations

import pytest

from finmatch_platform.lib.connectors.paging import Changes
from finmatch_platform.lib.connectors.sensing import (
    BASE_BACKOFF_S,
    MAX_BACKOFF_S,
    SensorMemory,
    backoff_s,
    decide,
)

NOW = 1_000_000.0
M1 = "2026-10-01T09:00:00.000000Z/FPR0000000001"
M2 = "2026-10-02T09:00:00.000000Z/9b0c1f0e-6a53-5b8e-9d1f-2f6c3e1d4a77"


# --------------------------------------------------------------------------- decide

DECISIONS = [
    # Nothing past the stored position: never a run, and the memory is kept as it is.
    pytest.param(Changes(0, None), SensorMemory(), False, None, SensorMemory(), "nothing past the stored position (mark none)", id="nothing-yet"),
    pytest.param(
        Changes(0, M1), SensorMemory(M1, 1, NOW - 5), False, None, SensorMemory(M1, 1, NOW - 5),
        f"nothing past the stored position (mark {M1})", id="caught-up",
    ),
    pytest.param(
        Changes(0, None), SensorMemory(M1, 3, NOW - 5), True, None, SensorMemory(M1, 3, NOW - 5),
        "nothing past the stored position", id="caught-up-after-a-failed-run",
    ),
    pytest.param(Changes(4, None), SensorMemory(), False, None, SensorMemory(), "nothing past", id="a-count-without-a-mark"),
    # A mark not requested before: one run, keyed by the mark.
    pytest.param(Changes(7, M1), SensorMemory(), False, M1, SensorMemory(M1, 1, NOW), "7 new record(s)", id="first-data"),
    pytest.param(Changes(1, M2), SensorMemory(M1, 1, NOW - 5), False, M2, SensorMemory(M2, 1, NOW), "1 new record(s)", id="new-mark"),
    pytest.param(
        Changes(1, M2), SensorMemory(M1, 4, NOW - 5), True, M2, SensorMemory(M2, 1, NOW), "1 new record(s)",
        id="new-mark-after-failures-starts-counting-again",
    ),
    # The same mark: not again, unless its run failed and the backoff has elapsed.
    pytest.param(
        Changes(7, M1), SensorMemory(M1, 1, NOW - 5), False, None, SensorMemory(M1, 1, NOW - 5),
        f"a run was already requested for mark {M1}", id="same-mark-run-pending-or-done",
    ),
    pytest.param(
        Changes(7, M1), SensorMemory(M1, 1, NOW - 10), True, None, SensorMemory(M1, 1, NOW - 10),
        f"the run for mark {M1} failed; retrying in 50 s", id="failed-backoff-not-elapsed",
    ),
    pytest.param(
        Changes(7, M1), SensorMemory(M1, 1, NOW - 60), True, f"{M1}#retry1", SensorMemory(M1, 2, NOW),
        f"the run for mark {M1} failed; retry 1", id="failed-backoff-just-elapsed",
    ),
    pytest.param(
        Changes(7, M1), SensorMemory(M1, 2, NOW - 100), True, None, SensorMemory(M1, 2, NOW - 100),
        "retrying in 20 s", id="second-failure-waits-twice-as-long",
    ),
    pytest.param(
        Changes(7, M1), SensorMemory(M1, 3, NOW - 240), True, f"{M1}#retry3", SensorMemory(M1, 4, NOW), "retry 3",
        id="third-retry",
    ),
    pytest.param(
        Changes(7, M1), SensorMemory(M1, 9, NOW - 3599), True, None, SensorMemory(M1, 9, NOW - 3599),
        "retrying in 1 s", id="capped-backoff-not-elapsed",
    ),
    pytest.param(
        Changes(7, M1), SensorMemory(M1, 9, NOW - 3600), True, f"{M1}#retry9", SensorMemory(M1, 10, NOW), "retry 9",
        id="capped-backoff-elapsed",
    ),
    # An outage of weeks at the hourly cap: over a thousand retries for one mark.
    pytest.param(
        Changes(7, M1), SensorMemory(M1, 1500, NOW - 3600), True, f"{M1}#retry1500", SensorMemory(M1, 1501, NOW),
        "retry 1500", id="a-very-long-outage-keeps-retrying-hourly",
    ),
    # A cursor from before the JSON memory: the bare mark, its run requested once, when unknown.
    pytest.param(
        Changes(7, M1), SensorMemory.decode(M1), True, f"{M1}#retry1", SensorMemory(M1, 2, NOW), "retry 1",
        id="legacy-cursor-failed-run-is-retried-at-once",
    ),
    pytest.param(
        Changes(7, M1), SensorMemory.decode(M1), False, None, SensorMemory(M1, 1, 0.0), "already requested",
        id="legacy-cursor-same-mark-is-not-requested-twice",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "memory", "last_run_failed", "run_key", "remembered", "reason"), DECISIONS)
def test_decide_requests_one_run_per_mark_and_retries_a_failed_one_after_its_backoff(
    changes: Changes,
    memory: SensorMemory,
    last_run_failed: bool,
    run_key: str | None,
    remembered: SensorMemory,
    reason: str,
) -> None:
    decision = decide(changes, memory, last_run_failed, NOW)

    assert decision.run_key == run_key
    assert decision.memory == remembered
    assert reason in decision.reason, decision.reason


# --------------------------------------------------------------------------- backoff_s


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (-3, BASE_BACKOFF_S),  # nonsense from a hand-edited cursor: the base wait
        (0, BASE_BACKOFF_S),
        (1, BASE_BACKOFF_S),
        (2, 2 * BASE_BACKOFF_S),
        (3, 4 * BASE_BACKOFF_S),
        (6, 32 * BASE_BACKOFF_S),
        (7, MAX_BACKOFF_S),  # 64 minutes, capped at the hour
        (40, MAX_BACKOFF_S),
        (1025, MAX_BACKOFF_S),  # 2**1024 no longer converts to a float
        (100_000, MAX_BACKOFF_S),
    ],
)
def test_the_backoff_doubles_per_failed_attempt_up_to_its_cap(attempt: int, expected: float) -> None:
    assert backoff_s(attempt) == expected


@pytest.mark.parametrize(
    ("attempt", "base_s", "cap_s", "expected"),
    [(1, 2.0, 10.0, 2.0), (3, 2.0, 10.0, 8.0), (4, 2.0, 10.0, 10.0), (2, 0.5, 100.0, 1.0)],
)
def test_the_backoff_honours_a_given_base_and_cap(attempt: int, base_s: float, cap_s: float, expected: float) -> None:
    assert backoff_s(attempt, base_s=base_s, cap_s=cap_s) == expected


# --------------------------------------------------------------------------- SensorMemory


@pytest.mark.parametrize(
    ("cursor", "memory"),
    [
        pytest.param(None, SensorMemory(), id="no-cursor"),
        pytest.param("", SensorMemory(), id="empty"),
        pytest.param(SensorMemory(M2, 3, 1234.5).encode(), SensorMemory(M2, 3, 1234.5), id="round-trip"),
        pytest.param(
            '{"mark": "m", "attempt": 2, "requested_at": 7}', SensorMemory("m", 2, 7.0), id="numbers-as-written"
        ),
        pytest.param("{}", SensorMemory(), id="empty-object"),
        pytest.param('{"mark": "m"}', SensorMemory("m", 0, 0.0), id="only-a-mark"),
        # Anything else is read as a cursor of the older format, which held the bare mark.
        pytest.param(M1, SensorMemory(M1, 1, 0.0), id="legacy-bare-mark"),
        pytest.param("{not json", SensorMemory("{not json", 1, 0.0), id="garbage"),
        pytest.param("[1, 2]", SensorMemory("[1, 2]", 1, 0.0), id="a-json-array"),
        pytest.param("null", SensorMemory("null", 1, 0.0), id="json-null"),
        pytest.param("12345", SensorMemory("12345", 1, 0.0), id="a-number"),
        pytest.param(
            '{"mark": "m", "attempt": "x"}',
            SensorMemory('{"mark": "m", "attempt": "x"}', 1, 0.0),
            id="attempt-not-a-number",
        ),
        pytest.param(
            '{"mark": "m", "attempt": null}', SensorMemory('{"mark": "m", "attempt": null}', 1, 0.0), id="attempt-null"
        ),
        pytest.param('{"attempt": 1e400}', SensorMemory('{"attempt": 1e400}', 1, 0.0), id="a-number-json-cannot-hold"),
    ],
)
def test_sensor_memory_decodes_its_own_cursor_a_legacy_bare_mark_and_garbage(
    cursor: str | None, memory: SensorMemory
) -> None:
    assert SensorMemory.decode(cursor) == memory


@pytest.mark.parametrize(
    "cursor",
    [
        "{not json",
        "[1, 2]",
        "null",
        '{"mark": 5}',
        '{"mark": "m", "attempt": -7, "requested_at": 99999999999}',
        '{"mark": null, "attempt": 3}',
        "\x00\xff binary-ish",
    ],
)
def test_whatever_the_cursor_holds_new_data_still_gets_its_run(cursor: str) -> None:
    # A cursor is editable in the UI: a bad one may cost a retry's timing, never the new data's run.
    decision = decide(Changes(3, M1), SensorMemory.decode(cursor), False, NOW)

    assert decision.run_key == M1 and decision.memory == SensorMemory(M1, 1, NOW)
