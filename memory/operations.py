"""The shaping shared by both front doors (rpc.py and api.py): validated params in, JSON out.

Keeping it in one place is what makes ``memory.search`` over /mcp and
``GET /api/memory/search`` return the same JSON for the same call.
"""

from __future__ import annotations

from memory import selectors, services
from memory.schemas import (
    MemoryDeletedOut,
    MemoryListOut,
    MemoryListParams,
    MemoryOut,
    MemoryReflectOut,
    MemorySearchOut,
    MemorySearchParams,
    MemoryStatsOut,
    MemoryStoreParams,
)
from personamcp.auth import require_persona
from personamcp.jobs import enqueue


def store(persona, params: MemoryStoreParams) -> dict:
    memory = services.memory_store(persona=persona, **params.model_dump(exclude={"persona_id"}))
    return MemoryOut.dump(memory)


def search(persona, params: MemorySearchParams) -> dict:
    found = selectors.memory_search(persona=persona, **params.model_dump(exclude={"persona_id"}))
    return MemorySearchOut.dump({"memories": found})


def _owned(memory_id: int, principal):
    memory = selectors.memory_get(memory_id=memory_id)
    require_persona(principal, str(memory.persona_id))
    return memory


def get(memory_id: int, principal) -> dict:
    return MemoryOut.dump(_owned(memory_id, principal))


def delete(memory_id: int, principal) -> dict:
    memory = _owned(memory_id, principal)
    services.memory_delete(memory=memory)
    return MemoryDeletedOut.dump({"deleted": True, "memory_id": memory_id})


def list_(persona, params: MemoryListParams) -> dict:
    memories, next_cursor = selectors.memory_list(
        persona=persona, kind=params.kind, limit=params.limit, cursor=params.cursor
    )
    return MemoryListOut.dump({"memories": memories, "next_cursor": next_cursor})


def stats(persona) -> dict:
    return MemoryStatsOut.dump(selectors.memory_stats(persona=persona))


def reflect(persona) -> dict:
    from memory.importance import llm_configured

    if llm_configured():
        from memory.tasks import reflect_task

        enqueue(reflect_task, str(persona.id))
        return MemoryReflectOut.dump({"reflections": [], "queued": True})
    reflections = services.memory_reflect(persona=persona)
    return MemoryReflectOut.dump({"reflections": reflections, "queued": False})
