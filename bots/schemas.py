"""Input and output shapes of bots, shared by the REST API and the bot.* JSON-RPC methods.

Credentials (``password``, ``access_token``) appear only in input models; the crypto store's
pickle key appears nowhere. The device id and its fingerprint are public Matrix facts.
"""

from __future__ import annotations

from typing import Annotated, Literal

from nio.crypto import ENCRYPTION_ENABLED
from pydantic import Field, StringConstraints

from personamcp.schemas import Limit, Out, Params, iso

BotRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MatrixId = Annotated[
    str, StringConstraints(min_length=3, max_length=255, pattern=r"^@[^:\s]+:\S+$")
]
RoomRef = Annotated[
    # Room ids of room version 12 have no server part (``!opaque``); aliases always do.
    str, StringConstraints(min_length=2, max_length=255, pattern=r"^(![^\s/]+|#[^:\s]+:\S+)$")
]
AllowEntry = Annotated[
    str, StringConstraints(min_length=2, max_length=255, pattern=r"^(@[^:\s]+:\S+|:\S+)$")
]
Url = Annotated[str, StringConstraints(max_length=300, pattern=r"^https?://\S+$")]
Secret = Annotated[str, StringConstraints(max_length=1024)]
InvitePolicy = Literal["anyone", "allowlist", "never", "manual"]
TrustPolicy = Literal["tofu", "allowlist"]
UserList = Annotated[list[MatrixId], Field(max_length=500)]


class BotCreate(Params):
    """A new bot: ``persona`` (id or slug), ``homeserver``, ``user_id`` and a password and/or
    an access token."""

    persona: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    homeserver: Url
    user_id: MatrixId
    password: Secret = ""
    access_token: Secret = ""
    device_id: Annotated[str, StringConstraints(max_length=255)] = ""
    rooms: Annotated[list[RoomRef], Field(max_length=100)] = []
    invite_policy: InvitePolicy = "anyone"
    invite_allowlist: Annotated[list[AllowEntry], Field(max_length=200)] = []
    answer_bots: bool = False
    enabled: bool = True
    autostart: bool = False
    trust_policy: TrustPolicy = "tofu"
    trusted_users: UserList = []
    blocked_users: UserList = []


class BotPatch(Params):
    """Writable fields of an existing bot; absent fields are left unchanged."""

    persona: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    homeserver: Url | None = None
    user_id: MatrixId | None = None
    password: Secret | None = None
    access_token: Secret | None = None
    device_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    rooms: Annotated[list[RoomRef], Field(max_length=100)] | None = None
    invite_policy: InvitePolicy | None = None
    invite_allowlist: Annotated[list[AllowEntry], Field(max_length=200)] | None = None
    answer_bots: bool | None = None
    enabled: bool | None = None
    autostart: bool | None = None
    trust_policy: TrustPolicy | None = None
    trusted_users: UserList | None = None
    blocked_users: UserList | None = None


class BotListParams(Params):
    limit: Limit = 50
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


class BotIdParams(Params):
    bot_id: BotRef


class BotLogsParams(Params):
    bot_id: BotRef
    limit: Annotated[int, Field(ge=1, le=2000)] = 100


class BotPersonaOut(Out):
    id: str
    slug: str


class BotOut(Out):
    """A bot and the state of its process. Never carries credentials."""

    id: str
    persona: BotPersonaOut
    platform: Literal["matrix"]
    homeserver: str
    user_id: str
    rooms: list[str]
    invite_policy: InvitePolicy
    invite_allowlist: list[str]
    answer_bots: bool
    enabled: bool
    autostart: bool
    has_password: bool
    has_access_token: bool
    encryption: bool
    device_id: str
    device_fingerprint: str
    trust_policy: TrustPolicy
    trusted_users: list[str]
    blocked_users: list[str]
    status: Literal["starting", "running", "stopping", "stopped", "crashed"]
    pid: int | None
    host: str
    started_at: str | None
    last_heartbeat_at: str | None
    stopped_at: str | None
    exit_code: int | None
    restarts: int
    last_error: str
    gave_up: bool
    created_at: str | None
    updated_at: str | None

    @classmethod
    def of(cls, bot) -> BotOut:
        """The public view of a bot and its run (the one shape of /api and /mcp)."""
        from bots.selectors import ensure_run

        run = ensure_run(bot)
        return cls(
            id=str(bot.id),
            persona=BotPersonaOut(id=str(bot.persona_id), slug=bot.persona.slug),
            has_password=bool(bot.password),
            has_access_token=bool(bot.access_token),
            encryption=ENCRYPTION_ENABLED,
            **{name: getattr(bot, name) for name in _BOT_FIELDS},
            **{name: list(getattr(bot, name)) for name in _BOT_LISTS},
            **{name: iso(getattr(bot, name)) for name in _BOT_TIMES},
            **{name: getattr(run, name) for name in _RUN_FIELDS},
            **{name: iso(getattr(run, name)) for name in _RUN_TIMES},
        )


