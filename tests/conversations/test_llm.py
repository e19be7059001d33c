"""Each LLM provider against a fake server on 127.0.0.1 speaking its real wire format."""

from __future__ import annotations

import threading
import time

import pytest

from llm import get_provider, provider_available, provider_info
from llm.exceptions import LLMTimeout, LLMUnavailable
from llm.offline import OfflineProvider
from personamcp.logging import correlation_id
from tests.conversations.fakes import closed_port

MESSAGES = [{"role": "system", "content": "You are Alice."}, {"role": "user", "content": "Hi"}]


@pytest.fixture(params=["ollama", "openai"])
def server(request, settings):
    from tests.conversations.fakes import FakeLLMServer

    with FakeLLMServer(request.param) as fake:
        settings.LLM_PROVIDER = request.param
        settings.LLM_MODEL = "fake-model"
        settings.LLM_TIMEOUT = 1.0
        settings.LLM_CONNECT_TIMEOUT = 1.0
        if request.param == "ollama":
            settings.OLLAMA_URL = fake.url
        else:
            settings.OPENAI_BASE_URL = fake.url
            settings.OPENAI_API_KEY = "sk-test-123"
        yield fake


def test_stream_yields_every_chunk_and_reports_usage(server):
    stream = get_provider().stream(MESSAGES)
    chunks = list(stream)
    assert len(chunks) == len(server.pieces()) > 3
    assert "".join(chunks) == server.reply == stream.text
    assert stream.usage == {"prompt_tokens": 42, "completion_tokens": 7}
    body = server.requests[-1]["body"]
    assert body["stream"] is True and body["model"] == "fake-model"
    assert body["messages"] == MESSAGES


def test_complete_returns_whole_reply(server):
    assert get_provider().complete(MESSAGES, max_tokens=20, temperature=0.2) == server.reply
    body = server.requests[-1]["body"]
    assert body["stream"] is False
    if server.kind == "ollama":
        assert body["options"] == {"num_predict": 20, "temperature": 0.2}
    else:
        assert body["max_tokens"] == 20 and body["temperature"] == 0.2


def test_openai_sends_api_key(settings):
    from tests.conversations.fakes import FakeLLMServer

    with FakeLLMServer("openai") as fake:
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = fake.url
        settings.OPENAI_API_KEY = "sk-secret-xyz"
        get_provider().complete(MESSAGES)
        assert fake.requests[-1]["headers"]["authorization"] == "Bearer sk-secret-xyz"
        assert fake.requests[-1]["path"] == "/v1/chat/completions"


def test_slow_stream_still_arrives_chunk_by_chunk(server):
    server.mode, server.delay = "slow", 0.05
    arrivals = []
    start = time.perf_counter()
    for _ in get_provider().stream(MESSAGES):
        arrivals.append(time.perf_counter() - start)
    assert len(arrivals) == len(server.pieces())
    # spread over time, not delivered in one burst at the end
    assert arrivals[-1] - arrivals[0] >= 0.05 * (len(arrivals) - 2)


def test_http_error_is_llm_unavailable(server):
    server.mode = "error"
    with pytest.raises(LLMUnavailable, match="HTTP 500"):
        list(get_provider().stream(MESSAGES))
    with pytest.raises(LLMUnavailable):
        get_provider().complete(MESSAGES)


def test_truncated_stream_is_llm_unavailable(server):
    server.mode = "truncated"
    with pytest.raises(LLMUnavailable):
        list(get_provider().stream(MESSAGES))


def test_malformed_stream_is_llm_unavailable(server):
    server.mode = "malformed"
    with pytest.raises(LLMUnavailable, match="malformed"):
        list(get_provider().stream(MESSAGES))


def test_stream_without_done_marker_is_llm_unavailable(server):
    server.mode = "no_done"
    with pytest.raises(LLMUnavailable, match="ended before"):
        list(get_provider().stream(MESSAGES))


def test_stalled_stream_times_out(server, settings):
    settings.LLM_TIMEOUT = 0.3
    server.mode = "stall"
    start = time.perf_counter()
    with pytest.raises(LLMTimeout):
        list(get_provider().stream(MESSAGES))
    assert time.perf_counter() - start < 3


def test_unreachable_backend_is_retried_once_then_unavailable(settings):
    settings.LLM_PROVIDER = "ollama"
    settings.OLLAMA_URL = f"http://127.0.0.1:{closed_port()}"
    start = time.perf_counter()
    with pytest.raises(LLMUnavailable, match="unreachable"):
        get_provider().complete(MESSAGES)
    assert time.perf_counter() - start >= 0.2  # the retry waited before the second attempt
    assert provider_available() is False


def test_retry_reaches_a_server_that_comes_up(settings):
    """The one retry on connection failure succeeds when the backend is up by then."""
    from tests.conversations.fakes import FakeLLMServer

    port = closed_port()
    settings.LLM_PROVIDER = "ollama"
    settings.OLLAMA_URL = f"http://127.0.0.1:{port}"
    holder = {}

    def start_later():
        time.sleep(0.05)
        fake = FakeLLMServer("ollama")
        fake._server.server_close()
        from tests.conversations.fakes import _Handler, _Server

        fake._server = _Server(("127.0.0.1", port), _Handler)
        fake._server.fake = fake
        fake._thread = threading.Thread(target=fake._server.serve_forever, daemon=True)
        holder["fake"] = fake.start()

    threading.Thread(target=start_later).start()
    try:
        assert get_provider().complete(MESSAGES) == "Hello there, traveller. Sit down."
    finally:
        time.sleep(0.1)
        holder["fake"].stop()


