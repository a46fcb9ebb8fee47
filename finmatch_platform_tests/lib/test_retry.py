"""lib.retry: the retry policy as a table of outcomes and the decisions they get."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from finmatch_platform.lib.retry import (
    Action,
    Failure,
    Outcome,
    RetryPolicy,
    TransportError,
    backoff_delay,
    decide,
    parse_retry_after,
    server_message,
)

NOW = dt.datetime(2026, 10, 21, 7, 28, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(max_attempts=5, budget_s=120.0, base_delay_s=0.5, max_delay_s=30.0, retry_after_cap_s=60.0)
UNAUTHORIZED = b'{"error":"unauthorized","detail":"invalid API key","parameter":null}'
BAD_PAGE_SIZE = (
    b'{"error":"invalid_parameter","detail":"page_size must be an integer between 1 and 200","parameter":"page_size"}'
)


def _decide(outcome: Outcome, attempt: int = 1, elapsed_s: float = 0.0, policy: RetryPolicy = POLICY, seed: int = 0):
    return decide(attempt, outcome, elapsed_s, policy, random.Random(seed), NOW)


@pytest.mark.parametrize(
    ("outcome", "action", "delay_s", "failure"),
    [
        pytest.param(Outcome.http(200), Action.SUCCEED, 0.0, None, id="200 succeeds"),
        pytest.param(Outcome.http(204), Action.SUCCEED, 0.0, None, id="any 2xx succeeds"),
        pytest.param(
            Outcome.http(429, {"Retry-After": "7"}), Action.RETRY, 7.0, None, id="429 waits Retry-After seconds"
        ),
        pytest.param(
            Outcome.http(429, {"retry-after": "7"}), Action.RETRY, 7.0, None, id="header name is case-insensitive"
        ),
        pytest.param(
            Outcome.http(429, {"Retry-After": "0"}),
            Action.RETRY,
            0.0,
            None,
            id="429 with Retry-After 0 retries at once",
        ),
        pytest.param(
            Outcome.http(429, {"Retry-After": "1.5"}), Action.RETRY, 1.5, None, id="decimal seconds are tolerated"
        ),
        pytest.param(
            Outcome.http(429, {"Retry-After": "Wed, 21 Oct 2026 07:28:12 GMT"}),
            Action.RETRY,
            12.0,
            None,
            id="429 waits until an HTTP date",
        ),
        pytest.param(
            Outcome.http(429, {"Retry-After": "Wed, 21 Oct 2026 07:27:00 GMT"}),
            Action.RETRY,
            0.0,
            None,
            id="an HTTP date in the past means now",
        ),
        pytest.param(Outcome.http(429, {"Retry-After": "600"}), Action.RETRY, 60.0, None, id="Retry-After is capped"),
        pytest.param(
            Outcome.http(429, {"Retry-After": "Thu, 22 Oct 2026 07:28:00 GMT"}),
            Action.RETRY,
            60.0,
            None,
            id="a far HTTP date is capped too",
        ),
        pytest.param(
            Outcome.http(503, {"Retry-After": "3"}), Action.RETRY, 3.0, None, id="503 with Retry-After honours it"
        ),
        pytest.param(Outcome.http(401, body=UNAUTHORIZED), Action.FAIL, 0.0, Failure.AUTH, id="401 fails at once"),
        pytest.param(Outcome.http(403), Action.FAIL, 0.0, Failure.AUTH, id="403 fails at once"),
        pytest.param(
            Outcome.http(400, body=BAD_PAGE_SIZE), Action.FAIL, 0.0, Failure.REJECTED, id="400 is not retried"
        ),
        pytest.param(Outcome.http(404), Action.FAIL, 0.0, Failure.REJECTED, id="404 is not retried"),
        pytest.param(Outcome.http(422), Action.FAIL, 0.0, Failure.REJECTED, id="422 is not retried"),
        pytest.param(Outcome.http(302), Action.FAIL, 0.0, Failure.REJECTED, id="an unexpected 3xx is not retried"),
    ],
)
def test_each_outcome_gets_its_decision(
    outcome: Outcome, action: Action, delay_s: float, failure: Failure | None
) -> None:
    decision = _decide(outcome)

    assert decision.action is action
    assert decision.delay_s == pytest.approx(delay_s)
    assert decision.failure is failure


@pytest.mark.parametrize(
    "outcome",
    [
        pytest.param(Outcome.http(500), id="500"),
        pytest.param(Outcome.http(502), id="502"),
        pytest.param(Outcome.http(503), id="503 without Retry-After"),
        pytest.param(Outcome.http(504), id="504"),
        pytest.param(Outcome.transport(TransportError.TIMEOUT, "read timed out"), id="timeout"),
        pytest.param(Outcome.transport(TransportError.CONNECTION, "RemoteDisconnected"), id="dropped connection"),
        pytest.param(Outcome.transport(TransportError.BAD_RESPONSE, "truncated"), id="truncated body"),
        pytest.param(Outcome.http(429), id="429 without Retry-After"),
        pytest.param(Outcome.http(429, {"Retry-After": "soon"}), id="429 with a garbage Retry-After"),
        pytest.param(Outcome.http(429, {"Retry-After": "-5"}), id="429 with a negative Retry-After"),
        pytest.param(Outcome.http(429, {"Retry-After": ""}), id="429 with an empty Retry-After"),
    ],
)
@pytest.mark.parametrize("attempt", [1, 2, 3, 4])
def test_retryable_trouble_backs_off_exponentially_with_full_jitter(outcome: Outcome, attempt: int) -> None:
    ceiling = min(POLICY.max_delay_s, POLICY.base_delay_s * 2 ** (attempt - 1))
    delays = [_decide(outcome, attempt=attempt, seed=seed).delay_s for seed in range(200)]

    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter: the draws spread over the whole window, not around its top.
    assert min(delays) < 0.2 * ceiling and max(delays) > 0.8 * ceiling
    assert _decide(outcome, attempt=attempt).action is Action.RETRY


def test_the_same_seed_gives_the_same_delays() -> None:
    outcome = Outcome.http(503)
    assert _decide(outcome, attempt=3, seed=42) == _decide(outcome, attempt=3, seed=42)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (40, 30.0), (500, 30.0)]
)
def test_the_backoff_window_doubles_up_to_the_maximum(attempt: int, ceiling: float) -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    assert backoff_delay(attempt, POLICY, Top()) == pytest.approx(ceiling)


@pytest.mark.parametrize(
    ("outcome", "attempt", "elapsed_s", "says"),
    [
        pytest.param(
            Outcome.http(503),
            5,
            3.0,
            ["gave up after 5 attempts", "retry_attempts=5", "HTTP 503"],
            id="attempts run out",
        ),
        pytest.param(
            Outcome.transport(TransportError.TIMEOUT, "read timed out"),
            5,
            3.0,
            ["gave up after 5 attempts", "timeout (read timed out)"],
            id="attempts run out on timeouts",
        ),
        pytest.param(
            Outcome.http(429, {"Retry-After": "30"}),
            2,
            100.0,
            ["retry budget of 120 s", "retry_budget_s", "HTTP 429"],
            id="the wait would overrun the budget",
        ),
        pytest.param(
            Outcome.http(502),
            2,
            121.0,
            ["retry budget of 120 s", "HTTP 502"],
            id="the budget is already spent",
        ),
    ],
)
def test_exhausted_retries_fail_saying_what_happened(
    outcome: Outcome, attempt: int, elapsed_s: float, says: list[str]
) -> None:
    decision = _decide(outcome, attempt=attempt, elapsed_s=elapsed_s)

    assert decision.action is Action.FAIL
    assert decision.failure is Failure.EXHAUSTED
    for text in says:
        assert text in decision.reason


def test_a_single_attempt_policy_never_retries() -> None:
    decision = _decide(Outcome.http(500), policy=RetryPolicy(max_attempts=1))
    assert (decision.action, decision.failure) == (Action.FAIL, Failure.EXHAUSTED)
    assert "gave up after 1 attempt " in decision.reason


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_say_to_check_the_api_key_and_quote_the_server(status: int) -> None:
    decision = _decide(Outcome.http(status, body=UNAUTHORIZED), attempt=1)

    assert "check FINMATCH_API_KEY" in decision.reason
    assert "unauthorized: invalid API key" in decision.reason


def test_a_rejected_request_carries_the_servers_json_message() -> None:
    decision = _decide(Outcome.http(400, body=BAD_PAGE_SIZE))
    assert "HTTP 400: invalid_parameter: page_size must be an integer between 1 and 200" in decision.reason
    assert "not retried" in decision.reason


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        ("  5 ", 5.0),
        ("0", 0.0),
        ("2.5", 2.5),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("Wednesday, 21-Oct-26 07:28:30 GMT", 30.0),  # RFC 850, still allowed by RFC 9110
        ("Wed Oct 21 07:28:30 2026", 30.0),  # asctime
        ("Wed, 21 Oct 2026 07:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("inf", None),
        ("nan", None),
        ("Wed, 32 Oct 2026 07:28:30 GMT", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    parsed = parse_retry_after(value, NOW)
    assert parsed == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (UNAUTHORIZED, "unauthorized: invalid API key"),
        (b'{"detail":"only a detail"}', "only a detail"),
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (b"", ""),
        (b'["not", "an", "object"]', '["not", "an", "object"]'),
    ],
)
def test_the_server_message_is_taken_from_the_json_error(body: bytes, message: str) -> None:
    assert server_message(body) == message


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"budget_s": -1.0}, "budget_s"),
        ({"base_delay_s": float("nan")}, "base_delay_s"),
    ],
)
def test_a_policy_rejects_impossible_limits(changes: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**changes)  # type: ignore[arg-type]


def test_an_outcome_is_either_a_status_or_a_transport_error() -> None:
    with pytest.raises(ValueError):
        Outcome()
    with pytest.raises(ValueError):
        Outcome(status=500, error=TransportError.TIMEOUT)
