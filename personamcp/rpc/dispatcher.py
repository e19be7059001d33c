"""JSON-RPC 2.0 dispatch, shared by the WebSocket consumer and the HTTP view.

Implements the rules of PROTOCOL.md: id echo, exactly one of result/error, silent
notifications, batches with a size limit, frame size limit, error codes from the one table in
``personamcp.errors``, internal errors logged with a correlation id and never leaked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from personamcp import errors
from personamcp.auth import rate_limit, require
from personamcp.exceptions import DomainError, ValidationFailed
from personamcp.logging import correlation_id, new_correlation_id
from personamcp.rpc.context import RpcContext, Session
from personamcp.rpc.registry import RpcMethod, registry
from personamcp.schemas import validate

log = logging.getLogger("personamcp.rpc")
_MISSING = object()
Send = Callable[[dict], Awaitable[None]]


def error_response(req_id: Any, code: int, message: str, data: Any = None) -> dict:
    error: dict = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": error}


def _valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class Dispatcher:
    """Turns a decoded JSON-RPC payload into the response payload (or ``None``)."""

    def __init__(self, session: Session, *, send: Send | None = None):
        self.session = session
        self.send = send
        self.limits = settings.PERSONAMCP

    async def handle_text(self, text: str) -> Any:
        """Parse one frame or body and answer it; returns the response payload or None."""
        if len(text) > self.limits["MAX_FRAME_BYTES"]:
            return error_response(
                None,
                errors.INVALID_REQUEST,
                f"message too large (limit {self.limits['MAX_FRAME_BYTES']} bytes)",
            )
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            return error_response(None, errors.PARSE_ERROR, "parse error: invalid JSON")
        return await self.handle_payload(payload)

    async def handle_payload(self, payload: Any) -> Any:
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
        if not isinstance(request, dict):
            return error_response(None, errors.INVALID_REQUEST, "invalid request: not an object")
        req_id = request.get("id", _MISSING)
        is_notification = req_id is _MISSING
        reply_id = None if is_notification or not _valid_id(req_id) else req_id
        method_name = request.get("method")
        params = request.get("params", None)
        problem = None
        if request.get("jsonrpc") != "2.0":
            problem = 'invalid request: "jsonrpc" must be "2.0"'
        elif not isinstance(method_name, str):
            problem = 'invalid request: "method" must be a string'
        elif not is_notification and not _valid_id(req_id):
            problem = 'invalid request: "id" must be a string, an integer or null'
        if problem:
            return error_response(reply_id, errors.INVALID_REQUEST, problem)

        method = registry.get(method_name)
        if method is None:
            if is_notification:
                return None
            return error_response(req_id, errors.METHOD_NOT_FOUND, f"method not found: {method_name}")
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
        token = correlation_id.set(new_correlation_id())
        track = not is_notification and req_id is not None
        if track:
            self.session.in_flight[req_id] = ctx
        try:
            result = await self._call(method, ctx, params)
        except DomainError as exc:
            if is_notification:
                return None
            body = errors.error_body(exc)
            return {"jsonrpc": "2.0", "id": req_id, "error": body}
        except asyncio.CancelledError:
            ctx.cancel_event.set()
            raise
        except Exception:
            cid = correlation_id.get()
            log.exception("internal error in %s", method_name)
            if is_notification:
                return None
            return error_response(
                req_id, errors.INTERNAL_ERROR, "internal error", {"correlation_id": cid}
            )
        finally:
            if track and self.session.in_flight.get(req_id) is ctx:
                del self.session.in_flight[req_id]
            correlation_id.reset(token)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": req_id, "result": result}

    async def _call(self, method: RpcMethod, ctx: RpcContext, params: Any) -> Any:
        session = self.session
        if not method.public:
            if session.principal is None and session.auth_error and not settings.DEV_MODE:
                from personamcp.exceptions import Unauthenticated

                raise Unauthenticated(session.auth_error)
            principal = require(session.principal, method.scope)
            if session.principal is None:
                session.principal = principal  # dev mode: the announced anonymous principal
        parsed = validate(method.params, params)
        if method.is_async:
            if session.principal is not None:
                await _rate_limit_async(session)
            return await method.func(ctx, parsed)

        def run() -> Any:
            if session.principal is not None:
                rate_limit(session.principal)
            return method.func(ctx, parsed)

        return await database_sync_to_async(run, thread_sensitive=False)()


async def _rate_limit_async(session: Session) -> None:
    # Counting goes through the cache; with Redis that is I/O, so off the event loop.
    if settings.REDIS_URL:
        await database_sync_to_async(rate_limit, thread_sensitive=False)(session.principal)
    else:
        rate_limit(session.principal)


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message}])
