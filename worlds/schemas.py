"""Input and output shapes of game worlds, shared by the REST API and the JSON-RPC methods."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from conversations.schemas import ParticipantStr
from personamcp.schemas import Out, Params, Unit
from personas.relationship_rpc import RelationshipOut
from personas.schemas import PersonaRef
from rooms.schemas import Position, PositionOut, RoomRef

EventType = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
]


class WorldEventParams(Params):
    """``world.event`` / ``POST /api/world/events/``: to ``persona_id`` (default: the
    session's active persona) or to every persona of ``room_id`` in range."""

    type: EventType
    description: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    persona_id: PersonaRef | None = None
    room_id: RoomRef | None = None
    actor: ParticipantStr | None = None
    target: ParticipantStr | None = None
    position: Position | None = None
    data: dict[str, Any] | None = None
    importance: Unit | None = None

    def event_kwargs(self) -> dict[str, Any]:
        """The keywords of ``worlds.services.world_event`` (besides persona and room)."""
        return {
            "event_type": self.type,
            "description": self.description,
            "actor": self.actor,
            "target": self.target,
            "position": self.position.model_dump() if self.position else None,
            "data": self.data,
            "importance": self.importance,
        }


class PerceptionOut(Out):
    persona_id: str
    persona_slug: str
    role: Literal["target", "witness", "actor"]
    memory_id: int
    mood: float
    emotion: str
    distance: float | None
    relationship: RelationshipOut | None = None


class WorldEventTimingOut(Out):
    total_ms: float


class WorldEventOut(Out):
    event_id: str
    type: str
    persona_id: str | None
    room_id: str | None
    position: PositionOut | None
    perceived_by: list[PerceptionOut]
    triggers_fired: list[dict[str, Any]]
    timing: WorldEventTimingOut
