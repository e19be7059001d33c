"""REST views for bots: thin wrappers over the same services as the bot.* methods."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from bots import bridges, selectors, services, supervision
from bots import rooms as bot_room_services
from bots.models import BotAccount
from bots.schemas import (
    BotCreate,
    BotDeletedOut,
    BotListOut,
    BotListParams,
    BotLogsOut,
    BotLogsParams,
    BotOut,
    BotPatch,
    BotRedactBody,
    BotRedactOut,
    BotRoomActionOut,
    BotRoomActionParams,
    BotRoomOut,
    BotRoomPatch,
    BotRoomsOut,
    BotRoomsParams,
    BridgeBody,
    BridgeDeletedOut,
    BridgeListOut,
    BridgeListParams,
    BridgeOut,
    action_out,
    bot_out,
    room_out,
)
from personamcp.api import parse, parse_query
from personamcp.auth import require, require_persona
from personamcp.exceptions import Forbidden
from personamcp.schemas import validate
from personas.selectors import persona_get


def _bot(request, bot_id: str) -> BotAccount:
    bot = selectors.bot_get(bot_id=bot_id)
    require_persona(request.principal, str(bot.persona_id))
    return bot


def _fresh(bot: BotAccount) -> dict:
    return bot_out(selectors.bot_get(bot_id=bot.id))


class AdminWrites:
    """Reads need the read scope; every write on bots needs the admin scope."""

    def check_permissions(self, request):
        super().check_permissions(request)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            request.principal = require(request.principal, "admin")


class BotListView(AdminWrites, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses=BotListOut,
    )
    def get(self, request):
        """List bots with live status, one page at a time (same as ``bot.list``)."""
        params = parse_query(request, BotListParams)
        bots, next_cursor = selectors.bot_list(
            persona_ids=request.principal.persona_ids, limit=params.limit, cursor=params.cursor
        )
        return Response({"bots": [bot_out(b) for b in bots], "next_cursor": next_cursor})

    @extend_schema(request=BotCreate, responses={201: BotOut})
    def post(self, request):
        """Create a bot account; ``password`` / ``access_token`` are write-only."""
        params = parse(request, BotCreate)
        persona = persona_get(persona_id=params.persona)
        require_persona(request.principal, str(persona.id))
        bot = services.bot_create(persona=persona, **params.model_dump(exclude={"persona"}))
        return Response(_fresh(bot), status=201)


class BotDetailView(AdminWrites, APIView):
    @extend_schema(responses=BotOut)
    def get(self, request, bot_id: str):
        """One bot with the state of its process (same as ``bot.status``)."""
        return Response(bot_out(_bot(request, bot_id)))

    @extend_schema(request=BotPatch, responses=BotOut)
    def patch(self, request, bot_id: str):
        """Change some fields of a bot (credentials are write-only)."""
        bot = _bot(request, bot_id)
        changes = parse(request, BotPatch).model_dump(exclude_unset=True)
        # An explicit null leaves a field as it is (none of them may be empty in the database).
        changes = {k: v for k, v in changes.items() if v is not None or k == "persona"}
        if changes.get("persona"):
            persona = persona_get(persona_id=changes["persona"])
            require_persona(request.principal, str(persona.id))
            changes["persona"] = persona
        elif "persona" in changes:
            raise Forbidden("a bot must belong to a persona")
        services.bot_update(bot=bot, **changes)
        return Response(_fresh(bot))

    @extend_schema(responses=BotDeletedOut)
    def delete(self, request, bot_id: str):
        """Stop the bot's process and delete the bot."""
        bot = _bot(request, bot_id)
        return Response({"deleted": True, "bot_id": services.bot_delete(bot=bot)})


class BotActionView(AdminWrites, APIView):
    action_name = ""

    @extend_schema(request=None, responses=BotOut)
    def post(self, request, bot_id: str):
        """Start / stop / restart the bot's process (same as ``bot.start`` etc.)."""
        bot = _bot(request, bot_id)
        supervision.bot_request(bot=bot, action=self.action_name)
        return Response(_fresh(bot))


class BotLogsView(AdminWrites, APIView):
    required_scope = "admin"

    @extend_schema(parameters=[OpenApiParameter("limit", int)], responses=BotLogsOut)
    def get(self, request, bot_id: str):
        """The tail of the bot's log (same as ``bot.logs``)."""
        data = {"bot_id": bot_id}
        if request.query_params.get("limit"):
            data["limit"] = request.query_params["limit"]
        params = validate(BotLogsParams, data)
        bot = _bot(request, params.bot_id)
        return Response(
            {"bot_id": str(bot.id), "lines": services.bot_logs(bot=bot, limit=params.limit)}
        )


