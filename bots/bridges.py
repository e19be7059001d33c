"""Bridged rooms: a Persona-MCP room linked to a Matrix room.

Every member persona speaks in the Matrix room as its own bot. A Matrix message from a human
is fed into the room once (``bridge_feed``): each bot of the room that sees it tries to claim
its event id, and only the bot whose claim is stored first calls ``rooms.services.room_send``,
so the room's turn-taking policy decides who answers (under ``natural`` exactly one persona
answers an unaddressed message) and the room keeps the one shared history. Bots ignore each
other's messages in bridged rooms, so they never answer one another there.

The other way round, every line stored in a bridged room (``post_save`` of ``RoomMessage``,
after the commit) becomes a message in the speaking persona's bot's outbox: replies to a Matrix
message, and lines said over the web chat or ``/mcp``, reach Matrix as the persona that said
them. Lines of participants that did not come from Matrix are relayed by the room's first bot
("Name: text"); lines that came from Matrix are not echoed.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time

from django.conf import settings
from django.db import IntegrityError, transaction

from bots import outbox
from bots.formatting import split_message, text_content
from bots.models import BotAccount, BotRoom, BridgedEvent, OutboxMessage, RoomBridge
from personamcp.exceptions import Busy, NotFound, ValidationFailed
from personamcp.pagination import paginate

log = logging.getLogger("bots.bridges")

# Set while a Matrix message is being fed into its room: (room id, Matrix event id).
_feeding: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "bridge_feeding", default=None
)
# How long a Matrix message waits for a room that is busy answering another one.
BUSY_WAIT = 120.0


# --- the link -------------------------------------------------------------------------------


def _member_bots(room, matrix_room_id: str | None = None) -> list[tuple[object, BotAccount | None]]:
    """``(persona, bot)`` for each member in member order; the bot is the persona's enabled
    bot, preferring one already in the Matrix room ``matrix_room_id``."""
    from rooms.selectors import room_members

    members = room_members(room)
    bots = BotAccount.objects.filter(persona__in=members, enabled=True).order_by("user_id")
    joined = set()
    if matrix_room_id:
        joined = set(
            BotRoom.objects.filter(
                room_id=matrix_room_id, membership=BotRoom.Membership.JOIN
            ).values_list("bot_id", flat=True)
        )
    by_persona: dict = {}
    for bot in bots:
        current = by_persona.get(bot.persona_id)
        if current is None or (bot.id in joined and current.id not in joined):
            by_persona[bot.persona_id] = bot
    return [(p, by_persona.get(p.id)) for p in members]


def bridge_errors(*, room, matrix_room_id: str, state: str) -> list[dict]:
    """What stops ``room`` from being bridged to ``matrix_room_id`` (``[]``: nothing)."""
    errors = []
    if room.closed_at is not None:
        errors.append({"field": "room_id", "message": "this room is closed"})
    if state not in RoomBridge.State.values:
        errors.append({"field": "state", "message": "must be active or paused"})
    if not matrix_room_id.startswith("!") or any(c.isspace() for c in matrix_room_id):
        errors.append({"field": "matrix_room_id", "message": "must be a room id (!...)"})
    missing = [p.slug for p, bot in _member_bots(room) if bot is None]
    if missing:
        errors.append(
            {"field": "room_id", "message": f"personas without a bot: {', '.join(missing)}"}
        )
    other = RoomBridge.objects.filter(matrix_room_id=matrix_room_id).exclude(room=room).first()
    if other is not None:
        errors.append(
            {"field": "matrix_room_id", "message": f"already bridged to room {other.room_id}"}
        )
    return errors


def bridge_set(*, room, matrix_room_id: str, state: str = RoomBridge.State.ACTIVE) -> RoomBridge:
    """Link ``room`` to the Matrix room ``matrix_room_id`` (or change the link's Matrix room or
    state). Every member persona needs an enabled bot; the bots join the Matrix room when they
    are invited to it (whatever their invite policy) or when it is public."""
    errors = bridge_errors(room=room, matrix_room_id=matrix_room_id, state=state)
    if errors:
        raise ValidationFailed(errors)
    bridge, _ = RoomBridge.objects.update_or_create(
        room=room, defaults={"matrix_room_id": matrix_room_id, "state": state}
    )
    return bridge


def bridge_get(*, room) -> RoomBridge:
    bridge = RoomBridge.objects.select_related("room").filter(room=room).first()
    if bridge is None:
        raise NotFound(f"room {room.id} is not bridged to Matrix")
    return bridge


def bridge_delete(*, room) -> str:
    """Unlink the room (the bots stay in the Matrix room; nothing more is fed or posted)."""
    bridge = bridge_get(room=room)
    matrix_room_id = bridge.matrix_room_id
    bridge.delete()
    return matrix_room_id


def bridge_list(
    *, persona_ids: list[str] | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[RoomBridge], str | None]:
    """One page of bridges, newest first (only rooms whose every member a key may see)."""
    qs = RoomBridge.objects.select_related("room")
    if persona_ids is not None:
        qs = qs.exclude(room__memberships__persona_id__in=_excluded(persona_ids))
    return paginate(qs, order="-created_at", limit=limit, cursor=cursor)


def _excluded(persona_ids: list[str]):
    from personas.models import Persona

    return Persona.objects.exclude(id__in=persona_ids).values("id")


def bridge_data(bridge: RoomBridge) -> dict:
    """A bridge as JSON (the same dict on /api and /mcp)."""
    from personamcp.schemas import iso

    bots = []
    for persona, bot in _member_bots(bridge.room, bridge.matrix_room_id):
        joined = bot is not None and (
            BotRoom.objects.filter(
                bot=bot, room_id=bridge.matrix_room_id, membership=BotRoom.Membership.JOIN
            ).exists()
        )
        bots.append(
            {
                "persona_id": str(persona.id),
                "persona_slug": persona.slug,
                "bot_id": str(bot.id) if bot else None,
                "user_id": bot.user_id if bot else None,
                "joined": joined,
            }
        )
    pending = OutboxMessage.objects.filter(
        room_id=bridge.matrix_room_id, status=OutboxMessage.Status.PENDING
    ).count()
    return {
        "id": str(bridge.id),
        "room_id": str(bridge.room_id),
        "room_name": bridge.room.name,
        "matrix_room_id": bridge.matrix_room_id,
        "state": bridge.state,
        "bots": bots,
        "messages_fed": bridge.events.count(),
        "pending_posts": pending,
        "created_at": iso(bridge.created_at),
        "updated_at": iso(bridge.updated_at),
    }


# --- Matrix -> room -------------------------------------------------------------------------


def bridged_rooms_of(*, bot: BotAccount) -> set[str]:
    """The Matrix rooms of the active bridges whose room has the bot's persona as a member."""
    return set(
        RoomBridge.objects.filter(
            state=RoomBridge.State.ACTIVE, room__memberships__persona_id=bot.persona_id
        ).values_list("matrix_room_id", flat=True)
    )


