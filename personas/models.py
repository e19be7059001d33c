"""Persona, its live state, tags and relationships."""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]
SIGNED_UNIT = [MinValueValidator(-1.0), MaxValueValidator(1.0)]
TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


def _unit_check(field: str, low: float = 0.0) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__gte": low, f"{field}__lte": 1.0}),
        name=f"%(class)s_{field}_range",
    )


class Party(models.TextChoices):
    """Who someone is to a persona: another persona (its UUID as text is the id) or a
    participant (a player, a Matrix user: the id as given). Relationships, room lines, scene
    positions and world events all say it with these values."""

    PERSONA = "persona"
    PARTICIPANT = "participant"


class Tag(models.Model):
    name = models.CharField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Persona(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    # Limits fit real character cards (descriptions of tens of thousands of characters): the
    # prompt's token budget, not the import, decides what reaches the LLM.
    description = models.TextField(blank=True, max_length=200_000)
    openness = models.FloatField(default=0.5, validators=UNIT)
    conscientiousness = models.FloatField(default=0.5, validators=UNIT)
    extraversion = models.FloatField(default=0.5, validators=UNIT)
    agreeableness = models.FloatField(default=0.5, validators=UNIT)
    neuroticism = models.FloatField(default=0.5, validators=UNIT)
    speaking_style = models.TextField(blank=True, max_length=50_000)
    background = models.TextField(blank=True, max_length=100_000)
    goals = models.JSONField(default=list, blank=True)
    interests = models.JSONField(default=list, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="personas")
    greeting = models.TextField(blank=True, max_length=50_000)
    system_prompt = models.TextField(blank=True, max_length=50_000)
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    # Fields of imported character cards that this model has no column for, kept verbatim so
    # that an export gives them back.
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [_unit_check(t) for t in TRAITS]
        indexes = [models.Index(fields=["name", "id"], name="persona_name_id")]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def personality(self) -> dict[str, float]:
        return {t: getattr(self, t) for t in TRAITS}


class PersonaState(models.Model):
    """How the persona feels right now; one row per persona, created with it."""

    persona = models.OneToOneField(Persona, on_delete=models.CASCADE, related_name="state")
    mood = models.FloatField(default=0.0, validators=SIGNED_UNIT)
    emotion = models.CharField(max_length=32, default="neutral")
    energy = models.FloatField(default=0.8, validators=UNIT)
    social_battery = models.FloatField(default=0.8, validators=UNIT)
    stress = models.FloatField(default=0.2, validators=UNIT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _unit_check("mood", low=-1.0),
            _unit_check("energy"),
            _unit_check("social_battery"),
            _unit_check("stress"),
        ]

    def __str__(self) -> str:
        return f"state of {self.persona_id}: {self.emotion} ({self.mood:+.2f})"


class Relationship(models.Model):
    """How a persona sees someone: another persona or a participant (a player, a Matrix user).

    Axes: affinity, trust, respect in -1..1; familiarity in 0..1. ``stage`` is derived from
    them by ``personas.relationships.relationship_stage``.
    """

    OtherKind = Party

    class Stage(models.TextChoices):
        STRANGER = "stranger"
        ACQUAINTANCE = "acquaintance"
        FRIEND = "friend"
        CLOSE_FRIEND = "close_friend"
        RIVAL = "rival"
        ENEMY = "enemy"

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="relationships")
    # For a persona: its UUID as text; for a participant: the participant id.
    other_id = models.CharField(max_length=255)
    other_kind = models.CharField(max_length=16, choices=OtherKind.choices)
    other_name = models.CharField(max_length=255, blank=True)
    affinity = models.FloatField(default=0.0, validators=SIGNED_UNIT)
    trust = models.FloatField(default=0.0, validators=SIGNED_UNIT)
    respect = models.FloatField(default=0.0, validators=SIGNED_UNIT)
    familiarity = models.FloatField(default=0.0, validators=UNIT)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.STRANGER)
    interactions = models.PositiveIntegerField(default=0)
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["persona", "other_id"], name="relationship_unique"),
            _unit_check("affinity", low=-1.0),
            _unit_check("trust", low=-1.0),
            _unit_check("respect", low=-1.0),
            _unit_check("familiarity"),
        ]

    def __str__(self) -> str:
        return f"{self.persona_id} -> {self.other_id} ({self.stage})"
