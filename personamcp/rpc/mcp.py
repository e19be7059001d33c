"""The standard MCP methods on the same endpoint, for MCP hosts and the official SDKs.

Tools are views of registry methods (same params schema, same service behind them), persona
cards are resources ``persona://{slug}``, and ``speak_as`` is a prompt.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from django.conf import settings
from pydantic import Field, StringConstraints

from personamcp import hooks
from personamcp.errors import register_error
from personamcp.exceptions import DomainError, ValidationFailed
from personamcp.rpc import mcp_schemas as mcp_out
from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import registry, rpc_method
from personamcp.schemas import Params

# Versions reached through the ``initialize`` handshake (stateful: ``Mcp-Session-Id`` over
# HTTP) and the stateless one, where every request carries its version in ``params._meta`` and
# the client learns what the server offers from ``server/discover``.
SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
MODERN_VERSIONS = ("2026-07-28",)
ALL_VERSIONS = (*MODERN_VERSIONS, *SUPPORTED_VERSIONS)
# Per-request envelope keys of 2026-07-28.
PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"
# JSON-RPC code for an unsupported protocol version (MCP 2026-07-28), HTTP 400.
UNSUPPORTED_PROTOCOL_VERSION = -32022
INSTRUCTIONS = "Talk to AI personas: list them, chat with them, search their memories."

# tool name -> (registry method, description)
TOOLS: dict[str, tuple[str, str]] = {
    "list_personas": ("persona.list", "List the available personas (search and tag filters)."),
    "get_persona": ("persona.get", "Get one persona's card, current mood and stats."),
    "chat_with_persona": (
        "conversation.send_message",
        "Send a message to a persona and get its in-character reply.",
    ),
    "search_memories": ("memory.search", "Search a persona's memories by meaning."),
    "store_memory": ("memory.store", "Store a new memory for a persona."),
    "get_relationship": ("relationship.get", "How a persona feels about someone."),
}


@register_error(UNSUPPORTED_PROTOCOL_VERSION, 400)
class UnsupportedVersion(DomainError):
    """A protocol version this server does not serve (``data``: supported and requested)."""

    default_message = "unsupported protocol version"

    def __init__(self, requested: str):
        super().__init__(
            f"unsupported protocol version {requested!r}",
            data={"supported": list(ALL_VERSIONS), "requested": requested},
        )


# MCP clients may send ``params._meta`` (progress tokens, trace data). Pydantic treats
# underscore names as private attributes, so the wire name is an alias of ``meta``.
Meta = Annotated[dict[str, Any] | None, Field(default=None, alias="_meta")]


class InitializeParams(Params):
    protocolVersion: str
    capabilities: dict = {}
    clientInfo: dict = {}
    meta: Meta = None


CAPABILITIES = {
    "tools": {"listChanged": False},
    "resources": {"subscribe": False, "listChanged": False},
    "prompts": {"listChanged": False},
}


def _server_info() -> dict:
    return {"name": "persona-mcp", "version": settings.PERSONAMCP["VERSION"]}


def is_modern(meta: dict | None) -> bool:
    """True for a 2026-07-28 request (its version travels in ``params._meta``)."""
    return bool(meta) and meta.get(PROTOCOL_VERSION_META) in MODERN_VERSIONS


def _result(meta: dict | None, result: dict, *, cacheable: bool = False) -> dict:
    """A result in the era of the request: 2026-07-28 requires ``resultType`` (and the caching
    fields on list results); earlier versions get the result as it is."""
    if not is_modern(meta):
        return result
    result = {**result, "resultType": "complete"}
    if cacheable:
        result.update(ttlMs=0, cacheScope="private")
    return result


@rpc_method("initialize", params=InitializeParams, result=mcp_out.InitializeOut, public=True)
async def initialize(ctx: RpcContext, params: InitializeParams) -> dict:
    """MCP handshake: negotiate the protocol version and announce capabilities.

    Over HTTP the answer carries an ``Mcp-Session-Id`` header naming the new session.
    """
    version = params.protocolVersion
    if version not in SUPPORTED_VERSIONS:
        version = SUPPORTED_VERSIONS[0]
    ctx.session.mcp_protocol_version = version
    return {
        "protocolVersion": version,
        "capabilities": CAPABILITIES,
        "serverInfo": _server_info(),
        "instructions": INSTRUCTIONS,
    }


class MetaParams(Params):
    meta: Meta = None


@rpc_method("server/discover", params=MetaParams, result=mcp_out.DiscoverOut, public=True)
async def server_discover(ctx: RpcContext, params: MetaParams) -> dict:
    """MCP 2026-07-28: the protocol versions, capabilities and instructions of this server.

    Stateless: no handshake; each later request names its version in ``params._meta``.
    """
    requested = (params.meta or {}).get(PROTOCOL_VERSION_META)
    if requested is not None and requested not in ALL_VERSIONS:
        raise UnsupportedVersion(str(requested))
    return {
        "supportedVersions": list(ALL_VERSIONS),
        "capabilities": CAPABILITIES,
        "instructions": INSTRUCTIONS,
        "serverInfo": _server_info(),
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "public",
    }


@rpc_method(
    "notifications/initialized", params=MetaParams, result=mcp_out.NULL_RESULT, scope="read"
)
async def initialized(ctx: RpcContext, params: MetaParams) -> None:
    """MCP client's notification that initialization is complete."""
    return None


