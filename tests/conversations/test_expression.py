"""Expression: every turn's result (and stream) carries ``{emotion, intensity, gesture?}`` from
the appraisal of the message; streamed turns announce it first."""

from __future__ import annotations

import pytest

from conversations.services import conversation_send_message
from personas.models import PersonaState
from tests.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)

POSITIVE = {"happy", "content", "excited"}
NEGATIVE = {"angry", "annoyed", "sad", "uneasy"}


def send(persona, content: str, **kw) -> dict:
    return conversation_send_message(persona=persona, content=content, sender="p1", **kw)


def test_a_gift_looks_happy(demo):
    expression = send(demo["alice"], "Here, a gift for you. Thank you for everything!")[
        "expression"
    ]
    assert expression["emotion"] in POSITIVE
    assert 0.3 < expression["intensity"] <= 1.0
    assert expression["gesture"] in ("smile", "nod", "cheer")


def test_an_insult_looks_negative(demo):
    expression = send(demo["alice"], "You are a stupid, useless idiot!")["expression"]
    assert expression["emotion"] in NEGATIVE
    assert expression["intensity"] > 0.4 and expression["gesture"]


def test_a_plain_message_is_faint(demo):
    expression = send(demo["alice"], "The cart leaves at noon.")["expression"]
    assert expression["intensity"] < 0.3


def test_the_stronger_the_tone_the_stronger_the_expression(demo):
    mild = send(demo["alice"], "That was nice.")["expression"]["intensity"]
    strong = send(demo["rook"], "That was really, truly wonderful!!")["expression"]["intensity"]
    assert strong > mild


def test_stream_announces_the_expression_before_the_first_chunk(demo):
    events = []
    result = send(
        demo["alice"],
        "Thank you, that was lovely!",
        stream=True,
        on_chunk=lambda c: events.append(("chunk", c)),
        on_expression=lambda e: events.append(("expression", e)),
    )
    assert events[0][0] == "expression" and all(k == "chunk" for k, _ in events[1:])
    assert events[0][1] == {
        "conversation_id": result["conversation_id"],
        "expression": result["expression"],
    }


async def test_rpc_expression_notification(rpc_connect, make_key, demo):
    from asgiref.sync import sync_to_async

    client = await rpc_connect(await sync_to_async(make_key)("write"))
    try:
        result = await client.result(
            "conversation.send_message",
            {"persona_id": "alice", "content": "I love this place!", "stream": True},
            timeout=30,
        )
        methods = [n["method"] for n in client.notifications]
        assert methods[0] == "conversation.expression"
        note = client.notifications[0]["params"]
        assert note["expression"] == result["expression"] and note["request_id"]
        assert methods.count("conversation.chunk") >= 1
    finally:
        await client.close()


def test_the_after_turn_work_reuses_the_turns_appraisal(demo, fake_openai, settings, celery_worker):
    settings.MOOD_APPRAISAL = "llm"
    settings.CONVERSATION_MEMORY_LIMIT = 0
    tone = '{"valence": 0.8, "arousal": 0.7, "emotion": "delighted"}'
    fake_openai.answer = lambda body: tone if "emotional tone" in str(body["messages"]) else None
    result = send(demo["alice"], "A present for you!")
    assert result["expression"]["emotion"] == "delighted"
    # the after-turn work (a Celery worker in the scaled mode, which knows nothing of the
    # fake LLM) moves the mood with the turn's own appraisal: the LLM was asked once
    state = eventually(
        lambda: (s := PersonaState.objects.get(persona=demo["alice"])).emotion == "delighted" and s
    )
    assert state.mood > 0
    asked = [r for r in fake_openai.requests if "emotional tone" in str(r["body"]["messages"])]
    assert len(asked) == 1


def test_room_replies_carry_expression_actions_and_triggers(rpc_http, demo):
    room = rpc_http("room.create", {"name": "Tavern", "persona_ids": ["alice"]})["result"]
    give = {
        "name": "give_item",
        "description": "Hand something over.",
        "parameters": {
            "type": "object",
            "properties": {"item": {"type": "string"}},
            "required": ["item"],
        },
    }
    answer = rpc_http(
        "room.send",
        {
            "room_id": room["id"],
            "content": "Alice, give me the lantern, thank you!",
            "actions_available": [give],
        },
    )
    reply = answer["result"]["replies"][0]
    assert reply["expression"]["emotion"] in POSITIVE
    assert reply["actions"] == [{"name": "give_item", "arguments": {"item": "lantern"}}]
    assert reply["triggers_fired"] == []
    bad = rpc_http(
        "room.send",
        {"room_id": room["id"], "content": "hi", "actions_available": [{"name": 1}]},
    )
    assert bad["error"]["data"]["errors"][0]["field"] == "actions_available.0.name"
