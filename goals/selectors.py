"""Reads of goals and triggers."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from goals.exceptions import GoalNotFound, TriggerNotFound
from goals.models import Goal, Trigger
from personamcp.pagination import paginate
from personas.models import Persona


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def goal_list(
    *, persona: Persona, status: str | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[Goal], str | None]:
    """The persona's goals, highest priority first; paginated."""
    qs: QuerySet = Goal.objects.filter(persona=persona)
    if status:
        qs = qs.filter(status=status)
    # Keyset pages order by one field then pk: priority descending keeps the prompt's order.
    return paginate(qs, order="-priority", limit=limit, cursor=cursor)


def goals_active(*, persona: Persona, limit: int = 8) -> list[Goal]:
    """The active goals that enter the prompt, most important first."""
    return list(
        Goal.objects.filter(persona=persona, status=Goal.Status.ACTIVE).order_by(
            "-priority", "created_at"
        )[:limit]
    )


def goal_find(*, persona: Persona, goal: str) -> Goal:
    """One of the persona's goals by its id or its exact text (``GoalNotFound``)."""
    key = _uuid(goal)
    found = None
    if key is not None:
        found = Goal.objects.filter(persona=persona, pk=key).first()
    if found is None:
        found = Goal.objects.filter(persona=persona, text=goal.strip()).first()
    if found is None:
        raise GoalNotFound(f"goal not found: {goal}")
    return found


def trigger_get(*, trigger_id: str) -> Trigger:
    key = _uuid(trigger_id)
    found = Trigger.objects.select_related("persona").filter(pk=key).first() if key else None
    if found is None:
        raise TriggerNotFound(f"trigger not found: {trigger_id}")
    return found


def trigger_list(
    *,
    persona: Persona | None = None,
    persona_ids: list[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Trigger], str | None]:
    """Triggers, oldest first: of one persona, or of every persona ``persona_ids`` allows
    (``None``: all)."""
    qs: QuerySet = Trigger.objects.all()
    if persona is not None:
        qs = qs.filter(persona=persona)
    if persona_ids is not None:
        qs = qs.filter(persona_id__in=persona_ids)
    return paginate(qs, order="created_at", limit=limit, cursor=cursor)


def triggers_armed(*, persona: Persona) -> list[Trigger]:
    """The persona's enabled triggers (one query; the turn's hot path)."""
    return list(Trigger.objects.filter(persona=persona, enabled=True).order_by("created_at", "id"))


def personas_with_armed_triggers(*, personas: list[Persona]) -> set:
    """The ids of those of ``personas`` that have an enabled trigger (one query)."""
    armed = Trigger.objects.filter(persona__in=personas, enabled=True)
    return set(armed.order_by().values_list("persona_id", flat=True).distinct())
