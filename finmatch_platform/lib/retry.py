"""The retry policy of the connector clients: a pure function from what happened to what to do next.

``decide`` never sleeps and never reads a clock or a global random generator: the caller passes
the attempt number, the time already spent, a seeded ``random.Random`` and "now", and sleeps for
the returned delay itself. That keeps every rule testable as one row of a table.

The rules (DESIGN.md, "Extraction"):

- 2xx: done.
- 429: wait for ``Retry-After`` (delta-seconds or an HTTP date), capped; a missing or unreadable
  header falls back to the exponential backoff.
- 5xx, timeouts, dropped connections and truncated bodies: exponential backoff with full jitter
  (a uniform draw in ``[0, min(max_delay, base * 2**(attempt-1))]``, which spreads clients apart
  better than equal or no jitter). A 503 that does send ``Retry-After`` is honoured like a 429.
- 401 and 403: fail at once; no wait fixes a wrong key.
- any other status (other 4xx, unexpected 1xx/3xx): fail at once with the server's message.
- out of attempts, or the next wait would overrun the total budget: fail, saying what happened.
  A sync that cannot finish must fail the run, never end as a silent partial success.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

API_KEY_ENV = "FINMATCH_API_KEY"


class TransportError(enum.StrEnum):
    """A request that produced no usable HTTP response."""

    TIMEOUT = "timeout"
    CONNECTION = "connection dropped"  # refused, reset, closed before or during the response
    BAD_RESPONSE = "unreadable response"  # a 2xx whose body is cut short or is not JSON


class Action(enum.StrEnum):
    SUCCEED = "succeed"
    RETRY = "retry"
    FAIL = "fail"


class Failure(enum.StrEnum):
    """Why the policy gave up; the client maps each to its own exception type."""

    AUTH = "auth"  # 401/403: the key is wrong or lacks access
    REJECTED = "rejected"  # another 4xx (or an unexpected status): the request itself is wrong
    EXHAUSTED = "exhausted"  # retryable trouble outlasted the attempts or the budget


@dataclass(frozen=True)
class RetryPolicy:
    """Limits for one request's attempts. The budget counts wall time since the first attempt."""

    max_attempts: int = 5
    budget_s: float = 120.0
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # A server asking for minutes is treated as asking for this long: the next 429 (if any) costs
    # one more attempt, which beats parking a run for an hour on one header.
    retry_after_cap_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("budget_s", "base_delay_s", "max_delay_s", "retry_after_cap_s"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Outcome:
    """What one attempt produced: an HTTP status (with headers and body), or a transport error."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: TransportError | None = None
    error_detail: str = ""

    def __post_init__(self) -> None:
        if (self.status is None) == (self.error is None):
            raise ValueError("an Outcome has either a status or a transport error, not both or neither")

    @classmethod
    def http(cls, status: int, headers: Mapping[str, str] | None = None, body: bytes = b"") -> Outcome:
        return cls(status=status, headers=dict(headers or {}), body=body)

    @classmethod
    def transport(cls, error: TransportError, detail: str = "") -> Outcome:
        return cls(error=error, error_detail=detail)

    def describe(self) -> str:
        """A short label for logs and messages, e.g. ``HTTP 503`` or ``timeout (read timed out)``."""
        if self.error is not None:
            return f"{self.error.value} ({self.error_detail})" if self.error_detail else self.error.value
        message = server_message(self.body)
        return f"HTTP {self.status}: {message}" if message else f"HTTP {self.status}"


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float = 0.0
    failure: Failure | None = None
    reason: str = ""  # why: for a retry, the log line; for a failure, the error message


def decide(
    attempt: int,
    outcome: Outcome,
    elapsed_s: float,
    policy: RetryPolicy,
    rng: random.Random,
    now: dt.datetime,
    api: str = "the FPR API",
    key_env: str = API_KEY_ENV,
) -> Decision:
    """What to do after attempt number ``attempt`` (1-based) ended with ``outcome``.

    ``elapsed_s`` is the wall time since the first attempt of this request began; ``now`` (aware)
    is only used to turn an HTTP-date ``Retry-After`` into a wait. ``api`` and ``key_env`` name
    the service and the variable holding its key in failure messages.
    """
    status = outcome.status
    if status is not None and 200 <= status < 300:
        return Decision(Action.SUCCEED)
    if status in (401, 403):
        return Decision(
            Action.FAIL,
            failure=Failure.AUTH,
            reason=f"{api} refused the API key ({outcome.describe()}): check {key_env}",
        )
    if status is not None and status != 429 and not 500 <= status <= 599:
        return Decision(
            Action.FAIL,
            failure=Failure.REJECTED,
            reason=f"{api} rejected the request ({outcome.describe()}); not retried",
        )

    # Retryable from here: 429, 5xx or a transport error.
    delay_s, why = _wait(attempt, outcome, policy, rng, now)
    if attempt >= policy.max_attempts:
        return Decision(
            Action.FAIL,
            failure=Failure.EXHAUSTED,
            reason=f"gave up after {attempt} attempt{'s' if attempt != 1 else ''} "
            f"(retry_attempts={policy.max_attempts}); the last one ended with {outcome.describe()}",
        )
    if elapsed_s + delay_s > policy.budget_s:
        return Decision(
            Action.FAIL,
            failure=Failure.EXHAUSTED,
            reason=f"gave up after {attempt} attempt{'s' if attempt != 1 else ''} and {elapsed_s:.1f} s: "
            f"waiting {delay_s:.1f} s more would exceed the retry budget of {policy.budget_s:g} s "
            f"(retry_budget_s); the last attempt ended with {outcome.describe()}",
        )
    return Decision(Action.RETRY, delay_s=delay_s, reason=f"{outcome.describe()}; {why}")


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full jitter: uniform in ``[0, min(max_delay, base * 2**(attempt-1))]``."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2.0 ** min(attempt - 1, 62))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None if absent or unreadable.

    Accepts delta-seconds (``"5"``; a decimal like ``"1.5"`` too, as some servers send it) and an
    HTTP date (``"Wed, 21 Oct 2026 07:28:00 GMT"``). A date in the past means "now": 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # "inf", "nan" and negatives are not waits a server can mean.
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read the same way
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def server_message(body: bytes) -> str:
    """The API's JSON error as ``"<error>: <detail>"``, or a trimmed body if it is not that shape."""
    if not body:
        return ""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:200].decode("utf-8", errors="replace").strip()
        return " ".join(text.split())
    if isinstance(parsed, dict):
        error, detail = parsed.get("error"), parsed.get("detail")
        if error and detail:
            return f"{error}: {detail}"
        if error or detail:
            return str(error or detail)
    return " ".join(body[:200].decode("utf-8", errors="replace").split())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _wait(
    attempt: int, outcome: Outcome, policy: RetryPolicy, rng: random.Random, now: dt.datetime
) -> tuple[float, str]:
    if outcome.status in (429, 503):
        raw = _header(outcome.headers, "Retry-After")
        asked = parse_retry_after(raw, now)
        if asked is not None:
            if asked > policy.retry_after_cap_s:
                return policy.retry_after_cap_s, (
                    f"Retry-After {raw!r} asks for {asked:.0f} s; waiting the cap of {policy.retry_after_cap_s:g} s"
                )
            return asked, f"waiting {asked:.2f} s as Retry-After {raw!r} asks"
        if outcome.status == 429:
            delay = backoff_delay(attempt, policy, rng)
            label = "no Retry-After" if raw is None else f"unreadable Retry-After {raw!r}"
            return delay, f"{label}: backing off {delay:.2f} s"
    delay = backoff_delay(attempt, policy, rng)
    return delay, f"backing off {delay:.2f} s (attempt {attempt} of {policy.max_attempts})"
