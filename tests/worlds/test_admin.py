"""The admin: world events with their perceptions, scene positions, and the turn inspector's
recent events."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from rooms.spatial import scene_move
from worlds.models import WorldEvent
from worlds.services import world_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("admin", "a@example.org", "pw-123456")
    client.force_login(user)
    return client


def test_world_event_admin_lists_events_and_each_perception(staff_client, demo, room_of):
    room = room_of("alice", "rook")
    world_event(
        event_type="theft", description="Someone pockets the tip jar.", room=room, actor="rook"
    )
    event = WorldEvent.objects.get()
    listing = staff_client.get("/admin/worlds/worldevent/").content.decode()
    assert "Someone pockets the tip jar." in listing and "theft" in listing
    page = staff_client.get(f"/admin/worlds/worldevent/{event.id}/change/").content.decode()
    assert "Alice Thornbury" in page and "witness" in page and "actor" in page
    perceptions = staff_client.get("/admin/worlds/perception/")
    assert perceptions.status_code == 200 and "Rook" in perceptions.content.decode()


def test_room_admin_shows_positions_of_a_spatial_room(staff_client, tavern):
    room = tavern()
    scene_move(room=room, entity_id="player-5", position={"x": 7.5, "y": 0, "z": -2})
    page = staff_client.get(f"/admin/rooms/room/{room.id}/change/").content.decode()
    assert "player-5" in page and "7.5" in page
    assert staff_client.get("/admin/rooms/sceneposition/").status_code == 200


def test_turn_inspector_shows_the_recent_events_of_the_prompt(staff_client, demo):
    from conversations.services import conversation_send_message

    world_event(
        event_type="gift", description="A child gives Pip a daisy chain.", persona=demo["pip"],
        actor="child-1",
    )  # fmt: skip
    result = conversation_send_message(persona=demo["pip"], content="Hi Pip!", sender="child-1")
    page = staff_client.get(
        f"/admin/conversations/message/{result['message_id']}/change/"
    ).content.decode()
    assert "Recent world events in the prompt" in page
    assert "[gift, to you] A child gives Pip a daisy chain. (by child-1)" in page
