"""Keys stay with the API they belong to: no redirect is followed, and no plain http to a remote host.

The redirecting server is real (127.0.0.1): its API path answers 3xx, and the address the
redirect names is served too and records what reached it, so a followed redirect would be seen.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from finmatch_platform.lib.connectors import sources
from finmatch_platform.lib.connectors.http import RedirectRefused, RequestRejected, RestClient
from finmatch_platform.lib.connectors.paging import RestPager
from finmatch_platform.lib.llm import (
    ChatRequest,
    EndpointSettings,
    LlmConfigError,
    LlmRequestError,
    OpenAICompatibleProvider,
)
from finmatch_platform.lib.retry import RetryPolicy
from finmatch_platform.settings import Settings, SettingsError, is_loopback, secure_url

KEY = "redirect-test-key-7c1e9a3b5d"
PAGE = json.dumps({"fpr_records": [], "next_cursor": "c", "has_more": False}).encode()
COMPLETION = json.dumps({"choices": [{"message": {"content": "text"}}], "model": "m"}).encode()
FAST = RetryPolicy(max_attempts=2, budget_s=5.0, base_delay_s=0.01, max_delay_s=0.01)


@dataclass
class Redirector:
    """``/api/...`` answers ``status`` with ``Location: /moved/...``; ``/moved/...`` answers 200."""

    url: str
    status: int = 302
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def moved(self) -> list[tuple[str, str, dict[str, str]]]:
        return [request for request in self.seen if request[1].startswith("/moved/")]


@pytest.fixture()
def redirector() -> Iterator[Redirector]:
    state = Redirector("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            state.seen.append((self.command, self.path, dict(self.headers.items())))
            if self.path.startswith("/api/"):
                self.send_response(state.status)
                self.send_header("Location", "/moved/" + self.path.removeprefix("/api/"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = COMPLETION if "chat/completions" in self.path else PAGE
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def _fpr_client(base_url: str, **options: Any) -> RestClient:
    return RestClient(
        base_url,
        KEY,
        sources.fpr_records("x-api-key").auth,
        api_name="the FPR API",
        key_env="FINMATCH_API_KEY",
        url_env="FINMATCH_API_URL",
        policy=FAST,
        **options,
    )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_connector_refuses_a_redirect_naming_its_target_and_the_key_never_reaches_it(
    redirector: Redirector, status: int
) -> None:
    redirector.status = status
    with _fpr_client(redirector.url + "/api") as client, pytest.raises(RedirectRefused) as refused:
        next(RestPager(client, sources.fpr_records("x-api-key"), page_size=5).pages(None))

    message = str(refused.value)
    assert f"HTTP {status} redirecting to '{redirector.url}/moved/fpr_data?" in message
    assert "set FINMATCH_API_URL" in message and KEY not in message
    assert redirector.moved() == []  # nothing, key or not, went where the redirect pointed
    ((_, path, headers),) = redirector.seen
    assert path.startswith("/api/fpr_data") and headers.get("x-api-key") == KEY  # the API itself got it


def test_the_redirect_target_is_served_so_a_followed_redirect_would_be_seen(redirector: Redirector) -> None:
    # The recorder works: a client asking the moved address directly is recorded there.
    with _fpr_client(redirector.url + "/moved") as client:
        assert next(RestPager(client, sources.fpr_records("x-api-key"), page_size=5).pages(None)).position == "c"
    assert [headers.get("x-api-key") for _, _, headers in redirector.moved()] == [KEY]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_llm_client_refuses_a_redirect_naming_its_target_and_the_key_never_reaches_it(
    redirector: Redirector, status: int
) -> None:
    redirector.status = status
    provider = OpenAICompatibleProvider(
        EndpointSettings(name="redirected", base_url=redirector.url + "/api/v1", model="m", api_key=KEY, retry=FAST)
    )

    with pytest.raises(LlmRequestError) as refused:
        provider.complete(ChatRequest(messages=({"role": "user", "content": "hi"},)))

    message = str(refused.value)
    assert f"HTTP {status} redirecting to '{redirector.url}/moved/v1/chat/completions'" in message
    assert "FINMATCH_LLM_BASE_URL" in message and KEY not in message
    assert redirector.moved() == []
    assert len(redirector.seen) == 1 and redirector.seen[0][2].get("Authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "http://127.1.2.3:1",
        "http://localhost:8765/",
        "http://LOCALHOST",
        "http://[::1]:8765",
        "https://api.payscore.com",
        "https://203.0.113.9:8443/v1",
    ],
)
def test_https_or_a_loopback_host_is_accepted(url: str) -> None:
    assert secure_url(url, "FINMATCH_API_URL", allow_insecure=False) == url.rstrip("/")
    _fpr_client(url).close()
    OpenAICompatibleProvider(EndpointSettings(name="n", base_url=url, model="m"))


@pytest.mark.parametrize(
    "url", ["http://fpr.example.com", "http://203.0.113.9:8765", "http://[2001:db8::1]:80", "http://127.0.0.1.nip.io"]
)
def test_plain_http_to_a_host_that_is_not_loopback_is_refused_naming_the_variable(url: str) -> None:
    expected = r"FINMATCH_API_URL is '.*': plain http:// is allowed only to loopback hosts"
    with pytest.raises(RequestRejected, match=expected) as refused:
        _fpr_client(url)
    assert "FINMATCH_ALLOW_INSECURE_HTTP=1" in str(refused.value)
    with pytest.raises(LlmConfigError, match="FINMATCH_LLM_BASE_URL is '.*': plain http:// is allowed only"):
        OpenAICompatibleProvider(EndpointSettings(name="n", base_url=url, model="m"))

    # Allowed explicitly, the same URL is accepted (keys then travel unencrypted).
    _fpr_client(url, allow_insecure_http=True).close()
    OpenAICompatibleProvider(EndpointSettings(name="n", base_url=url, model="m", allow_insecure_http=True))


def test_a_url_in_a_message_never_shows_its_credentials() -> None:
    with pytest.raises(ValueError) as refused:
        secure_url("http://user:hunter2-password@fpr.example.com/", "FINMATCH_API_URL", allow_insecure=False)
    assert "hunter2" not in str(refused.value) and "fpr.example.com" in str(refused.value)


def test_only_loopback_addresses_count_as_loopback() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.255.0.9", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("128.0.0.1", "10.0.0.1", "::2", "localhost.example.com", "0.0.0.0"))


def test_insecure_http_is_allowed_only_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINMATCH_ALLOW_INSECURE_HTTP", raising=False)
    assert Settings.from_env().allow_insecure_http is False
    monkeypatch.setenv("FINMATCH_ALLOW_INSECURE_HTTP", "1")
    assert Settings.from_env().allow_insecure_http is True
    monkeypatch.setenv("FINMATCH_ALLOW_INSECURE_HTTP", "yes")
    with pytest.raises(SettingsError, match="FINMATCH_ALLOW_INSECURE_HTTP must be an integer between 0 and 1"):
        Settings.from_env()
