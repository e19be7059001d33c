"""Read-side queries for personas."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from personamcp.pagination import paginate
from personas.exceptions import NoActivePersona, PersonaNotFound
from personas.models import Persona, PersonaState


def _base_qs() -> QuerySet[Persona]:
    return Persona.objects.prefetch_related("tags")


def _lookup(persona_id: str) -> Q:
    try:
        return Q(id=uuid.UUID(str(persona_id)))
    except ValueError:
        return Q(slug=str(persona_id))


def persona_get(*, persona_id: str, with_state: bool = False) -> Persona:
    """The persona with this UUID or slug; raises ``PersonaNotFound``."""
    qs = _base_qs()
    if with_state:
        qs = qs.select_related("state")
    persona = qs.filter(_lookup(persona_id)).first()
    if persona is None:
        raise PersonaNotFound(f"persona not found: {persona_id}")
    return persona


def persona_state_get(*, persona: Persona) -> PersonaState:
    state, _ = PersonaState.objects.get_or_create(persona=persona)
    return state


def persona_list(
    *,
    search: str | None = None,
    tags: list[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
    persona_ids: frozenset[str] | None = None,
) -> tuple[list[Persona], str | None]:
    """Personas ordered by name, keyset-paginated; ``tags`` must all be present.

    ``persona_ids`` (a key limited to some personas) filters before paging, so every page is
    full while more follow and the last page carries no cursor.
    """
    qs = _base_qs()
    if persona_ids is not None:
        qs = qs.filter(id__in=persona_ids)
    if search:
        qs = qs.filter(
            Q(name__icontains=search) | Q(slug__icontains=search) | Q(description__icontains=search)
        )
    for tag in tags or []:
        qs = qs.filter(tags__name=tag)
    return paginate(qs, order="name", limit=limit, cursor=cursor)


def persona_stats(*, persona: Persona) -> dict[str, int]:
    """Counts of what hangs off a persona (memories, conversations, relationships)."""
    stats = {"relationships": persona.relationships.count()}
    for name in ("memories", "conversations"):
        manager = getattr(persona, name, None)
        if manager is not None:
            stats[name] = manager.count()
    return stats


def persona_with_stats(*, persona: Persona) -> Persona:
    """The persona with ``stats`` attached (the ``PersonaDetailOut`` shape; state loaded)."""
    persona.stats = persona_stats(persona=persona)
    return persona


def persona_for_call(ref: str | None, *, with_state: bool = False) -> Persona:
    """The persona a call names (id or slug); ``None``: the caller has no active persona."""
    if not ref:
        raise NoActivePersona()
    return persona_get(persona_id=ref, with_state=with_state)


def persona_directory(*, persona_ids: frozenset[str] | None, limit: int) -> list[Persona]:
    """Up to ``limit`` personas by name, only those in ``persona_ids`` when a key is limited."""
    qs = Persona.objects.order_by("name", "id").only("id", "slug", "name", "description")
    if persona_ids is not None:
        qs = qs.filter(id__in=persona_ids)
    return list(qs[:limit])


def persona_count() -> int:
    return Persona.objects.count()
