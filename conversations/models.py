"""Conversations between a persona and a participant, and their messages (turns)."""

from __future__ import annotations

import uuid

from django.db import models


class Conversation(models.Model):
    """One conversation of a persona with a participant (a player, a Matrix user, a script).

    At most one conversation per (persona, participant) is open at a time; it is found again
    from any frontend by that pair until it is ended.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    persona = models.ForeignKey(
        "personas.Persona", on_delete=models.CASCADE, related_name="conversations"
    )
    participant = models.CharField(max_length=255)
    participant_name = models.CharField(max_length=255, blank=True)
    platform = models.CharField(max_length=32, default="rpc")
    context = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["persona", "participant"],
                condition=models.Q(ended_at__isnull=True),
                name="conversation_one_open_per_participant",
            )
        ]
        indexes = [models.Index(fields=["persona", "participant"], name="conv_persona_participant")]

    def __str__(self) -> str:
        return f"{self.persona_id} with {self.participant_name or self.participant}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class Message(models.Model):
    """One message. An assistant message also keeps how it was made (the turn inspector)."""

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        PENDING = "pending"  # a user message whose turn is still running
        COMPLETE = "complete"
        CANCELLED = "cancelled"
        FAILED = "failed"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    speaker = models.CharField(max_length=255)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    created_at = models.DateTimeField(auto_now_add=True)
    # Assistant turns only: the exact prompt sent to the LLM, the memories retrieved for it
    # (``[{id, score, scores, content}]``), timings in ms, token usage, provider and errors.
    prompt = models.JSONField(null=True, blank=True)
    memories_used = models.JSONField(default=list, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    emotion = models.CharField(max_length=32, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    # The JSON-RPC code the turn ended with: a failed turn's error (-32010 LLM unavailable,
    # -32011 LLM timeout, -32603 the server died), -32031 for a cancelled one; null otherwise.
    error_code = models.IntegerField(null=True, blank=True)
    # A pending user message: the process running its turn (``personamcp.locks.process_owner``)
    # and until when its lease holds (refreshed while the turn runs). A turn whose process is
    # gone is marked failed (``conversation_turns_recover``).
    owner = models.CharField(max_length=160, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # When the after-turn work (memory, mood, relationship) of this reply was claimed by a run
    # and when it was committed; replies left unprocessed by a killed process are picked up by
    # ``conversations.after_turn_recover``.
    after_turn_claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"], name="message_conv_id")]

    def __str__(self) -> str:
        return f"{self.role} {self.speaker}: {self.content[:40]}"
