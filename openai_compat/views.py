"""The OpenAI-compatible door: ``GET /v1/models`` and ``POST /v1/chat/completions``.

A persona is a model. A chat completion is one turn of ``conversation_send_message``, the
same service behind ``conversation.send_message`` over ``/mcp``: memories, mood, relationship
and lorebooks work exactly as there. Clients such as SillyTavern send the whole chat on every
request; the server keeps its own history, so only the last ``user`` message is the new turn
and the client's ``system`` messages are the scene context.

The conversation is the open one of (persona, participant), where the participant is the
request's ``user`` (the same participant id as ``sender`` over ``/mcp``) or, without it, the
API key's own participant id; an ``X-Conversation-Id`` header names one explicitly.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from channels.db import database_sync_to_async
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from conversations.exceptions import ConversationNotFound
from llm.exceptions import LLMTimeout, LLMUnavailable
from openai_compat.schemas import ChatCompletionRequest
from personamcp import errors
from personamcp.auth import (
    Principal,
    bearer_token,
    principal_from_key,
    rate_limit,
    require,
    turn_slot,
)
from personamcp.exceptions import (
    Busy,
    DomainError,
    Forbidden,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from personamcp.logging import correlation_id
from personamcp.schemas import validate
from personas.exceptions import PersonaNotFound

log = logging.getLogger(__name__)

# OpenAI's error ``type`` by HTTP status, and a stable ``code`` per domain error.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}
_CODES: list[tuple[type[DomainError], str]] = [
    (Unauthenticated, "invalid_api_key"),
    (Forbidden, "forbidden"),
    (PersonaNotFound, "model_not_found"),
    (ConversationNotFound, "conversation_not_found"),
    (RateLimited, "rate_limit_exceeded"),
    (Busy, "conversation_busy"),
    (LLMUnavailable, "llm_unavailable"),
    (LLMTimeout, "llm_timeout"),
    (ValidationFailed, "invalid_value"),
]
_RUNNING: set[asyncio.Task] = set()
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _json(payload: Any, status: int = 200, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def error_body(exc: DomainError) -> tuple[int, dict]:
    """(HTTP status, ``{"error": {message, type, param, code}}``) of a domain error."""
    _, status = errors.lookup(exc)
    code = next((c for cls, c in _CODES if isinstance(exc, cls)), type(exc).__name__.lower())
    param = None
    message = exc.message
    if isinstance(exc, ValidationFailed) and exc.errors:
        param = exc.errors[0]["field"]
        message += ": " + "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    if isinstance(exc, PersonaNotFound):
        message = f"{exc.message} (the model is a persona slug: see GET /v1/models)"
    body = {
        "message": message,
        "type": _TYPES.get(status, "server_error"),
        "param": param,
        "code": code,
    }
    return status, {"error": body}


def _error_response(exc: DomainError) -> HttpResponse:
    status, body = error_body(exc)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="persona-mcp"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(int(exc.retry_after) + 1)
    return _json(body, status, headers)


def _plain_error(status: int, message: str, code: str, headers=None) -> HttpResponse:
    body = {"message": message, "type": _TYPES.get(status, "server_error"), "param": None}
    return _json({"error": {**body, "code": code}}, status, headers)


def _internal_error() -> HttpResponse:
    log.exception("internal error in the OpenAI-compatible API")
    return _plain_error(500, f"internal error (correlation id {correlation_id.get()})", "internal")


def _authenticate(raw_key: str | None, scope: str) -> Principal:
    """The caller, checked for ``scope`` and counted by the rate limiter. Sync (database)."""
    principal = principal_from_key(raw_key) if raw_key else None
    principal = require(principal, scope)
    rate_limit(principal)
    return principal


def _raw_key(request) -> str | None:
    return bearer_token(request.headers.get("Authorization")) or request.headers.get("X-API-Key")


def _method_not_allowed(allowed: str) -> HttpResponse:
    return _plain_error(405, "method not allowed", "method_not_allowed", {"Allow": allowed})


def _model(persona) -> dict:
    return {
        "id": persona.slug,
        "object": "model",
        "created": int(persona.created_at.timestamp()),
        "owned_by": "persona-mcp",
    }


def _models(raw_key: str | None, slug: str | None) -> dict:
    from personas.models import Persona
    from personas.selectors import persona_get

    principal = _authenticate(raw_key, "read")
    if slug is not None:
        persona = persona_get(persona_id=slug)
        if not principal.may_access(persona.id):
            raise PersonaNotFound(f"persona not found: {slug}")
        return _model(persona)
    qs = Persona.objects.order_by("slug").only("id", "slug", "created_at")
    if principal.persona_ids is not None:
        qs = qs.filter(id__in=principal.persona_ids)
    return {"object": "list", "data": [_model(p) for p in qs]}


@csrf_exempt
async def models(request, model: str | None = None):
    """``GET /v1/models``: one model per persona the key may use; ``/v1/models/{slug}``: one."""
    if request.method != "GET":
        return _method_not_allowed("GET")
    try:
        payload = await database_sync_to_async(_models, thread_sensitive=False)(
            _raw_key(request), model
        )
    except DomainError as exc:
        return _error_response(exc)
    except Exception:
        return _internal_error()
    return _json(payload)


# --- chat completions ---------------------------------------------------------------------


def _participant(principal: Principal, user: str | None) -> str:
    """``user`` as given (the ``sender`` of /mcp), else the key's own participant id."""
    if user:
        return user
    return principal.name if principal.key_id is None else f"apikey:{principal.name}"


