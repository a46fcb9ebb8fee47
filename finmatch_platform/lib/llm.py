"""LLM providers behind one interface: the offline narrator and OpenAI-compatible chat completions.

``complete(ChatRequest) -> Completion`` is all a caller sees. Two providers:

* ``OfflineProvider``: no network. It hands the request's structured ``context`` (the evidence
  the messages were written from) to a deterministic narrator and returns its text. The default,
  so a fresh checkout produces reports without any account or key.
* ``OpenAICompatibleProvider``: ``POST {base_url}/chat/completions`` with ``model``, ``messages``,
  ``temperature`` and ``max_tokens``; the answer is ``choices[0].message.content``. That protocol
  is spoken by hosted APIs and local servers alike (vLLM, llama.cpp, Ollama, LM Studio).

Failures are typed (``LlmAuthError``, ``LlmTimeoutError``...) with messages that say what to fix
and never contain the key. The key never follows a redirect (a 3xx is an error naming its target),
and plain http:// is accepted only to a loopback host unless the settings allow it. Retries follow the platform's retry rules (``lib.retry``): timeouts,
dropped connections, 429 and 5xx are retried with jittered exponential backoff (``Retry-After``
honoured, capped) within an attempt count and a time budget; 401/403 and other 4xx fail at once.

No Dagster import here: the resource (``resources/llm.py``) reads configuration and builds these.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

import orjson
import requests

from finmatch_platform.lib.retry import RetryPolicy, backoff_delay, parse_retry_after, server_message
from finmatch_platform.settings import secure_url

OFFLINE = "offline"
PROVIDER_OFFLINE = "offline"
PROVIDER_OPENAI = "openai_compatible"
DEFAULT_API_KEY_ENV = "FINMATCH_LLM_API_KEY"
# Connecting should be quick even to a remote API; the read timeout is the endpoint's own.
_CONNECT_TIMEOUT_S = 10.0


class LlmError(RuntimeError):
    """A model could not produce a narrative; the message says why and what to fix."""


class LlmConfigError(LlmError):
    """The model asked for is not configured, or its configuration is unusable."""


class LlmAuthError(LlmError):
    """The endpoint refused the key (401/403)."""


class LlmTimeoutError(LlmError):
    """Every attempt timed out."""


class LlmUnavailableError(LlmError):
    """Connection failures, 429 or 5xx outlasted the retries."""


class LlmRequestError(LlmError):
    """The endpoint rejected the request (another 4xx); retrying would not help."""


class LlmResponseError(LlmError):
    """A 2xx answer without the expected chat-completion shape or with empty content."""


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Mapping[str, str], ...]
    # The structured input the messages were written from; the offline provider writes from it.
    # It never leaves the process.
    context: Any = None
    purpose: str = ""


@dataclass(frozen=True)
class Completion:
    text: str
    provider: str
    model: str
    endpoint: str
    attempts: int = 1
    seconds: float = 0.0
    usage: Mapping[str, int] = field(default_factory=dict)


class LlmProvider(Protocol):
    name: str
    provider: str
    model: str

    def complete(self, request: ChatRequest) -> Completion: ...


class OfflineProvider:
    """The deterministic narrator as a provider: the same evidence always gives the same text."""

    provider = PROVIDER_OFFLINE

    def __init__(self, narrator: Callable[[Any], str], name: str = OFFLINE) -> None:
        self.name = name
        self.model = OFFLINE
        self._narrator = narrator

    def complete(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        text = self._narrator(request.context)
        return Completion(
            text=text,
            provider=self.provider,
            model=self.model,
            endpoint=self.name,
            seconds=time.perf_counter() - started,
        )


@dataclass(frozen=True)
class EndpointSettings:
    """One OpenAI-compatible endpoint. ``api_key`` is resolved from the environment by the caller."""

    name: str
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = DEFAULT_API_KEY_ENV
    timeout_s: float = 60.0
    temperature: float = 0.2
    max_tokens: int = 2000
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=3, budget_s=300.0, base_delay_s=1.0))
    # Plain http:// to a host that is not loopback (FINMATCH_ALLOW_INSECURE_HTTP=1), and the
    # setting the base URL came from, for messages.
    allow_insecure_http: bool = False
    url_env: str = "FINMATCH_LLM_BASE_URL"

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


class OpenAICompatibleProvider:
    """Chat completions over HTTP, with timeouts and retries."""

    provider = PROVIDER_OPENAI

    def __init__(
        self,
        settings: EndpointSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not settings.base_url.startswith(("http://", "https://")):
            raise LlmConfigError(
                f"LLM endpoint {settings.name!r}: base_url must start with http:// or https://, got {settings.base_url!r}"
            )
        try:
            secure_url(settings.base_url, settings.url_env, allow_insecure=settings.allow_insecure_http)
        except ValueError as exc:
            raise LlmConfigError(f"LLM endpoint {settings.name!r}: {exc}") from None
        self.settings = settings
        self.name = settings.name
        self.model = settings.model
        self._session = session or requests.Session()
        self._sleep = sleep
        self._rng = rng or random.Random()

    def _where(self) -> str:
        s = self.settings
        return f"LLM endpoint {s.name!r} ({s.url}, model {s.model})"

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "***") if key else text

    def complete(self, request: ChatRequest) -> Completion:
        s = self.settings
        body = orjson.dumps(
            {
                "model": s.model,
                "messages": [dict(m) for m in request.messages],
                "temperature": s.temperature,
                "max_tokens": s.max_tokens,
            }
        )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if s.api_key:
            headers["Authorization"] = f"Bearer {s.api_key}"
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                # Never followed: requests would re-send the body, and to the same host the key too.
                response = self._session.post(
                    s.url,
                    data=body,
                    headers=headers,
                    timeout=(min(_CONNECT_TIMEOUT_S, s.timeout_s), s.timeout_s),
                    allow_redirects=False,
                )
            except requests.Timeout:
                problem, error = f"timed out after {s.timeout_s:g} s", LlmTimeoutError
            except requests.ConnectionError as exc:
                problem, error = f"connection failed ({type(exc).__name__})", LlmUnavailableError
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._completion(response, attempt, time.monotonic() - started)
                if 300 <= status < 400:
                    location = response.headers.get("Location")
                    target = urljoin(s.url, location) if location else "(no Location header)"
                    raise LlmRequestError(
                        f"{self._where()} answered HTTP {status} redirecting to {target!r}; redirects are not "
                        f"followed, so the key is never sent to another address: set {s.url_env} to the final URL"
                    )
                message = self._redact(_error_message(response.content))
                described = f"HTTP {status}{': ' + message if message else ''}"
                if status in (401, 403):
                    fix = (
                        f"check the key in {s.api_key_env}"
                        if s.api_key_env
                        else "the endpoint needs a key: set api_key_env"
                    )
                    raise LlmAuthError(f"{self._where()} refused the API key ({described}): {fix}")
                if status != 429 and not 500 <= status <= 599:
                    raise LlmRequestError(f"{self._where()} rejected the request ({described}); not retried")
                problem, error = described, LlmUnavailableError
                retry_after = parse_retry_after(response.headers.get("Retry-After"), _now())
            elapsed = time.monotonic() - started
            if attempt >= s.retry.max_attempts:
                raise error(
                    f"{self._where()} {problem}; gave up after {attempt} attempt{'s' if attempt != 1 else ''} "
                    f"({elapsed:.1f} s)"
                )
            delay = (
                min(retry_after, s.retry.retry_after_cap_s)
                if retry_after is not None
                else backoff_delay(attempt, s.retry, self._rng)
            )
            if elapsed + delay > s.retry.budget_s:
                raise error(
                    f"{self._where()} {problem}; gave up after {attempt} attempt{'s' if attempt != 1 else ''}: "
                    f"waiting {delay:.1f} s more would exceed the retry budget of {s.retry.budget_s:g} s"
                )
            self._sleep(delay)

    def _completion(self, response: requests.Response, attempts: int, seconds: float) -> Completion:
        try:
            payload = orjson.loads(response.content)
            choice = payload["choices"][0]
            text = choice["message"]["content"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            raise LlmResponseError(
                f"{self._where()} answered HTTP {response.status_code} without a chat completion "
                "(expected choices[0].message.content)"
            ) from None
        if not isinstance(text, str) or not text.strip():
            reason = choice.get("finish_reason") if isinstance(choice, dict) else None
            raise LlmResponseError(
                f"{self._where()} returned an empty narrative{f' (finish_reason {reason})' if reason else ''}"
            )
        usage = payload.get("usage") if isinstance(payload, dict) else None
        return Completion(
            text=text,
            provider=self.provider,
            model=str(payload.get("model") or self.model),
            endpoint=self.name,
            attempts=attempts,
            seconds=seconds,
            usage={k: int(v) for k, v in (usage or {}).items() if isinstance(v, int)},
        )


def _error_message(body: bytes) -> str:
    """OpenAI-style ``{"error": {"message": ...}}`` or whatever the server said, trimmed."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        message = parsed["error"].get("message")
        if message:
            return " ".join(str(message).split())[:300]
    return server_message(body)[:300]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
