"""ASGI middleware for /mcp WebSockets: origin validation and API-key authentication."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.request import validate_host

from personamcp.auth import bearer_token, principal_from_key, principal_from_user
from personamcp.exceptions import Unauthenticated

log = logging.getLogger("personamcp.rpc")


def origin_allowed(origin: str) -> bool:
    """Browser origins must match ALLOWED_HOSTS or PERSONAMCP_ALLOWED_ORIGINS."""
    if origin in settings.ALLOWED_ORIGINS or "*" in settings.ALLOWED_ORIGINS:
        return True
    parsed = urlparse(origin)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    return validate_host(parsed.hostname, settings.ALLOWED_HOSTS)


class OriginValidatorMiddleware:
    """Reject a WebSocket handshake whose ``Origin`` is not allowed; no Origin is fine."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            origin = dict(scope.get("headers", [])).get(b"origin")
            if origin and not origin_allowed(origin.decode("latin-1")):
                log.warning("rejected WebSocket from origin %s", origin.decode("latin-1"))
                await send({"type": "websocket.close", "code": 4403})
                return
        return await self.app(scope, receive, send)


class ApiKeyAuthMiddleware:
    """Sets ``scope["principal"]`` from ``Authorization: Bearer``, ``?token=`` or a staff session.

    A wrong key does not close the socket: the connection stays unauthenticated and calls that
    need a key are answered with -32020 naming the problem.
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
        user = scope.get("user")
        if user is not None:
            principal = await database_sync_to_async(principal_from_user, thread_sensitive=False)(
                user
            )
            if principal is not None:
                return principal, None
        return None, None