def test_cancel_event_stops_a_slow_stream_quickly(server):
    server.mode, server.delay = "slow", 0.3
    cancel = threading.Event()
    stream = get_provider().stream(MESSAGES, cancel_event=cancel)
    got = [next(stream)]
    cancel.set()
    start = time.perf_counter()
    got.extend(stream)
    assert time.perf_counter() - start < 0.25  # did not wait for the next chunk
    assert stream.cancelled is True
    assert stream.text == got[0]


def test_cancel_wakes_a_stalled_read(server, settings):
    settings.LLM_TIMEOUT = 10
    server.mode = "stall"
    cancel = threading.Event()
    stream = get_provider().stream(MESSAGES, cancel_event=cancel)
    next(stream)
    threading.Timer(0.1, cancel.set).start()
    start = time.perf_counter()
    list(stream)
    assert time.perf_counter() - start < 1.0
    assert stream.cancelled is True


def test_provider_info_and_availability(server):
    info = provider_info()
    assert info["provider"] == server.kind and info["is_llm"] is True
    assert info["model"] == "fake-model"
    assert provider_available() is True


# --- offline ------------------------------------------------------------------------------

HINTS = {
    "persona_name": "Alice",
    "greeting": "Come in out of the cold, dear!",
    "speaking_style": "Warm, motherly; calls people 'love' or 'dear'.",
    "mood": 0.5,
    "memories": ["Bob paid his tab in silver last winter."],
    "message": "Have you seen the dragon near the mill?",
    "sender_name": "Bob",
    "first_turn": True,
}


def test_offline_is_deterministic_and_in_voice(settings):
    settings.LLM_PROVIDER = "offline"
    provider = get_provider()
    first = provider.complete(MESSAGES, hints=HINTS)
    assert first == provider.complete(MESSAGES, hints=HINTS)
    assert first.startswith("Come in out of the cold, dear!")  # greeting on the first turn
    assert "dragon" in first.lower()  # acknowledges the message
    assert "Bob paid his tab" in first  # uses the retrieved memory
    assert "love" in first or "dear" in first  # forms of address from the speaking style
    other = provider.complete(MESSAGES, hints={**HINTS, "message": "Tell me about brewing ale"})
    assert other != first and "brewing" in other.lower()


def test_offline_mood_changes_the_reply():
    provider = OfflineProvider()
    base = {**HINTS, "first_turn": False, "memories": []}
    happy = provider.reply(MESSAGES, {**base, "mood": 0.8})
    grumpy = provider.reply(MESSAGES, {**base, "mood": -0.8})
    assert happy != grumpy


def test_offline_streams_words_and_honours_cancel():
    provider = OfflineProvider()
    cancel = threading.Event()
    stream = provider.stream(MESSAGES, cancel_event=cancel, hints=HINTS)
    next(stream)
    cancel.set()
    rest = list(stream)
    assert rest == [] and stream.cancelled
    full = provider.stream(MESSAGES, hints=HINTS)
    chunks = list(full)
    assert len(chunks) > 5 and full.usage["completion_tokens"] > 0


def test_offline_is_honest_in_system_info(settings):
    settings.LLM_PROVIDER = "offline"
    info = provider_info()
    assert info["is_llm"] is False and info["provider"] == "offline"
    assert "not a language model" in info["note"]
    assert provider_available() is True


# --- what clients see of a failure (issue 15: no backend body, no errno text) ---------------


def test_http_error_hides_the_backend_body_and_logs_it(server, caplog):
    server.mode = "error"  # the body says "model is overloaded"
    token = correlation_id.set("cid-llm-test")
    try:
        with pytest.raises(LLMUnavailable) as failed:
            list(get_provider().stream(MESSAGES))
    finally:
        correlation_id.reset(token)
    assert failed.value.message == f"{server.kind} backend answered HTTP 500"
    assert "overloaded" not in str(failed.value.data)
    assert failed.value.data == {"correlation_id": "cid-llm-test"}
    logged = [r.getMessage() for r in caplog.records if r.name == "llm"]
    assert any("overloaded" in line for line in logged)


def test_unreachable_backend_error_has_no_errno_text(settings):
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(LLMUnavailable) as failed:
        get_provider().complete(MESSAGES)
    assert failed.value.message == "openai backend unreachable"
    assert "errno" not in str(failed.value).lower() and "refused" not in str(failed.value)


def test_openai_without_a_key_still_talks_to_a_keyless_server(settings):
    from tests.conversations.fakes import FakeLLMServer

    with FakeLLMServer("openai") as fake:
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = fake.url
        settings.OPENAI_API_KEY = ""
        assert get_provider().complete(MESSAGES) == fake.reply
        assert fake.requests[-1]["headers"]["authorization"] == "Bearer sk-no-key-required"
