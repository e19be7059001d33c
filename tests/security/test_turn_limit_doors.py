"""The concurrent-turn limit per API key holds on every door that runs a turn: REST (plain and
SSE), rooms and the OpenAI-compatible ``/v1``, not only /mcp."""

from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def one_turn_per_key(settings, demo, make_key):
    """A write key limited to one turn at a time, with that one turn already running."""
    from personamcp.auth import principal_from_key, turn_slot

    settings.PERSONAMCP = {**settings.PERSONAMCP, "MAX_TURNS_PER_KEY": 1}
    key = make_key("write")
    client = Client(headers={"Authorization": f"Bearer {key}"})
    with turn_slot(principal_from_key(key)):
        yield client, key


def _post(client: Client, path: str, body: dict, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def test_rest_send_message_refuses_a_second_turn_of_the_key(one_turn_per_key, make_key):
    client, _ = one_turn_per_key
    answer = _post(client, "/api/conversations/messages/", {"persona_id": "alice", "content": "hi"})
    assert answer.status_code == 429, answer.content
    error = answer.json()["error"]
    assert error["code"] == -32029 and error["data"]["reason"] == "concurrent_turns"
    assert int(answer["Retry-After"]) >= 1
    other = Client(headers={"Authorization": f"Bearer {make_key('write')}"})
    ok = _post(other, "/api/conversations/messages/", {"persona_id": "alice", "content": "hi"})
    assert ok.status_code == 200 and ok.json()["response"]  # another key is not held up


def test_rest_streamed_turn_reports_the_limit_and_stores_nothing(one_turn_per_key):
    from conversations.models import Message

    client, _ = one_turn_per_key
    before = Message.objects.count()
    answer = _post(
        client,
        "/api/conversations/messages/",
        {"persona_id": "alice", "content": "hi", "stream": True},
    )
    body = b"".join(answer.streaming_content).decode()
    assert "concurrent_turns" in body and "-32029" in body
    assert Message.objects.count() == before


def test_room_send_refuses_a_second_turn_of_the_key(one_turn_per_key):
    client, _ = one_turn_per_key
    room = _post(client, "/api/rooms/", {"name": "Tavern", "persona_ids": ["alice", "rook"]})
    assert room.status_code in (200, 201), room.content
    answer = _post(client, f"/api/rooms/{room.json()['id']}/messages/", {"content": "hello all"})
    assert answer.status_code == 429, answer.content
    assert answer.json()["error"]["data"]["reason"] == "concurrent_turns"


def test_openai_door_refuses_a_second_turn_of_the_key_in_the_openai_shape(one_turn_per_key):
    client, _ = one_turn_per_key
    body = {"model": "alice", "messages": [{"role": "user", "content": "hi"}]}
    for stream in (False, True):
        answer = _post(client, "/v1/chat/completions", {**body, "stream": stream})
        assert answer.status_code == 429, answer.content
        # Refused before any text: a plain answer with its status, streamed or not.
        assert not answer.streaming
        error = json.loads(answer.content)
        assert error["error"]["type"] == "rate_limit_error"
        assert error["error"]["code"] == "rate_limit_exceeded"
        assert "concurrent turns" in error["error"]["message"]
