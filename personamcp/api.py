"""REST plumbing shared by the apps' ``api.py`` modules: error translation and input parsing."""

from __future__ import annotations

import logging
import typing

from django.http import Http404
from rest_framework import exceptions as drf_exc
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from personamcp import errors
from personamcp.exceptions import DomainError, Forbidden, Unauthenticated, ValidationFailed
from personamcp.logging import correlation_id
from personamcp.schemas import validate

log = logging.getLogger(__name__)


def _error(status: int, code: int, message: str, data: dict | None = None, headers=None):
    body: dict = {"error": {"code": code, "message": message}}
    if data:
        body["error"]["data"] = data
    return Response(body, status=status, headers=headers)


def exception_handler(exc, context):
    """Domain exceptions and DRF's own errors -> ``{"error": {code, message, data?}}``."""
    if isinstance(exc, DomainError):
        code, status = errors.lookup(exc)
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(int(exc.data.get("retry_after", 60)) + 1)
        return _error(status, code, exc.message, exc.data, headers)
    if isinstance(exc, drf_exc.ParseError):
        return _error(400, errors.PARSE_ERROR, f"malformed request body: {exc.detail}")
    if isinstance(exc, (drf_exc.NotAuthenticated, drf_exc.AuthenticationFailed)):
        return _error(
            401,
            errors.lookup(Unauthenticated())[0],
            str(exc.detail),
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, drf_exc.PermissionDenied):
        return _error(403, errors.lookup(Forbidden())[0], str(exc.detail))
    if isinstance(exc, Http404):
        return _error(404, -32004, "not found")
    if isinstance(exc, drf_exc.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"body": exc.detail}
        failed = ValidationFailed(
            [
                {"field": f, "message": " ".join(map(str, m if isinstance(m, list) else [m]))}
                for f, m in detail.items()
            ]
        )
        return _error(400, errors.INVALID_PARAMS, failed.message, failed.data)
    response = drf_exception_handler(exc, context)
    if response is not None:
        return _error(
            response.status_code, errors.INVALID_REQUEST, str(getattr(exc, "detail", exc))
        )
    log.exception("unhandled error in REST view")
    return _error(
        500, errors.INTERNAL_ERROR, "internal error", {"correlation_id": correlation_id.get()}
    )


def parse(request, model, *, extra: dict | None = None):
    """Validate the request body (a JSON object) plus ``extra`` against a pydantic model."""
    data = request.data
    if hasattr(data, "dict") and not isinstance(data, dict):
        data = data.dict()  # form / multipart QueryDict
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "body", "message": "must be a JSON object"}])
    if extra:
        data = {**data, **extra}
    return validate(model, data)


def _is_list(annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin is list:
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def parse_query(request, model, *, aliases: dict[str, str] | None = None, **fixed):
    """Validate query-string parameters (plus ``fixed`` values such as URL ids) against a
    pydantic model. ``aliases`` maps extra query names to fields (``{"persona": "persona_id"}``);
    list fields accept repeated and comma-separated values."""
    query = request.query_params
    names: dict[str, list[str]] = {}
    for query_name, field in (aliases or {}).items():
        names.setdefault(field, []).append(query_name)
    data: dict = {}
    for field, info in model.model_fields.items():
        if field in fixed:
            continue
        candidates = [field, *names.get(field, [])]
        if _is_list(info.annotation):
            values = [
                v for n in candidates for raw in query.getlist(n) for v in raw.split(",") if v
            ]
            if values:
                data[field] = values
        else:
            value = next((query[n] for n in candidates if query.get(n) is not None), None)
            if value is not None:
                data[field] = value
    data.update(fixed)
    return validate(model, data)
