"""world.event's database work does not grow with the number of perceivers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from memory.models import Memory, MemoryIndexState
from personas.models import PersonaState, Relationship
from personas.services import persona_create
from rooms.services import room_create
from worlds.models import Perception
from worlds.services import world_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def crowd(settings):
    """crowd(n) -> a room (not spatial) of n new personas."""
    settings.ROOM_MAX_MEMBERS = 20
    made = []

    def make(n: int):
        cast = [
            persona_create(name=f"Patron {len(made)}-{i}", description="A regular.")
            for i in range(n)
        ]
        made.append(cast)
        return room_create(name=f"Hall {len(made)}", personas=cast), cast

    return make


def _queries(**kwargs) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        result = world_event(**kwargs)
    return len(captured.captured_queries), result


def _event(room, n: int, actor: str) -> dict:
    return {
        "event_type": "gift",
        "description": f"A round of drinks for the {n} of them.",
        "room": room,
        "actor": actor,
        "data": {"actor_name": "Mara"},
    }


def test_a_participants_event_costs_the_same_queries_for_2_and_8_perceivers(crowd):
    counts = {}
    for n in (2, 8):
        room, _ = crowd(n)
        first, result = _queries(**_event(room, n, "player-1"))  # relationships are created
        again, _ = _queries(**_event(room, n, "player-1"))  # and then updated
        counts[n] = (first, again)
        assert len(result["perceived_by"]) == n
    assert counts[2] == counts[8], counts


def test_a_personas_event_costs_the_same_queries_for_2_and_8_perceivers(crowd):
    counts = {}
    for n in (2, 8):
        room, cast = crowd(n)
        count, result = _queries(**_event(room, n, str(cast[0].id)))
        counts[n] = count
        roles = sorted(p["role"] for p in result["perceived_by"])
        assert roles == ["actor"] + ["witness"] * (n - 1)
    assert counts[2] == counts[8], counts


def test_every_perceiver_gets_its_memory_mood_relationship_and_index_revision(crowd):
    room, cast = crowd(5)
    states = {s.persona_id: s for s in PersonaState.objects.filter(persona__in=cast)}
    revisions = {
        s.persona_id: s.revision for s in MemoryIndexState.objects.filter(persona__in=cast)
    }
    for _ in range(2):
        result = world_event(**_event(room, 5, "player-1"))
    seen = {p["persona_id"]: p for p in result["perceived_by"]}
    assert set(seen) == {str(p.id) for p in cast}
    for persona in cast:
        mine = seen[str(persona.id)]
        memory = Memory.objects.get(pk=mine["memory_id"])
        assert memory.persona_id == persona.id and memory.about == "player-1"
        assert memory.metadata["event_id"] == result["event_id"]
        assert memory.metadata["room_id"] == str(room.id)
        assert memory.metadata["importance_method"] == "given"
        state = PersonaState.objects.get(persona=persona)
        assert state.mood == mine["mood"] > states[persona.id].mood
        assert state.emotion == mine["emotion"]
        assert state.updated_at > states[persona.id].updated_at
        rel = Relationship.objects.get(persona=persona, other_id="player-1")
        assert rel.interactions == 2 and rel.other_name == "Mara" and rel.affinity > 0
        assert mine["relationship"]["interactions"] == 2
        assert "A round of drinks" in rel.notes
        index = MemoryIndexState.objects.get(persona=persona)
        assert index.revision == revisions.get(persona.id, 0) + 2
        assert index.importance_since_reflection > 0
        perception = Perception.objects.get(persona=persona, event_id=result["event_id"])
        assert perception.memory_id == memory.id and perception.mood == state.mood


def test_through_a_door_every_memory_is_audited_and_the_count_still_does_not_grow(crowd):
    from audit.models import AuditEntry
    from personamcp import actor

    counts = {}
    token = actor.bind("rpc")
    try:
        for n in (2, 8):
            room, _ = crowd(n)
            counts[n], result = _queries(**_event(room, n, "player-1"))
            ids = {str(p["memory_id"]) for p in result["perceived_by"]}
            audited = AuditEntry.objects.filter(object_type="memory.Memory", object_id__in=ids)
            assert audited.count() == n
            assert {a.door for a in audited} == {"rpc"} and {a.action for a in audited} == {
                "create"
            }
    finally:
        actor.reset(token)
    assert counts[2] == counts[8], counts


def test_a_perceiver_whose_reflection_budget_is_full_gets_a_reflection_queued(
    crowd, settings, monkeypatch
):
    from memory import services as memory_services

    settings.MEMORY = {**settings.MEMORY, "REFLECTION_THRESHOLD": 0.01}
    queued = []
    monkeypatch.setattr(
        memory_services.jobs, "enqueue", lambda task, *args: queued.append((task.__name__, args))
    )
    room, cast = crowd(3)
    world_event(**_event(room, 3, "player-1"))
    assert sorted(args[0] for name, args in queued if name == "reflect_task") == sorted(
        str(p.id) for p in cast
    )
    states = MemoryIndexState.objects.filter(persona__in=cast)
    assert all(s.reflection_queued_at is not None for s in states) and len(states) == 3
