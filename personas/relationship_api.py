"""REST views of relationships (parity with relationship.* on /mcp)."""

from __future__ import annotations

from typing import Annotated

from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import RootModel, StringConstraints
from rest_framework.response import Response
from rest_framework.views import APIView

from personamcp.api import parse, parse_query
from personamcp.exceptions import ValidationFailed
from personamcp.schemas import Params, validate
from personas import relationships
from personas.api import resolve_persona
from personas.relationship_rpc import (
    CompatibilityOut,
    RelationshipListOut,
    RelationshipListParams,
    RelationshipOut,
    RelationshipUpdateParams,
    relationships_of,
)
from personas.selectors import persona_get


class CompatibilityParamsQuery(Params):
    other: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RelationshipOrListOut(RootModel[RelationshipOut | RelationshipListOut]):
    """``GET /api/relationships/``: one relationship with ``?other=``, else a page of them."""


def _persona_param(request):
    persona_id = request.query_params.get("persona") or request.query_params.get("persona_id")
    if not persona_id:
        raise ValidationFailed([{"field": "persona", "message": "this parameter is required"}])
    return resolve_persona(request, persona_id)


class RelationshipView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("persona", str, required=True, description="persona id or slug"),
            OpenApiParameter(
                "other", str, description="persona id/slug or participant id; absent: list all"
            ),
            OpenApiParameter("limit", int, description="the list: page size"),
            OpenApiParameter("cursor", str, description="the list: next_cursor of the last page"),
        ],
        responses={200: RelationshipOrListOut},
    )
    def get(self, request):
        """One relationship (``?persona=&other=``, like ``relationship.get``) or all of them
        (``?persona=`` only, like ``relationship.list``, paged)."""
        params = parse_query(request, RelationshipListParams, persona_id=None)
        persona = _persona_param(request)
        other = request.query_params.get("other") or request.query_params.get("other_id")
        if not other:
            return Response(relationships_of(persona, params))
        return Response(
            RelationshipOut.dump(relationships.relationship_get(persona=persona, other_id=other))
        )

    @extend_schema(request=RelationshipUpdateParams, responses=RelationshipOut)
    def post(self, request):
        """Record an interaction (same as ``relationship.update``; body ``persona_id``,
        ``other_id``, ``interaction_quality``, ``context?``)."""
        params = parse(request, RelationshipUpdateParams)
        if not params.persona_id:
            raise ValidationFailed([{"field": "persona_id", "message": "this field is required"}])
        persona = resolve_persona(request, params.persona_id)
        rel = relationships.relationship_record_interaction(
            persona=persona,
            other_id=params.other_id,
            quality=params.interaction_quality,
            context=params.context or "",
        )
        return Response(RelationshipOut.dump(rel))


class RelationshipListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses=RelationshipListOut,
    )
    def get(self, request, persona_id: str):
        """The relationships of a persona, paged (same as ``relationship.list``)."""
        params = parse_query(request, RelationshipListParams, persona_id=persona_id)
        return Response(relationships_of(resolve_persona(request, persona_id), params))


class CompatibilityView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("persona", str, required=True),
            OpenApiParameter("other", str, required=True),
        ],
        responses=CompatibilityOut,
    )
    def get(self, request):
        """How well two personas would get along (same as ``relationship.compatibility``)."""
        persona = _persona_param(request)
        params = validate(
            CompatibilityParamsQuery, {"other": request.query_params.get("other", "")}
        )
        other = persona_get(persona_id=params.other)
        found = relationships.relationship_compatibility(persona=persona, other=other)
        return Response(CompatibilityOut.dump(found))
