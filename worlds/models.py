"""Game worlds: what happened in the world, and who perceived it."""

from __future__ import annotations

import uuid

from django.db import models

from personas.models import Party
from rooms.models import persona_or_none


class WorldEvent(models.Model):
    """Something a game reports: to one persona, or to a room (in a spatial room, at a place).

    ``actor`` is the persona (its UUID as text) or participant that did it; ``target`` whom it
    was done to, as given (a persona's id or slug, or a participant id).
    """

    ActorKind = Party  # blank: no actor

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    description = models.TextField()
    persona = persona_or_none(
        "world_events",
        help_text="The persona the event was reported to (none for a room event).",
    )
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.CASCADE, null=True, blank=True, related_name="world_events"
    )
    actor = models.CharField(max_length=255, blank=True, default="")
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices, blank=True, default="")
    actor_name = models.CharField(max_length=255, blank=True, default="")
    target = models.CharField(max_length=255, blank=True, default="")
    position = models.JSONField(null=True, blank=True)  # {x, y, z} where it happened
    data = models.JSONField(default=dict, blank=True)
    importance = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["room", "created_at"], name="world_event_room_created"),
            models.Index(fields=["persona", "created_at"], name="world_event_persona_created"),
        ]

    def __str__(self) -> str:
        return f"[{self.type}] {self.description[:60]}"


class Perception(models.Model):
    """One persona's perception of a world event: its memory of it and how it felt."""

    class Role(models.TextChoices):
        TARGET = "target"  # it happened to this persona
        WITNESS = "witness"  # it saw or heard it happen
        ACTOR = "actor"  # it did it

    event = models.ForeignKey(WorldEvent, on_delete=models.CASCADE, related_name="perceptions")
    persona = models.ForeignKey(
        "personas.Persona", on_delete=models.CASCADE, related_name="perceptions"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    memory = models.ForeignKey(
        "memory.Memory", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    distance = models.FloatField(null=True, blank=True)  # spatial rooms
    valence = models.FloatField(default=0.0)
    arousal = models.FloatField(default=0.0)
    appraisal_method = models.CharField(max_length=16, default="rules")
    mood = models.FloatField(default=0.0)  # the persona's mood after it
    emotion = models.CharField(max_length=32, default="neutral")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "persona"], name="perception_unique")
        ]
        indexes = [
            models.Index(fields=["persona", "created_at"], name="perception_persona_created")
        ]

    def __str__(self) -> str:
        return f"{self.persona_id} perceived {self.event_id} ({self.role})"
