"""The lorebook operations behind both front doors (``lorebook.*`` on /mcp, /api/lorebooks/).

Each takes the caller's principal and validated params, calls one service or selector and
shapes the result, so RPC and REST return the same JSON by construction.
"""

from __future__ import annotations

import uuid

from lore import selectors, services
from lore.models import Lorebook
from lore.serializers import lorebook_data
from personamcp.auth import Principal, require_persona
from personamcp.exceptions import Forbidden, ValidationFailed
from personas.selectors import persona_get


def _limited(principal: Principal | None) -> bool:
    return principal is not None and principal.persona_ids is not None


def _check(principal: Principal | None, lorebook: Lorebook) -> None:
    """A key limited to some personas reaches only the books of those personas."""
    if not _limited(principal):
        return
    ids = {str(lorebook.owner_id)} if lorebook.owner_id else set()
    ids |= {str(p) for p in lorebook.personas.values_list("id", flat=True)}
    if not ids & set(principal.persona_ids):
        raise Forbidden("this API key does not cover this lorebook's personas")


def _room_id(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValidationFailed([{"field": "room_id", "message": "not a room id"}]) from None


def _persona(principal: Principal | None, persona_id: str | None):
    if persona_id is None:
        return None
    persona = persona_get(persona_id=persona_id)
    require_persona(principal, str(persona.id))
    return persona


def get(principal: Principal | None, lorebook_id: str) -> Lorebook:
    lorebook = selectors.lorebook_get(lorebook_id=lorebook_id)
    _check(principal, lorebook)
    return lorebook


def detail(lorebook: Lorebook) -> dict:
    return lorebook_data(selectors.lorebook_get(lorebook_id=str(lorebook.pk)))


def list_(principal, params) -> dict:
    books, next_cursor = selectors.lorebook_list(
        persona=_persona(principal, params.persona_id),
        room_id=_room_id(params.room_id),
        persona_ids=sorted(principal.persona_ids) if _limited(principal) else None,
        limit=params.limit,
        cursor=params.cursor,
    )
    return {"lorebooks": [lorebook_data(b) for b in books], "next_cursor": next_cursor}


def create(principal, params) -> dict:
    if _limited(principal):
        raise Forbidden("a key limited to some personas cannot create standalone lorebooks")
    book = {"extensions": {}, **params.model_dump(exclude_none=True)}
    return detail(services.lorebook_create(book=book))


def update(principal, lorebook_id: str, params) -> dict:
    lorebook = get(principal, lorebook_id)
    changes = params.model_dump(exclude_unset=True, exclude={"lorebook_id"})
    return detail(services.lorebook_update(lorebook=lorebook, changes=changes))


def delete(principal, lorebook_id: str) -> dict:
    lorebook = get(principal, lorebook_id)
    services.lorebook_delete(lorebook=lorebook)
    return {"deleted": True}


def attach(principal, params, *, detach: bool = False) -> dict:
    lorebook = get(principal, params.lorebook_id)  # the key must cover the book too
    if params.persona_id is None and params.room_id is None:
        raise ValidationFailed([{"field": "persona_id", "message": "give persona_id or room_id"}])
    persona = _persona(principal, params.persona_id)
    if persona is None and _limited(principal):
        raise Forbidden("a key limited to some personas cannot change rooms' lorebooks")
    service = services.lorebook_detach if detach else services.lorebook_attach
    service(lorebook=lorebook, persona=persona, room_id=_room_id(params.room_id))
    return detail(lorebook)


def import_(principal, params) -> dict:
    if _limited(principal):
        raise Forbidden("a key limited to some personas cannot create standalone lorebooks")
    return detail(services.lorebook_import(data=params.data, name=params.name))


def export(principal, lorebook_id: str, fmt: str) -> dict:
    lorebook = get(principal, lorebook_id)
    return {"data": services.lorebook_export(lorebook=lorebook, fmt=fmt)}
