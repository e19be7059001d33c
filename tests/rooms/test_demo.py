"""The demo tavern scene of ``seed_demo``: present, spatial, idempotent."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from personas.models import Persona
from rooms.demo import TAVERN_ID, TAVERN_PLACES
from rooms.models import Room, ScenePosition
from rooms.spatial import scene_move, scene_state

pytestmark = pytest.mark.django_db(transaction=True)


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_the_tavern_with_innkeeper_rogue_and_bard_at_their_places():
    out = _seed()
    assert "tavern scene" in out and "created" in out
    room = Room.objects.get(pk=TAVERN_ID)
    assert room.spatial and room.hearing_radius == 6.0 and room.closed_at is None
    state = scene_state(room=room)
    places = {p["slug"]: tuple(p["position"].values()) for p in state["positions"]}
    assert places == TAVERN_PLACES
    assert Persona.objects.filter(slug__in=["alice", "rook", "pip", "elias"]).count() == 4


def test_seed_demo_twice_keeps_one_tavern_and_its_moved_positions():
    _seed()
    room = Room.objects.get(pk=TAVERN_ID)
    scene_move(room=room, entity_id="rook", position={"x": 1, "y": 0, "z": 1})
    out = _seed()
    assert "already there" in out and "0 persona(s) created" in out
    assert Room.objects.filter(pk=TAVERN_ID).count() == 1
    assert ScenePosition.objects.filter(room=room).count() == 3
    rook = ScenePosition.objects.get(room=room, persona__slug="rook")
    assert (rook.x, rook.y, rook.z) == (1, 0, 1)


def test_in_the_tavern_the_rogue_is_out_of_earshot_of_the_bar():
    from worlds.services import world_event

    _seed()
    room = Room.objects.get(pk=TAVERN_ID)
    result = world_event(
        event_type="arrive",
        description="A traveller steps up to the bar.",
        room=room,
        actor="player-1",
        position={"x": 1, "y": 0, "z": 2},
    )
    assert sorted(p["persona_slug"] for p in result["perceived_by"]) == ["alice", "pip"]
