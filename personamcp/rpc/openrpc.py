"""OpenRPC 1.3 document generated from the method registry (``rpc.discover``)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from pydantic import BaseModel

from personamcp.errors import ERROR_TABLE
from personamcp.rpc.registry import registry


def _inline(schema: dict, defs: dict) -> dict:
    """Move pydantic's local ``$defs`` into the document's components."""
    for name, sub in schema.pop("$defs", {}).items():
        defs[name] = sub
    return schema


def _fix_refs(node):
    if isinstance(node, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _fix_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_fix_refs(v) for v in node]
    return node


@lru_cache(maxsize=1)
def openrpc_document() -> dict:
    defs: dict = {}
    methods = []
    for method in registry.all():
        schema = _inline(method.params.model_json_schema(), defs)
        required = set(schema.get("required", []))
        params = [
            {"name": name, "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
        if isinstance(method.result, type) and issubclass(method.result, BaseModel):
            result_schema = _inline(method.result.model_json_schema(mode="serialization"), defs)
        elif isinstance(method.result, dict):
            result_schema = method.result
        else:
            result_schema = {"type": "object"}
        entry = {
            "name": method.name,
            "summary": method.summary,
            "paramStructure": "by-name",
            "params": params,
            "result": {"name": "result", "schema": result_schema},
            "tags": [{"name": t} for t in method.tags],
            "x-scope": "public" if method.public else method.scope,
        }
        if method.description:
            entry["description"] = method.description
        methods.append(entry)
    errors = [
        {"code": code, "message": cls.default_message, "x-http-status": status}
        for cls, (code, status) in ERROR_TABLE.items()
    ]
    return _fix_refs(
        {
            "openrpc": "1.3.2",
            "info": {
                "title": "Persona-MCP",
                "version": settings.PERSONAMCP["VERSION"],
                "description": "JSON-RPC 2.0 over WebSocket at /mcp and POST /mcp.",
            },
            "servers": [{"name": "persona-mcp", "url": "ws://127.0.0.1:8000/mcp"}],
            "methods": methods,
            "components": {"schemas": defs, "errors": errors},
        }
    )
