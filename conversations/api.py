"""REST views of conversations (parity with conversation.* on /mcp).

``POST /api/conversations/messages/`` answers with JSON, or with Server-Sent Events when the
body has ``"stream": true`` or the request sends ``Accept: text/event-stream``:

    event: expression data: {"conversation_id", "expression"}   (first, as soon as known)
    event: chunk   data: {"conversation_id", "index", "delta"}
    event: done    data: <the same result object as the JSON answer>
    event: error   data: {"error": {"code", "message", "data"?}}

Closing the connection mid-stream cancels the turn (the partial reply is stored as cancelled).
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import schemas, selectors, services
from personamcp import errors
from personamcp.api import parse, parse_query
from personamcp.auth import Principal, require_persona, turn_slot
from personamcp.exceptions import DomainError, ValidationFailed
from personamcp.logging import correlation_id
from personas.api import resolve_persona

log = logging.getLogger(__name__)


def participant_of(principal: Principal) -> str:
    """The default participant id of a REST caller (the same rule as ``Session.user_id``)."""
    return principal.name if principal.key_id is None else f"apikey:{principal.name}"


PROGRESS = ("chunk", "expression")  # events before the stream's last one


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _worker(run: Callable, put: Callable[[tuple], None], cancel: threading.Event) -> None:
    try:
        # the turn's expression ({conversation_id, expression}) comes the chunks' way
        result = run(
            on_chunk=lambda data: put(("expression" if "expression" in data else "chunk", data)),
            cancel_event=cancel,
        )
        put(("done", result))
    except DomainError as exc:
        put(("error", {"error": errors.error_body(exc)}))
    except Exception:
        log.exception("streaming turn failed")
        put(
            (
                "error",
                {
                    "error": {
                        "code": errors.INTERNAL_ERROR,
                        "message": "internal error",
                        "data": {"correlation_id": correlation_id.get()},
                    }
                },
            )
        )
    finally:
        connection.close()


def _stream_async(run: Callable) -> AsyncIterator[bytes]:
    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def put(item: tuple) -> None:
            loop.call_soon_threadsafe(items.put_nowait, item)

        threading.Thread(target=_worker, args=(run, put, cancel), daemon=True).start()
        try:
            while True:
                kind, data = await items.get()
                yield _sse(kind, data)
                if kind not in PROGRESS:
                    return
        finally:
            cancel.set()  # client went away (or we are done): stop generating

    return events()


def _stream_sync(run: Callable) -> Iterator[bytes]:
    items: queue.Queue = queue.Queue()
    cancel = threading.Event()
    threading.Thread(target=_worker, args=(run, items.put, cancel), daemon=True).start()
    try:
        while True:
            kind, data = items.get()
            yield _sse(kind, data)
            if kind not in PROGRESS:
                return
    finally:
        cancel.set()


def event_stream(request, run: Callable) -> StreamingHttpResponse:
    """The SSE answer of a turn: ``run(on_chunk=..., cancel_event=...)`` works on a thread
    while its chunks are sent (async under ASGI, a blocking iterator under WSGI)."""
    is_asgi = isinstance(getattr(request, "_request", request), ASGIRequest)
    body = _stream_async(run) if is_asgi else _stream_sync(run)
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


class EventStreamRenderer(BaseRenderer):
    """Lets ``Accept: text/event-stream`` through content negotiation; an error raised before
    the stream starts is sent as a single ``event: error``."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return _sse("error" if isinstance(data, dict) and "error" in data else "done", data)


class SendMessageView(APIView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(request=schemas.SendMessageParams, responses=schemas.SendMessageOut)
    def post(self, request):
        """Send a message to a persona (same as ``conversation.send_message``; SSE variant with
        ``stream: true`` or ``Accept: text/event-stream``)."""
        params = parse(request, schemas.SendMessageParams)
        if params.persona_id:
            persona = resolve_persona(request, params.persona_id)
        elif params.conversation_id:
            conversation = selectors.conversation_get(conversation_id=params.conversation_id)
            require_persona(request.principal, str(conversation.persona_id))
            persona = conversation.persona
        else:
            raise ValidationFailed([{"field": "persona_id", "message": "this field is required"}])
        wants_sse = params.stream or "text/event-stream" in request.headers.get("Accept", "")
        kwargs = {
            "persona": persona,
            "content": params.content,
            "sender": params.sender or participant_of(request.principal),
            "sender_name": params.sender_name,
            "conversation_id": params.conversation_id,
            "context": params.context,
            "platform": "rest",
            "greeting_index": params.greeting_index,
            "actions_available": params.actions_available,
        }
        if not wants_sse:
            with turn_slot(request.principal):
                return Response(services.conversation_send_message(**kwargs))

        def run(*, on_chunk, cancel_event) -> dict:
            with turn_slot(request.principal):
                return services.conversation_send_message(
                    **kwargs,
                    stream=True,
                    on_chunk=on_chunk,
                    on_expression=on_chunk,
                    cancel_event=cancel_event,
                )

        return event_stream(request, run)


class ConversationListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("persona", str),
            OpenApiParameter("participant", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses=schemas.ListOut,
    )
    def get(self, request):
        """Conversations, most recently active first, paged (same as ``conversation.list``)."""
        params = parse_query(request, schemas.ListParams, aliases={"persona": "persona_id"})
        persona = resolve_persona(request, params.persona_id) if params.persona_id else None
        conversations, next_cursor = selectors.conversation_list(
            persona=persona,
            participant=params.participant,
            persona_ids=request.principal.persona_ids,
            limit=params.limit,
            cursor=params.cursor,
        )
        return Response(
            schemas.ListOut.dump({"conversations": conversations, "next_cursor": next_cursor})
        )


def _conversation(request, conversation_id: str):
    conversation = selectors.conversation_get(conversation_id=conversation_id)
    require_persona(request.principal, str(conversation.persona_id))
    return conversation


class ConversationMessagesView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("before", int)],
        responses=schemas.HistoryOut,
    )
    def get(self, request, conversation_id: str):
        """Messages of a conversation, oldest first (same as ``conversation.history``)."""
        params = parse_query(request, schemas.HistoryParams, conversation_id=conversation_id)
        conversation = _conversation(request, conversation_id)
        messages = selectors.message_history(
            conversation=conversation, limit=params.limit, before=params.before
        )
        return Response(
            schemas.HistoryOut.dump({"conversation_id": conversation.id, "messages": messages})
        )


class ConversationDetailView(APIView):
    @extend_schema(responses=schemas.ConversationOut)
    def get(self, request, conversation_id: str):
        """One conversation."""
        return Response(schemas.ConversationOut.dump(_conversation(request, conversation_id)))


class ConversationEndView(APIView):
    @extend_schema(request=None, responses=schemas.EndOut)
    def post(self, request, conversation_id: str):
        """End a conversation and store its summary memory (same as ``conversation.end``)."""
        conversation = _conversation(request, conversation_id)
        return Response(services.conversation_end(conversation=conversation))
