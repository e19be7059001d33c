"""REST plumbing shared by the apps' ``api.py`` modules: error translation and input parsing."""

from __future__ import annotations

import logging
import re
import typing
from types import ModuleType

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.http import Http404, JsonResponse
from pydantic import BaseModel
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
    if isinstance(exc, DataError):  # e.g. a NUL character in text or JSON (PostgreSQL)
        return _error(
            400,
            errors.INVALID_PARAMS,
            "invalid params: a value cannot be stored (NUL character, or out of range)",
        )
    if isinstance(exc, RequestDataTooBig):
        return _error(413, errors.INVALID_REQUEST, "request body too large")
    if isinstance(exc, SuspiciousOperation):  # too many form fields or files, bad multipart
        return _error(400, errors.INVALID_REQUEST, f"invalid request: {exc}")
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


# --- OpenAPI (drf-spectacular) ----------------------------------------------------------------
# The document is OpenAPI 3.1 (pydantic's JSON Schema is 2020-12, as 3.1 expects). What every
# operation shares is added here once, not in each app's api.py: the Bearer security scheme,
# the error responses with their schema, and the limits of query parameters, read from the
# pydantic model the view validates its query string with (``parse_query``).

from drf_spectacular.extensions import OpenApiAuthenticationExtension  # noqa: E402
from drf_spectacular.openapi import AutoSchema  # noqa: E402

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error of the REST API; ``code`` is the JSON-RPC code of the same error.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "integer", "examples": [-32602]},
                "message": {"type": "string"},
                "data": {
                    "type": "object",
                    "description": "``errors`` [{field, message}] for -32602, "
                    "``retry_after`` for -32029, ``correlation_id`` for -32603",
                    "additionalProperties": True,
                },
            },
        }
    },
}
ERROR_STATUSES = {
    400: "Invalid input (``error.data.errors`` lists each bad field).",
    401: "No valid API key (send ``Authorization: Bearer <key>``).",
    403: "The key's scope does not cover this operation or persona.",
    404: "Not found.",
    405: "Method not allowed.",
    429: "Rate limited (``Retry-After`` header, ``error.data.retry_after``).",
    500: "Internal error (``error.data.correlation_id``).",
}
BODY_ERROR_STATUSES = {
    409: "Conflict (duplicate slug, or the conversation is already generating a reply).",
    413: "Request body too large.",
    415: "Unsupported request content type.",
}
# A streamed response (``Accept: text/event-stream``) is a sequence of events, each with a
# name and one JSON value as data: chunk events, then the same object as the JSON answer.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "description": "One server-sent event: ``chunk`` ({delta, index, ...}) events, then "
    "``done`` with the complete result, or ``error`` with the error body.",
    "required": ["data"],
    "properties": {
        "event": {"type": "string", "examples": ["chunk", "done", "error"]},
        "data": {"type": "string", "description": "a JSON value"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
POST_ERROR_STATUSES = {
    409: "Conflict (a duplicate, a busy conversation, or a bot that has not logged in yet).",
    502: "The Matrix homeserver refused or could not be reached (bot room actions).",
    503: "LLM backend unavailable.",
    504: "LLM backend timeout.",
}
_CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "const",
    "format",
)


class BearerKeyScheme(OpenApiAuthenticationExtension):
    """``ApiKeyAuthentication`` in the document: HTTP Bearer with a Persona-MCP API key."""

    target_class = "personamcp.auth.ApiKeyAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A Persona-MCP API key (``manage.py create_api_key`` or the admin).",
        }


def _query_model(view, method: str):
    """The pydantic model a view method validates its query string with (``parse_query``, or
    ``validate`` in a GET), read from the names the method's code refers to."""
    func = getattr(view, method.lower(), None)
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    if code is None:
        return None
    validators = {"parse_query", "validate"} if method.upper() == "GET" else {"parse_query"}
    if not validators & set(code.co_names):
        return None
    namespace = func.__globals__
    # ``schemas.FooParams``: the model is an attribute of a module the code names.
    modules = [vars(m) for m in map(namespace.get, code.co_names) if isinstance(m, ModuleType)]
    for name in code.co_names:
        for source in (namespace, *modules):
            candidate = source.get(name)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                return candidate
    return None


