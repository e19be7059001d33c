"""POST /mcp: the same dispatcher over HTTP (MCP Streamable HTTP, JSON response mode)."""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient

pytestmark = pytest.mark.django_db(transaction=True)


async def post(body, key: str | None = None, content_type="application/json", **headers):
    client = AsyncClient()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return await client.post("/mcp", data, content_type=content_type, headers=headers)


async def test_single_call_with_bearer_key(demo, akey):
    response = await post(
        {"jsonrpc": "2.0", "id": "a", "method": "persona.get", "params": {"persona_id": "alice"}},
        key=await akey("read"),
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["id"] == "a" and body["result"]["slug"] == "alice"


async def test_unauthenticated_http_only_public_methods(demo):
    assert (await post({"jsonrpc": "2.0", "id": 1, "method": "system.ping"})).json()["result"]
    response = await post({"jsonrpc": "2.0", "id": 2, "method": "persona.list"})
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == -32020 and response.json()["id"] == 2
    response = await post({"jsonrpc": "2.0", "id": 3, "method": "persona.list"}, key="pmcp_wrong")
    assert response.status_code == 401 and response.json()["error"]["code"] == -32020
    assert "invalid API key" in response.json()["error"]["message"]


async def test_batch_and_notification_only_body(demo, akey):
    key = await akey("read")
    response = await post(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "system.ping"},
            {"jsonrpc": "2.0", "method": "system.ping"},
            {"jsonrpc": "2.0", "id": 2, "method": "persona.list", "params": {"limit": 1}},
        ],
        key=key,
    )
    body = response.json()
    assert [r["id"] for r in body] == [1, 2]
    assert len(body[1]["result"]["personas"]) == 1
    response = await post({"jsonrpc": "2.0", "method": "notifications/initialized"}, key=key)
    assert response.status_code == 202 and response.content == b""
    response = await post([{"jsonrpc": "2.0", "method": "system.ping"}], key=key)
    assert response.status_code == 202 and response.content == b""


async def test_http_errors(demo, limits):
    assert (await post("{nope")).json()["error"]["code"] == -32700
    assert (await post(b"\xff\xfe")).json()["error"]["code"] == -32700
    assert (await post([])).json()["error"]["code"] == -32600
    response = await post(
        {"jsonrpc": "2.0", "id": 1, "method": "system.ping"}, content_type="text/plain"
    )
    assert response.status_code == 415 and response.json()["error"]["code"] == -32600
    limits(MAX_FRAME_BYTES=1024)
    response = await post({"jsonrpc": "2.0", "id": 1, "method": "system.ping", "x": "a" * 2000})
    assert (
        response.json() == {"jsonrpc": "2.0", "id": None, "error": response.json()["error"]}
        and response.json()["error"]["code"] == -32600
    )
    response = await AsyncClient().get("/mcp")
    assert response.status_code == 405 and response["Allow"] == "POST, DELETE"


async def test_http_browser_origin_checked(demo):
    body = {"jsonrpc": "2.0", "id": 1, "method": "system.ping"}
    assert (await post(body, Origin="http://evil.example.com")).status_code == 403
    assert (await post(body, Origin="http://localhost:8000")).status_code == 403
    assert (await post(body, Origin="http://testserver")).status_code == 200  # its own origin


async def test_http_rate_limit(demo, akey, limits):
    limits(RATE_LIMIT_PER_MINUTE=2)
    key = await akey("read")
    body = {"jsonrpc": "2.0", "id": 1, "method": "persona.list"}
    assert "result" in (await post(body, key=key)).json()
    assert "result" in (await post(body, key=key)).json()
    error = (await post(body, key=key)).json()["error"]
    assert error["code"] == -32029 and error["data"]["retry_after"] > 0


async def test_http_forbidden_scope(demo, akey):
    response = await post(
        {"jsonrpc": "2.0", "id": 1, "method": "persona.create", "params": {"name": "X"}},
        key=await akey("read"),
    )
    assert response.json()["error"]["code"] == -32021


async def test_mcp_initialize_over_http_with_meta(demo, akey):
    response = await post(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "x", "version": "1"},
                "_meta": {"a": 1},
            },
        },
    )
    assert response.json()["result"]["protocolVersion"] == "2025-06-18"
