"""Against a running daphne (real sockets): triggers, goals, actions and expression end to end,
with the offline responder and with fake LLMs at the wire (Ollama over /mcp, OpenAI over SSE)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conversations.fakes import FakeLLMServer
from tests.conversations.test_live import Ws

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GIVE = {
    "name": "give_item",
    "description": "Hand the player an item.",
    "parameters": {
        "type": "object",
        "properties": {"item": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
        "required": ["item"],
    },
}


@pytest.fixture
def key(make_key, demo):
    return make_key("write")


def test_triggers_goals_actions_offline(live_server_proc, key):
    server = live_server_proc()
    c = Ws(server.ws, key)
    try:
        c.call("events.subscribe", {"topics": ["persona.alice"]})
        bad = c.wait(
            c.send(
                "trigger.create",
                {
                    "persona_id": "alice",
                    "name": "x",
                    "when": {"keywrds": ["a"]},
                    "then": {"say": "b"},
                },
            )
        )
        assert bad["error"]["code"] == -32602
        assert bad["error"]["data"]["errors"][0]["field"] == "when.keywrds"
        assert c.call("trigger.list", {"persona_id": "alice"})["triggers"] == []
        c.call("trigger.create", {
            "persona_id": "alice", "name": "password", "when": {"keywords": ["moonflower"]},
            "then": {"say": "Come in, quickly.", "goal": {"goal": "Hide the visitor", "priority": 3}},
            "once": True,
        })  # fmt: skip
        said = c.call(
            "conversation.send_message", {"persona_id": "alice", "content": "Moonflower."}
        )
        assert said["response"] == "Come in, quickly."
        assert [f["name"] for f in said["triggers_fired"]] == ["password"]
        goals = c.call("goal.list", {"persona_id": "alice"})["goals"]
        assert [g["goal"] for g in goals] == ["Hide the visitor"]
        again = c.call(
            "conversation.send_message", {"persona_id": "alice", "content": "Moonflower?"}
        )
        assert again["triggers_fired"] == [] and again["response"] != "Come in, quickly."
        asked = c.call(
            "conversation.send_message",
            {"persona_id": "alice", "content": "Could you give me 2 candles, please?",
             "actions_available": [GIVE]},
        )  # fmt: skip
        assert asked["actions"] == [
            {"name": "give_item", "arguments": {"item": "candles", "quantity": 2}}
        ]
        assert set(asked["expression"]) >= {"emotion", "intensity"}
        events = [n["params"] for n in c.notes if n.get("method") == "event"]
        fired = [e for e in events if e["type"] == "persona.trigger"]
        assert len(fired) == 1 and fired[0]["data"]["name"] == "password"
    finally:
        c.close()


def test_stream_with_tool_calls_from_ollama(live_server_proc, key):
    with FakeLLMServer("ollama", reply="Take this, friend.") as fake:
        fake.tool_calls = [
            {"name": "give_item", "arguments": {"item": "torch", "quantity": 1}},
            {"name": "give_item", "arguments": {"quantity": 2}},  # no item: dropped
            {"name": "open_gate", "arguments": {}},  # not offered: dropped
        ]
        server = live_server_proc(env={"LLM_PROVIDER": "ollama", "OLLAMA_URL": fake.url})
        c = Ws(server.ws, key)
        try:
            msg = c.wait(
                c.send(
                    "conversation.send_message",
                    {
                        "persona_id": "alice",
                        "content": "Thanks, I need a light!",
                        "stream": True,
                        "actions_available": [GIVE],
                    },
                ),
                timeout=60,
            )
            result = msg["result"]
            methods = [n["method"] for n in c.notes]
            assert methods[0] == "conversation.expression"
            assert methods[1:] == ["conversation.chunk"] * len(fake.pieces())
            assert c.notes[0]["params"]["expression"] == result["expression"]
            assert result["expression"]["emotion"] in ("happy", "content", "excited")
            assert result["actions"] == [
                {"name": "give_item", "arguments": {"item": "torch", "quantity": 1}}
            ]
            chat = [r["body"] for r in fake.requests if r["body"].get("stream")]
            assert [t["function"]["name"] for t in chat[-1]["tools"]] == ["give_item"]
        finally:
            c.close()


def test_rest_sse_with_tool_calls_from_openai(live_server_proc, key):
    with FakeLLMServer("openai", reply="Here.") as fake:
        fake.tool_calls = [{"name": "give_item", "arguments": {"item": "map"}}]
        server = live_server_proc(
            env={"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-x"}
        )
        events = []
        with httpx.stream(
            "POST",
            f"{server.http}/api/conversations/messages/",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "persona_id": "alice",
                "content": "You idiot, give me the map!",
                "stream": True,
                "actions_available": [GIVE],
            },
            timeout=60,
        ) as r:
            kind = None
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((kind, json.loads(line.split(":", 1)[1])))
        kinds = [k for k, _ in events]
        assert kinds[0] == "expression" and kinds[-1] == "done", kinds
        done = events[-1][1]
        assert done["actions"] == [{"name": "give_item", "arguments": {"item": "map"}}]
        assert done["expression"]["emotion"] in ("angry", "annoyed", "sad", "uneasy")
        body = next(r["body"] for r in fake.requests if r["body"].get("stream"))
        assert body["tools"][0]["function"]["parameters"] == GIVE["parameters"]
