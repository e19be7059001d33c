"""Persona changes from every door (REST, RPC, admin, ORM) reach subscribed sockets within 1 s."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import persona_admin_form

pytestmark = pytest.mark.django_db(transaction=True)


async def next_event(client, timeout: float = 1.0) -> dict:
    start = time.monotonic()
    note = await client.notification("event", timeout=timeout)
    assert time.monotonic() - start <= timeout
    return note["params"]


async def expect(client, event_type: str, slug: str) -> dict:
    event = await next_event(client)
    assert event["type"] == event_type, event
    assert event["data"]["slug"] == slug and event["data"]["id"]
    assert event["at"].endswith("Z")
    return event


@pytest.fixture
async def watcher(rpc_connect, demo, akey):
    client = await rpc_connect(token=await akey("read"))
    await client.result("events.subscribe", {"topics": ["persona.*"]})
    return client


async def test_rpc_changes_reach_subscriber(watcher, rpc_connect, akey):
    writer = await rpc_connect(token=await akey("write"))
    created = await writer.result("persona.create", {"name": "Rpc Made"})
    event = await expect(watcher, "persona.created", "rpc-made")
    assert event["data"]["id"] == created["id"] and event["topic"] == "persona.rpc-made"
    await writer.result("persona.update", {"persona_id": "rpc-made", "description": "changed"})
    await expect(watcher, "persona.updated", "rpc-made")
    await writer.result("persona.delete", {"persona_id": "rpc-made"})
    await expect(watcher, "persona.deleted", "rpc-made")


async def test_rest_changes_reach_subscriber(watcher, api_as):
    api = await sync_to_async(api_as)("write")
    response = await sync_to_async(api.post)("/api/personas/", {"name": "Rest Made"}, format="json")
    assert response.status_code == 201
    await expect(watcher, "persona.created", "rest-made")
    response = await sync_to_async(api.patch)(
        "/api/personas/rest-made/", {"greeting": "Hello"}, format="json"
    )
    assert response.status_code == 200
    await expect(watcher, "persona.updated", "rest-made")
    response = await sync_to_async(api.delete)("/api/personas/rest-made/")
    assert response.status_code == 200
    await expect(watcher, "persona.deleted", "rest-made")


def _admin_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456")
    client = Client()
    client.force_login(user)
    return client


async def test_admin_changes_reach_subscriber(watcher):
    from personas.models import Persona

    admin = await sync_to_async(_admin_client)()
    response = await sync_to_async(admin.post)("/admin/personas/persona/add/", persona_admin_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    await expect(watcher, "persona.created", "admin-made")
    persona = await Persona.objects.aget(slug="admin-made")
    url = f"/admin/personas/persona/{persona.pk}/change/"
    form = persona_admin_form(description="edited in the admin")
    response = await sync_to_async(admin.post)(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    await expect(watcher, "persona.updated", "admin-made")
    response = await sync_to_async(admin.post)(
        f"/admin/personas/persona/{persona.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    await expect(watcher, "persona.deleted", "admin-made")


async def test_orm_changes_reach_subscriber(watcher):
    from personas.models import Persona

    persona = await Persona.objects.acreate(name="Shell Made", slug="shell-made")
    await expect(watcher, "persona.created", "shell-made")
    persona.description = "edited in a shell"
    await persona.asave()
    await expect(watcher, "persona.updated", "shell-made")
    await persona.adelete()
    await expect(watcher, "persona.deleted", "shell-made")


async def test_topic_filters_and_no_duplicates(rpc_connect, demo, akey):
    from personas.models import Persona

    only_alice = await rpc_connect(token=await akey("read"))
    await only_alice.result("events.subscribe", {"topics": ["persona.alice", "persona.*", "*"]})
    only_rook = await rpc_connect(token=await akey("read"))
    await only_rook.result("events.subscribe", {"topics": [f"persona.{demo['rook'].id}"]})
    alice = await Persona.objects.aget(slug="alice")
    alice.greeting = "new"
    await alice.asave()
    event = await expect(only_alice, "persona.updated", "alice")
    assert event["topic"] == "persona.alice"
    # subscribed through three matching topics, delivered once
    assert await only_alice.ws.receive_nothing(timeout=0.3)
    assert await only_rook.ws.receive_nothing(timeout=0.3)
    rook = await Persona.objects.aget(slug="rook")
    rook.greeting = "new"
    await rook.asave()
    await expect(only_rook, "persona.updated", "rook")


async def test_unsubscribed_socket_gets_nothing(watcher):
    from personas.models import Persona

    await watcher.result("events.unsubscribe", {"topics": ["persona.*"]})
    await Persona.objects.acreate(name="Quiet", slug="quiet")
    assert await watcher.ws.receive_nothing(timeout=0.4)


async def test_rolled_back_change_is_not_broadcast(watcher):
    from django.db import transaction

    from personas.models import Persona

    def create_and_fail():
        with transaction.atomic():
            Persona.objects.create(name="Ghost", slug="ghost")
            raise RuntimeError("rollback")

    with pytest.raises(RuntimeError):
        await sync_to_async(create_and_fail)()
    assert await watcher.ws.receive_nothing(timeout=0.4)


async def test_writers_never_wait_for_the_channel_layer_and_events_keep_their_order(
    watcher, monkeypatch
):
    import asyncio

    from channels.layers import get_channel_layer

    from personas.models import Persona

    layer = get_channel_layer()
    send = layer.group_send
    gate = asyncio.Event()

    async def held(group, message):  # a layer that takes nothing until the gate opens
        await gate.wait()
        await send(group, message)

    monkeypatch.setattr(layer, "group_send", held)

    def write_all():
        for n in range(6):
            Persona.objects.create(name=f"Queued {n}", slug=f"queued-{n}")

    # The writes finish while the layer takes nothing: their threads only queued the events.
    await asyncio.wait_for(sync_to_async(write_all)(), timeout=4)
    assert await Persona.objects.filter(slug__startswith="queued-").acount() == 6
    assert await watcher.ws.receive_nothing(timeout=0.2)
    gate.set()
    slugs = [(await next_event(watcher))["data"]["slug"] for _ in range(6)]
    assert slugs == [f"queued-{n}" for n in range(6)]
