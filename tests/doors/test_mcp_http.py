"""POST /mcp transport rules of current MCP: protocol-version header, 401 without a key,
``server/discover``, 2026-07-28 results, ``Mcp-Session-Id`` sessions and SSE responses."""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient

pytestmark = pytest.mark.django_db(transaction=True)

SSE = "application/json, text/event-stream"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def post(body, key=None, **headers):
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return await AsyncClient().post(
        "/mcp", json.dumps(body), content_type="application/json", headers=headers
    )


def rpc(method, params=None, req_id=1):
    body = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        body["params"] = params
    return body


async def sse_messages(response) -> list[dict]:
    raw = b"".join([chunk async for chunk in response.streaming_content]).decode()
    return [
        json.loads(line.removeprefix("data: "))
        for line in raw.splitlines()
        if line.startswith("data: ")
    ]


async def test_unsupported_protocol_version_header_is_400(demo, akey):
    key = await akey("read")
    response = await post(rpc("ping"), key, **{"MCP-Protocol-Version": "2099-01-01"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022 and error["data"]["requested"] == "2099-01-01"
    assert "2026-07-28" in error["data"]["supported"]
    for version in ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"):
        ok = await post(rpc("ping"), key, **{"MCP-Protocol-Version": version})
        assert ok.status_code == 200, version


async def test_missing_or_bad_key_is_401_except_public_methods(demo):
    for headers in ({}, {"Authorization": "Bearer pmcp_wrong"}):
        response = await post(rpc("tools/list", req_id=7), **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["id"] == 7 and response.json()["error"]["code"] == -32020
        batch = await post([rpc("ping"), rpc("persona.list", req_id=2)], **headers)
        assert batch.status_code == 401
    for method, params in [
        ("ping", None),
        ("system.ping", None),
        ("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}}),
        ("server/discover", {"_meta": MODERN_META}),
    ]:
        response = await post(rpc(method, params))
        assert response.status_code == 200 and "result" in response.json(), method


async def test_dev_mode_needs_no_key(demo, dev_mode):
    response = await post(rpc("tools/list"))
    assert response.status_code == 200 and response.json()["result"]["tools"]
    init = await post(rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}}))
    session = {"Mcp-Session-Id": init["Mcp-Session-Id"]}
    await post(rpc("persona.switch", {"persona_id": "rook"}), **session)
    info = (await post(rpc("session.info"), **session)).json()["result"]
    assert info["active_persona"]["slug"] == "rook"


async def test_server_discover_and_modern_results(demo, akey):
    key = await akey("read")
    headers = {"MCP-Protocol-Version": "2026-07-28"}
    found = (await post(rpc("server/discover", {"_meta": MODERN_META}), **headers)).json()
    result = found["result"]
    assert result["supportedVersions"][0] == "2026-07-28"
    assert {"2025-03-26", "2025-06-18", "2025-11-25"} <= set(result["supportedVersions"])
    assert set(result["capabilities"]) == {"tools", "resources", "prompts"}
    assert result["resultType"] == "complete" and result["serverInfo"]["name"] == "persona-mcp"
    listed = (await post(rpc("tools/list", {"_meta": MODERN_META}), key, **headers)).json()
    assert listed["result"]["resultType"] == "complete" and listed["result"]["ttlMs"] == 0
    # a request without the 2026 envelope keeps the older shape
    legacy = (await post(rpc("tools/list"), key)).json()["result"]
    assert "resultType" not in legacy
    wrong = {**MODERN_META, "io.modelcontextprotocol/protocolVersion": "1999-01-01"}
    refused = (await post(rpc("server/discover", {"_meta": wrong}))).json()
    assert refused["error"]["code"] == -32022
    # stateless: no session is created
    response = await post(rpc("server/discover", {"_meta": MODERN_META}), **headers)
    assert "Mcp-Session-Id" not in response


async def test_sessions_of_the_handshake_versions(demo, akey):
    key, other = await akey("read"), await akey("read")
    init = await post(rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}}), key)
    session = init["Mcp-Session-Id"]
    assert len(session) >= 16 and init.json()["result"]["protocolVersion"] == "2025-06-18"
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
    switched = await post(rpc("persona.switch", {"persona_id": "alice"}), key, **headers)
    assert switched.json()["result"]["persona"]["slug"] == "alice"
    # the session remembers the active persona across POSTs
    state = (await post(rpc("persona.state"), key, **headers)).json()
    assert "mood" in state["result"]
    info = (await post(rpc("session.info"), key, **headers)).json()["result"]
    assert info["session_id"] == session and info["active_persona"]["slug"] == "alice"
    # without the header, a request is stateless
    alone = (await post(rpc("persona.state"), key)).json()
    assert alone["error"]["code"] == -32002
    # another key cannot use it; an unknown one is 404
    assert (await post(rpc("ping"), other, **headers)).status_code == 404
    assert (await post(rpc("ping"), key, **{"Mcp-Session-Id": "nope"})).status_code == 404
    client = AsyncClient()
    auth = {"Authorization": f"Bearer {key}"}
    assert (await client.delete("/mcp", headers={**auth, **headers})).status_code == 204
    assert (await post(rpc("ping"), key, **headers)).status_code == 404
    assert (await client.delete("/mcp", headers=auth)).status_code == 400


async def test_streamed_tool_call_is_an_sse_response(demo, akey):
    key = await akey("write")
    params = {
        "name": "chat_with_persona",
        "arguments": {"persona_id": "alice", "content": "Tell me about the lighthouse"},
        "_meta": {"progressToken": "tok-1"},
    }
    response = await post(rpc("tools/call", params, req_id=5), key, Accept=SSE)
    assert response["Content-Type"] == "text/event-stream"
    messages = await sse_messages(response)
    *notes, final = messages
    assert final["id"] == 5 and final["result"]["isError"] is False
    reply = final["result"]["structuredContent"]["response"]
    assert notes and all(n["method"] == "notifications/progress" for n in notes)
    assert all(n["params"]["progressToken"] == "tok-1" for n in notes)
    assert [n["params"]["progress"] for n in notes] == list(range(1, len(notes) + 1))
    assert "".join(n["params"]["message"] for n in notes) == reply
    # JSON when the client does not accept SSE, or sends no progress token
    plain = await post(rpc("tools/call", params, req_id=6), key)
    assert plain["Content-Type"] == "application/json" and plain.json()["result"]["content"]
    del params["_meta"]
    quiet = await post(rpc("tools/call", params, req_id=7), key, Accept=SSE)
    assert quiet["Content-Type"] == "application/json"


async def test_streamed_send_message_chunks_over_sse(demo, akey):
    key = await akey("write")
    body = rpc(
        "conversation.send_message",
        {"persona_id": "alice", "content": "Hello there", "stream": True},
        req_id="s1",
    )
    response = await post(body, key, Accept=SSE)
    expression, *chunks, final = await sse_messages(response)
    assert expression["method"] == "conversation.expression"
    assert expression["params"]["request_id"] == "s1"
    assert set(expression["params"]["expression"]) >= {"emotion", "intensity"}
    assert {c["method"] for c in chunks} == {"conversation.chunk"}
    assert "".join(c["params"]["delta"] for c in chunks) == final["result"]["response"]
