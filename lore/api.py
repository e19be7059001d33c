"""REST views for lorebooks: the same operations as the lorebook.* methods."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from lore import operations
from lore.schemas import (
    LorebookAttachParams,
    LorebookCreate,
    LorebookDeletedOut,
    LorebookExportOut,
    LorebookImportParams,
    LorebookListOut,
    LorebookListParams,
    LorebookOut,
    LorebookPatch,
)
from personamcp.api import parse, parse_query
from personamcp.schemas import validate
from personas.api import IgnoreFormatQuery


class LorebookListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("persona_id", str),
            OpenApiParameter("room_id", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses=LorebookListOut,
    )
    def get(self, request):
        """List lorebooks (same as ``lorebook.list``)."""
        params = parse_query(request, LorebookListParams)
        return Response(operations.list_(request.principal, params))

    @extend_schema(request=LorebookCreate, responses={201: LorebookOut})
    def post(self, request):
        """Create a lorebook (same as ``lorebook.create``)."""
        params = parse(request, LorebookCreate)
        return Response(operations.create(request.principal, params), status=201)


class LorebookDetailView(APIView):
    @extend_schema(responses=LorebookOut)
    def get(self, request, lorebook_id: str):
        """One lorebook with its entries (same as ``lorebook.get``)."""
        return Response(operations.detail(operations.get(request.principal, lorebook_id)))

    @extend_schema(request=LorebookPatch, responses=LorebookOut)
    def patch(self, request, lorebook_id: str):
        """Change some fields (same as ``lorebook.update``)."""
        params = parse(request, LorebookPatch)
        return Response(operations.update(request.principal, lorebook_id, params))

    @extend_schema(responses=LorebookDeletedOut)
    def delete(self, request, lorebook_id: str):
        """Delete a lorebook (same as ``lorebook.delete``)."""
        return Response(operations.delete(request.principal, lorebook_id))


class LorebookAttachView(APIView):
    detach = False

    @extend_schema(request=LorebookAttachParams, responses=LorebookOut)
    def post(self, request, lorebook_id: str):
        """Attach to (or detach from) ``persona_id`` or ``room_id``."""
        params = parse(request, LorebookAttachParams, extra={"lorebook_id": lorebook_id})
        return Response(operations.attach(request.principal, params, detach=self.detach))


class LorebookImportView(APIView):
    @extend_schema(request=LorebookImportParams, responses={201: LorebookOut})
    def post(self, request):
        """Import a World Info file or a ``character_book`` (same as ``lorebook.import``)."""
        params = parse(request, LorebookImportParams)
        return Response(operations.import_(request.principal, params), status=201)


class LorebookExportView(APIView):
    content_negotiation_class = IgnoreFormatQuery

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["worldinfo", "character_book"])],
        responses=LorebookExportOut,
    )
    def get(self, request, lorebook_id: str):
        """A World Info file or a ``character_book`` (same as ``lorebook.export``)."""
        from lore.schemas import LorebookExportParams

        params = validate(
            LorebookExportParams,
            {"lorebook_id": lorebook_id, "format": request.query_params.get("format", "worldinfo")},
        )
        return Response(operations.export(request.principal, lorebook_id, params.format))
