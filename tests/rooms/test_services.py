"""Room services: the turn lock, closing, and persona-to-persona relationship kinds."""

from __future__ import annotations

import pytest

from conversations.models import Conversation
from personamcp.exceptions import Busy, ValidationFailed
from personas.relationships import relationship_get_for_participant, relationship_record_interaction
from rooms import services as rooms
from rooms.models import RoomMessage

pytestmark = pytest.mark.django_db


def test_a_second_send_while_the_room_answers_is_busy(room_of):
    room = room_of("alice", "rook")
    with rooms.room_turn_lock(room), pytest.raises(Busy):
        rooms.room_send(room=room, content="Alice?", sender="bob")
    assert RoomMessage.objects.filter(room=room).count() == 0
    result = rooms.room_send(room=room, content="Alice?", sender="bob")
    assert [r["persona_slug"] for r in result["replies"]] == ["alice"]


def test_room_conversation_keeps_the_room_name(room_of):
    room = room_of("alice", "rook", policy="round_robin")
    rooms.room_send(room=room, content="hello", sender="bob", sender_name="Bob")
    rooms.room_step(room=room)
    conversation = Conversation.objects.get(persona__slug="rook", participant=room.participant)
    assert conversation.participant_name == "The Wayward Goose"
    assert conversation.message_count == 2


def test_create_validates(demo):
    with pytest.raises(ValidationFailed) as err:
        rooms.room_create(name=" ", personas=[], policy="shouting")
    assert {e["field"] for e in err.value.errors} == {"name", "persona_ids", "policy"}


def test_step_turns_are_capped_by_setting(room_of, settings):
    settings.ROOM_MAX_STEP_TURNS = 2
    room = room_of("alice", "rook")
    rooms.room_send(room=room, content="Alice, hi", sender="bob")
    with pytest.raises(ValidationFailed):
        rooms.room_step(room=room, turns=3)


def test_a_persona_uuid_sender_is_a_persona_relationship(demo):
    alice, rook = demo["alice"], demo["rook"]
    default = relationship_get_for_participant(persona=rook, participant=str(alice.id))
    assert default.other_kind == "persona" and default.other_name == alice.name
    rel = relationship_record_interaction(
        persona=rook, other_id=str(alice.id), other_kind="participant", quality=0.5
    )
    assert rel.other_kind == "persona" and rel.other_name == alice.name
    # an ordinary participant id (even one that looks like a slug) stays a participant
    rel = relationship_record_interaction(
        persona=rook, other_id="alice", other_kind="participant", quality=0.5
    )
    assert rel.other_kind == "participant"
