"""ASGI middleware for /mcp WebSockets: origin validation and API-key authentication."""

from __future__ import annotations

import logging
from importlib import import_module
from urllib.parse import parse_qs, urlparse

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import validate_host

from personamcp.auth import bearer_token, principal_from_key, principal_from_user
from personamcp.exceptions import Unauthenticated

log = logging.getLogger("personamcp.rpc")


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin_tuple(value: str) -> tuple[str, str, int] | None:
    """``scheme://host[:port]`` as (scheme, lower-case host, port); None when malformed."""
    try:
        parsed = urlparse(value.strip())
        port = parsed.port
    except ValueError:
        return None
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") or not parsed.hostname:
        return None
    if parsed.path not in ("", "/") or parsed.query or parsed.username or parsed.password:
        return None
    return scheme, parsed.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin_allowed(origin: str, request_origin: str | None = None) -> bool:
    """May a browser page from ``origin`` talk to us? Scheme, host and port all count.

    Allowed: an origin listed in ``PERSONAMCP_ALLOWED_ORIGINS`` or ``CSRF_TRUSTED_ORIGINS``
    (``*`` allows every origin), or the server's own origin ``request_origin`` (the scheme the
    request came in with, and its ``Host`` header) when that host is in ``ALLOWED_HOSTS``.
    """
    if "*" in settings.ALLOWED_ORIGINS:
        return True
    wanted = _origin_tuple(origin)
    if wanted is None:
        return False
    for listed in (*settings.ALLOWED_ORIGINS, *settings.CSRF_TRUSTED_ORIGINS):
        if _origin_tuple(listed) == wanted:
            return True
    if request_origin is None:
        return False
    own = _origin_tuple(request_origin)
    return own == wanted and validate_host(wanted[1], settings.ALLOWED_HOSTS)


def websocket_origin(scope) -> str | None:
    """The origin a WebSocket handshake was made to: ``http(s)://`` + its ``Host`` header.

    ``wss`` (or, behind a TLS proxy, ``SECURE_PROXY_SSL_HEADER``) means https.
    """
    headers = dict(scope.get("headers", []))
    host = headers.get(b"host", b"").decode("latin-1").strip()
    if not host:
        return None
    secure = scope.get("scheme") == "wss"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        forwarded = headers.get(header, b"").decode("latin-1").split(",")[0].strip()
        if forwarded:
            secure = forwarded == value
    return f"{'https' if secure else 'http'}://{host}"


class OriginValidatorMiddleware:
    """Reject a WebSocket handshake whose ``Origin`` is not allowed; no Origin is fine."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            origin = dict(scope.get("headers", [])).get(b"origin")
            if origin and not origin_allowed(origin.decode("latin-1"), websocket_origin(scope)):
                log.warning("rejected WebSocket from origin %s", origin.decode("latin-1"))
                await send({"type": "websocket.close", "code": 4403})
                return
        return await self.app(scope, receive, send)


def session_key(headers: dict) -> str | None:
    """The session cookie of a handshake's ``Cookie`` header, if any."""
    raw = headers.get(b"cookie")
    if not raw:
        return None
    return parse_cookie(raw.decode("latin-1")).get(settings.SESSION_COOKIE_NAME) or None


class ApiKeyAuthMiddleware:
    """Sets ``scope["principal"]`` from ``Authorization: Bearer``, ``?token=`` or a staff session.

    A wrong key does not close the socket: the connection stays unauthenticated and calls that
    need a key are answered with -32020 naming the problem.

    The staff session is read here, once per handshake, instead of through Channels'
    ``AuthMiddlewareStack``: its session layer wraps ``send`` and looks at the session on every
    outgoing frame, for the sake of HTTP responses that a WebSocket never sends.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            scope = dict(scope)
            scope["principal"], scope["auth_error"] = await self.resolve(scope)
        return await self.app(scope, receive, send)

    async def resolve(self, scope):
        headers = dict(scope.get("headers", []))
        raw = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        if raw is None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            raw = (query.get("token") or [None])[0]
        if raw:
            try:
                return await database_sync_to_async(principal_from_key, thread_sensitive=False)(
                    raw
                ), None
            except Unauthenticated as exc:
                return None, exc.message
        key = session_key(headers)
        if key is not None:
            # Channels' own session lookup (the auth hash verified, a stale session flushed).
            store = import_module(settings.SESSION_ENGINE).SessionStore(key)
            user = await get_user({"session": store})
            principal = await database_sync_to_async(principal_from_user, thread_sensitive=False)(
                user
            )
            if principal is not None:
                return principal, None
        return None, None
