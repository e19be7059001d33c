"""Lorebooks as JSON (the same dicts on /api and /mcp; see ``schemas.LorebookOut``)."""

from __future__ import annotations

from lore.models import Lorebook
from lore.services import entry_to_dict
from personamcp.schemas import iso


def lorebook_data(lorebook: Lorebook) -> dict:
    entries = []
    for entry in lorebook.entries.all():
        data = entry_to_dict(entry, keep_private=False)
        data["entry_id"] = entry.pk
        entries.append(data)
    return {
        "id": str(lorebook.id),
        "name": lorebook.name,
        "description": lorebook.description,
        "scan_depth": lorebook.scan_depth,
        "token_budget": lorebook.token_budget,
        "recursive_scanning": lorebook.recursive_scanning,
        "extensions": dict(lorebook.extensions or {}),
        "entries": entries,
        "owner_persona_id": str(lorebook.owner_id) if lorebook.owner_id else None,
        "persona_ids": sorted(str(p) for p in lorebook.personas.values_list("id", flat=True)),
        "room_ids": sorted(str(r) for r in lorebook.room_links.values_list("room_id", flat=True)),
        "created_at": iso(lorebook.created_at),
        "updated_at": iso(lorebook.updated_at),
    }
