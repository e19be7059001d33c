"""Rooms: several personas in one conversation with participants and with each other.

The tables keep the names they had when rooms were part of the conversations app.
"""

from __future__ import annotations

import uuid

from django.db import models

from personas.models import Party


def persona_or_none(related_name: str, *, on_delete=models.CASCADE, **options):
    """The persona a row is about, when it is about one: a room line or a scene position is a
    persona's or a participant's, a world event a persona's or a room's."""
    return models.ForeignKey(
        "personas.Persona",
        on_delete=on_delete,
        null=True,
        blank=True,
        related_name=related_name,
        **options,
    )


class Room(models.Model):
    """Several personas in one conversation with participants and with each other.

    Each member answers through its own conversation for this room (participant
    ``room:<id>``), so memories, mood and relationships work as in a one-to-one conversation.
    """

    class Policy(models.TextChoices):
        NATURAL = "natural"
        ROUND_ROBIN = "round_robin"
        ADDRESSED_ONLY = "addressed_only"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    members = models.ManyToManyField("personas.Persona", through="RoomMember", related_name="rooms")
    policy = models.CharField(max_length=16, choices=Policy.choices, default=Policy.NATURAL)
    # A spatial room (a game scene) keeps a position per persona and participant; only the
    # personas within ``hearing_radius`` of a speaker or an event hear or perceive it.
    spatial = models.BooleanField(default=False)
    hearing_radius = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "conversations_room"  # the table it had in the conversations app
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def participant(self) -> str:
        """The participant id of the members' conversations for this room."""
        return f"room:{self.id}"


class RoomMember(models.Model):
    """A persona in a room, at a position (the order of ``round_robin``)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    persona = models.ForeignKey(
        "personas.Persona", on_delete=models.CASCADE, related_name="room_memberships"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "conversations_roommember"
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "persona"], name="room_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.persona_id} in {self.room_id}"


class RoomMessage(models.Model):
    """One line said in a room, by a participant or by a member persona."""

    SpeakerKind = Party

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="lines")
    speaker_kind = models.CharField(max_length=16, choices=SpeakerKind.choices)
    # A participant id, or the speaking persona's UUID as text.
    speaker_id = models.CharField(max_length=255)
    speaker_name = models.CharField(max_length=255, blank=True)
    persona = persona_or_none("room_lines", on_delete=models.SET_NULL)
    content = models.TextField()
    # Spatial rooms: where the speaker stood ({x, y, z}), to know who heard the line.
    position = models.JSONField(null=True, blank=True)
    # A persona's line: its reply message in the persona's conversation for this room.
    message = models.ForeignKey(
        "conversations.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "conversations_roommessage"
        ordering = ["id"]
        indexes = [models.Index(fields=["room", "id"], name="room_line_room_id")]

    def __str__(self) -> str:
        return f"{self.speaker_name or self.speaker_id}: {self.content[:40]}"


class ScenePosition(models.Model):
    """Where a persona or a participant stands in a spatial room (same units as the room's
    ``hearing_radius``). One row per entity and room; the room's rows are read in one query."""

    EntityKind = Party

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="positions")
    entity_kind = models.CharField(max_length=16, choices=EntityKind.choices)
    # A persona's UUID as text, or a participant id.
    entity_id = models.CharField(max_length=255)
    persona = persona_or_none("scene_positions")
    x = models.FloatField(default=0.0)
    y = models.FloatField(default=0.0)
    z = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["room", "entity_kind", "entity_id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "entity_id"], name="scene_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.entity_id} at ({self.x:g}, {self.y:g}, {self.z:g}) in {self.room_id}"

    @property
    def point(self) -> tuple[float, float, float]:
        return (self.x, self.y, self.z)

    @property
    def as_dict(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "z": self.z}
