"""``POST /mcp``: the JSON-RPC dispatcher over HTTP (MCP Streamable HTTP).

- JSON responses by default; an SSE response (``text/event-stream``) when the client accepts
  one and the call sends notifications before its result (a streamed ``chat_with_persona``
  with a progress token, ``conversation.send_message`` with ``stream: true``).
- ``MCP-Protocol-Version`` is checked: a version this server does not serve gets HTTP 400.
- Without a valid API key (outside local-development mode) a body calling any method that
  needs one gets HTTP 401 with ``WWW-Authenticate: Bearer``.
- Sessions for the handshake versions (up to 2025-11-25): ``initialize`` answers with an
  ``Mcp-Session-Id`` header; requests that send it back share the session's state (active
  persona, conversation, negotiated version); ``DELETE /mcp`` ends it; an unknown or ended
  session is 404. Requests without the header, and every 2026-07-28 request, are stateless.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from personamcp import errors
from personamcp.auth import bearer_token, principal_from_key
from personamcp.exceptions import Unauthenticated
from personamcp.rpc.context import Session
from personamcp.rpc.dispatcher import Dispatcher, dumps_bytes, error_response, loads
from personamcp.rpc.mcp import ALL_VERSIONS, UNSUPPORTED_PROTOCOL_VERSION
from personamcp.rpc.middleware import origin_allowed
from personamcp.rpc.registry import registry

SESSION_HEADER = "Mcp-Session-Id"
SESSION_TTL = 3600  # seconds of inactivity after which a session is forgotten
_SESSION_FIELDS = (
    "active_persona_id",
    "active_persona_slug",
    "active_conversation_id",
    "mcp_protocol_version",
)
_UNAUTHENTICATED = errors.lookup(Unauthenticated())[0]


def _json(payload, status: int = 200, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(
        dumps_bytes(payload), status=status, content_type="application/json", headers=headers
    )


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _read_body(request) -> bytes | None:
    """The body, or None when over ``MAX_FRAME_BYTES``: this door's one size limit is the
    WebSocket frame limit, not ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (which bounds the REST doors)."""
    limit = settings.PERSONAMCP["MAX_FRAME_BYTES"]
    body = request.read(limit + 1)  # a body without Content-Length is bounded too
    return None if len(body) > limit else body


def _owner(session: Session) -> str:
    """Whose session it is: the API key (local-development mode's anonymous caller: nobody)."""
    principal = session.principal
    return principal.rate_key if principal is not None and not principal.dev else ""


def _cache_key(session_id: str) -> str:
    return f"mcp-http-session:{session_id}"


async def _authenticate(request, session: Session) -> None:
    raw = bearer_token(request.headers.get("Authorization"))
    if raw:
        try:
            session.principal = await database_sync_to_async(
                principal_from_key, thread_sensitive=False
            )(raw)
        except Unauthenticated as exc:
            session.auth_error = exc.message


async def _restore(session: Session, session_id: str) -> bool:
    """Load a session's state; False when it is unknown, ended, or another key's."""
    state = await cache.aget(_cache_key(session_id))
    if not isinstance(state, dict) or state.get("owner") != _owner(session):
        return False
    session.session_id = session_id
    for name in _SESSION_FIELDS:
        setattr(session, name, state.get(name))
    return True


async def _save(session: Session) -> None:
    state = {name: getattr(session, name) for name in _SESSION_FIELDS}
    await cache.aset(
        _cache_key(session.session_id), {**state, "owner": _owner(session)}, SESSION_TTL
    )


def _requests(payload: Any) -> list[dict]:
    items = payload if isinstance(payload, list) else [payload]
    return [item for item in items if isinstance(item, dict)]


def _needs_key(payload: Any) -> dict | None:
    """The first request of the body that calls a method needing an API key, if any."""
    for item in _requests(payload):
        method = registry.get(item.get("method")) if isinstance(item.get("method"), str) else None
        if method is not None and not method.public:
            return item
    return None


def _is_initialize(payload: Any) -> bool:
    return any(item.get("method") == "initialize" for item in _requests(payload))


def _accepts_sse(request) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _sse(message: Any) -> bytes:
    return b"event: message\ndata: " + dumps_bytes(message) + b"\n\n"


def _error(status: int, code: int, message: str, data=None, headers=None) -> HttpResponse:
    return _json(error_response(None, code, message, data), status, headers)


@csrf_exempt
async def mcp_http(request):
    """One JSON-RPC message or batch per POST; 202 with no body when nothing needs an answer."""
    if request.method == "DELETE":
        return await _end_session(request)
    if request.method != "POST":
        # No server-initiated SSE stream (GET) on this endpoint (allowed by the MCP spec).
        return _error(
            405,
            errors.INVALID_REQUEST,
            "use POST with a JSON-RPC body",
            headers={"Allow": "POST, DELETE"},
        )
    origin = request.headers.get("Origin")
    if origin and not origin_allowed(origin, f"{request.scheme}://{request.get_host()}"):
        return _error(403, errors.INVALID_REQUEST, "origin not allowed")
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _error(415, errors.INVALID_REQUEST, "Content-Type must be application/json")
    version = request.headers.get("Mcp-Protocol-Version")
    if version is not None and version not in ALL_VERSIONS:
        return _error(
            400,
            UNSUPPORTED_PROTOCOL_VERSION,
            f"unsupported MCP-Protocol-Version {version!r}",
            {"supported": list(ALL_VERSIONS), "requested": version},
        )
    session = Session(transport="http", client=request.META.get("REMOTE_ADDR", ""))
    await _authenticate(request, session)
    session.mcp_protocol_version = version
    dispatcher = Dispatcher(session)
    # Same size rule as WebSocket frames: -32600 with id null, before reading a huge body.
    if _declared_length(request) > settings.PERSONAMCP["MAX_FRAME_BYTES"]:
        return _json(dispatcher.too_large())
    body = _read_body(request)
    if body is None:
        return _json(dispatcher.too_large())
    session_id = request.headers.get(SESSION_HEADER)
    if session_id and not await _restore(session, session_id):
        return _error(404, errors.INVALID_REQUEST, "unknown or ended MCP session")
    if session.principal is None and not settings.DEV_MODE:
        try:
            payload = loads(body)
        except (ValueError, RecursionError):
            payload = None  # the dispatcher answers -32700
        needing = _needs_key(payload)
        if needing is not None:
            req_id = needing.get("id")
            return _json(
                error_response(
                    req_id if isinstance(req_id, str | int) else None,
                    _UNAUTHENTICATED,
                    session.auth_error or "authentication required: send an API key",
                ),
                401,
                {"WWW-Authenticate": 'Bearer realm="persona-mcp"'},
            )
    new_session = not session_id and _is_initialize_body(body)
    if _accepts_sse(request):
        return await _maybe_streamed(session, body, session_id, new_session)
    result = await dispatcher.handle_text(body)
    return await _answer(session, result, session_id, new_session)


def _is_initialize_body(body: bytes) -> bool:
    if b'"initialize"' not in body:  # cheap test first: this runs on every request
        return False
    try:
        return _is_initialize(loads(body))
    except (ValueError, RecursionError):
        return False


async def _answer(session: Session, result, session_id: str | None, new_session: bool):
    headers = await _session_headers(session, session_id, new_session and result is not None)
    if result is None:
        return HttpResponse(status=202, headers=headers)
    return _json(result, headers=headers)


async def _session_headers(session: Session, session_id: str | None, create: bool) -> dict:
    if session_id:
        await _save(session)
        return {}
    if create and session.mcp_protocol_version in ALL_VERSIONS:
        session.session_id = uuid.uuid4().hex
        await _save(session)
        return {SESSION_HEADER: session.session_id}
    return {}


async def _maybe_streamed(session: Session, body: bytes, session_id, new_session):
    """Answer as SSE once the call sends a notification; as JSON when it never does."""
    queue: asyncio.Queue = asyncio.Queue()

    async def send(message: dict) -> None:
        queue.put_nowait(("note", message))

    async def run() -> None:
        try:
            result = await Dispatcher(session, send=send).handle_text(body)
        except BaseException as exc:
            queue.put_nowait(("failed", exc))
            raise
        queue.put_nowait(("done", result))

    task = asyncio.ensure_future(run())
    kind, value = await queue.get()
    if kind == "failed":
        raise value
    if kind == "done":
        return await _answer(session, value, session_id, new_session)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    headers.update(await _session_headers(session, session_id, new_session))

    async def events():
        item: tuple = (kind, value)
        try:
            while True:
                kind_, value_ = item
                if kind_ == "failed":
                    return
                if value_ is not None:
                    yield _sse(value_)
                if kind_ == "done":
                    if session_id:
                        await _save(session)
                    return
                item = await queue.get()
        finally:
            if not task.done():  # the client went away: cancel the call (stops the turn)
                task.cancel()

    return StreamingHttpResponse(events(), content_type="text/event-stream", headers=headers)


async def _end_session(request):
    """``DELETE /mcp`` with ``Mcp-Session-Id``: forget the session."""
    session_id = request.headers.get(SESSION_HEADER)
    if not session_id:
        return _error(400, errors.INVALID_REQUEST, f"{SESSION_HEADER} header required")
    session = Session(transport="http")
    await _authenticate(request, session)
    if not await _restore(session, session_id):
        return _error(404, errors.INVALID_REQUEST, "unknown or ended MCP session")
    await cache.adelete(_cache_key(session_id))
    return HttpResponse(status=204)