@rpc_method("ping", params=MetaParams, result=mcp_out.EmptyOut, public=True)
async def ping(ctx: RpcContext, params: MetaParams) -> dict:
    """MCP liveness check."""
    return _result(params.meta, {})


class CursorParams(Params):
    cursor: str | None = None
    meta: Meta = None


def _tool_defs() -> list[dict]:
    tools = []
    for name, (method_name, description) in TOOLS.items():
        method = registry.get(method_name)
        if method is None:
            continue
        schema = method.params.model_json_schema()
        schema.pop("title", None)
        tools.append({"name": name, "description": description, "inputSchema": schema})
    return tools


@rpc_method("tools/list", params=CursorParams, result=mcp_out.ToolsListOut)
async def tools_list(ctx: RpcContext, params: CursorParams) -> dict:
    """MCP: the tools this server offers."""
    return _result(params.meta, {"tools": _tool_defs()}, cacheable=True)


class ToolCallParams(Params):
    name: Annotated[str, StringConstraints(max_length=100)]
    arguments: dict[str, Any] = Field(default_factory=dict)
    meta: Meta = None


def _progress_context(ctx: RpcContext, token: str | int) -> RpcContext:
    """A context whose reply chunks reach the client as ``notifications/progress``.

    ``conversation.send_message`` streams ``conversation.chunk`` notifications; for an MCP host
    that asked for progress (``params._meta.progressToken``) each chunk becomes a progress
    notification whose ``message`` is the text delta. The turn's other notifications
    (``conversation.expression``) are not MCP messages and stay off this stream. Cancellation
    is shared with ``ctx``.
    """
    send = ctx.send

    async def progress_send(message: dict) -> None:
        method = message.get("method")
        if method is None:  # a response
            await send(message)
            return
        if method != "conversation.chunk":
            return
        chunk = message["params"]
        await send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {
                    "progressToken": token,
                    "progress": chunk["index"] + 1,
                    "message": chunk["delta"],
                },
            }
        )

    ctx.cancel_event  # noqa: B018 - created now, so that the copy shares it
    return dataclasses.replace(ctx, send=progress_send)


@rpc_method("tools/call", params=ToolCallParams, result=mcp_out.ToolCallOut)
async def tools_call(ctx: RpcContext, params: ToolCallParams) -> dict:
    """MCP: call a tool; failures of the tool itself come back as ``isError`` results.

    ``chat_with_persona`` with a ``progressToken`` streams the reply as
    ``notifications/progress`` (over HTTP as an SSE response when the client accepts one).
    """
    from personamcp.rpc.dispatcher import Dispatcher

    entry = TOOLS.get(params.name)
    method = registry.get(entry[0]) if entry else None
    if method is None:
        raise ValidationFailed([{"field": "name", "message": f"unknown tool {params.name!r}"}])
    arguments, call_ctx = params.arguments, ctx
    token = (params.meta or {}).get("progressToken")
    if (
        token is not None
        and ctx.send is not None
        and method.name == "conversation.send_message"
        and not ctx.is_notification
    ):
        arguments = {**arguments, "stream": True}
        call_ctx = _progress_context(ctx, token)
    try:
        result = await Dispatcher(ctx.session, send=call_ctx.send).call(
            method, call_ctx, arguments, rate_limited=False
        )
    except DomainError as exc:
        text = exc.message
        if isinstance(exc, ValidationFailed):
            text += ": " + "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
        return _result(params.meta, {"content": [{"type": "text", "text": text}], "isError": True})
    return _result(
        params.meta,
        {
            "content": [{"type": "text", "text": json.dumps(result, ensure_ascii=False)}],
            "structuredContent": result if isinstance(result, dict) else {"result": result},
            "isError": False,
        },
    )


