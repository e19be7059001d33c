"""What the two front doors (``goals.rpc``, ``goals.api``) share: access checks around the
services, and the output shapes. ``resolve`` is the door's own persona lookup (it checks the
caller's key covers the persona)."""

from __future__ import annotations

from collections.abc import Callable

from goals import selectors, services
from goals.schemas import (
    GoalCompleteParams,
    GoalListParams,
    GoalOut,
    GoalSetParams,
    TriggerCreateParams,
    TriggerListParams,
    TriggerOut,
)
from personamcp.auth import Principal, require_persona
from personas.models import Persona

Resolve = Callable[[str], Persona]


def trigger_create(resolve: Resolve, params: TriggerCreateParams) -> dict:
    persona = resolve(params.persona_id)
    trigger = services.trigger_create(
        persona=persona,
        name=params.name,
        when=params.when.model_dump(exclude_none=True),
        then=params.then.normalised(),
        once=params.once,
        cooldown_seconds=params.cooldown_seconds,
    )
    return TriggerOut.dump(trigger)


def trigger_list(resolve: Resolve, principal: Principal | None, params: TriggerListParams):
    persona = resolve(params.persona_id) if params.persona_id else None
    limited = principal is not None and principal.persona_ids is not None
    triggers, next_cursor = selectors.trigger_list(
        persona=persona,
        persona_ids=sorted(principal.persona_ids) if limited else None,
        limit=params.limit,
        cursor=params.cursor,
    )
    return {"triggers": [TriggerOut.dump(t) for t in triggers], "next_cursor": next_cursor}


def trigger_get(principal: Principal | None, trigger_id: str):
    trigger = selectors.trigger_get(trigger_id=trigger_id)
    require_persona(principal, str(trigger.persona_id))
    return trigger


def trigger_delete(principal: Principal | None, trigger_id: str) -> dict:
    return services.trigger_delete(trigger=trigger_get(principal, trigger_id))


def goal_set(resolve: Resolve, params: GoalSetParams) -> dict:
    # The params are the service's arguments, the persona resolved by the door.
    fields = params.model_dump(exclude={"persona_id"})
    goal = services.goal_set(persona=resolve(params.persona_id), **fields)
    return GoalOut.dump(goal)


def goal_list(resolve: Resolve, params: GoalListParams) -> dict:
    goals, next_cursor = selectors.goal_list(
        persona=resolve(params.persona_id),
        status=params.status,
        limit=params.limit,
        cursor=params.cursor,
    )
    return {"goals": [GoalOut.dump(g) for g in goals], "next_cursor": next_cursor}


def goal_complete(resolve: Resolve, params: GoalCompleteParams) -> dict:
    goal = services.goal_complete(
        persona=resolve(params.persona_id), goal=params.goal, status=params.status
    )
    return GoalOut.dump(goal)
