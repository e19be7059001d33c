"""A NUL character (\\u0000) in any text is refused with -32602 naming the field, on every door
and in both modes (PostgreSQL's text and jsonb cannot hold it; SQLite could, but the answer must
not depend on the database), and nothing is stored."""

from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)

NUL = "before\u0000after"
MESSAGE = {"persona_id": "alice", "content": NUL}
MEMORY = {"persona_id": "alice", "content": "a plain memory", "metadata": {"note": NUL}}


@pytest.fixture
def counts(demo):
    from conversations.models import Message
    from memory.models import Memory

    def now() -> tuple[int, int]:
        return Message.objects.count(), Memory.objects.count()

    return now


def _nul_error(error: dict, field: str) -> None:
    assert error["code"] == -32602, error
    fields = {e["field"]: e["message"] for e in error["data"]["errors"]}
    assert field in fields and "NUL" in fields[field], error


async def test_websocket_rpc_refuses_nul_and_stores_nothing(counts, make_key, rpc_connect):
    from channels.db import database_sync_to_async

    before = await database_sync_to_async(counts)()
    client = await rpc_connect(token=await database_sync_to_async(make_key)("write"))
    answer = await client.call("conversation.send_message", MESSAGE)
    _nul_error(answer["error"], "content")
    answer = await client.call("memory.store", MEMORY)
    _nul_error(answer["error"], "metadata.note")
    answer = await client.call("persona.update", {"persona_id": "alice", "name": "A\u0000"})
    _nul_error(answer["error"], "name")
    assert await database_sync_to_async(counts)() == before
    assert (await client.result("system.ping"))["pong"] is True  # the session goes on


def test_http_mcp_refuses_nul_in_methods_and_tools(counts, rpc_http):
    before = counts()
    _nul_error(rpc_http("conversation.send_message", MESSAGE)["error"], "content")
    _nul_error(rpc_http("memory.store", MEMORY)["error"], "metadata.note")
    tool = rpc_http(
        "tools/call",
        {"name": "chat_with_persona", "arguments": {"persona": "alice", "message": NUL}},
    )
    assert "error" in tool or tool["result"].get("isError"), tool
    assert counts() == before
    assert rpc_http("conversation.send_message", {"persona_id": "alice", "content": "hi"})["result"]


def test_rest_refuses_nul_naming_the_field(counts, api_as):
    api = api_as("write")
    before = counts()
    answer = api.post("/api/conversations/messages/", MESSAGE, format="json")
    assert answer.status_code == 400, answer.content
    _nul_error(answer.json()["error"], "content")
    answer = api.post("/api/memory/", MEMORY, format="json")
    assert answer.status_code == 400, answer.content
    _nul_error(answer.json()["error"], "metadata.note")
    answer = api.patch("/api/personas/alice/", {"description": NUL}, format="json")
    assert answer.status_code == 400, answer.content
    _nul_error(answer.json()["error"], "description")
    assert counts() == before


def test_openai_door_refuses_nul_naming_the_message(counts, make_key):
    client = Client(headers={"Authorization": f"Bearer {make_key('write')}"})
    before = counts()
    body = {"model": "alice", "messages": [{"role": "user", "content": NUL}]}
    for stream in (False, True):
        answer = client.post(
            "/v1/chat/completions", json.dumps({**body, "stream": stream}), "application/json"
        )
        assert answer.status_code == 400, answer.content
        error = json.loads(answer.content)["error"]
        assert "messages.0.content" in json.dumps(error) and "NUL" in json.dumps(error), error
    assert counts() == before
