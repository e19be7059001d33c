"""End to end: a real daphne process on a free port, real clients (websockets, httpx, MCP SDK).

Runs in both passes: on SQLite with the in-memory channel layer, and on PostgreSQL + Redis.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import httpx
import pytest
import websockets

from tests.conftest import ROOT, server_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def call(ws, req_id, method, params=None):
    message = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        message["params"] = params
    await ws.send(json.dumps(message))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if reply.get("id") == req_id:
            return reply


async def next_event(ws, timeout=1.0):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no event within the deadline"
        message = json.loads(await asyncio.wait_for(ws.recv(), left))
        if message.get("method") == "event":
            return message["params"]


@pytest.fixture
def key(demo, make_key):
    return make_key("write")


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_websocket_session_against_real_server(live_server_proc, key, server):
    """The whole session on daphne (the default) and on uvicorn + uvloop (same ASGI app)."""
    srv = live_server_proc({"PERSONAMCP_MAX_FRAME_BYTES": str(256 * 1024)}, server=server)
    headers = {"Authorization": f"Bearer {key}"}
    async with websockets.connect(srv.ws, additional_headers=headers, subprotocols=["mcp"]) as ws:
        assert ws.subprotocol == "mcp"
        assert (await call(ws, 1, "system.ping"))["result"]["pong"] is True
        alice = (await call(ws, "a", "persona.get", {"persona_id": "alice"}))["result"]
        assert alice["slug"] == "alice" and "state" in alice
        switched = await call(ws, 2, "persona.switch", {"persona_id": "alice"})
        assert switched["result"]["persona"]["id"] == alice["id"]
        # binary frame: -32600, the socket stays open
        await ws.send(b'{"jsonrpc":"2.0","id":3,"method":"system.ping"}')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["id"] is None and reply["error"]["code"] == -32600
        # oversized frame (limit set to 256 KiB): -32600 with id null, socket stays open
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "x", "p": "a" * 300_000}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["id"] is None and reply["error"]["code"] == -32600
        assert (await call(ws, 5, "system.ping"))["result"]["pong"] is True
        # live event for a change made through REST on the same server
        assert (await call(ws, 6, "events.subscribe", {"topics": ["persona.*"]}))["result"]
        async with httpx.AsyncClient(base_url=srv.http, headers=headers) as http:
            response = await http.patch("/api/personas/alice/", json={"greeting": "Welcome!"})
            assert response.status_code == 200
        event = await next_event(ws)
        assert event["type"] == "persona.updated" and event["data"]["slug"] == "alice"
        fresh = (await call(ws, 7, "persona.get", {"persona_id": "alice"}))["result"]
        assert fresh["greeting"] == "Welcome!"


async def test_token_query_and_unauthenticated_over_real_socket(live_server_proc, key):
    srv = live_server_proc()
    async with websockets.connect(srv.ws) as ws:
        assert ws.subprotocol is None
        reply = await call(ws, 1, "persona.list")
        assert reply["error"]["code"] == -32020
        assert (await call(ws, 2, "session.authenticate", {"token": key}))["result"]
        assert len((await call(ws, 3, "persona.list"))["result"]["personas"]) == 4
    async with websockets.connect(f"{srv.ws}?token={key}") as ws:
        assert len((await call(ws, 1, "persona.list"))["result"]["personas"]) == 4


async def test_foreign_browser_origin_is_refused(live_server_proc):
    srv = live_server_proc()
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with websockets.connect(srv.ws, origin="http://evil.example.com"):
            pass
    assert info.value.response.status_code == 403
    async with websockets.connect(srv.ws, origin=f"http://127.0.0.1:{srv.port}") as ws:
        assert (await call(ws, 1, "system.ping"))["result"]["pong"]


async def test_dev_mode_server_allows_anonymous_and_says_so(live_server_proc, demo):
    srv = live_server_proc({"PERSONAMCP_DEV_MODE": "1"})
    async with websockets.connect(srv.ws) as ws:
        assert len((await call(ws, 1, "persona.list"))["result"]["personas"]) == 4
    assert "LOCAL DEVELOPMENT MODE" in srv.log()


async def test_slow_request_does_not_block_ping_on_real_server(live_server_proc, key):
    """A persona.get burst and a ping on one socket: the ping is answered while they run."""
    srv = live_server_proc()
    async with websockets.connect(
        srv.ws, additional_headers={"Authorization": f"Bearer {key}"}
    ) as ws:
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "persona.list", "params": {"limit": 200}}
            for i in range(40)
        ]
        await ws.send(json.dumps(batch))
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "ping", "method": "system.ping"}))
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(first, dict) and first["id"] == "ping"
        rest = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert len(rest) == 40


async def test_official_mcp_sdk_client_over_streamable_http(live_server_proc, key):
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    srv = live_server_proc()
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http,
        streamable_http_client(f"{srv.http}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        assert init.server_info.name == "persona-mcp"
        tools = await session.list_tools()
        names = {t.name for t in tools.tools}
        assert {"list_personas", "get_persona"} <= names
        result = await session.call_tool("get_persona", {"persona_id": "alice"})
        assert not result.is_error
        assert result.structured_content["slug"] == "alice"
        listed = await session.call_tool("list_personas", {"limit": 2})
        assert len(listed.structured_content["personas"]) == 2
        resources = await session.list_resources()
        assert "persona://alice" in {str(r.uri) for r in resources.resources}


def _shell(code: str, env: dict) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.scaled
async def test_events_cross_processes_on_redis(live_server_proc, key):
    """Two daphne processes on Redis: a change through one (and from a shell) reaches the other."""
    one, two = live_server_proc(), live_server_proc()
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        websockets.connect(one.ws, additional_headers=headers) as writer,
        websockets.connect(two.ws, additional_headers=headers) as watcher,
    ):
        assert (await call(watcher, 1, "events.subscribe", {"topics": ["persona.*"]}))["result"]
        created = await call(writer, 1, "persona.create", {"name": "Cross Proc"})
        assert created["result"]["slug"] == "cross-proc"
        event = await next_event(watcher)
        assert event["type"] == "persona.created" and event["data"]["slug"] == "cross-proc"
        # a change from a management shell, a third process
        code = (
            "from personas.models import Persona; p = Persona.objects.get(slug='cross-proc'); "
            "p.greeting = 'from the shell'; p.save()"
        )
        started = time.monotonic()
        await asyncio.to_thread(_shell, code, server_env())
        event = await next_event(watcher, timeout=1.0 + (time.monotonic() - started))
        assert event["type"] == "persona.updated"
        fresh = (await call(watcher, 2, "persona.get", {"persona_id": "cross-proc"}))["result"]
        assert fresh["greeting"] == "from the shell"


@pytest.mark.scaled
async def test_rate_limit_holds_across_processes(live_server_proc, key):
    env = {"PERSONAMCP_RATE_LIMIT": "4"}
    one, two = live_server_proc(env), live_server_proc(env)
    headers = {"Authorization": f"Bearer {key}"}
    if time.time() % 60 > 50:  # keep all six calls inside one rate-limit window
        await asyncio.sleep(61 - time.time() % 60)
    answers = []
    async with (
        websockets.connect(one.ws, additional_headers=headers) as a,
        websockets.connect(two.ws, additional_headers=headers) as b,
    ):
        for i in range(3):
            answers.append(await call(a, i, "persona.list"))
            answers.append(await call(b, i, "persona.list"))
    # 4 allowed per minute per key, counted in Redis across both processes
    assert ["result" in r for r in answers] == [True] * 4 + [False] * 2
    assert {r["error"]["code"] for r in answers[4:]} == {-32029}


@pytest.mark.embedded
async def test_shell_change_in_other_process_is_seen_by_next_read(live_server_proc, key):
    """Embedded mode: a shell in another process edits the SQLite file; the server's cached
    persona.get result is not served stale."""
    srv = live_server_proc()
    async with websockets.connect(
        srv.ws, additional_headers={"Authorization": f"Bearer {key}"}
    ) as ws:
        before = (await call(ws, 1, "persona.get", {"persona_id": "rook"}))["result"]
        again = (await call(ws, 2, "persona.get", {"persona_id": "rook"}))["result"]
        assert before == again
        code = (
            "from personas.models import PersonaState as S; "
            "S.objects.filter(persona__slug='rook').update(emotion='elated')"
        )
        await asyncio.to_thread(_shell, code, server_env())
        after = (await call(ws, 3, "persona.get", {"persona_id": "rook"}))["result"]
        assert after["state"]["emotion"] == "elated"
