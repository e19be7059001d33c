"""Hypothesis fuzz of the JSON-RPC layer over a real socket to a live daphne.

Malformed frames, wrong types, sizes around the frame limit, batches (empty, mixed, over the
limit), deep nesting, binary frames. After every example the socket must still answer
``system.ping``; every answer must be well-formed JSON-RPC, and never an internal error.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

pytestmark = pytest.mark.django_db(transaction=True)
FRAME_LIMIT = 64 * 1024
KNOWN = [
    "system.ping", "system.info", "session.info", "session.authenticate", "persona.list",
    "persona.get", "persona.state", "memory.search", "memory.list", "conversation.history",
    "events.subscribe", "events.unsubscribe", "rpc.discover", "initialize", "ping",
    "tools/list", "tools/call", "resources/read", "prompts/get", "room.list", "lorebook.list",
    "persona.create", "memory.store", "conversation.send_message", "bot.start",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
ids = st.one_of(st.integers(-(2**64), 2**64), st.text(max_size=20), st.none(), values)
requests = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.one_of(st.just("2.0"), values),
        "method": st.one_of(st.sampled_from(KNOWN), values),
        "id": ids,
        "params": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "persona_id": st.one_of(st.sampled_from(["alice", "rook"]), values),
                    "query": values,
                    "limit": values,
                    "topics": values,
                    "token": values,
                    "name": values,
                    "arguments": values,
                },
            ),
            values,
        ),
    },
)


def nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


frames = st.one_of(
    requests.map(json.dumps),
    st.lists(requests, min_size=0, max_size=60).map(json.dumps),  # batches, empty, oversized
    st.lists(values, max_size=8).map(json.dumps),  # batches of junk
    values.map(json.dumps),
    st.text(max_size=200),  # not JSON at all
    requests.map(json.dumps).map(lambda t: t[: max(1, len(t) // 2)]),  # truncated
    st.tuples(st.integers(1, 5000), st.sampled_from(["array", "object"])).map(lambda d: nested(*d)),
    st.integers(FRAME_LIMIT - 100, FRAME_LIMIT + 100).map(
        lambda n: '{"jsonrpc":"2.0","id":1,"method":"system.ping","p":"' + "x" * n + '"}'
    ),
    st.binary(max_size=100),  # binary frames
)


def check_message(message) -> None:
    items = message if isinstance(message, list) else [message]
    assert items, "an empty batch answer is never sent"
    for item in items:
        assert isinstance(item, dict) and item.get("jsonrpc") == "2.0", item
        if "method" in item and "id" not in item:
            continue  # a notification from the server (event, chunk)
        assert ("result" in item) != ("error" in item), item
        assert "id" in item
        if "error" in item:
            error = item["error"]
            assert isinstance(error["code"], int) and isinstance(error["message"], str)
            assert error["code"] != -32603, item  # never an internal error


@pytest.fixture
def fuzz_socket(live_server_proc, demo, make_key):
    srv = live_server_proc(
        {"PERSONAMCP_MAX_FRAME_BYTES": str(FRAME_LIMIT), "PERSONAMCP_RATE_LIMIT": "10000000"}
    )
    key = make_key("read")
    with connect(
        srv.ws, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None
    ) as ws:
        yield ws


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames)
def test_any_frame_leaves_a_working_socket(fuzz_socket, frame):
    ws = fuzz_socket
    ws.send(frame)
    marker = "ping-after"
    ws.send(json.dumps({"jsonrpc": "2.0", "id": marker, "method": "system.ping"}))
    while True:
        message = json.loads(ws.recv(timeout=30))
        check_message(message)
        if isinstance(message, dict) and message.get("id") == marker:
            assert message["result"]["pong"] is True
            break
