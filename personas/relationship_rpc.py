"""relationship.* JSON-RPC methods: thin wrappers over personas.relationships."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method
from personamcp.schemas import Cursor, Limit, Out, Params, SignedUnit, StrId
from personas import relationships
from personas.schemas import PersonaRef
from personas.selectors import persona_get

OtherRef = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class RelationshipOut(Out):
    """How a persona sees someone: ``RelationshipOut.dump(relationship)``."""

    persona_id: StrId
    other_id: str
    other_kind: str
    other_name: str
    affinity: float
    trust: float
    respect: float
    familiarity: float
    stage: str
    interactions: int
    last_interaction_at: datetime | None


class RelationshipGetParams(Params):
    persona_id: PersonaRef | None = None
    other_id: OtherRef


class RelationshipListParams(Params):
    persona_id: PersonaRef | None = None
    limit: Limit = 50
    cursor: Cursor | None = None


class RelationshipListOut(Out):
    relationships: list[RelationshipOut]
    next_cursor: str | None


class RelationshipUpdateParams(Params):
    persona_id: PersonaRef | None = None
    other_id: OtherRef
    interaction_quality: SignedUnit
    context: Annotated[str, StringConstraints(max_length=1000)] | None = None


class CompatibilityParams(Params):
    persona_id: PersonaRef
    other_id: PersonaRef


class CompatibilityOut(Out):
    overall: float
    personality: float
    interests: float
    prediction: str
    shared_interests: list[str] = Field(default_factory=list)


def relationships_of(persona, params: RelationshipListParams) -> dict:
    """A page of ``relationship.list`` for a persona (also ``GET /api/relationships/``)."""
    found, next_cursor = relationships.relationship_list(
        persona=persona, limit=params.limit, cursor=params.cursor
    )
    return RelationshipListOut.dump({"relationships": found, "next_cursor": next_cursor})


@rpc_method("relationship.get", params=RelationshipGetParams, result=RelationshipOut)
def relationship_get(ctx: RpcContext, params: RelationshipGetParams) -> dict:
    """How a persona sees someone (a persona id/slug or a participant id).

    Returns the neutral default (stage ``stranger``, 0 interactions) when they never met.
    """
    persona = ctx.resolve_persona(params.persona_id)
    return RelationshipOut.dump(
        relationships.relationship_get(persona=persona, other_id=params.other_id)
    )


@rpc_method("relationship.list", params=RelationshipListParams, result=RelationshipListOut)
def relationship_list(ctx: RpcContext, params: RelationshipListParams) -> dict:
    """The relationships of a persona, most recent interaction first, paged by ``cursor``
    (the ``next_cursor`` of the page before)."""
    return relationships_of(ctx.resolve_persona(params.persona_id), params)


@rpc_method(
    "relationship.update", params=RelationshipUpdateParams, result=RelationshipOut, scope="write"
)
def relationship_update(ctx: RpcContext, params: RelationshipUpdateParams) -> dict:
    """Record an interaction of quality -1..1 with someone; the stage is re-derived."""
    persona = ctx.resolve_persona(params.persona_id)
    rel = relationships.relationship_record_interaction(
        persona=persona,
        other_id=params.other_id,
        quality=params.interaction_quality,
        context=params.context or "",
    )
    return RelationshipOut.dump(rel)


@rpc_method("relationship.compatibility", params=CompatibilityParams, result=CompatibilityOut)
def relationship_compatibility(ctx: RpcContext, params: CompatibilityParams) -> dict:
    """How well two personas would get along (personality and shared interests)."""
    persona = ctx.resolve_persona(params.persona_id)
    other = persona_get(persona_id=params.other_id)
    return CompatibilityOut.dump(
        relationships.relationship_compatibility(persona=persona, other=other)
    )
