"""world.event at the service level: memory, mood and relationship of each perceiver."""

from __future__ import annotations

import pytest

from memory.models import Memory
from personamcp.exceptions import ValidationFailed
from personas.models import PersonaState, Relationship
from rooms.spatial import scene_move
from worlds.models import Perception, WorldEvent
from worlds.services import world_event

pytestmark = pytest.mark.django_db(transaction=True)


def _state(persona) -> PersonaState:
    return PersonaState.objects.filter(persona=persona).first() or PersonaState(persona=persona)


def test_gift_raises_mood_and_affinity_and_is_remembered_in_the_first_person(demo):
    alice = demo["alice"]
    before = _state(alice).mood
    result = world_event(
        event_type="gift",
        description="The player gave Alice a silver brooch.",
        persona=alice,
        actor="player-1",
        data={"actor_name": "Mara"},
    )
    [seen] = result["perceived_by"]
    assert seen["persona_id"] == str(alice.id) and seen["role"] == "target"
    assert seen["mood"] > before and seen["emotion"] == "grateful"
    memory = Memory.objects.get(pk=seen["memory_id"])
    assert memory.persona_id == alice.id and memory.kind == "episodic"
    assert memory.content.startswith("Mara did something to me (gift)")
    assert memory.about == "player-1" and memory.metadata["event_id"] == result["event_id"]
    rel = Relationship.objects.get(persona=alice, other_id="player-1")
    assert rel.affinity > 0 and rel.trust > 0 and rel.interactions == 1
    assert rel.other_name == "Mara"
    assert seen["relationship"]["affinity"] == rel.affinity
    assert _state(alice).mood == seen["mood"]
    assert result["triggers_fired"] == []


def test_gift_from_a_friend_moves_mood_more_than_from_a_stranger(demo):
    from worlds.appraisal import appraise_event

    friend = appraise_event(event_type="gift", text="a pie", role="target", affinity=0.8)
    stranger = appraise_event(event_type="gift", text="a pie", role="target", affinity=0.0)
    assert friend.appraisal.valence > stranger.appraisal.valence > 0
    alice = demo["alice"]
    Relationship.objects.create(
        persona=alice, other_id="friend", other_kind="participant", affinity=0.8, trust=0.7,
        familiarity=0.6, stage="close_friend",
    )  # fmt: skip
    seen = world_event(event_type="gift", description="a pie", persona=alice, actor="friend")
    rel = seen["perceived_by"][0]["relationship"]
    assert rel["affinity"] > 0.8 and rel["stage"] == "close_friend"


def test_attack_lowers_trust_and_raises_stress(demo):
    rook = demo["rook"]
    stress_before = _state(rook).stress
    result = world_event(
        event_type="attack", description="A guard struck Rook with a club.", persona=rook,
        actor="guard-3",
    )  # fmt: skip
    seen = result["perceived_by"][0]
    rel = Relationship.objects.get(persona=rook, other_id="guard-3")
    assert rel.trust < 0 and rel.affinity < 0
    state = _state(rook)
    assert state.stress > stress_before and state.mood < 0
    assert seen["emotion"] == "afraid"
    assert seen["relationship"]["trust"] == rel.trust


def test_room_event_everyone_remembers_target_and_witnesses_differently(demo, room_of):
    room = room_of("alice", "rook", "pip")
    result = world_event(
        event_type="theft", description="Someone lifted a purse from Pip's belt.", room=room,
        actor="rook", target="pip",
    )  # fmt: skip
    roles = {p["persona_slug"]: p["role"] for p in result["perceived_by"]}
    assert roles == {"alice": "witness", "rook": "actor", "pip": "target"}
    pip_rel = Relationship.objects.get(persona=demo["pip"], other_id=str(demo["rook"].id))
    alice_rel = Relationship.objects.get(persona=demo["alice"], other_id=str(demo["rook"].id))
    assert pip_rel.other_kind == "persona" and pip_rel.trust < alice_rel.trust < 0
    assert not Relationship.objects.filter(persona=demo["rook"], other_id=str(demo["rook"].id))
    texts = {
        p.persona.slug: p.memory.content
        for p in Perception.objects.select_related("memory", "persona")
    }
    assert texts["rook"].startswith("I did this (theft)")
    assert texts["alice"].startswith("I saw Rook do something to Pip Merriweather (theft)")
    assert texts["pip"].startswith("Rook did something to me (theft)")


