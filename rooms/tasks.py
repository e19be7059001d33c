"""Background work of rooms (Celery; in-process threads when embedded)."""

from __future__ import annotations

from celery import shared_task

from conversations.tasks import FOLLOW_UP
from rooms import services


@shared_task(name="rooms.overhear", **FOLLOW_UP)
def overhear(line_id: int, persona_ids: list[str]) -> list[int]:
    """The members in earshot of a room line remember it as overheard."""
    return services.room_overhear(line_id=line_id, persona_ids=persona_ids)
