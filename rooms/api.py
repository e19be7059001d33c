"""REST views of rooms (parity with room.* on /mcp).

``POST /api/rooms/{id}/messages/`` (and ``.../step/``) answer with JSON, or with Server-Sent
Events when the body has ``"stream": true`` or the request sends ``Accept: text/event-stream``:
``event: chunk`` (``{room_id, persona_id, conversation_id, index, delta}``) while the personas
speak, then ``event: done`` with the same object as the JSON answer (or ``event: error``).
"""

from __future__ import annotations

from contextlib import nullcontext

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api import EventStreamRenderer, event_stream, participant_of
from personamcp.api import parse, parse_query
from personamcp.auth import require_persona, turn_slot
from personas.api import resolve_persona
from rooms import operations, schemas, selectors, spatial
from rooms import services as rooms
from rooms.models import Room


def _room(request, room_id: str) -> Room:
    room = selectors.room_get(room_id=room_id)
    selectors.room_check_access(
        room=room, check=lambda p: require_persona(request.principal, str(p.id))
    )
    return room


def _turn(
    request, room_id: str, model, operation, *, slot: bool = False, **kwargs
) -> Response | StreamingHttpResponse:
    """The body validated by ``model``, then ``operation(params, room=..., **kwargs)``
    answered as JSON, or as SSE when asked for (it then streams its chunks); with ``slot``,
    it runs inside one of the key's turn slots."""
    params = parse(request, model, extra={"room_id": room_id})
    room = _room(request, room_id)

    def run(*, on_chunk, cancel_event) -> dict:
        with turn_slot(request.principal) if slot else nullcontext():
            return operation(
                params,
                room=room,
                **kwargs,
                stream=on_chunk is not None,
                on_chunk=on_chunk,
                cancel_event=cancel_event,
            )

    if not (params.stream or "text/event-stream" in request.headers.get("Accept", "")):
        return Response(run(on_chunk=None, cancel_event=None))
    return event_stream(request, run)


class RoomListView(APIView):
    @extend_schema(
        operation_id="rooms_list",
        parameters=[
            OpenApiParameter("persona", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses=schemas.RoomListOut,
    )
    def get(self, request):
        """Rooms, newest first, paged (same as ``room.list``)."""
        params = parse_query(request, schemas.RoomListParams, aliases={"persona": "persona_id"})
        persona = resolve_persona(request, params.persona_id) if params.persona_id else None
        return Response(
            operations.room_list(params, persona=persona, persona_ids=request.principal.persona_ids)
        )

    @extend_schema(request=schemas.RoomCreateParams, responses={201: schemas.RoomOut})
    def post(self, request):
        """Create a room (same as ``room.create``)."""
        params = parse(request, schemas.RoomCreateParams)
        room = operations.room_create(
            params, check=lambda p: require_persona(request.principal, str(p.id))
        )
        return Response(schemas.RoomOut.dump(room), status=201)


class RoomDetailView(APIView):
    @extend_schema(responses=schemas.RoomOut)
    def get(self, request, room_id: str):
        """One room (same as ``room.get``)."""
        return Response(schemas.RoomOut.dump(_room(request, room_id)))


class RoomMessagesView(APIView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("before", int)],
        responses=schemas.RoomHistoryOut,
    )
    def get(self, request, room_id: str):
        """Lines of a room, oldest first (same as ``room.history``)."""
        params = parse_query(request, schemas.RoomHistoryParams, room_id=room_id)
        room = _room(request, room_id)
        lines = selectors.room_history(room=room, limit=params.limit, before=params.before)
        return Response(schemas.RoomHistoryOut.dump({"room_id": room.id, "messages": lines}))

    @extend_schema(request=schemas.RoomSendParams, responses=schemas.RoomSendOut)
    def post(self, request, room_id: str):
        """Say something in a room (same as ``room.send``)."""
        return _turn(
            request,
            room_id,
            schemas.RoomSendParams,
            operations.room_send,
            slot=True,
            sender=participant_of(request.principal),
        )


class RoomStepView(APIView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(request=schemas.RoomStepParams, responses=schemas.RoomStepOut)
    def post(self, request, room_id: str):
        """Let the personas talk among themselves (same as ``room.step``)."""
        return _turn(request, room_id, schemas.RoomStepParams, operations.room_step)


class RoomCloseView(APIView):
    @extend_schema(request=None, responses=schemas.RoomCloseOut)
    def post(self, request, room_id: str):
        """Close a room (same as ``room.close``)."""
        room = rooms.room_close(room=_room(request, room_id))
        return Response(schemas.RoomCloseOut.dump({"closed": True, "room": room}))


class SceneMoveView(APIView):
    @extend_schema(request=schemas.SceneMoveParams, responses=schemas.SceneMoveOut)
    def post(self, request, room_id: str):
        """Move a persona or a participant in a spatial room (same as ``scene.move``); the
        body is ``{entity_id, position: {x, y, z}}``."""
        params = parse(request, schemas.SceneMoveParams, extra={"room_id": room_id})
        room = _room(request, room_id)
        return Response(
            spatial.scene_move(
                room=room, entity_id=params.entity_id, position=params.position.model_dump()
            )
        )


class RoomStateView(APIView):
    @extend_schema(responses=schemas.RoomStateOut)
    def get(self, request, room_id: str):
        """The scene of a room: positions of its personas and participants (same as
        ``room.state``)."""
        parse_query(request, schemas.RoomRefParams, room_id=room_id)
        return Response(spatial.scene_state(room=_room(request, room_id)))
