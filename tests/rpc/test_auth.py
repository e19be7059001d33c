"""Authentication, scopes, persona scopes, rate limits and dev mode on /mcp (WebSocket)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC = {
    "system.ping",
    "system.info",
    "session.authenticate",
    "initialize",
    "ping",
    "server/discover",  # MCP 2026-07-28's first call, the stateless counterpart of initialize
}


async def test_only_the_public_methods_are_callable_unauthenticated(rpc_connect, demo):
    from personamcp.rpc.registry import registry

    public = {m.name for m in registry.all() if m.public and not m.name.startswith("test.")}
    assert public == PUBLIC
    c = await rpc_connect()
    assert (await c.result("system.ping"))["pong"] is True
    assert (await c.result("system.info"))["name"] == "persona-mcp"
    assert (await c.result("ping")) == {}
    init = await c.result("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})
    assert init["protocolVersion"] == "2025-06-18"
    for method, params in [
        ("session.info", None),
        ("session.clear", None),
        ("system.status", None),
        ("persona.list", None),
        ("persona.get", {"persona_id": "alice"}),
        ("events.subscribe", {"topics": ["persona.*"]}),
        ("tools/list", None),
        ("rpc.discover", None),
        ("notifications/initialized", None),
    ]:
        response = await c.call(method, params)
        assert response["error"]["code"] == -32020, (method, response)


async def test_bearer_header_authenticates(rpc_connect, demo, akey):
    c = await rpc_connect(token=await akey("read"))
    info = await c.result("session.info")
    assert info["authenticated"] is True
    assert len((await c.result("persona.list"))["personas"]) == 4


async def test_token_query_string_authenticates(rpc_connect, demo, akey):
    key = await akey("read")
    c = await rpc_connect(path=f"/mcp?token={key}")
    assert len((await c.result("persona.list"))["personas"]) == 4


def _staff_session(username: str, *, staff: bool = True) -> str:
    """The session cookie of a user logged into the admin."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw-123456")
    user.is_staff = staff
    user.save()
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def test_staff_session_cookie_authenticates_without_a_key(rpc_connect, demo):
    cookie = await sync_to_async(_staff_session)("sam")
    c = await rpc_connect(headers=[(b"cookie", f"theme=dark; sessionid={cookie}".encode())])
    assert (await c.result("session.info"))["authenticated"] is True
    assert len((await c.result("persona.list"))["personas"]) == 4


async def test_other_sessions_and_unknown_cookies_do_not_authenticate(rpc_connect, demo):
    cookie = await sync_to_async(_staff_session)("pat", staff=False)
    for value in (f"sessionid={cookie}", "sessionid=not-a-session-key-at-all", "other=1"):
        c = await rpc_connect(headers=[(b"cookie", value.encode())])
        assert (await c.call("persona.list"))["error"]["code"] == -32020, value


async def test_session_authenticate_as_first_message(rpc_connect, demo, akey):
    key = await akey("write")
    c = await rpc_connect()
    assert (await c.call("persona.list"))["error"]["code"] == -32020
    result = await c.result("session.authenticate", {"token": key})
    assert result == {"authenticated": True, "scopes": ["read", "write"]}
    assert len((await c.result("persona.list"))["personas"]) == 4


async def test_wrong_key_keeps_socket_open_and_says_why(rpc_connect, demo):
    c = await rpc_connect(token="pmcp_not-a-real-key")
    response = await c.call("persona.list")
    assert response["error"]["code"] == -32020
    assert "invalid API key" in response["error"]["message"]
    response = await c.call("session.authenticate", {"token": "nope"})
    assert response["error"]["code"] == -32020
    assert (await c.result("system.ping"))["pong"]


async def test_revoked_key_is_rejected(rpc_connect, demo, make_key):
    from personamcp.models import ApiKey

    key = await sync_to_async(make_key)("read")
    await sync_to_async(ApiKey.objects.update)(is_active=False)
    c = await rpc_connect(token=key)
    assert (await c.call("persona.list"))["error"]["code"] == -32020


async def test_read_key_cannot_write(rpc_connect, demo, akey):
    c = await rpc_connect(token=await akey("read"))
    response = await c.call("persona.create", {"name": "Nope"})
    assert response["error"]["code"] == -32021
    response = await c.call("persona.update", {"persona_id": "alice", "name": "X"})
    assert response["error"]["code"] == -32021
    response = await c.call("persona.delete", {"persona_id": "alice"})
    assert response["error"]["code"] == -32021


async def test_key_limited_to_personas_cannot_reach_others(rpc_connect, demo, akey):
    c = await rpc_connect(token=await akey("write", [demo["alice"]]))
    assert (await c.result("persona.get", {"persona_id": "alice"}))["slug"] == "alice"
    for method, params in [
        ("persona.get", {"persona_id": "rook"}),
        ("persona.get", {"persona_id": str(demo["rook"].id)}),
        ("persona.update", {"persona_id": "rook", "name": "X"}),
        ("persona.delete", {"persona_id": "rook"}),
        ("persona.switch", {"persona_id": "rook"}),
        ("persona.state", {"persona_id": "rook"}),
        ("persona.create", {"name": "New"}),
    ]:
        response = await c.call(method, params)
        assert response["error"]["code"] == -32021, (method, response)
    listed = await c.result("persona.list")
    assert [p["slug"] for p in listed["personas"]] == ["alice"]


