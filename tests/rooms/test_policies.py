"""Who answers in a room: addressing and the three policies (the pure selection rules)."""

from __future__ import annotations

import pytest

from rooms.models import RoomMessage
from rooms.services import addressed_personas, room_next_speakers

pytestmark = pytest.mark.django_db


def _line(persona=None, content: str = "", pk: int = 1) -> RoomMessage:
    if persona is None:
        return RoomMessage(
            id=pk, speaker_kind="participant", speaker_id="bob", speaker_name="Bob", content=content
        )
    return RoomMessage(
        id=pk,
        speaker_kind="persona",
        speaker_id=str(persona.id),
        speaker_name=persona.name,
        persona=persona,
        content=content,
    )


def _slugs(personas) -> list[str]:
    return [p.slug for p in personas]


def test_addressed_by_name_word_or_slug_in_order_of_mention(demo):
    members = [demo["alice"], demo["rook"], demo["elias"], demo["pip"]]
    found = addressed_personas("Well, Pip and master Verne, and ALICE too!", members)
    assert _slugs(found) == ["pip", "elias", "alice"]
    # an honorific alone addresses nobody; a name inside another word does not count
    assert addressed_personas("Master, the rookie said hello", members) == []
    # the speaker never addresses itself
    assert _slugs(addressed_personas("I, Rook, ask Pip", members, exclude=demo["rook"])) == ["pip"]


def test_natural_addressed_personas_answer(room_of, demo):
    room = room_of("alice", "rook", "pip")
    speakers = room_next_speakers(room=room, content="Rook, Alice: a round please", lines=[])
    assert _slugs(speakers) == ["rook", "alice"]


def test_natural_nobody_addressed_picks_most_extraverted_then_never_twice(room_of, demo):
    room = room_of("alice", "rook", "pip")
    assert _slugs(room_next_speakers(room=room, content="Evening all.", lines=[])) == ["pip"]
    lines = [_line(content="Evening all."), _line(demo["pip"], "Hello hello!", pk=2)]
    # pip spoke last: the next most extraverted answers
    assert _slugs(room_next_speakers(room=room, content="Any news?", lines=lines)) == ["alice"]


def test_natural_nobody_addressed_favours_who_was_addressed_last(room_of, demo):
    room = room_of("alice", "rook", "pip")
    lines = [
        _line(content="Rook, are you there?", pk=1),
        _line(demo["rook"], "Aye.", pk=2),
        _line(content="And you, Elias? Alice?", pk=3),
        _line(demo["alice"], "I'm here, love.", pk=4),
    ]
    # alice spoke last; rook was addressed more recently than pip (pip is more extraverted)
    assert _slugs(room_next_speakers(room=room, content="So?", lines=lines)) == ["rook"]


def test_round_robin_follows_member_order(room_of, demo):
    room = room_of("elias", "alice", "rook", policy="round_robin")
    assert _slugs(room_next_speakers(room=room, content="Pip?", lines=[])) == ["elias"]
    lines = [_line(content="hi"), _line(demo["rook"], "Hm.", pk=2)]
    assert _slugs(room_next_speakers(room=room, content="Alice?", lines=lines)) == ["elias"]
    lines.append(_line(demo["elias"], "Indeed.", pk=3))
    assert _slugs(room_next_speakers(room=room, content="x", lines=lines)) == ["alice"]


def test_addressed_only_without_address_answers_nobody(room_of, demo):
    room = room_of("alice", "rook", policy="addressed_only")
    assert room_next_speakers(room=room, content="Anyone?", lines=[]) == []
    assert _slugs(room_next_speakers(room=room, content="Rook?", lines=[])) == ["rook"]


def test_step_choice_is_never_the_speaker_and_single(room_of, demo):
    room = room_of("alice", "rook", "pip")
    # a persona's line naming itself and two others: one next speaker, the first named
    got = room_next_speakers(
        room=room,
        content="I'm Alice; Rook and Pip, listen.",
        lines=[],
        speaker=demo["alice"],
        single=True,
    )
    assert _slugs(got) == ["rook"]
    got = room_next_speakers(room=room, content="Quiet night.", lines=[], speaker=demo["pip"])
    assert _slugs(got) == ["alice"]
    solo = room_of("alice")
    assert room_next_speakers(room=solo, content="x", lines=[], speaker=demo["alice"]) == []
