"""Result shapes of the standard MCP methods (``personamcp.rpc.mcp``), for the OpenRPC document
and the result tests. Field names are the MCP specification's (camelCase)."""

from __future__ import annotations

from typing import Any, Literal

from personamcp.schemas import Out


class McpResult(Out):
    """The fields MCP 2026-07-28 adds to results (absent for earlier protocol versions)."""

    resultType: Literal["complete"] | None = None
    ttlMs: int | None = None
    cacheScope: Literal["private", "public"] | None = None


class ServerInfoOut(Out):
    name: str
    version: str


class InitializeOut(Out):
    protocolVersion: str
    capabilities: dict[str, Any]
    serverInfo: ServerInfoOut
    instructions: str


class DiscoverOut(McpResult):
    supportedVersions: list[str]
    capabilities: dict[str, Any]
    instructions: str
    serverInfo: ServerInfoOut


class EmptyOut(McpResult):
    """``ping``."""


class ToolsListOut(McpResult):
    tools: list[dict[str, Any]]
    nextCursor: str | None = None


class ToolCallOut(McpResult):
    content: list[dict[str, Any]]
    structuredContent: dict[str, Any] | None = None
    isError: bool


class ResourceOut(Out):
    uri: str
    name: str
    title: str | None = None
    description: str | None = None
    mimeType: str | None = None


class ResourcesListOut(McpResult):
    resources: list[ResourceOut]
    nextCursor: str | None = None


class ResourceTemplateOut(Out):
    uriTemplate: str
    name: str
    title: str | None = None
    description: str | None = None
    mimeType: str | None = None


class ResourceTemplatesOut(McpResult):
    resourceTemplates: list[ResourceTemplateOut]
    nextCursor: str | None = None


class ResourceContentOut(Out):
    uri: str
    mimeType: str | None = None
    text: str


class ResourceReadOut(McpResult):
    contents: list[ResourceContentOut]


class PromptsListOut(McpResult):
    prompts: list[dict[str, Any]]
    nextCursor: str | None = None


class PromptGetOut(McpResult):
    description: str | None = None
    messages: list[dict[str, Any]]


# ``notifications/initialized`` answers ``null`` when sent as a request.
NULL_RESULT = {"type": "null"}
