"""REST views of game worlds (parity with world.* on /mcp)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from personamcp.api import parse
from personamcp.auth import require_persona
from personas.api import resolve_persona
from rooms import selectors as rooms
from worlds import services
from worlds.schemas import WorldEventOut, WorldEventParams


class WorldEventView(APIView):
    @extend_schema(operation_id="world_event_create", request=WorldEventParams,
                   responses={201: WorldEventOut})  # fmt: skip
    def post(self, request):
        """Report an event to a persona or a room (same as ``world.event``)."""
        params = parse(request, WorldEventParams)
        room = persona = None
        if params.room_id:
            room = rooms.room_get(room_id=params.room_id)
            rooms.room_check_access(
                room=room, check=lambda p: require_persona(request.principal, str(p.id))
            )
        if params.persona_id:
            persona = resolve_persona(request, params.persona_id)
        result = services.world_event(persona=persona, room=room, **params.event_kwargs())
        return Response(result, status=201)