# The fields of ``BotOut`` copied by name from the bot and from its run (lists copied, times
# as ISO 8601 text).
_BOT_FIELDS = (
    "platform",
    "homeserver",
    "user_id",
    "invite_policy",
    "answer_bots",
    "enabled",
    "autostart",
    "device_id",
    "device_fingerprint",
    "trust_policy",
)
_BOT_LISTS = ("rooms", "invite_allowlist", "trusted_users", "blocked_users")
_BOT_TIMES = ("created_at", "updated_at")
_RUN_FIELDS = ("status", "pid", "host", "exit_code", "restarts", "last_error", "gave_up")
_RUN_TIMES = ("started_at", "last_heartbeat_at", "stopped_at")


def bot_out(bot) -> dict:
    """``BotOut`` of a bot as JSON-ready data."""
    return BotOut.of(bot).model_dump(mode="json")


class BotListOut(Out):
    bots: list[BotOut]
    next_cursor: str | None


class BotLogsOut(Out):
    bot_id: str
    lines: list[str]


class BotDeletedOut(Out):
    deleted: bool
    bot_id: str


AnswerMode = Literal["auto", "all", "mentions", "never"]
RoomAction = Literal["join", "leave", "accept", "reject"]
EventId = Annotated[str, StringConstraints(min_length=2, max_length=255, pattern=r"^\$\S+$")]


class BotRoomsParams(Params):
    bot_id: BotRef
    limit: Limit = 50
    cursor: Annotated[str, StringConstraints(max_length=400)] | None = None


class BotRoomPatch(Params):
    """Per-room settings; absent fields are left unchanged."""

    answer: AnswerMode | None = None
    rate_per_minute: Annotated[int, Field(ge=1, le=1000)] | None = None


class BotRoomUpdateParams(BotRoomPatch):
    bot_id: BotRef
    room_id: RoomRef


class BotRoomActionParams(Params):
    bot_id: BotRef
    room_id: RoomRef
    action: RoomAction


class BotRedactBody(Params):
    event_id: EventId
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class BotRedactParams(BotRedactBody):
    bot_id: BotRef
    room_id: RoomRef


class BotRoomOut(Out):
    """A room the bot is in or invited to, and its per-room settings."""

    room_id: str
    name: str
    member_count: int
    encrypted: bool
    membership: Literal["join", "invite"]
    inviter: str
    answer: AnswerMode
    rate_per_minute: int | None
    updated_at: str | None

    @classmethod
    def of(cls, room) -> BotRoomOut:
        return cls(
            room_id=room.room_id,
            name=room.name,
            member_count=room.member_count,
            encrypted=room.encrypted,
            membership=room.membership,
            inviter=room.inviter,
            answer=room.answer,
            rate_per_minute=room.rate_per_minute,
            updated_at=iso(room.updated_at),
        )


def room_out(room) -> dict:
    return BotRoomOut.of(room).model_dump(mode="json")


class BotRoomsOut(Out):
    bot_id: str
    rooms: list[BotRoomOut]
    next_cursor: str | None


class BotRoomActionOut(Out):
    bot_id: str
    room_id: str
    membership: Literal["join", "leave"]
    room: BotRoomOut | None


def action_out(bot, room_id: str, room) -> dict:
    """The result of a room action: the room's row after a join, none after a leave."""
    return {
        "bot_id": str(bot.id),
        "room_id": room.room_id if room is not None else room_id,
        "membership": "join" if room is not None else "leave",
        "room": room_out(room) if room is not None else None,
    }


class BotRedactOut(Out):
    bot_id: str
    room_id: str
    event_id: str
    redaction_id: str


# --- bridged rooms ----------------------------------------------------------------------------

MatrixRoomId = Annotated[
    str, StringConstraints(min_length=2, max_length=255, pattern=r"^![^\s/]+$")
]
RoomUuid = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class BridgeBody(Params):
    """Link a Persona-MCP room to a Matrix room (``!id``), or change the link."""

    matrix_room_id: MatrixRoomId
    state: Literal["active", "paused"] = "active"


class BridgeParams(BridgeBody):
    room_id: RoomUuid


class BridgeRoomParams(Params):
    room_id: RoomUuid


class BridgeListParams(Params):
    limit: Limit = 50
    cursor: str | None = None


class BridgeBotOut(Out):
    persona_id: str
    persona_slug: str
    bot_id: str | None
    user_id: str | None
    joined: bool


class BridgeOut(Out):
    """A Persona-MCP room linked to a Matrix room, and the bots of its member personas."""

    id: str
    room_id: str
    room_name: str
    matrix_room_id: str
    state: Literal["active", "paused"]
    bots: list[BridgeBotOut]
    messages_fed: int
    pending_posts: int
    created_at: str | None
    updated_at: str | None


class BridgeListOut(Out):
    bridges: list[BridgeOut]
    next_cursor: str | None


class BridgeDeletedOut(Out):
    deleted: bool
    room_id: str
    matrix_room_id: str
