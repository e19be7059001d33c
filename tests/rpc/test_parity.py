"""Parity: persona.* over /mcp and /api/personas/ return the same JSON for the same persona."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def doors(rpc_connect, demo, make_key):
    from rest_framework.test import APIClient

    key = await sync_to_async(make_key)("write")
    rpc = await rpc_connect(token=key)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    async def rest(method: str, url: str, data=None):
        response = await sync_to_async(getattr(api, method))(url, data, format="json")
        assert response.status_code in (200, 201), response.content
        return response.json()

    return rpc, rest


async def test_list_parity(doors):
    rpc, rest = doors
    over_rpc = await rpc.result("persona.list", {"limit": 2})
    over_rest = await rest("get", "/api/personas/?limit=2")
    assert over_rpc["personas"] == over_rest["personas"]
    assert over_rpc["next_cursor"] == over_rest["next_cursor"]


async def test_get_parity(doors, demo):
    rpc, rest = doors
    for ref in ("alice", str(demo["rook"].id)):
        assert await rpc.result("persona.get", {"persona_id": ref}) == await rest(
            "get", f"/api/personas/{ref}/"
        )


async def test_create_parity(doors):
    rpc, rest = doors
    fields = {
        "name": "Twin",
        "tags": ["b", "a"],
        "personality": {"openness": 0.7},
        "goals": ["g"],
        "interests": ["i"],
        "greeting": "hey",
    }
    over_rpc = await rpc.result("persona.create", fields)
    over_rest = await rest("post", "/api/personas/", {**fields, "slug": "twin-rest"})
    ignore = {"id", "slug", "created_at", "updated_at"}
    strip = lambda d: {k: v for k, v in d.items() if k not in ignore}  # noqa: E731
    strip_state = lambda d: {**strip(d), "state": {**d["state"], "updated_at": None}}  # noqa: E731
    assert strip_state(over_rpc) == strip_state(over_rest)
    # and each door reads back exactly what the other created
    assert await rest("get", f"/api/personas/{over_rpc['id']}/") == over_rpc
    assert await rpc.result("persona.get", {"persona_id": over_rest["id"]}) == over_rest


async def test_update_parity(doors):
    rpc, rest = doors
    over_rpc = await rpc.result(
        "persona.update", {"persona_id": "alice", "description": "v2", "tags": ["x"]}
    )
    assert over_rpc["description"] == "v2" and over_rpc["tags"] == ["x"]
    assert await rest("get", "/api/personas/alice/") == over_rpc
    over_rest = await rest("patch", "/api/personas/alice/", {"description": "v3"})
    assert await rpc.result("persona.get", {"persona_id": "alice"}) == over_rest
    assert over_rest["description"] == "v3"


async def test_delete_parity(doors, demo):
    rpc, rest = doors
    over_rpc = await rpc.result("persona.delete", {"persona_id": "pip"})
    over_rest = await rest("delete", "/api/personas/elias/")
    assert set(over_rpc) == set(over_rest) == {"deleted", "persona_id"}
    assert over_rpc == {"deleted": True, "persona_id": str(demo["pip"].id)}
    assert over_rest == {"deleted": True, "persona_id": str(demo["elias"].id)}
