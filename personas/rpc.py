"""persona.* JSON-RPC methods: thin wrappers over personas.services / selectors."""

from __future__ import annotations

from channels.db import database_sync_to_async

from personamcp.exceptions import Forbidden
from personamcp.rpc.context import RpcContext
from personamcp.rpc.readcache import ReadCache
from personamcp.rpc.registry import rpc_method
from personamcp.schemas import Params
from personas import selectors, services
from personas.cards import decode_base64
from personas.cards import persona_export as persona_export_card
from personas.schemas import (
    PersonaCreate,
    PersonaDeletedOut,
    PersonaDetailOut,
    PersonaExportOut,
    PersonaExportParams,
    PersonaImport,
    PersonaListOut,
    PersonaListParams,
    PersonaPatch,
    PersonaRef,
    PersonaStateOut,
    PersonaSwitchOut,
)


class PersonaIdParams(Params):
    persona_id: PersonaRef


class OptionalPersonaParams(Params):
    persona_id: PersonaRef | None = None


class PersonaUpdateParams(PersonaPatch):
    persona_id: PersonaRef


def detail(persona, *, reload: bool = True) -> dict:
    """The ``persona.get`` result; ``reload=False`` when ``persona`` has its state loaded."""
    if reload:
        persona = selectors.persona_get(persona_id=str(persona.id), with_state=True)
    return PersonaDetailOut.dump(selectors.persona_with_stats(persona=persona))


@rpc_method("persona.list", params=PersonaListParams, result=PersonaListOut)
def persona_list(ctx: RpcContext, params: PersonaListParams) -> dict:
    """List personas, optionally filtered by a search string and tags; keyset paginated."""
    principal = ctx.principal
    personas, next_cursor = selectors.persona_list(
        **params.model_dump(), persona_ids=None if principal is None else principal.persona_ids
    )
    return PersonaListOut.dump({"personas": personas, "next_cursor": next_cursor})


# Serialized persona.get results; exact (see personamcp.rpc.readcache), hits skip the thread hop.
_details = ReadCache()


@rpc_method("persona.get", params=PersonaIdParams, result=PersonaDetailOut)
async def persona_get(ctx: RpcContext, params: PersonaIdParams) -> dict:
    """One persona (by id or slug) with its current state and stats."""
    data = _details.get(params.persona_id)
    if data is None:

        def load() -> dict:
            return _details.compute(
                lambda: detail(
                    ctx.resolve_persona(params.persona_id, with_state=True), reload=False
                ),
                lambda d: (params.persona_id, d["id"], d["slug"]),
            )

        data = await database_sync_to_async(load, thread_sensitive=False)()
    ctx.check_persona(data["id"])
    return data


@rpc_method("persona.create", params=PersonaCreate, result=PersonaDetailOut, scope="write")
def persona_create(ctx: RpcContext, params: PersonaCreate) -> dict:
    """Create a persona; ``name`` is required, every other field optional."""
    if ctx.principal is not None and ctx.principal.persona_ids is not None:
        raise Forbidden("a key limited to some personas cannot create personas")
    return detail(services.persona_create(**params.model_dump()))


@rpc_method("persona.update", params=PersonaUpdateParams, result=PersonaDetailOut, scope="write")
def persona_update(ctx: RpcContext, params: PersonaUpdateParams) -> dict:
    """Change some fields of a persona; absent fields keep their value."""
    persona = ctx.resolve_persona(params.persona_id)
    changes = params.model_dump(exclude_unset=True, exclude={"persona_id"})
    services.persona_update(persona=persona, **changes)
    return detail(persona)


@rpc_method("persona.delete", params=PersonaIdParams, result=PersonaDeletedOut, scope="write")
def persona_delete(ctx: RpcContext, params: PersonaIdParams) -> dict:
    """Delete a persona and everything that belongs to it."""
    persona = ctx.resolve_persona(params.persona_id)
    persona_id = services.persona_delete(persona=persona)
    if ctx.session.active_persona_id == persona_id:
        ctx.session.active_persona_id = ctx.session.active_persona_slug = None
        ctx.session.active_conversation_id = None
    return PersonaDeletedOut.dump({"deleted": True, "persona_id": persona_id})


@rpc_method("persona.switch", params=PersonaIdParams, result=PersonaSwitchOut)
def persona_switch(ctx: RpcContext, params: PersonaIdParams) -> dict:
    """Make a persona the active one of this connection; returns its open conversation, if any."""
    persona = ctx.resolve_persona(params.persona_id)
    ctx.session.active_persona_id = str(persona.id)
    ctx.session.active_persona_slug = persona.slug
    from conversations.selectors import conversation_open_for

    conversation = conversation_open_for(persona=persona, participant=ctx.session.user_id)
    conversation_id = str(conversation.id) if conversation else None
    ctx.session.active_conversation_id = conversation_id
    return PersonaSwitchOut.dump({"persona": persona, "conversation_id": conversation_id})


@rpc_method("persona.state", params=OptionalPersonaParams, result=PersonaStateOut)
def persona_state(ctx: RpcContext, params: OptionalPersonaParams) -> dict:
    """How the persona feels now: mood, emotion, energy, social battery, stress."""
    persona = ctx.resolve_persona(params.persona_id)
    return PersonaStateOut.dump(selectors.persona_state_get(persona=persona))


@rpc_method("persona.import", params=PersonaImport, result=PersonaDetailOut, scope="write")
def persona_import(ctx: RpcContext, params: PersonaImport) -> dict:
    """Create a persona from a Character Card V1/V2/V3 (``card``), a card PNG (``png_base64``)
    or a CHARX zip (``charx_base64``); its ``character_book`` becomes its own lorebook."""
    if ctx.principal is not None and ctx.principal.persona_ids is not None:
        raise Forbidden("a key limited to some personas cannot create personas")
    return detail(
        services.persona_import(
            card=params.card,
            png=decode_base64(params.png_base64, "png_base64"),
            charx=decode_base64(params.charx_base64, "charx_base64"),
        )
    )


@rpc_method("persona.export", params=PersonaExportParams, result=PersonaExportOut)
def persona_export(ctx: RpcContext, params: PersonaExportParams) -> dict:
    """The persona as a Character Card (``ccv3`` by default, or ``ccv2``): ``{card}`` as JSON,
    or ``{data_base64, media_type}`` with ``as: "png"`` (both card chunks) or ``"charx"``."""
    persona = ctx.resolve_persona(params.persona_id)
    # not dumped through PersonaExportOut: the wire carries only the keys of the chosen form
    return persona_export_card(persona, fmt=params.format, as_=params.as_)


from personas import relationship_rpc  # noqa: E402,F401
