"""Matrix bot accounts of personas and the state of their bot processes."""

from __future__ import annotations

import uuid

from django.db import models

from personamcp.crypto import EncryptedTextField


class BotAccount(models.Model):
    """One persona's account on a Matrix homeserver.

    ``password``, ``access_token`` and ``device_id`` never leave the server: they are write-only
    in the API, hidden in the admin and redacted from logs.
    """

    class Platform(models.TextChoices):
        MATRIX = "matrix"

    class TrustPolicy(models.TextChoices):
        TOFU = "tofu"  # trust every device on first use
        ALLOWLIST = "allowlist"  # trust only devices of trusted_users

    class InvitePolicy(models.TextChoices):
        ANYONE = "anyone"
        ALLOWLIST = "allowlist"
        NEVER = "never"
        MANUAL = "manual"  # invites wait for an operator (admin, API)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    persona = models.ForeignKey(
        "personas.Persona", on_delete=models.CASCADE, related_name="bot_accounts"
    )
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.MATRIX)
    homeserver = models.URLField(max_length=300)
    user_id = models.CharField(max_length=255, unique=True, help_text="e.g. @alice:example.org")
    # Encrypted at rest with PERSONAMCP_SECRET_KEYS (personamcp.crypto).
    password = EncryptedTextField(blank=True)
    access_token = EncryptedTextField(blank=True)
    device_id = models.CharField(max_length=255, blank=True)
    rooms = models.JSONField(default=list, blank=True, help_text="room ids or aliases to join")
    invite_policy = models.CharField(
        max_length=16, choices=InvitePolicy.choices, default=InvitePolicy.ANYONE
    )
    invite_allowlist = models.JSONField(
        default=list,
        blank=True,
        help_text="Matrix user ids (or :server suffixes) allowed to invite",
    )
    answer_bots = models.BooleanField(default=False, help_text="answer other persona bots")
    # End-to-end encryption: the device's crypto store lives in var/bots/<id>/crypto/, pickled
    # with crypto_pickle_key (random per bot, encrypted at rest, never shown).
    trust_policy = models.CharField(
        max_length=16, choices=TrustPolicy.choices, default=TrustPolicy.TOFU
    )
    trusted_users = models.JSONField(
        default=list, blank=True, help_text="Matrix user ids whose devices are trusted (allowlist)"
    )
    blocked_users = models.JSONField(
        default=list,
        blank=True,
        help_text="Matrix user ids never answered, never given room keys",
    )
    crypto_pickle_key = EncryptedTextField(blank=True, editable=False)
    device_fingerprint = models.CharField(
        max_length=100, blank=True, editable=False, help_text="ed25519 key of the bot's device"
    )
    enabled = models.BooleanField(default=True)
    autostart = models.BooleanField(default=False)
    # The avatar last uploaded to the homeserver, so that a restart does not upload it again.
    avatar_sha256 = models.CharField(max_length=64, blank=True)
    avatar_mxc = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    SECRET_FIELDS = ("password", "access_token", "crypto_pickle_key")

    class Meta:
        ordering = ["user_id"]
        verbose_name = "bot"

    def __str__(self) -> str:
        return self.user_id

    @property
    def has_credentials(self) -> bool:
        return bool(self.password or self.access_token)


class BotRoom(models.Model):
    """A Matrix room a bot is in or invited to (as its runner last saw it) and the operator's
    per-room settings."""

    class Membership(models.TextChoices):
        JOIN = "join"
        INVITE = "invite"

    class Answer(models.TextChoices):
        AUTO = "auto"  # every message in a direct room, mentions elsewhere
        ALL = "all"
        MENTIONS = "mentions"
        NEVER = "never"

    bot = models.ForeignKey(BotAccount, on_delete=models.CASCADE, related_name="matrix_rooms")
    room_id = models.CharField(max_length=255)
    name = models.CharField(max_length=300, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    encrypted = models.BooleanField(default=False)
    membership = models.CharField(max_length=16, choices=Membership.choices)
    inviter = models.CharField(max_length=255, blank=True)
    answer = models.CharField(max_length=16, choices=Answer.choices, default=Answer.AUTO)
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="replies per minute here (empty: the global limit)"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["room_id"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "room_id"], name="bots_room_once_per_bot")
        ]
        verbose_name = "bot room"

    def __str__(self) -> str:
        return self.name or self.room_id


class BotRun(models.Model):
    """The current (or last) process of a bot: one row per bot, updated in place.

    ``wanted`` is the operator's intent (None: follow ``autostart``); the supervisor compares it
    with ``status`` and the process it can see.
    """

    class Status(models.TextChoices):
        STARTING = "starting"
        RUNNING = "running"
        STOPPING = "stopping"
        STOPPED = "stopped"
        CRASHED = "crashed"

    bot = models.OneToOneField(BotAccount, on_delete=models.CASCADE, related_name="run")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STOPPED)
    pid = models.IntegerField(null=True, blank=True)
    # The pid of the last runner that reported its own end (it may still be exiting).
    exited_pid = models.IntegerField(null=True, blank=True)
    host = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    log_path = models.CharField(max_length=500, blank=True)
    wanted = models.BooleanField(null=True, blank=True)
    # Times (ISO strings) of recent crashes, for backoff and giving up.
    crash_times = models.JSONField(default=list, blank=True)
    next_start_at = models.DateTimeField(null=True, blank=True)
    gave_up = models.BooleanField(default=False)
    # The runner refuses to start again by itself (e.g. the homeserver refused the credentials).
    fatal = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.bot_id}: {self.status}"

    @property
    def is_live(self) -> bool:
        return self.status in {self.Status.STARTING, self.Status.RUNNING, self.Status.STOPPING}


class RoomBridge(models.Model):
    """A Persona-MCP room linked to a Matrix room: each member persona speaks there as its own
    bot, through the room's turn-taking policy, with one shared history (the room's lines)."""

    class State(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"  # nothing is fed or posted either way

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.OneToOneField("rooms.Room", on_delete=models.CASCADE, related_name="bridge")
    matrix_room_id = models.CharField(max_length=255, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "room bridge"

    def __str__(self) -> str:
        return f"{self.room_id} <-> {self.matrix_room_id}"


class BridgedEvent(models.Model):
    """A Matrix message fed into a bridged room, once: the first bot to claim its event id
    feeds it; every other bot that sees it finds the claim and does nothing."""

    bridge = models.ForeignKey(RoomBridge, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=255)
    bot = models.ForeignKey(BotAccount, on_delete=models.SET_NULL, null=True, related_name="+")
    line_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["bridge", "event_id"], name="bots_bridged_event_once")
        ]

    def __str__(self) -> str:
        return self.event_id


class OutboxMessage(models.Model):
    """A message a bot is to send, kept until the homeserver took it.

    The transaction id is fixed when the row is made, so every retry (after a connection error,
    a 429, a restart of the bot) is the same Matrix send: the homeserver stores it once.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"  # refused by the homeserver (not retried)

    bot = models.ForeignKey(BotAccount, on_delete=models.CASCADE, related_name="outbox")
    room_id = models.CharField(max_length=255)
    txn_id = models.CharField(max_length=64, unique=True)
    content = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_try_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    event_id = models.CharField(max_length=255, blank=True)
    # The room line it posts (a bridged room), if any.
    line_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["bot", "status", "id"], name="bots_outbox_pending")]
        verbose_name = "outbox message"

    def __str__(self) -> str:
        return f"{self.txn_id} ({self.status})"
