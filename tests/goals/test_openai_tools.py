"""/v1/chat/completions with OpenAI ``tools``: they are the persona's offered actions, its
chosen actions come back as ``tool_calls`` (official ``openai`` client, a running server)."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conversations.fakes import FakeLLMServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "give_item",
            "description": "Hand the player an item.",
            "parameters": {
                "type": "object",
                "properties": {"item": {"type": "string"}},
                "required": ["item"],
            },
        },
    }
]


def test_tools_in_and_tool_calls_out(live_server_proc, make_key, demo):
    with FakeLLMServer("openai", reply="Here you are.", delay=0.0) as backend:
        backend.tool_calls = [
            {"name": "give_item", "arguments": {"item": "rope"}},
            {"name": "give_item", "arguments": {"item": 7}},  # fails the schema: dropped
        ]
        server = live_server_proc(
            env={"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": backend.url, "LLM_MODEL": "m"}
        )
        api = openai.OpenAI(base_url=f"{server.http}/v1", api_key=make_key("write"), max_retries=0)
        answer = api.chat.completions.create(
            model="alice", messages=[{"role": "user", "content": "A rope?"}], tools=TOOLS
        )
        choice = answer.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert [(c.function.name, json.loads(c.function.arguments)) for c in
                choice.message.tool_calls] == [("give_item", {"item": "rope"})]  # fmt: skip
        sent = [r["body"] for r in backend.requests if r["body"].get("stream")][-1]
        assert sent["tools"][0]["function"]["name"] == "give_item"
        calls = []
        for chunk in api.chat.completions.create(
            model="alice",
            messages=[{"role": "user", "content": "Another rope?"}],
            tools=TOOLS,
            stream=True,
        ):
            for c in chunk.choices:
                calls += [(t.function.name, t.function.arguments) for t in c.delta.tool_calls or []]
        assert calls == [("give_item", '{"item":"rope"}')]
        plain = api.chat.completions.create(
            model="alice", messages=[{"role": "user", "content": "Just talk."}]
        )
        assert plain.choices[0].message.tool_calls is None
        talk = [r["body"] for r in backend.requests if "Just talk." in str(r["body"])]
        assert talk and not [b for b in talk if "tools" in b]
