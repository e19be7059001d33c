"""Per-connection session state and the per-request context handed to every RPC handler."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from personamcp import hooks
from personamcp.auth import Principal, require_persona


@dataclass
class Session:
    """State of one WebSocket connection (or of one HTTP request). Never shared."""

    transport: str = "ws"
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    principal: Principal | None = None
    auth_error: str | None = None
    active_persona_id: str | None = None
    active_persona_slug: str | None = None
    active_conversation_id: str | None = None
    subscriptions: set[str] = field(default_factory=set)
    client: str = ""
    # Set by the WebSocket consumer: join/leave channel-layer groups for events.
    subscribe_hook: Callable[[list[str]], Awaitable[None]] | None = None
    unsubscribe_hook: Callable[[list[str]], Awaitable[None]] | None = None
    # Requests in flight, by JSON-RPC id, so that ``conversation.cancel`` can reach them.
    in_flight: dict[Any, RpcContext] = field(default_factory=dict)
    mcp_protocol_version: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.principal is not None and not self.principal.dev

    @property
    def user_id(self) -> str:
        """The default participant id of this session's user."""
        if self.principal is None:
            return f"session:{self.session_id[:12]}"
        return (
            self.principal.name
            if self.principal.key_id is None
            else f"apikey:{self.principal.name}"
        )


_EVENT_LOCK = threading.Lock()


@dataclass
class RpcContext:
    """What a handler knows about the call it serves."""

    session: Session
    method: str
    request_id: Any
    is_notification: bool
    loop: asyncio.AbstractEventLoop
    send: Callable[[dict], Awaitable[None]] | None = None
    _cancel_event: threading.Event | None = field(default=None, repr=False)

    @property
    def cancel_event(self) -> threading.Event:
        """Set when the request is cancelled or its socket closes; safe to wait on in threads.

        Created on first use: most calls are never cancelled, and an Event costs a lock and a
        condition per request on the hot path.
        """
        event = self._cancel_event
        if event is None:
            with _EVENT_LOCK:
                if self._cancel_event is None:
                    self._cancel_event = threading.Event()
                event = self._cancel_event
        return event

    @property
    def principal(self) -> Principal | None:
        return self.session.principal

    @property
    def persona_ids(self) -> frozenset[str] | None:
        """The personas the caller's key covers, for filtering lists; ``None``: every one."""
        principal = self.session.principal
        return principal.persona_ids if principal is not None else None

    @property
    def cancelled(self) -> bool:
        event = self._cancel_event
        return event is not None and event.is_set()

    def notify(self, method: str, params: dict) -> None:
        """Send a JSON-RPC notification to this client; safe from worker threads."""
        if self.send is None:
            return
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.loop.create_task(self.send(message))
        else:
            asyncio.run_coroutine_threadsafe(self.send(message), self.loop).result(timeout=10)

    def check_persona(self, persona_id: str) -> None:
        """Raise ``Forbidden`` if the caller's key does not cover this persona (by UUID)."""
        require_persona(self.principal, str(persona_id))

    def resolve_persona(self, persona_id: str | None, *, with_state: bool = False):
        """Load the persona (id, slug or the session's active one) and check the key may use it.

        Sync. Without either, the personas app raises its ``NoActivePersona``.
        """
        ref = persona_id or self.session.active_persona_id
        persona = hooks.persona_lookup(ref, with_state=with_state)
        self.check_persona(persona.id)
        return persona
