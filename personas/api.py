"""REST views for personas: thin wrappers over the same services as the persona.* methods."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from personamcp.api import parse, parse_query
from personamcp.auth import require_persona
from personamcp.exceptions import Forbidden, ValidationFailed
from personamcp.schemas import validate
from personas import cards, schemas, selectors, services
from personas.models import Persona
from personas.rpc import detail


def resolve_persona(request, persona_id: str, *, with_state: bool = False) -> Persona:
    """The persona of a URL (id or slug), checked against the key's persona scope."""
    persona = selectors.persona_get(persona_id=persona_id, with_state=with_state)
    require_persona(request.principal, str(persona.id))
    return persona


CARD_FILE_BYTES = 8 * 1024 * 1024


class _NoUrlFormat:
    URL_FORMAT_OVERRIDE = None


class IgnoreFormatQuery(DefaultContentNegotiation):
    """Content negotiation that leaves ``?format=`` to the view (an export's file format),
    whatever DRF's global ``URL_FORMAT_OVERRIDE`` says."""

    settings = _NoUrlFormat


class PersonaListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("search", str),
            OpenApiParameter("tag", str, many=True, description="repeat or comma-separate"),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses=schemas.PersonaListPageOut,
    )
    def get(self, request):
        """List personas (same result as ``persona.list``)."""
        params = parse_query(request, schemas.PersonaListParams, aliases={"tag": "tags"})
        query = request.query_params
        personas, next_cursor = selectors.persona_list(
            **params.model_dump(), persona_ids=request.principal.persona_ids
        )
        next_url = None
        if next_cursor:
            mutable = query.copy()
            mutable["cursor"] = next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{mutable.urlencode()}")
        page = {"personas": personas, "next_cursor": next_cursor, "next": next_url}
        return Response(schemas.PersonaListPageOut.dump(page))

    @extend_schema(request=schemas.PersonaCreate, responses={201: schemas.PersonaDetailOut})
    def post(self, request):
        """Create a persona (same as ``persona.create``)."""
        if request.principal.persona_ids is not None:
            raise Forbidden("a key limited to some personas cannot create personas")
        params = parse(request, schemas.PersonaCreate)
        persona = services.persona_create(**params.model_dump())
        return Response(detail(persona), status=201)


class PersonaDetailView(APIView):
    @extend_schema(responses=schemas.PersonaDetailOut)
    def get(self, request, persona_id: str):
        """One persona with state and stats (same as ``persona.get``)."""
        return Response(detail(resolve_persona(request, persona_id)))

    @extend_schema(request=schemas.PersonaPatch, responses=schemas.PersonaDetailOut)
    def patch(self, request, persona_id: str):
        """Change some fields (same as ``persona.update``)."""
        persona = resolve_persona(request, persona_id)
        params = parse(request, schemas.PersonaPatch)
        services.persona_update(persona=persona, **params.model_dump(exclude_unset=True))
        return Response(detail(persona))

    @extend_schema(request=schemas.PersonaCreate, responses=schemas.PersonaDetailOut)
    def put(self, request, persona_id: str):
        """Replace the writable fields of a persona."""
        persona = resolve_persona(request, persona_id)
        params = parse(request, schemas.PersonaCreate)
        services.persona_update(persona=persona, **params.model_dump())
        return Response(detail(persona))

    @extend_schema(responses=schemas.PersonaDeletedOut)
    def delete(self, request, persona_id: str):
        """Delete a persona (same as ``persona.delete``)."""
        persona = resolve_persona(request, persona_id)
        deleted = {"deleted": True, "persona_id": services.persona_delete(persona=persona)}
        return Response(schemas.PersonaDeletedOut.dump(deleted))


class PersonaStateView(APIView):
    @extend_schema(responses=schemas.PersonaStateOut)
    def get(self, request, persona_id: str):
        """The persona's current mood and energy (same as ``persona.state``)."""
        persona = resolve_persona(request, persona_id)
        return Response(schemas.PersonaStateOut.dump(selectors.persona_state_get(persona=persona)))


class PersonaAvatarView(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"avatar": {"type": "string", "format": "binary"}},
            }
        },
        responses=schemas.PersonaDetailOut,
    )
    def post(self, request, persona_id: str):
        """Upload an avatar image (multipart field ``avatar``; PNG, JPEG, GIF or WebP, <= 5 MB)."""
        persona = resolve_persona(request, persona_id)
        upload = request.FILES.get("avatar")
        if upload is None:
            raise ValidationFailed([{"field": "avatar", "message": "an image file is required"}])
        # The service verifies, re-encodes and renames it (personamcp.media.clean_image).
        services.persona_set_avatar(persona=persona, avatar=upload)
        return Response(detail(persona))

    @extend_schema(responses=schemas.PersonaDetailOut)
    def delete(self, request, persona_id: str):
        """Remove the avatar."""
        persona = resolve_persona(request, persona_id)
        services.persona_set_avatar(persona=persona, avatar=None)
        return Response(detail(persona))


class PersonaImportView(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": schemas.PersonaImport,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
        },
        responses={201: schemas.PersonaDetailOut},
    )
    def post(self, request):
        """Create a persona from a card: JSON (same as persona.import) or a multipart ``file``
        (.png, .charx or .json)."""
        if request.principal.persona_ids is not None:
            raise Forbidden("a key limited to some personas cannot create personas")
        upload = request.FILES.get("file")
        if upload is not None:
            if upload.size > CARD_FILE_BYTES:
                raise ValidationFailed([{"field": "file", "message": "larger than 8 MiB"}])
            kind, value = cards.sniff(upload.read(), field="file")
            persona = services.persona_import(**{kind: value}, field="file")
            return Response(detail(persona), status=201)
        params = parse(request, schemas.PersonaImport)
        persona = services.persona_import(
            card=params.card,
            png=cards.decode_base64(params.png_base64, "png_base64"),
            charx=cards.decode_base64(params.charx_base64, "charx_base64"),
        )
        return Response(detail(persona), status=201)


class PersonaExportView(APIView):
    # ``?format=`` is the card format here, never DRF's renderer switch.
    content_negotiation_class = IgnoreFormatQuery

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["ccv3", "ccv2"]),
            OpenApiParameter("as", str, enum=["json", "png", "charx"]),
        ],
        responses={
            (200, "application/json"): schemas.PersonaExportOut,
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "application/zip"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, persona_id: str):
        """The persona as a Character Card (same as persona.export): ``{card}`` JSON, or the
        card PNG (``image/png``) or CHARX (``application/zip``) file itself."""
        persona = resolve_persona(request, persona_id)
        params = validate(
            schemas.PersonaExportParams,
            {
                "persona_id": persona_id,
                "format": request.query_params.get("format", "ccv3"),
                "as": request.query_params.get("as", "json"),
            },
        )
        if params.as_ == "json":
            return Response({"card": cards.persona_to_card(persona, fmt=params.format)})
        if params.as_ == "png":
            raw, media_type, ext = (
                cards.persona_card_png(persona, fmt=params.format),
                "image/png",
                "png",
            )
        else:
            raw = cards.persona_card_charx(persona, fmt=params.format)
            media_type, ext = "application/zip", "charx"
        response = HttpResponse(raw, content_type=media_type)
        response["Content-Disposition"] = f'attachment; filename="{persona.slug}.{ext}"'
        return response