def _forwarded_user(request) -> tuple[str | None, str | None]:
    """The end user a front end names in headers (Open WebUI's forwarded user info)."""
    user_id = (request.headers.get("X-OpenWebUI-User-Id") or "").strip()[:200]
    name = (request.headers.get("X-OpenWebUI-User-Name") or "").strip()[:255]
    return (f"openwebui:{user_id}" if user_id else None), (name or None)


def _turn_args(
    raw_key: str | None,
    req: ChatCompletionRequest,
    conversation_id: str | None,
    forwarded: tuple[str | None, str | None] = (None, None),
):
    """Authenticate, resolve the persona and build the service's keyword arguments: returns
    ``(principal, kwargs)``. Sync."""
    from personas.selectors import persona_get

    principal = _authenticate(raw_key, "write")
    persona = persona_get(persona_id=req.model)
    if not principal.may_access(persona.id):
        raise Forbidden("this API key does not cover this persona")
    last = req.messages[-1]
    if last.role != "user":
        raise ValidationFailed(
            [{"field": f"messages.{len(req.messages) - 1}.role", "message": "must be 'user'"}]
        )
    content = last.text()
    if not content.strip():
        raise ValidationFailed(
            [{"field": f"messages.{len(req.messages) - 1}.content", "message": "no text"}]
        )
    scene = "\n\n".join(
        m.text() for m in req.messages[:-1] if m.role in ("system", "developer") and m.text()
    )
    return principal, {
        "persona": persona,
        "content": content,
        "sender": _participant(principal, req.user or forwarded[0]),
        "sender_name": last.name or forwarded[1],
        "conversation_id": conversation_id,
        "context": {"scene": scene} if scene else None,
        "platform": "openai",
        "max_tokens": req.token_limit,
        "temperature": req.temperature,
        "stop": req.stop,
        "actions_available": req.actions_available(),
    }


def _tool_calls(result: dict) -> list[dict]:
    """The persona's chosen actions as OpenAI ``tool_calls`` (arguments as JSON text)."""
    return [
        {
            "id": f"call_{result['message_id']}_{i}",
            "type": "function",
            "function": {"name": a["name"], "arguments": orjson.dumps(a["arguments"]).decode()},
        }
        for i, a in enumerate(result.get("actions") or [])
    ]


def _finish_reason(req: ChatCompletionRequest, result: dict) -> str:
    if result.get("actions"):
        return "tool_calls"
    limit = req.token_limit
    if limit and result["usage"]["completion_tokens"] >= limit:
        return "length"
    return "stop"


def _usage(result: dict) -> dict:
    prompt, completion = result["usage"]["prompt_tokens"], result["usage"]["completion_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _extras(result: dict) -> dict:
    extras = {
        "conversation_id": result["conversation_id"],
        "message_id": result["message_id"],
        "persona_id": result["persona_id"],
        "emotion": result["emotion"],
        "memories_used": result["memories_used"],
    }
    for key in ("lore_used", "actions", "expression", "triggers_fired"):
        if key in result:
            extras[key] = result[key]
    return extras


def _read_request(request) -> ChatCompletionRequest | HttpResponse:
    if request.method != "POST":
        return _method_not_allowed("POST")
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _plain_error(415, "Content-Type must be application/json", "unsupported_media_type")
    try:
        data = orjson.loads(request.body)
    except RequestDataTooBig:
        return _plain_error(413, "request body too large", "request_too_large")
    except orjson.JSONDecodeError:
        return _plain_error(400, "the body is not valid JSON", "invalid_json")
    try:
        return validate(ChatCompletionRequest, data)
    except ValidationFailed as exc:
        return _error_response(exc)


def _conversation_header(request) -> str | None:
    value = (request.headers.get("X-Conversation-Id") or "").strip()
    return value or None


@csrf_exempt
async def chat_completions(request):
    """``POST /v1/chat/completions``: one persona turn, as a ``chat.completion`` or over SSE."""
    req = _read_request(request)
    if isinstance(req, HttpResponse):
        return req
    if req.stream:
        return await _stream(request, req)
    from conversations.services import conversation_send_message

    forwarded = _forwarded_user(request)

    def run() -> dict:
        principal, kwargs = _turn_args(
            _raw_key(request), req, _conversation_header(request), forwarded
        )
        with turn_slot(principal):
            return conversation_send_message(**kwargs)

    try:
        result = await database_sync_to_async(run, thread_sensitive=False)()
    except DomainError as exc:
        return _error_response(exc)
    except Exception:
        return _internal_error()
    return _json(
        {
            "id": f"chatcmpl-{result['message_id']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": result["response"],
                        **({"tool_calls": calls} if (calls := _tool_calls(result)) else {}),
                    },
                    "logprobs": None,
                    "finish_reason": _finish_reason(req, result),
                }
            ],
            "usage": _usage(result),
            "persona_mcp": _extras(result),
        },
        headers={"X-Conversation-Id": result["conversation_id"]},
    )


