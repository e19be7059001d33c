"""trigger.* and goal.* JSON-RPC methods: thin wrappers over ``goals.operations``."""

from __future__ import annotations

from goals import operations, schemas
from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method


@rpc_method(
    "trigger.create", params=schemas.TriggerCreateParams, result=schemas.TriggerOut, scope="write"
)
def trigger_create(ctx: RpcContext, params: schemas.TriggerCreateParams) -> dict:
    """Give a persona a trigger: when the ``when`` conditions hold for a message or a world
    event, the ``then`` effects apply (``once``, or again after ``cooldown_seconds``)."""
    return operations.trigger_create(ctx.resolve_persona, params)


@rpc_method("trigger.list", params=schemas.TriggerListParams, result=schemas.TriggerListOut)
def trigger_list(ctx: RpcContext, params: schemas.TriggerListParams) -> dict:
    """Triggers of a persona (default: of every persona the key covers); paginated."""
    return operations.trigger_list(ctx.resolve_persona, ctx.principal, params)


@rpc_method(
    "trigger.delete", params=schemas.TriggerRefParams, result=schemas.DeletedOut, scope="write"
)
def trigger_delete(ctx: RpcContext, params: schemas.TriggerRefParams) -> dict:
    """Delete a trigger."""
    return operations.trigger_delete(ctx.principal, params.trigger_id)


@rpc_method("goal.set", params=schemas.GoalSetParams, result=schemas.GoalOut, scope="write")
def goal_set(ctx: RpcContext, params: schemas.GoalSetParams) -> dict:
    """Add a goal to a persona, or change one (by ``goal_id``, else by its text); active goals
    enter every turn's prompt, highest ``priority`` first."""
    return operations.goal_set(ctx.resolve_persona, params)


@rpc_method("goal.list", params=schemas.GoalListParams, result=schemas.GoalListOut)
def goal_list(ctx: RpcContext, params: schemas.GoalListParams) -> dict:
    """A persona's goals, highest priority first (``status`` filters); paginated."""
    return operations.goal_list(ctx.resolve_persona, params)


@rpc_method(
    "goal.complete", params=schemas.GoalCompleteParams, result=schemas.GoalOut, scope="write"
)
def goal_complete(ctx: RpcContext, params: schemas.GoalCompleteParams) -> dict:
    """Mark a goal (its id or its text) ``completed`` (default) or ``failed``."""
    return operations.goal_complete(ctx.resolve_persona, params)
