"""Rooms over REST, and parity with room.* on /mcp."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from rooms.models import RoomMessage

pytestmark = pytest.mark.django_db(transaction=True)


def test_rest_create_send_history_step_close(api_as, demo):
    api = api_as("write")
    created = api.post(
        "/api/rooms/",
        {"name": "Market", "persona_ids": ["alice", "rook"], "policy": "round_robin"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    room = created.json()
    assert [p["slug"] for p in room["personas"]] == ["alice", "rook"]
    url = f"/api/rooms/{room['id']}/"
    assert api.get(url).json() == room
    sent = api.post(url + "messages/", {"content": "Fine day", "sender_name": "Bob"}, format="json")
    assert sent.status_code == 200, sent.json()
    assert [r["persona_slug"] for r in sent.json()["replies"]] == ["alice"]
    stepped = api.post(url + "step/", {"turns": 2}, format="json").json()
    assert [r["persona_slug"] for r in stepped["replies"]] == ["rook", "alice"]
    history = api.get(url + "messages/?limit=3").json()["messages"]
    assert [m["speaker_name"] for m in history] == ["Alice Thornbury", "Rook", "Alice Thornbury"]
    listed = api.get("/api/rooms/?persona=rook").json()["rooms"]
    assert [r["id"] for r in listed] == [room["id"]]
    closed = api.post(url + "close/")
    assert closed.status_code == 200 and closed.json()["room"]["closed_at"]
    again = api.post(url + "messages/", {"content": "hello?"}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == -32602


def test_rest_errors(api_as, make_key, demo):
    api = api_as("write")
    assert api.get("/api/rooms/00000000-0000-0000-0000-000000000000/").status_code == 404
    r = api.post("/api/rooms/nope/messages/", {"content": "x"}, format="json")
    assert r.status_code == 404 and r.json()["error"]["code"] == -32005
    room = api.post("/api/rooms/", {"name": "R", "persona_ids": ["alice", "rook"]}, format="json")
    scoped = api_as("write", [demo["alice"]])
    r = scoped.post(f"/api/rooms/{room.json()['id']}/messages/", {"content": "x"}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == -32021
    r = scoped.post("/api/rooms/", {"name": "R", "persona_ids": ["rook"]}, format="json")
    assert r.status_code == 403
    reader = api_as("read")
    r = reader.post(f"/api/rooms/{room.json()['id']}/messages/", {"content": "x"}, format="json")
    assert r.status_code == 403
    assert reader.get(f"/api/rooms/{room.json()['id']}/messages/").status_code == 200
    r = api.post("/api/rooms/", {"name": "R", "persona_ids": ["alice"], "typo": 1}, format="json")
    assert r.status_code == 400 and r.json()["error"]["data"]["errors"][0]["field"] == "typo"


def test_rest_streaming_send_is_server_sent_events(api_as, demo):
    api = api_as("write")
    room = api.post("/api/rooms/", {"name": "R", "persona_ids": ["alice", "pip"]}, format="json")
    response = api.post(
        f"/api/rooms/{room.json()['id']}/messages/",
        {"content": "Alice, Pip: hello", "stream": True},
        format="json",
    )
    assert response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.strip().split("\n\n"):
        head, data = block.split("\n", 1)
        events.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    assert events[-1][0] == "done"
    replies = events[-1][1]["replies"]
    assert [r["persona_slug"] for r in replies] == ["alice", "pip"]
    for reply in replies:
        deltas = [
            d["delta"] for k, d in events if k == "chunk" and d["persona_id"] == reply["persona_id"]
        ]
        assert "".join(deltas) == reply["response"]


async def test_rest_and_rpc_send_give_the_same_shape_and_lines(rpc_connect, make_key, demo):
    from rest_framework.test import APIClient

    raw = await sync_to_async(make_key)("write")
    c = await rpc_connect(token=raw)
    room = await c.result("room.create", {"name": "Parity", "persona_ids": ["alice", "rook"]})
    via_rpc = await c.result(
        "room.send", {"room_id": room["id"], "content": "Alice, one ale", "sender_name": "Bob"}
    )

    def rest_send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        sent = client.post(
            f"/api/rooms/{room['id']}/messages/",
            {"content": "Rook, one ale", "sender_name": "Bob"},
            format="json",
        )
        history = client.get(f"/api/rooms/{room['id']}/messages/").json()
        detail = client.get(f"/api/rooms/{room['id']}/").json()
        return sent.status_code, sent.json(), history, detail

    status, via_rest, rest_history, rest_detail = await sync_to_async(rest_send)()
    assert status == 200
    assert set(via_rest) == set(via_rpc) == {"room_id", "line_id", "replies"}
    assert set(via_rest["replies"][0]) == set(via_rpc["replies"][0])
    assert via_rpc["replies"][0]["persona_slug"] == "alice"
    assert via_rest["replies"][0]["persona_slug"] == "rook"
    # both doors: the same participant (the key), the same room, the same wire shapes
    rpc_history = await c.result("room.history", {"room_id": room["id"]})
    assert rpc_history == rest_history
    assert await c.result("room.get", {"room_id": room["id"]}) == rest_detail
    speakers = [
        x
        async for x in RoomMessage.objects.filter(room_id=room["id"], speaker_kind="participant")
        .order_by("id")
        .values_list("speaker_id", flat=True)
    ]
    assert speakers == ["apikey:test", "apikey:test"]
