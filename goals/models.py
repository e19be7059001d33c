"""A persona's goals (what it pursues, in the prompt) and triggers (``when`` → ``then`` rules)."""

from __future__ import annotations

import uuid

from django.db import models

from personas.models import Persona


class Goal(models.Model):
    """Something a persona pursues; the active ones enter every turn's prompt, by priority."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="goal_set")
    text = models.CharField(max_length=500)
    priority = models.IntegerField(default=0)  # higher first
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # When the goal counts as reached, in words (shown to the model with the goal).
    completion = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=32, default="api")  # api | trigger:<trigger id>
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-priority", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["persona", "text"], name="goal_unique_text"),
        ]
        indexes = [models.Index(fields=["persona", "status"], name="goal_persona_status")]

    def __str__(self) -> str:
        return f"{self.text[:60]} ({self.status})"


class Trigger(models.Model):
    """When the ``when`` conditions hold for a message or a world event, the ``then`` effects
    apply: once, or again after ``cooldown_seconds``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="triggers")
    name = models.CharField(max_length=200)
    when = models.JSONField(default=dict, blank=True)
    then = models.JSONField(default=dict)
    once = models.BooleanField(default=False)
    cooldown_seconds = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    fire_count = models.PositiveIntegerField(default=0)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["persona", "enabled"], name="trigger_persona_enabled")]

    def __str__(self) -> str:
        return self.name
