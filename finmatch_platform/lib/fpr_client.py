"""HTTP client for the FPR API (contract: DESIGN.md, "FPR API"), with the retry policy applied.

One ``requests.Session`` keeps a single keep-alive connection to the server (paging is strictly
sequential: each request needs the previous page's cursor), bodies are parsed with orjson, and
every request runs through :func:`finmatch_platform.lib.retry.decide`: this module sleeps, the
policy decides. When the policy gives up the client raises an :class:`ExtractionError` subclass
whose message says what happened and what to fix; it never returns a partial answer.

The API key is sent as ``x-api-key`` and never appears in a message, a log line or a ``repr``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter

from finmatch_platform.lib.retry import Action, Failure, Outcome, RetryPolicy, TransportError, decide

log = logging.getLogger("finmatch.extraction.client")

USER_AGENT = "finmatch-fpr-extractor/1.0"
DATA_PATH = "/fpr_data"
CHANGES_PATH = "/fpr_data/changes"


class ExtractionError(RuntimeError):
    """The extraction cannot go on. ``attempts`` is how many requests the last call made."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class AuthError(ExtractionError):
    """401/403: the API key is missing, wrong or lacks access (check FINMATCH_API_KEY)."""


class RequestRejected(ExtractionError):
    """A 4xx other than 401/403/429 (or an unexpected status): retrying would not help."""


class RetriesExhausted(ExtractionError):
    """429s, 5xx answers or transport errors outlasted the retry attempts or budget."""


class ProtocolError(ExtractionError):
    """A 2xx answer that breaks the API contract (e.g. no ``next_cursor``)."""


_FAILURES: dict[Failure, type[ExtractionError]] = {
    Failure.AUTH: AuthError,
    Failure.REJECTED: RequestRejected,
    Failure.EXHAUSTED: RetriesExhausted,
}


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Any]  # JSON objects as dicts; validated by the sync engine, not here
    next_cursor: str
    has_more: bool


@dataclass(frozen=True, slots=True)
class Changes:
    """What lies past a cursor, for a sensor: cheap, no paging."""

    count: int
    high_water_mark: str | None
    cursor: str  # the next_cursor a sync from the given cursor would end with right now


@dataclass
class ClientStats:
    """Counters across every call of one client (thread-safe enough: one caller at a time)."""

    requests: int = 0
    retries: int = 0
    wait_s: float = 0.0
    retried_by_reason: dict[str, int] = field(default_factory=dict)


class FprClient:
    """Pages the FPR API. Use as a context manager (or call :meth:`close`) to free the connection."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        trust_env: bool = False,
    ) -> None:
        if not api_key:
            raise AuthError("no API key given: set FINMATCH_API_KEY")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self.stats = ClientStats()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._session = session or requests.Session()
        # requests re-reads the proxy variables and .netrc on every request when trust_env is on
        # (~0.3 ms a request, a tenth of a page). The FPR API is an internal service reached
        # directly; pass trust_env=True to go through HTTP(S)_PROXY.
        self._session.trust_env = trust_env
        # Retries are ours (the policy); urllib3's own would hide attempts from the counters.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"x-api-key": api_key, "Accept": "application/json", "User-Agent": USER_AGENT})

    def __repr__(self) -> str:  # never the key
        return f"FprClient(base_url={self.base_url!r}, timeout_s={self.timeout_s})"

    def __enter__(self) -> FprClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def fetch_page(self, cursor: str | None, page_size: int) -> Page:
        """One page after ``cursor`` (None: from the beginning)."""
        params: dict[str, Any] = {"page_size": page_size}
        if cursor:
            params["cursor"] = cursor
        body = self._get(DATA_PATH, params)
        records = body.get("fpr_records") if isinstance(body, dict) else None
        next_cursor = body.get("next_cursor") if isinstance(body, dict) else None
        has_more = body.get("has_more") if isinstance(body, dict) else None
        # A page that breaks the contract must stop the sync: paging on a guessed cursor could
        # skip records or loop forever.
        if not isinstance(records, list) or not isinstance(next_cursor, str) or not isinstance(has_more, bool):
            raise ProtocolError(
                f"GET {DATA_PATH} answered without a list fpr_records, a string next_cursor and a boolean "
                "has_more: the server breaks the API contract"
            )
        return Page(records, next_cursor, has_more)

    def iter_pages(self, cursor: str | None, page_size: int) -> Iterator[Page]:
        """Pages from ``cursor`` while ``has_more``; the last page may be empty."""
        while True:
            page = self.fetch_page(cursor, page_size)
            yield page
            cursor = page.next_cursor
            if not page.has_more:
                return

    def changes(self, cursor: str | None = None) -> Changes:
        """GET /fpr_data/changes: how many records lie past ``cursor`` and the high-water mark."""
        body = self._get(CHANGES_PATH, {"cursor": cursor} if cursor else {})
        try:
            return Changes(int(body["count"]), body.get("high_water_mark"), str(body["cursor"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProtocolError(
                f"GET {CHANGES_PATH} answered without count/cursor: the server breaks the API contract"
            ) from None

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        url = self.base_url + path
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            outcome, parsed = self._attempt(url, params)
            decision = decide(
                attempt, outcome, time.monotonic() - started, self.policy, self._rng, dt.datetime.now(dt.timezone.utc)
            )
            if decision.action is Action.SUCCEED:
                return parsed
            if decision.action is Action.FAIL:
                assert decision.failure is not None
                raise _FAILURES[decision.failure](
                    f"GET {path}: {decision.reason}", status=outcome.status, attempts=attempt
                )
            label = str(outcome.status) if outcome.status is not None else str(outcome.error)
            with self._lock:
                self.stats.retries += 1
                self.stats.wait_s += decision.delay_s
                self.stats.retried_by_reason[label] = self.stats.retried_by_reason.get(label, 0) + 1
            log.warning("GET %s attempt %d: %s", path, attempt, decision.reason)
            if decision.delay_s > 0:
                self._sleep(decision.delay_s)

    def _attempt(self, url: str, params: dict[str, Any]) -> tuple[Outcome, Any]:
        with self._lock:
            self.stats.requests += 1
        try:
            response = self._session.get(url, params=params, timeout=self.timeout_s)
            body = response.content  # read here, so a connection cut mid-body is a transport error
        except requests.Timeout as exc:
            return Outcome.transport(TransportError.TIMEOUT, _short(exc)), None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            return Outcome.transport(TransportError.CONNECTION, _short(exc)), None
        if 200 <= response.status_code < 300:
            try:
                return Outcome.http(response.status_code), orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return Outcome.transport(TransportError.BAD_RESPONSE, f"HTTP {response.status_code}, {exc}"), None
        return Outcome.http(response.status_code, response.headers, body), None


def _short(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, without the long wrapper chain."""
    text = str(exc)
    for marker in ("Caused by ", "(Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text[:160]
