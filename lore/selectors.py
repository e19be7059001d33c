"""Read-side queries on lorebooks."""

from __future__ import annotations

import uuid

from django.db.models import Q

from lore.exceptions import LorebookNotFound
from lore.models import Lorebook
from personamcp.pagination import paginate
from personas.models import Persona


def lorebook_get(*, lorebook_id: str) -> Lorebook:
    try:
        key = uuid.UUID(str(lorebook_id))
    except ValueError:
        raise LorebookNotFound(f"lorebook not found: {lorebook_id}") from None
    found = Lorebook.objects.filter(pk=key).prefetch_related("entries").first()
    if found is None:
        raise LorebookNotFound(f"lorebook not found: {lorebook_id}")
    return found


def lorebook_list(
    *,
    persona: Persona | None = None,
    room_id: str | None = None,
    persona_ids: list[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Lorebook], str | None]:
    """Lorebooks, optionally those a persona scans (own or attached) or a room's."""
    queryset = Lorebook.objects.all()
    if persona is not None:
        queryset = queryset.filter(Q(owner=persona) | Q(personas=persona))
    if room_id is not None:
        queryset = queryset.filter(room_links__room_id=room_id)
    if persona_ids is not None:  # a key limited to some personas sees their books only
        queryset = queryset.filter(Q(owner__in=persona_ids) | Q(personas__in=persona_ids))
    queryset = queryset.distinct().prefetch_related("entries")
    return paginate(queryset, order="name", limit=limit, cursor=cursor)
