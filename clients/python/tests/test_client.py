"""The Python client against the live server (and a misbehaving one)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import personamcp_client as pmc
import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "chat.py"


@pytest.fixture
async def client(server):
    async with pmc.Client(server.url, server.key, request_timeout=30) as c:
        yield c


async def test_call_returns_the_result(client):
    assert (await client.ping())["pong"] is True
    alice = await client.persona_get("alice")
    assert alice["slug"] == "alice"
    assert client.scopes == ["read", "write"]


async def test_unknown_persona_raises_persona_not_found_with_code_and_data(client):
    with pytest.raises(pmc.PersonaNotFound) as err:
        await client.persona_get("nobody-here")
    assert err.value.code == -32001
    assert isinstance(err.value, pmc.RpcError)


async def test_unknown_param_raises_invalid_params_listing_the_field(client):
    with pytest.raises(pmc.InvalidParams) as err:
        await client.call("persona.get", {"persona_id": "alice", "colour": "red"})
    assert [e["field"] for e in err.value.errors] == ["colour"]


async def test_key_without_the_scope_is_forbidden(server):
    async with pmc.Client(server.url, server.read_key) as reader:
        assert (await reader.persona_get("rook"))["slug"] == "rook"
        with pytest.raises(pmc.Forbidden) as err:
            await reader.persona_create("Should Not Exist")
        assert err.value.code == -32021


async def test_a_refused_key_fails_connect(server):
    with pytest.raises(pmc.Unauthenticated):
        await pmc.Client(server.url, "pmcp_bad_key", reconnect=False).connect()


async def test_send_returns_the_turn_result(client, server):
    result = await client.send("Hello there!", persona_id="alice", sender="py-send")
    assert result["response"] == server.reply
    assert result["persona_id"]
    assert result["conversation_id"]


async def test_stream_yields_deltas_in_order_then_the_result(client, server):
    await client.switch("rook")
    stream = client.stream("Tell me about the road north", sender="py-stream")
    deltas = [d async for d in stream]
    result = await stream.result()
    assert len(deltas) > 3
    assert "".join(deltas) == result["response"] == server.reply == stream.text
    assert stream.conversation_id == result["conversation_id"]


async def test_concurrent_requests_on_one_socket_are_matched_by_id(client):
    stream = client.stream("A long story please", persona_id="elias", sender="py-conc")
    names = ["alice", "rook", "elias", "pip"] * 5
    gets = await asyncio.gather(*(client.persona_get(n) for n in names), client.ping())
    assert [p["slug"] for p in gets[:-1]] == names
    assert gets[-1]["pong"] is True
    assert not stream._task.done()  # the pings did not wait for the turn
    assert (await stream)["response"]


async def test_cancel_ends_the_stream_with_cancelled_and_keeps_the_partial_reply(client):
    stream = client.stream("Talk for a while", persona_id="alice", sender="py-cancel")
    iterator = stream.__aiter__()
    first = await iterator.__anext__()
    assert first
    assert await stream.cancel() is True
    with pytest.raises(pmc.Cancelled) as err:
        await stream.result()
    assert err.value.code == -32031
    history = await client.history(stream.conversation_id)
    assert history["messages"][-1]["status"] == "cancelled"
    assert history["messages"][-1]["content"].startswith(first.strip())


async def test_subscribe_delivers_events_and_unsubscribe_stops_them(client, server):
    seen: asyncio.Queue = asyncio.Queue()
    sub = await client.subscribe(["persona.pip"], seen.put_nowait)
    async with pmc.Client(server.url, server.key) as other:
        await other.persona_update("pip", description=f"seen by the python client {time.time()}")
        event = await asyncio.wait_for(seen.get(), 10)
        assert event["type"] == "persona.updated"
        assert event["data"]["slug"] == "pip"
        await sub.unsubscribe()
        assert (await client.session_info())["subscriptions"] == []


async def test_reconnects_after_a_restart_and_restores_the_session(server):
    events: asyncio.Queue = asyncio.Queue()
    async with pmc.Client(server.url, server.key, backoff_initial=0.05, backoff_max=0.5) as c:
        await c.switch("elias")
        await c.subscribe("persona.*", events.put_nowait)
        assert c.connects == 1
        await asyncio.to_thread(server.restart)
        info = await c.session_info()  # waits while the client reconnects
        assert c.connects == 2
        assert info["authenticated"] is True
        assert info["subscriptions"] == ["persona.*"]
        assert info["active_persona"]["slug"] == "elias"
        reply = await c.send("Are you back?", sender="py-reconnect")  # the active persona
        assert reply["response"]
        await c.persona_update("elias", description=f"after the restart {time.time()}")
        event = await asyncio.wait_for(events.get(), 10)
        assert event["data"]["slug"] == "elias"


async def test_request_timeout_raises_and_the_client_stays_usable(server):
    async with pmc.Client(server.bad_url) as bad:
        with pytest.raises(pmc.RequestTimeout):
            await bad.call("silent", timeout=0.3)
        assert (await bad.call("echo", {"x": 1}))["params"] == {"x": 1}
        assert bad._pending == {}


async def test_bad_frames_and_unknown_ids_are_logged_and_ignored(server, caplog):
    caplog.set_level(logging.WARNING, logger="personamcp_client")
    async with pmc.Client(server.bad_url) as bad:
        answers = await asyncio.gather(*(bad.call("echo", {"n": i}) for i in range(5)))
        assert [a["params"]["n"] for a in answers] == list(range(5))
        with pytest.raises(pmc.RpcError) as err:
            await bad.call("fail")
        assert (err.value.code, err.value.data) == (-32099, {"n": 7})
    text = caplog.text
    assert "not JSON" in text
    assert "binary frame" in text
    assert "unknown id" in text
    assert "neither or both" in text


async def test_v11_wrappers_send_the_documented_methods_and_params(server):
    async with pmc.Client(server.bad_url) as bad:
        pos = {"x": 1, "y": 2, "z": 0}
        calls = [
            (bad.world_event("gift", "a rose", persona_id="alice", actor="p1", importance=0.7),
             "world.event",
             {"type": "gift", "description": "a rose", "persona_id": "alice", "actor": "p1",
              "importance": 0.7}),
            (bad.scene_move("r1", "alice", pos), "scene.move",
             {"room_id": "r1", "entity_id": "alice", "position": pos}),
            (bad.trigger_create("alice", "greet", {"event_type": "arrive"}, {"say": "hi"},
                                once=True), "trigger.create",
             {"persona_id": "alice", "name": "greet", "when": {"event_type": "arrive"},
              "then": {"say": "hi"}, "once": True}),
            (bad.trigger_list("alice"), "trigger.list", {"persona_id": "alice"}),
            (bad.trigger_delete("t1"), "trigger.delete", {"trigger_id": "t1"}),
            (bad.goal_set("alice", "find the key"), "goal.set",
             {"persona_id": "alice", "goal": "find the key"}),
            (bad.goal_list("alice"), "goal.list", {"persona_id": "alice"}),
            (bad.goal_complete("alice", "g1"), "goal.complete",
             {"persona_id": "alice", "goal": "g1"}),
            (bad.lorebook_list(persona_id="alice"), "lorebook.list", {"persona_id": "alice"}),
            (bad.lorebook_create("World", [{"keys": ["x"], "content": "y"}]), "lorebook.create",
             {"name": "World", "entries": [{"keys": ["x"], "content": "y"}]}),
            (bad.lorebook_attach("l1", room_id="r1"), "lorebook.attach",
             {"lorebook_id": "l1", "room_id": "r1"}),
            (bad.lorebook_export("l1", "character_book"), "lorebook.export",
             {"lorebook_id": "l1", "format": "character_book"}),
        ]  # fmt: skip
        for coro, method, params in calls:
            assert await coro == {"method": method, "params": params}


async def test_close_fails_waiting_requests_with_client_closed(server):
    bad = await pmc.Client(server.bad_url).connect()
    waiting = asyncio.ensure_future(bad.call("silent", timeout=30))
    await asyncio.sleep(0)
    await bad.close()
    with pytest.raises((pmc.ClientClosed, pmc.ConnectionLost)):
        await waiting
    with pytest.raises(pmc.ClientClosed):
        await bad.ping()


def test_backoff_grows_with_jitter_up_to_the_maximum():
    for attempt, ceiling in [(0, 0.2), (1, 0.4), (3, 1.6), (10, 5.0), (50, 5.0)]:
        delays = {pmc.backoff_delay(attempt, 0.2, 5.0) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jitter


def test_topic_patterns_match_by_wildcard_id_or_slug():
    event = {"topic": "persona.42", "type": "persona.updated", "data": {"id": 42, "slug": "al"}}
    assert pmc.topic_matches("persona.*", event)
    assert pmc.topic_matches("*", event)
    assert pmc.topic_matches("persona.al", event)
    assert pmc.topic_matches("persona.42", event)
    assert not pmc.topic_matches("persona.bob", event)
    assert not pmc.topic_matches("room.*", event)


def test_sync_client_sends_and_streams(server):
    with pmc.SyncClient(server.url, server.key) as c:
        assert c.persona_get("alice")["slug"] == "alice"
        stream = c.stream("Hello from sync", persona_id="pip", sender="py-sync")
        deltas = list(stream)
        assert "".join(deltas) == stream.result["response"]
        with pytest.raises(pmc.PersonaNotFound):
            c.switch("nobody-here")


def test_example_chat_streams_then_prints_the_result_as_json(server):
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), server.url, "rook", "Good evening"],
        env={"PERSONAMCP_KEY": server.key, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    deltas, last = out.rstrip("\n").rsplit("\n", 1)
    result = json.loads(last)
    assert deltas == result["response"]


async def test_lorebook_wrappers_against_the_live_server(client):
    book = await client.lorebook_create(
        "Client Test Lore", [{"keys": ["mill"], "content": "The old mill burned down."}]
    )
    alice = await client.persona_get("alice")
    attached = await client.lorebook_attach(book["id"], persona_id="alice")
    assert alice["id"] in attached["persona_ids"]
    listed = await client.lorebook_list(persona_id="alice")
    assert book["id"] in [b["id"] for b in listed["lorebooks"]]
    assert (await client.lorebook_get(book["id"]))["entries"][0]["keys"] == ["mill"]
    exported = await client.lorebook_export(book["id"], "character_book")
    assert "The old mill burned down." in json.dumps(exported["data"])
    detached = await client.lorebook_detach(book["id"], persona_id="alice")
    assert alice["id"] not in detached["persona_ids"]
    assert (await client.lorebook_delete(book["id"]))["deleted"] is True
    with pytest.raises(pmc.RpcError):
        await client.lorebook_get(book["id"])


async def test_world_event_and_scene_move_against_the_live_server(client):
    room = await client.call(
        "room.create",
        {"name": "Client Test Scene", "persona_ids": ["alice", "rook"], "spatial": True,
         "hearing_radius": 5},
    )  # fmt: skip
    moved = await client.scene_move(room["id"], "rook", {"x": 40, "y": 0, "z": 0})
    assert moved["entity_kind"] == "persona" and moved["position"] == {"x": 40, "y": 0, "z": 0}
    seen = await client.world_event(
        "gift", "A player hands Alice a rose.", room_id=room["id"], actor="client-player",
        target="alice", position={"x": 1, "y": 0, "z": 0}, data={"actor_name": "Ann"},
    )  # fmt: skip
    [alice] = seen["perceived_by"]  # rook is 39 m away
    assert alice["persona_slug"] == "alice" and alice["role"] == "target"
    assert alice["emotion"] == "grateful" and alice["relationship"]["affinity"] > 0
    with pytest.raises(pmc.RpcError) as bad:
        await client.scene_move(room["id"], "rook", {"x": "far", "y": 0, "z": 0})
    assert bad.value.code == -32602
    state = await client.call("room.state", {"room_id": room["id"]})
    by_slug = {p["slug"]: p["position"] for p in state["positions"]}
    assert by_slug["rook"] == {"x": 40, "y": 0, "z": 0}


async def test_triggers_and_goals_live(client):
    """The v1.1 trigger.* and goal.* wrappers against the real server."""
    made = await client.trigger_create(
        "alice", "client-password", {"keywords": ["plugh"]}, {"say": "The door opens."}, once=True
    )
    try:
        listed = await client.trigger_list("alice")
        assert made["id"] in [t["id"] for t in listed["triggers"]]
        reply = await client.send("Plugh!", persona_id="alice", sender="client-test")
        assert reply["response"] == "The door opens."
        assert [f["trigger_id"] for f in reply["triggers_fired"]] == [made["id"]]
        assert set(reply["expression"]) >= {"emotion", "intensity"} and reply["actions"] == []
        with pytest.raises(pmc.InvalidParams) as err:
            await client.trigger_create("alice", "bad", {"keyword": ["x"]}, {"say": "y"})
        assert "when.keyword" in json.dumps(err.value.data)
    finally:
        assert (await client.trigger_delete(made["id"]))["deleted"] is True
    goal = await client.goal_set("alice", "Learn the client's secret word", priority=4)
    assert goal["status"] == "active" and goal["priority"] == 4
    assert goal["id"] in [g["id"] for g in (await client.goal_list("alice"))["goals"]]
    done = await client.goal_complete("alice", goal["id"])
    assert done["status"] == "completed"