def bridge_feed(
    *,
    bot: BotAccount,
    matrix_room_id: str,
    event_id: str,
    sender: str,
    sender_name: str,
    body: str,
    cancel_event: threading.Event | None = None,
) -> dict | None:
    """Feed a Matrix message into its bridged room, once: None when another bot claimed the
    event first (or the room is not bridged for this bot), else ``room_send``'s result."""
    from rooms import services as room_services
    from rooms.selectors import room_get

    bridge = RoomBridge.objects.filter(
        matrix_room_id=matrix_room_id,
        state=RoomBridge.State.ACTIVE,
        room__memberships__persona_id=bot.persona_id,
    ).first()
    if bridge is None:
        return None
    try:
        with transaction.atomic():
            claim = BridgedEvent.objects.create(bridge=bridge, event_id=event_id, bot=bot)
    except IntegrityError:
        return None  # another bot of the room feeds it
    room = room_get(room_id=str(bridge.room_id))
    token = _feeding.set((str(room.id), event_id))
    try:
        result = _when_free(
            lambda: room_services.room_send(
                room=room,
                content=body,
                sender=sender,
                sender_name=sender_name,
                cancel_event=cancel_event,
            )
        )
    finally:
        _feeding.reset(token)
    claim.line_id = result["line_id"]
    claim.save(update_fields=["line_id"])
    return result


def _when_free(send):
    """``send()``, tried again every 0.3 s while the room is busy with another turn, for up to
    ``BUSY_WAIT`` seconds (then ``Busy`` is raised)."""
    deadline = time.monotonic() + BUSY_WAIT
    while True:
        try:
            return send()
        except Busy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# --- room -> Matrix -------------------------------------------------------------------------


def on_room_line(sender, instance, created: bool, **kwargs) -> None:
    """``post_save`` of a room line: post it to Matrix once the line is committed."""
    if not created:
        return
    feeding = _feeding.get()
    line_id = instance.id
    transaction.on_commit(lambda: _post_line(line_id, feeding))


def _post_line(line_id: int, feeding: tuple[str, str] | None) -> None:
    from rooms.models import RoomMessage

    try:
        line = RoomMessage.objects.select_related("room").get(id=line_id)
        bridge = RoomBridge.objects.filter(room_id=line.room_id).first()
        if bridge is None or bridge.state != RoomBridge.State.ACTIVE:
            return
        from_matrix = feeding is not None and feeding[0] == str(line.room_id)
        bots = _member_bots(line.room, bridge.matrix_room_id)
        if line.speaker_kind == RoomMessage.SpeakerKind.PERSONA:
            bot = next((b for p, b in bots if p.id == line.persona_id), None)
            parts = split_message(line.content, settings.BOTS["MAX_MESSAGE_CHARS"])
            prefix = ""
        else:
            if from_matrix:
                return  # it is in Matrix already
            bot = next((b for _, b in bots if b is not None), None)
            prefix = f"{line.speaker_name or line.speaker_id}: "
            parts = split_message(prefix + line.content, settings.BOTS["MAX_MESSAGE_CHARS"])
        if bot is None:
            log.warning("bridged room %s: no bot to post line %s", line.room_id, line.id)
            return
        for index, part in enumerate(parts):
            content = text_content(part)
            if index == 0 and from_matrix:
                content["m.relates_to"] = {"m.in_reply_to": {"event_id": feeding[1]}}
            outbox.outbox_add(
                bot=bot, room_id=bridge.matrix_room_id, content=content, line_id=line.id
            )
    except Exception:  # posting must never break the room's write
        log.exception("bridged room: could not queue line %s", line_id)


def bridge_room(*, room_id: str, check=None):
    """The room ``room_id`` for a bridge call; ``check(persona_id)`` (the caller's key scope)
    is called for every member: a key manages a bridge only when it covers the whole room."""
    from rooms.selectors import room_get, room_members

    room = room_get(room_id=room_id)
    if check is not None:
        for persona in room_members(room):
            check(str(persona.id))
    return room
