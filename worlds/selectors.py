"""Read-side queries of game worlds."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from personas.models import Persona
from worlds.models import Perception


def perception_line(perception: Perception) -> str:
    """One perceived event as the prompt shows it."""
    event = perception.event
    by = f" (by {event.actor_name})" if event.actor_name and perception.role != "actor" else ""
    role = {"target": "to you", "witness": "you saw it", "actor": "you did it"}[perception.role]
    return f"[{event.type}, {role}] {event.description}{by}"


def recent_perceptions(
    *, persona: Persona, limit: int | None = None, hours: float | None = None
) -> list[Perception]:
    """The persona's most recent perceived events (``WORLD_EVENT_PROMPT_LIMIT`` within
    ``WORLD_EVENT_PROMPT_HOURS``), oldest first; one query."""
    limit = settings.WORLD_EVENT_PROMPT_LIMIT if limit is None else limit
    hours = settings.WORLD_EVENT_PROMPT_HOURS if hours is None else hours
    if limit <= 0:
        return []
    since = timezone.now() - timedelta(hours=hours)
    found = (
        Perception.objects.filter(persona=persona, created_at__gte=since)
        .select_related("event")
        .order_by("-created_at", "-id")[:limit]
    )
    return list(reversed(found))


def recent_event_lines(*, persona: Persona) -> list[str]:
    """The lines of the "Recent events" section of the persona's next prompt."""
    return [perception_line(p) for p in recent_perceptions(persona=persona)]
