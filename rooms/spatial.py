"""Spatial rooms (game scenes): positions, who is in range, moving.

A room created with ``spatial=True`` keeps a ``ScenePosition`` per member persona (placed at
the origin when the room is made) and per participant (from its first ``scene.move``, or the
``position`` of its first line or event). An entity without a stored position stands at the
origin. Distances are Euclidean in the room's own units; an entity hears a line, or perceives
an event, when it is within ``hearing_radius`` of where it was said or happened (the radius
itself included).

Range is computed in Python over the room's positions, read in one query (the unique index
on ``(room, entity_id)`` serves it): the cost grows with the room's size, never with how many
lines or events the room has seen.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from personamcp.exceptions import ValidationFailed
from personamcp.schemas import iso
from personas.models import Persona
from rooms.models import Room, ScenePosition
from rooms.selectors import room_members

Point = tuple[float, float, float]
ORIGIN: Point = (0.0, 0.0, 0.0)


def default_hearing_radius() -> float:
    return float(getattr(settings, "ROOM_HEARING_RADIUS", 10.0))


def radius_of(room: Room) -> float:
    return (
        float(room.hearing_radius) if room.hearing_radius is not None else default_hearing_radius()
    )


def point_of(position: dict | None) -> Point | None:
    """``{x, y, z}`` (already validated) as a tuple."""
    if position is None:
        return None
    return (float(position["x"]), float(position["y"]), float(position["z"]))


def as_position(point: Point) -> dict[str, float]:
    return {"x": point[0], "y": point[1], "z": point[2]}


def distance(a: Point, b: Point) -> float:
    return math.dist(a, b)


@dataclass(frozen=True)
class Scene:
    """The positions of a spatial room, read once: ``entity id -> point``."""

    room: Room
    points: dict[str, Point]
    radius: float

    def where(self, entity_id: str) -> Point:
        return self.points.get(str(entity_id), ORIGIN)

    def in_range(self, point: Point, personas: Iterable[Persona]) -> list[tuple[Persona, float]]:
        """The personas within the hearing radius of ``point``, nearest first (stable)."""
        found = []
        for order, persona in enumerate(personas):
            d = distance(point, self.where(str(persona.id)))
            if d <= self.radius:
                found.append((d, order, persona))
        return [(p, d) for d, _, p in sorted(found, key=lambda f: (f[0], f[1]))]


def scene_of(room: Room) -> Scene | None:
    """The room's positions in one query; ``None`` for a room that is not spatial."""
    if not room.spatial:
        return None
    rows = ScenePosition.objects.filter(room=room).values_list("entity_id", "x", "y", "z")
    return Scene(room=room, points={e: (x, y, z) for e, x, y, z in rows}, radius=radius_of(room))


def scene_positions(*, room: Room) -> list[ScenePosition]:
    """Every position of a room (personas first), with the personas loaded."""
    return list(
        ScenePosition.objects.filter(room=room)
        .select_related("persona")
        .order_by("entity_kind", "entity_id")
    )


def place_members(*, room: Room, personas: Sequence[Persona], at: Point = ORIGIN) -> None:
    """Give these members a position (inside the caller's transaction); existing ones stay."""
    ScenePosition.objects.bulk_create(
        [
            ScenePosition(
                room=room,
                entity_kind=ScenePosition.EntityKind.PERSONA,
                entity_id=str(p.id),
                persona=p,
                x=at[0],
                y=at[1],
                z=at[2],
            )
            for p in personas
        ],
        ignore_conflicts=True,
    )


def resolve_entity(room: Room, entity_id: str) -> tuple[str, str, Persona | None]:
    """``(canonical id, kind, persona)`` of a member persona (UUID or slug) or a participant.

    A reference naming a member of the room is that persona; anything else is a participant
    id (so a participant may be called ``alice`` only in a room without that persona)."""
    ref = str(entity_id)
    for persona in room_members(room):
        if ref == persona.slug or ref == str(persona.id) or _same_uuid(ref, persona.id):
            return str(persona.id), ScenePosition.EntityKind.PERSONA, persona
    return ref, ScenePosition.EntityKind.PARTICIPANT, None


def _same_uuid(ref: str, pk: uuid.UUID) -> bool:
    try:
        return uuid.UUID(ref) == pk
    except ValueError:
        return False


def require_spatial(room: Room, field: str = "room_id") -> None:
    if not room.spatial:
        raise ValidationFailed(
            [{"field": field, "message": "this room is not spatial (create it with spatial: true)"}]
        )


def scene_set_position(*, room: Room, entity_id: str, point: Point) -> ScenePosition:
    """Store where an entity stands (a short transaction; no event)."""
    canonical, kind, persona = resolve_entity(room, entity_id)
    with transaction.atomic():
        row, _ = ScenePosition.objects.update_or_create(
            room=room,
            entity_id=canonical[:255],
            defaults={
                "entity_kind": kind,
                "persona": persona,
                "x": point[0],
                "y": point[1],
                "z": point[2],
            },
        )
    return row


def scene_move(*, room: Room, entity_id: str, position: dict) -> dict:
    """Move a persona (id or slug of a member) or a participant to ``position`` in a spatial
    room. Raises ``ValidationFailed`` (``room_id``) for a room that is not spatial or closed.

    Result: ``{room_id, entity_id (as given), entity_kind, persona_id, position}``.
    """
    require_spatial(room)
    if room.closed_at is not None:
        raise ValidationFailed([{"field": "room_id", "message": "this room is closed"}])
    row = scene_set_position(room=room, entity_id=entity_id, point=point_of(position))
    return {
        "room_id": str(room.id),
        "entity_id": str(entity_id),
        "entity_kind": row.entity_kind,
        "persona_id": str(row.persona_id) if row.persona_id else None,
        "position": row.as_dict,
    }


def scene_state(*, room: Room) -> dict:
    """``room.state``: the room's scene (for any room; a room that is not spatial has no
    positions). Each member persona is listed, at the origin when it was never placed."""
    rows = scene_positions(room=room) if room.spatial else []
    placed = {r.entity_id: r for r in rows}
    positions = []
    if room.spatial:
        for persona in room_members(room):
            row = placed.pop(str(persona.id), None)
            positions.append(
                {
                    "entity_id": str(persona.id),
                    "entity_kind": ScenePosition.EntityKind.PERSONA,
                    "persona_id": str(persona.id),
                    "slug": persona.slug,
                    "name": persona.name,
                    "position": row.as_dict if row else as_position(ORIGIN),
                    "updated_at": iso(row.updated_at) if row else None,
                }
            )
        for row in placed.values():
            positions.append(
                {
                    "entity_id": row.entity_id,
                    "entity_kind": row.entity_kind,
                    "persona_id": str(row.persona_id) if row.persona_id else None,
                    "slug": row.persona.slug if row.persona else None,
                    "name": row.persona.name if row.persona else row.entity_id,
                    "position": row.as_dict,
                    "updated_at": iso(row.updated_at),
                }
            )
    return {
        "room_id": str(room.id),
        "spatial": room.spatial,
        "hearing_radius": radius_of(room) if room.spatial else None,
        "positions": positions,
    }
