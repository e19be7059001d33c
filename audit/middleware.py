"""Binds the audit actor for HTTP requests: the door from the path, the user of the session.

REST requests authenticated by an API key get their principal later, from
``personamcp.auth.ScopedApiKeyPermission`` (``personamcp.actor.set_principal``).
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from personamcp import actor as context

_DOORS = (("/admin/", "admin"), ("/api/", "rest"), ("/v1/", "openai"), ("/mcp", "mcp-http"))


def door_for(path: str) -> str:
    return next((door for prefix, door in _DOORS if path.startswith(prefix)), "web")


class AuditActorMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _bind(self, request):
        return context.bind(door_for(request.path), user=getattr(request, "user", None))

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = self._bind(request)
        try:
            return self.get_response(request)
        finally:
            context.reset(token)

    async def __acall__(self, request):
        token = self._bind(request)
        try:
            return await self.get_response(request)
        finally:
            context.reset(token)