def _field_schema(model, name: str) -> dict | None:
    properties = model.model_json_schema().get("properties", {})
    for field in (name, f"{name}_id", f"{name}s", "query" if name == "q" else None):
        if field and field in properties:
            schema = properties[field]
            branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
            return branches[0] if len(branches) == 1 else schema
    return None


class PersonaAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with query parameter limits taken from the view's model."""

    def get_operation_id(self) -> str:
        """A GET on a collection is ``…_list``, on one item ``…_retrieve``: our views are
        APIViews, which drf-spectacular cannot tell apart (every GET would be ``retrieve`` and
        a collection would share its id with its items). A path served both with and without
        the trailing slash gets ``_noslash`` on the second."""
        operation_id = super().get_operation_id()
        if (
            self.method == "GET"
            and operation_id.endswith("_retrieve")
            and not re.search(r"\{[^}/]+\}/?$", self.path)
        ):
            operation_id = operation_id.removesuffix("_retrieve") + "_list"
        if not self.path.endswith("/"):
            operation_id += "_noslash"
        return operation_id

    def _get_parameters(self):
        parameters = super()._get_parameters()
        model = _query_model(self.view, self.method)
        if model is None:
            return parameters
        for parameter in parameters:
            if parameter.get("in") != "query":
                continue
            field = _field_schema(model, parameter["name"])
            if not field:
                continue
            target = parameter["schema"]
            if target.get("type") == "array":
                target = target.setdefault("items", {})
                field = field.get("items", field)
            for key in _CONSTRAINTS:
                if key in field and key not in target:
                    target[key] = field[key]
        return parameters


def postprocess_errors_and_security(result, generator, request, public):
    """Spectacular hook: the Error component and the error responses of every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for verb, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = dict(ERROR_STATUSES)
            if "requestBody" in operation:
                statuses.update(BODY_ERROR_STATUSES)
            if verb == "post":
                statuses.update(POST_ERROR_STATUSES)
            responses = operation["responses"]
            for response in responses.values():
                stream = response.get("content", {}).get("text/event-stream")
                if stream is not None:
                    stream["schema"] = SSE_EVENT_SCHEMA
            if verb == "delete" and "204" in responses and "content" not in responses["204"]:
                # The DELETE views answer 200 with a JSON object ({"deleted": true, ...}).
                del responses["204"]
                responses["200"] = {
                    "description": "Deleted (``deleted: true`` and the id), or the updated object.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            for status, description in sorted(statuses.items()):
                responses.setdefault(str(status), {"description": description, "content": content})
            responses["429"].setdefault(
                "headers",
                {
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "description": "seconds until the window ends",
                    }
                },
            )
            responses["401"].setdefault(
                "headers",
                {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
            )
    return result


def not_found(request, exception=None):
    """``handler404``: the API's error body under /api and /v1, Django's page elsewhere."""
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": -32004, "message": "not found"}}, status=404)
    if request.path.startswith("/v1/"):
        return JsonResponse(
            {"error": {"message": "not found", "type": "not_found_error", "param": None,
                       "code": "not_found"}},
            status=404,
        )  # fmt: skip
    return page_not_found(request, exception)


def server_error(request):
    """``handler500``: no HTML stack page for API clients."""
    from django.views.defaults import server_error as django_server_error

    if request.path.startswith(("/api/", "/v1/")):
        return JsonResponse(
            {"error": {"code": errors.INTERNAL_ERROR, "message": "internal error",
                       "data": {"correlation_id": correlation_id.get()}}},
            status=500,
        )  # fmt: skip
    return django_server_error(request)
