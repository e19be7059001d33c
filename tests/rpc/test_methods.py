"""The system, session, persona, events and standard MCP methods over WebSocket."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def client(rpc_connect, demo, akey):
    return await rpc_connect(token=await akey("write"))


async def test_system_ping_info_status(client):
    ping = await client.result("system.ping")
    assert ping["pong"] is True and ping["time"].endswith("Z")
    info = await client.result("system.info")
    assert info["protocol_version"] == "1"
    assert {"provider", "model"} <= set(info["llm"])
    assert {"model", "dimensions"} <= set(info["embedding"])
    assert isinstance(info["capabilities"], list)
    status = await client.result("system.status")
    assert status["personas"] == 4
    assert status["active_sessions"] >= 1
    assert {"status", "database", "channel_layer", "llm_available"} <= set(status)


async def test_session_info_and_clear(client, demo):
    info = await client.result("session.info")
    assert info["active_persona"] is None and info["active_conversation"] is None
    assert info["authenticated"] is True and info["subscriptions"] == []
    switched = await client.result("persona.switch", {"persona_id": "alice"})
    assert switched["persona"]["slug"] == "alice"
    info = await client.result("session.info")
    assert info["active_persona"] == {"id": str(demo["alice"].id), "slug": "alice"}
    assert await client.result("session.clear") == {"cleared": True}
    info = await client.result("session.info")
    assert info["active_persona"] is None and info["active_conversation"] is None


async def test_persona_list_filters_and_paginates(client):
    page = await client.result("persona.list", {"limit": 3})
    assert len(page["personas"]) == 3 and page["next_cursor"]
    rest = await client.result("persona.list", {"limit": 3, "cursor": page["next_cursor"]})
    assert len(rest["personas"]) == 1 and rest["next_cursor"] is None
    names = [p["name"] for p in page["personas"] + rest["personas"]]
    assert names == sorted(names)
    found = await client.result("persona.list", {"search": "innkeeper"})
    assert [p["slug"] for p in found["personas"]] == ["alice"]
    tagged = await client.result("persona.list", {"tags": ["tavern"]})
    assert "alice" in [p["slug"] for p in tagged["personas"]]
    assert (await client.call("persona.list", {"limit": 201}))["error"]["code"] == -32602


async def test_persona_get_by_slug_and_id(client, demo):
    by_slug = await client.result("persona.get", {"persona_id": "alice"})
    by_id = await client.result("persona.get", {"persona_id": str(demo["alice"].id)})
    assert by_slug == by_id
    for field in (
        "id",
        "slug",
        "name",
        "description",
        "personality",
        "speaking_style",
        "background",
        "goals",
        "interests",
        "tags",
        "greeting",
        "system_prompt",
        "avatar_url",
        "created_at",
        "updated_at",
        "state",
        "stats",
    ):
        assert field in by_slug
    assert set(by_slug["personality"]) == {
        "openness",
        "conscientiousness",
        "extraversion",
        "agreeableness",
        "neuroticism",
    }
    missing = await client.call("persona.get", {"persona_id": "nobody"})
    assert missing["error"]["code"] == -32001


async def test_persona_get_sees_every_change_at_once(client, demo):
    """The per-process read cache never serves a persona older than the database."""
    from personas.models import PersonaState

    before = await client.result("persona.get", {"persona_id": "alice"})
    await sync_to_async(PersonaState.objects.filter(persona=demo["alice"]).update)(mood=0.5)
    after = await client.result("persona.get", {"persona_id": "alice"})
    assert before["state"]["mood"] != 0.5 and after["state"]["mood"] == 0.5
    await client.result("persona.update", {"persona_id": "alice", "greeting": "Hi there"})
    assert (await client.result("persona.get", {"persona_id": "alice"}))["greeting"] == "Hi there"


async def test_persona_create_update_delete(client):
    created = await client.result(
        "persona.create",
        {
            "name": "Mira Vale",
            "tags": ["scifi"],
            "personality": {"openness": 0.9},
            "goals": ["find the signal"],
        },
    )
    assert created["slug"] == "mira-vale" and created["personality"]["openness"] == 0.9
    assert created["state"]["emotion"] and created["stats"]["relationships"] == 0
    dup = await client.call("persona.create", {"name": "Other", "slug": "mira-vale"})
    assert dup["error"]["code"] == -32040
    bad = await client.call("persona.create", {"name": "X", "personality": {"openness": 3}})
    assert bad["error"]["code"] == -32602
    assert bad["error"]["data"]["errors"][0]["field"] == "personality.openness"
    updated = await client.result(
        "persona.update", {"persona_id": "mira-vale", "description": "A radio astronomer."}
    )
    assert updated["description"] == "A radio astronomer." and updated["name"] == "Mira Vale"
    deleted = await client.result("persona.delete", {"persona_id": "mira-vale"})
    assert deleted == {"deleted": True, "persona_id": created["id"]}
    gone = await client.call("persona.get", {"persona_id": created["id"]})
    assert gone["error"]["code"] == -32001


async def test_persona_state_uses_active_persona(client):
    response = await client.call("persona.state")
    assert response["error"]["code"] == -32002
    await client.result("persona.switch", {"persona_id": "rook"})
    state = await client.result("persona.state")
    assert set(state) == {"mood", "emotion", "energy", "social_battery", "stress", "updated_at"}
    assert (await client.result("persona.state", {"persona_id": "alice"}))["emotion"]


async def test_switch_to_unknown_persona_returns_32001(client):
    assert (await client.call("persona.switch", {"persona_id": "ghost"}))["error"]["code"] == -32001


async def test_two_connections_switch_concurrently_and_stay_isolated(rpc_connect, demo, akey):
    key = await akey("write")
    a, b = await rpc_connect(token=key), await rpc_connect(token=key)
    ra, rb = await asyncio.gather(
        a.result("persona.switch", {"persona_id": "alice"}),
        b.result("persona.switch", {"persona_id": "rook"}),
    )
    assert ra["persona"]["slug"] == "alice" and rb["persona"]["slug"] == "rook"
    ia, ib = await asyncio.gather(a.result("session.info"), b.result("session.info"))
    assert ia["active_persona"]["slug"] == "alice"
    assert ib["active_persona"]["slug"] == "rook"
    assert ia["session_id"] != ib["session_id"]
    await a.result("events.subscribe", {"topics": ["persona.alice"]})
    await b.result("session.clear")
    ia, ib = await asyncio.gather(a.result("session.info"), b.result("session.info"))
    assert ia["active_persona"]["slug"] == "alice" and ia["subscriptions"] == ["persona.alice"]
    assert ib["active_persona"] is None and ib["subscriptions"] == []


async def test_events_subscribe_and_unsubscribe(client):
    result = await client.result("events.subscribe", {"topics": ["persona.*", "persona.alice"]})
    assert result == {"subscribed": ["persona.*", "persona.alice"]}
    bad = await client.call("events.subscribe", {"topics": ["persona alice!"]})
    assert (
        bad["error"]["code"] == -32602 and bad["error"]["data"]["errors"][0]["field"] == "topics.0"
    )
    assert (await client.call("events.subscribe", {"topics": []}))["error"]["code"] == -32602
    result = await client.result("events.unsubscribe", {"topics": ["persona.*", "bot.*"]})
    assert result == {"unsubscribed": ["persona.*"]}
    assert (await client.result("session.info"))["subscriptions"] == ["persona.alice"]


async def test_rpc_discover_is_a_valid_openrpc_document(client):
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    from personamcp.rpc.registry import registry

    doc = await client.result("rpc.discover")
    assert doc["openrpc"].startswith("1.")
    assert {"title", "version"} <= set(doc["info"])
    names = [m["name"] for m in doc["methods"]]
    assert sorted(names) == sorted(m.name for m in registry.all())
    assert len(names) == len(set(names))
    for required in (
        "system.ping",
        "session.info",
        "persona.get",
        "events.subscribe",
        "initialize",
        "tools/call",
    ):
        assert required in names
    refs = Registry().with_resource("urn:doc", DRAFT202012.create_resource(doc))
    for method in doc["methods"]:
        assert method["paramStructure"] == "by-name"
        assert {"name", "params", "result"} <= set(method)
        for param in method["params"]:
            assert {"name", "schema", "required"} <= set(param)
            Draft202012Validator.check_schema(param["schema"])
        Draft202012Validator.check_schema(method["result"]["schema"])
    # $refs resolve inside the document, and a real result matches its documented schema
    index = names.index("persona.get")
    get = doc["methods"][index]
    schema = {"$ref": f"urn:doc#/methods/{index}/result/schema"}
    sample = await client.result("persona.get", {"persona_id": "alice"})
    Draft202012Validator(schema, registry=refs).validate(sample)
    broken = dict(sample, personality="high")
    assert not Draft202012Validator(schema, registry=refs).is_valid(broken)
    assert get["params"][0]["name"] == "persona_id" and get["params"][0]["required"] is True
    codes = {e["code"] for e in doc["components"]["errors"].values()}
    assert {-32001, -32020, -32021, -32029} <= codes


async def test_mcp_initialize_tools_resources_prompts(client, demo):
    init = await client.result(
        "initialize",
        {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t"},
            "_meta": {"progressToken": 1},
        },
    )
    assert init["protocolVersion"] == "2025-11-25"
    assert set(init["capabilities"]) == {"tools", "resources", "prompts"}
    old = await client.result("initialize", {"protocolVersion": "2024-01-01"})
    assert old["protocolVersion"] in ("2025-11-25", "2025-06-18", "2025-03-26")
    await client.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert await client.result("ping", {"_meta": {"x": 1}}) == {}
    tools = (await client.result("tools/list", {"_meta": {}}))["tools"]
    names = {t["name"] for t in tools}
    assert {"list_personas", "get_persona"} <= names
    for tool in tools:
        assert tool["inputSchema"]["type"] == "object"
    called = await client.result(
        "tools/call", {"name": "get_persona", "arguments": {"persona_id": "alice"}, "_meta": {}}
    )
    assert called["isError"] is False and called["structuredContent"]["slug"] == "alice"
    failed = await client.result("tools/call", {"name": "get_persona", "arguments": {}})
    assert failed["isError"] is True and "persona_id" in failed["content"][0]["text"]
    unknown = await client.call("tools/call", {"name": "fly", "arguments": {}})
    assert unknown["error"]["code"] == -32602
    resources = (await client.result("resources/list"))["resources"]
    assert {r["uri"] for r in resources} == {f"persona://{s}" for s in demo}
    read = await client.result("resources/read", {"uri": "persona://alice"})
    assert '"slug":"alice"' in read["contents"][0]["text"].replace(" ", "")
    templates = await client.result("resources/templates/list")
    assert templates["resourceTemplates"][0]["uriTemplate"] == "persona://{slug}"
    prompts = await client.result("prompts/list")
    assert prompts["prompts"][0]["name"] == "speak_as"
    prompt = await client.result(
        "prompts/get", {"name": "speak_as", "arguments": {"persona": "rook"}}
    )
    assert demo["rook"].name in prompt["messages"][0]["content"]["text"]


async def test_unknown_meta_sibling_is_still_rejected(client):
    response = await client.call("ping", {"meta": {}})
    assert response["error"]["code"] == -32602