def _persona_resources(ctx: RpcContext) -> list[dict]:
    principal = ctx.principal
    qs = hooks.persona_directory(
        persona_ids=None if principal is None else principal.persona_ids, limit=500
    )
    return [
        {
            "uri": f"persona://{p.slug}",
            "name": p.slug,
            "title": p.name,
            "description": p.description[:200],
            "mimeType": "application/json",
        }
        for p in qs
    ]


@rpc_method("resources/list", params=CursorParams, result=mcp_out.ResourcesListOut)
def resources_list(ctx: RpcContext, params: CursorParams) -> dict:
    """MCP: persona cards as resources."""
    return _result(params.meta, {"resources": _persona_resources(ctx)}, cacheable=True)


@rpc_method("resources/templates/list", params=CursorParams, result=mcp_out.ResourceTemplatesOut)
async def resources_templates(ctx: RpcContext, params: CursorParams) -> dict:
    """MCP: the URI template of persona cards."""
    template = {
        "uriTemplate": "persona://{slug}",
        "name": "persona",
        "description": "A persona's card (JSON)",
        "mimeType": "application/json",
    }
    return _result(params.meta, {"resourceTemplates": [template]}, cacheable=True)


class ReadParams(Params):
    uri: Annotated[str, StringConstraints(max_length=200)]
    meta: Meta = None


@rpc_method("resources/read", params=ReadParams, result=mcp_out.ResourceReadOut)
def resources_read(ctx: RpcContext, params: ReadParams) -> dict:
    """MCP: read a persona card by ``persona://{slug}``."""
    if not params.uri.startswith("persona://"):
        raise ValidationFailed([{"field": "uri", "message": "expected persona://{slug}"}])
    persona = ctx.resolve_persona(params.uri.removeprefix("persona://"), with_state=True)
    content = {
        "uri": params.uri,
        "mimeType": "application/json",
        "text": json.dumps(hooks.persona_document(persona), ensure_ascii=False),
    }
    return _result(params.meta, {"contents": [content]}, cacheable=True)


@rpc_method("prompts/list", params=CursorParams, result=mcp_out.PromptsListOut)
async def prompts_list(ctx: RpcContext, params: CursorParams) -> dict:
    """MCP: prompts offered by the server."""
    return _result(
        params.meta,
        {
            "prompts": [
                {
                    "name": "speak_as",
                    "title": "Speak as a persona",
                    "description": "Instructions to answer in the voice of a persona.",
                    "arguments": [
                        {"name": "persona", "description": "persona slug or id", "required": True},
                        {"name": "message", "description": "what to answer", "required": False},
                    ],
                }
            ]
        },
        cacheable=True,
    )


class PromptGetParams(Params):
    name: str
    arguments: dict[str, str] = Field(default_factory=dict)
    meta: Meta = None


@rpc_method("prompts/get", params=PromptGetParams, result=mcp_out.PromptGetOut)
def prompts_get(ctx: RpcContext, params: PromptGetParams) -> dict:
    """MCP: render the ``speak_as`` prompt for a persona."""
    if params.name != "speak_as":
        raise ValidationFailed([{"field": "name", "message": f"unknown prompt {params.name!r}"}])
    ref = params.arguments.get("persona")
    if not ref:
        raise ValidationFailed([{"field": "arguments.persona", "message": "required"}])
    persona = ctx.resolve_persona(ref)
    text = f"You are {persona.name}. Stay in character.\n\n{hooks.persona_card_text(persona)}"
    if params.arguments.get("message"):
        text += f"\n\nAnswer this message in character:\n{params.arguments['message']}"
    return _result(
        params.meta,
        {
            "description": f"Speak as {persona.name}",
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        },
    )
