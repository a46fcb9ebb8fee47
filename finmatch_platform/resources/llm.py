"""The LLM resource: the models a run may choose from, and where reports are written.

One resource holds several named models side by side: ``offline`` (always there: the
deterministic narrator, no network) and any number of OpenAI-compatible endpoints. A run picks
one by name in its config (``model: offline`` or ``model: <endpoint name>``); without a choice
it gets ``default_model``.

Configuration comes from the environment (``build_llm_resource``), the one place it is read:

- ``FINMATCH_LLM_BASE_URL`` + ``FINMATCH_LLM_MODEL``: one endpoint, named ``FINMATCH_LLM_NAME``
  (default: the model name), its key in ``FINMATCH_LLM_API_KEY`` (or the variable named by
  ``FINMATCH_LLM_API_KEY_ENV``, which must start with ``FINMATCH_LLM_``; empty for a local server
  without auth); timeouts and retries
  from ``FINMATCH_LLM_TIMEOUT_S`` and ``FINMATCH_LLM_MAX_RETRIES``.
- ``FINMATCH_LLM_ENDPOINTS``: more endpoints as a JSON list of objects with the fields of
  ``LlmEndpoint`` (name, base_url, model, api_key_env, timeout_s, max_retries, temperature,
  max_tokens). Keys never go in this list, only the name of the variable that holds each.
- ``FINMATCH_LLM_DEFAULT_MODEL``: the model of runs that choose none (default ``offline``).

Secrets are read when a provider is built for a run, never stored in the resource's config and
never printed: errors name the variable, not its value. A key variable must be named
``FINMATCH_LLM_*``, so no configuration can send another secret (the masking key, say) to an
endpoint; plain http:// is refused for hosts that are not loopback unless
FINMATCH_ALLOW_INSECURE_HTTP=1. Like every resource, runs cannot configure it
(``resources/deployment.py``): a run chooses its model in the report's op config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from pydantic import Field, ValidationError, field_validator, model_validator

from finmatch_platform.lib.insights.narrator import narrate_request
from finmatch_platform.lib.llm import (
    DEFAULT_API_KEY_ENV,
    OFFLINE,
    EndpointSettings,
    LlmConfigError,
    LlmProvider,
    OfflineProvider,
    OpenAICompatibleProvider,
)
from finmatch_platform.lib.retry import RetryPolicy
from finmatch_platform.resources.deployment import FixedByDeployment
from finmatch_platform.settings import LLM_KEY_ENV_PREFIX, SettingsError, secure_url

# Where an endpoint's base_url is set, for messages.
LLM_URL_VARIABLES = "FINMATCH_LLM_BASE_URL / FINMATCH_LLM_ENDPOINTS"

REPORTS_FOLDER = "reports"


class LlmEndpoint(dg.Config):
    """One OpenAI-compatible chat-completions endpoint (hosted API or local server)."""

    name: str = Field(description="What runs call this model (config `model: <name>`).")
    base_url: str = Field(
        description="Base URL; requests go to <base_url>/chat/completions, e.g. https://api.openai.com/v1."
    )
    model: str = Field(description="The model name sent in each request.")
    api_key_env: str = Field(
        default=DEFAULT_API_KEY_ENV,
        description="Name of the environment variable holding the API key (never the key itself); empty: no key.",
    )
    timeout_s: float = Field(default=120.0, gt=0, le=3600, description="Read timeout of one attempt, seconds.")
    max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries after the first attempt (timeouts, 429, 5xx)."
    )
    retry_budget_s: float = Field(default=600.0, gt=0, le=7200, description="Wall time all attempts may take, seconds.")
    retry_base_delay_s: float = Field(
        default=1.0, ge=0, le=60, description="First backoff step, seconds (jittered, doubling)."
    )
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=2000, ge=64, le=32000)

    @field_validator("api_key_env")
    @classmethod
    def _only_llm_keys(cls, value: str) -> str:
        if value and not value.startswith(LLM_KEY_ENV_PREFIX):
            raise ValueError(
                f"api_key_env must name a variable starting with {LLM_KEY_ENV_PREFIX} (or be empty for no key), "
                f"got {value!r}"
            )
        return value


class LlmResource(FixedByDeployment, dg.ConfigurableResource):
    """The models insight reports can be narrated by, and the folder the HTML reports go to."""

    default_model: str = Field(default=OFFLINE, description="The model of runs that choose none.")
    endpoints: list[LlmEndpoint] = Field(default_factory=list, description="OpenAI-compatible endpoints, by name.")
    data_dir: str = Field(description="The platform's data directory; reports go to <data_dir>/reports/<focus>/.")
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow plain http:// to hosts that are not loopback (FINMATCH_ALLOW_INSECURE_HTTP=1).",
    )

    @model_validator(mode="after")
    def _secure_endpoints(self) -> LlmResource:
        for endpoint in self.endpoints:
            try:
                secure_url(endpoint.base_url, LLM_URL_VARIABLES, allow_insecure=self.allow_insecure_http)
            except ValueError as exc:
                raise ValueError(f"LLM endpoint {endpoint.name!r}: {exc}") from None
        return self

    def key_variables(self) -> list[str]:
        """The variables holding the configured endpoints' keys (checked when the platform starts)."""
        return [e.api_key_env for e in self.endpoints if e.api_key_env]

    @property
    def reports_dir(self) -> Path:
        return Path(self.data_dir) / REPORTS_FOLDER

    def models(self) -> list[str]:
        return [OFFLINE, *(e.name for e in self.endpoints)]

    def endpoint(self, name: str) -> LlmEndpoint:
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise LlmConfigError(f"unknown model {name!r}; configured: {', '.join(self.models())}")

    def provider(self, model: str | None = None, environ: Mapping[str, str] | None = None) -> LlmProvider:
        """The provider for a run's choice (``None`` or empty: the default model)."""
        name = (model or "").strip() or self.default_model
        if name == OFFLINE:
            return OfflineProvider(narrate_request)
        endpoint = self.endpoint(name)
        env = os.environ if environ is None else environ
        key: str | None = None
        if endpoint.api_key_env:
            key = env.get(endpoint.api_key_env) or None
            if key is None:
                raise LlmConfigError(
                    f"model {name!r} needs an API key: set the environment variable {endpoint.api_key_env} "
                    "(or set api_key_env to empty for a server without auth)"
                )
        return OpenAICompatibleProvider(
            EndpointSettings(
                name=endpoint.name,
                base_url=endpoint.base_url,
                model=endpoint.model,
                api_key=key,
                api_key_env=endpoint.api_key_env,
                timeout_s=endpoint.timeout_s,
                temperature=endpoint.temperature,
                max_tokens=endpoint.max_tokens,
                retry=RetryPolicy(
                    max_attempts=endpoint.max_retries + 1,
                    budget_s=endpoint.retry_budget_s,
                    base_delay_s=endpoint.retry_base_delay_s,
                    max_delay_s=max(endpoint.retry_base_delay_s, 30.0),
                ),
                allow_insecure_http=self.allow_insecure_http,
                url_env=LLM_URL_VARIABLES,
            )
        )


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value not in (None, "") else None


