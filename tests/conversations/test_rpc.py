"""conversation.* over the real ASGI app (WebSocket JSON-RPC)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from tests.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(make_key, demo):
    return make_key("write")


async def test_send_message_result_history_and_session(rpc_connect, key, demo, celery_worker):
    c = await rpc_connect(token=key)
    await c.result("persona.switch", {"persona_id": "alice"})
    result = await c.result(
        "conversation.send_message", {"content": "Hello there!", "sender_name": "Bob"}
    )
    assert result["persona_id"] == str(demo["alice"].id) and result["response"]
    info = await c.result("session.info")
    assert info["active_conversation"] == result["conversation_id"]
    history = await c.result("conversation.history", {"conversation_id": result["conversation_id"]})
    assert [(m["role"], m["status"]) for m in history["messages"]] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert history["messages"][1]["content"] == result["response"]
    assert history["messages"][1]["id"] == result["message_id"]
    # persona.switch finds the open conversation again, from a new connection
    c2 = await rpc_connect(token=key)
    switched = await c2.result("persona.switch", {"persona_id": "alice"})
    assert switched["conversation_id"] == result["conversation_id"]
    listed = await c2.result("conversation.list", {"persona_id": "alice"})
    assert [x["id"] for x in listed["conversations"]] == [result["conversation_id"]]
    assert listed["conversations"][0]["message_count"] == 2


async def test_history_paging_with_before(rpc_connect, key, demo, celery_worker):
    c = await rpc_connect(token=key)
    for i in range(3):
        r = await c.result("conversation.send_message", {"persona_id": "pip", "content": f"m{i}"})
    cid = r["conversation_id"]
    last_two = await c.result("conversation.history", {"conversation_id": cid, "limit": 2})
    assert last_two["messages"][0]["content"] == "m2"
    earlier = await c.result(
        "conversation.history",
        {"conversation_id": cid, "limit": 2, "before": last_two["messages"][0]["id"]},
    )
    assert earlier["messages"][0]["content"] == "m1"


async def test_streaming_sends_chunks_then_result(rpc_connect, key, demo, fake_ollama):
    c = await rpc_connect(token=key)
    response = await c.call(
        "conversation.send_message", {"persona_id": "alice", "content": "Hi!", "stream": True}
    )
    result = response["result"]
    chunks = [n for n in c.notifications if n["method"] == "conversation.chunk"]
    assert len(chunks) == len(fake_ollama.pieces())
    assert [n["params"]["index"] for n in chunks] == list(range(len(chunks)))
    assert all(n["params"]["request_id"] == response["id"] for n in chunks)
    assert all(n["params"]["conversation_id"] == result["conversation_id"] for n in chunks)
    assert "".join(n["params"]["delta"] for n in chunks) == result["response"] == fake_ollama.reply
    assert result["timing"]["first_chunk_ms"] is not None


async def test_concurrent_turn_in_same_conversation_is_busy(rpc_connect, key, demo, fake_ollama):
    c = await rpc_connect(token=key)
    await c.result("conversation.send_message", {"persona_id": "alice", "content": "first"})
    fake_ollama.mode, fake_ollama.delay = "slow", 0.1
    await c.send(
        {
            "jsonrpc": "2.0",
            "id": "slow",
            "method": "conversation.send_message",
            "params": {"persona_id": "alice", "content": "long one", "stream": True},
        }
    )
    await c.notification("conversation.chunk", timeout=10)
    busy = await c.call("conversation.send_message", {"persona_id": "alice", "content": "again"})
    assert busy["error"]["code"] == -32030
    # system.ping is not blocked by the running turn
    assert (await c.result("system.ping"))["pong"] is True
    done = await c.response("slow", timeout=20)
    assert "result" in done


async def test_turns_in_different_conversations_run_in_parallel(
    rpc_connect, key, demo, fake_ollama
):
    fake_ollama.mode, fake_ollama.delay = "slow", 0.1  # ~0.6 s per reply
    c = await rpc_connect(token=key)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await c.send(
        {
            "jsonrpc": "2.0",
            "id": "a",
            "method": "conversation.send_message",
            "params": {"persona_id": "alice", "content": "x", "sender": "p1"},
        }
    )
    await c.send(
        {
            "jsonrpc": "2.0",
            "id": "b",
            "method": "conversation.send_message",
            "params": {"persona_id": "alice", "content": "y", "sender": "p2"},
        }
    )
    got = {}
    while len(got) < 2:
        message = await c.receive(timeout=20)
        if "id" in message:
            got[message["id"]] = message
    a, b = got["a"], got["b"]
    elapsed = loop.time() - start
    assert "result" in a and "result" in b
    one_after_the_other = a["result"]["timing"]["total_ms"] + b["result"]["timing"]["total_ms"]
    assert elapsed * 1000 < 0.8 * one_after_the_other  # the two turns overlapped


async def test_cancel_mid_stream(rpc_connect, key, demo, fake_ollama):
    fake_ollama.mode, fake_ollama.delay = "slow", 0.2
    c = await rpc_connect(token=key)
    await c.send(
        {
            "jsonrpc": "2.0",
            "id": 77,
            "method": "conversation.send_message",
            "params": {"persona_id": "alice", "content": "tell me a story", "stream": True},
        }
    )
    first = await c.notification("conversation.chunk", timeout=10)
    cancelled = await c.result("conversation.cancel", {"request_id": 77})
    assert cancelled == {"cancelled": True}
    response = await c.response(77, timeout=10)
    assert response["error"]["code"] == -32031
    history = await c.result(
        "conversation.history", {"conversation_id": first["params"]["conversation_id"]}
    )
    statuses = [(m["role"], m["status"]) for m in history["messages"]]
    assert statuses == [("user", "complete"), ("assistant", "cancelled")]
    partial = history["messages"][1]["content"]
    assert partial.startswith(first["params"]["delta"]) and partial != fake_ollama.reply
    assert (await c.result("conversation.cancel", {"request_id": 77})) == {"cancelled": False}


async def test_disconnect_mid_stream_leaves_consistent_history(rpc_connect, key, demo, fake_ollama):
    fake_ollama.mode, fake_ollama.delay = "slow", 0.2
    c = await rpc_connect(token=key)
    await c.send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "conversation.send_message",
            "params": {"persona_id": "alice", "content": "a long tale", "stream": True},
        }
    )
    await c.notification("conversation.chunk", timeout=10)
    await c.close()

    def stored():
        return list(Message.objects.order_by("id").values_list("role", "status"))

    rows = await sync_to_async(eventually)(lambda: len(stored()) == 2 and stored(), 10)
    assert rows == [("user", "complete"), ("assistant", "cancelled")]
    c2 = await rpc_connect(token=key)
    fake_ollama.mode = "ok"
    result = await c2.result("conversation.send_message", {"persona_id": "alice", "content": "hi"})
    assert result["response"] == fake_ollama.reply


async def test_llm_errors_map_to_codes(rpc_connect, key, demo, fake_ollama, settings):
    c = await rpc_connect(token=key)
    fake_ollama.mode = "error"
    r = await c.call("conversation.send_message", {"persona_id": "alice", "content": "hi"})
    assert r["error"]["code"] == -32010
    settings.LLM_TIMEOUT = 0.3
    fake_ollama.mode = "stall"
    r = await c.call("conversation.send_message", {"persona_id": "alice", "content": "hi"})
    assert r["error"]["code"] == -32011


async def test_events_after_a_turn(rpc_connect, key, demo, celery_worker):
    c = await rpc_connect(token=key)
    await c.result("events.subscribe", {"topics": ["persona.alice"]})
    await c.result(
        "conversation.send_message",
        {"persona_id": "alice", "content": "You are wonderful, thank you!"},
    )
    seen = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not {"persona.state_changed", "relationship.changed"} <= seen:
        note = await c.notification("event", timeout=max(0.1, deadline - loop.time()))
        seen.add(note["params"]["type"])
        if note["params"]["type"] == "persona.state_changed":
            assert note["params"]["data"]["mood"] > 0
    state = await c.result("persona.state", {"persona_id": "alice"})
    assert state["mood"] > 0
    rel = await c.result("relationship.get", {"persona_id": "alice", "other_id": "apikey:test"})
    assert rel["interactions"] == 1 and rel["stage"] == "stranger"


async def test_errors_for_unknown_conversation_and_params(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    r = await c.call("conversation.history", {"conversation_id": "nope"})
    assert r["error"]["code"] == -32003
    r = await c.call("conversation.send_message", {"content": "hi"})
    assert r["error"]["code"] == -32002
    r = await c.call(
        "conversation.send_message", {"persona_id": "alice", "content": "hi", "colour": "red"}
    )
    assert r["error"]["code"] == -32602
    assert r["error"]["data"]["errors"][0]["field"] == "colour"


@pytest.fixture
def read_key(make_key, demo):
    return make_key("read")


async def test_read_key_cannot_send(rpc_connect, read_key):
    c = await rpc_connect(token=read_key)
    r = await c.call("conversation.send_message", {"persona_id": "alice", "content": "hi"})
    assert r["error"]["code"] == -32021


async def test_end_over_rpc(rpc_connect, key, demo, celery_worker):
    c = await rpc_connect(token=key)
    r = await c.result(
        "conversation.send_message",
        {"persona_id": "elias", "content": "The third volume is in Vell."},
    )
    ended = await c.result("conversation.end", {"conversation_id": r["conversation_id"]})
    assert ended["ended"] is True and "third volume" in ended["summary"]
    assert (await c.result("session.info"))["active_conversation"] is None


async def test_reads_do_not_wait_behind_turns_that_fill_the_worker_threads(
    rpc_connect, key, demo, fake_ollama, settings
):
    """Turns hold a thread for the whole LLM answer; with one pool for every sync call a
    ``persona.get`` waited until turns finished (seconds at 100 turns in flight)."""
    from personamcp.rpc import consumer

    settings.PERSONAMCP = {**settings.PERSONAMCP, "WORKER_THREADS": 4, "MAX_TURNS_PER_KEY": 0}
    consumer._executors.discard(id(asyncio.get_running_loop()))  # this loop: 4 threads
    fake_ollama.mode, fake_ollama.delay = "slow", 0.2  # about 1.2 s per reply
    c = await rpc_connect(token=key)
    turns = [f"t{i}" for i in range(6)]  # more turns than worker threads
    for name in turns:
        await c.send(
            {
                "jsonrpc": "2.0",
                "id": name,
                "method": "conversation.send_message",
                "params": {"persona_id": "alice", "content": "x", "sender": name, "stream": True},
            }
        )
    await c.notification("conversation.chunk", timeout=10)  # the turns are running
    await c.send(
        {"jsonrpc": "2.0", "id": "get", "method": "persona.get", "params": {"persona_id": "pip"}}
    )
    order = []
    while len(order) < len(turns) + 1:
        message = await c.receive(timeout=30)
        if "id" in message:
            assert "result" in message, message
            order.append(message["id"])
    assert order[0] == "get", order  # answered while every turn was still in flight
    assert sorted(order[1:]) == turns
