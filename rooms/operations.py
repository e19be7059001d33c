"""What the two front doors (``rooms.rpc``, ``rooms.api``) share: from a method's params to the
service call and the output shape. ``check`` is the door's own access check of a persona (it
raises unless the caller's key covers it); ``sender`` the door's default participant."""

from __future__ import annotations

from personas.models import Persona
from rooms import selectors, services
from rooms.models import Room
from rooms.schemas import (
    RoomCreateParams,
    RoomListOut,
    RoomListParams,
    RoomSendParams,
    RoomStepParams,
)
from rooms.services import Access


def room_create(params: RoomCreateParams, check: Access) -> Room:
    """``room.create``: the personas of ``params.persona_ids`` (each checked) in a new room."""
    return services.room_create(
        name=params.name,
        personas=services.room_personas(persona_ids=params.persona_ids, check=check),
        policy=params.policy,
        spatial_room=params.spatial,
        hearing_radius=params.hearing_radius,
    )


def room_list(
    params: RoomListParams, *, persona: Persona | None, persona_ids: frozenset[str] | None
) -> dict:
    """``room.list``: one page of the rooms ``persona`` (already resolved, or ``None``) is in,
    among those whose members ``persona_ids`` (the key's persona scope) all cover."""
    found, next_cursor = selectors.room_list(
        persona=persona, persona_ids=persona_ids, limit=params.limit, cursor=params.cursor
    )
    return RoomListOut.dump({"rooms": found, "next_cursor": next_cursor})


def room_send(params: RoomSendParams, *, room: Room, sender: str, **streaming) -> dict:
    """``room.send`` in ``room`` (already checked); ``streaming``: ``stream``, ``on_chunk``,
    ``on_reply``, ``cancel_event`` as ``services.room_send`` takes them."""
    return services.room_send(
        room=room,
        content=params.content,
        sender=params.sender or sender,
        sender_name=params.sender_name,
        position=params.position.model_dump() if params.position else None,
        actions_available=params.actions_available,
        **streaming,
    )


def room_step(params: RoomStepParams, *, room: Room, **streaming) -> dict:
    """``room.step`` in ``room`` (already checked); ``streaming`` as for ``room_send``."""
    return services.room_step(room=room, turns=params.turns, **streaming)
