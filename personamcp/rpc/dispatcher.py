"""JSON-RPC 2.0 dispatch, shared by the WebSocket consumer and the HTTP view.

Implements the rules of PROTOCOL.md: id echo, exactly one of result/error, silent
notifications, batches with a size limit, frame size limit, error codes from the one table in
``personamcp.errors``, internal errors logged with a correlation id and never leaked.

This is the hot path of every call, so it avoids work it does not need: JSON goes through
orjson, sync handlers hop to a worker thread once (rate limit and handler together), and the
per-request context is small.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from channels.db import database_sync_to_async
from django.conf import settings

from personamcp import actor as audit_context
from personamcp import errors, metrics
from personamcp.auth import rate_limit, require, turn_slot
from personamcp.exceptions import DomainError, Unauthenticated, ValidationFailed
from personamcp.logging import correlation_id
from personamcp.rpc.context import RpcContext, Session
from personamcp.rpc.registry import RpcMethod, registry
from personamcp.schemas import validate

log = logging.getLogger("personamcp.rpc")
_MISSING = object()
# Methods that run an LLM turn: limited per key (PERSONAMCP_MAX_TURNS_PER_KEY, -32029).
TURN_METHODS = frozenset({"conversation.send_message", "room.send", "room.step"})
Send = Callable[[dict], Awaitable[None]]


def error_response(req_id: Any, code: int, message: str, data: Any = None) -> dict:
    """A JSON-RPC error response object."""
    error: dict = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": error}


def _valid_id(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int) and not isinstance(value, bool))
    )


def _default(value: Any) -> Any:
    # Anything orjson cannot encode natively (Decimal, lazy strings...) becomes a string.
    return str(value)


def dumps_bytes(message: Any) -> bytes:
    """Compact JSON of a message as UTF-8 bytes."""
    try:
        return orjson.dumps(message, default=_default)
    except TypeError:  # e.g. an id beyond 64 bits, which the stdlib encodes exactly
        return json.dumps(
            message, separators=(",", ":"), ensure_ascii=False, default=_default
        ).encode()


def dumps(message: Any) -> str:
    """Compact JSON text of a message (no ASCII escaping)."""
    return dumps_bytes(message).decode()


def _has_float_id(payload: Any) -> bool:
    items = payload if isinstance(payload, list) else (payload,)
    return any(isinstance(item, dict) and isinstance(item.get("id"), float) for item in items)


def loads(data: str | bytes) -> Any:
    """Parse strict JSON (no NaN/Infinity). Raises ``ValueError`` on invalid JSON.

    orjson reads integers beyond 64 bits as floats; a request id like that is a valid JSON
    integer that must be echoed unchanged, so such payloads are parsed again exactly.
    """
    payload = orjson.loads(data)
    if _has_float_id(payload):
        payload = json.loads(data)
    return payload


def byte_length_over(text: str | bytes, limit: int) -> bool:
    """True when the UTF-8 encoding of ``text`` is longer than ``limit`` bytes."""
    if isinstance(text, bytes | bytearray):
        return len(text) > limit
    n = len(text)
    if n > limit:
        return True
    if n * 4 <= limit:  # at most 4 bytes per code point
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


class Dispatcher:
    """Turns a decoded JSON-RPC payload into the response payload (or ``None``)."""

    def __init__(self, session: Session, *, send: Send | None = None):
        self.session = session
        self.send = send
        self.limits = settings.PERSONAMCP

    def too_large(self) -> dict:
        """The -32600 answer to a frame or body over the size limit."""
        limit = self.limits["MAX_FRAME_BYTES"]
        return error_response(
            None, errors.INVALID_REQUEST, f"invalid request: message larger than {limit} bytes"
        )

    async def handle_text(self, text: str | bytes) -> Any:
        """Parse one frame or body and answer it; returns the response payload or None."""
        if byte_length_over(text, self.limits["MAX_FRAME_BYTES"]):
            return self.too_large()
        try:
            payload = loads(text)
        except (ValueError, RecursionError):
            return error_response(None, errors.PARSE_ERROR, "parse error: invalid JSON")
        return await self.handle_payload(payload)

    async def handle_payload(self, payload: Any) -> Any:
        """Answer a parsed request, notification or batch."""
        if isinstance(payload, list):
            if not payload:
                return error_response(None, errors.INVALID_REQUEST, "invalid request: empty batch")
            if len(payload) > self.limits["MAX_BATCH"]:
                return error_response(
                    None,
                    errors.INVALID_REQUEST,
                    f"invalid request: batch larger than {self.limits['MAX_BATCH']}",
                )
            results = await asyncio.gather(*(self.handle_request(item) for item in payload))
            answered = [r for r in results if r is not None]
            return answered or None
        return await self.handle_request(payload)

    async def handle_request(self, request: Any) -> dict | None:
        """Answer one request object; ``None`` for a notification."""
        if not isinstance(request, dict):
            return error_response(None, errors.INVALID_REQUEST, "invalid request: not an object")
        req_id = request.get("id", _MISSING)
        is_notification = req_id is _MISSING
        method_name = request.get("method")
        problem = None
        if request.get("jsonrpc") != "2.0":
            problem = 'invalid request: "jsonrpc" must be "2.0"'
        elif not isinstance(method_name, str):
            problem = 'invalid request: "method" must be a string'
        elif not is_notification and not _valid_id(req_id):
            problem = 'invalid request: "id" must be a string, an integer or null'
        if problem:
            reply_id = None if is_notification or not _valid_id(req_id) else req_id
            return error_response(reply_id, errors.INVALID_REQUEST, problem)

        method = registry.get(method_name)
        if method is None:
            if is_notification:
                return None
            return error_response(
                req_id, errors.METHOD_NOT_FOUND, f"method not found: {method_name}"
            )
        params = request.get("params")
        if params is not None and not isinstance(params, dict):
            if is_notification:
                return None
            return error_response(
                req_id,
                errors.INVALID_PARAMS,
                "invalid params: params must be an object",
                {"errors": [{"field": "params", "message": "must be an object (by-name params)"}]},
            )

        ctx = RpcContext(
            session=self.session,
            method=method_name,
            request_id=None if is_notification else req_id,
            is_notification=is_notification,
            loop=asyncio.get_running_loop(),
            send=self.send,
        )
        token = correlation_id.set(os.urandom(8).hex())  # same shape as new_correlation_id()
        track = not is_notification and req_id is not None
        in_flight = self.session.in_flight
        if track:
            in_flight[req_id] = ctx
        started = time.perf_counter()
        outcome = "ok"
        try:
            result = await self.call(method, ctx, params)
        except DomainError as exc:
            outcome = type(exc).__name__
            if is_notification:
                return None
            return {"jsonrpc": "2.0", "id": req_id, "error": errors.error_body(exc)}
        except asyncio.CancelledError:
            outcome = "cancelled"
            ctx.cancel_event.set()
            raise
        except Exception:
            outcome = "internal_error"
            cid = correlation_id.get()
            log.exception("internal error in %s", method_name)
            if is_notification:
                return None
            return error_response(
                req_id, errors.INTERNAL_ERROR, "internal error", {"correlation_id": cid}
            )
        finally:
            if track and in_flight.get(req_id) is ctx:
                del in_flight[req_id]
            correlation_id.reset(token)
            metrics.RPC_CALLS.labels(method_name, outcome).inc()
            metrics.RPC_LATENCY.labels(method_name).observe(time.perf_counter() - started)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": req_id, "result": result}

    async def call(
        self, method: RpcMethod, ctx: RpcContext, params: Any, *, rate_limited: bool = True
    ) -> Any:
        """Check auth and scope, validate params, rate-limit and run the handler.

        ``rate_limited=False`` for a call nested in one already counted (MCP ``tools/call``).
        """
        session = self.session
        if not method.public:
            if session.principal is None and session.auth_error and not settings.DEV_MODE:
                raise Unauthenticated(session.auth_error)
            principal = require(session.principal, method.scope)
            if session.principal is None:
                session.principal = principal  # dev mode: the announced anonymous principal
        parsed = validate(method.params, params)
        principal = session.principal if rate_limited else None
        # Changes this call makes are audited as made by this key through this door. Each
        # request runs in its own task (its own context), so the binding ends with it.
        door = "rpc" if session.transport == "ws" else "mcp-http"
        audit_context.bind(door, principal=session.principal)
        turn = method.name in TURN_METHODS
        if method.is_async:
            if principal is not None:
                await rate_limit_async(principal)
            if turn:
                with turn_slot(session.principal):
                    return await method.func(ctx, parsed)
            return await method.func(ctx, parsed)

        def run() -> Any:
            if principal is not None:
                rate_limit(principal)
            if turn:
                with turn_slot(session.principal):
                    return method.func(ctx, parsed)
            return method.func(ctx, parsed)

        return await database_sync_to_async(run, thread_sensitive=False)()


async def rate_limit_async(principal) -> None:
    """``rate_limit`` from the event loop: off the loop when the cache is Redis (I/O)."""
    if settings.REDIS_URL:
        await database_sync_to_async(rate_limit, thread_sensitive=False)(principal)
    else:
        rate_limit(principal)


def invalid(field: str, message: str) -> ValidationFailed:
    """A -32602 error naming one field."""
    return ValidationFailed([{"field": field, "message": message}])
