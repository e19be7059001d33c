"""memory.* over JSON-RPC and /api/memory/ over REST: same services, same JSON, clear errors."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from memory.models import Memory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def doors(rpc_connect, demo, make_key):
    from rest_framework.test import APIClient

    key = await sync_to_async(make_key)("write")
    rpc = await rpc_connect(token=key)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    async def rest(method: str, url: str, data=None, status=(200, 201)):
        response = await sync_to_async(getattr(api, method))(url, data, format="json")
        assert response.status_code in status, response.content
        return response.json()

    return rpc, rest


async def seed(rpc):
    for content, kind in [
        ("The traveller Bob owes me three silver coins.", "fact"),
        ("A storm flooded the cellar last spring.", "episodic"),
        ("Bob sings badly but loudly.", "episodic"),
    ]:
        await rpc.result("memory.store", {"persona_id": "alice", "content": content, "kind": kind})


async def test_search_parity(doors):
    rpc, rest = doors
    await seed(rpc)
    over_rpc = await rpc.result(
        "memory.search", {"persona_id": "alice", "query": "who owes me money", "limit": 2}
    )
    over_rest = await rest("get", "/api/memory/search?persona=alice&q=who+owes+me+money&limit=2")
    assert [m["id"] for m in over_rpc["memories"]] == [m["id"] for m in over_rest["memories"]]
    assert "owes me three silver" in over_rpc["memories"][0]["content"]
    volatile = {"last_accessed_at", "access_count", "score", "scores"}
    for a, b in zip(over_rpc["memories"], over_rest["memories"], strict=True):
        assert {k: v for k, v in a.items() if k not in volatile} == {
            k: v for k, v in b.items() if k not in volatile
        }
        assert a["scores"]["relevance"] == pytest.approx(b["scores"]["relevance"], abs=1e-5)
        assert a["scores"]["importance"] == b["scores"]["importance"]
        assert b["access_count"] == a["access_count"] + 1  # each door touched it once
    also_slash = await rest("get", "/api/memory/search/?persona=alice&q=who+owes+me+money&limit=2")
    assert [m["id"] for m in also_slash["memories"]] == [m["id"] for m in over_rpc["memories"]]


async def test_store_get_list_stats_delete_over_rpc_and_rest(doors, demo):
    rpc, rest = doors
    stored = await rpc.result(
        "memory.store",
        {"persona_id": "alice", "content": "I swore to protect the village.", "visibility": "public",
         "about": "village", "metadata": {"source": "test"}},
    )  # fmt: skip
    assert stored["persona_id"] == str(demo["alice"].id) and stored["visibility"] == "public"
    assert stored["metadata"]["source"] == "test" and 0 < stored["importance"] <= 1
    assert await rpc.result("memory.get", {"memory_id": stored["id"]}) == stored
    assert await rest("get", f"/api/memory/{stored['id']}/") == stored
    via_rest = await rest(
        "post",
        "/api/memory/",
        {"persona_id": "alice", "content": "The well is dry.", "importance": 0.3},
    )
    assert via_rest["importance"] == 0.3
    listed_rpc = await rpc.result("memory.list", {"persona_id": "alice"})
    listed_rest = await rest("get", "/api/memory/?persona=alice")
    assert listed_rpc == listed_rest
    assert [m["id"] for m in listed_rpc["memories"]] == [via_rest["id"], stored["id"]]
    stats = await rpc.result("memory.stats", {"persona_id": "alice"})
    assert stats == await rest("get", "/api/memory/stats/?persona=alice")
    assert stats["total"] == 2 and stats["by_visibility"]["public"] == 1
    assert await rpc.result("memory.delete", {"memory_id": stored["id"]}) == {
        "deleted": True,
        "memory_id": stored["id"],
    }
    missing = await rpc.call("memory.get", {"memory_id": stored["id"]})
    assert missing["error"]["code"] == -32004
    assert (await rest("delete", f"/api/memory/{via_rest['id']}/"))["deleted"] is True
    await rest("get", f"/api/memory/{via_rest['id']}/", status=(404,))


async def test_reflect_over_rpc_and_rest(doors, settings):
    settings.LLM_PROVIDER = "offline"
    rpc, rest = doors
    await seed(rpc)
    result = await rpc.result("memory.reflect", {"persona_id": "alice"})
    assert result["queued"] is False and len(result["reflections"]) == 1
    assert result["reflections"][0]["kind"] == "reflection"
    assert len(result["reflections"][0]["metadata"]["sources"]) == 3
    again = await rest("post", "/api/memory/reflect/", {"persona_id": "alice"})
    assert again == {"reflections": [], "queued": False}


async def test_active_persona_is_the_default(doors):
    rpc, _ = doors
    no_persona = await rpc.call("memory.store", {"content": "hello there, friend"})
    assert no_persona["error"]["code"] == -32002
    await rpc.result("persona.switch", {"persona_id": "rook"})
    stored = await rpc.result("memory.store", {"content": "The guard changes at midnight."})
    found = await rpc.result("memory.search", {"query": "when does the guard change?"})
    assert found["memories"][0]["id"] == stored["id"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"content": ""}, "content"),
        ({"content": "   "}, "content"),
        ({"content": "x" * 4001}, "content"),
        ({"content": "ok", "kind": "dream"}, "kind"),
        ({"content": "ok", "importance": 1.5}, "importance"),
        ({"content": "ok", "visibility": "secret"}, "visibility"),
        ({"content": "ok", "colour": "red"}, "colour"),
    ],
)
async def test_bad_store_params_are_rejected_and_nothing_stored(doors, params, field):
    rpc, rest = doors
    response = await rpc.call("memory.store", {"persona_id": "alice", **params})
    assert response["error"]["code"] == -32602
    assert field in [e["field"] for e in response["error"]["data"]["errors"]]
    body = await rest("post", "/api/memory/", {"persona_id": "alice", **params}, status=(400,))
    assert field in [e["field"] for e in body["error"]["data"]["errors"]]
    assert await sync_to_async(Memory.objects.count)() == 0


async def test_bad_search_params(doors):
    rpc, rest = doors
    for params, field in [({"query": ""}, "query"), ({"query": "x", "limit": 101}, "limit"),
                          ({"query": "x", "kinds": ["dream"]}, "kinds.0"),
                          ({"query": "x", "min_importance": 2}, "min_importance")]:  # fmt: skip
        response = await rpc.call("memory.search", {"persona_id": "alice", **params})
        assert response["error"]["code"] == -32602, params
        assert field in [e["field"] for e in response["error"]["data"]["errors"]]
    body = await rest("get", "/api/memory/search?persona=alice", status=(400,))
    assert "query" in [e["field"] for e in body["error"]["data"]["errors"]]
    body = await rest("get", "/api/memory/search?q=hello", status=(400,))
    assert body["error"]["data"]["errors"][0]["field"] == "persona"
    unknown = await rpc.call("memory.search", {"persona_id": "nobody", "query": "x"})
    assert unknown["error"]["code"] == -32001


async def test_a_key_limited_to_one_persona_cannot_touch_another(rpc_connect, demo, make_key):
    from rest_framework.test import APIClient

    from memory.services import memory_store

    rook_memory = await sync_to_async(memory_store)(
        persona=demo["rook"], content="Rook's secret stash."
    )
    key = await sync_to_async(make_key)("write", [demo["alice"]])
    rpc = await rpc_connect(token=key)
    for method, params in [
        ("memory.store", {"persona_id": "rook", "content": "sneaky"}),
        ("memory.search", {"persona_id": "rook", "query": "stash"}),
        ("memory.get", {"memory_id": rook_memory.id}),
        ("memory.delete", {"memory_id": rook_memory.id}),
        ("memory.stats", {"persona_id": "rook"}),
    ]:
        response = await rpc.call(method, params)
        assert response["error"]["code"] == -32021, method
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = await sync_to_async(api.post)(
        "/api/memory/", {"persona_id": "rook", "content": "sneaky"}, format="json"
    )
    assert response.status_code == 403
    response = await sync_to_async(api.get)("/api/memory/search?persona=rook&q=stash")
    assert response.status_code == 403
    assert await sync_to_async(Memory.objects.count)() == 1


async def test_read_key_cannot_store(rpc_connect, demo, make_key):
    key = await sync_to_async(make_key)("read")
    rpc = await rpc_connect(token=key)
    response = await rpc.call("memory.store", {"persona_id": "alice", "content": "nope"})
    assert response["error"]["code"] == -32021
    assert (await rpc.call("memory.search", {"persona_id": "alice", "query": "x"}))["result"] == {
        "memories": []
    }
