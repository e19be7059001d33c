"""Spatial rooms over the real ASGI app (WebSocket JSON-RPC) and REST: positions, hearing
radius, turn-taking by distance, overhearing, and bad positions."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from memory.models import Memory
from rooms.models import RoomMessage, ScenePosition
from tests.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(make_key, demo):
    return make_key("write")


async def _scene(c, radius=5.0, slugs=("alice", "rook", "pip")) -> dict:
    return await c.result(
        "room.create",
        {"name": "The Wayward Goose", "persona_ids": list(slugs), "spatial": True,
         "hearing_radius": radius},
    )  # fmt: skip


async def _move(c, room, entity, x, y=0, z=0) -> dict:
    return await c.result(
        "scene.move",
        {"room_id": room["id"], "entity_id": entity, "position": {"x": x, "y": y, "z": z}},
    )


async def test_spatial_room_keeps_positions_and_state_returns_them(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _scene(c, radius=7.5)
    assert room["spatial"] is True and room["hearing_radius"] == 7.5
    state = await c.result("room.state", {"room_id": room["id"]})
    assert [p["slug"] for p in state["positions"]] == ["alice", "rook", "pip"]
    assert all(p["position"] == {"x": 0, "y": 0, "z": 0} for p in state["positions"])
    moved = await _move(c, room, "rook", 3, 4.5, -1)
    assert moved == {
        "room_id": room["id"], "entity_id": "rook", "entity_kind": "persona",
        "persona_id": str(demo["rook"].id), "position": {"x": 3, "y": 4.5, "z": -1},
    }  # fmt: skip
    player = await _move(c, room, "player-1", 1, 1, 0)
    assert player["entity_kind"] == "participant" and player["persona_id"] is None
    state = await c.result("room.state", {"room_id": room["id"]})
    where = {p["entity_id"]: p["position"] for p in state["positions"]}
    assert where[str(demo["rook"].id)] == {"x": 3, "y": 4.5, "z": -1}
    assert where["player-1"] == {"x": 1, "y": 1, "z": 0}
    plain = await c.result("room.create", {"name": "Plain", "persona_ids": ["alice"]})
    assert plain["spatial"] is False and plain["hearing_radius"] is None
    assert (await c.result("room.state", {"room_id": plain["id"]}))["positions"] == []


@pytest.mark.parametrize(
    "position, field",
    [
        ({"x": "1", "y": 2, "z": 3}, "position.x"),
        ({"x": 1, "y": 2}, "position.z"),
        ({"x": 1, "y": True, "z": 3}, "position.y"),
        ([1, 2, 3], "position"),
        ("here", "position"),
        ({"x": 1, "y": 2, "z": 3, "w": 4}, "position.w"),
    ],
)
async def test_position_that_is_not_three_numbers_names_the_field_and_changes_nothing(
    rpc_connect, key, demo, position, field
):
    c = await rpc_connect(token=key)
    room = await _scene(c)
    before = await c.result("room.state", {"room_id": room["id"]})
    for method, params in [
        ("scene.move", {"room_id": room["id"], "entity_id": "rook", "position": position}),
        ("room.send", {"room_id": room["id"], "content": "hi", "position": position}),
        (
            "world.event",
            {"room_id": room["id"], "type": "gift", "description": "a rose", "position": position},
        ),
    ]:
        error = (await c.call(method, params))["error"]
        assert error["code"] == -32602, (method, error)
        assert field in [e["field"] for e in error["data"]["errors"]], (method, error)
    assert await c.result("room.state", {"room_id": room["id"]}) == before
    assert not await RoomMessage.objects.filter(room_id=room["id"]).aexists()
    assert not await Memory.objects.aexists()


async def test_moving_in_a_room_that_is_not_spatial_is_refused(rpc_connect, key):
    c = await rpc_connect(token=key)
    plain = await c.result("room.create", {"name": "Plain", "persona_ids": ["alice"]})
    pos = {"x": 1, "y": 1, "z": 1}
    error = (
        await c.call("scene.move", {"room_id": plain["id"], "entity_id": "alice", "position": pos})
    )["error"]
    assert error["code"] == -32602 and error["data"]["errors"][0]["field"] == "room_id"
    error = (await c.call("room.send", {"room_id": plain["id"], "content": "hi", "position": pos}))[
        "error"
    ]
    assert error["code"] == -32602 and error["data"]["errors"][0]["field"] == "position"
    error = (
        await c.call("room.create", {"name": "x", "persona_ids": ["alice"], "hearing_radius": 3})
    )["error"]
    assert error["data"]["errors"][0]["field"] == "hearing_radius"
    assert not await ScenePosition.objects.aexists()


async def test_only_personas_in_earshot_answer_and_moving_changes_who(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _scene(c, radius=5)
    await _move(c, room, "pip", 40)
    await _move(c, room, "rook", 3)
    # Pip is addressed but far away: Pip does not hear it; of the others nobody is addressed.
    said = await c.result(
        "room.send",
        {"room_id": room["id"], "content": "Pip, play us a song!", "sender": "player-1",
         "position": {"x": 0, "y": 0, "z": 0}},
    )  # fmt: skip
    assert [r["persona_slug"] for r in said["replies"]] == ["alice"]  # nearest and talkative
    line = await RoomMessage.objects.aget(pk=said["line_id"])
    assert line.position == {"x": 0, "y": 0, "z": 0}
    # The player walks over to Pip: now only Pip is in earshot.
    said = await c.result(
        "room.send",
        {"room_id": room["id"], "content": "Pip, play us a song!", "sender": "player-1",
         "position": {"x": 38, "y": 0, "z": 0}},
    )  # fmt: skip
    assert [r["persona_slug"] for r in said["replies"]] == ["pip"]
    state = await c.result("room.state", {"room_id": room["id"]})
    assert {p["entity_id"]: p["position"]["x"] for p in state["positions"]}["player-1"] == 38
    # Pip's transcript holds only what was said within its earshot.
    from conversations.models import Message

    reply = await Message.objects.aget(pk=said["replies"][0]["message_id"])
    prompt = "\n".join(m["content"] for m in reply.prompt["messages"])
    assert "Alice Thornbury:" not in prompt


async def test_natural_choice_prefers_the_nearer_persona(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    room = await _scene(c, radius=10, slugs=("alice", "pip"))
    await _move(c, room, "pip", 9)  # pip is more extraverted but at the edge of earshot
    await _move(c, room, "alice", 0.5)
    said = await c.result(
        "room.send", {"room_id": room["id"], "content": "Evening!", "sender": "player-1"}
    )
    assert [r["persona_slug"] for r in said["replies"]] == ["alice"]


async def test_personas_in_earshot_overhear_and_remember_as_shared_memories(
    rpc_connect, key, demo, celery_worker
):
    c = await rpc_connect(token=key)
    room = await _scene(c, radius=5)
    await _move(c, room, "pip", 30)
    await _move(c, room, "rook", 2)
    said = await c.result(
        "room.send",
        {"room_id": room["id"], "content": "Alice, the stew smells wonderful.",
         "sender": "player-1", "sender_name": "Mara"},
    )  # fmt: skip
    assert [r["persona_slug"] for r in said["replies"]] == ["alice"]
    alice_line = said["replies"][0]["line_id"]

    def overheard():
        return list(Memory.objects.filter(metadata__source="overheard").select_related("persona"))

    found = await sync_to_async(eventually)(lambda: len(overheard()) >= 2 and overheard())
    assert {m.persona.slug for m in found} == {"rook"}  # pip is out of earshot
    by_line = {m.metadata["line_id"]: m for m in found}
    heard_player = by_line[said["line_id"]]
    assert heard_player.content.endswith('overheard Mara say: "Alice, the stew smells wonderful."')
    assert heard_player.visibility == "shared" and heard_player.about == "player-1"
    heard_alice = by_line[alice_line]
    assert heard_alice.visibility == "shared" and heard_alice.source_persona_id == demo["alice"].id
    assert heard_alice.about == str(demo["alice"].id)


def test_rest_move_state_and_world_event_match_rpc(api_as, demo):
    client = api_as("write")
    room = client.post(
        "/api/rooms/",
        {"name": "Goose", "persona_ids": ["alice", "rook"], "spatial": True, "hearing_radius": 4},
        format="json",
    ).json()
    assert room["spatial"] is True
    moved = client.post(
        f"/api/rooms/{room['id']}/move/",
        {"entity_id": "rook", "position": {"x": 10, "y": 0, "z": 0}},
        format="json",
    )
    assert moved.status_code == 200 and moved.json()["position"] == {"x": 10, "y": 0, "z": 0}
    bad = client.post(
        f"/api/rooms/{room['id']}/move/",
        {"entity_id": "rook", "position": {"x": "far", "y": 0, "z": 0}},
        format="json",
    )
    assert bad.status_code == 400
    assert "position.x" in [e["field"] for e in bad.json()["error"]["data"]["errors"]]
    state = client.get(f"/api/rooms/{room['id']}/state/").json()
    assert {p["slug"]: p["position"]["x"] for p in state["positions"]} == {"alice": 0, "rook": 10}
    event = client.post(
        "/api/world/events/",
        {"room_id": room["id"], "type": "attack", "description": "A brawl breaks out.",
         "actor": "player-2", "position": {"x": 1, "y": 0, "z": 0}},
        format="json",
    )  # fmt: skip
    assert event.status_code == 201, event.content
    assert [p["persona_slug"] for p in event.json()["perceived_by"]] == ["alice"]