def test_spatial_event_reaches_only_personas_in_range_and_moving_changes_that(demo, tavern):
    room = tavern()
    scene_move(room=room, entity_id="pip", position={"x": 20, "y": 0, "z": 0})
    near = world_event(
        event_type="arrive", description="A stranger walks in.", room=room, actor="player-2",
        position={"x": 1, "y": 0, "z": 0},
    )  # fmt: skip
    assert sorted(p["persona_slug"] for p in near["perceived_by"]) == ["alice", "rook"]
    assert all(p["distance"] == 1.0 for p in near["perceived_by"])
    scene_move(room=room, entity_id="pip", position={"x": 2, "y": 2, "z": 0})
    scene_move(room=room, entity_id=str(demo["alice"].id), position={"x": -30, "y": 0, "z": 0})
    again = world_event(
        event_type="custom",
        description="The stranger orders an ale.",
        room=room,
        actor="player-2",
    )  # at the actor's stored position
    assert sorted(p["persona_slug"] for p in again["perceived_by"]) == ["pip", "rook"]
    assert not Memory.objects.filter(persona=demo["alice"], metadata__event_id=again["event_id"])


def test_bad_input_names_the_field_and_stores_nothing(demo, room_of, tavern):
    plain = room_of("alice", "rook")
    cases = [
        ({"persona": demo["alice"], "room": plain}, "room_id"),
        ({}, "persona_id"),
        ({"room": plain, "position": {"x": 1, "y": 2, "z": 3}}, "position"),
        ({"persona": demo["alice"], "description": "  "}, "description"),
    ]
    for kwargs, field in cases:
        kwargs = {"event_type": "gift", "description": "a rose", **kwargs}
        with pytest.raises(ValidationFailed) as raised:
            world_event(**kwargs)
        assert field in [e["field"] for e in raised.value.errors], (kwargs, raised.value.errors)
    assert not WorldEvent.objects.exists() and not Memory.objects.exists()
    assert not Relationship.objects.exists()


def test_recent_events_reach_the_next_prompt(demo):
    from conversations.services import conversation_send_message

    world_event(
        event_type="gift", description="The player handed Alice a bouquet of heather.",
        persona=demo["alice"], actor="player-9",
    )  # fmt: skip
    result = conversation_send_message(persona=demo["alice"], content="Hello!", sender="player-9")
    from conversations.models import Message

    message = Message.objects.get(pk=result["message_id"])
    system = message.prompt["messages"][0]["content"]
    assert "Recent events you perceived" in system
    line = "[gift, to you] The player handed Alice a bouquet of heather. (by player-9)"
    assert line in system
    assert message.prompt["events"] == [line]


def test_llm_appraiser_reads_each_persona_account_through_the_backend(demo, room_of, settings):
    from tests.conversations.fakes import FakeLLMServer

    verdict = '{"valence": -0.9, "arousal": 0.95, "emotion": "furious"}'
    with FakeLLMServer("openai", reply=verdict, delay=0.0) as server:
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = server.url
        settings.OPENAI_API_KEY = "sk-test-123"
        settings.LLM_MODEL = "fake-model"
        settings.MOOD_APPRAISAL = "llm"
        room = room_of("alice", "pip")
        result = world_event(
            event_type="custom", description="A stranger spits in the stew pot.", room=room,
            actor="player-4", target="alice",
        )  # fmt: skip
    by_slug = {p["persona_slug"]: p for p in result["perceived_by"]}
    assert by_slug["alice"]["emotion"] == "furious"
    perceptions = {p.persona.slug: p for p in Perception.objects.select_related("persona")}
    assert perceptions["alice"].appraisal_method == "llm" and perceptions["alice"].valence == -0.9
    # each persona's own account went to the backend
    asked = [r["body"]["messages"][-1]["content"] for r in server.requests]
    assert any(a.startswith("player-4 did something to me (custom)") for a in asked)
    assert any(a.startswith("I saw player-4 do something to Alice Thornbury") for a in asked)
    rel = Relationship.objects.get(persona=demo["alice"], other_id="player-4")
    assert rel.trust < 0  # the quality follows the LLM's valence


def test_llm_appraiser_falls_back_to_the_rules_when_the_backend_answers_nonsense(demo, settings):
    from tests.conversations.fakes import FakeLLMServer

    with FakeLLMServer("ollama", reply="I would rather not say.", delay=0.0) as server:
        settings.LLM_PROVIDER = "ollama"
        settings.OLLAMA_URL = server.url
        settings.LLM_MODEL = "fake-model"
        settings.MOOD_APPRAISAL = "llm"
        result = world_event(
            event_type="attack", description="A wolf bites Rook.", persona=demo["rook"],
            actor="wolf",
        )  # fmt: skip
    assert server.requests and result["perceived_by"][0]["emotion"] == "afraid"
    assert Perception.objects.get().appraisal_method == "rules"
