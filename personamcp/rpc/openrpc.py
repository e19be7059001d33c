"""OpenRPC 1.3 document generated from the method registry (``rpc.discover``, ``GET /openrpc.json``).

Valid against the OpenRPC meta-schema: ``components.errors`` is a map of named error objects
with unique codes (the JSON-RPC errors, then each code of the one error table once), and every
``$ref`` points into ``components.schemas``. Pydantic's local ``$defs`` of all params and result
models are gathered there; two different models with one name get distinct component names.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.conf import settings
from django.http import HttpResponse
from pydantic import BaseModel

from personamcp import errors
from personamcp.errors import ERROR_TABLE
from personamcp.rpc.dispatcher import dumps_bytes
from personamcp.rpc.registry import registry

_LOCAL = "#/$defs/"
_COMPONENT = "#/components/schemas/"
JSONRPC_ERRORS = {
    "ParseError": (errors.PARSE_ERROR, "parse error: invalid JSON"),
    "InvalidRequest": (errors.INVALID_REQUEST, "invalid request"),
    "MethodNotFound": (errors.METHOD_NOT_FOUND, "method not found"),
    "InvalidParams": (errors.INVALID_PARAMS, "invalid params: data.errors lists the fields"),
    "InternalError": (errors.INTERNAL_ERROR, "internal error (data.correlation_id)"),
}


def _rewrite(node, names: dict[str, str]):
    """Point ``$ref``s at the document's components, renamed through ``names``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_LOCAL):
                local = value.removeprefix(_LOCAL)
                out[key] = _COMPONENT + names.get(local, local)
            else:
                out[key] = _rewrite(value, names)
        return out
    if isinstance(node, list):
        return [_rewrite(value, names) for value in node]
    return node


def _component_name(name: str, schema: dict, defs: dict) -> str:
    """``name``, or ``name2``, ``name3``... when another schema already has that name."""
    candidate, n = name, 1
    while candidate in defs and defs[candidate] != schema:
        n += 1
        candidate = f"{name}{n}"
    return candidate


def _inline(schema: dict, defs: dict) -> dict:
    """Move a model schema's ``$defs`` into the components and point its refs at them."""
    local = schema.pop("$defs", {})
    same = {name: name for name in local}
    names = {name: _component_name(name, _rewrite(sub, same), defs) for name, sub in local.items()}
    for name, sub in local.items():
        defs[names[name]] = _rewrite(sub, names)
    return _rewrite(schema, names)


def _model_schema(model, defs: dict, *, mode: str) -> dict:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return _inline(model.model_json_schema(mode=mode), defs)
    if isinstance(model, dict):
        return model
    return {"type": "object"}


def _error_components() -> dict:
    components = {
        name: {"code": code, "message": message} for name, (code, message) in JSONRPC_ERRORS.items()
    }
    seen = {code for code, _ in JSONRPC_ERRORS.values()}
    for cls, (code, _status) in ERROR_TABLE.items():
        if code in seen:  # subclasses sharing their family's code are listed once
            continue
        seen.add(code)
        name = re.sub(r"\W", "", cls.__name__)
        components[name] = {"code": code, "message": cls.default_message}
    return components


@lru_cache(maxsize=1)
def openrpc_document() -> dict:
    """The OpenRPC document of every registered method."""
    defs: dict = {}
    methods = []
    for method in registry.all():
        schema = _inline(method.params.model_json_schema(), defs)
        required = set(schema.get("required", []))
        params = [
            {"name": name, "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
        entry = {
            "name": method.name,
            "summary": method.summary,
            "paramStructure": "by-name",
            "params": params,
            "result": {
                "name": "result",
                "schema": _model_schema(method.result, defs, mode="serialization"),
            },
            "tags": [{"name": t} for t in method.tags],
            "x-scope": "public" if method.public else method.scope,
        }
        if method.description:
            entry["description"] = method.description
        methods.append(entry)
    return {
        "openrpc": "1.3.2",
        "info": {
            "title": "Persona-MCP",
            "version": settings.PERSONAMCP["VERSION"],
            "description": "JSON-RPC 2.0 over WebSocket at /mcp and POST /mcp.",
        },
        "servers": [
            {"name": "websocket", "url": "ws://127.0.0.1:8000/mcp"},
            {"name": "http", "url": "http://127.0.0.1:8000/mcp"},
        ],
        "methods": methods,
        "components": {"schemas": defs, "errors": _error_components()},
    }


def openrpc_view(request):
    """``GET /openrpc.json``: the same document as ``rpc.discover``, for code generators."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    return HttpResponse(dumps_bytes(openrpc_document()), content_type="application/json")
