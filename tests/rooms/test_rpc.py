"""room.* over the real ASGI app (WebSocket JSON-RPC), offline LLM."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from personas.models import Relationship
from rooms.models import RoomMessage
from tests.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(make_key, demo):
    return make_key("write")


async def _room(c, *slugs, policy=None, name="The Wayward Goose") -> dict:
    params = {"name": name, "persona_ids": list(slugs)}
    if policy:
        params["policy"] = policy
    return await c.result("room.create", params)


async def test_create_returns_room_with_members_in_order(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "rook", str(demo["alice"].id))
    assert room["policy"] == "natural" and room["name"] == "The Wayward Goose"
    assert [p["slug"] for p in room["personas"]] == ["rook", "alice"]
    assert room["persona_ids"] == [str(demo["rook"].id), str(demo["alice"].id)]
    assert room["closed_at"] is None and room["message_count"] == 0
    got = await c.result("room.get", {"room_id": room["id"]})
    assert got == room
    bad = await c.call("room.create", {"name": "x", "persona_ids": ["alice", "alice"]})
    assert bad["error"]["code"] == -32602
    bad = await c.call("room.create", {"name": "x", "persona_ids": ["alice"], "policy": "loud"})
    assert bad["error"]["code"] == -32602
    missing = await c.call("room.create", {"name": "x", "persona_ids": ["nobody-here"]})
    assert missing["error"]["code"] == -32001


async def test_send_natural_addressed_personas_answer_in_order(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook", "pip")
    result = await c.result(
        "room.send", {"room_id": room["id"], "content": "Pip, Rook: a toast!", "sender_name": "Bob"}
    )
    assert [r["persona_id"] for r in result["replies"]] == [
        str(demo["pip"].id),
        str(demo["rook"].id),
    ]
    for reply in result["replies"]:
        assert reply["response"]
        message = await Message.objects.aget(pk=reply["message_id"])
        assert message.role == "assistant" and message.content == reply["response"]
        conversation = await Conversation.objects.aget(pk=message.conversation_id)
        assert conversation.participant == f"room:{room['id']}"
        assert conversation.platform == "room"
        assert str(conversation.persona_id) == reply["persona_id"]
    # the second persona saw the first one's reply in the room transcript
    rook_msg = await Message.objects.aget(pk=result["replies"][1]["message_id"])
    prompt_text = "\n".join(m["content"] for m in rook_msg.prompt["messages"])
    assert f"Pip Merriweather: {result['replies'][0]['response']}" in prompt_text
    assert '"Bob: Pip, Rook: a toast!"' not in prompt_text  # the line answered is the message


async def test_send_natural_without_address_one_persona_never_twice(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook", "pip")
    first = await c.result("room.send", {"room_id": room["id"], "content": "Evening!"})
    assert [r["persona_slug"] for r in first["replies"]] == ["pip"]  # most extraverted
    second = await c.result("room.send", {"room_id": room["id"], "content": "Evening!"})
    assert len(second["replies"]) == 1
    assert second["replies"][0]["persona_slug"] != "pip"


async def test_send_round_robin_takes_turns(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "elias", "alice", "rook", policy="round_robin")
    order = []
    for _ in range(4):
        r = await c.result("room.send", {"room_id": room["id"], "content": "Pip, hello"})
        order += [x["persona_slug"] for x in r["replies"]]
    assert order == ["elias", "alice", "rook", "elias"]


async def test_send_addressed_only(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook", policy="addressed_only")
    none = await c.result("room.send", {"room_id": room["id"], "content": "Anyone about?"})
    assert none["replies"] == [] and none["line_id"]
    some = await c.result("room.send", {"room_id": room["id"], "content": "Rook, you there?"})
    assert [r["persona_slug"] for r in some["replies"]] == ["rook"]
    history = await c.result("room.history", {"room_id": room["id"]})
    assert [m["speaker_kind"] for m in history["messages"]] == [
        "participant",
        "participant",
        "persona",
    ]


async def test_step_personas_talk_and_build_relationships(rpc_connect, key, demo, celery_worker):
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook")
    sent = await c.result(
        "room.send", {"room_id": room["id"], "content": "Alice, hello!", "sender_name": "Bob"}
    )
    assert [r["persona_slug"] for r in sent["replies"]] == ["alice"]
    stepped = await c.result("room.step", {"room_id": room["id"], "turns": 3})
    assert [r["persona_slug"] for r in stepped["replies"]] == ["rook", "alice", "rook"]
    # rook answered alice's line: the turn's sender is alice
    rook_first = await Message.objects.aget(pk=stepped["replies"][0]["message_id"])
    assert rook_first.prompt["sender"] == str(demo["alice"].id)
    alice, rook = demo["alice"], demo["rook"]

    def relationships():
        a = Relationship.objects.filter(persona=rook, other_id=str(alice.id)).first()
        b = Relationship.objects.filter(persona=alice, other_id=str(rook.id)).first()
        if a and b and a.interactions == 2 and b.interactions == 1:
            return a, b
        return None

    rook_sees_alice, alice_sees_rook = await sync_to_async(eventually)(relationships)
    assert rook_sees_alice.other_kind == alice_sees_rook.other_kind == "persona"
    assert rook_sees_alice.other_name == "Alice Thornbury"
    # the human is a participant of alice, not of the room
    bob = await Relationship.objects.aget(persona=alice, other_id="apikey:test")
    assert bob.other_kind == "participant" and bob.interactions == 1
    assert not await Relationship.objects.filter(other_id__startswith="room:").aexists()
    rel = await c.result("relationship.get", {"persona_id": "rook", "other_id": "alice"})
    assert rel["other_kind"] == "persona" and rel["interactions"] == 2


async def test_step_needs_a_line_and_stops_when_nobody_is_addressed(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook", policy="addressed_only")
    empty = await c.call("room.step", {"room_id": room["id"]})
    assert empty["error"]["code"] == -32602
    await c.result("room.send", {"room_id": room["id"], "content": "nobody named"})
    stepped = await c.result("room.step", {"room_id": room["id"], "turns": 2})
    assert stepped["replies"] == []


async def test_history_is_oldest_first_and_pages_back(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook", policy="round_robin")
    await c.result("room.send", {"room_id": room["id"], "content": "one", "sender_name": "Bob"})
    await c.result("room.send", {"room_id": room["id"], "content": "two", "sender_name": "Bob"})
    history = await c.result("room.history", {"room_id": room["id"]})
    lines = history["messages"]
    assert [(m["speaker_kind"], m["speaker_name"]) for m in lines] == [
        ("participant", "Bob"),
        ("persona", "Alice Thornbury"),
        ("participant", "Bob"),
        ("persona", "Rook"),
    ]
    assert [m["content"] for m in lines][0::2] == ["one", "two"]
    assert [m["id"] for m in lines] == sorted(m["id"] for m in lines)
    assert lines[1]["message_id"] and lines[0]["message_id"] is None
    assert lines[0]["speaker_id"] == "apikey:test"
    earlier = await c.result(
        "room.history", {"room_id": room["id"], "limit": 2, "before": lines[2]["id"]}
    )
    assert [m["id"] for m in earlier["messages"]] == [lines[0]["id"], lines[1]["id"]]
    listed = await c.result("room.list", {"persona_id": "rook"})
    assert [r["id"] for r in listed["rooms"]] == [room["id"]]
    assert listed["rooms"][0]["message_count"] == 4
    assert (await c.result("room.list", {"persona_id": "pip"}))["rooms"] == []


async def test_close_then_send_fails_and_conversations_end(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook")
    await c.result("room.send", {"room_id": room["id"], "content": "Alice, goodnight"})
    closed = await c.result("room.close", {"room_id": room["id"]})
    assert closed["closed"] is True and closed["room"]["closed_at"]
    again = await c.result("room.close", {"room_id": room["id"]})
    assert again["room"]["closed_at"] == closed["room"]["closed_at"]
    for method, params in [
        ("room.send", {"content": "hello?"}),
        ("room.step", {}),
    ]:
        r = await c.call(method, {"room_id": room["id"], **params})
        assert r["error"]["code"] == -32602
        assert "closed" in r["error"]["data"]["errors"][0]["message"]
    open_left = await Conversation.objects.filter(
        participant=f"room:{room['id']}", ended_at__isnull=True
    ).acount()
    assert open_left == 0
    assert await RoomMessage.objects.filter(room_id=room["id"]).acount() == 2


async def test_unknown_room_is_32005(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    for room_id in (str(uuid.uuid4()), "not-a-uuid"):
        for method, extra in [
            ("room.send", {"content": "hi"}),
            ("room.step", {}),
            ("room.history", {}),
            ("room.close", {}),
            ("room.get", {}),
        ]:
            r = await c.call(method, {"room_id": room_id, **extra})
            assert r["error"]["code"] == -32005, (method, r)


async def test_persona_outside_the_key_is_forbidden(rpc_connect, make_key, key, demo):
    admin = await rpc_connect(token=key)
    room = await _room(admin, "alice", "rook")
    scoped_key = await sync_to_async(make_key)("write", [demo["alice"]])
    c = await rpc_connect(token=scoped_key)
    r = await c.call("room.create", {"name": "x", "persona_ids": ["alice", "rook"]})
    assert r["error"]["code"] == -32021
    for method, extra in [
        ("room.send", {"content": "hi"}),
        ("room.history", {}),
        ("room.step", {}),
    ]:
        r = await c.call(method, {"room_id": room["id"], **extra})
        assert r["error"]["code"] == -32021, method
    assert await RoomMessage.objects.filter(room_id=room["id"]).acount() == 0
    mine = await _room(c, "alice", name="Alice alone")
    listed = await c.result("room.list", {})
    assert [x["id"] for x in listed["rooms"]] == [mine["id"]]


async def test_events_reach_a_subscriber_of_the_room(rpc_connect, key, demo):
    watcher = await rpc_connect(token=key)
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook")
    other = await _room(c, "alice", "rook", name="Elsewhere")
    sub = await watcher.result("events.subscribe", {"topics": [f"room.{room['id']}"]})
    assert sub["subscribed"] == [f"room.{room['id']}"]
    await c.result("room.send", {"room_id": other["id"], "content": "Alice, psst"})
    result = await c.result(
        "room.send", {"room_id": room["id"], "content": "Alice, hi!", "sender_name": "Bob"}
    )
    seen = []
    while len(seen) < 2:
        note = await watcher.notification("event", timeout=10)
        assert note["params"]["type"] == "room.message"
        assert note["params"]["topic"] == f"room.{room['id']}"
        seen.append(note["params"]["data"])
    assert [d["room_id"] for d in seen] == [room["id"], room["id"]]
    assert [d["speaker_kind"] for d in seen] == ["participant", "persona"]
    assert seen[0]["content"] == "Alice, hi!" and seen[0]["id"] == result["line_id"]
    assert seen[1]["content"] == result["replies"][0]["response"]
    assert seen[1]["message_id"] == result["replies"][0]["message_id"]


async def test_streaming_sends_room_message_per_reply(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook", "pip")
    response = await c.call(
        "room.send", {"room_id": room["id"], "content": "Alice and Pip, hi", "stream": True}
    )
    replies = response["result"]["replies"]
    notes = [n for n in c.notifications if n["method"] == "room.message"]
    assert [n["params"]["persona_id"] for n in notes] == [r["persona_id"] for r in replies]
    assert [n["params"]["response"] for n in notes] == [r["response"] for r in replies]
    assert all(n["params"]["request_id"] == response["id"] for n in notes)
    assert all(n["params"]["room_id"] == room["id"] for n in notes)
    chunks = [n["params"] for n in c.notifications if n["method"] == "conversation.chunk"]
    for reply in replies:
        text = "".join(x["delta"] for x in chunks if x["persona_id"] == reply["persona_id"])
        assert text == reply["response"]
    # the first reply's notification arrives before the second persona's first chunk
    order = [(n["method"], n["params"].get("persona_id")) for n in c.notifications]
    first_done = order.index(("room.message", replies[0]["persona_id"]))
    second_starts = order.index(("conversation.chunk", replies[1]["persona_id"]))
    assert first_done < second_starts


async def test_cancel_a_streaming_room_send(rpc_connect, key, demo, fake_ollama, wait_jobs):
    fake_ollama.mode, fake_ollama.delay = "slow", 0.2
    c = await rpc_connect(token=key)
    room = await _room(c, "alice", "rook")
    await c.send(
        {
            "jsonrpc": "2.0",
            "id": 91,
            "method": "room.send",
            "params": {"room_id": room["id"], "content": "Alice and Rook, a story", "stream": True},
        }
    )
    first = await c.notification("conversation.chunk", timeout=10)
    assert first["params"]["persona_id"] == str(demo["alice"].id)
    assert (await c.result("conversation.cancel", {"request_id": 91})) == {"cancelled": True}
    response = await c.response(91, timeout=10)
    assert response["error"]["code"] == -32031
    # the participant's line stays; no persona line for the cancelled reply, rook never spoke
    history = await c.result("room.history", {"room_id": room["id"]})
    assert [m["speaker_kind"] for m in history["messages"]] == ["participant"]
    # the room is free again
    fake_ollama.mode = "ok"
    again = await c.result("room.send", {"room_id": room["id"], "content": "Rook?"})
    assert [r["persona_slug"] for r in again["replies"]] == ["rook"]
    await sync_to_async(wait_jobs)()  # background work ends while the fake LLM still runs
