"""REST and JSON-RPC front doors of bots: shapes, scopes, validation, and no credentials out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bots.models import BotAccount

SECRET_PW = "pw-never-shown-3141"
SECRET_TOKEN = "syt_never_shown_2718"


def create(client, persona="alice", **extra):
    body = {
        "persona": persona,
        "homeserver": "http://127.0.0.1:9",
        "user_id": f"@{persona}-api:localhost",
        "password": SECRET_PW,
        "access_token": SECRET_TOKEN,
        "rooms": ["#tavern:localhost"],
        **extra,
    }
    return client.post("/api/bots/", body, format="json")


def assert_no_secrets(text: str):
    assert SECRET_PW not in text
    assert SECRET_TOKEN not in text


def test_create_list_detail_patch_delete_never_return_credentials(demo, api_as):
    admin = api_as("admin")
    response = create(admin)
    assert response.status_code == 201, response.content
    bot = response.json()
    assert bot["persona"] == {"id": str(demo["alice"].id), "slug": "alice"}
    assert bot["status"] == "stopped" and bot["rooms"] == ["#tavern:localhost"]
    assert bot["has_password"] and bot["has_access_token"]
    assert "password" not in bot and "access_token" not in bot and "crypto_pickle_key" not in bot
    assert_no_secrets(response.content.decode())
    listing = admin.get("/api/bots/")
    assert [b["id"] for b in listing.json()["bots"]] == [bot["id"]]
    assert_no_secrets(listing.content.decode())
    patched = admin.patch(
        f"/api/bots/{bot['id']}/", {"answer_bots": True, "password": "other-secret"}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["answer_bots"] is True
    assert "other-secret" not in patched.content.decode()
    assert BotAccount.objects.get(pk=bot["id"]).password == "other-secret"
    deleted = admin.delete(f"/api/bots/{bot['id']}/")
    assert deleted.json() == {"deleted": True, "bot_id": bot["id"]}
    assert admin.get(f"/api/bots/{bot['id']}/").json()["error"]["code"] == -32006


@pytest.mark.django_db(transaction=True)  # /mcp answers from another thread
def test_list_pages_with_a_cursor_and_a_restricted_key_gets_full_pages(
    demo, api_as, make_key, client
):
    from bots import services
    from bots.schemas import BotListOut, BotOut

    for index in range(5):
        for slug in ("alice", "rook"):
            services.bot_create(
                persona=demo[slug],
                homeserver="http://127.0.0.1:9",
                user_id=f"@{slug}{index}:localhost",
                password=SECRET_PW,
            )
    admin = api_as("admin")
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = admin.get(f"/api/bots/{query}").json()
        BotListOut.model_validate(page)
        seen += [b["user_id"] for b in page["bots"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 10

    from rest_framework.test import APIClient

    key = f"Bearer {make_key('read', personas=[str(demo['rook'].id)])}"
    rook_only = APIClient()
    rook_only.credentials(HTTP_AUTHORIZATION=key)
    first = rook_only.get("/api/bots/?limit=3").json()
    assert [b["user_id"] for b in first["bots"]] == [
        "@rook0:localhost",
        "@rook1:localhost",
        "@rook2:localhost",
    ]
    second = rook_only.get(f"/api/bots/?limit=3&cursor={first['next_cursor']}").json()
    assert [b["user_id"] for b in second["bots"]] == ["@rook3:localhost", "@rook4:localhost"]
    assert second["next_cursor"] is None
    # The same shape over RPC as over REST.
    body = {"jsonrpc": "2.0", "id": 1, "method": "bot.list", "params": {"limit": 3}}
    rpc = client.post(
        "/mcp", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=key
    )
    assert rpc.json().get("result") == first, rpc.content
    BotOut.model_validate(first["bots"][0])
    assert admin.get("/api/bots/?cursor=garbage").status_code == 400


def test_writes_need_admin_scope(demo, api_as):
    response = create(api_as("write"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == -32021


def test_create_validates_matrix_fields(demo, api_as):
    response = create(api_as("admin"), user_id="alice-no-at", rooms=["tavern"])
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["error"]["data"]["errors"]}
    assert {"user_id", "rooms.0"} <= fields


def test_create_needs_a_credential(demo, api_as):
    response = api_as("admin").post(
        "/api/bots/",
        {"persona": "alice", "homeserver": "http://127.0.0.1:9", "user_id": "@a:localhost"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["data"]["errors"][0]["field"] == "password"


def test_duplicate_user_id_is_a_conflict(demo, api_as):
    admin = api_as("admin")
    assert create(admin).status_code == 201
    again = create(admin, persona="rook", user_id="@alice-api:localhost")
    assert again.status_code == 409 and again.json()["error"]["code"] == -32040


def test_unknown_bot_is_404(db, api_as):
    response = api_as("admin").get("/api/bots/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_rpc_list_status_and_scope(rpc_connect, make_key):
    from asgiref.sync import sync_to_async
    from django.core.management import call_command

    await sync_to_async(call_command)("seed_demo", verbosity=0)
    from bots import services
    from personas.models import Persona

    alice = await Persona.objects.aget(slug="alice")
    bot = await sync_to_async(services.bot_create)(
        persona=alice,
        homeserver="http://127.0.0.1:9",
        user_id="@alice-rpc:localhost",
        password=SECRET_PW,
    )
    reader = await rpc_connect(token=await sync_to_async(make_key)("read"))
    listing = await reader.result("bot.list")
    assert [b["user_id"] for b in listing["bots"]] == ["@alice-rpc:localhost"]
    status = await reader.result("bot.status", {"bot_id": str(bot.id)})
    assert status["status"] == "stopped" and status["persona"]["slug"] == "alice"
    assert SECRET_PW not in str(listing) + str(status)
    denied = await reader.call("bot.start", {"bot_id": str(bot.id)})
    assert denied["error"]["code"] == -32021
    logs_denied = await reader.call("bot.logs", {"bot_id": str(bot.id)})
    assert logs_denied["error"]["code"] == -32021
    missing = await reader.call("bot.status", {"bot_id": "nope"})
    assert missing["error"]["code"] == -32006
    typo = await reader.call("bot.status", {"bot": str(bot.id)})
    assert typo["error"]["code"] == -32602


@pytest.mark.django_db(transaction=True)
async def test_status_changes_are_broadcast_as_bot_events(rpc_connect, make_key):
    from asgiref.sync import sync_to_async
    from django.core.management import call_command

    from bots import services, supervision
    from personas.models import Persona

    await sync_to_async(call_command)("seed_demo", verbosity=0)
    client = await rpc_connect(token=await sync_to_async(make_key)("read"))
    await client.result("events.subscribe", {"topics": ["bot.alice"]})
    alice = await Persona.objects.aget(slug="alice")
    bot = await sync_to_async(services.bot_create)(
        persona=alice,
        homeserver="http://127.0.0.1:9",
        user_id="@alice-ev:localhost",
        password=SECRET_PW,
    )
    # A runner that reports a crash and exits; the supervisor then sees its process gone.
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    await sync_to_async(supervision.bot_run_claim)(bot=bot, pid=exited.pid)
    await sync_to_async(supervision.bot_run_finish)(
        bot=bot, pid=exited.pid, exit_code=1, error=f"boom {SECRET_PW}"
    )
    await sync_to_async(supervision.bot_supervise)()
    notes = [await client.notification("event", timeout=5) for _ in range(4)]
    assert {n["params"]["type"] for n in notes} == {"bot.status_changed"}
    assert {n["params"]["data"]["id"] for n in notes} == {str(bot.id)}
    statuses = [n["params"]["data"]["status"] for n in notes]
    assert statuses == ["stopped", "starting", "starting", "crashed"]
    assert notes[-1]["params"]["data"]["last_error"] == "boom ***"
    assert SECRET_PW not in str(notes)
