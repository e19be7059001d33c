"""Current MCP over Streamable HTTP, driven by the official SDKs against a running server:
the Python SDK 2.x (2026-07-28 stateless via ``server/discover``, and the legacy handshake),
the last Python SDK 1.x (in its own virtualenv) and the TypeScript SDK from npm."""

from __future__ import annotations

import json
import subprocess

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conversations.fakes import FakeLLMServer
from tests.doors.sdks import mcp1_python, node_sdk_dir

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REPLY = "The lighthouse keeper waves. Come in out of the rain, friend."


@pytest.fixture
def server(live_server_proc, demo):
    with FakeLLMServer("openai", reply=REPLY, delay=0.01) as fake:
        yield live_server_proc(
            env={"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": fake.url, "LLM_MODEL": "fake"}
        )


@pytest.fixture
def key(make_key, demo):
    return make_key("write")


async def _exercise(client: Client) -> dict:
    tools = await client.list_tools()
    persona = await client.call_tool("get_persona", {"persona_id": "alice"})
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    chat = await client.call_tool(
        "chat_with_persona",
        {"persona_id": "alice", "content": "May I come in?", "sender": "sdk-user"},
        progress_callback=on_progress,
    )
    resources = await client.list_resources()
    card = await client.read_resource("persona://alice")
    prompt = await client.get_prompt("speak_as", {"persona": "alice"})
    return {
        "version": client.protocol_version,
        "tools": {t.name for t in tools.tools},
        "persona": persona.structured_content,
        "chat": chat.structured_content,
        "progress": progress,
        "resources": {str(r.uri) for r in resources.resources},
        "card": json.loads(card.contents[0].text),
        "prompt": prompt.messages[0].content.text,
    }


def _check(seen: dict) -> None:
    assert {"list_personas", "chat_with_persona", "search_memories"} <= seen["tools"]
    assert seen["persona"]["slug"] == "alice"
    assert seen["chat"]["response"] == REPLY
    # the reply streamed as progress notifications, in order, whose messages are the text
    assert [p for p, _ in seen["progress"]] == list(range(1, len(seen["progress"]) + 1))
    assert "".join(m or "" for _, m in seen["progress"]) == REPLY
    assert len(seen["progress"]) > 3
    assert "persona://alice" in seen["resources"] and seen["card"]["slug"] == "alice"
    assert "Stay in character" in seen["prompt"]


async def test_python_sdk_2_stateless_2026_07_28(server, key):
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120) as http,
        Client(streamable_http_client(f"{server.http}/mcp", http_client=http)) as client,
    ):
        seen = await _exercise(client)
    assert seen["version"] == "2026-07-28"
    _check(seen)


async def test_python_sdk_2_legacy_handshake(server, key):
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120) as http,
        Client(
            streamable_http_client(f"{server.http}/mcp", http_client=http), mode="legacy"
        ) as client,
    ):
        seen = await _exercise(client)
    assert seen["version"] == "2025-11-25"
    _check(seen)


def _run_json(cmd: list[str], env: dict | None = None, cwd=None) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_python_sdk_1x(server, key):
    python = mcp1_python()
    seen = _run_json([str(python), "-c", MCP1_SCRIPT, f"{server.http}/mcp", key])
    assert seen["sdk"].startswith("1.")
    assert seen["version"] == "2025-11-25" and seen["session"]
    seen["tools"], seen["resources"] = set(seen["tools"]), set(seen["resources"])
    seen["progress"] = [tuple(p) for p in seen["progress"]]
    _check(seen)


def test_typescript_sdk(server, key):
    folder = node_sdk_dir()
    seen = _run_json(["node", "client.mjs", f"{server.http}/mcp", key], cwd=folder)
    assert seen["version"] in ("2025-11-25", "2026-07-28")
    seen["tools"], seen["resources"] = set(seen["tools"]), set(seen["resources"])
    seen["progress"] = [tuple(p) for p in seen["progress"]]
    _check(seen)


MCP1_SCRIPT = r"""
import asyncio, json, sys
from importlib.metadata import version
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

URL, KEY = sys.argv[1], sys.argv[2]

async def main():
    progress = []

    async def on_progress(value, total, message):
        progress.append((value, message))

    headers = {"Authorization": f"Bearer {KEY}"}
    async with streamablehttp_client(URL, headers=headers) as (read, write, get_session_id):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            persona = await session.call_tool("get_persona", {"persona_id": "alice"})
            chat = await session.call_tool(
                "chat_with_persona",
                {"persona_id": "alice", "content": "May I come in?", "sender": "sdk-user"},
                progress_callback=on_progress,
            )
            resources = await session.list_resources()
            card = await session.read_resource("persona://alice")
            prompt = await session.get_prompt("speak_as", {"persona": "alice"})
            print(json.dumps({
                "sdk": version("mcp"),
                "version": init.protocolVersion,
                "session": get_session_id(),
                "tools": [t.name for t in tools.tools],
                "persona": persona.structuredContent,
                "chat": chat.structuredContent,
                "progress": progress,
                "resources": [str(r.uri) for r in resources.resources],
                "card": json.loads(card.contents[0].text),
                "prompt": prompt.messages[0].content.text,
            }))

asyncio.run(main())
"""
