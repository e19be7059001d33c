"""Actions offered with a message (``actions_available``) and chosen: by the offline rules, by
native tool calls in both wire formats (OpenAI, Ollama), by the strict JSON block; invalid
ones dropped, bad definitions refused naming the field."""

from __future__ import annotations

import pytest

from conversations.models import Message
from conversations.services import conversation_send_message
from goals.models import Trigger

pytestmark = pytest.mark.django_db(transaction=True)

GIVE = {
    "name": "give_item",
    "description": "Give the player an item from your stock.",
    "parameters": {
        "type": "object",
        "properties": {
            "item": {"type": "string", "minLength": 1},
            "quantity": {"type": "integer", "minimum": 1},
        },
        "required": ["item"],
        "additionalProperties": False,
    },
}
WAVE = {"name": "wave", "description": "Wave at someone.", "parameters": {"type": "object"}}


def send(rpc, content: str, actions=None, **extra) -> dict:
    params = {"persona_id": "alice", "content": content, **extra}
    if actions is not None:
        params["actions_available"] = actions
    return rpc("conversation.send_message", params)


def ok(answer: dict) -> dict:
    assert "result" in answer, answer
    return answer["result"]


@pytest.fixture
def rpc(demo, rpc_http):
    return rpc_http


def test_offline_rules_choose_an_offered_action_with_arguments_from_the_message(rpc):
    result = ok(send(rpc, "Could you give me the healing potion, please?", [GIVE, WAVE]))
    assert result["actions"] == [{"name": "give_item", "arguments": {"item": "healing potion"}}]
    result = ok(send(rpc, "Give me 3 apples!", [GIVE]))
    assert result["actions"] == [
        {"name": "give_item", "arguments": {"item": "apples", "quantity": 3}}
    ]


def test_offline_rules_choose_nothing_unasked_or_unoffered(rpc):
    assert ok(send(rpc, "Lovely weather today.", [GIVE]))["actions"] == []
    assert ok(send(rpc, "Could you give me the healing potion?"))["actions"] == []
    assert ok(send(rpc, "Give me the potion!", [WAVE]))["actions"] == []


@pytest.mark.parametrize(
    ("actions", "field"),
    [
        ([{"description": "no name", "parameters": {"type": "object"}}], "actions_available.0.name"),
        ([{"name": "has space", "parameters": {"type": "object"}}], "actions_available.0.name"),
        ([{"name": "x", "parameters": {"type": "object", "properties": {"a": {"type": "strng"}}}}],
         "actions_available.0.parameters"),
        ([{"name": "x", "parameters": {"type": "string"}}], "actions_available.0.parameters"),
        ([{"name": "x", "parameters": "object"}], "actions_available.0.parameters"),
        ([WAVE, WAVE], "actions_available.1.name"),
        ([{"name": "x", "colour": "red"}], "actions_available.0.colour"),
        ("give_item", "actions_available"),
    ],
)  # fmt: skip
def test_bad_definitions_name_the_field_and_change_nothing(rpc, actions, field):
    answer = send(rpc, "hello", actions)
    assert answer["error"]["code"] == -32602, answer
    assert field in [e["field"] for e in answer["error"]["data"]["errors"]]
    assert not Message.objects.exists()


@pytest.mark.parametrize("wire", ["fake_openai", "fake_ollama"])
def test_native_tool_calls_in_both_wire_formats(rpc, request, wire, settings):
    fake = request.getfixturevalue(wire)
    settings.CONVERSATION_MEMORY_LIMIT = 0
    fake.tool_calls = [
        {"name": "give_item", "arguments": {"item": "iron sword", "quantity": 1}},
        {"name": "give_item", "arguments": {"item": "shield", "quantity": 0}},  # minimum 1
        {"name": "summon_dragon", "arguments": {}},  # never offered
        {"name": "wave", "arguments": {}},
    ]
    result = ok(send(rpc, "Arm me, please.", [GIVE, WAVE]))
    assert result["actions"] == [
        {"name": "give_item", "arguments": {"item": "iron sword", "quantity": 1}},
        {"name": "wave", "arguments": {}},
    ]
    body = next(r["body"] for r in fake.requests if r["body"].get("stream"))
    assert [t["function"]["name"] for t in body["tools"]] == ["give_item", "wave"]
    assert body["tools"][0]["type"] == "function"
    sent = body["tools"][0]["function"]["parameters"]
    if wire == "fake_openai":
        assert sent == GIVE["parameters"]
    else:  # the ollama client keeps only the schema keywords Ollama's API knows
        assert set(sent["properties"]) == {"item", "quantity"} and sent["required"] == ["item"]
    reply = Message.objects.get(pk=result["message_id"])
    dropped = reply.prompt["actions_dropped"]
    assert [d["name"] for d in dropped] == ["give_item", "summon_dragon"]
    assert "quantity" in dropped[0]["reason"] and "not offered" in dropped[1]["reason"]


