"""Input and output shapes of rooms, shared by the REST API and the JSON-RPC methods."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from conversations.schemas import ActionOut, ExpressionOut, ParticipantStr, TriggerFiredOut
from personamcp.schemas import Cursor, OptionalStrId, Out, Params, StrId
from personas.schemas import PersonaRef
from rooms.models import Room
from rooms.selectors import room_line_stats, room_members

RoomRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Policy = Literal["natural", "round_robin", "addressed_only"]
# A coordinate: a finite JSON number (no strings, no booleans).
Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Position(Params):
    """A point in a spatial room: three numbers, in the units of its ``hearing_radius``."""

    x: Coordinate
    y: Coordinate
    z: Coordinate


class RoomCreateParams(Params):
    """``room.create`` / ``POST /api/rooms/``."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    persona_ids: Annotated[list[PersonaRef], Field(min_length=1, max_length=50)]
    policy: Policy = "natural"
    spatial: bool = False
    # Spatial rooms: how far a line or an event carries (default ROOM_HEARING_RADIUS).
    hearing_radius: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class RoomSendParams(Params):
    """``room.send`` / ``POST /api/rooms/{id}/messages/``."""

    room_id: RoomRef
    content: Annotated[str, StringConstraints(min_length=1)]
    sender: ParticipantStr | None = None
    sender_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    stream: bool = False
    position: Position | None = None  # spatial rooms: the sender moves here first
    actions_available: list[dict[str, Any]] | None = None  # v1.1: see llm.actions


class RoomStepParams(Params):
    """``room.step`` / ``POST /api/rooms/{id}/step/``."""

    room_id: RoomRef
    turns: Annotated[int, Field(ge=1, le=100)] = 1  # capped by ROOM_MAX_STEP_TURNS
    stream: bool = False


class RoomHistoryParams(Params):
    room_id: RoomRef
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    before: int | None = None


class RoomListParams(Params):
    persona_id: PersonaRef | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor | None = None


class RoomRefParams(Params):
    """``room.get`` / ``room.close``."""

    room_id: RoomRef


class RoomPersonaOut(Out):
    id: StrId
    slug: str
    name: str
    position: int


class RoomOut(Out):
    """A room with its members in order: ``RoomOut.dump(room)``.

    The members and the line count come from ``rooms.selectors`` (prefetched and annotated by
    ``room_get`` / ``room_list``; any other room is counted with a query).
    """

    id: StrId
    name: str
    policy: Policy
    personas: list[RoomPersonaOut]
    persona_ids: list[StrId]
    message_count: int
    last_message_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    spatial: bool = False
    hearing_radius: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_room(cls, room: Any) -> Any:
        if not isinstance(room, Room):
            return room
        members = room_members(room)
        message_count, last_message_at = room_line_stats(room)
        data = {name: getattr(room, name) for name in cls.model_fields if hasattr(room, name)}
        return data | {
            "personas": [
                {"id": p.id, "slug": p.slug, "name": p.name, "position": i}
                for i, p in enumerate(members)
            ],
            "persona_ids": [p.id for p in members],
            "message_count": message_count,
            "last_message_at": last_message_at,
        }


class RoomListOut(Out):
    rooms: list[RoomOut]
    next_cursor: str | None


class RoomReplyOut(Out):
    persona_id: str
    persona_slug: str
    persona_name: str
    response: str
    message_id: int
    conversation_id: str
    line_id: int
    emotion: str
    expression: ExpressionOut  # v1.1 (game worlds)
    actions: list[ActionOut]
    triggers_fired: list[TriggerFiredOut]


class RoomSendOut(Out):
    room_id: str
    line_id: int
    replies: list[RoomReplyOut]


class RoomStepOut(Out):
    room_id: str
    replies: list[RoomReplyOut]


class RoomLineOut(Out):
    """One line of a room: ``RoomLineOut.dump(line)``."""

    id: int
    room_id: StrId
    speaker_kind: Literal["participant", "persona"]
    speaker_id: str
    speaker_name: str
    persona_id: OptionalStrId
    content: str
    message_id: int | None
    created_at: datetime


class RoomHistoryOut(Out):
    room_id: StrId
    messages: list[RoomLineOut]


class RoomCloseOut(Out):
    closed: bool
    room: RoomOut


class SceneMoveParams(Params):
    """``scene.move`` / ``POST /api/rooms/{id}/move/``."""

    room_id: RoomRef
    entity_id: ParticipantStr  # a member persona's id or slug, or a participant id
    position: Position


class PositionOut(Out):
    x: float
    y: float
    z: float


class SceneMoveOut(Out):
    room_id: str
    entity_id: str
    entity_kind: Literal["persona", "participant"]
    persona_id: str | None
    position: PositionOut


class SceneEntityOut(Out):
    entity_id: str
    entity_kind: Literal["persona", "participant"]
    persona_id: str | None
    slug: str | None
    name: str
    position: PositionOut
    updated_at: datetime | None


class RoomStateOut(Out):
    """``room.state``: the scene of a room (no positions unless it is spatial)."""

    room_id: str
    spatial: bool
    hearing_radius: float | None
    positions: list[SceneEntityOut]
