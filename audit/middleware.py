"""Binds the audit actor for HTTP requests: the door from the path, the user of the session.

REST requests authenticated by an API key get their principal later, from
``personamcp.auth.ScopedApiKeyPermission`` (``personamcp.actor.set_principal``).
"""

from __future__ import annotations

from contextlib import contextmanager

from personamcp import actor as context
from personamcp.middleware import HybridMiddleware

_DOORS = (("/admin/", "admin"), ("/api/", "rest"), ("/v1/", "openai"), ("/mcp", "mcp-http"))


def door_for(path: str) -> str:
    return next((door for prefix, door in _DOORS if path.startswith(prefix)), "web")


class AuditActorMiddleware(HybridMiddleware):
    @contextmanager
    def around(self, request):
        token = context.bind(door_for(request.path), user=getattr(request, "user", None))
        try:
            yield
        finally:
            context.reset(token)
