"""Memories of a persona and the per-persona bookkeeping of its memory index."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from memory.fields import EmbeddingField
from personas.models import Persona


class Memory(models.Model):
    """One thing a persona remembers, with its embedding.

    ``superseded`` memories (facts replaced by a newer contradicting fact) are kept for the
    record but never retrieved. ``about`` names whom the memory is about: a participant id
    (e.g. ``@bob:example.org``) or a persona id.
    """

    class Kind(models.TextChoices):
        EPISODIC = "episodic"
        FACT = "fact"
        REFLECTION = "reflection"

    class Visibility(models.TextChoices):
        PRIVATE = "private"
        SHARED = "shared"
        PUBLIC = "public"

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="memories")
    content = models.TextField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EPISODIC)
    importance = models.FloatField(default=0.5)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    about = models.CharField(max_length=255, blank=True, default="")
    source_persona = models.ForeignKey(
        Persona, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    superseded = models.BooleanField(default=False)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_accessed_at = models.DateTimeField(default=timezone.now)
    access_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    embedding = EmbeddingField(dimensions=settings.EMBEDDING_DIMENSIONS)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "memories"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(importance__gte=0.0, importance__lte=1.0),
                name="memory_importance_range",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["episodic", "fact", "reflection"]),
                name="memory_kind_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(visibility__in=["private", "shared", "public"]),
                name="memory_visibility_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["persona", "id"], name="memory_persona_id"),
            models.Index(fields=["persona", "about"], name="memory_persona_about"),
            models.Index(fields=["persona", "created_at"], name="memory_persona_created"),
            models.Index(fields=["visibility", "persona"], name="memory_visibility_persona"),
        ]

    def __str__(self) -> str:
        text = self.content if len(self.content) <= 60 else self.content[:57] + "..."
        return f"[{self.kind}] {text}"


class MemoryIndexState(models.Model):
    """Per-persona counters that keep in-process vector caches (SQLite mode) honest.

    ``revision`` changes with every change to the set of searchable vectors; ``layout``
    changes only when rows were removed, re-embedded or reclassified (not on plain inserts),
    so a cache can append new rows instead of reloading. Every process reads these counters
    before searching, so a memory written by another process is seen at once. The reflection
    bookkeeping lives here too.
    """

    persona = models.OneToOneField(
        Persona, primary_key=True, on_delete=models.CASCADE, related_name="memory_state"
    )
    revision = models.BigIntegerField(default=0)
    layout = models.BigIntegerField(default=0)
    importance_since_reflection = models.FloatField(default=0.0)
    last_reflection_at = models.DateTimeField(null=True, blank=True)
    reflection_queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"memory index of {self.persona_id} (rev {self.revision}/{self.layout})"