class BotRoomsView(AdminWrites, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses=BotRoomsOut,
    )
    def get(self, request, bot_id: str):
        """The bot's joined and invited rooms (same as ``bot.rooms``)."""
        params = parse_query(request, BotRoomsParams, bot_id=bot_id)
        bot = _bot(request, bot_id)
        rooms, next_cursor = bot_room_services.bot_room_list(
            bot=bot, limit=params.limit, cursor=params.cursor
        )
        return Response(
            {
                "bot_id": str(bot.id),
                "rooms": [room_out(r) for r in rooms],
                "next_cursor": next_cursor,
            }
        )


class BotRoomDetailView(AdminWrites, APIView):
    @extend_schema(responses=BotRoomOut)
    def get(self, request, bot_id: str, room_id: str):
        """One room of the bot with its settings."""
        bot = _bot(request, bot_id)
        return Response(room_out(bot_room_services.bot_room_get(bot=bot, room_id=room_id)))

    @extend_schema(request=BotRoomPatch, responses=BotRoomOut)
    def patch(self, request, bot_id: str, room_id: str):
        """Per-room settings (same as ``bot.room_update``)."""
        bot = _bot(request, bot_id)
        changes = parse(request, BotRoomPatch).model_dump(exclude_unset=True)
        room = bot_room_services.bot_room_update(bot=bot, room_id=room_id, **changes)
        return Response(room_out(room))


class BotRoomActionView(AdminWrites, APIView):
    action_name = ""

    @extend_schema(request=None, responses=BotRoomActionOut)
    def post(self, request, bot_id: str, room_id: str):
        """Join / leave / accept / reject (same as ``bot.room_action``)."""
        bot = _bot(request, bot_id)
        params = validate(
            BotRoomActionParams, {"bot_id": bot_id, "room_id": room_id, "action": self.action_name}
        )
        room = bot_room_services.bot_room_action(
            bot=bot, room_id=params.room_id, action=params.action
        )
        return Response(action_out(bot, params.room_id, room))


class BotRedactView(AdminWrites, APIView):
    @extend_schema(request=BotRedactBody, responses=BotRedactOut)
    def post(self, request, bot_id: str, room_id: str):
        """Redact one of the bot's own messages (same as ``bot.redact``)."""
        bot = _bot(request, bot_id)
        body = parse(request, BotRedactBody)
        redaction = bot_room_services.bot_redact(
            bot=bot, room_id=room_id, event_id=body.event_id, reason=body.reason
        )
        return Response(
            {
                "bot_id": str(bot.id),
                "room_id": room_id,
                "event_id": body.event_id,
                "redaction_id": redaction,
            }
        )


def _bridge_room(request, room_id: str):
    return bridges.bridge_room(
        room_id=room_id, check=lambda pid: require_persona(request.principal, pid)
    )


class BridgeListView(AdminWrites, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses=BridgeListOut,
    )
    def get(self, request):
        """The bridged rooms, newest first (same as ``bot.bridges``)."""
        params = parse_query(request, BridgeListParams)
        items, next_cursor = bridges.bridge_list(
            persona_ids=request.principal.persona_ids, limit=params.limit, cursor=params.cursor
        )
        return Response(
            {"bridges": [bridges.bridge_data(b) for b in items], "next_cursor": next_cursor}
        )


class BridgeDetailView(AdminWrites, APIView):
    @extend_schema(responses=BridgeOut)
    def get(self, request, room_id: str):
        """The bridge of one Persona-MCP room."""
        room = _bridge_room(request, room_id)
        return Response(bridges.bridge_data(bridges.bridge_get(room=room)))

    @extend_schema(request=BridgeBody, responses=BridgeOut)
    def put(self, request, room_id: str):
        """Link the room to a Matrix room, or change the link (same as ``bot.bridge``)."""
        room = _bridge_room(request, room_id)  # the key's scope first, then the body
        body = parse(request, BridgeBody)
        bridge = bridges.bridge_set(room=room, matrix_room_id=body.matrix_room_id, state=body.state)
        return Response(bridges.bridge_data(bridge))

    @extend_schema(responses=BridgeDeletedOut)
    def delete(self, request, room_id: str):
        """Unlink the room (same as ``bot.unbridge``)."""
        room = _bridge_room(request, room_id)
        matrix_room_id = bridges.bridge_delete(room=room)
        return Response(
            {"deleted": True, "room_id": str(room.id), "matrix_room_id": matrix_room_id}
        )
