"""LLM providers and the LLM resource: the offline narrator, OpenAI-compatible endpoints on loopback."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import ValidationError

from finmatch_platform.lib.llm import (
    ChatRequest,
    EndpointSettings,
    LlmAuthError,
    LlmConfigError,
    LlmRequestError,
    LlmResponseError,
    LlmTimeoutError,
    LlmUnavailableError,
    OfflineProvider,
    OpenAICompatibleProvider,
)
from finmatch_platform.lib.retry import RetryPolicy
from finmatch_platform.resources.llm import LlmEndpoint, LlmResource, build_llm_resource, endpoints_from_env
from finmatch_platform.settings import SettingsError
from finmatch_platform_tests.helpers.insights import STAND_IN_KEY, STAND_IN_KEY_ENV, StandIn

MESSAGES = (
    {"role": "system", "content": "You are an analyst."},
    {
        "role": "user",
        "content": "Evidence:\nid | figure | value | n | definition\nF01 | Acceptance rate | 14.9% | n=2,246 | x",
    },
)
FAST = RetryPolicy(max_attempts=3, budget_s=30.0, base_delay_s=0.01, max_delay_s=0.05)


def _provider(
    stand_in: StandIn, model: str, *, key: str | None = STAND_IN_KEY, timeout_s: float = 5.0
) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        EndpointSettings(
            name=f"test-{model}",
            base_url=stand_in.base_url,
            model=model,
            api_key=key,
            api_key_env=STAND_IN_KEY_ENV,
            timeout_s=timeout_s,
            retry=FAST,
        )
    )


def test_offline_provider_writes_from_the_request_context_without_network() -> None:
    seen = []
    provider = OfflineProvider(lambda context: seen.append(context) or "narrative")
    completion = provider.complete(ChatRequest(messages=MESSAGES, context={"focus": "x"}))
    assert completion.text == "narrative" and completion.provider == "offline" and completion.model == "offline"
    assert seen == [{"focus": "x"}]


def test_openai_compatible_provider_posts_chat_completions_with_the_key(stand_in: StandIn) -> None:
    completion = _provider(stand_in, "stand-in-grounded").complete(ChatRequest(messages=MESSAGES))
    assert "14.9% [F01]" in completion.text
    assert completion.provider == "openai_compatible" and completion.attempts == 1
    assert completion.usage["completion_tokens"] > 0
    (request,) = stand_in.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {STAND_IN_KEY}"
    assert request["body"]["model"] == "stand-in-grounded"
    assert request["body"]["messages"] == [dict(m) for m in MESSAGES]
    assert {"temperature", "max_tokens"} <= set(request["body"])


def test_a_timeout_is_retried_then_fails_with_a_clear_error(stand_in: StandIn) -> None:
    started = time.monotonic()
    with pytest.raises(LlmTimeoutError, match=r"timed out after 0.3 s; gave up after 3 attempts") as info:
        _provider(stand_in, "stand-in-slow", timeout_s=0.3).complete(ChatRequest(messages=MESSAGES))
    assert time.monotonic() - started < 5
    assert stand_in.counts["stand-in-slow"] == 3
    assert "stand-in-slow" in str(info.value) and stand_in.base_url in str(info.value)


def test_a_server_error_is_retried_then_fails_with_the_servers_message(stand_in: StandIn) -> None:
    with pytest.raises(LlmUnavailableError, match=r"HTTP 500: the model is overloaded; gave up after 3 attempts"):
        _provider(stand_in, "stand-in-error").complete(ChatRequest(messages=MESSAGES))
    assert stand_in.counts["stand-in-error"] == 3


def test_a_transient_503_is_retried_and_succeeds(stand_in: StandIn) -> None:
    completion = _provider(stand_in, "stand-in-flaky").complete(ChatRequest(messages=MESSAGES))
    assert completion.attempts == 2 and "[F01]" in completion.text


def test_a_wrong_key_fails_at_once_naming_the_variable_never_the_key(stand_in: StandIn) -> None:
    with pytest.raises(LlmAuthError) as info:
        _provider(stand_in, "stand-in-grounded", key="sk-wrong-key-do-not-print").complete(
            ChatRequest(messages=MESSAGES)
        )
    assert STAND_IN_KEY_ENV in str(info.value)
    assert "sk-wrong-key-do-not-print" not in str(info.value)
    assert len(stand_in.requests) == 1


def test_a_response_without_a_completion_is_a_response_error(stand_in: StandIn) -> None:
    with pytest.raises(LlmResponseError, match=r"choices\[0\]\.message\.content"):
        _provider(stand_in, "stand-in-empty").complete(ChatRequest(messages=MESSAGES))


def test_another_4xx_is_not_retried(stand_in: StandIn) -> None:
    provider = OpenAICompatibleProvider(
        EndpointSettings(
            name="wrong-path", base_url=stand_in.base_url + "/nope", model="m", api_key=STAND_IN_KEY, retry=FAST
        )
    )
    with pytest.raises(LlmRequestError, match=r"HTTP 404.*not retried"):
        provider.complete(ChatRequest(messages=MESSAGES))
    assert len(stand_in.requests) == 1


def test_a_refused_connection_is_unavailable() -> None:
    provider = OpenAICompatibleProvider(
        EndpointSettings(name="closed", base_url="http://127.0.0.1:9/v1", model="m", timeout_s=1.0, retry=FAST)
    )
    with pytest.raises(LlmUnavailableError, match="connection failed"):
        provider.complete(ChatRequest(messages=MESSAGES))


def test_the_key_is_not_in_the_settings_repr() -> None:
    settings = EndpointSettings(name="n", base_url="http://x/v1", model="m", api_key="sk-secret-value")
    assert "sk-secret-value" not in repr(settings)


# --------------------------------------------------------------------------------------------
# The resource
# --------------------------------------------------------------------------------------------


def test_the_resource_offers_offline_and_every_named_endpoint(tmp_path, stand_in: StandIn) -> None:
    resource = LlmResource(
        data_dir=str(tmp_path),
        endpoints=[
            LlmEndpoint(
                name="good", base_url=stand_in.base_url, model="stand-in-grounded", api_key_env=STAND_IN_KEY_ENV
            ),
            LlmEndpoint(name="local", base_url=stand_in.base_url, model="stand-in-flaky", api_key_env=STAND_IN_KEY_ENV),
        ],
    )
    assert resource.models() == ["offline", "good", "local"]
    assert resource.provider(None).provider == "offline"
    assert resource.provider("").name == "offline"
    good = resource.provider("good")
    assert (good.name, good.model, good.provider) == ("good", "stand-in-grounded", "openai_compatible")
    assert resource.reports_dir == tmp_path / "reports"
    with pytest.raises(LlmConfigError, match=r"unknown model 'gpt-9'; configured: offline, good, local"):
        resource.provider("gpt-9")


def test_a_missing_key_names_the_variable_to_set(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINMATCH_LLM_TEST_ABSENT_KEY", raising=False)
    resource = LlmResource(
        data_dir=str(tmp_path),
        endpoints=[
            LlmEndpoint(
                name="remote", base_url="http://127.0.0.1:1/v1", model="m", api_key_env="FINMATCH_LLM_TEST_ABSENT_KEY"
            )
        ],
    )
    with pytest.raises(LlmConfigError, match="set the environment variable FINMATCH_LLM_TEST_ABSENT_KEY"):
        resource.provider("remote")
    # A local server without auth: no key variable, no Authorization header.
    open_endpoint = LlmResource(
        data_dir=str(tmp_path),
        endpoints=[LlmEndpoint(name="open", base_url="http://127.0.0.1:1/v1", model="m", api_key_env="")],
    )
    assert open_endpoint.provider("open").settings.api_key is None  # type: ignore[attr-defined]


def test_endpoints_come_from_the_environment() -> None:
    env = {
        "FINMATCH_LLM_BASE_URL": "https://llm.example/v1",
        "FINMATCH_LLM_MODEL": "gpt-4o-mini",
        "FINMATCH_LLM_TIMEOUT_S": "30",
        "FINMATCH_LLM_MAX_RETRIES": "4",
        "FINMATCH_LLM_ENDPOINTS": json.dumps(
            [{"name": "local", "base_url": "http://127.0.0.1:11434/v1", "model": "llama3.1", "api_key_env": ""}]
        ),
        "FINMATCH_LLM_DEFAULT_MODEL": "local",
    }
    endpoints = {e.name: e for e in endpoints_from_env(env)}
    assert set(endpoints) == {"gpt-4o-mini", "local"}
    remote = endpoints["gpt-4o-mini"]
    assert (remote.base_url, remote.timeout_s, remote.max_retries, remote.api_key_env) == (
        "https://llm.example/v1",
        30.0,
        4,
        "FINMATCH_LLM_API_KEY",
    )
    resource = build_llm_resource("data", environ=env)
    assert resource.default_model == "local"
    assert resource.models() == ["offline", "local", "gpt-4o-mini"]


def test_a_default_model_must_be_configured_and_names_unique() -> None:
    assert build_llm_resource("data", environ={}).default_model == "offline"
    with pytest.raises(SettingsError, match="FINMATCH_LLM_DEFAULT_MODEL='gpt'"):
        build_llm_resource("data", environ={"FINMATCH_LLM_DEFAULT_MODEL": "gpt"})
    with pytest.raises(SettingsError, match="both FINMATCH_LLM_BASE_URL and FINMATCH_LLM_MODEL"):
        endpoints_from_env({"FINMATCH_LLM_BASE_URL": "http://x/v1"})
    with pytest.raises(SettingsError, match="not 'offline'"):
        endpoints_from_env({"FINMATCH_LLM_BASE_URL": "http://x/v1", "FINMATCH_LLM_MODEL": "offline"})
    with pytest.raises(SettingsError, match="JSON list"):
        endpoints_from_env({"FINMATCH_LLM_ENDPOINTS": "{not json"})


@pytest.mark.parametrize("variable", ["FINMATCH_MASKING_KEY", "FINMATCH_API_KEY", "HOME", "FINMATCH_LLMX_KEY"])
def test_an_endpoint_key_may_come_only_from_a_finmatch_llm_variable(variable: str) -> None:
    with pytest.raises(ValidationError, match="api_key_env must name a variable starting with FINMATCH_LLM_"):
        LlmEndpoint(name="n", base_url="https://llm.example/v1", model="m", api_key_env=variable)
    listed = json.dumps([{"name": "n", "base_url": "https://llm.example/v1", "model": "m", "api_key_env": variable}])
    with pytest.raises(
        SettingsError,
        match=r"^invalid FINMATCH_LLM_ENDPOINTS entry \[0\]\.api_key_env: .*must name a variable starting",
    ):
        endpoints_from_env({"FINMATCH_LLM_ENDPOINTS": listed})
    single = {"FINMATCH_LLM_BASE_URL": "https://llm.example/v1", "FINMATCH_LLM_MODEL": "m"}
    with pytest.raises(SettingsError, match="FINMATCH_LLM_API_KEY_ENV: .*starting with FINMATCH_LLM_"):
        endpoints_from_env({**single, "FINMATCH_LLM_API_KEY_ENV": variable})
    assert endpoints_from_env({**single, "FINMATCH_LLM_API_KEY_ENV": "FINMATCH_LLM_OTHER_KEY"})[0].api_key_env == (
        "FINMATCH_LLM_OTHER_KEY"
    )


def test_an_endpoint_over_plain_http_to_a_remote_host_is_refused_unless_allowed() -> None:
    remote = LlmEndpoint(name="remote", base_url="http://llm.example/v1", model="m")
    with pytest.raises(ValidationError, match="LLM endpoint 'remote': FINMATCH_LLM_BASE_URL .*plain http://"):
        LlmResource(data_dir="data", endpoints=[remote])
    env = {"FINMATCH_LLM_BASE_URL": "http://llm.example/v1", "FINMATCH_LLM_MODEL": "m"}
    with pytest.raises(SettingsError, match="FINMATCH_ALLOW_INSECURE_HTTP=1"):
        build_llm_resource("data", environ=env)
    allowed = build_llm_resource("data", environ=env, allow_insecure_http=True)
    assert allowed.allow_insecure_http and allowed.models() == ["offline", "m"]
    local = LlmEndpoint(name="local", base_url="http://127.0.0.1:11434/v1", model="m", api_key_env="")
    assert LlmResource(data_dir="data", endpoints=[local]).provider("local").name == "local"