def _sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _start_turn(request, req: ChatCompletionRequest) -> tuple[asyncio.Queue, threading.Event]:
    """Start the turn on a worker thread. Its queue receives ``("delta", chunk)`` items, then
    ``("done", result)`` or ``("error", exception)``; setting the event cancels the turn."""
    from conversations.services import conversation_send_message

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    cancel = threading.Event()
    raw_key, conversation_id = _raw_key(request), _conversation_header(request)
    forwarded = _forwarded_user(request)

    def on_chunk(chunk: dict) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ("delta", chunk))

    def run() -> dict:
        principal, kwargs = _turn_args(raw_key, req, conversation_id, forwarded)
        with turn_slot(principal):
            return conversation_send_message(
                **kwargs, stream=True, on_chunk=on_chunk, cancel_event=cancel
            )

    async def turn() -> None:
        try:
            result = await database_sync_to_async(run, thread_sensitive=False)()
        except BaseException as exc:  # handed to the response, which reports it
            queue.put_nowait(("error", exc))
            if not isinstance(exc, Exception):
                raise
        else:
            queue.put_nowait(("done", result))

    task = asyncio.ensure_future(turn())
    _RUNNING.add(task)  # keep a reference until the turn ends, even if the client is gone
    task.add_done_callback(_RUNNING.discard)
    return queue, cancel


def _early_error(exc: BaseException) -> HttpResponse:
    """An error before any text: a plain error response with its HTTP status."""
    if isinstance(exc, DomainError):
        return _error_response(exc)
    try:
        raise exc
    except Exception:
        return _internal_error()


def _stream_error(exc: BaseException) -> bytes:
    """An error after the stream began: its last data event."""
    if isinstance(exc, DomainError):
        return _sse(error_body(exc)[1])
    log.error("internal error in a streamed completion", exc_info=exc)
    return _sse(
        {"error": {"message": "internal error", "type": "server_error",
                   "param": None, "code": "internal"}}
    )  # fmt: skip


@dataclass
class _Chunks:
    """The ``chat.completion.chunk`` objects of one streamed completion."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _head(self) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created}

    def delta(self, delta: dict, finish: str | None = None, **extra) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse(
            {
                **self._head(),
                "model": self.model,
                "system_fingerprint": None,
                "choices": [choice],
                **extra,
            }
        )

    def usage(self, usage: dict) -> bytes:
        """The extra last chunk of ``stream_options.include_usage``: no choices, the usage."""
        return _sse({**self._head(), "model": self.model, "choices": [], "usage": usage})


async def _events(req, first: tuple, queue: asyncio.Queue, cancel: threading.Event):
    """The SSE body: a role chunk, a chunk per delta, the finish chunk (with usage and the
    persona_mcp extras), the usage chunk when asked for, ``[DONE]``."""
    chunks = _Chunks(req.model)
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    item = first
    try:
        yield chunks.delta({"role": "assistant", "content": ""})
        while True:
            kind, value = item
            if kind == "delta":
                yield chunks.delta({"content": value["delta"]})
            elif kind == "done":
                usage = _usage(value)
                calls = _tool_calls(value)
                if calls:  # the persona's actions, whole, before the finish chunk
                    yield chunks.delta(
                        {"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]}
                    )
                finish = _finish_reason(req, value)
                yield chunks.delta({}, finish, usage=usage, persona_mcp=_extras(value))
                if include_usage:
                    yield chunks.usage(usage)
                break
            else:
                yield _stream_error(value)
                break
            item = await queue.get()
        yield b"data: [DONE]\n\n"
    finally:
        # The client went away (or we are done): stop generating, keep what was said.
        cancel.set()


async def _stream(request, req: ChatCompletionRequest):
    """Run the turn on a worker thread; its deltas reach the client as SSE chunks.

    The response starts once the first delta (or the outcome) is known, so errors raised before
    any text (unknown persona, busy conversation, backend down) keep their HTTP status.
    """
    queue, cancel = _start_turn(request, req)
    first = await queue.get()
    if first[0] == "error":
        return _early_error(first[1])
    headers = dict(_SSE_HEADERS)
    if first[1].get("conversation_id"):
        headers["X-Conversation-Id"] = first[1]["conversation_id"]
    body = _events(req, first, queue, cancel)
    return StreamingHttpResponse(body, content_type="text/event-stream", headers=headers)
