"""Every JSON-RPC rule of PROTOCOL.md over the real ASGI app (WebsocketCommunicator)."""

from __future__ import annotations

import asyncio
import json

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_integer_string_and_null_ids_are_echoed_unchanged(rpc_connect):
    c = await rpc_connect()
    for req_id in (7, "abc-1", None, 0, -3, 2**70):
        await c.send({"jsonrpc": "2.0", "id": req_id, "method": "system.ping"})
        response = await c.receive()
        assert response["id"] == req_id and type(response["id"]) is type(req_id)
        assert response["result"]["pong"] is True
        assert "error" not in response


async def test_invalid_json_is_parse_error_with_null_id(rpc_connect):
    c = await rpc_connect()
    await c.send('{"jsonrpc": "2.0", "id": 1, "method": ')
    response = await c.receive()
    assert response == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": response["error"]["message"]},
    }
    # NaN is not JSON
    await c.send('{"jsonrpc": "2.0", "id": NaN, "method": "system.ping"}')
    assert (await c.receive())["error"]["code"] == -32700


@pytest.mark.parametrize(
    ("payload", "expected_id"),
    [
        ({"jsonrpc": "2.0", "id": 5}, 5),  # no method
        ({"jsonrpc": "2.0", "id": "x", "method": 12}, "x"),  # method not a string
        ({"jsonrpc": "1.0", "id": 9, "method": "system.ping"}, 9),  # wrong jsonrpc
        ({"id": 9, "method": "system.ping"}, 9),  # jsonrpc missing
        ({"jsonrpc": "2.0", "id": 1.5, "method": "system.ping"}, None),  # fractional id
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "system.ping"}, None),  # object id
        ({"jsonrpc": "2.0", "id": True, "method": "system.ping"}, None),  # boolean id
        ({"jsonrpc": "2.0", "method": 3}, None),  # "notification" that is not valid
        (1, None),
        (json.dumps("system.ping"), None),  # a JSON string, not an object
    ],
)
async def test_invalid_request_is_32600_with_readable_id(rpc_connect, payload, expected_id):
    c = await rpc_connect()
    await c.send(payload)
    response = await c.receive()
    assert response["error"]["code"] == -32600
    assert response["id"] == expected_id
    assert "result" not in response


async def test_unknown_method_is_32601(rpc_connect):
    c = await rpc_connect()
    response = await c.call("persona.fly")
    assert response["error"]["code"] == -32601
    assert "persona.fly" in response["error"]["message"]


async def test_bad_params_name_each_field(rpc_connect, dev_mode):
    c = await rpc_connect()
    response = await c.call("persona.list", {"limitt": 5, "limit": "many"})
    assert response["error"]["code"] == -32602
    fields = {e["field"]: e["message"] for e in response["error"]["data"]["errors"]}
    assert fields["limitt"] == "unknown field"
    assert "limit" in fields
    response = await c.call("persona.get", {})
    assert response["error"]["data"]["errors"] == [
        {"field": "persona_id", "message": "Field required"}
    ]


async def test_positional_params_are_32602(rpc_connect):
    c = await rpc_connect()
    await c.send({"jsonrpc": "2.0", "id": 1, "method": "system.ping", "params": [1, 2]})
    response = await c.receive()
    assert response["error"]["code"] == -32602
    assert response["error"]["data"]["errors"][0]["field"] == "params"


async def test_notifications_are_never_answered_even_on_error(rpc_connect):
    c = await rpc_connect()
    for note in (
        {"jsonrpc": "2.0", "method": "system.ping"},
        {"jsonrpc": "2.0", "method": "no.such.method"},
        {"jsonrpc": "2.0", "method": "persona.get", "params": {"bogus": 1}},  # unauthenticated
        {"jsonrpc": "2.0", "method": "system.ping", "params": {"bogus": 1}},  # bad params
        {"jsonrpc": "2.0", "method": "system.ping", "params": [1]},
        {"jsonrpc": "2.0", "method": "test.crash"},
    ):
        await c.send(note)
    response = await c.call("system.ping")
    assert response["id"] == c._next and "result" in response
    assert await c.ws.receive_nothing(timeout=0.3)


