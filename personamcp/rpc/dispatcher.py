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
import random
import time
import weakref
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
_random_bits = random.getrandbits
# Methods that run an LLM turn: limited per key (PERSONAMCP_MAX_TURNS_PER_KEY, -32029).
TURN_METHODS = frozenset({"conversation.send_message", "room.send", "room.step"})
Send = Callable[[dict], Awaitable[None]]
_turn_gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def turn_gate() -> asyncio.Semaphore:
    """This event loop's gate for sync turns: at most ``PERSONAMCP["TURN_THREADS"]`` of its
    worker threads (``PERSONAMCP_WORKER_THREADS``, consumer.py) run turns at once. A turn holds
    its thread for the whole LLM answer; with no gate, 64 turns in flight took every thread
    and a read (``persona.get``) waited behind them for seconds. The rest of the threads stay
    free for other calls, and a turn over the limit waits here, in the loop, not in a thread."""
    loop = asyncio.get_running_loop()
    gate = _turn_gates.get(loop)
    if gate is None:
        gate = _turn_gates[loop] = asyncio.Semaphore(turn_threads())
    return gate


def turn_threads() -> int:
    """Worker threads that turns may hold at once: ``PERSONAMCP_TURN_THREADS``, by default
    three quarters of ``PERSONAMCP_WORKER_THREADS``; at least one thread is left for reads."""
    workers = settings.PERSONAMCP["WORKER_THREADS"]
    wanted = settings.PERSONAMCP.get("TURN_THREADS") or workers * 3 // 4
    return max(1, min(wanted, workers - 1))


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


def _envelope(request: Any) -> tuple[Any, bool, str] | dict:
    """Step 1: ``(id, is_notification, method name)`` of a well-formed request, else the -32600."""
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
    return req_id, is_notification, method_name


def _resolve(
    method_name: str, params: Any, req_id: Any, is_notification: bool
) -> tuple[RpcMethod, dict | None] | dict | None:
    """Step 2: the registered method and its by-name params, else the error (None: silent)."""
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
    return method, params


def _new_correlation_id() -> str:
    # Same shape as personamcp.logging.new_correlation_id() (16 hex digits), without a syscall.
    return f"{_random_bits(64):016x}"


# Metric children by label values: ``labels()`` takes a lock and builds a key on every call.
_calls: dict[tuple[str, str], Any] = {}
_latency: dict[str, Any] = {}


def _count(method_name: str, outcome: str, seconds: float) -> None:
    """Step 3's bookkeeping: the call counter (by outcome) and the latency histogram."""
    counter = _calls.get((method_name, outcome))
    if counter is None:
        counter = _calls[method_name, outcome] = metrics.RPC_CALLS.labels(method_name, outcome)
    histogram = _latency.get(method_name)
    if histogram is None:
        histogram = _latency[method_name] = metrics.RPC_LATENCY.labels(method_name)
    counter.inc()
    histogram.observe(seconds)


class Dispatcher:
    """Turns a decoded JSON-RPC payload into the response payload (or ``None``)."""

    def __init__(self, session: Session, *, send: Send | None = None):
        self.session = session
        self.send = send
        self.limits = settings.PERSONAMCP
        # Read once per connection: a settings attribute costs a lazy-object lookup per call.
        self.redis = bool(settings.REDIS_URL)
        self._actor: tuple[Any, audit_context.Actor] | None = None

    def _bind_actor(self) -> None:
        """Bind the audit actor of this session's key, made once per principal."""
        principal = self.session.principal
        cached = self._actor
        if cached is None or cached[0] is not principal:
            door = "rpc" if self.session.transport == "ws" else "mcp-http"
            cached = self._actor = (principal, audit_context.Actor(door=door, principal=principal))
        audit_context.bind_actor(cached[1])

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
        if isinstance(payload, list):
            return await self.handle_payload(payload)
        return await self.handle_request(payload)  # the usual frame: one coroutine less

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
        """Answer one request object; ``None`` for a notification.

        Three named steps: the envelope (``_envelope``), the method and its params
        (``_resolve``), then the call with its bookkeeping (``_run``). Each of the first two
        returns either what the next needs or the error answer.
        """
        envelope = _envelope(request)
        if isinstance(envelope, dict):
            return envelope
        req_id, is_notification, method_name = envelope
        resolved = _resolve(method_name, request.get("params"), req_id, is_notification)
        if isinstance(resolved, dict) or resolved is None:
            return resolved
        method, params = resolved
        return await self._run(method, params, req_id, is_notification)

    async def _run(
        self, method: RpcMethod, params: dict | None, req_id: Any, is_notification: bool
    ) -> dict | None:
        """Call ``method`` with a fresh context, counting it; the answer (``None`` if none)."""
        ctx = RpcContext(
            session=self.session,
            method=method.name,
            request_id=None if is_notification else req_id,
            is_notification=is_notification,
            loop=asyncio.get_running_loop(),
            send=self.send,
        )
        token = correlation_id.set(_new_correlation_id())
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
            log.exception("internal error in %s", method.name)
            if is_notification:
                return None
            return error_response(
                req_id, errors.INTERNAL_ERROR, "internal error", {"correlation_id": cid}
            )
        finally:
            if track and in_flight.get(req_id) is ctx:
                del in_flight[req_id]
            correlation_id.reset(token)
            _count(method.name, outcome, time.perf_counter() - started)
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
        # request runs in its own context (see consumer.start_eagerly), so the binding ends
        # with it.
        self._bind_actor()
        turn = method.name in TURN_METHODS
        if method.is_async:
            if principal is not None:
                if self.redis:
                    await database_sync_to_async(rate_limit, thread_sensitive=False)(principal)
                else:
                    rate_limit(principal)
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

        if turn:
            async with turn_gate():
                return await database_sync_to_async(run, thread_sensitive=False)()
        return await database_sync_to_async(run, thread_sensitive=False)()


def invalid(field: str, message: str) -> ValidationFailed:
    """A -32602 error naming one field."""
    return ValidationFailed([{"field": field, "message": message}])
