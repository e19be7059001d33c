"""``POST /mcp``: the JSON-RPC dispatcher over HTTP (MCP Streamable HTTP, JSON response mode)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from personamcp import errors
from personamcp.auth import bearer_token, principal_from_key
from personamcp.exceptions import Unauthenticated
from personamcp.rpc.context import Session
from personamcp.rpc.dispatcher import Dispatcher, dumps_bytes, error_response
from personamcp.rpc.middleware import origin_allowed


async def _session_for(request) -> Session:
    session = Session(transport="http", client=request.META.get("REMOTE_ADDR", ""))
    raw = bearer_token(request.headers.get("Authorization"))
    if raw:
        try:
            session.principal = await database_sync_to_async(
                principal_from_key, thread_sensitive=False
            )(raw)
        except Unauthenticated as exc:
            session.auth_error = exc.message
    session.mcp_protocol_version = request.headers.get("Mcp-Protocol-Version")
    return session


def _json(payload, status: int = 200) -> HttpResponse:
    return HttpResponse(dumps_bytes(payload), status=status, content_type="application/json")


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt
async def mcp_http(request):
    """One JSON-RPC message or batch per POST; 202 with no body when nothing needs an answer."""
    if request.method != "POST":
        # No server-initiated SSE stream in JSON response mode (allowed by the MCP spec).
        response = JsonResponse(
            error_response(None, errors.INVALID_REQUEST, "use POST with a JSON-RPC body"),
            status=405,
        )
        response["Allow"] = "POST"
        return response
    origin = request.headers.get("Origin")
    if origin and not origin_allowed(origin, f"{request.scheme}://{request.get_host()}"):
        return _json(error_response(None, errors.INVALID_REQUEST, "origin not allowed"), 403)
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _json(
            error_response(None, errors.INVALID_REQUEST, "Content-Type must be application/json"),
            415,
        )
    session = await _session_for(request)
    dispatcher = Dispatcher(session)
    # Same size rule as WebSocket frames: -32600 with id null, before reading a huge body.
    if _declared_length(request) > settings.PERSONAMCP["MAX_FRAME_BYTES"]:
        return _json(dispatcher.too_large())
    try:
        body = request.body
    except RequestDataTooBig:
        return _json(dispatcher.too_large())
    # orjson checks UTF-8 itself: a body that is not UTF-8 is a parse error (-32700).
    result = await dispatcher.handle_text(body)
    if result is None:
        return HttpResponse(status=202)
    return _json(result)
