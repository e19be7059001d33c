"""Celery tasks of the memory app: decay, pruning (periodic), reflection, LLM importance."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="memory.decay", time_limit=600)
def decay_task() -> dict:
    """Lower the importance of old, unused memories (see ``services.memory_decay``)."""
    from memory.services import memory_decay

    return memory_decay()


@shared_task(name="memory.prune", time_limit=1800)
def prune_task() -> dict:
    """Delete memories beyond the per-persona cap (see ``services.memory_prune``)."""
    from memory.services import memory_prune

    return memory_prune()


@shared_task(name="memory.reflect", time_limit=600, max_retries=2, default_retry_delay=30)
def reflect_task(persona_id: str) -> list[int]:
    """Reflect on a persona's recent memories; returns the new reflection ids."""
    from memory.services import memory_reflect
    from personas.models import Persona

    persona = Persona.objects.filter(id=persona_id).first()
    if persona is None:
        return []
    return [m.id for m in memory_reflect(persona=persona)]


@shared_task(name="memory.rescore_importance", time_limit=120)
def rescore_importance_task(memory_id: int) -> float | None:
    """Score a memory's importance with the LLM (kept heuristic on failure)."""
    from memory.services import memory_rescore_importance

    return memory_rescore_importance(memory_id=memory_id)
