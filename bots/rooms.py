"""The Matrix rooms of a bot: what the runner sees (joined and invited rooms with names, member
counts, encryption), per-room settings, and the operator's actions on them (join, leave,
accept or reject an invite, redact one of the bot's own messages).

The runner records its rooms after each sync that changed them; actions go straight to the
homeserver with the bot's stored access token (they need no crypto session), and the row is
updated at once so the admin and the API show the result without waiting for the next sync.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
from django.db import transaction

from bots.exceptions import BotNotLoggedIn, MatrixError
from bots.models import BotAccount, BotRoom
from personamcp.exceptions import Forbidden, NotFound, ValidationFailed
from personamcp.pagination import paginate

ACTIONS = ("join", "leave", "accept", "reject")
TIMEOUT = 30.0


def bot_rooms_record(*, bot: BotAccount, rooms: list[dict]) -> None:
    """The runner's snapshot of its joined and invited rooms replaces the stored one (the
    operator's per-room settings are kept)."""
    seen = {room["room_id"] for room in rooms}
    with transaction.atomic():
        BotRoom.objects.filter(bot=bot).exclude(room_id__in=seen).delete()
        for room in rooms:
            fields = {k: room[k] for k in ("name", "member_count", "encrypted", "membership")}
            fields["inviter"] = room.get("inviter") or ""
            BotRoom.objects.update_or_create(bot=bot, room_id=room["room_id"], defaults=fields)


def bot_room_list(
    *, bot: BotAccount, limit: int = 50, cursor: str | None = None
) -> tuple[list[BotRoom], str | None]:
    """One page of the bot's joined and invited rooms, by room id."""
    return paginate(BotRoom.objects.filter(bot=bot), order="room_id", limit=limit, cursor=cursor)


def bot_room_get(*, bot: BotAccount, room_id: str) -> BotRoom:
    room = BotRoom.objects.filter(bot=bot, room_id=room_id).first()
    if room is None:
        raise NotFound(f"the bot is not in (or invited to) room {room_id}")
    return room


def bot_room_update(
    *, bot: BotAccount, room_id: str, answer: str | None = None, rate_per_minute=...
) -> BotRoom:
    """Per-room settings: when to answer (``auto`` / ``all`` / ``mentions`` / ``never``) and a
    reply rate limit (None: the global ``PERSONAMCP_BOT_ROOM_RATE``)."""
    room = bot_room_get(bot=bot, room_id=room_id)
    fields = []
    if answer is not None:
        if answer not in BotRoom.Answer.values:
            raise ValidationFailed([{"field": "answer", "message": "unknown answer mode"}])
        room.answer = answer
        fields.append("answer")
    if rate_per_minute is not ...:
        room.rate_per_minute = rate_per_minute
        fields.append("rate_per_minute")
    if fields:
        room.save(update_fields=[*fields, "updated_at"])
    return room


def bot_room_settings(*, bot: BotAccount) -> dict[str, tuple[str, int | None]]:
    """``{room id: (answer, rate per minute)}`` for the runner."""
    rows = BotRoom.objects.filter(bot=bot).values_list("room_id", "answer", "rate_per_minute")
    return {room_id: (answer, rate) for room_id, answer, rate in rows}


def _call(bot: BotAccount, method: str, path: str, body: dict | None = None) -> dict:
    if not bot.access_token:
        raise BotNotLoggedIn("the bot has not logged in yet: start it once first")
    try:
        response = httpx.request(
            method,
            f"{bot.homeserver}/_matrix/client/v3{path}",
            json=body if body is not None else ({} if method in ("POST", "PUT") else None),
            headers={"Authorization": f"Bearer {bot.access_token}"},
            timeout=TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise MatrixError(f"homeserver unreachable: {type(exc).__name__}") from None
    data = response.json() if response.headers.get("content-type", "").startswith("app") else {}
    if response.status_code >= 400:
        code = data.get("errcode", response.status_code)
        raise MatrixError(f"the homeserver refused: {code}: {data.get('error', '')}"[:300])
    return data


def bot_room_action(*, bot: BotAccount, room_id: str, action: str) -> BotRoom | None:
    """Join a room (id or alias), leave it, or accept / reject an invite. Returns the room's
    row, None after a leave or a reject."""
    if action not in ACTIONS:
        raise ValidationFailed([{"field": "action", "message": f"must be one of {ACTIONS}"}])
    if action in ("join", "accept"):
        joined = _call(bot, "POST", f"/join/{quote(room_id, safe='')}")["room_id"]
        room, _ = BotRoom.objects.get_or_create(bot=bot, room_id=joined)
        room.membership = BotRoom.Membership.JOIN
        room.save(update_fields=["membership", "updated_at"])
        return room
    _call(bot, "POST", f"/rooms/{quote(room_id, safe='')}/leave")
    BotRoom.objects.filter(bot=bot, room_id=room_id).delete()
    return None


def bot_redact(*, bot: BotAccount, room_id: str, event_id: str, reason: str = "") -> str:
    """Redact one of the bot's own messages (never anyone else's). Returns the redaction id."""
    room = quote(room_id, safe="")
    event = _call(bot, "GET", f"/rooms/{room}/event/{quote(event_id, safe='')}")
    if event.get("sender") != bot.user_id:
        raise Forbidden("a bot redacts only its own messages")
    body = {"reason": reason} if reason else {}
    txn = uuid.uuid4().hex
    path = f"/rooms/{room}/redact/{quote(event_id, safe='')}/{txn}"
    return _call(bot, "PUT", path, body)["event_id"]
