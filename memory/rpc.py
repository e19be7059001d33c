"""memory.* JSON-RPC methods: thin wrappers over memory.services / selectors."""

from __future__ import annotations

from memory import operations, schemas
from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method


@rpc_method(
    "memory.store", params=schemas.MemoryStoreParams, result=schemas.MemoryOut, scope="write"
)
def memory_store(ctx: RpcContext, params: schemas.MemoryStoreParams) -> dict:
    """Store a memory for a persona; importance is scored automatically when absent."""
    return operations.store(ctx.resolve_persona(params.persona_id), params)


@rpc_method("memory.search", params=schemas.MemorySearchParams, result=schemas.MemorySearchOut)
def memory_search(ctx: RpcContext, params: schemas.MemorySearchParams) -> dict:
    """Search a persona's memories by meaning, ranked by relevance, recency and importance."""
    return operations.search(ctx.resolve_persona(params.persona_id), params)


@rpc_method("memory.get", params=schemas.MemoryIdParams, result=schemas.MemoryOut)
def memory_get(ctx: RpcContext, params: schemas.MemoryIdParams) -> dict:
    """One memory by id."""
    return operations.get(params.memory_id, ctx.principal)


@rpc_method(
    "memory.delete", params=schemas.MemoryIdParams, result=schemas.MemoryDeletedOut, scope="write"
)
def memory_delete(ctx: RpcContext, params: schemas.MemoryIdParams) -> dict:
    """Delete one memory."""
    return operations.delete(params.memory_id, ctx.principal)


@rpc_method("memory.list", params=schemas.MemoryListParams, result=schemas.MemoryListOut)
def memory_list(ctx: RpcContext, params: schemas.MemoryListParams) -> dict:
    """A persona's memories, newest first, paginated with ``cursor``."""
    return operations.list_(ctx.resolve_persona(params.persona_id), params)


@rpc_method("memory.stats", params=schemas.PersonaOptionalParams, result=schemas.MemoryStatsOut)
def memory_stats(ctx: RpcContext, params: schemas.PersonaOptionalParams) -> dict:
    """Counts by kind and visibility, mean importance, oldest and newest memory."""
    return operations.stats(ctx.resolve_persona(params.persona_id))


@rpc_method(
    "memory.reflect",
    params=schemas.PersonaOptionalParams,
    result=schemas.MemoryReflectOut,
    scope="write",
)
def memory_reflect(ctx: RpcContext, params: schemas.PersonaOptionalParams) -> dict:
    """Reflect on recent memories now (offline: a summary) or queue it (LLM configured)."""
    return operations.reflect(ctx.resolve_persona(params.persona_id))
