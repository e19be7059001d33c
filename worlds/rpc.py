"""world.* JSON-RPC methods: thin wrappers over worlds.services."""

from __future__ import annotations

from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method
from rooms import selectors as rooms
from worlds import services
from worlds.schemas import WorldEventOut, WorldEventParams


@rpc_method("world.event", params=WorldEventParams, result=WorldEventOut, scope="write")
def world_event(ctx: RpcContext, params: WorldEventParams) -> dict:
    """Tell personas what happened in the world (``gift``, ``attack``, ``arrive``, ``custom``...).

    To ``persona_id`` (default the active persona) or to ``room_id`` (its members; in a
    spatial room those within ``hearing_radius`` of ``position`` or of the actor). Each
    perceiving persona stores an episodic memory in its own words, appraises the event, and
    updates its mood and its relationship with ``actor``. Result ``{event_id, perceived_by:
    [{persona_id, memory_id, mood, emotion, relationship?}], triggers_fired}``.
    """
    room = persona = None
    if params.room_id:
        room = rooms.room_get(room_id=params.room_id)
        rooms.room_check_access(room=room, check=lambda p: ctx.check_persona(p.id))
        if params.persona_id:  # both: refused by the service, naming the field
            persona = ctx.resolve_persona(params.persona_id)
    else:
        persona = ctx.resolve_persona(params.persona_id)
    return services.world_event(persona=persona, room=room, **params.event_kwargs())
