"""HTTP for the connector engine: one keep-alive session per sync, the retry policy applied.

Every request runs through :func:`finmatch_platform.lib.retry.decide`: this module sleeps, the
policy decides. When the policy gives up the client raises an :class:`ExtractionError` subclass
whose message says what happened and what to fix; it never returns a partial answer.

The key goes only in the header its source declares, is never logged or shown in a ``repr``,
and never follows a redirect: a 3xx is refused naming its target, since ``requests`` would re-send
a custom key header to whatever host the redirect names. Plain http:// is accepted only to a
loopback host unless the caller allows it (FINMATCH_ALLOW_INSECURE_HTTP=1, read by the settings).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import orjson
import requests
from requests.adapters import HTTPAdapter

from finmatch_platform.lib.connectors.declaration import Auth
from finmatch_platform.lib.retry import Action, Failure, Outcome, RetryPolicy, TransportError, decide
from finmatch_platform.settings import secure_url

log = logging.getLogger("finmatch.extraction.client")

USER_AGENT = "finmatch-connector/2.0"
# 20 digits in a row: an integer (or a digit run inside a string) that may not fit 64 bits.
_DIGITS_TO_ZERO = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_DIGIT_RUN = b"0" * 20


class ExtractionError(RuntimeError):
    """The extraction cannot go on. ``attempts`` is how many requests the last call made."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class AuthError(ExtractionError):
    """401/403: the API key is missing, wrong or lacks access."""


class RequestRejected(ExtractionError):
    """A 4xx other than 401/403/429 (or an unexpected status): retrying would not help."""


class RedirectRefused(RequestRejected):
    """A 3xx: the key is never sent to the address a redirect names."""


class RetriesExhausted(ExtractionError):
    """429s, 5xx answers or transport errors outlasted the retry attempts or budget."""


class ProtocolError(ExtractionError):
    """A 2xx answer that breaks the API contract (e.g. no list of records)."""


_FAILURES: dict[Failure, type[ExtractionError]] = {
    Failure.AUTH: AuthError,
    Failure.REJECTED: RequestRejected,
    Failure.EXHAUSTED: RetriesExhausted,
}


@dataclass
class ClientStats:
    """Counters across every call of one client."""

    requests: int = 0
    retries: int = 0
    wait_s: float = 0.0
    retried_by_reason: dict[str, int] = field(default_factory=dict)


class RestClient:
    """GETs JSON from one API. Use as a context manager (or call :meth:`close`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        auth: Auth,
        *,
        api_name: str = "the API",
        key_env: str = "the API key setting",
        url_env: str = "the API URL setting",
        allow_insecure_http: bool = False,
        timeout_s: float = 30.0,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        trust_env: bool = False,
    ) -> None:
        if not api_key:
            raise AuthError(f"no API key given for {api_name}: set {key_env}")
        try:
            self.base_url = secure_url(base_url, url_env, allow_insecure=allow_insecure_http)
        except ValueError as exc:
            raise RequestRejected(f"{api_name}: {exc}") from None
        self.url_env = url_env
        self.api_name = api_name
        self.key_env = key_env
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self.stats = ClientStats()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._session = requests.Session()
        # requests re-reads the proxy variables and .netrc on every request when trust_env is on
        # (~0.3 ms a request, a tenth of a page); pass trust_env=True to go through HTTP(S)_PROXY.
        self._session.trust_env = trust_env
        # Retries are ours (the policy); urllib3's own would hide attempts from the counters.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({**auth.headers(api_key), "Accept": "application/json", "User-Agent": USER_AGENT})
        # Whether the last body needed the lenient parser (NaN or Infinity literals in it), and
        # the body itself, which the engine may keep as received (bulk.py).
        self.last_non_finite = False
        self.last_body = b""

    def __repr__(self) -> str:  # never the key
        return f"RestClient(base_url={self.base_url!r}, timeout_s={self.timeout_s})"

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """The parsed JSON body of ``GET path``, after the retry policy had its say."""
        url = self.base_url + path
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            outcome, parsed = self._attempt(url, params)
            if outcome.status is not None and 300 <= outcome.status < 400:
                raise RedirectRefused(
                    f"GET {path}: {self.api_name} answered HTTP {outcome.status} redirecting to "
                    f"{_redirect_target(url, outcome.headers)!r}; redirects are not followed, so the key is never sent "
                    f"to another address: set {self.url_env} to the API's own URL",
                    status=outcome.status,
                    attempts=attempt,
                )
            decision = decide(
                attempt,
                outcome,
                time.monotonic() - started,
                self.policy,
                self._rng,
                dt.datetime.now(dt.UTC),
                api=self.api_name,
                key_env=self.key_env,
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
            response = self._session.get(url, params=params, timeout=self.timeout_s, allow_redirects=False)
            body = response.content  # read here, so a connection cut mid-body is a transport error
        except requests.Timeout as exc:
            return Outcome.transport(TransportError.TIMEOUT, _short(exc)), None
        except (
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            return Outcome.transport(TransportError.CONNECTION, _short(exc)), None
        if 200 <= response.status_code < 300:
            try:
                parsed, self.last_non_finite = parse_json(body)
                self.last_body = body
                return Outcome.http(response.status_code), parsed
            except ValueError as exc:
                return Outcome.transport(TransportError.BAD_RESPONSE, f"HTTP {response.status_code}, {exc}"), None
        return Outcome.http(response.status_code, response.headers, body), None


def parse_json(body: bytes) -> tuple[Any, bool]:
    """The body and whether it needed the lenient parser.

    orjson for speed; the standard parser for what orjson refuses but a vendor may still send
    (NaN and Infinity literals), so such a record can be quarantined with its reason instead of
    failing the whole page as unreadable.
    """
    try:
        return orjson.loads(body), False
    except orjson.JSONDecodeError:
        return json.loads(body), True


def parse_exact(body: bytes) -> tuple[Any, bool]:
    """:func:`parse_json`, except that a body with an integer past 64 bits, which orjson rounds to
    a float, is read by the standard parser, which keeps it exact. The check costs about half a
    parse, so the engine pays it only where records are stored from Python objects."""
    if _LONG_DIGIT_RUN in body.translate(_DIGITS_TO_ZERO):
        return json.loads(body), True
    return parse_json(body)


def _redirect_target(url: str, headers: Mapping[str, str]) -> str:
    """Where a 3xx points, absolute, for the message."""
    location = next((value for name, value in headers.items() if name.lower() == "location"), None)
    return urljoin(url, location) if location else "(no Location header)"


def _short(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, without the long wrapper chain."""
    text = str(exc)
    for marker in ("Caused by ", "(Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text[:160]