async def test_request_with_null_id_is_answered(rpc_connect):
    c = await rpc_connect()
    await c.send({"jsonrpc": "2.0", "id": None, "method": "no.such"})
    response = await c.receive()
    assert response["id"] is None and response["error"]["code"] == -32601


async def test_batch_answers_requests_and_omits_notifications(rpc_connect):
    c = await rpc_connect()
    await c.send(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "system.ping"},
            {"jsonrpc": "2.0", "method": "system.ping"},
            {"jsonrpc": "2.0", "id": "b", "method": "nope"},
            {"jsonrpc": "2.0", "method": "nope"},
            {"foo": "bar"},
            {"jsonrpc": "2.0", "id": 3, "method": "system.ping", "params": {"x": 1}},
        ]
    )
    responses = await c.receive()
    assert isinstance(responses, list) and len(responses) == 4
    by_id = {json.dumps(r["id"]): r for r in responses}
    assert by_id["1"]["result"]["pong"] is True
    assert by_id['"b"']["error"]["code"] == -32601
    assert by_id["null"]["error"]["code"] == -32600
    assert by_id["3"]["error"]["code"] == -32602
    for r in responses:
        assert ("result" in r) != ("error" in r)


async def test_batch_of_only_notifications_gets_no_answer(rpc_connect):
    c = await rpc_connect()
    await c.send([{"jsonrpc": "2.0", "method": "system.ping"}, {"jsonrpc": "2.0", "method": "x"}])
    assert await c.ws.receive_nothing(timeout=0.3)


async def test_empty_batch_is_one_32600(rpc_connect):
    c = await rpc_connect()
    await c.send([])
    response = await c.receive()
    assert response == {"jsonrpc": "2.0", "id": None, "error": response["error"]}
    assert response["error"]["code"] == -32600


async def test_batch_of_invalid_items_answers_each(rpc_connect):
    c = await rpc_connect()
    await c.send([1, 2])
    responses = await c.receive()
    assert [r["error"]["code"] for r in responses] == [-32600, -32600]


async def test_batch_over_limit_is_one_32600(rpc_connect, limits):
    limits(MAX_BATCH=3)
    c = await rpc_connect()
    await c.send([{"jsonrpc": "2.0", "id": i, "method": "system.ping"} for i in range(4)])
    response = await c.receive()
    assert isinstance(response, dict) and response["id"] is None
    assert response["error"]["code"] == -32600
    await c.send([{"jsonrpc": "2.0", "id": i, "method": "system.ping"} for i in range(3)])
    assert len(await c.receive()) == 3


async def test_oversized_frame_is_32600_and_socket_stays_open(rpc_connect, limits):
    limits(MAX_FRAME_BYTES=2048)
    c = await rpc_connect()
    big = {"jsonrpc": "2.0", "id": 1, "method": "system.ping", "params": {"x": "a" * 3000}}
    await c.send(big)
    response = await c.receive()
    assert response["id"] is None and response["error"]["code"] == -32600
    assert "2048" in response["error"]["message"]
    assert (await c.call("system.ping"))["result"]["pong"] is True


async def test_frame_limit_counts_utf8_bytes_of_the_decoded_text(rpc_connect, limits):
    limits(MAX_FRAME_BYTES=2048)
    c = await rpc_connect()
    # 1000 characters, 3000 bytes in UTF-8: over the limit although under it in characters.
    text = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "system.ping", "params": {"x": "€" * 1000}},
        ensure_ascii=False,
    )
    assert len(text) < 2048 < len(text.encode())
    await c.send(text)
    assert (await c.receive())["error"]["code"] == -32600
    # just under the limit: parsed normally (and rejected for its unknown param, not its size)
    text = json.dumps(
        {"jsonrpc": "2.0", "id": 2, "method": "system.ping", "params": {"x": "€" * 600}},
        ensure_ascii=False,
    )
    await c.send(text)
    assert (await c.receive())["error"]["code"] == -32602