# The variable that sets each field of the FINMATCH_LLM_BASE_URL endpoint, for messages.
_LLM_VARIABLES = {
    "name": "FINMATCH_LLM_NAME",
    "base_url": "FINMATCH_LLM_BASE_URL",
    "model": "FINMATCH_LLM_MODEL",
    "api_key_env": "FINMATCH_LLM_API_KEY_ENV",
    "timeout_s": "FINMATCH_LLM_TIMEOUT_S",
    "max_retries": "FINMATCH_LLM_MAX_RETRIES",
}


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _listed_endpoints(raw: str) -> list[LlmEndpoint]:
    """The endpoints of FINMATCH_LLM_ENDPOINTS; an error names the entry and field at fault."""
    shape = "FINMATCH_LLM_ENDPOINTS must be a JSON list of endpoint objects (name, base_url, model, ...)"
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"{shape}: {exc}") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise SettingsError(shape)
    endpoints = []
    for index, item in enumerate(items):
        try:
            endpoints.append(LlmEndpoint(**item))
        except ValidationError as exc:
            problems = "; ".join(f"[{index}].{_loc(e['loc'])}: {e['msg']}" for e in exc.errors())
            raise SettingsError(f"invalid FINMATCH_LLM_ENDPOINTS entry {problems}") from None
    return endpoints


def endpoints_from_env(environ: Mapping[str, str] | None = None) -> list[LlmEndpoint]:
    """The endpoints configured by FINMATCH_LLM_* variables (see the module docstring)."""
    env = os.environ if environ is None else environ
    endpoints: list[LlmEndpoint] = []
    raw = _env(env, "FINMATCH_LLM_ENDPOINTS")
    if raw:
        endpoints += _listed_endpoints(raw)
    base_url, model = _env(env, "FINMATCH_LLM_BASE_URL"), _env(env, "FINMATCH_LLM_MODEL")
    if base_url or model:
        if not (base_url and model):
            raise SettingsError("set both FINMATCH_LLM_BASE_URL and FINMATCH_LLM_MODEL (or neither)")
        extra: dict[str, object] = {}
        for field, name, kind in (
            ("timeout_s", "FINMATCH_LLM_TIMEOUT_S", float),
            ("max_retries", "FINMATCH_LLM_MAX_RETRIES", int),
        ):
            value = _env(env, name)
            if value is not None:
                try:
                    extra[field] = kind(value)
                except ValueError:
                    raise SettingsError(f"{name} must be a number, got {value!r}") from None
        key_env = env.get("FINMATCH_LLM_API_KEY_ENV")
        try:
            endpoints.append(
                LlmEndpoint(
                    name=_env(env, "FINMATCH_LLM_NAME") or model,
                    base_url=base_url,
                    model=model,
                    api_key_env=DEFAULT_API_KEY_ENV if key_env is None else key_env,
                    **extra,  # type: ignore[arg-type]
                )
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{_LLM_VARIABLES.get(_loc(e['loc']), _loc(e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise SettingsError(f"invalid LLM setting: {problems}") from None
    names = [e.name for e in endpoints]
    duplicated = sorted({n for n in names if names.count(n) > 1} | ({OFFLINE} & set(names)))
    if duplicated:
        raise SettingsError(f"LLM endpoint names must be unique and not {OFFLINE!r}: {', '.join(duplicated)}")
    return endpoints


def build_llm_resource(
    data_dir: str | Path, environ: Mapping[str, str] | None = None, *, allow_insecure_http: bool = False
) -> LlmResource:
    """The ``llm`` resource of a Definitions: reports under ``data_dir``, models from FINMATCH_LLM_*."""
    env = os.environ if environ is None else environ
    endpoints = endpoints_from_env(env)
    default = _env(env, "FINMATCH_LLM_DEFAULT_MODEL") or OFFLINE
    known = [OFFLINE, *(e.name for e in endpoints)]
    if default not in known:
        raise SettingsError(
            f"FINMATCH_LLM_DEFAULT_MODEL={default!r} is not a configured model; configured: {', '.join(known)}"
        )
    try:
        return LlmResource(
            default_model=default, endpoints=endpoints, data_dir=str(data_dir), allow_insecure_http=allow_insecure_http
        )
    except ValidationError as exc:
        raise SettingsError("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())) from None
