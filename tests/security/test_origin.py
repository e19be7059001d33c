"""The WebSocket (and POST /mcp) Origin check compares scheme, host and port."""

from __future__ import annotations

import pytest
import websockets
import websockets.exceptions
from asgiref.sync import sync_to_async

pytestmark = pytest.mark.django_db(transaction=True)


async def _opens(raw_ws, origin: str | None, host: str = "127.0.0.1:8000", scheme="ws") -> bool:
    from channels.testing import WebsocketCommunicator

    from personamcp.asgi import application

    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, "/mcp", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected


@pytest.mark.parametrize(
    "origin,allowed",
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.0.0.1:8000/", True),
        ("https://127.0.0.1:8000", False),  # other scheme
        ("https://127.0.0.1:1", False),  # other scheme and port (the reported bypass)
        ("http://127.0.0.1:1", False),  # other port
        ("http://127.0.0.1", False),  # default port 80 is another port
        ("http://localhost:8000", False),  # other host, even an allowed one
        ("http://evil.example.com:8000", False),
        ("http://127.0.0.1:8000.evil.example.com", False),
        ("null", False),
        ("file://", False),
        ("http://user@127.0.0.1:8000", False),
        ("http://127.0.0.1:99999", False),
    ],
)
async def test_origin_must_be_the_servers_own(origin, allowed):
    assert await _opens(None, origin) is allowed


async def test_no_origin_is_accepted():  # bots, game engines, scripts
    assert await _opens(None, None)


async def test_secure_socket_means_https_origin():
    assert await _opens(None, "https://127.0.0.1:8443", host="127.0.0.1:8443", scheme="wss")
    assert not await _opens(None, "http://127.0.0.1:8443", host="127.0.0.1:8443", scheme="wss")


async def test_listed_origins_match_exactly(settings):
    settings.ALLOWED_ORIGINS = ["https://game.example.org"]
    assert await _opens(None, "https://game.example.org")
    assert await _opens(None, "https://game.example.org:443")
    assert not await _opens(None, "http://game.example.org")
    assert not await _opens(None, "https://game.example.org:8443")
    assert not await _opens(None, "https://sub.game.example.org")


async def test_proxy_header_decides_the_scheme_behind_tls(settings):
    from channels.testing import WebsocketCommunicator

    from personamcp.asgi import application

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = [
        (b"host", b"persona.example.org"),
        (b"origin", b"https://persona.example.org"),
        (b"x-forwarded-proto", b"https"),
    ]
    settings.ALLOWED_HOSTS = ["persona.example.org"]
    communicator = WebsocketCommunicator(application, "/mcp", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()


async def test_staff_cookie_from_foreign_scheme_and_port_gets_no_socket(live_server_proc):
    """The reported attack on a real server: a staff session cookie, Origin with another
    scheme and port; the handshake is refused (403), so no admin-scope socket opens."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    def login_cookie() -> str:
        get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456")
        client = Client()
        client.force_login(get_user_model().objects.get(username="boss"))
        return client.cookies["sessionid"].value

    cookie = await sync_to_async(login_cookie)()
    srv = live_server_proc()
    headers = {"Cookie": f"sessionid={cookie}"}
    for origin in (f"https://127.0.0.1:{srv.port}", "https://127.0.0.1:1", "http://127.0.0.1:1"):
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with websockets.connect(srv.ws, origin=origin, additional_headers=headers):
                pass
        assert info.value.response.status_code == 403
    async with websockets.connect(
        srv.ws, origin=f"http://127.0.0.1:{srv.port}", additional_headers=headers
    ) as ws:
        await ws.send('{"jsonrpc":"2.0","id":1,"method":"session.info"}')
        assert '"authenticated":true' in (await ws.recv()).replace(" ", "")