async def test_binary_frame_is_32600_and_socket_stays_open(rpc_connect):
    c = await rpc_connect()
    await c.ws.send_to(bytes_data=b'{"jsonrpc":"2.0","id":1,"method":"system.ping"}')
    response = await c.receive()
    assert response["id"] is None and response["error"]["code"] == -32600
    assert (await c.call("system.ping"))["result"]["pong"] is True


async def test_internal_error_hides_details_and_returns_correlation_id(rpc_connect, caplog):
    c = await rpc_connect()
    response = await c.call("test.crash")
    error = response["error"]
    assert error["code"] == -32603
    assert error["message"] == "internal error"
    assert "passwd" not in json.dumps(response)
    cid = error["data"]["correlation_id"]
    assert len(cid) == 16
    assert any("test.crash" in r.getMessage() for r in caplog.records)


async def test_domain_error_raised_by_handler_maps_to_its_code(rpc_connect):
    c = await rpc_connect()
    assert (await c.call("test.forbidden"))["error"]["code"] == -32021


async def test_slow_call_does_not_block_ping_on_same_socket(rpc_connect):
    from tests.rpc.conftest import SLOW_STARTED

    SLOW_STARTED.clear()
    c = await rpc_connect()
    await c.send(
        {"jsonrpc": "2.0", "id": "slow", "method": "test.slow_sync", "params": {"seconds": 3}}
    )
    await c.send(
        {"jsonrpc": "2.0", "id": "slow2", "method": "test.slow_async", "params": {"seconds": 3}}
    )
    await asyncio.get_running_loop().run_in_executor(None, SLOW_STARTED.wait, 5)
    started = asyncio.get_running_loop().time()
    await c.send({"jsonrpc": "2.0", "id": "ping", "method": "system.ping"})
    first = await c.receive(timeout=2)
    elapsed = asyncio.get_running_loop().time() - started
    assert first["id"] == "ping" and elapsed < 0.5
    assert {(await c.receive(timeout=5))["id"], (await c.receive(timeout=5))["id"]} == {
        "slow",
        "slow2",
    }


async def test_requests_in_flight_are_cancelled_when_socket_closes(rpc_connect):
    from tests.rpc.conftest import CANCEL_SEEN, SLOW_STARTED

    SLOW_STARTED.clear()
    CANCEL_SEEN.clear()
    c = await rpc_connect()
    await c.send({"jsonrpc": "2.0", "id": 1, "method": "test.slow_sync", "params": {"seconds": 20}})
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, SLOW_STARTED.wait, 5)
    await c.close()
    assert await loop.run_in_executor(None, CANCEL_SEEN.wait, 3)


async def test_mcp_subprotocol_accepted_when_offered(raw_ws):
    _, connected, sub = await raw_ws(subprotocols=["mcp"])
    assert connected and sub == "mcp"
    _, connected, sub = await raw_ws()
    assert connected and sub is None
    _, connected, sub = await raw_ws(subprotocols=["graphql-ws"])
    assert connected and sub is None


async def test_browser_origin_must_be_allowed(raw_ws, settings):
    _, connected, _ = await raw_ws(headers=[(b"origin", b"http://evil.example.com")])
    assert not connected
    own = [(b"host", b"localhost:8000"), (b"origin", b"http://localhost:8000")]
    _, connected, _ = await raw_ws(headers=own)  # the server's own origin
    assert connected
    _, connected, _ = await raw_ws(headers=[own[1]])
    assert not connected  # no Host header to compare with
    _, connected, _ = await raw_ws()  # no Origin: bots, game engines, scripts
    assert connected
    settings.ALLOWED_ORIGINS = ["https://game.example.org"]
    _, connected, _ = await raw_ws(headers=[(b"origin", b"https://game.example.org")])
    assert connected
    _, connected, _ = await raw_ws(headers=[(b"origin", b"null")])
    assert not connected
