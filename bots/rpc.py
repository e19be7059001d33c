"""bot.* JSON-RPC methods: thin wrappers over bots.services / selectors (parity with /api/bots/)."""

from __future__ import annotations

from bots import bridges, selectors, services, supervision
from bots import rooms as bot_room_services
from bots.models import BotAccount
from bots.schemas import (
    BotIdParams,
    BotListOut,
    BotListParams,
    BotLogsOut,
    BotLogsParams,
    BotOut,
    BotRedactOut,
    BotRedactParams,
    BotRoomActionOut,
    BotRoomActionParams,
    BotRoomOut,
    BotRoomsOut,
    BotRoomsParams,
    BotRoomUpdateParams,
    BridgeDeletedOut,
    BridgeListOut,
    BridgeListParams,
    BridgeOut,
    BridgeParams,
    BridgeRoomParams,
    action_out,
    bot_out,
    room_out,
)
from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method


def _bot(ctx: RpcContext, bot_id: str) -> BotAccount:
    bot = selectors.bot_get(bot_id=bot_id)
    ctx.check_persona(bot.persona_id)
    return bot


@rpc_method("bot.list", params=BotListParams, result=BotListOut, scope="read")
def bot_list(ctx: RpcContext, params: BotListParams) -> dict:
    """List the persona bots with the live status of their processes, one page at a time."""
    bots, next_cursor = selectors.bot_list(
        persona_ids=ctx.persona_ids, limit=params.limit, cursor=params.cursor
    )
    return {"bots": [bot_out(b) for b in bots], "next_cursor": next_cursor}


@rpc_method("bot.status", params=BotIdParams, result=BotOut, scope="read")
def bot_status(ctx: RpcContext, params: BotIdParams) -> dict:
    """One bot and the state of its process (status, pid, heartbeat, restarts, last error)."""
    return bot_out(_bot(ctx, params.bot_id))


def _request(ctx: RpcContext, bot_id: str, action: str) -> dict:
    bot = _bot(ctx, bot_id)
    supervision.bot_request(bot=bot, action=action)
    return bot_out(selectors.bot_get(bot_id=bot.id))


@rpc_method("bot.start", params=BotIdParams, result=BotOut, scope="admin")
def bot_start(ctx: RpcContext, params: BotIdParams) -> dict:
    """Start the bot's process (through the bot workers); the result says ``starting``."""
    return _request(ctx, params.bot_id, "start")


@rpc_method("bot.stop", params=BotIdParams, result=BotOut, scope="admin")
def bot_stop(ctx: RpcContext, params: BotIdParams) -> dict:
    """Stop the bot's process: SIGTERM, then SIGKILL after a timeout."""
    return _request(ctx, params.bot_id, "stop")


@rpc_method("bot.restart", params=BotIdParams, result=BotOut, scope="admin")
def bot_restart(ctx: RpcContext, params: BotIdParams) -> dict:
    """Stop the bot's process and start a new one."""
    return _request(ctx, params.bot_id, "restart")


@rpc_method("bot.logs", params=BotLogsParams, result=BotLogsOut, scope="admin")
def bot_logs(ctx: RpcContext, params: BotLogsParams) -> dict:
    """The tail of the bot's log (credentials redacted)."""
    bot = _bot(ctx, params.bot_id)
    return {"bot_id": str(bot.id), "lines": services.bot_logs(bot=bot, limit=params.limit)}


@rpc_method("bot.rooms", params=BotRoomsParams, result=BotRoomsOut, scope="read")
def bot_rooms(ctx: RpcContext, params: BotRoomsParams) -> dict:
    """The bot's joined and invited rooms: names, member counts, encryption, settings."""
    bot = _bot(ctx, params.bot_id)
    rooms, next_cursor = bot_room_services.bot_room_list(
        bot=bot, limit=params.limit, cursor=params.cursor
    )
    return {
        "bot_id": str(bot.id),
        "rooms": [room_out(r) for r in rooms],
        "next_cursor": next_cursor,
    }


@rpc_method("bot.room_update", params=BotRoomUpdateParams, result=BotRoomOut, scope="admin")
def bot_room_update(ctx: RpcContext, params: BotRoomUpdateParams) -> dict:
    """Per-room settings: ``answer`` (auto / all / mentions / never), ``rate_per_minute``."""
    bot = _bot(ctx, params.bot_id)
    changes = params.model_dump(exclude_unset=True, include={"answer", "rate_per_minute"})
    return room_out(bot_room_services.bot_room_update(bot=bot, room_id=params.room_id, **changes))


@rpc_method("bot.room_action", params=BotRoomActionParams, result=BotRoomActionOut, scope="admin")
def bot_room_action(ctx: RpcContext, params: BotRoomActionParams) -> dict:
    """Join a room, leave it, accept or reject an invite."""
    bot = _bot(ctx, params.bot_id)
    room = bot_room_services.bot_room_action(bot=bot, room_id=params.room_id, action=params.action)
    return action_out(bot, params.room_id, room)


@rpc_method("bot.redact", params=BotRedactParams, result=BotRedactOut, scope="admin")
def bot_redact(ctx: RpcContext, params: BotRedactParams) -> dict:
    """Redact one of the bot's own messages."""
    bot = _bot(ctx, params.bot_id)
    redaction = bot_room_services.bot_redact(
        bot=bot, room_id=params.room_id, event_id=params.event_id, reason=params.reason
    )
    return {
        "bot_id": str(bot.id),
        "room_id": params.room_id,
        "event_id": params.event_id,
        "redaction_id": redaction,
    }


@rpc_method("bot.bridge", params=BridgeParams, result=BridgeOut, scope="admin")
def bot_bridge(ctx: RpcContext, params: BridgeParams) -> dict:
    """Link a Persona-MCP room to a Matrix room (or change the link): each member persona
    speaks there as its own bot, through the room's turn-taking policy."""
    room = bridges.bridge_room(room_id=params.room_id, check=ctx.check_persona)
    bridge = bridges.bridge_set(room=room, matrix_room_id=params.matrix_room_id, state=params.state)
    return bridges.bridge_data(bridge)


@rpc_method("bot.unbridge", params=BridgeRoomParams, result=BridgeDeletedOut, scope="admin")
def bot_unbridge(ctx: RpcContext, params: BridgeRoomParams) -> dict:
    """Unlink a bridged room (the bots stay in the Matrix room, nothing more is relayed)."""
    room = bridges.bridge_room(room_id=params.room_id, check=ctx.check_persona)
    matrix_room_id = bridges.bridge_delete(room=room)
    return {"deleted": True, "room_id": str(room.id), "matrix_room_id": matrix_room_id}


@rpc_method("bot.bridges", params=BridgeListParams, result=BridgeListOut, scope="read")
def bot_bridges(ctx: RpcContext, params: BridgeListParams) -> dict:
    """The bridged rooms, newest first, one page at a time."""
    items, next_cursor = bridges.bridge_list(
        persona_ids=ctx.persona_ids, limit=params.limit, cursor=params.cursor
    )
    return {"bridges": [bridges.bridge_data(b) for b in items], "next_cursor": next_cursor}
