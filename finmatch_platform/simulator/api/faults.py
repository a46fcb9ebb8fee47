"""Fault injection for the simulated vendor APIs, so connectors can be tested against a misbehaving vendor.

Off by default. Switched on at start by environment variables or the matching server flags (a
flag wins over its variable). Faults apply to the data endpoints only, never to ``/health`` or the
OpenAPI document, so readiness probes and schema loading stay reliable. Each server chooses its
data paths and its variables' prefix: the FPR API (``finmatch-api``) faults ``/fpr_data`` and
``/fpr_data/changes`` under ``FINMATCH_FAULT_*`` (the defaults below); the PayScore API
(``finmatch-payscore-api``) faults ``/api/v1/screening-groups`` under ``FINMATCH_PAYSCORE_FAULT_*``,
so one environment can fault one vendor and not the other. The flags are the same for both.

=================================  ===============================  =========================================
Environment variable               Flag                             Meaning
=================================  ===============================  =========================================
FINMATCH_FAULT_SEED                --fault-seed N                   seed of the fault sequence (default 0)
FINMATCH_FAULT_RATE_LIMIT          --fault-rate-limit SHARE         share (0-1) of requests answered 429
FINMATCH_FAULT_RATE_LIMIT_RPS      --fault-rate-limit-rps RPS       a real limit: over RPS requests/s -> 429
FINMATCH_FAULT_RETRY_AFTER         --fault-retry-after SECONDS      Retry-After of a 429, whole seconds (1)
FINMATCH_FAULT_RETRY_AFTER_FORMAT  --fault-retry-after-format FMT   ``seconds`` (default) or ``http-date``
FINMATCH_FAULT_ERROR_RATE          --fault-error-rate SHARE         share (0-1) of requests answered 5xx
FINMATCH_FAULT_ERROR_STATUSES      --fault-error-statuses LIST      5xx codes to pick from (500,502,503,504)
FINMATCH_FAULT_DROP_RATE           --fault-drop-rate SHARE          share (0-1) of connections just closed
FINMATCH_FAULT_LATENCY_MS          --fault-latency-ms MS            latency added to every data request
FINMATCH_FAULT_LATENCY_JITTER_MS   --fault-latency-jitter-ms MS     plus a uniform random 0..MS on top
=================================  ===============================  =========================================

Determinism: the n-th data request (counting from 0 since start) draws its fate from a generator
seeded with ``(seed, n)``, so with one client making requests in sequence the same seed gives the
same faults at the same requests, whatever the timing. One uniform draw is split into exclusive
bands, so the configured shares are exact rates: ``drop``, then ``rate limit``, then ``error``;
their sum must not exceed 1. ``FINMATCH_FAULT_RATE_LIMIT_RPS`` is a token bucket (burst = one
second's worth) and depends on timing by nature; it is checked only for requests the seeded
draw let through.

A dropped connection is closed without a byte of response, so the client sees the server
disconnect (``RemoteDisconnected`` / ``ConnectionError`` in requests). That needs the socket,
which uvicorn exposes on its ``send`` callable; the injector must wrap the application
outermost, where it receives uvicorn's own ``send``.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import InitVar, dataclass, fields
from typing import Any, Literal

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RETRY_AFTER_FORMATS = ("seconds", "http-date")
FAULT_PATH_PREFIX = "/fpr_data"
# The FPR API's defaults; another server passes its own prefix and paths.
FPR_ENV_PREFIX = "FINMATCH_FAULT_"
FPR_FAULT_PATHS: tuple[str, ...] = (FAULT_PATH_PREFIX,)


class FaultConfigError(ValueError):
    """A fault setting out of range; the message names the variable or flag."""


@dataclass(frozen=True)
class FaultConfig:
    seed: int = 0
    rate_limit: float = 0.0
    rate_limit_rps: float = 0.0
    retry_after: int = 1
    retry_after_format: Literal["seconds", "http-date"] = "seconds"
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    drop_rate: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    # Not a knob (not in fields()): only names the variables in error messages and survives override().
    env_prefix: InitVar[str] = FPR_ENV_PREFIX

    def __post_init__(self, env_prefix: str) -> None:
        object.__setattr__(self, "_env_prefix", env_prefix)

        def label(name: str) -> str:
            return _label(name, env_prefix)

        for name in ("rate_limit", "error_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise FaultConfigError(f"{label(name)} must be a share between 0 and 1")
        if self.rate_limit + self.error_rate + self.drop_rate > 1.0 + 1e-9:
            raise FaultConfigError("the fault shares (rate limit + error + drop) must add up to at most 1")
        for name in ("rate_limit_rps", "latency_ms", "latency_jitter_ms"):
            if getattr(self, name) < 0:
                raise FaultConfigError(f"{label(name)} must not be negative")
        if self.retry_after < 0:
            raise FaultConfigError(f"{label('retry_after')} must be a whole number of seconds >= 0")
        if self.retry_after_format not in RETRY_AFTER_FORMATS:
            raise FaultConfigError(f"{label('retry_after_format')} must be one of {', '.join(RETRY_AFTER_FORMATS)}")
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise FaultConfigError(f"{label('error_statuses')} must be a comma-separated list of 5xx codes")

    @property
    def active(self) -> bool:
        return bool(
            self.rate_limit
            or self.rate_limit_rps
            or self.error_rate
            or self.drop_rate
            or self.latency_ms
            or self.latency_jitter_ms
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str], env_prefix: str = FPR_ENV_PREFIX) -> FaultConfig:
        values: dict[str, Any] = {}
        for knob in fields(cls):
            raw = environ.get(env_name(knob.name, env_prefix), "").strip()
            if raw:
                values[knob.name] = _parse(knob.name, raw, env_prefix)
        return cls(**values, env_prefix=env_prefix)

    def override(self, **changes: Any) -> FaultConfig:
        """This config with the given knobs replaced (None means: keep)."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update({k: v for k, v in changes.items() if v is not None})
        return FaultConfig(**current, env_prefix=getattr(self, "_env_prefix", FPR_ENV_PREFIX))


