"""conversation.* JSON-RPC methods: thin wrappers over conversations.services / selectors."""

from __future__ import annotations

import logging

from conversations import selectors, services
from conversations.schemas import (
    CancelOut,
    CancelParams,
    EndOut,
    EndParams,
    HistoryOut,
    HistoryParams,
    ListOut,
    ListParams,
    SendMessageOut,
    SendMessageParams,
)
from personamcp.rpc.context import RpcContext
from personamcp.rpc.registry import rpc_method

log = logging.getLogger(__name__)
# Methods that generate replies and can be stopped by conversation.cancel.
CANCELLABLE = ("conversation.send_message", "room.send", "room.step")


def _conversation(ctx: RpcContext, conversation_id: str):
    conversation = selectors.conversation_get(conversation_id=conversation_id)
    ctx.check_persona(conversation.persona_id)
    return conversation


@rpc_method(
    "conversation.send_message", params=SendMessageParams, result=SendMessageOut, scope="write"
)
def conversation_send_message(ctx: RpcContext, params: SendMessageParams) -> dict:
    """Say something to a persona and get its in-character reply.

    ``sender`` defaults to this session's user; ``conversation_id`` to the open conversation of
    the persona with the sender. With ``stream: true`` the reply first arrives as
    ``conversation.chunk`` notifications ``{request_id, conversation_id, index, delta}``,
    preceded by one ``conversation.expression`` ``{request_id, conversation_id, expression}``
    as soon as the persona's expression is known. ``actions_available`` offers actions the
    persona may choose (returned in ``actions``).
    ``conversation.cancel`` (or closing the socket) stops it: the partial reply is stored as
    cancelled and this request ends with -32031.
    """
    if params.persona_id is None and params.conversation_id and not ctx.session.active_persona_id:
        persona = _conversation(ctx, params.conversation_id).persona
    else:
        persona = ctx.resolve_persona(params.persona_id)

    def on_chunk(chunk: dict) -> None:
        try:
            ctx.notify("conversation.chunk", {"request_id": ctx.request_id, **chunk})
        except Exception:  # the client went away: stop generating, keep what we have
            log.info("could not deliver a chunk; cancelling the turn")
            ctx.cancel_event.set()

    def on_expression(payload: dict) -> None:
        try:
            ctx.notify("conversation.expression", {"request_id": ctx.request_id, **payload})
        except Exception:  # the client went away: the chunks' callback cancels the turn
            log.info("could not deliver the expression")

    streaming = params.stream and not ctx.is_notification
    result = services.conversation_send_message(
        persona=persona,
        content=params.content,
        sender=params.sender or ctx.session.user_id,
        sender_name=params.sender_name,
        conversation_id=params.conversation_id,
        context=params.context,
        platform=ctx.session.transport if ctx.session.transport != "ws" else "rpc",
        stream=params.stream,
        on_chunk=on_chunk if streaming else None,
        on_expression=on_expression if streaming else None,
        cancel_event=ctx.cancel_event,
        greeting_index=params.greeting_index,
        actions_available=params.actions_available,
    )
    ctx.session.active_conversation_id = result["conversation_id"]
    return result


@rpc_method("conversation.cancel", params=CancelParams, result=CancelOut, scope="write")
async def conversation_cancel(ctx: RpcContext, params: CancelParams) -> dict:
    """Stop a streaming ``conversation.send_message`` (or ``room.send`` / ``room.step``) of
    this connection by its request id."""
    target = ctx.session.in_flight.get(params.request_id)
    if target is None and isinstance(params.request_id, str) and params.request_id.isdigit():
        target = ctx.session.in_flight.get(int(params.request_id))
    if target is None or target is ctx or target.method not in CANCELLABLE:
        return {"cancelled": False}
    target.cancel_event.set()
    return {"cancelled": True}


@rpc_method("conversation.history", params=HistoryParams, result=HistoryOut)
def conversation_history(ctx: RpcContext, params: HistoryParams) -> dict:
    """Messages of a conversation, oldest first (``before``: a message id, for paging back)."""
    conversation = _conversation(ctx, params.conversation_id)
    messages = selectors.message_history(
        conversation=conversation, limit=params.limit, before=params.before
    )
    return HistoryOut.dump({"conversation_id": conversation.id, "messages": messages})


@rpc_method("conversation.list", params=ListParams, result=ListOut)
def conversation_list(ctx: RpcContext, params: ListParams) -> dict:
    """Conversations of a persona (default: the active one, else all the key may see), most
    recently active first, paged by ``cursor`` (the ``next_cursor`` of the page before)."""
    persona = None
    if params.persona_id or ctx.session.active_persona_id:
        persona = ctx.resolve_persona(params.persona_id)
    conversations, next_cursor = selectors.conversation_list(
        persona=persona,
        participant=params.participant,
        persona_ids=ctx.persona_ids,
        limit=params.limit,
        cursor=params.cursor,
    )
    return ListOut.dump({"conversations": conversations, "next_cursor": next_cursor})


@rpc_method("conversation.end", params=EndParams, result=EndOut, scope="write")
def conversation_end(ctx: RpcContext, params: EndParams) -> dict:
    """End a conversation; a summary of it is stored as a memory of the persona."""
    conversation = _conversation(ctx, params.conversation_id)
    result = services.conversation_end(conversation=conversation)
    if ctx.session.active_conversation_id == str(conversation.id):
        ctx.session.active_conversation_id = None
    return result
