"""Frames of any size over the limit get -32600 (id null) on a real daphne; the socket stays
open. Below the limit, large frames (over daphne's own 1 MiB default) go through both ways."""

from __future__ import annotations

import json

import pytest
import websockets

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024


async def _ping(ws, req_id=99) -> dict:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": "system.ping"}))
    return json.loads(await ws.recv())


def _padded(size: int) -> str:
    """A JSON-RPC ping of exactly ``size`` bytes (padding in an unknown param)."""
    head = '{"jsonrpc":"2.0","id":7,"method":"system.ping","params":{"pad":"'
    tail = '"}}'
    return head + "x" * (size - len(head) - len(tail)) + tail


@pytest.fixture
def server(live_server_proc):
    return live_server_proc({"PERSONAMCP_MAX_FRAME_BYTES": str(4 * MiB)})


@pytest.mark.parametrize("size", [4 * MiB + 1, 6 * MiB, 40 * MiB])
async def test_oversized_frame_gets_32600_and_socket_stays_open(server, size):
    async with websockets.connect(server.ws, max_size=None) as ws:
        await ws.send(_padded(size))
        answer = json.loads(await ws.recv())
        assert answer["id"] is None and answer["error"]["code"] == -32600
        assert "larger than" in answer["error"]["message"]
        assert (await _ping(ws))["result"]["pong"] is True


async def test_oversized_fragmented_message_gets_32600(server):
    """One message in many frames: the total counts, not the frame."""
    async with websockets.connect(server.ws, max_size=None) as ws:
        chunk = "y" * MiB
        await ws.send(iter(['{"jsonrpc":"2.0","id":1,"method":"x","p":"', *[chunk] * 5, '"}']))
        answer = json.loads(await ws.recv())
        assert answer["id"] is None and answer["error"]["code"] == -32600
        assert (await _ping(ws))["result"]["pong"] is True


async def test_frame_at_the_limit_over_daphnes_default_is_processed(server):
    async with websockets.connect(server.ws, max_size=None) as ws:
        await ws.send(_padded(4 * MiB))  # over daphne's 1 MiB, at our limit
        answer = json.loads(await ws.recv())
        assert answer["id"] == 7 and answer["error"]["code"] == -32602  # "pad" is unknown
        assert (await _ping(ws))["result"]["pong"] is True


async def test_several_oversized_frames_in_a_row(server):
    async with websockets.connect(server.ws, max_size=None) as ws:
        for i in range(3):
            await ws.send(_padded(5 * MiB))
            assert json.loads(await ws.recv())["error"]["code"] == -32600
            assert (await _ping(ws, i))["id"] == i


async def test_default_limit_is_16_mib(live_server_proc):
    srv = live_server_proc()
    async with websockets.connect(srv.ws, max_size=None) as ws:
        await ws.send(_padded(16 * MiB))
        assert json.loads(await ws.recv())["error"]["code"] == -32602  # processed
        await ws.send(_padded(16 * MiB + 1))
        assert json.loads(await ws.recv())["error"]["code"] == -32600
        assert (await _ping(ws))["result"]["pong"] is True


def _post_mcp(srv, body: str, key: str, chunked: bool = False) -> dict:
    """POST /mcp over a real socket (``chunked``: without Content-Length)."""
    import httpx

    data = body.encode()
    content = iter([data[i : i + MiB] for i in range(0, len(data), MiB)]) if chunked else data
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answer = httpx.post(f"{srv.http}/mcp", content=content, headers=headers, timeout=120)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_http_mcp_body_limit_is_the_frame_limit(live_server_proc, make_key, chunked):
    """``POST /mcp`` follows PERSONAMCP_MAX_FRAME_BYTES on both sides, not Django's 5 MiB
    DATA_UPLOAD_MAX_MEMORY_SIZE (which bounds the REST doors)."""
    key = make_key("write")
    srv = live_server_proc()  # the default 16 MiB
    for size in (6 * MiB, 16 * MiB):  # over Django's 5 MiB, at most the frame limit
        answer = _post_mcp(srv, _padded(size), key, chunked)
        assert answer["id"] == 7 and answer["error"]["code"] == -32602, answer  # processed
    answer = _post_mcp(srv, _padded(16 * MiB + 1), key, chunked)
    assert answer["id"] is None and answer["error"]["code"] == -32600
    assert "larger than" in answer["error"]["message"]
    small = live_server_proc({"PERSONAMCP_MAX_FRAME_BYTES": str(MiB)})
    assert _post_mcp(small, _padded(MiB), key, chunked)["id"] == 7
    assert _post_mcp(small, _padded(MiB + 1), key, chunked)["error"]["code"] == -32600
