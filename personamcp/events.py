"""Live events: committed changes broadcast to subscribed sockets through the channel layer.

Services and signals call ``publish``; it waits for the transaction to commit, then sends the
event to the channel-layer group of every topic it belongs to (``persona.*``,
``persona.<slug>``, ``persona.<id>``...). Consumers join the groups of the topics a client
subscribed to. Services never touch sockets.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from personamcp.schemas import iso

log = logging.getLogger(__name__)

PERSONA_CREATED = "persona.created"
PERSONA_UPDATED = "persona.updated"
PERSONA_DELETED = "persona.deleted"
PERSONA_STATE_CHANGED = "persona.state_changed"
RELATIONSHIP_CHANGED = "relationship.changed"
MEMORY_CREATED = "memory.created"
BOT_STATUS_CHANGED = "bot.status_changed"
ROOM_MESSAGE = "room.message"

TOPIC_RE = re.compile(r"^(\*|[a-z_]+\.(\*|[A-Za-z0-9_\-]{1,80}))$")
# Channels' consumer handler for event messages (``event_message``).
HANDLER_TYPE = "event.message"

_server_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remember the server's event loop so that worker threads can send on it."""
    global _server_loop
    with _loop_lock:
        _server_loop = loop


def group_for(topic: str) -> str:
    """The channel-layer group name of a topic (``persona.*`` -> ``ev.persona.__all__``)."""
    return "ev." + topic.replace("*", "__all__")


def topics_for(kind: str, *keys: str) -> list[str]:
    """Every topic an event about ``kind`` (e.g. ``persona``) identified by ``keys`` belongs to."""
    return ["*", f"{kind}.*", *(f"{kind}.{k}" for k in keys if k)]


def publish(event_type: str, *, kind: str, keys: tuple[str, ...], data: dict) -> None:
    """Broadcast an event once the current transaction commits (at once outside one)."""
    at = iso(timezone.now())
    payload = {"type": event_type, "data": data, "at": at, "uid": uuid.uuid4().hex}
    topics = topics_for(kind, *keys)
    transaction.on_commit(lambda: send_now(payload, topics, primary=f"{kind}.{keys[0]}"))


def send_now(payload: dict, topics: list[str], *, primary: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": HANDLER_TYPE, "event": payload, "topic": primary}

    async def _send() -> None:
        for topic in topics:
            await layer.group_send(group_for(topic), message)

    loop = _server_loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    try:
        if running is not None:
            running.create_task(_send())
        elif loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(_send(), loop).result(timeout=5)
        else:
            async_to_sync(_send)()
    except Exception:  # an event that cannot be sent must never break the write that caused it
        log.exception("could not broadcast event %s", payload["type"])
