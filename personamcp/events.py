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

_loop_lock = threading.Lock()


class _Outbox:
    """Events published on worker threads, sent by one task on the server loop in publish order.

    A worker thread only queues its event and goes on: it never waits for the channel layer
    (under a burst a Redis layer took seconds to take every group send, and each write's thread
    waited that long). One task sends them, so subscribers see them in the order they were
    published.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[dict, list[str], str]] = asyncio.Queue()
        self.task = loop.create_task(self._drain(), name="events-outbox")

    def put(self, payload: dict, topics: list[str], primary: str) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (payload, topics, primary))

    async def _drain(self) -> None:
        while True:
            payload, topics, primary = await self.queue.get()
            try:
                await _send(payload, topics, primary)
            except Exception:  # one event that cannot be sent must not stop the others
                log.exception("could not broadcast event %s", payload["type"])


_outbox: _Outbox | None = None


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remember the server's event loop (call on it) so that worker threads can send on it."""
    global _outbox
    with _loop_lock:
        if _outbox is None or _outbox.loop is not loop or _outbox.task.done():
            _outbox = _Outbox(loop)


def group_for(topic: str) -> str:
    """The channel-layer group name of a topic (``persona.*`` -> ``ev.persona.__all__``)."""
    return "ev." + topic.replace("*", "__all__")


def topics_for(kind: str, *keys: str) -> list[str]:
    """Every topic an event about ``kind`` (e.g. ``persona``) identified by ``keys`` belongs to."""
    return ["*", f"{kind}.*", *(f"{kind}.{k}" for k in keys if k)]


def audience_of(kind: str, data: dict) -> list[str] | None:
    """The personas an event is about, read from its data when the publisher did not say.

    ``None`` (nothing found) means "about no persona in particular": such events reach only
    keys that cover every persona.
    """
    if kind == "room":  # a room is about all its members: the publisher must name them
        return None
    persona = data.get("persona")
    if isinstance(persona, dict) and persona.get("id"):
        return [str(persona["id"])]
    if data.get("persona_id"):
        return [str(data["persona_id"])]
    if kind == "persona" and data.get("id"):
        return [str(data["id"])]
    return None


def may_receive(principal, audience: list[str] | None) -> bool:
    """The scope rule of the methods, applied to one event and one subscriber.

    A key limited to some personas receives an event only when it covers every persona the
    event is about (a room event: every member, as for ``room.get``).
    """
    if principal is None or principal.persona_ids is None:
        return True
    if not audience:
        return False
    return all(str(p) in principal.persona_ids for p in audience)


def publish(
    event_type: str,
    *,
    kind: str,
    keys: tuple[str, ...],
    data: dict,
    persona_ids: list[str] | None = None,
) -> None:
    """Broadcast an event once the current transaction commits (at once outside one).

    ``persona_ids``: the personas the event is about (default: read from ``data``); only
    subscribers whose key covers all of them receive it.
    """
    at = iso(timezone.now())
    audience = [str(p) for p in persona_ids] if persona_ids else audience_of(kind, data)
    payload = {
        "type": event_type,
        "data": data,
        "at": at,
        "uid": uuid.uuid4().hex,
        "audience": audience,
    }
    topics = topics_for(kind, *keys)
    transaction.on_commit(lambda: send_now(payload, topics, primary=f"{kind}.{keys[0]}"))


async def _send(payload: dict, topics: list[str], primary: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": HANDLER_TYPE, "event": payload, "topic": primary}
    for topic in topics:
        await layer.group_send(group_for(topic), message)


def send_now(payload: dict, topics: list[str], *, primary: str) -> None:
    """Send an event now: queued on the server loop from a worker thread, else sent in place."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    outbox = _outbox
    try:
        if outbox is not None and running is outbox.loop:
            outbox.queue.put_nowait((payload, topics, primary))
        elif running is not None:
            running.create_task(_send(payload, topics, primary))
        elif outbox is not None and outbox.loop.is_running():
            outbox.put(payload, topics, primary)
        else:
            async_to_sync(_send)(payload, topics, primary)
    except Exception:  # an event that cannot be sent must never break the write that caused it
        log.exception("could not broadcast event %s", payload["type"])