def test_no_tools_are_sent_when_none_are_offered(rpc, fake_openai):
    ok(send(rpc, "hello"))
    assert not [r for r in fake_openai.requests if "tools" in r["body"]]


def test_openai_arguments_that_are_not_json_are_dropped(rpc, fake_openai):
    fake_openai.tool_calls = [{"name": "give_item", "arguments": '{"item": "rope"'}]
    assert ok(send(rpc, "A rope?", [GIVE]))["actions"] == []


def test_streamed_turn_carries_the_actions_at_the_end(demo, fake_ollama):
    fake_ollama.tool_calls = [{"name": "give_item", "arguments": {"item": "bread"}}]
    chunks = []
    result = conversation_send_message(
        persona=demo["alice"],
        content="Bread, please.",
        sender="p1",
        stream=True,
        on_chunk=chunks.append,
        actions_available=[GIVE],
    )
    assert "".join(c["delta"] for c in chunks) == result["response"] == fake_ollama.reply
    assert result["actions"] == [{"name": "give_item", "arguments": {"item": "bread"}}]


def test_json_block_protocol_for_models_without_tools(demo, fake_openai, settings):
    settings.LLM_TOOLS = "json"
    fake_openai.reply = (
        'Here, take it. <actions>[{"name": "give_item", "arguments": {"item": "rope"}}, '
        '{"name": "give_item", "arguments": {"item": ""}}]</actions>'
    )
    chunks = []
    result = conversation_send_message(
        persona=demo["alice"],
        content="I need a rope.",
        sender="p1",
        stream=True,
        on_chunk=chunks.append,
        actions_available=[GIVE],
    )
    assert result["response"] == "Here, take it."
    assert "<" not in "".join(c["delta"] for c in chunks)
    assert result["actions"] == [{"name": "give_item", "arguments": {"item": "rope"}}]
    body = next(r["body"] for r in fake_openai.requests if r["body"].get("stream"))
    assert "tools" not in body and "<actions>" in body["messages"][0]["content"]
    stored = Message.objects.get(pk=result["message_id"])
    assert stored.content == "Here, take it."
    assert "<actions>" in stored.prompt["messages"][0]["content"]  # the inspector shows it


def test_a_trigger_action_is_returned_when_offered(rpc, demo):
    Trigger.objects.create(
        persona=demo["alice"],
        name="key",
        when={"keywords": ["key"]},
        then={"action": {"name": "give_item", "arguments": {"item": "cellar key"}}},
    )
    result = ok(send(rpc, "Where is the key?", [GIVE]))
    assert result["actions"] == [{"name": "give_item", "arguments": {"item": "cellar key"}}]
    unoffered = ok(send(rpc, "The key again?"))
    assert unoffered["actions"] == [] and unoffered["triggers_fired"][0]["name"] == "key"


def test_rest_parity(api_as, demo):
    client = api_as("write")
    answer = client.post(
        "/api/conversations/messages/",
        {"persona_id": "alice", "content": "Give me the lantern.", "actions_available": [GIVE]},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["actions"] == [{"name": "give_item", "arguments": {"item": "lantern"}}]
    bad = client.post(
        "/api/conversations/messages/",
        {"persona_id": "alice", "content": "hi", "actions_available": [{"name": ""}]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["data"]["errors"][0]["field"] == "actions_available.0.name"
