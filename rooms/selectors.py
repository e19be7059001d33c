"""Read-side queries for rooms."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from django.db.models import Count, Max, Prefetch

from personamcp.pagination import paginate
from personamcp.selectors import one_or_not_found
from personas.models import Persona
from rooms.exceptions import RoomNotFound
from rooms.models import Room, RoomMember, RoomMessage

Access = Callable[[Persona], None]


def _with_members(qs):
    return qs.prefetch_related(
        Prefetch(
            "memberships",
            queryset=RoomMember.objects.select_related("persona").order_by("position", "id"),
        )
    ).annotate(line_count=Count("lines", distinct=True), last_line_at=Max("lines__created_at"))


def room_members(room: Room) -> list[Persona]:
    """The member personas of a room, in member order."""
    return [m.persona for m in room.memberships.all()]


def room_line_stats(room: Room) -> tuple[int, datetime | None]:
    """``(number of lines, time of the last one)``: annotated by ``room_get`` / ``room_list``,
    counted with a query for any other room."""
    if getattr(room, "line_count", None) is not None:
        return room.line_count, room.last_line_at
    stats = room.lines.aggregate(n=Count("id"), last=Max("created_at"))
    return stats["n"], stats["last"]


def room_get(*, room_id: str) -> Room:
    """The room with this id (members prefetched in order); raises ``RoomNotFound``."""
    return one_or_not_found(_with_members(Room.objects.all()), room_id, RoomNotFound, "room")


def room_list(
    *,
    persona: Persona | None = None,
    persona_ids: frozenset[str] | None = None,
    include_closed: bool = True,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Room], str | None]:
    """One page of rooms, newest first, and the cursor of the next page: those ``persona``
    is in; with ``persona_ids`` (a key's persona scope) only rooms whose members are all among
    them."""
    qs = Room.objects.all()
    if persona is not None:
        qs = qs.filter(memberships__persona=persona)
    if persona_ids is not None:
        qs = qs.exclude(
            memberships__persona__in=Persona.objects.exclude(
                id__in=[uuid.UUID(str(p)) for p in persona_ids]
            )
        )
    if not include_closed:
        qs = qs.filter(closed_at__isnull=True)
    return paginate(_with_members(qs.distinct()), order="-created_at", limit=limit, cursor=cursor)


def room_history(*, room: Room, limit: int = 50, before: int | None = None) -> list[RoomMessage]:
    """The last ``limit`` lines of a room (before line id ``before``), oldest first."""
    qs = RoomMessage.objects.filter(room=room)
    if before is not None:
        qs = qs.filter(id__lt=before)
    return list(reversed(qs.order_by("-id")[:limit]))


def room_check_access(*, room: Room, check: Access) -> None:
    """Call ``check(persona)`` (raises ``Forbidden``) for every member of the room."""
    for persona in room_members(room):
        check(persona)
