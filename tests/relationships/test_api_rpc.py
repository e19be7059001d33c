"""relationship.* over RPC and REST: same service, same JSON."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(make_key, demo):
    return make_key("write")


async def test_get_default_update_list_over_rpc(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    fresh = await c.result("relationship.get", {"persona_id": "alice", "other_id": "@bob:hs"})
    assert fresh["stage"] == "stranger" and fresh["interactions"] == 0
    assert fresh["last_interaction_at"] is None and fresh["other_kind"] == "participant"
    for _ in range(3):
        updated = await c.result(
            "relationship.update",
            {
                "persona_id": "alice",
                "other_id": "@bob:hs",
                "interaction_quality": 0.8,
                "context": "shared a meal",
            },
        )
    assert updated["interactions"] == 3 and updated["affinity"] > 0
    assert updated["stage"] == "acquaintance"
    listed = await c.result("relationship.list", {"persona_id": "alice"})
    assert [r["other_id"] for r in listed["relationships"]] == ["@bob:hs"]
    persona_rel = await c.result(
        "relationship.update",
        {"persona_id": "alice", "other_id": "rook", "interaction_quality": -0.5},
    )
    assert persona_rel["other_kind"] == "persona" and persona_rel["other_id"] == str(
        demo["rook"].id
    )
    compat = await c.result(
        "relationship.compatibility", {"persona_id": "alice", "other_id": "pip"}
    )
    assert 0 <= compat["overall"] <= 1 and compat["prediction"]


async def test_rpc_validation(rpc_connect, key, demo):
    c = await rpc_connect(token=key)
    r = await c.call(
        "relationship.update", {"persona_id": "alice", "other_id": "x", "interaction_quality": 2}
    )
    assert r["error"]["code"] == -32602
    r = await c.call("relationship.get", {"persona_id": "ghost", "other_id": "x"})
    assert r["error"]["code"] == -32001


def test_rest_parity(api_as, demo):
    client = api_as("write")
    r = client.post(
        "/api/relationships/",
        {"persona_id": "pip", "other_id": "@ann:hs", "interaction_quality": 0.5},
        format="json",
    )
    assert r.status_code == 200, r.content
    got = client.get("/api/relationships/?persona=pip&other=@ann:hs").json()
    assert got == r.json() and got["interactions"] == 1
    listed = client.get("/api/relationships/?persona=pip").json()["relationships"]
    assert listed == [got]
    assert client.get(f"/api/personas/{demo['pip'].id}/relationships/").json()["relationships"] == [
        got
    ]
    assert client.get("/api/relationships/?other=x").status_code == 400
    compat = client.get("/api/relationships/compatibility/?persona=alice&other=pip").json()
    assert compat["overall"] > 0
    reader = api_as("read")
    assert (
        reader.post(
            "/api/relationships/",
            {"persona_id": "pip", "other_id": "x", "interaction_quality": 0.1},
            format="json",
        ).status_code
        == 403
    )
