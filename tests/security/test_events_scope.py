"""Events obey the scope rules of the methods: a key limited to some personas never receives
another persona's events (persona, state, relationship, memory, room, bot)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

pytestmark = pytest.mark.django_db(transaction=True)


SENTINEL = -0.777


def _sentinel(demo) -> None:
    """A change every subscriber may see (alice): events are delivered in order, so once it
    arrives every earlier event a subscriber was going to get has arrived too."""
    from personas import services

    services.persona_state_update(persona=demo["alice"], mood=SENTINEL)


async def _events(client) -> list[dict]:
    """Every event notification up to and including the sentinel."""
    seen = []
    while True:
        event = (await client.notification("event", timeout=10))["params"]
        seen.append(event)
        if event["type"] == "persona.state_changed" and event["data"]["mood"] == SENTINEL:
            return seen


async def _subscribed(rpc_connect, key: str, topics: list[str]):
    client = await rpc_connect(token=key)
    await client.result("events.subscribe", {"topics": topics})
    return client


def _touch_everything(demo):
    """Changes to alice and to rook through the services, as every door makes them."""
    from memory.services import memory_store
    from personas import services
    from rooms import services as rooms

    for slug in ("rook", "alice"):
        persona = demo[slug]
        services.persona_update(persona=persona, description=f"{slug} changed")
        services.persona_state_update(persona=persona, mood=0.3)
        memory_store(persona=persona, content=f"{slug} remembers the harbour", importance=0.9)
    room = rooms.room_create(name="mixed", personas=[demo["alice"], demo["rook"]])
    rooms.room_create(name="alice only", personas=[demo["alice"]])
    return room


async def test_restricted_key_gets_only_its_personas_events(rpc_connect, demo, make_key):
    alice = demo["alice"]
    limited_key = await sync_to_async(make_key)("read", [alice])
    full_key = await sync_to_async(make_key)("read")
    topics = ["*", "persona.*", "persona.rook", f"persona.{demo['rook'].id}", "room.*", "bot.*"]
    limited = await _subscribed(rpc_connect, limited_key, topics)
    full = await _subscribed(rpc_connect, full_key, topics)

    await sync_to_async(_touch_everything)(demo)
    await sync_to_async(_sentinel)(demo)

    everything = await _events(full)
    mine = await _events(limited)
    kinds = {e["type"] for e in everything}
    assert {"persona.updated", "persona.state_changed", "memory.created"} <= kinds
    about_rook = [e for e in everything if str(demo["rook"].id) in str(e["data"])]
    assert about_rook, everything
    assert mine, "the restricted key must still see its own persona's events"
    for event in mine:
        assert str(demo["rook"].id) not in str(event["data"]) and "rook" not in str(event["data"])
        persona_id = event["data"].get("persona_id") or event["data"].get("id")
        assert str(persona_id) == str(alice.id), event


async def test_room_messages_need_every_member(rpc_connect, demo, make_key):
    from rooms import services as rooms

    alice, rook = demo["alice"], demo["rook"]
    limited = await _subscribed(
        rpc_connect, await sync_to_async(make_key)("read", [alice]), ["room.*", "*"]
    )  # "*" also brings the sentinel
    both = await _subscribed(
        rpc_connect, await sync_to_async(make_key)("read", [alice, rook]), ["room.*", "persona.*"]
    )
    room = await sync_to_async(rooms.room_create)(name="pair", personas=[alice, rook])
    own = await sync_to_async(rooms.room_create)(name="solo", personas=[alice])
    writer = await rpc_connect(token=await sync_to_async(make_key)("write"))
    for target in (room, own):
        await writer.result(
            "room.send", {"room_id": str(target.id), "content": "Hello there, everyone."}
        )
    await sync_to_async(_sentinel)(demo)
    seen_both = {e["data"]["room_id"] for e in await _events(both) if e["type"] == "room.message"}
    seen_limited = {
        e["data"]["room_id"] for e in await _events(limited) if e["type"] == "room.message"
    }
    assert seen_both == {str(room.id), str(own.id)}
    assert seen_limited == {str(own.id)}


async def test_persona_events_of_new_personas_skip_restricted_keys(rpc_connect, demo, make_key):
    limited = await _subscribed(
        rpc_connect, await sync_to_async(make_key)("read", [demo["alice"]]), ["persona.*"]
    )
    writer = await rpc_connect(token=await sync_to_async(make_key)("write"))
    await writer.result("persona.create", {"name": "Secret Newcomer"})
    await writer.result("persona.update", {"persona_id": "alice", "greeting": "hi"})
    await sync_to_async(_sentinel)(demo)
    seen = await _events(limited)
    assert [(e["type"], e["data"]["slug"]) for e in seen] == [
        ("persona.updated", "alice"),
        ("persona.state_changed", "alice"),
    ]