_HELP = {
    "seed": "seed of the fault sequence (default 0)",
    "rate_limit": "share 0-1 of data requests answered 429 with Retry-After",
    "rate_limit_rps": "token-bucket limit in requests/s; requests over it get 429 (0 = off)",
    "retry_after": "Retry-After of a 429 in whole seconds (default 1)",
    "retry_after_format": "Retry-After as 'seconds' (default) or as an 'http-date'",
    "error_rate": "share 0-1 of data requests answered with a 5xx",
    "error_statuses": "comma-separated 5xx codes the errors are drawn from (default 500,502,503,504)",
    "drop_rate": "share 0-1 of data requests whose connection is closed without a response",
    "latency_ms": "milliseconds added to every data request",
    "latency_jitter_ms": "plus a uniform random 0..MS (seeded)",
}


KNOBS: tuple[str, ...] = tuple(f.name for f in fields(FaultConfig))


def env_name(name: str, env_prefix: str = FPR_ENV_PREFIX) -> str:
    """The environment variable of a knob: ``FINMATCH_FAULT_ERROR_RATE`` for ``error_rate``."""
    return f"{env_prefix}{name.upper()}"


def _flag(name: str) -> str:
    return "--fault-" + name.replace("_", "-")


def _label(name: str, env_prefix: str = FPR_ENV_PREFIX) -> str:
    return f"{env_name(name, env_prefix)} / {_flag(name)}"


def _parse(name: str, raw: str, env_prefix: str = FPR_ENV_PREFIX) -> Any:
    try:
        if name in ("seed", "retry_after"):
            return int(raw)
        if name == "retry_after_format":
            return raw
        if name == "error_statuses":
            return tuple(int(part) for part in raw.split(",") if part.strip())
        return float(raw)
    except ValueError:
        raise FaultConfigError(f"{_label(name, env_prefix)}: cannot read {raw!r}") from None


