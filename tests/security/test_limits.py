"""Limits on unauthenticated sockets (count per address, authentication deadline) and on
concurrent turns per API key."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def limits(settings):
    def set_limits(**values):
        settings.PERSONAMCP = {**settings.PERSONAMCP, **values}

    return set_limits


async def _open(headers=None, client=("10.0.0.7", 5000)):
    from personamcp.asgi import application

    communicator = WebsocketCommunicator(application, "/mcp", headers=headers or [])
    communicator.scope["client"] = client
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _rpc(communicator, method, params=None, req_id=1):
    message = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        message["params"] = params
    await communicator.send_to(text_data=json.dumps(message))
    return json.loads(await communicator.receive_from(timeout=10))


async def test_too_many_unauthenticated_sockets_per_address_are_closed(limits, make_key):
    limits(MAX_UNAUTHENTICATED_PER_ADDRESS=2, AUTH_TIMEOUT=60)
    first, second = await _open(), await _open()
    third = await _open()
    assert (await third.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4429}
    other_address = await _open(client=("10.0.0.8", 5000))  # counted per address
    assert (await _rpc(other_address, "system.ping"))["result"]["pong"]
    key = await sync_to_async(make_key)("read")
    with_key = await _open(headers=[(b"authorization", f"Bearer {key}".encode())])
    assert (await _rpc(with_key, "persona.list"))["result"] == {
        "personas": [],
        "next_cursor": None,
    }
    # Authenticating frees the place: a new unauthenticated socket fits again.
    assert (await _rpc(first, "session.authenticate", {"token": key}))["result"]["authenticated"]
    fourth = await _open()
    assert (await _rpc(fourth, "system.ping"))["result"]["pong"]
    await second.disconnect()  # closing frees one too
    fifth = await _open()
    assert (await _rpc(fifth, "system.ping"))["result"]["pong"]
    for c in (first, fourth, fifth, other_address, with_key):
        await c.disconnect()


async def test_unauthenticated_socket_is_closed_at_the_deadline(limits, make_key):
    limits(AUTH_TIMEOUT=0.3)
    idle = await _open()
    assert (await idle.receive_output(timeout=10)) == {"type": "websocket.close", "code": 4401}
    key = await sync_to_async(make_key)("read")
    late = await _open()
    assert (await _rpc(late, "session.authenticate", {"token": key}))["result"]["authenticated"]
    await asyncio.sleep(0.5)  # past the deadline: an authenticated socket stays open
    assert (await _rpc(late, "system.ping", req_id=3))["result"]["pong"]
    await late.disconnect()


async def test_dev_mode_has_no_unauthenticated_limits(limits, settings):
    settings.DEV_MODE = True
    limits(MAX_UNAUTHENTICATED_PER_ADDRESS=1, AUTH_TIMEOUT=0.2)
    sockets = [await _open(), await _open()]
    await asyncio.sleep(0.4)
    for i, s in enumerate(sockets):
        assert (await _rpc(s, "system.ping", req_id=i))["result"]["pong"]
        await s.disconnect()


async def test_concurrent_turns_per_key_get_a_clear_error(limits, demo, make_key):
    from personamcp.auth import principal_from_key, turn_slot

    limits(MAX_TURNS_PER_KEY=1)
    key = await sync_to_async(make_key)("write")
    principal = await sync_to_async(principal_from_key)(key)
    socket = await _open(headers=[(b"authorization", f"Bearer {key}".encode())])
    with turn_slot(principal):  # one turn of this key is running
        answer = await _rpc(
            socket, "conversation.send_message", {"persona_id": "alice", "content": "hi"}
        )
        error = answer["error"]
        assert error["code"] == -32029 and error["data"]["reason"] == "concurrent_turns"
        assert error["data"]["limit"] == 1 and error["data"]["retry_after"] > 0
        other_key = await sync_to_async(make_key)("write")
        other = await _open(headers=[(b"authorization", f"Bearer {other_key}".encode())])
        ok = await _rpc(
            other, "conversation.send_message", {"persona_id": "alice", "content": "hi"}
        )
        assert "result" in ok, ok
        await other.disconnect()
    ok = await _rpc(
        socket, "conversation.send_message", {"persona_id": "alice", "content": "hi"}, req_id=2
    )
    assert "result" in ok, ok  # the slot was given back
    await socket.disconnect()
