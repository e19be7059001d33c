"""The same turn through REST: JSON, list, history, end; parity with RPC."""

from __future__ import annotations

import pytest

from conversations.models import Message
from personas.models import Relationship
from tests.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(api_as, demo):
    return api_as("write")


def test_post_message_returns_the_rpc_result_shape(client, demo, celery_worker):
    r = client.post(
        "/api/conversations/messages/",
        {
            "persona_id": "alice",
            "content": "Evening, Alice!",
            "sender": "@bob:hs",
            "sender_name": "Bob",
        },
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {
        "response",
        "conversation_id",
        "message_id",
        "persona_id",
        "emotion",
        "memories_used",
        "lore_used",  # v1.1
        "triggers_fired",  # v1.1 (goals)
        "actions",  # v1.1
        "expression",  # v1.1
        "usage",
        "timing",
    }
    assert Message.objects.filter(conversation_id=body["conversation_id"]).count() == 2
    listed = client.get("/api/conversations/?persona=alice").json()["conversations"]
    assert listed[0]["id"] == body["conversation_id"] and listed[0]["participant"] == "@bob:hs"
    history = client.get(f"/api/conversations/{body['conversation_id']}/messages/").json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    rel = eventually(lambda: Relationship.objects.filter(other_id="@bob:hs").first())
    assert rel.interactions == 1
    got = client.get("/api/relationships/?persona=alice&other=@bob:hs").json()
    assert got["interactions"] == 1 and got["other_name"] == "Bob"


def test_default_sender_is_the_api_key(client, demo):
    body = client.post(
        "/api/conversations/messages/", {"persona_id": "rook", "content": "hey"}, format="json"
    ).json()
    listed = client.get("/api/conversations/?persona=rook").json()["conversations"]
    assert listed[0]["participant"] == "apikey:test"
    assert listed[0]["id"] == body["conversation_id"]


def test_errors(client, api_as, demo, fake_ollama):
    r = client.post("/api/conversations/messages/", {"content": "hi"}, format="json")
    assert r.status_code == 400
    r = client.post(
        "/api/conversations/messages/", {"persona_id": "nobody", "content": "hi"}, format="json"
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == -32001
    fake_ollama.mode = "error"
    r = client.post(
        "/api/conversations/messages/", {"persona_id": "alice", "content": "hi"}, format="json"
    )
    assert r.status_code == 503 and r.json()["error"]["code"] == -32010
    assert client.get("/api/conversations/nope/messages/").status_code == 404
    reader = api_as("read")
    r = reader.post(
        "/api/conversations/messages/", {"persona_id": "alice", "content": "hi"}, format="json"
    )
    assert r.status_code == 403


def test_key_limited_to_a_persona(api_as, demo):
    limited = api_as("write", personas=[demo["pip"]])
    r = limited.post(
        "/api/conversations/messages/", {"persona_id": "alice", "content": "hi"}, format="json"
    )
    assert r.status_code == 403
    assert (
        limited.post(
            "/api/conversations/messages/", {"persona_id": "pip", "content": "hi"}, format="json"
        ).status_code
        == 200
    )


def test_end_over_rest(client, demo, celery_worker):
    body = client.post(
        "/api/conversations/messages/",
        {"persona_id": "pip", "content": "Sing me the ballad of the fox!"},
        format="json",
    ).json()
    ended = client.post(f"/api/conversations/{body['conversation_id']}/end/").json()
    assert ended["ended"] is True and "ballad" in ended["summary"]


def test_sse_variant_streams_chunks_then_done(client, demo, fake_ollama):
    import json

    r = client.post(
        "/api/conversations/messages/",
        {"persona_id": "alice", "content": "hi", "stream": True},
        format="json",
    )
    assert r["Content-Type"] == "text/event-stream"
    raw = b"".join(r.streaming_content).decode()
    events = [block for block in raw.split("\n\n") if block]
    kinds = [e.split("\n")[0] for e in events]
    assert kinds[0] == "event: expression"  # as soon as it is known, before the reply
    assert kinds[1:-1] == ["event: chunk"] * len(fake_ollama.pieces())
    assert kinds[-1] == "event: done"
    done = json.loads(events[-1].split("data: ", 1)[1])
    expression = json.loads(events[0].split("data: ", 1)[1])
    assert expression["expression"] == done["expression"]
    deltas = [json.loads(e.split("data: ", 1)[1])["delta"] for e in events[1:-1]]
    assert "".join(deltas) == done["response"] == fake_ollama.reply
