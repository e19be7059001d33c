"""Shape memories as JSON: the same dicts on /api and /mcp (see ``schemas.MemoryOut``)."""

from __future__ import annotations

from memory.models import Memory
from memory.selectors import ScoredMemory
from personamcp.schemas import iso


def memory_data(memory: Memory) -> dict:
    """PROTOCOL's Memory object (plus ``superseded``)."""
    return {
        "id": memory.id,
        "persona_id": str(memory.persona_id),
        "content": memory.content,
        "kind": memory.kind,
        "importance": round(memory.importance, 4),
        "visibility": memory.visibility,
        "about": memory.about,
        "source_persona_id": str(memory.source_persona_id) if memory.source_persona_id else None,
        "created_at": iso(memory.created_at),
        "last_accessed_at": iso(memory.last_accessed_at),
        "access_count": memory.access_count,
        "metadata": memory.metadata,
        "superseded": memory.superseded,
    }


def scored_memory_data(scored: ScoredMemory) -> dict:
    """A Memory plus ``score`` and ``scores{relevance, recency, importance}``."""
    data = memory_data(scored.memory)
    data["score"] = round(scored.score, 6)
    data["scores"] = {k: round(v, 6) for k, v in scored.scores.items()}
    return data
