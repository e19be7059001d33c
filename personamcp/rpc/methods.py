"""Core methods: system.*, session.*, rpc.discover, events.*."""

from __future__ import annotations

from typing import Annotated

from django.utils import timezone
from pydantic import ConfigDict, Field, StringConstraints

from personamcp import events
from personamcp.auth import principal_from_key
from personamcp.exceptions import ValidationFailed
from personamcp.rpc import consumer
from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method
from personamcp.schemas import Out, Params, iso
from personamcp.status import system_info, system_status


class PingOut(Out):
    pong: bool
    time: str


@rpc_method("system.ping", result=PingOut, public=True)
async def system_ping(ctx: RpcContext, params: Params) -> dict:
    """Check that the server answers."""
    return PingOut.dump({"pong": True, "time": iso(timezone.now())})


class LimitsOut(Out):
    max_frame_bytes: int
    max_batch: int
    max_message_chars: int


class SystemInfoOut(Out):
    """Plus one object per section the apps provide (``llm``, ``embedding``)."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    protocol_version: str
    capabilities: list[str]
    limits: LimitsOut


@rpc_method("system.info", result=SystemInfoOut, public=True)
async def system_info_method(ctx: RpcContext, params: Params) -> dict:
    """Server name, versions, LLM and embedding configuration, capabilities."""
    return SystemInfoOut.dump(system_info())


class CheckOut(Out):
    model_config = ConfigDict(extra="allow")

    ok: bool


class ChannelLayerOut(CheckOut):
    backend: str


class SystemStatusOut(Out):
    """Plus the apps' fields (``llm_available``, ``personas``)."""

    model_config = ConfigDict(extra="allow")

    status: str
    database: CheckOut
    channel_layer: ChannelLayerOut
    active_sessions: int


@rpc_method("system.status", result=SystemStatusOut, scope="read")
def system_status_method(ctx: RpcContext, params: Params) -> dict:
    """Health of the database, channel layer and LLM backend; counts of personas and sessions."""
    return SystemStatusOut.dump(system_status(active_sessions=consumer.active_sessions))


class OpenRpcOut(Out):
    model_config = ConfigDict(extra="allow")

    openrpc: str
    info: dict
    methods: list[dict]
    components: dict


@rpc_method("rpc.discover", result=OpenRpcOut, scope="read")
async def rpc_discover(ctx: RpcContext, params: Params) -> dict:
    """The OpenRPC document describing every method with JSON Schema params and results."""
    from personamcp.rpc.openrpc import openrpc_document

    return openrpc_document()


class AuthenticateParams(Params):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AuthenticateOut(Out):
    authenticated: bool
    scopes: list[str]


@rpc_method("session.authenticate", params=AuthenticateParams, result=AuthenticateOut, public=True)
def session_authenticate(ctx: RpcContext, params: AuthenticateParams) -> dict:
    """Authenticate this connection with an API key (alternative to the handshake header)."""
    principal = principal_from_key(params.token)
    ctx.session.principal = principal
    ctx.session.auth_error = None
    return AuthenticateOut.dump({"authenticated": True, "scopes": principal.scopes})


class ActivePersonaOut(Out):
    id: str
    slug: str | None


class SessionInfoOut(Out):
    session_id: str
    active_persona: ActivePersonaOut | None
    active_conversation: str | None
    authenticated: bool
    subscriptions: list[str]


@rpc_method("session.info", result=SessionInfoOut, scope="read")
async def session_info(ctx: RpcContext, params: Params) -> dict:
    """This connection's state: active persona and conversation, auth, subscriptions."""
    s = ctx.session
    active = None
    if s.active_persona_id:
        active = {"id": s.active_persona_id, "slug": s.active_persona_slug}
    return SessionInfoOut.dump(
        {
            "session_id": s.session_id,
            "active_persona": active,
            "active_conversation": s.active_conversation_id,
            "authenticated": s.authenticated,
            "subscriptions": sorted(s.subscriptions),
        }
    )


class ClearedOut(Out):
    cleared: bool


@rpc_method("session.clear", result=ClearedOut, scope="read")
async def session_clear(ctx: RpcContext, params: Params) -> dict:
    """Forget the active persona and conversation of this connection."""
    ctx.session.active_persona_id = None
    ctx.session.active_persona_slug = None
    ctx.session.active_conversation_id = None
    return ClearedOut.dump({"cleared": True})


Topic = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class TopicsParams(Params):
    topics: Annotated[list[Topic], Field(min_length=1, max_length=50)]


def _check_topics(topics: list[str]) -> None:
    bad = [
        {"field": f"topics.{i}", "message": "not a topic (e.g. persona.*, persona.alice, bot.*)"}
        for i, t in enumerate(topics)
        if not events.TOPIC_RE.match(t)
    ]
    if bad:
        raise ValidationFailed(bad)


class SubscribedOut(Out):
    subscribed: list[str]


class UnsubscribedOut(Out):
    unsubscribed: list[str]


@rpc_method("events.subscribe", params=TopicsParams, result=SubscribedOut, scope="read")
async def events_subscribe(ctx: RpcContext, params: TopicsParams) -> dict:
    """Receive ``event`` notifications for these topics on this connection."""
    _check_topics(params.topics)
    if ctx.session.subscribe_hook is None:
        raise ValidationFailed(
            [{"field": "topics", "message": "events need a WebSocket connection"}]
        )
    new = [t for t in params.topics if t not in ctx.session.subscriptions]
    await ctx.session.subscribe_hook(new)
    ctx.session.subscriptions.update(new)
    return SubscribedOut.dump({"subscribed": sorted(ctx.session.subscriptions)})


@rpc_method("events.unsubscribe", params=TopicsParams, result=UnsubscribedOut, scope="read")
async def events_unsubscribe(ctx: RpcContext, params: TopicsParams) -> dict:
    """Stop receiving events for these topics."""
    _check_topics(params.topics)
    gone = [t for t in params.topics if t in ctx.session.subscriptions]
    if ctx.session.unsubscribe_hook is not None:
        await ctx.session.unsubscribe_hook(gone)
    ctx.session.subscriptions.difference_update(gone)
    return UnsubscribedOut.dump({"unsubscribed": sorted(gone)})
