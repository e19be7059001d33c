"""Triggers: each condition and each effect, ``once`` and cooldown, bad input, over /mcp with
the fake LLM at the wire."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from goals.models import Goal, Trigger
from personas.models import PersonaState, Relationship
from tests.goals.conftest import chat_requests, system_prompt

pytestmark = pytest.mark.django_db(transaction=True)


def create(rpc, **params) -> dict:
    answer = rpc("trigger.create", {"persona_id": "alice", **params})
    assert "result" in answer, answer
    return answer["result"]


def say(rpc, content: str, sender: str = "player-1", **extra) -> dict:
    answer = rpc(
        "conversation.send_message",
        {"persona_id": "alice", "content": content, "sender": sender, **extra},
    )
    assert "result" in answer, answer
    return answer["result"]


def fired_names(result: dict) -> list[str]:
    return [f["name"] for f in result["triggers_fired"]]


def test_create_list_delete(rpc, demo):
    made = create(
        rpc, name="greet", when={"keywords": ["hello"]}, then={"say": "Welcome!"}, once=True
    )
    assert made["persona_id"] == str(demo["alice"].id) and made["once"] is True
    assert made["when"] == {"keywords": ["hello"]} and made["then"] == {"say": "Welcome!"}
    listed = rpc("trigger.list", {"persona_id": "alice"})["result"]
    assert [t["id"] for t in listed["triggers"]] == [made["id"]]
    assert rpc("trigger.delete", {"trigger_id": made["id"]})["result"] == {"deleted": True}
    assert rpc("trigger.list", {"persona_id": "alice"})["result"]["triggers"] == []
    assert rpc("trigger.delete", {"trigger_id": made["id"]})["error"]["code"] == -32007


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"when": {"keyword": ["x"]}, "then": {"say": "hi"}}, "when.keyword"),
        ({"when": {"min_mood": 2}, "then": {"say": "hi"}}, "when.min_mood"),
        ({"when": {"min_mood": 0.5, "max_mood": 0.1}, "then": {"say": "hi"}}, "when"),
        ({"when": {"relationship_stage": "bestie"}, "then": {"say": "hi"}}, "when.relationship_stage"),
        ({"when": {"keywords": ["x"]}, "then": {}}, "then"),
        ({"when": {"keywords": ["x"]}, "then": {"shout": "hi"}}, "then.shout"),
        ({"when": {"keywords": ["x"]}, "then": {"action": {"name": "bad name!"}}}, "then.action"),
        ({"when": {"keywords": ["x"]}, "then": {"say": "hi"}, "cooldown_seconds": -1}, "cooldown_seconds"),
    ],
)  # fmt: skip
def test_bad_trigger_names_the_field_and_stores_nothing(rpc, params, field):
    answer = rpc("trigger.create", {"persona_id": "alice", "name": "bad", **params})
    assert answer["error"]["code"] == -32602
    fields = [e["field"] for e in answer["error"]["data"]["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    assert not Trigger.objects.exists()


def test_keyword_trigger_adds_an_instruction_to_this_turn_only(rpc, wire):
    create(
        rpc,
        name="dragon",
        when={"keywords": ["dragon", "wyrm"]},
        then={"instruct": "Warn them about the dragon of Grey Peak."},
    )
    result = say(rpc, "Have you heard of the Dragon?")
    assert fired_names(result) == ["dragon"]
    assert result["triggers_fired"][0]["matched"] == {"keywords": ["dragon"]}
    first = chat_requests(wire)[-1]
    assert "Warn them about the dragon of Grey Peak." in system_prompt(first)
    result = say(rpc, "Nice weather today.")
    assert result["triggers_fired"] == []
    assert "Grey Peak" not in system_prompt(chat_requests(wire)[-1])


def test_keywords_match_whole_words_only(rpc, wire):
    create(rpc, name="cat", when={"keywords": ["cat"]}, then={"instruct": "Mention cats."})
    assert say(rpc, "The category is wrong.")["triggers_fired"] == []
    assert fired_names(say(rpc, "My CAT is lost.")) == ["cat"]


def test_say_trigger_replies_verbatim_without_calling_the_llm(rpc, wire):
    create(rpc, name="password", when={"keywords": ["swordfish"]}, then={"say": "Enter, friend."})
    before = len(wire.requests)
    result = say(rpc, "Swordfish!")
    assert result["response"] == "Enter, friend."
    assert len(wire.requests) == before  # no LLM call
    history = rpc("conversation.history", {"conversation_id": result["conversation_id"]})
    assert history["result"]["messages"][-1]["content"] == "Enter, friend."


def test_once_fires_a_single_time(rpc, wire):
    made = create(rpc, name="first", when={"keywords": ["hi"]}, then={"say": "First!"}, once=True)
    assert say(rpc, "hi")["response"] == "First!"
    second = say(rpc, "hi")
    assert second["triggers_fired"] == [] and second["response"] == wire.reply
    assert Trigger.objects.get(pk=made["id"]).fire_count == 1


def test_cooldown_blocks_until_it_has_passed(rpc, wire):
    made = create(
        rpc, name="cool", when={"keywords": ["bell"]}, then={"say": "Ding."}, cooldown_seconds=60
    )
    assert fired_names(say(rpc, "ring the bell")) == ["cool"]
    assert say(rpc, "ring the bell again")["triggers_fired"] == []
    Trigger.objects.filter(pk=made["id"]).update(
        last_fired_at=timezone.now() - timedelta(seconds=61)
    )
    assert fired_names(say(rpc, "the bell once more")) == ["cool"]
    assert Trigger.objects.get(pk=made["id"]).fire_count == 2


def test_repeatable_trigger_without_cooldown_fires_every_time(rpc, wire):
    create(rpc, name="echo", when={"keywords": ["echo"]}, then={"instruct": "Echo."})
    assert [len(say(rpc, "echo")["triggers_fired"]) for _ in range(3)] == [1, 1, 1]


def test_intent_by_embedding_similarity(rpc, wire):
    create(rpc, name="drink", when={"intent": "order_drink"}, then={"instruct": "Pour an ale."})
    fired = say(rpc, "Could I get a pint of your best ale?")["triggers_fired"]
    assert [f["name"] for f in fired] == ["drink"]
    assert fired[0]["matched"]["intent"]["method"] == "embedding"
    assert fired[0]["matched"]["intent"]["score"] >= 0.45
    assert say(rpc, "I lost my grey cat near the old mill.")["triggers_fired"] == []


def test_a_message_is_embedded_once_for_its_intents_and_its_memories(
    rpc, fake_openai, settings, monkeypatch
):
    from memory import embeddings

    settings.CONVERSATION_MEMORY_LIMIT = 6  # the turn embeds the message for the search
    real, embedded = embeddings.embed_one, []

    def counting(text):
        embedded.append(text)
        if threading.current_thread().name.startswith("embed"):
            time.sleep(0.2)  # the turn's embedding is still running when triggers are checked
        return real(text)

    monkeypatch.setattr(embeddings, "embed_one", counting)
    create(rpc, name="drink", when={"intent": "order_drink"}, then={"instruct": "Pour an ale."})
    message = "Could I get a pint of your very best ale, innkeeper?"
    assert fired_names(say(rpc, message)) == ["drink"]
    assert embedded.count(message) == 1


def test_intent_with_own_examples(rpc, wire):
    create(
        rpc,
        name="riddle",
        when={"intent": "wants_a_riddle", "intent_examples": ["Tell me a riddle."]},
        then={"instruct": "Tell a riddle."},
    )
    assert fired_names(say(rpc, "Do you know any good riddles?")) == ["riddle"]
    assert say(rpc, "Where is the market?")["triggers_fired"] == []


def test_intent_by_llm_when_configured(rpc, wire, settings):
    settings.TRIGGER_INTENT = "llm"

    def answer(body):
        if not body.get("stream") and "classify the intent" in body["messages"][0]["content"]:
            said = body["messages"][-1]["content"]
            return '{"intents": ["ask_for_work"]}' if "sellsword" in said else '{"intents": []}'
        return None

    wire.answer = answer
    create(rpc, name="work", when={"intent": "ask_for_work"}, then={"instruct": "Offer a job."})
    fired = say(rpc, "Any coin for a sellsword?")["triggers_fired"]
    assert fired[0]["matched"]["intent"] == {"name": "ask_for_work", "score": 1.0, "method": "llm"}
    asked = [
        r["body"]["messages"][0]["content"] for r in wire.requests if not r["body"].get("stream")
    ]
    classify = [text for text in asked if "classify the intent" in text]
    assert len(classify) == 1 and "ask_for_work" in classify[0]
    assert say(rpc, "Could you ask about work for me?")["triggers_fired"] == []


def test_llm_intent_falls_back_to_embeddings_on_a_bad_answer(rpc, wire, settings):
    settings.TRIGGER_INTENT = "llm"
    wire.answer = lambda body: None if body.get("stream") else "I think so?"
    create(rpc, name="drink", when={"intent": "order_drink"}, then={"instruct": "Pour."})
    fired = say(rpc, "Could I get a pint of your best ale?")["triggers_fired"]
    assert fired[0]["matched"]["intent"]["method"] == "embedding"


def test_relationship_stage(rpc, wire, demo, wait_jobs):
    create(rpc, name="friend", when={"relationship_stage": "friend"}, then={"instruct": "Be warm."})
    assert say(rpc, "hello", sender="ann")["triggers_fired"] == []
    wait_jobs()  # the after-turn work of that turn records the relationship first
    Relationship.objects.update_or_create(
        persona=demo["alice"],
        other_id="ann",
        defaults={"other_kind": "participant", "stage": "friend", "affinity": 0.6},
    )
    result = say(rpc, "hello again", sender="ann")
    assert fired_names(result) == ["friend"]
    assert result["triggers_fired"][0]["matched"] == {"relationship_stage": "friend"}
    assert say(rpc, "hello", sender="bob")["triggers_fired"] == []


def test_mood_range(rpc, wire, demo, wait_jobs):
    create(rpc, name="grumpy", when={"max_mood": -0.3}, then={"instruct": "Be curt."})
    PersonaState.objects.update_or_create(persona=demo["alice"], defaults={"mood": 0.2})
    assert say(rpc, "hello")["triggers_fired"] == []
    wait_jobs()  # that turn's mood change is written before ours
    PersonaState.objects.filter(persona=demo["alice"]).update(mood=-0.6)
    fired = say(rpc, "hello")["triggers_fired"]
    assert fired[0]["matched"] == {"mood": -0.6}


def test_event_type_triggers_ignore_messages(rpc, wire):
    create(rpc, name="gift", when={"event_type": "gift"}, then={"say": "For me?"})
    assert say(rpc, "Here is a gift for you.")["triggers_fired"] == []


def test_goal_effect_sets_a_goal_that_enters_the_prompt(rpc, wire):
    create(
        rpc,
        name="quest",
        when={"keywords": ["amulet"]},
        then={"goal": {"goal": "Recover the stolen amulet", "priority": 5}},
    )
    fired = say(rpc, "I saw your amulet at the pawn shop.")["triggers_fired"]
    goal_id = fired[0]["then"]["goal"]["goal_id"]
    goal = Goal.objects.get(pk=goal_id)
    assert goal.text == "Recover the stolen amulet" and goal.priority == 5
    assert goal.source.startswith("trigger:")
    say(rpc, "What will you do now?")
    assert "Recover the stolen amulet" in system_prompt(chat_requests(wire)[-1])


def test_goal_effect_can_complete_a_goal(rpc, wire):
    rpc("goal.set", {"persona_id": "alice", "goal": "Find the lost cat"})
    create(
        rpc,
        name="found",
        when={"keywords": ["found"]},
        then={"goal": {"goal": "Find the lost cat", "status": "completed"}},
    )
    say(rpc, "I found your cat!")
    assert Goal.objects.get(text="Find the lost cat").status == "completed"
    say(rpc, "Anything else?")
    assert "Find the lost cat" not in system_prompt(chat_requests(wire)[-1])


def test_all_conditions_must_hold(rpc, wire, demo, wait_jobs):
    create(
        rpc,
        name="both",
        when={"keywords": ["ale"], "min_mood": 0.5},
        then={"instruct": "Offer a second round."},
    )
    PersonaState.objects.update_or_create(persona=demo["alice"], defaults={"mood": 0.0})
    assert say(rpc, "One ale please")["triggers_fired"] == []
    wait_jobs()
    PersonaState.objects.filter(persona=demo["alice"]).update(mood=0.7)
    assert fired_names(say(rpc, "One ale please")) == ["both"]


def test_a_key_limited_to_another_persona_cannot_manage_alices_triggers(rpc, make_key, demo):
    made = create(rpc, name="t", when={"keywords": ["x"]}, then={"say": "y"})
    other = make_key("write", personas=[demo["rook"]])
    denied = rpc("trigger.create", {"persona_id": "alice", "name": "n", "then": {"say": "y"}},
                 token=other)  # fmt: skip
    assert denied["error"]["code"] == -32021
    assert rpc("trigger.list", {}, token=other)["result"]["triggers"] == []
    assert rpc("trigger.delete", {"trigger_id": made["id"]}, token=other)["error"]["code"] == -32021
    assert Trigger.objects.count() == 1
