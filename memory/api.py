"""REST views under /api/memory/: the same services and JSON as the memory.* methods."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from memory import operations, schemas
from personamcp.api import parse
from personamcp.exceptions import ValidationFailed
from personamcp.schemas import validate
from personas.api import resolve_persona

PERSONA_PARAM = OpenApiParameter("persona", str, required=True, description="persona id or slug")


def _persona(request, value: str | None):
    if not value:
        raise ValidationFailed([{"field": "persona", "message": "persona id or slug is required"}])
    return resolve_persona(request, value)


def _query_persona(request):
    return request.query_params.get("persona") or request.query_params.get("persona_id")


def _bool(value: str | None) -> bool | str | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    return value  # pydantic names the bad value


class MemoryListView(APIView):
    @extend_schema(
        parameters=[PERSONA_PARAM, OpenApiParameter("kind", str), OpenApiParameter("limit", int),
                    OpenApiParameter("cursor", str)],
        responses=schemas.MemoryListOut,
    )  # fmt: skip
    def get(self, request):
        """A persona's memories, newest first (same as ``memory.list``)."""
        query = request.query_params
        raw = {k: query.get(k) for k in ("kind", "limit", "cursor") if query.get(k) is not None}
        params = validate(schemas.MemoryListParams, raw)
        return Response(operations.list_(_persona(request, _query_persona(request)), params))

    @extend_schema(request=schemas.MemoryStoreParams, responses={201: schemas.MemoryOut})
    def post(self, request):
        """Store a memory (same as ``memory.store``); ``persona_id`` is required here."""
        params = parse(request, schemas.MemoryStoreParams)
        persona = _persona(request, params.persona_id)
        return Response(operations.store(persona, params), status=201)


class MemoryDetailView(APIView):
    @extend_schema(responses=schemas.MemoryOut)
    def get(self, request, memory_id: int):
        """One memory (same as ``memory.get``)."""
        return Response(operations.get(memory_id, request.principal))

    @extend_schema(responses=schemas.MemoryDeletedOut)
    def delete(self, request, memory_id: int):
        """Delete one memory (same as ``memory.delete``)."""
        return Response(operations.delete(memory_id, request.principal))


class MemorySearchView(APIView):
    @extend_schema(
        parameters=[
            PERSONA_PARAM,
            OpenApiParameter("q", str, required=True, description="the query text"),
            OpenApiParameter("limit", int),
            OpenApiParameter("kinds", str, many=True, description="repeat or comma-separate"),
            OpenApiParameter("min_importance", float),
            OpenApiParameter("include_shared", bool),
            OpenApiParameter("about", str),
        ],
        responses=schemas.MemorySearchOut,
    )
    def get(self, request):
        """Search memories by meaning (same result as ``memory.search``)."""
        query = request.query_params
        kinds = [
            k for raw in query.getlist("kinds") + query.getlist("kind") for k in raw.split(",") if k
        ]
        raw = {
            "query": query.get("q", query.get("query")),
            "limit": query.get("limit"),
            "kinds": kinds or None,
            "min_importance": query.get("min_importance"),
            "include_shared": _bool(query.get("include_shared")),
            "about": query.get("about"),
        }
        params = validate(
            schemas.MemorySearchParams, {k: v for k, v in raw.items() if v is not None}
        )
        return Response(operations.search(_persona(request, _query_persona(request)), params))


class MemoryStatsView(APIView):
    @extend_schema(parameters=[PERSONA_PARAM], responses=schemas.MemoryStatsOut)
    def get(self, request):
        """Memory statistics of a persona (same as ``memory.stats``)."""
        return Response(operations.stats(_persona(request, _query_persona(request))))


class MemoryReflectView(APIView):
    @extend_schema(request=schemas.PersonaOptionalParams, responses=schemas.MemoryReflectOut)
    def post(self, request):
        """Reflect on recent memories (same as ``memory.reflect``); ``persona_id`` required."""
        params = parse(request, schemas.PersonaOptionalParams)
        return Response(operations.reflect(_persona(request, params.persona_id)))
