"""room.* JSON-RPC methods: thin wrappers over rooms.services.

Every method checks that the caller's key covers every member persona of the room.
"""

from __future__ import annotations

import logging

from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method
from rooms import operations, selectors, spatial
from rooms import services as rooms
from rooms.models import Room
from rooms.schemas import (
    RoomCloseOut,
    RoomCreateParams,
    RoomHistoryOut,
    RoomHistoryParams,
    RoomListOut,
    RoomListParams,
    RoomOut,
    RoomRefParams,
    RoomSendOut,
    RoomSendParams,
    RoomStateOut,
    RoomStepOut,
    RoomStepParams,
    SceneMoveOut,
    SceneMoveParams,
)

log = logging.getLogger(__name__)


def _room(ctx: RpcContext, room_id: str) -> Room:
    room = selectors.room_get(room_id=room_id)
    selectors.room_check_access(room=room, check=lambda p: ctx.check_persona(p.id))
    return room


def _callbacks(ctx: RpcContext, room: Room, stream: bool) -> dict:
    """``room.message`` notifications as replies complete, ``conversation.chunk`` deltas."""
    if not stream or ctx.is_notification:
        return {"stream": False}

    def deliver(method: str, params: dict) -> None:
        try:
            ctx.notify(method, {"request_id": ctx.request_id, **params})
        except Exception:  # the client went away: stop generating, keep what we have
            log.info("could not deliver %s; cancelling the room turn", method)
            ctx.cancel_event.set()

    return {
        "stream": True,
        "on_chunk": lambda chunk: deliver("conversation.chunk", chunk),
        "on_reply": lambda reply: deliver("room.message", {"room_id": str(room.id), **reply}),
    }


@rpc_method("room.create", params=RoomCreateParams, result=RoomOut, scope="write")
def room_create(ctx: RpcContext, params: RoomCreateParams) -> dict:
    """Create a room of several personas (ids or slugs, in speaking order) with a policy:
    ``natural`` (default), ``round_robin`` or ``addressed_only``.

    ``spatial: true`` makes it a scene: each member stands at the origin until ``scene.move``
    places it, and only the personas within ``hearing_radius`` of a speaker hear a line."""
    room = operations.room_create(params, check=lambda p: ctx.check_persona(p.id))
    return RoomOut.dump(room)


@rpc_method("room.get", params=RoomRefParams, result=RoomOut)
def room_get(ctx: RpcContext, params: RoomRefParams) -> dict:
    """One room with its member personas."""
    return RoomOut.dump(_room(ctx, params.room_id))


@rpc_method("room.send", params=RoomSendParams, result=RoomSendOut, scope="write")
def room_send(ctx: RpcContext, params: RoomSendParams) -> dict:
    """Say something in a room; the personas its policy picks answer, in turn.

    ``sender`` defaults to this session's user. Result ``{room_id, line_id, replies:
    [{persona_id, response, message_id, ...}]}``. With ``stream: true`` each reply is also
    sent as a ``room.message`` notification ``{request_id, room_id, persona_id, response,
    message_id, ...}`` as soon as it is complete, its text first as ``conversation.chunk``
    deltas. ``conversation.cancel`` with this request's id stops it. ``position`` (spatial
    rooms): the sender moves there first; only the personas in earshot hear the line.
    """
    room = _room(ctx, params.room_id)
    return operations.room_send(
        params,
        room=room,
        sender=ctx.session.user_id,
        cancel_event=ctx.cancel_event,
        **_callbacks(ctx, room, params.stream),
    )


@rpc_method("room.step", params=RoomStepParams, result=RoomStepOut, scope="write")
def room_step(ctx: RpcContext, params: RoomStepParams) -> dict:
    """Let the personas talk among themselves for ``turns`` turns (default 1): each turn the
    persona picked by the room's policy answers the last line. Result ``{room_id, replies}``
    as for ``room.send`` (streaming likewise)."""
    room = _room(ctx, params.room_id)
    return operations.room_step(
        params, room=room, cancel_event=ctx.cancel_event, **_callbacks(ctx, room, params.stream)
    )


@rpc_method("room.history", params=RoomHistoryParams, result=RoomHistoryOut)
def room_history(ctx: RpcContext, params: RoomHistoryParams) -> dict:
    """Lines of a room, oldest first (``before``: a line id, for paging back)."""
    room = _room(ctx, params.room_id)
    lines = selectors.room_history(room=room, limit=params.limit, before=params.before)
    return RoomHistoryOut.dump({"room_id": room.id, "messages": lines})


@rpc_method("room.list", params=RoomListParams, result=RoomListOut)
def room_list(ctx: RpcContext, params: RoomListParams) -> dict:
    """Rooms, newest first (those ``persona_id`` is in); only rooms whose members the key
    covers; paged by ``cursor`` (the ``next_cursor`` of the page before)."""
    persona = ctx.resolve_persona(params.persona_id) if params.persona_id else None
    return operations.room_list(params, persona=persona, persona_ids=ctx.persona_ids)


@rpc_method("room.close", params=RoomRefParams, result=RoomCloseOut, scope="write")
def room_close(ctx: RpcContext, params: RoomRefParams) -> dict:
    """Close a room: nothing more can be said in it; each member's conversation for it ends
    (with its summary memory)."""
    room = rooms.room_close(room=_room(ctx, params.room_id))
    return RoomCloseOut.dump({"closed": True, "room": room})


@rpc_method("scene.move", params=SceneMoveParams, result=SceneMoveOut, scope="write")
def scene_move(ctx: RpcContext, params: SceneMoveParams) -> dict:
    """Move a persona (a member's id or slug) or a participant to ``position`` {x, y, z} in a
    spatial room. Result ``{room_id, entity_id, entity_kind, persona_id, position}``."""
    room = _room(ctx, params.room_id)
    return spatial.scene_move(
        room=room, entity_id=params.entity_id, position=params.position.model_dump()
    )


@rpc_method("room.state", params=RoomRefParams, result=RoomStateOut)
def room_state(ctx: RpcContext, params: RoomRefParams) -> dict:
    """The scene of a room: ``{room_id, spatial, hearing_radius, positions: [{entity_id,
    entity_kind, persona_id, slug, name, position, updated_at}]}`` (members first)."""
    return spatial.scene_state(room=_room(ctx, params.room_id))