def add_arguments(parser: argparse.ArgumentParser, env_prefix: str = FPR_ENV_PREFIX) -> None:
    """One flag per knob; each defaults to None so the environment's value stands unless given."""
    group = parser.add_argument_group(
        f"fault injection (off by default; each flag overrides its {env_prefix}* variable)"
    )
    for knob in fields(FaultConfig):
        group.add_argument(
            _flag(knob.name),
            dest=f"fault_{knob.name}",
            metavar=knob.name.upper(),
            default=None,
            type=str,
            help=f"{_HELP[knob.name]} [env {env_name(knob.name, env_prefix)}]",
        )


def from_args(args: argparse.Namespace, environ: Mapping[str, str], env_prefix: str = FPR_ENV_PREFIX) -> FaultConfig:
    base = FaultConfig.from_env(environ, env_prefix)
    changes = {
        knob.name: _parse(knob.name, raw, env_prefix)
        for knob in fields(FaultConfig)
        if (raw := getattr(args, f"fault_{knob.name}", None)) is not None
    }
    return base.override(**changes)


@dataclass(frozen=True)
class Decision:
    """What happens to one request: an optional fault after an optional delay."""

    kind: Literal["pass", "drop", "rate_limit", "error"]
    delay_s: float = 0.0
    status: int = 200


def decide(config: FaultConfig, n: int) -> Decision:
    """The fate of the n-th data request: a pure function of the config and n."""
    rng = random.Random(f"{config.seed}/{n}")
    band, status_draw, jitter_draw = rng.random(), rng.random(), rng.random()
    delay_s = (config.latency_ms + config.latency_jitter_ms * jitter_draw) / 1000.0
    if band < config.drop_rate:
        return Decision("drop", delay_s)
    if band < config.drop_rate + config.rate_limit:
        return Decision("rate_limit", delay_s, 429)
    if band < config.drop_rate + config.rate_limit + config.error_rate:
        statuses = config.error_statuses
        return Decision("error", delay_s, statuses[int(status_draw * len(statuses))])
    return Decision("pass", delay_s)


def retry_after_value(config: FaultConfig, now: float, wait_s: float | None = None) -> str:
    seconds = config.retry_after if wait_s is None else max(config.retry_after, math.ceil(wait_s))
    if config.retry_after_format == "http-date":
        # An HTTP date has whole seconds: round up so a client honouring it never comes back early.
        return email.utils.formatdate(math.ceil(now + seconds), usegmt=True)
    return str(seconds)


class _TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> float | None:
        """None if a token was taken, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


async def _json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def drop_connection(send: Send) -> None:
    """Close the client's socket without a response."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection: the server does not expose its transport")
    transport.close()
    # Let the server notice the loss before we return, or it would try to answer with a 500.
    for _ in range(20):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)


class FaultInjector:
    """ASGI middleware that applies a :class:`FaultConfig` to the data endpoints: every path that
    starts with one of ``path_prefixes`` (the FPR API's by default)."""

    def __init__(self, app: ASGIApp, config: FaultConfig, path_prefixes: tuple[str, ...] = FPR_FAULT_PATHS) -> None:
        if not path_prefixes:
            raise ValueError("fault injection needs at least one path prefix")
        self.app = app
        self.config = config
        self.path_prefixes = tuple(path_prefixes)
        self.requests = 0
        self._bucket = _TokenBucket(config.rate_limit_rps) if config.rate_limit_rps else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.path_prefixes):
            await self.app(scope, receive, send)
            return
        decision = decide(self.config, self.requests)
        self.requests += 1
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if decision.kind == "drop":
            await drop_connection(send)
            return
        wait_s: float | None = None
        if decision.kind == "pass" and self._bucket is not None:
            wait_s = self._bucket.take()
            if wait_s is not None:
                decision = Decision("rate_limit", decision.delay_s, 429)
        if decision.kind == "rate_limit":
            retry_after = retry_after_value(self.config, time.time(), wait_s)
            await _json(
                send,
                429,
                {
                    "error": "rate_limited",
                    "detail": f"rate limit exceeded; retry after {retry_after}",
                    "parameter": None,
                },
                [(b"retry-after", retry_after.encode())],
            )
            return
        if decision.kind == "error":
            await _json(
                send,
                decision.status,
                {
                    "error": "upstream_unavailable",
                    "detail": "injected server error; retry later",
                    "parameter": None,
                },
                [],
            )
            return
        await self.app(scope, receive, send)