async def test_persona_scope_holds_on_cached_reads(rpc_connect, demo, akey):
    """A result cached for one key is never served to a key that does not cover the persona."""
    wide = await rpc_connect(token=await akey("read"))
    narrow = await rpc_connect(token=await akey("read", [demo["alice"]]))
    for _ in range(2):
        assert (await wide.result("persona.get", {"persona_id": "rook"}))["slug"] == "rook"
        response = await narrow.call("persona.get", {"persona_id": "rook"})
        assert response["error"]["code"] == -32021


async def test_rate_limit_is_32029_with_retry_after(rpc_connect, demo, akey, limits):
    limits(RATE_LIMIT_PER_MINUTE=3)
    key = await akey("read")
    c = await rpc_connect(token=key)
    for _ in range(3):
        await c.result("persona.get", {"persona_id": "alice"})
    response = await c.call("persona.get", {"persona_id": "alice"})
    assert response["error"]["code"] == -32029
    # this minute is full: accepted again once the next one starts and a third of a minute of
    # this one has slid out of the window (3 x (1 - t/60) + 1 <= 3)
    assert 0 < response["error"]["data"]["retry_after"] <= 60 + 60 / 3
    # per key, not per connection: a second socket with the same key is limited too
    other = await rpc_connect(token=key)
    assert (await other.call("persona.list"))["error"]["code"] == -32029
    # and async handlers count as well
    assert (await other.call("session.info"))["error"]["code"] == -32029
    # a different key has its own budget
    fresh = await rpc_connect(token=await akey("read"))
    assert (await fresh.result("persona.list"))["personas"]


async def test_rate_limit_counts_where_every_process_sees_it(rpc_connect, demo, make_key, limits):
    """Scaled mode: the count lives in Redis, so the hits of other processes count. Embedded
    mode (one process): in the process, so the hits through the other doors count."""
    import time

    from django.core.cache import cache
    from django.core.cache.backends.redis import RedisCache
    from rest_framework.test import APIClient

    from personamcp import auth

    limits(RATE_LIMIT_PER_MINUTE=5)
    key = await sync_to_async(make_key)("read")
    principal = await sync_to_async(auth.principal_from_key)(key)
    if isinstance(auth._counter_store(), RedisCache):
        window = int(time.time() // 60)
        # another process already used the whole budget of this key in this window
        await sync_to_async(cache.set)(f"rl:{principal.rate_key}:{window}", 5, 65)
        await sync_to_async(cache.set)(f"rl:{principal.rate_key}:{window + 1}", 5, 125)
    else:  # the REST door already used the whole budget of this key in this minute
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        for _ in range(5):
            response = await sync_to_async(client.get)("/api/personas/")
            assert response.status_code == 200
    c = await rpc_connect(token=key)
    assert (await c.call("persona.list"))["error"]["code"] == -32029


def test_rate_limit_slides_across_the_minute_boundary(make_key, monkeypatch):
    """A burst at the end of one minute still counts at the start of the next: the window
    slides, the previous minute weighted by the part of it still within the last 60 s. A
    refused request is not counted, and ``retry_after`` is when one is accepted again."""
    import types

    from personamcp import auth
    from personamcp.exceptions import RateLimited

    principal = auth.principal_from_key(make_key("read"))
    clock = [60 * 29_000_000 + 58.0]  # two seconds before a minute ends
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: clock[0]))
    for _ in range(4):
        auth.rate_limit(principal, per_minute=4)
    with pytest.raises(RateLimited):  # this minute is full
        auth.rate_limit(principal, per_minute=4)
    clock[0] += 3  # one second into the next one: 4 x 59/60 of the last minute still count
    for _ in range(2):
        with pytest.raises(RateLimited) as caught:
            auth.rate_limit(principal, per_minute=4)
        # 4 x (1 - t/60) + 1 <= 4 from t = 15 s on
        assert caught.value.data["retry_after"] == pytest.approx(14.0, abs=0.05)
    clock[0] += 13.9
    with pytest.raises(RateLimited):
        auth.rate_limit(principal, per_minute=4)
    clock[0] += 0.2
    auth.rate_limit(principal, per_minute=4)
    with pytest.raises(RateLimited):  # 4 x 44.9/60 + 2 > 4
        auth.rate_limit(principal, per_minute=4)


async def test_dev_mode_allows_anonymous_access(rpc_connect, demo, dev_mode):
    c = await rpc_connect()
    assert len((await c.result("persona.list"))["personas"]) == 4
    created = await c.result("persona.create", {"name": "Dev Persona"})
    assert created["slug"] == "dev-persona"
    info = await c.result("session.info")
    assert info["authenticated"] is False


async def test_dev_mode_is_announced_in_the_log(caplog, settings):
    import logging

    from django.apps import apps

    settings.DEV_MODE = True
    with caplog.at_level(logging.WARNING, logger="personamcp"):
        apps.get_app_config("personamcp").ready()
    assert any("LOCAL DEVELOPMENT MODE" in r.getMessage() for r in caplog.records)
