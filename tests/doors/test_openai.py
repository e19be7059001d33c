"""The OpenAI-compatible door at /v1, driven by the official ``openai`` client (sync, async and
streaming) against a running server whose LLM is a fake OpenAI-compatible backend."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from conversations.models import Conversation, Message
from tests.conversations.fakes import FakeLLMServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REPLY = "Well met, friend. The road north is closed. Ask me later."


@pytest.fixture
def backend():
    with FakeLLMServer("openai", reply=REPLY, delay=0.0) as fake:
        yield fake


@pytest.fixture
def server(live_server_proc, backend, demo):
    return live_server_proc(
        env={
            "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": backend.url,
            "LLM_MODEL": "fake-model",
            "PERSONAMCP_DEV_MODE": "0",
        }
    )


def client(server, key: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.http}/v1", api_key=key, max_retries=0, **kw)


def test_models_lists_the_personas_the_key_may_use(server, make_key, demo):
    every = client(server, make_key("read")).models.list()
    assert sorted(m.id for m in every.data) == sorted(demo)
    assert all(m.owned_by == "persona-mcp" and m.object == "model" for m in every.data)
    scoped = client(server, make_key("read", personas=[demo["alice"]]))
    assert [m.id for m in scoped.models.list().data] == ["alice"]
    assert scoped.models.retrieve("alice").id == "alice"
    with pytest.raises(openai.NotFoundError):
        scoped.models.retrieve("rook")


def test_chat_completion_resent_history_is_not_duplicated(server, make_key, demo, backend):
    api = client(server, make_key("write"))
    chat = [
        {"role": "system", "content": "Scene: a rainy harbour at night."},
        {"role": "user", "content": "Which road leads north?"},
    ]
    first = api.chat.completions.create(
        model="alice", messages=chat, user="player-7", max_tokens=50, temperature=0.3
    )
    assert first.object == "chat.completion" and first.model == "alice"
    assert first.choices[0].message.role == "assistant"
    assert first.choices[0].message.content == REPLY
    assert first.choices[0].finish_reason == "stop"
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    extras = first.model_extra["persona_mcp"]
    assert set(extras) >= {"conversation_id", "message_id", "emotion", "memories_used"}
    sent = backend.requests[-1]["body"]
    assert sent["max_tokens"] == 50 and sent["temperature"] == 0.3
    prompt_text = "\n".join(m["content"] for m in sent["messages"])
    assert "rainy harbour" in prompt_text  # the client's system message is scene context

    # SillyTavern style: the whole chat again, plus the new user message.
    chat += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "And the south?"},
    ]
    second = api.chat.completions.create(model="alice", messages=chat, user="player-7")
    assert second.model_extra["persona_mcp"]["conversation_id"] == extras["conversation_id"]
    conversation = Conversation.objects.get(pk=extras["conversation_id"])
    assert conversation.participant == "player-7" and conversation.platform == "openai"
    rows = list(conversation.messages.order_by("id").values_list("role", "content"))
    assert rows == [
        ("user", "Which road leads north?"),
        ("assistant", REPLY),
        ("user", "And the south?"),
        ("assistant", REPLY),
    ]
    # Another participant gets another conversation; X-Conversation-Id picks one explicitly.
    other = api.chat.completions.create(model="alice", messages=chat[-1:], user="player-8")
    assert other.model_extra["persona_mcp"]["conversation_id"] != extras["conversation_id"]
    explicit = api.chat.completions.create(
        model="alice",
        messages=[{"role": "user", "content": "Back to you."}],
        user="player-8",
        extra_headers={"X-Conversation-Id": extras["conversation_id"]},
    )
    assert explicit.model_extra["persona_mcp"]["conversation_id"] == extras["conversation_id"]
    # Open WebUI's forwarded user headers name the participant when there is no ``user``
    forwarded = api.chat.completions.create(
        model="alice",
        messages=[{"role": "user", "content": "Hello from the web UI"}],
        extra_headers={"X-OpenWebUI-User-Id": "u-42", "X-OpenWebUI-User-Name": "Mara"},
    )
    web = Conversation.objects.get(pk=forwarded.model_extra["persona_mcp"]["conversation_id"])
    assert (web.participant, web.participant_name) == ("openwebui:u-42", "Mara")


def test_stop_and_length_finish(server, make_key):
    api = client(server, make_key("write"))
    cut = api.chat.completions.create(
        model="rook", messages=[{"role": "user", "content": "hi"}], stop=["road"]
    )
    assert cut.choices[0].message.content == "Well met, friend. The "
    stored = Message.objects.get(pk=cut.model_extra["persona_mcp"]["message_id"])
    assert stored.content == "Well met, friend. The "
    short = api.chat.completions.create(
        model="rook", messages=[{"role": "user", "content": "hi again"}], max_tokens=1
    )
    assert short.choices[0].finish_reason == "length"


def test_streaming_sync_and_async(server, make_key):
    key = make_key("write")
    stream = client(server, key).chat.completions.create(
        model="pip",
        messages=[{"role": "user", "content": "Tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    message_id = finish[0].model_extra["persona_mcp"]["message_id"]
    assert Message.objects.get(pk=message_id).content == REPLY
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0

    async def run_async():
        api = openai.AsyncOpenAI(base_url=f"{server.http}/v1", api_key=key, max_retries=0)
        reply = await api.chat.completions.create(
            model="pip", messages=[{"role": "user", "content": "Once more"}], user="async-user"
        )
        streamed = await api.chat.completions.create(
            model="pip",
            messages=[{"role": "user", "content": "And again"}],
            user="async-user",
            stream=True,
        )
        parts = [c.choices[0].delta.content or "" async for c in streamed if c.choices]
        await api.close()
        return reply, "".join(parts)

    reply, streamed_text = asyncio.run(run_async())
    assert reply.choices[0].message.content == REPLY and streamed_text == REPLY


def test_errors_in_the_openai_shape(server, make_key, demo, backend):
    hi = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.AuthenticationError) as caught:
        client(server, "pmcp_not_a_key").chat.completions.create(model="alice", messages=hi)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert caught.value.response.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(openai.PermissionDeniedError):  # a read key cannot chat
        client(server, make_key("read")).chat.completions.create(model="alice", messages=hi)
    scoped = client(server, make_key("write", personas=[demo["alice"]]))
    with pytest.raises(openai.PermissionDeniedError):
        scoped.chat.completions.create(model="rook", messages=hi)
    api = client(server, make_key("write"))
    with pytest.raises(openai.NotFoundError) as caught:
        api.chat.completions.create(model="nobody", messages=hi)
    assert caught.value.code == "model_not_found" and caught.value.type == "not_found_error"
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(
            model="alice", messages=[*hi, {"role": "assistant", "content": "hello"}]
        )
    assert caught.value.param == "messages.1.role"
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(model="alice", messages=hi, temperature=5)
    assert caught.value.param == "temperature"
    with pytest.raises(openai.NotFoundError) as caught:
        api.chat.completions.create(
            model="alice", messages=hi, extra_headers={"X-Conversation-Id": "nope"}
        )
    assert caught.value.code == "conversation_not_found"
    backend.mode = "error"
    with pytest.raises(openai.InternalServerError) as caught:
        api.chat.completions.create(model="alice", messages=hi)
    assert caught.value.status_code == 503 and caught.value.code == "llm_unavailable"
    with pytest.raises(openai.InternalServerError):  # before any text: a real HTTP status
        list(api.chat.completions.create(model="alice", messages=hi, stream=True))
    raw = httpx.post(
        f"{server.http}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": "Bearer x", "Content-Type": "application/json"},
    )
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "invalid_json"
    assert httpx.get(f"{server.http}/v1/chat/completions").status_code == 405


def test_rate_limit_is_429(live_server_proc, demo, make_key):
    server = live_server_proc(env={"PERSONAMCP_RATE_LIMIT": "2"})
    api = client(server, make_key("read"))
    if time.time() % 60 > 50:  # keep the three calls inside one rate-limit window
        time.sleep(61 - time.time() % 60)
    api.models.list()
    api.models.list()
    with pytest.raises(openai.RateLimitError) as caught:
        api.models.list()
    assert int(caught.value.response.headers["Retry-After"]) >= 1
